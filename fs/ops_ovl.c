/* The FUSE handlers of the mutable modes (no-egress, sink): the namespace is fs/overlay.c,
 * written bytes live in fs/ephemeral.c. Reads of files nobody wrote still go through the
 * dataset read path of fs/ops.c. Every handler answers exactly once. */
#include "fs/internal.h"
#include "common/err.h"
#include "common/log.h"
#include "common/secmem.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OVL_TIMEOUT 1.0 /* the namespace changes: let the kernel cache names and attributes briefly */

_Static_assert(FS_OVL_SET_MODE == FUSE_SET_ATTR_MODE && FS_OVL_SET_UID == FUSE_SET_ATTR_UID &&
                   FS_OVL_SET_GID == FUSE_SET_ATTR_GID && FS_OVL_SET_SIZE == FUSE_SET_ATTR_SIZE &&
                   FS_OVL_SET_ATIME == FUSE_SET_ATTR_ATIME && FS_OVL_SET_MTIME == FUSE_SET_ATTR_MTIME &&
                   FS_OVL_SET_ATIME_NOW == FUSE_SET_ATTR_ATIME_NOW &&
                   FS_OVL_SET_MTIME_NOW == FUSE_SET_ATTR_MTIME_NOW && FS_OVL_SET_CTIME == FUSE_SET_ATTR_CTIME,
               "the overlay's setattr bits are FUSE's");

static struct fs_mount *req_mount(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

static void reply_entry(fuse_req_t req, const struct stat *st)
{
    struct fuse_entry_param ep;
    memset(&ep, 0, sizeof ep);
    ep.ino = st->st_ino;
    ep.generation = 1;
    ep.attr_timeout = OVL_TIMEOUT;
    ep.entry_timeout = OVL_TIMEOUT;
    ep.attr = *st;
    if (fuse_reply_entry(req, &ep) != 0 && ep.ino != 0)
        fs_ovl_forget(req_mount(req)->ovl, ep.ino, 1); /* the kernel never got it */
}

void fs_ovl_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct stat st;
    int rc = fs_ovl_lookup(req_mount(req)->ovl, parent, name, &st);
    if (rc != 0)
        return (void)fuse_reply_err(req, rc);
    reply_entry(req, &st);
}

void fs_ovl_op_getattr(fuse_req_t req, fuse_ino_t ino)
{
    struct stat st;
    int rc = fs_ovl_getattr(req_mount(req)->ovl, ino, &st);
    if (rc != 0)
        return (void)fuse_reply_err(req, rc);
    fuse_reply_attr(req, &st, OVL_TIMEOUT);
}

/* Dataset files need their key before their bytes can be read through. */
static int prepare_lower(struct fs_mount *m, fuse_ino_t ino)
{
    struct fs_node *n = fs_tree_node(&m->tree, ino);
    if (n == NULL || n->e == NULL || n->e->type != FMT_ENTRY_FILE)
        return 0;
    return fs_node_open_key(m, n);
}

void fs_ovl_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set)
{
    struct fs_mount *m = req_mount(req);
    struct stat st;
    int rc;

    if ((to_set & FUSE_SET_ATTR_SIZE) && attr->st_size > 0 && (rc = prepare_lower(m, ino)) != 0)
        return (void)fuse_reply_err(req, rc);
    if ((rc = fs_ovl_setattr(m->ovl, ino, attr, to_set, &st)) != 0)
        return (void)fuse_reply_err(req, rc);
    fuse_reply_attr(req, &st, OVL_TIMEOUT);
}

static void make_node(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    struct fs_mount *m = req_mount(req);
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    struct stat st;
    int rc;

    if (atomic_load(&m->revoked))
        return (void)fuse_reply_err(req, EACCES);
    if ((rc = fs_ovl_mknod(m->ovl, parent, name, mode, ctx->uid, ctx->gid, &st)) != 0)
        return (void)fuse_reply_err(req, rc);
    reply_entry(req, &st);
}

void fs_ovl_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    if (!S_ISREG(mode))
        return (void)fuse_reply_err(req, EPERM); /* no devices, fifos or sockets */
    make_node(req, parent, name, S_IFREG | (mode & 07777));
}

void fs_ovl_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    make_node(req, parent, name, S_IFDIR | (mode & 07777));
}

void fs_ovl_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    fuse_reply_err(req, fs_ovl_unlink(req_mount(req)->ovl, parent, name, 0));
}

void fs_ovl_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    fuse_reply_err(req, fs_ovl_unlink(req_mount(req)->ovl, parent, name, 1));
}

void fs_ovl_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
    fuse_reply_err(req, fs_ovl_rename(req_mount(req)->ovl, parent, name, newparent, newname, flags));
}

