/* The namespace of a no-egress or sink mount: the overlay (fs/overlay.c) over the dataset
 * tree. Every change passes the gate first. */
#include "fs/internal.h"

#include <errno.h>
#include <string.h>

static int gate_change(struct fs_mount *m)
{
    return fs_gate(m, &(struct fs_gate_req){.op = FS_GATE_ACCESS});
}

int fs_core_ovl_lookup(struct fs_mount *m, uint64_t parent, const char *name, struct stat *st)
{
    return fs_ovl_lookup(m->ovl, parent, name, st);
}

int fs_core_ovl_getattr(struct fs_mount *m, uint64_t ino, struct stat *st)
{
    return fs_ovl_getattr(m->ovl, ino, st);
}

int fs_core_ovl_setattr(struct fs_mount *m, uint64_t ino, const struct stat *attr, int to_set,
                        struct stat *st)
{
    struct fs_node *n = fs_tree_node(&m->tree, ino);
    int rc;

    if ((rc = gate_change(m)) != 0)
        return rc;
    /* A size change of a dataset file copies it up: its key is needed to read it through. */
    if ((to_set & FS_OVL_SET_SIZE) && attr->st_size > 0 && n != NULL && n->e != NULL &&
        n->e->type == FMT_ENTRY_FILE && (rc = fs_node_open_key(m, n)) != 0)
        return rc;
    return fs_ovl_setattr(m->ovl, ino, attr, to_set, st);
}

static int make_node(struct fs_mount *m, uint64_t parent, const char *name, mode_t mode,
                     const struct fs_caller *who, struct stat *st)
{
    int rc;

    if ((rc = gate_change(m)) != 0)
        return rc;
    return fs_ovl_mknod(m->ovl, parent, name, mode, who->uid, who->gid, st);
}

int fs_core_ovl_mknod(struct fs_mount *m, uint64_t parent, const char *name, mode_t mode,
                      const struct fs_caller *who, struct stat *st)
{
    if (!S_ISREG(mode))
        return EPERM; /* no devices, fifos or sockets */
    return make_node(m, parent, name, S_IFREG | (mode & 07777), who, st);
}

int fs_core_ovl_mkdir(struct fs_mount *m, uint64_t parent, const char *name, mode_t mode,
                      const struct fs_caller *who, struct stat *st)
{
    return make_node(m, parent, name, S_IFDIR | (mode & 07777), who, st);
}

int fs_core_ovl_unlink(struct fs_mount *m, uint64_t parent, const char *name)
{
    int rc = gate_change(m);
    return rc != 0 ? rc : fs_ovl_unlink(m->ovl, parent, name, 0);
}

int fs_core_ovl_rmdir(struct fs_mount *m, uint64_t parent, const char *name)
{
    int rc = gate_change(m);
    return rc != 0 ? rc : fs_ovl_unlink(m->ovl, parent, name, 1);
}

int fs_core_ovl_rename(struct fs_mount *m, uint64_t parent, const char *name, uint64_t newparent,
                       const char *newname, unsigned flags)
{
    int rc = gate_change(m);
    return rc != 0 ? rc : fs_ovl_rename(m->ovl, parent, name, newparent, newname, flags);
}

void fs_core_ovl_forget(struct fs_mount *m, uint64_t ino, uint64_t nlookup)
{
    fs_ovl_forget(m->ovl, ino, nlookup);
}

int fs_core_ovl_opendir(struct fs_mount *m, uint64_t ino, struct fs_ovl_dir **out)
{
    return fs_ovl_opendir(m->ovl, ino, out);
}

int fs_core_ovl_readdir(struct fs_ovl_dir *d, uint64_t off, fs_dirent_fn emit, void *arg)
{
    if (d == NULL)
        return EBADF;
    for (uint64_t pos = off; pos < 2 + (uint64_t)d->count; pos++) {
        struct stat st;
        const char *name;

        memset(&st, 0, sizeof st);
        if (pos < 2) {
            st.st_ino = pos == 0 ? d->ino : d->parent;
            st.st_mode = S_IFDIR;
            name = pos == 0 ? "." : "..";
        } else {
            st.st_ino = d->ents[pos - 2].ino;
            st.st_mode = d->ents[pos - 2].mode;
            name = d->ents[pos - 2].name;
        }
        if (emit(arg, name, &st, pos + 1) != 0)
            break;
    }
    return 0;
}

int fs_core_ovl_readdirplus(struct fs_mount *m, struct fs_ovl_dir *d, uint64_t off, fs_dirent_fn emit,
                            void *arg)
{
    if (d == NULL)
        return EBADF;
    for (uint64_t pos = off; pos < 2 + (uint64_t)d->count; pos++) {
        struct stat st;
        const char *name;
        int counted = 0;

        memset(&st, 0, sizeof st);
        if (pos < 2) {
            st.st_ino = pos == 0 ? d->ino : d->parent;
            st.st_mode = S_IFDIR;
            name = pos == 0 ? "." : "..";
        } else {
            name = d->ents[pos - 2].name;
            /* Fresh attributes, and the lookup the kernel counts for an entry it is given. A
             * name removed since opendir goes without attributes (inode 0: nothing counted). */
            if (fs_ovl_lookup(m->ovl, d->ino, name, &st) == 0 && st.st_ino != 0) {
                counted = 1;
            } else {
                memset(&st, 0, sizeof st);
                st.st_mode = d->ents[pos - 2].mode;
            }
        }
        if (emit(arg, name, &st, pos + 1) != 0) {
            if (counted)
                fs_ovl_forget(m->ovl, st.st_ino, 1); /* not sent: the kernel never counts it */
            break;
        }
    }
    return 0;
}

void fs_core_ovl_releasedir(struct fs_ovl_dir *d)
{
    fs_ovl_dir_free(d);
}

int fs_ovl_lower_read_cb(void *arg, struct fs_node *n, void *buf, size_t len, uint64_t off)
{
    return fs_read_copy(arg, n, buf, len, off);
}
