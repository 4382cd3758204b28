/* The mutable namespace of a no-egress or sink mount, laid over the immutable dataset tree.
 *
 * Inode numbers: dataset node i keeps inode i + 1 (fs/tree.h) for the life of the mount;
 * nodes created on the mount get numbers above the tree's, never reused within a mount.
 * A dataset node gets an overlay record only when something about it changes (attributes,
 * written bytes, a rename, an entry of its folder); untouched nodes cost nothing.
 *
 * A folder's overlay entries override its dataset children by name: an entry naming a node,
 * or a whiteout (inode 0) hiding a dataset child that was removed or renamed away. New
 * folders have overlay entries only. Written bytes live in fs/ephemeral files; a dataset file
 * opened for writing is copied up lazily (the ephemeral file reads through to the dataset).
 *
 * Locking: one rwlock over the whole namespace, shared for lookups, attributes and folder
 * snapshots, exclusive for every change. It comes before every other fs/ lock (see
 * fs/internal.h): a copy-up or a truncate may read the dataset file while holding it. File
 * bytes are read and written outside it, through the ephemeral file (which has its own lock);
 * an open handle pins its node, so the node and its ephemeral file outlive any unlink. */
#ifndef CCRFS_FS_OVERLAY_H
#define CCRFS_FS_OVERLAY_H

#include "fs/ephemeral.h"
#include "fs/tree.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/* setattr: what to change (the same bits as FUSE_SET_ATTR_*). */
#define FS_OVL_SET_MODE      (1 << 0)
#define FS_OVL_SET_UID       (1 << 1)
#define FS_OVL_SET_GID       (1 << 2)
#define FS_OVL_SET_SIZE      (1 << 3)
#define FS_OVL_SET_ATIME     (1 << 4)
#define FS_OVL_SET_MTIME     (1 << 5)
#define FS_OVL_SET_ATIME_NOW (1 << 7)
#define FS_OVL_SET_MTIME_NOW (1 << 8)
#define FS_OVL_SET_CTIME     (1 << 10)

/* Reads len plaintext bytes at off of dataset file n (for copied-up files). */
typedef int (*fs_ovl_lower_read)(void *arg, struct fs_node *n, void *buf, size_t len, uint64_t off);

struct fs_ovl_conf {
    struct fs_tree *tree;     /* not owned; a tree of only the root for sink mounts */
    struct fs_ephemeral *eph; /* not owned; where written bytes go */
    uid_t uid;                /* owner shown for dataset nodes */
    gid_t gid;
    time_t root_time; /* the root's times (it has no manifest entry) */
    fs_ovl_lower_read lower_read;
    void *lower_arg;
};

struct fs_ovl;
struct fs_ovl_node;

struct fs_ovl_dirent {
    char *name;
    uint64_t ino;
    mode_t mode; /* type bits for readdir */
};

/* A folder's entries at one moment, for readdir: stable while the folder changes. */
struct fs_ovl_dir {
    uint64_t ino, parent;
    struct fs_ovl_dirent *ents;
    size_t count;
};

/* What an open needs to know about the opened node. */
struct fs_ovl_open {
    struct fs_ovl_node *node; /* pinned until fs_ovl_close */
    struct fs_node *lower;    /* the dataset file beneath, or NULL */
    int copied;               /* bytes come from the ephemeral file (not straight from lower) */
};

int fs_ovl_create(const struct fs_ovl_conf *c, struct fs_ovl **out);
/* Frees every node and ephemeral file. */
void fs_ovl_destroy(struct fs_ovl *ov);

/* name in folder parent; counts a kernel lookup of the result. ENOENT, ENOTDIR. */
int fs_ovl_lookup(struct fs_ovl *ov, uint64_t parent, const char *name, struct stat *st);
int fs_ovl_getattr(struct fs_ovl *ov, uint64_t ino, struct stat *st);
/* Changes what to_set names (FS_OVL_SET_*); a size change copies a dataset file up first.
 * st gets the attributes after the change. */
int fs_ovl_setattr(struct fs_ovl *ov, uint64_t ino, const struct stat *attr, int to_set, struct stat *st);
/* A new empty file (S_IFREG) or folder (S_IFDIR) owned by uid/gid; counts a lookup.
 * EEXIST, ENOENT (parent gone), ENOTDIR, EPERM for other types. */
int fs_ovl_mknod(struct fs_ovl *ov, uint64_t parent, const char *name, mode_t mode, uid_t uid, gid_t gid,
                 struct stat *st);
/* Removes a file (dir 0: unlink) or an empty folder (dir 1: rmdir). */
int fs_ovl_unlink(struct fs_ovl *ov, uint64_t parent, const char *name, int dir);
/* rename(2) with flags 0 or RENAME_NOREPLACE (RENAME_EXCHANGE: EINVAL). */
int fs_ovl_rename(struct fs_ovl *ov, uint64_t parent, const char *name, uint64_t newparent,
                  const char *newname, unsigned flags);
/* The kernel forgot nlookup lookups of ino; a removed node that nothing holds is freed. */
void fs_ovl_forget(struct fs_ovl *ov, uint64_t ino, uint64_t nlookup);

/* Opens a file (EISDIR for folders). Writing (O_WRONLY/O_RDWR) or O_TRUNC copies a dataset
 * file up first (O_TRUNC: empty, nothing read through). The node stays pinned. */
int fs_ovl_open(struct fs_ovl *ov, uint64_t ino, int flags, struct fs_ovl_open *o);
/* The ephemeral file of an opened node, NULL while it reads straight from its dataset file. */
struct fs_ephemeral_file *fs_ovl_data(struct fs_ovl *ov, struct fs_ovl_node *n);
/* After a write: the modification time moves and the node is marked dirty. */
void fs_ovl_wrote(struct fs_ovl *ov, struct fs_ovl_node *n);
/* Before the last close: 1 when this is the node's last open handle and it was written since
 * the last such call (the dirty mark is cleared), else 0. */
int fs_ovl_last_dirty(struct fs_ovl *ov, struct fs_ovl_node *n);
/* Unpins; a removed node that nothing holds any more is freed. */
void fs_ovl_close(struct fs_ovl *ov, struct fs_ovl_node *n);
uint64_t fs_ovl_node_ino(const struct fs_ovl_node *n);

/* The path of ino relative to the root (no leading '/'); ENOENT once removed, ENAMETOOLONG. */
int fs_ovl_path(struct fs_ovl *ov, uint64_t ino, char *buf, size_t len);

int fs_ovl_opendir(struct fs_ovl *ov, uint64_t ino, struct fs_ovl_dir **out);
void fs_ovl_dir_free(struct fs_ovl_dir *d);

/* Whether a dataset file's bytes may differ from the dataset's (it was copied up). */
int fs_ovl_copied(struct fs_ovl *ov, uint64_t ino);

/* Nodes created so far (for statfs). */
uint64_t fs_ovl_created(struct fs_ovl *ov);

#endif