void fs_ovl_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    fs_ovl_forget(req_mount(req)->ovl, ino, nlookup);
    fuse_reply_none(req);
}

void fs_ovl_op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    for (size_t i = 0; i < count; i++)
        fs_ovl_forget(req_mount(req)->ovl, forgets[i].ino, forgets[i].nlookup);
    fuse_reply_none(req);
}

/* Asks on_open about path; 0 and *handle when allowed. */
static int ask_open(fuse_req_t req, struct fs_mount *m, const char *path, int flags, uint64_t *handle)
{
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    char comm[64];
    struct fs_open_info info;
    int rc;

    *handle = 0;
    if (m->hooks == NULL || m->hooks->on_open == NULL)
        return 0;
    fs_process_name(ctx->pid, comm, sizeof comm);
    info.path = path;
    info.flags = flags;
    info.pid = ctx->pid;
    info.uid = ctx->uid;
    info.gid = ctx->gid;
    info.process_name = comm;
    if ((rc = m->hooks->on_open(m->hooks->arg, &info, handle)) != 0)
        atomic_fetch_add(&m->denials, 1);
    return rc;
}

static void hook_release(struct fs_mount *m, uint64_t handle)
{
    if (m->hooks != NULL && m->hooks->on_open != NULL && m->hooks->on_release != NULL)
        m->hooks->on_release(m->hooks->arg, handle);
}

/* Registers an open file and answers the open (or the create, when st is given). */
static void finish_open(fuse_req_t req, struct fs_mount *m, const struct fs_ovl_open *o, uint64_t handle,
                        struct fuse_file_info *fi, const struct stat *st)
{
    struct fs_open_file *of = calloc(1, sizeof *of);
    int rc;

    if (of == NULL) {
        fs_ovl_close(m->ovl, o->node);
        hook_release(m, handle);
        return (void)fuse_reply_err(req, ENOMEM);
    }
    of->node = o->lower;
    of->onode = o->node;
    of->handle = handle;
    of->writable = (fi->flags & O_ACCMODE) != O_RDONLY;
    fs_open_file_link(m, of);
    fi->fh = (uint64_t)(uintptr_t)of;
    /* Dataset bytes never change; written ones do (the kernel's cache follows our writes, but
     * not what another open's truncate did). */
    fi->keep_cache = !o->copied && o->lower != NULL;
    if (st != NULL) {
        struct fuse_entry_param ep;
        memset(&ep, 0, sizeof ep);
        ep.ino = st->st_ino;
        ep.generation = 1;
        ep.attr_timeout = OVL_TIMEOUT;
        ep.entry_timeout = OVL_TIMEOUT;
        ep.attr = *st;
        rc = fuse_reply_create(req, &ep, fi);
        if (rc != 0)
            fs_ovl_forget(m->ovl, ep.ino, 1);
    } else {
        rc = fuse_reply_open(req, fi);
    }
    if (rc != 0)
        fs_open_file_free(m, of); /* the opener went away: no release will come */
}

void fs_ovl_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs_mount *m = req_mount(req);
    struct fs_ovl_open o;
    char path[FMT_PATH_MAX + 1];
    uint64_t handle;
    int rc;

    if (atomic_load(&m->revoked)) {
        atomic_fetch_add(&m->denials, 1);
        return (void)fuse_reply_err(req, EACCES);
    }
    if ((rc = fs_ovl_path(m->ovl, ino, path, sizeof path)) != 0)
        return (void)fuse_reply_err(req, rc);
    /* Check the blob before anyone records an open that could not succeed. */
    if ((rc = prepare_lower(m, ino)) != 0)
        return (void)fuse_reply_err(req, rc);
    if ((rc = ask_open(req, m, path, fi->flags, &handle)) != 0)
        return (void)fuse_reply_err(req, rc);
    if ((rc = fs_ovl_open(m->ovl, ino, fi->flags, &o)) != 0) {
        hook_release(m, handle);
        return (void)fuse_reply_err(req, rc);
    }
    finish_open(req, m, &o, handle, fi, NULL);
}

