/* The file system's operations without FUSE: what the FUSE adapters (fs/fuse_*.c) call, and
 * what the unit tests call with no /dev/fuse. Every function returns 0 or a positive errno.
 *
 * Two namespaces: the dataset tree of a read-only mount (fs_core_*), and the overlay of a
 * no-egress or sink mount (fs_core_ovl_*); the mount picks the adapter, and so the namespace,
 * by its mode. Open files, reads, writes, releases, attributes of the mount and xattrs are
 * shared. Every operation that touches file bytes or changes the namespace first passes the
 * mount's one gate (fs/core_gate.c): revocation, the governance hooks, the denial counter. */
#ifndef CCRFS_FS_CORE_H
#define CCRFS_FS_CORE_H

#include "fs/mount.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/uio.h>

#define FS_TIMEOUT     86400.0 /* the tree never changes: the kernel may cache names and attributes */
#define FS_OVL_TIMEOUT 1.0     /* the overlay changes: cache names and attributes briefly */

struct fs_open_file;
struct fs_ovl_dir;

/* Who asks (from the FUSE request). */
struct fs_caller {
    pid_t pid;
    uid_t uid;
    gid_t gid;
};

/* One directory entry for readdir; returns nonzero when the caller's buffer is full (the
 * entry was not taken). next is the offset of the entry after it. */
typedef int (*fs_dirent_fn)(void *arg, const char *name, const struct stat *st, uint64_t next);

/* ---- the dataset tree (read-only mounts) ---- */

/* 0 with st->st_ino 0: no such name, and the kernel may remember that. ENOENT, ENOTDIR. */
int fs_core_lookup(struct fs_mount *m, uint64_t parent, const char *name, struct stat *st);
int fs_core_getattr(struct fs_mount *m, uint64_t ino, struct stat *st);
/* ENOTDIR, EROFS for a folder opened for writing. */
int fs_core_opendir(struct fs_mount *m, uint64_t ino, int flags);
/* Offsets: 0 is ".", 1 is "..", 2 + i is child i; entries from off until emit says full. */
int fs_core_readdir(struct fs_mount *m, uint64_t ino, uint64_t off, fs_dirent_fn emit, void *arg);
/* Opens a dataset file for reading (EROFS otherwise) after the gate allowed it. */
int fs_core_open(struct fs_mount *m, uint64_t ino, int flags, const struct fs_caller *who,
                 struct fs_open_file **out);

/* ---- the overlay (no-egress and sink mounts) ---- */

/* Lookups and creations count a kernel lookup of the result (see fs_core_ovl_forget). */
int fs_core_ovl_lookup(struct fs_mount *m, uint64_t parent, const char *name, struct stat *st);
int fs_core_ovl_getattr(struct fs_mount *m, uint64_t ino, struct stat *st);
/* to_set: FS_OVL_SET_* (fs/overlay.h, FUSE's bits). */
int fs_core_ovl_setattr(struct fs_mount *m, uint64_t ino, const struct stat *attr, int to_set,
                        struct stat *st);
/* A regular file (S_ISREG(mode), else EPERM) or a folder (mkdir). */
int fs_core_ovl_mknod(struct fs_mount *m, uint64_t parent, const char *name, mode_t mode,
                      const struct fs_caller *who, struct stat *st);
int fs_core_ovl_mkdir(struct fs_mount *m, uint64_t parent, const char *name, mode_t mode,
                      const struct fs_caller *who, struct stat *st);
int fs_core_ovl_unlink(struct fs_mount *m, uint64_t parent, const char *name);
int fs_core_ovl_rmdir(struct fs_mount *m, uint64_t parent, const char *name);
int fs_core_ovl_rename(struct fs_mount *m, uint64_t parent, const char *name, uint64_t newparent,
                       const char *newname, unsigned flags);
void fs_core_ovl_forget(struct fs_mount *m, uint64_t ino, uint64_t nlookup);
int fs_core_ovl_opendir(struct fs_mount *m, uint64_t ino, struct fs_ovl_dir **out);
/* Offsets as fs_core_readdir, over the snapshot taken at opendir. */
int fs_core_ovl_readdir(struct fs_ovl_dir *d, uint64_t off, fs_dirent_fn emit, void *arg);
/* The same with each entry's current attributes, each counted as a kernel lookup (see
 * fs_core_ovl_forget); "." and ".." are not counted. */
int fs_core_ovl_readdirplus(struct fs_mount *m, struct fs_ovl_dir *d, uint64_t off, fs_dirent_fn emit,
                            void *arg);
void fs_core_ovl_releasedir(struct fs_ovl_dir *d);
int fs_core_ovl_open(struct fs_mount *m, uint64_t ino, int flags, const struct fs_caller *who,
                     struct fs_open_file **out);
/* open(O_CREAT): the gate is asked before the file exists, so a refusal leaves nothing. st
 * gets the file's attributes (one kernel lookup counted). */
int fs_core_ovl_create(struct fs_mount *m, uint64_t parent, const char *name, mode_t mode, int flags,
                       const struct fs_caller *who, struct stat *st, struct fs_open_file **out);

/* ---- open files (both) ---- */

/* Whether the kernel may keep its page cache of the file across opens (bytes never change). */
int fs_core_keep_cache(const struct fs_open_file *of);

/* The bytes of one read, ready to be sent: iov points into pinned cache slots (or a private
 * buffer), valid until fs_core_read_done. */
struct fs_read_reply {
    struct iovec *iov;
    int iovcnt;
    size_t bytes;
    struct fs_read_pins *pins; /* internal */
};

/* Reads up to size bytes at off (short at the end of the file). EACCES after revocation or
 * when governance refuses; EBADMSG when a block fails authentication (nothing is returned);
 * EIO when the store fails. On 0 the caller sends r and then calls fs_core_read_done. */
int fs_core_read(struct fs_mount *m, struct fs_open_file *of, uint64_t off, size_t size,
                 struct fs_read_reply *r);
void fs_core_read_done(struct fs_mount *m, struct fs_read_reply *r);
/* EBADF when not opened for writing; EROFS on a read-only mount. */
int fs_core_write(struct fs_mount *m, struct fs_open_file *of, const void *buf, size_t size, uint64_t off);
/* The last close (or an open the kernel never got): uploads a written sink output, tells
 * governance, frees the open file. */
void fs_core_release(struct fs_mount *m, struct fs_open_file *of);

/* ---- the mount and extended attributes (both) ---- */

void fs_core_statfs(struct fs_mount *m, struct statvfs *sv);
/* The kernel read-ahead the mount asks for, in KiB (0: the kernel's own). */
unsigned fs_core_readahead_kb(const struct fs_mount *m);
/* The value of xattr name into buf (len bytes; len 0 asks only for the size, *out_len).
 * ENODATA, ERANGE. */
int fs_core_getxattr(struct fs_mount *m, uint64_t ino, const char *name, const struct fs_caller *who,
                     char *buf, size_t len, size_t *out_len);
int fs_core_listxattr(struct fs_mount *m, uint64_t ino, char *buf, size_t len, size_t *out_len);

#endif
