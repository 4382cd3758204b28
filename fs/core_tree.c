/* The namespace of a read-only mount: the dataset tree, which never changes. */
#include "fs/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

static int is_dir(const struct fs_node *n)
{
    return n->e == NULL || n->e->type == FMT_ENTRY_DIR;
}

static void node_stat(struct fs_mount *m, const struct fs_node *n, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_ino = fs_tree_ino(&m->tree, n);
    st->st_uid = m->uid;
    st->st_gid = m->gid;
    if (is_dir(n)) {
        st->st_mode = S_IFDIR | (n->e ? (n->e->mode & 07777) : 0755);
        st->st_nlink = 2 + n->nsubdirs;
        st->st_blksize = 4096;
    } else {
        st->st_mode = S_IFREG | (n->e->mode & 07777);
        st->st_nlink = 1;
        st->st_size = (off_t)n->e->size;
        st->st_blocks = (blkcnt_t)((n->e->size + 511) / 512);
        st->st_blksize = (blksize_t)1 << n->e->log2_block;
    }
    if (n->e != NULL) {
        st->st_mtim.tv_sec = n->e->mtime_sec;
        st->st_mtim.tv_nsec = n->e->mtime_nsec;
    } else {
        st->st_mtim.tv_sec = m->mount_time; /* the root has no entry of its own */
    }
    st->st_atim = st->st_ctim = st->st_mtim;
}

int fs_core_lookup(struct fs_mount *m, uint64_t parent, const char *name, struct stat *st)
{
    struct fs_node *dir = fs_tree_node(&m->tree, parent), *n;

    if (dir == NULL)
        return ENOENT;
    if (!is_dir(dir))
        return ENOTDIR;
    if ((n = fs_tree_lookup(&m->tree, dir, name)) == NULL) {
        memset(st, 0, sizeof *st);
        return 0;
    }
    node_stat(m, n, st);
    return 0;
}

int fs_core_getattr(struct fs_mount *m, uint64_t ino, struct stat *st)
{
    struct fs_node *n = fs_tree_node(&m->tree, ino);

    if (n == NULL)
        return ENOENT;
    node_stat(m, n, st);
    return 0;
}

int fs_core_opendir(struct fs_mount *m, uint64_t ino, int flags)
{
    struct fs_node *n = fs_tree_node(&m->tree, ino);

    if (n == NULL)
        return ENOENT;
    if (!is_dir(n))
        return ENOTDIR;
    if ((flags & O_ACCMODE) != O_RDONLY)
        return EROFS;
    return 0;
}

int fs_core_readdir(struct fs_mount *m, uint64_t ino, uint64_t off, fs_dirent_fn emit, void *arg)
{
    struct fs_node *dir = fs_tree_node(&m->tree, ino);

    if (dir == NULL)
        return ENOENT;
    if (!is_dir(dir))
        return ENOTDIR;
    for (uint64_t pos = off; pos < 2 + (uint64_t)dir->nchildren; pos++) {
        const struct fs_node *n;
        const char *name;
        struct stat st;

        if (pos == 0) {
            n = dir;
            name = ".";
        } else if (pos == 1) {
            n = &m->tree.nodes[dir->parent];
            name = "..";
        } else {
            n = &m->tree.nodes[dir->children[pos - 2]];
            name = n->name;
        }
        node_stat(m, n, &st);
        if (emit(arg, name, &st, pos + 1) != 0)
            break;
    }
    return 0;
}