void fs_ovl_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi)
{
    struct fs_mount *m = req_mount(req);
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    struct fs_ovl_open o;
    struct stat st;
    char path[FMT_PATH_MAX + 1];
    uint64_t handle;
    size_t len;
    int rc;

    if (atomic_load(&m->revoked)) {
        atomic_fetch_add(&m->denials, 1);
        return (void)fuse_reply_err(req, EACCES);
    }
    if ((rc = fs_ovl_path(m->ovl, parent, path, sizeof path)) != 0)
        return (void)fuse_reply_err(req, rc);
    len = strlen(path);
    if (len + strlen(name) + 2 > sizeof path)
        return (void)fuse_reply_err(req, ENAMETOOLONG);
    snprintf(path + len, sizeof path - len, "%s%s", len > 0 ? "/" : "", name);
    /* Asked before the file exists, so a refusal leaves nothing behind. */
    if ((rc = ask_open(req, m, path, fi->flags | O_CREAT, &handle)) != 0)
        return (void)fuse_reply_err(req, rc);
    rc = fs_ovl_mknod(m->ovl, parent, name, S_IFREG | (mode & 07777), ctx->uid, ctx->gid, &st);
    if (rc == EEXIST && !(fi->flags & O_EXCL)) {
        /* Another creator won the race: open what is there. */
        rc = fs_ovl_lookup(m->ovl, parent, name, &st);
        if (rc == 0 && S_ISDIR(st.st_mode)) {
            fs_ovl_forget(m->ovl, st.st_ino, 1);
            rc = EISDIR;
        }
    }
    if (rc == 0 && (rc = fs_ovl_open(m->ovl, st.st_ino, fi->flags, &o)) != 0)
        fs_ovl_forget(m->ovl, st.st_ino, 1);
    if (rc != 0) {
        hook_release(m, handle);
        return (void)fuse_reply_err(req, rc);
    }
    finish_open(req, m, &o, handle, fi, &st);
}

int fs_ovl_op_read(fuse_req_t req, struct fs_open_file *of, size_t size, off_t off)
{
    struct fs_mount *m = req_mount(req);
    struct fs_ephemeral_file *f = fs_ovl_data(m->ovl, of->onode);
    uint8_t *buf;
    size_t got = 0;
    int rc;

    if (f == NULL)
        return 1;
    if (atomic_load(&m->revoked)) {
        atomic_fetch_add(&m->denials, 1);
        fuse_reply_err(req, EACCES);
        return 0;
    }
    if (off < 0 || size == 0) {
        fuse_reply_buf(req, NULL, 0);
        return 0;
    }
    /* Bytes that may come from the dataset are audited like any dataset read. */
    if (of->node != NULL && m->hooks != NULL && m->hooks->on_read != NULL &&
        (rc = m->hooks->on_read(m->hooks->arg, of->handle, (uint64_t)off, size)) != 0) {
        atomic_fetch_add(&m->denials, 1);
        fuse_reply_err(req, rc);
        return 0;
    }
    if ((buf = ccr_secmem_alloc(size)) == NULL) {
        fuse_reply_err(req, ENOMEM);
        return 0;
    }
    rc = fs_ephemeral_file_read(f, buf, size, (uint64_t)off, &got);
    if (rc == 0) {
        fuse_reply_buf(req, (const char *)buf, got);
        atomic_fetch_add(&m->bytes_served, got);
    } else {
        ccr_log_error("read of a written file failed: %s", ccr_err_msg(rc));
        fuse_reply_err(req, rc == EBADMSG || rc == ESTALE ? EIO : rc);
    }
    ccr_secmem_free(buf, size);
    return 0;
}

void fs_ovl_op_write(fuse_req_t req, struct fs_open_file *of, const char *buf, size_t size, off_t off)
{
    struct fs_mount *m = req_mount(req);
    struct fs_ephemeral_file *f;
    int rc;

    if (atomic_load(&m->revoked)) {
        atomic_fetch_add(&m->denials, 1);
        return (void)fuse_reply_err(req, EACCES);
    }
    if (of == NULL || of->onode == NULL || !of->writable || (f = fs_ovl_data(m->ovl, of->onode)) == NULL)
        return (void)fuse_reply_err(req, EBADF);
    if (off < 0)
        return (void)fuse_reply_err(req, EINVAL);
    if ((rc = fs_ephemeral_file_write(f, buf, size, (uint64_t)off)) != 0) {
        if (rc != ENOSPC)
            ccr_log_error("write to the overlay failed: %s", ccr_err_msg(rc));
        return (void)fuse_reply_err(req, rc == EBADMSG ? EIO : rc);
    }
    fs_ovl_wrote(m->ovl, of->onode);
    atomic_fetch_add(&m->bytes_written, size);
    fuse_reply_write(req, size);
}

void fs_ovl_op_released(struct fs_mount *m, struct fs_open_file *of)
{
    char path[FMT_PATH_MAX + 1];
    struct stat st;
    uint64_t ino;

    if (m->opts.mode != FS_MODE_SINK || of->onode == NULL || !fs_ovl_last_dirty(m->ovl, of->onode))
        return;
    ino = fs_ovl_node_ino(of->onode);
    if (fs_ovl_path(m->ovl, ino, path, sizeof path) != 0 || fs_ovl_getattr(m->ovl, ino, &st) != 0) {
        ccr_log_warn("sink: a closed output file was removed before its upload; nothing uploaded");
        return;
    }
    /* Errors are counted and logged inside: the close itself reports nothing. */
    (void)fs_sink_upload(m, path, fs_ovl_data(m->ovl, of->onode), st.st_mode, &st.st_mtim);
}

