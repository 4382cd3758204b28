/* The FUSE adapters: two complete fuse_lowlevel_ops tables of short handlers that convert the
 * request, call the core (fs/core.h) and reply exactly once. The read-only table serves
 * read-only mounts, the read-write one no-egress and sink mounts; fs/mount.c picks one by the
 * mode. Errors stay positive errno values in the core and are negated only by fuse_reply_err
 * here. The handlers both tables share are in fs/fuse_common.c. */
#ifndef CCRFS_FS_FUSE_ADAPTER_H
#define CCRFS_FS_FUSE_ADAPTER_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include "fs/core.h"

extern const struct fuse_lowlevel_ops fs_fuse_ro_ops;
extern const struct fuse_lowlevel_ops fs_fuse_rw_ops;

static inline struct fs_mount *fs_fuse_mount(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

static inline struct fs_open_file *fs_fuse_file(const struct fuse_file_info *fi)
{
    return (struct fs_open_file *)(uintptr_t)fi->fh;
}

void fs_fuse_caller(fuse_req_t req, struct fs_caller *who);
/* fuse_reply_err for a core result: an authentication failure is EIO to the app. */
void fs_fuse_reply_err(fuse_req_t req, int rc);
/* The connection settings both modes share; readdirplus only where names never change;
 * readahead_kb the mount's read-ahead (0: the kernel's own). */
void fs_fuse_init(struct fuse_conn_info *conn, int readdirplus, unsigned readahead_kb);
/* Answers an open (fuse_reply_open or, with st, fuse_reply_create); when the kernel never
 * gets it, the open file is released (and the created entry forgotten). */
void fs_fuse_reply_open(fuse_req_t req, struct fs_open_file *of, struct fuse_file_info *fi,
                        const struct stat *st, double timeout);
/* Answers readdir (plus: readdirplus, with attributes valid for timeout). */
struct fs_fuse_dirbuf {
    fuse_req_t req;
    char *buf;
    size_t size, used;
    int plus;
    double timeout;
};
int fs_fuse_dirent(void *arg, const char *name, const struct stat *st, uint64_t next);

void fs_fuse_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void fs_fuse_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_fuse_statfs(fuse_req_t req, fuse_ino_t ino);
void fs_fuse_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void fs_fuse_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);

#endif
