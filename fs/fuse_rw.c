/* The FUSE table of no-egress and sink mounts: the overlay namespace, written bytes in the
 * ephemeral store, dataset bytes through the same read path as read-only mounts. */
#include "fs/fuse_adapter.h"
#include "fs/overlay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(FS_OVL_SET_MODE == FUSE_SET_ATTR_MODE && FS_OVL_SET_UID == FUSE_SET_ATTR_UID &&
                   FS_OVL_SET_GID == FUSE_SET_ATTR_GID && FS_OVL_SET_SIZE == FUSE_SET_ATTR_SIZE &&
                   FS_OVL_SET_ATIME == FUSE_SET_ATTR_ATIME && FS_OVL_SET_MTIME == FUSE_SET_ATTR_MTIME &&
                   FS_OVL_SET_ATIME_NOW == FUSE_SET_ATTR_ATIME_NOW &&
                   FS_OVL_SET_MTIME_NOW == FUSE_SET_ATTR_MTIME_NOW && FS_OVL_SET_CTIME == FUSE_SET_ATTR_CTIME,
               "the overlay's setattr bits are FUSE's");

static void rw_init(void *userdata, struct fuse_conn_info *conn)
{
    /* readdirplus counts a lookup of every entry it returns (fs_core_ovl_readdirplus). */
    fs_fuse_init(conn, 1, fs_core_readahead_kb(userdata));
}

/* Answers with an entry that counted a lookup; forgets it when the kernel never got it. */
static void reply_entry(fuse_req_t req, int rc, const struct stat *st)
{
    struct fuse_entry_param ep;

    if (rc != 0)
        return (void)fuse_reply_err(req, rc);
    memset(&ep, 0, sizeof ep);
    ep.ino = st->st_ino;
    ep.generation = 1;
    ep.attr_timeout = FS_OVL_TIMEOUT;
    ep.entry_timeout = FS_OVL_TIMEOUT;
    ep.attr = *st;
    if (fuse_reply_entry(req, &ep) != 0 && ep.ino != 0)
        fs_core_ovl_forget(fs_fuse_mount(req), ep.ino, 1);
}

static void reply_attr(fuse_req_t req, int rc, const struct stat *st)
{
    if (rc != 0)
        return (void)fuse_reply_err(req, rc);
    fuse_reply_attr(req, st, FS_OVL_TIMEOUT);
}

static void rw_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct stat st;
    reply_entry(req, fs_core_ovl_lookup(fs_fuse_mount(req), parent, name, &st), &st);
}

static void rw_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct stat st;
    (void)fi;
    reply_attr(req, fs_core_ovl_getattr(fs_fuse_mount(req), ino, &st), &st);
}

static void rw_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi)
{
    struct stat st;
    (void)fi;
    reply_attr(req, fs_core_ovl_setattr(fs_fuse_mount(req), ino, attr, to_set, &st), &st);
}

static void rw_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
    struct fs_caller who;
    struct stat st;
    (void)rdev;
    fs_fuse_caller(req, &who);
    reply_entry(req, fs_core_ovl_mknod(fs_fuse_mount(req), parent, name, mode, &who, &st), &st);
}

static void rw_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    struct fs_caller who;
    struct stat st;
    fs_fuse_caller(req, &who);
    reply_entry(req, fs_core_ovl_mkdir(fs_fuse_mount(req), parent, name, mode, &who, &st), &st);
}

static void rw_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    fuse_reply_err(req, fs_core_ovl_unlink(fs_fuse_mount(req), parent, name));
}

static void rw_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    fuse_reply_err(req, fs_core_ovl_rmdir(fs_fuse_mount(req), parent, name));
}

static void rw_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
    fuse_reply_err(req, fs_core_ovl_rename(fs_fuse_mount(req), parent, name, newparent, newname, flags));
}

static void rw_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    fs_core_ovl_forget(fs_fuse_mount(req), ino, nlookup);
    fuse_reply_none(req);
}

static void rw_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    for (size_t i = 0; i < count; i++)
        fs_core_ovl_forget(fs_fuse_mount(req), forgets[i].ino, forgets[i].nlookup);
    fuse_reply_none(req);
}

static void rw_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs_caller who;
    struct fs_open_file *of;
    int rc;

    fs_fuse_caller(req, &who);
    if ((rc = fs_core_ovl_open(fs_fuse_mount(req), ino, fi->flags, &who, &of)) != 0)
        return fs_fuse_reply_err(req, rc);
    fs_fuse_reply_open(req, of, fi, NULL, FS_OVL_TIMEOUT);
}