void fs_ovl_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs_ovl_dir *d;
    int rc = fs_ovl_opendir(req_mount(req)->ovl, ino, &d);

    if (rc != 0)
        return (void)fuse_reply_err(req, rc);
    fi->fh = (uint64_t)(uintptr_t)d;
    if (fuse_reply_open(req, fi) != 0)
        fs_ovl_dir_free(d);
}

/* Offsets: 1 is ".", 2 is "..", 3 + i is entry i of the snapshot taken at opendir. */
void fs_ovl_op_readdir(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi)
{
    struct fs_ovl_dir *d = (struct fs_ovl_dir *)(uintptr_t)fi->fh;
    char *buf;
    size_t used = 0;

    if (d == NULL)
        return (void)fuse_reply_err(req, EBADF);
    if ((buf = malloc(size)) == NULL)
        return (void)fuse_reply_err(req, ENOMEM);
    for (uint64_t pos = (uint64_t)off; pos < 2 + (uint64_t)d->count; pos++) {
        struct stat st;
        const char *name;
        size_t need;

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
        need = fuse_add_direntry(req, buf + used, size - used, name, &st, (off_t)(pos + 1));
        if (need > size - used)
            break;
        used += need;
    }
    fuse_reply_buf(req, buf, used);
    free(buf);
}

void fs_ovl_op_releasedir(fuse_req_t req, struct fuse_file_info *fi)
{
    fs_ovl_dir_free((struct fs_ovl_dir *)(uintptr_t)fi->fh);
    fuse_reply_err(req, 0);
}

/* Bytes [in, in+take) of block b of a dataset file into out, through the plaintext cache the
 * read path shares (the overlay asks in 4 KiB pieces: a block is fetched and decrypted once,
 * not once per piece). key_lock is held shared. */
static int lower_block(struct fs_mount *m, struct fs_node *n, const struct fmt_blob_key *k, uint64_t b,
                       size_t in, size_t take, uint8_t *out)
{
    struct fs_fetch_item item;
    struct cache_entry *e = NULL;
    enum cache_result r = cache_acquire(m->cache, (uint64_t)(n - m->tree.nodes), b, &e);
    int rc = 0;

    item.block = b;
    item.len = fmt_blob_block_plain_len(&k->header, b);
    item.rc = 0;
    if (r == CACHE_MISS) {
        item.dst = cache_entry_data(e);
        rc = fs_fetch_blocks(m, n, k, &item, 1);
        cache_fill_done(m->cache, e, rc, item.len);
    } else if (r == CACHE_BUSY) {
        rc = cache_wait(m->cache, e);
    }
    if (r != CACHE_FULL && rc == 0) {
        memcpy(out, cache_entry_data(e) + in, take);
    } else if (rc != EBADMSG) {
        /* Every slot pinned, or another reader's fetch failed on the store: fetch it here. */
        if ((item.dst = ccr_secmem_alloc(item.len)) == NULL) {
            rc = ENOMEM;
        } else {
            if ((rc = fs_fetch_blocks(m, n, k, &item, 1)) == 0)
                memcpy(out, item.dst + in, take);
            ccr_secmem_free(item.dst, item.len);
        }
    }
    if (e != NULL)
        cache_release(m->cache, e);
    return rc;
}

int fs_ovl_lower_read_cb(void *arg, struct fs_node *n, void *buf, size_t len, uint64_t off)
{
    struct fs_mount *m = arg;
    unsigned log2 = n->e->log2_block;
    size_t bs = (size_t)1 << log2;
    uint8_t *out = buf;
    int rc = 0;

    if (len == 0)
        return 0;
    if (off + len > n->e->size)
        return ccr_err_set(EIO, "%s: read past the end of the dataset file", n->e->path);
    if ((rc = fs_node_open_key(m, n)) != 0)
        return rc;
    pthread_rwlock_rdlock(&m->key_lock);
    if (atomic_load(&m->revoked) || n->key == NULL)
        rc = EACCES;
    while (rc == 0 && len > 0) {
        uint64_t b = off >> log2;
        size_t in = (size_t)(off - (b << log2)), take = bs - in < len ? bs - in : len;
        if ((rc = lower_block(m, n, n->key, b, in, take, out)) != 0)
            break;
        out += take;
        off += take;
        len -= take;
    }
    pthread_rwlock_unlock(&m->key_lock);
    return rc;
}
