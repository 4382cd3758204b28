/* FUSE handlers and reply helpers both adapter tables use. */
#include "fs/fuse_adapter.h"
#include "common/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void fs_fuse_caller(fuse_req_t req, struct fs_caller *who)
{
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    who->pid = ctx->pid;
    who->uid = ctx->uid;
    who->gid = ctx->gid;
}

void fs_fuse_reply_err(fuse_req_t req, int rc)
{
    fuse_reply_err(req, rc == EBADMSG || rc == ESTALE ? EIO : rc);
}

void fs_fuse_init(struct fuse_conn_info *conn, int readdirplus, unsigned readahead_kb)
{
    /* The kernel's read-ahead and mmap read-around: what it reads per page fault or per
     * sequential step. It can only be lowered here (the kernel caps it at what it offered);
     * fs/mount.c raises it through sysfs when more was asked. */
    if (readahead_kb > 0 && (uint64_t)readahead_kb * 1024 < conn->max_readahead)
        conn->max_readahead = readahead_kb * 1024u;
    /* 1 MiB reads: the kernel sizes requests by max_pages, which libfuse derives from
     * max_write, so both are raised; max_read matches the mount option. */
    conn->max_read = FS_MAX_READ;
    if (conn->max_write < FS_MAX_READ)
        conn->max_write = FS_MAX_READ;
    conn->max_background = 64;
    conn->congestion_threshold = 48;
    if (conn->capable & FUSE_CAP_ASYNC_READ)
        conn->want |= FUSE_CAP_ASYNC_READ;
    conn->want &= ~(unsigned)(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
    /* Blobs never change: nothing to invalidate when attributes are looked up again. */
    conn->want &= ~(unsigned)FUSE_CAP_AUTO_INVAL_DATA;
    if (readdirplus && (conn->capable & FUSE_CAP_READDIRPLUS))
        conn->want |= FUSE_CAP_READDIRPLUS;
    else
        conn->want &= ~(unsigned)(FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO);
    ccr_log_debug("FUSE init: protocol %u.%u, max_read %u, max_write %u, max_readahead %u", conn->proto_major,
                  conn->proto_minor, conn->max_read, conn->max_write, conn->max_readahead);
}

void fs_fuse_reply_open(fuse_req_t req, struct fs_open_file *of, struct fuse_file_info *fi,
                        const struct stat *st, double timeout)
{
    int rc;

    fi->fh = (uint64_t)(uintptr_t)of;
    fi->keep_cache = fs_core_keep_cache(of);
    if (st != NULL) {
        struct fuse_entry_param ep;
        memset(&ep, 0, sizeof ep);
        ep.ino = st->st_ino;
        ep.generation = 1;
        ep.attr_timeout = timeout;
        ep.entry_timeout = timeout;
        ep.attr = *st;
        if ((rc = fuse_reply_create(req, &ep, fi)) != 0)
            fs_core_ovl_forget(fs_fuse_mount(req), ep.ino, 1);
    } else {
        rc = fuse_reply_open(req, fi);
    }
    if (rc != 0)
        fs_core_release(fs_fuse_mount(req), of); /* the opener went away: no release will come */
}

int fs_fuse_dirent(void *arg, const char *name, const struct stat *st, uint64_t next)
{
    struct fs_fuse_dirbuf *d = arg;
    size_t need;

    if (d->plus) {
        struct fuse_entry_param ep;
        memset(&ep, 0, sizeof ep);
        /* "." and ".." must not count as lookups: the kernel does not forget them. */
        ep.ino = next <= 2 ? 0 : st->st_ino;
        ep.generation = 1;
        ep.attr_timeout = d->timeout;
        ep.entry_timeout = d->timeout;
        ep.attr = *st;
        need = fuse_add_direntry_plus(d->req, d->buf + d->used, d->size - d->used, name, &ep, (off_t)next);
    } else {
        need = fuse_add_direntry(d->req, d->buf + d->used, d->size - d->used, name, st, (off_t)next);
    }
    if (need > d->size - d->used)
        return 1;
    d->used += need;
    return 0;
}

void fs_fuse_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    struct fs_mount *m = fs_fuse_mount(req);
    struct fs_read_reply r;
    int rc;

    (void)ino;
    if (off < 0)
        return (void)fuse_reply_buf(req, NULL, 0);
    if ((rc = fs_core_read(m, fs_fuse_file(fi), (uint64_t)off, size, &r)) != 0)
        return fs_fuse_reply_err(req, rc);
    /* Straight from the pinned cache slots to the kernel: no plaintext copy. */
    if (r.iovcnt > 0)
        fuse_reply_iov(req, r.iov, r.iovcnt);
    else
        fuse_reply_buf(req, NULL, 0);
    fs_core_read_done(m, &r);
}

void fs_fuse_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    fs_core_release(fs_fuse_mount(req), fs_fuse_file(fi));
    fuse_reply_err(req, 0);
}

void fs_fuse_statfs(fuse_req_t req, fuse_ino_t ino)
{
    struct statvfs sv;

    (void)ino;
    fs_core_statfs(fs_fuse_mount(req), &sv);
    fuse_reply_statfs(req, &sv);
}

/* size 0 asks for the length (fuse_reply_xattr), else the value. */
static void reply_xattr(fuse_req_t req, int rc, const char *buf, size_t len, size_t size)
{
    if (rc != 0)
        fuse_reply_err(req, rc);
    else if (size == 0)
        fuse_reply_xattr(req, len);
    else
        fuse_reply_buf(req, buf, len);
}

void fs_fuse_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    char buf[2048];
    size_t len = 0;
    struct fs_caller who;
    int rc;

    fs_fuse_caller(req, &who);
    rc = fs_core_getxattr(fs_fuse_mount(req), ino, name, &who, buf, size < sizeof buf ? size : sizeof buf,
                          &len);
    reply_xattr(req, rc, buf, len, size);
}

void fs_fuse_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    char buf[512];
    size_t len = 0;
    int rc = fs_core_listxattr(fs_fuse_mount(req), ino, buf, size < sizeof buf ? size : sizeof buf, &len);
    reply_xattr(req, rc, buf, len, size);
}
