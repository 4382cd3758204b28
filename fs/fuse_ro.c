/* The FUSE table of read-only mounts: the dataset tree, every change refused with EROFS. */
#include "fs/fuse_adapter.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void ro_init(void *userdata, struct fuse_conn_info *conn)
{
    fs_fuse_init(conn, 1, fs_core_readahead_kb(userdata));
}

static void reply_entry(fuse_req_t req, const struct stat *st)
{
    struct fuse_entry_param ep;

    /* st_ino 0: a negative entry the kernel may cache as long as a positive one. */
    memset(&ep, 0, sizeof ep);
    ep.ino = st->st_ino;
    ep.generation = 1;
    ep.attr_timeout = FS_TIMEOUT;
    ep.entry_timeout = FS_TIMEOUT;
    if (st->st_ino != 0)
        ep.attr = *st;
    fuse_reply_entry(req, &ep);
}

static void ro_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct stat st;
    int rc = fs_core_lookup(fs_fuse_mount(req), parent, name, &st);
    if (rc != 0)
        return (void)fuse_reply_err(req, rc);
    reply_entry(req, &st);
}

static void ro_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct stat st;
    int rc = fs_core_getattr(fs_fuse_mount(req), ino, &st);
    (void)fi;
    if (rc != 0)
        return (void)fuse_reply_err(req, rc);
    fuse_reply_attr(req, &st, FS_TIMEOUT);
}

static void ro_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    int rc = fs_core_opendir(fs_fuse_mount(req), ino, fi->flags);
    if (rc != 0)
        return (void)fuse_reply_err(req, rc);
    fi->cache_readdir = 1;
    fi->keep_cache = 1;
    fuse_reply_open(req, fi);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus)
{
    struct fs_fuse_dirbuf d = {req, NULL, size, 0, plus, FS_TIMEOUT};
    int rc;

    if ((d.buf = malloc(size)) == NULL)
        return (void)fuse_reply_err(req, ENOMEM);
    if ((rc = fs_core_readdir(fs_fuse_mount(req), ino, (uint64_t)off, fs_fuse_dirent, &d)) != 0)
        fuse_reply_err(req, rc);
    else
        fuse_reply_buf(req, d.buf, d.used);
    free(d.buf);
}

static void ro_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)fi;
    do_readdir(req, ino, size, off, 0);
}

static void ro_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)fi;
    do_readdir(req, ino, size, off, 1);
}

static void ro_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino, (void)fi;
    fuse_reply_err(req, 0);
}

static void ro_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs_caller who;
    struct fs_open_file *of;
    int rc;

    fs_fuse_caller(req, &who);
    if ((rc = fs_core_open(fs_fuse_mount(req), ino, fi->flags, &who, &of)) != 0)
        return fs_fuse_reply_err(req, rc);
    fi->noflush = 1;
    fs_fuse_reply_open(req, of, fi, NULL, FS_TIMEOUT);
}

static void ro_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    (void)ino, (void)nlookup;
    fuse_reply_none(req); /* the tree never changes: nothing to count */
}

static void ro_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    (void)count, (void)forgets;
    fuse_reply_none(req);
}

/* Every change: EROFS. */
static void ro_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi)
{
    (void)ino, (void)attr, (void)to_set, (void)fi;
    fuse_reply_err(req, EROFS);
}

static void ro_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
    (void)parent, (void)name, (void)mode, (void)rdev;
    fuse_reply_err(req, EROFS);
}

static void ro_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    (void)parent, (void)name, (void)mode;
    fuse_reply_err(req, EROFS);
}

static void ro_remove(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    (void)parent, (void)name;
    fuse_reply_err(req, EROFS);
}

static void ro_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
    (void)link, (void)parent, (void)name;
    fuse_reply_err(req, EROFS);
}

static void ro_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
    (void)parent, (void)name, (void)newparent, (void)newname, (void)flags;
    fuse_reply_err(req, EROFS);
}

static void ro_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
    (void)ino, (void)newparent, (void)newname;
    fuse_reply_err(req, EROFS);
}

static void ro_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    (void)ino, (void)buf, (void)size, (void)off, (void)fi;
    fuse_reply_err(req, EROFS);
}

static void ro_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
                        int flags)
{
    (void)ino, (void)name, (void)value, (void)size, (void)flags;
    fuse_reply_err(req, EROFS);
}

static void ro_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
    (void)ino, (void)name;
    fuse_reply_err(req, EROFS);
}

static void ro_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi)
{
    (void)parent, (void)name, (void)mode, (void)fi;
    fuse_reply_err(req, EROFS);
}

static void ro_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                         struct fuse_file_info *fi)
{
    (void)ino, (void)mode, (void)offset, (void)length, (void)fi;
    fuse_reply_err(req, EROFS);
}

const struct fuse_lowlevel_ops fs_fuse_ro_ops = {
    .init = ro_init,
    .lookup = ro_lookup,
    .getattr = ro_getattr,
    .setattr = ro_setattr,
    .mknod = ro_mknod,
    .mkdir = ro_mkdir,
    .unlink = ro_remove,
    .rmdir = ro_remove,
    .symlink = ro_symlink,
    .rename = ro_rename,
    .link = ro_link,
    .open = ro_open,
    .read = fs_fuse_read,
    .write = ro_write,
    .release = fs_fuse_release,
    .opendir = ro_opendir,
    .releasedir = ro_releasedir,
    .forget = ro_forget,
    .forget_multi = ro_forget_multi,
    .readdir = ro_readdir,
    .readdirplus = ro_readdirplus,
    .statfs = fs_fuse_statfs,
    .setxattr = ro_setxattr,
    .getxattr = fs_fuse_getxattr,
    .listxattr = fs_fuse_listxattr,
    .removexattr = ro_removexattr,
    .create = ro_create,
    .fallocate = ro_fallocate,
};