static void rw_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi)
{
    struct fs_caller who;
    struct fs_open_file *of;
    struct stat st;
    int rc;

    fs_fuse_caller(req, &who);
    if ((rc = fs_core_ovl_create(fs_fuse_mount(req), parent, name, mode, fi->flags, &who, &st, &of)) != 0)
        return fs_fuse_reply_err(req, rc);
    fs_fuse_reply_open(req, of, fi, &st, FS_OVL_TIMEOUT);
}

static void rw_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    int rc;

    (void)ino;
    if (off < 0)
        return (void)fuse_reply_err(req, EINVAL);
    if ((rc = fs_core_write(fs_fuse_mount(req), fs_fuse_file(fi), buf, size, (uint64_t)off)) != 0)
        return fs_fuse_reply_err(req, rc);
    fuse_reply_write(req, size);
}

static void rw_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs_ovl_dir *d;
    int rc = fs_core_ovl_opendir(fs_fuse_mount(req), ino, &d);

    if (rc != 0)
        return (void)fuse_reply_err(req, rc);
    fi->fh = (uint64_t)(uintptr_t)d;
    if (fuse_reply_open(req, fi) != 0)
        fs_core_ovl_releasedir(d);
}

static void rw_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    struct fs_fuse_dirbuf d = {req, NULL, size, 0, 0, FS_OVL_TIMEOUT};
    int rc;

    (void)ino;
    if ((d.buf = malloc(size)) == NULL)
        return (void)fuse_reply_err(req, ENOMEM);
    rc = fs_core_ovl_readdir((struct fs_ovl_dir *)(uintptr_t)fi->fh, (uint64_t)off, fs_fuse_dirent, &d);
    if (rc != 0)
        fuse_reply_err(req, rc);
    else
        fuse_reply_buf(req, d.buf, d.used);
    free(d.buf);
}

static void rw_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    struct fs_fuse_dirbuf d = {req, NULL, size, 0, 1, FS_OVL_TIMEOUT};
    int rc;

    (void)ino;
    if ((d.buf = malloc(size)) == NULL)
        return (void)fuse_reply_err(req, ENOMEM);
    rc = fs_core_ovl_readdirplus(fs_fuse_mount(req), (struct fs_ovl_dir *)(uintptr_t)fi->fh, (uint64_t)off,
                                 fs_fuse_dirent, &d);
    if (rc != 0)
        fuse_reply_err(req, rc);
    else
        fuse_reply_buf(req, d.buf, d.used);
    free(d.buf);
}

static void rw_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    fs_core_ovl_releasedir((struct fs_ovl_dir *)(uintptr_t)fi->fh);
    fuse_reply_err(req, 0);
}

/* Links, extended attributes and preallocation are not kept. */
static void rw_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
    (void)link, (void)parent, (void)name;
    fuse_reply_err(req, EPERM);
}

static void rw_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
    (void)ino, (void)newparent, (void)newname;
    fuse_reply_err(req, EPERM);
}

static void rw_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
                        int flags)
{
    (void)ino, (void)name, (void)value, (void)size, (void)flags;
    fuse_reply_err(req, ENOTSUP);
}

static void rw_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
    (void)ino, (void)name;
    fuse_reply_err(req, ENOTSUP);
}

static void rw_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                         struct fuse_file_info *fi)
{
    (void)ino, (void)mode, (void)offset, (void)length, (void)fi;
    fuse_reply_err(req, EOPNOTSUPP);
}

const struct fuse_lowlevel_ops fs_fuse_rw_ops = {
    .init = rw_init,
    .lookup = rw_lookup,
    .getattr = rw_getattr,
    .setattr = rw_setattr,
    .mknod = rw_mknod,
    .mkdir = rw_mkdir,
    .unlink = rw_unlink,
    .rmdir = rw_rmdir,
    .symlink = rw_symlink,
    .rename = rw_rename,
    .link = rw_link,
    .open = rw_open,
    .read = fs_fuse_read,
    .write = rw_write,
    .release = fs_fuse_release,
    .opendir = rw_opendir,
    .releasedir = rw_releasedir,
    .forget = rw_forget,
    .forget_multi = rw_forget_multi,
    .readdir = rw_readdir,
    .readdirplus = rw_readdirplus,
    .statfs = fs_fuse_statfs,
    .setxattr = rw_setxattr,
    .getxattr = fs_fuse_getxattr,
    .listxattr = fs_fuse_listxattr,
    .removexattr = rw_removexattr,
    .create = rw_create,
    .fallocate = rw_fallocate,
};
