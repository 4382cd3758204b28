/* The FUSE low-level handlers. Every request is answered exactly once: each handler ends in
 * one fuse_reply_* call on every path. Mount state comes from fuse_req_userdata. Errors are
 * positive errno values inside fs/ and negated only here, by fuse_reply_err. */
#include "fs/internal.h"
#include "common/encoding.h"
#include "common/err.h"
#include "common/log.h"
#include "common/secmem.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>

#define XATTR_DATASET_ID "user.ccrfs.dataset_id"
#define XATTR_SHA256     "user.ccrfs.sha256"
#define XATTR_BLOB       "user.ccrfs.blob"
#define XATTR_BLOCK_SIZE "user.ccrfs.block_size"
#define XATTR_STATS      "user.ccrfs.stats"

static struct fs_mount *req_mount(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

static void node_stat(struct fs_mount *m, const struct fs_node *n, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_ino = fs_tree_ino(&m->tree, n);
    st->st_uid = m->uid;
    st->st_gid = m->gid;
    if (n->e == NULL || n->e->type == FMT_ENTRY_DIR) {
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

static void node_entry(struct fs_mount *m, const struct fs_node *n, struct fuse_entry_param *ep)
{
    memset(ep, 0, sizeof *ep);
    ep->ino = fs_tree_ino(&m->tree, n);
    ep->generation = 1;
    ep->attr_timeout = FS_TIMEOUT;
    ep->entry_timeout = FS_TIMEOUT;
    node_stat(m, n, &ep->attr);
}

static int is_dir(const struct fs_node *n)
{
    return n->e == NULL || n->e->type == FMT_ENTRY_DIR;
}

static void fs_op_init(void *userdata, struct fuse_conn_info *conn)
{
    struct fs_mount *m = userdata;

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
    /* Mutable modes answer plain readdir from a snapshot (no lookup counts to keep). */
    if ((conn->capable & FUSE_CAP_READDIRPLUS) && m->ovl == NULL)
        conn->want |= FUSE_CAP_READDIRPLUS;
    else
        conn->want &= ~(unsigned)(FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO);
    ccr_log_debug("FUSE init: protocol %u.%u, max_read %u, max_write %u, max_readahead %u", conn->proto_major,
                  conn->proto_minor, conn->max_read, conn->max_write, conn->max_readahead);
}

static void fs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct fs_mount *m = req_mount(req);
    struct fs_node *dir = fs_tree_node(&m->tree, parent), *n;
    struct fuse_entry_param ep;

    if (m->ovl != NULL)
        return fs_ovl_op_lookup(req, parent, name);

    if (dir == NULL)
        return (void)fuse_reply_err(req, ENOENT);
    if (!is_dir(dir))
        return (void)fuse_reply_err(req, ENOTDIR);
    if ((n = fs_tree_lookup(&m->tree, dir, name)) == NULL) {
        /* A negative entry the kernel may cache as long as a positive one. */
        memset(&ep, 0, sizeof ep);
        ep.entry_timeout = FS_TIMEOUT;
        return (void)fuse_reply_entry(req, &ep);
    }
    node_entry(m, n, &ep);
    fuse_reply_entry(req, &ep);
}

static void fs_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs_mount *m = req_mount(req);
    struct fs_node *n = fs_tree_node(&m->tree, ino);
    struct stat st;

    (void)fi;
    if (m->ovl != NULL)
        return fs_ovl_op_getattr(req, ino);
    if (n == NULL)
        return (void)fuse_reply_err(req, ENOENT);
    node_stat(m, n, &st);
    fuse_reply_attr(req, &st, FS_TIMEOUT);
}

static void fs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs_mount *m = req_mount(req);
    struct fs_node *n = fs_tree_node(&m->tree, ino);

    if (m->ovl != NULL)
        return fs_ovl_op_opendir(req, ino, fi);
    if (n == NULL)
        return (void)fuse_reply_err(req, ENOENT);
    if (!is_dir(n))
        return (void)fuse_reply_err(req, ENOTDIR);
    if ((fi->flags & O_ACCMODE) != O_RDONLY)
        return (void)fuse_reply_err(req, EROFS);
    fi->cache_readdir = 1;
    fi->keep_cache = 1;
    fuse_reply_open(req, fi);
}

/* Offsets: 1 is ".", 2 is "..", 3 + i is child i; an entry's offset is that of the next. */
static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus)
{
    struct fs_mount *m = req_mount(req);
    struct fs_node *dir = fs_tree_node(&m->tree, ino);
    char *buf;
    size_t used = 0;

    if (dir == NULL)
        return (void)fuse_reply_err(req, ENOENT);
    if (!is_dir(dir))
        return (void)fuse_reply_err(req, ENOTDIR);
    if ((buf = malloc(size)) == NULL)
        return (void)fuse_reply_err(req, ENOMEM);
    for (uint64_t pos = (uint64_t)off; pos < 2 + (uint64_t)dir->nchildren; pos++) {
        const struct fs_node *n;
        const char *name;
        struct fuse_entry_param ep;
        size_t need;

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
        node_entry(m, n, &ep);
        if (plus) {
            /* "." and ".." must not count as lookups: the kernel does not forget them. */
            if (pos < 2)
                ep.ino = 0;
            need = fuse_add_direntry_plus(req, buf + used, size - used, name, &ep, (off_t)(pos + 1));
        } else {
            need = fuse_add_direntry(req, buf + used, size - used, name, &ep.attr, (off_t)(pos + 1));
        }
        if (need > size - used)
            break;
        used += need;
    }
    fuse_reply_buf(req, buf, used);
    free(buf);
}

static void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    if (req_mount(req)->ovl != NULL)
        return fs_ovl_op_readdir(req, size, off, fi);
    do_readdir(req, ino, size, off, 0);
}

static void fs_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    if (req_mount(req)->ovl != NULL)
        return fs_ovl_op_releasedir(req, fi);
    fuse_reply_err(req, 0);
}

static void fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                              struct fuse_file_info *fi)
{
    (void)fi;
    do_readdir(req, ino, size, off, 1);
}

void fs_process_name(pid_t pid, char *out, size_t len)
{
    char path[64];
    FILE *f;

    out[0] = '\0';
    snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
    if ((f = fopen(path, "re")) == NULL)
        return;
    if (fgets(out, (int)len, f) == NULL)
        out[0] = '\0';
    out[strcspn(out, "\n")] = '\0';
    fclose(f);
}

static void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs_mount *m = req_mount(req);
    struct fs_node *n = fs_tree_node(&m->tree, ino);
    struct fs_open_file *of;
    uint64_t handle = 0;
    int rc;

    if (m->ovl != NULL)
        return fs_ovl_op_open(req, ino, fi);
    if (n == NULL)
        return (void)fuse_reply_err(req, ENOENT);
    if (is_dir(n))
        return (void)fuse_reply_err(req, EISDIR);
    if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
        return (void)fuse_reply_err(req, EROFS);
    if (atomic_load(&m->revoked)) {
        atomic_fetch_add(&m->denials, 1);
        return (void)fuse_reply_err(req, EACCES);
    }
    /* Check the blob before anyone records an open that could not succeed. */
    if ((rc = fs_node_open_key(m, n)) != 0)
        return (void)fuse_reply_err(req, rc);
    if (m->hooks != NULL && m->hooks->on_open != NULL) {
        const struct fuse_ctx *ctx = fuse_req_ctx(req);
        char comm[64];
        struct fs_open_info info = {n->e->path, fi->flags, ctx->pid, ctx->uid, ctx->gid, comm};
        fs_process_name(ctx->pid, comm, sizeof comm);
        if ((rc = m->hooks->on_open(m->hooks->arg, &info, &handle)) != 0) {
            atomic_fetch_add(&m->denials, 1);
            return (void)fuse_reply_err(req, rc);
        }
    }
    if ((of = calloc(1, sizeof *of)) == NULL) {
        if (m->hooks != NULL && m->hooks->on_open != NULL && m->hooks->on_release != NULL)
            m->hooks->on_release(m->hooks->arg, handle);
        return (void)fuse_reply_err(req, ENOMEM);
    }
    of->node = n;
    of->handle = handle;
    fs_open_file_link(m, of);
    fi->fh = (uint64_t)(uintptr_t)of;
    fi->keep_cache = 1; /* blobs never change: keep the kernel's page cache across opens */
    fi->noflush = 1;
    if (fuse_reply_open(req, fi) != 0)
        fs_open_file_free(m, of); /* the opener went away: no release will come */
}

void fs_open_file_link(struct fs_mount *m, struct fs_open_file *of)
{
    pthread_mutex_init(&of->lock, NULL);
    fs_window_init(&of->win, FS_WINDOW_MIN, m->window_max);
    pthread_mutex_lock(&m->open_lock);
    of->next = m->open_files;
    if (of->next != NULL)
        of->next->prev = of;
    m->open_files = of;
    pthread_mutex_unlock(&m->open_lock);
    atomic_fetch_add(&m->opens, 1);
}

void fs_open_file_free(struct fs_mount *m, struct fs_open_file *of)
{
    pthread_mutex_lock(&m->open_lock);
    if (of->prev != NULL)
        of->prev->next = of->next;
    else
        m->open_files = of->next;
    if (of->next != NULL)
        of->next->prev = of->prev;
    pthread_mutex_unlock(&m->open_lock);
    if (m->hooks != NULL && m->hooks->on_open != NULL && m->hooks->on_release != NULL)
        m->hooks->on_release(m->hooks->arg, of->handle);
    if (of->onode != NULL)
        fs_ovl_close(m->ovl, of->onode);
    pthread_mutex_destroy(&of->lock);
    free(of);
}

static void fs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs_mount *m = req_mount(req);
    struct fs_open_file *of = (struct fs_open_file *)(uintptr_t)fi->fh;

    (void)ino;
    if (of != NULL && m->ovl != NULL)
        fs_ovl_op_released(m, of);
    if (of != NULL)
        fs_open_file_free(m, of);
    fuse_reply_err(req, 0);
}

/* Queues fetch-ahead for [off, off+len) of a file, in jobs; returns the end of what was
 * accepted. */
static uint64_t queue_ahead(struct fs_mount *m, struct fs_node *n, uint64_t off, uint64_t len)
{
    unsigned log2 = n->e->log2_block;
    uint64_t bs = (uint64_t)1 << log2, end = off + len, b = off >> log2;
    uint64_t last = (end - 1) >> log2, per = FS_JOB_BYTES / bs ? FS_JOB_BYTES / bs : 1;

    while (b <= last) {
        struct fs_prefetch_job job;
        job.node = (uint32_t)(n - m->tree.nodes);
        job.first = b;
        job.count = last - b + 1 < per ? last - b + 1 : per;
        job.bytes = job.count * bs;
        if (fs_prefetch_submit(m->pf, &job) != 0)
            return b << log2;
        b += job.count;
    }
    return end;
}

struct read_block {
    struct cache_entry *e;
    enum cache_result r;
    uint8_t *data; /* the cache slot, or a slice of the request's private buffer */
};

static void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, struct fuse_file_info *fi)
{
    struct fs_mount *m = req_mount(req);
    struct fs_open_file *of = (struct fs_open_file *)(uintptr_t)fi->fh;
    struct fs_node *n = of->node;
    const struct fmt_blob_key *k;
    uint64_t off = (uint64_t)offset, fsize, first, last, nblocks, ahead_off, ahead_len;
    unsigned log2;
    size_t bs, priv_len = 0, nitems = 0;
    struct read_block *blk = NULL;
    struct fs_fetch_item *items = NULL;
    struct iovec *iov = NULL;
    uint8_t *priv = NULL;
    int rc = 0, stalled = 0;

    (void)ino;
    /* Bytes written on a mutable mount come from the overlay; the rest from the dataset. */
    if (of->onode != NULL && fs_ovl_op_read(req, of, size, offset) == 0)
        return;
    if (n == NULL)
        return (void)fuse_reply_buf(req, NULL,
                                    0); /* cannot happen: files made on the mount are in the overlay */
    fsize = n->e->size;
    log2 = n->e->log2_block;
    if (atomic_load(&m->revoked)) {
        atomic_fetch_add(&m->denials, 1);
        return (void)fuse_reply_err(req, EACCES);
    }
    if (offset < 0 || off >= fsize || size == 0)
        return (void)fuse_reply_buf(req, NULL, 0);
    if (size > fsize - off)
        size = (size_t)(fsize - off);
    bs = (size_t)1 << log2;
    if (m->hooks != NULL && m->hooks->on_read != NULL &&
        (rc = m->hooks->on_read(m->hooks->arg, of->handle, off, size)) != 0) {
        atomic_fetch_add(&m->denials, 1);
        return (void)fuse_reply_err(req, rc);
    }
    atomic_fetch_add(&m->reads, 1);

    /* Fetch-ahead first, so it runs while this read fetches what it needs. */
    pthread_mutex_lock(&of->lock);
    fs_window_on_read(&of->win, off, size, fsize, of->stalled, &ahead_off, &ahead_len);
    if (ahead_len > 0 && m->pf != NULL) { /* fetch_workers=0 turns fetch-ahead off */
        uint64_t done = queue_ahead(m, n, ahead_off, ahead_len);
        if (done < ahead_off + ahead_len)
            fs_window_unissue(&of->win, done);
    }
    pthread_mutex_unlock(&of->lock);

    first = off >> log2;
    last = (off + size - 1) >> log2;
    nblocks = last - first + 1;
    blk = calloc(nblocks, sizeof *blk);
    items = calloc(nblocks, sizeof *items);
    iov = calloc(nblocks, sizeof *iov);
    if (blk == NULL || items == NULL || iov == NULL) {
        free(blk);
        free(items);
        free(iov);
        return (void)fuse_reply_err(req, ENOMEM);
    }

    pthread_rwlock_rdlock(&m->key_lock);
    k = n->key;
    if (atomic_load(&m->revoked) || k == NULL) {
        rc = EACCES;
        goto unlock;
    }
    for (uint64_t i = 0; i < nblocks; i++) {
        blk[i].r = cache_acquire(m->cache, (uint64_t)(n - m->tree.nodes), first + i, &blk[i].e);
        if (blk[i].r == CACHE_FULL)
            priv_len += bs;
    }
    if (priv_len > 0 && (priv = ccr_secmem_alloc(priv_len)) == NULL) {
        rc = ENOMEM;
        goto release;
    }
    for (uint64_t i = 0, p = 0; i < nblocks; i++) {
        if (blk[i].r == CACHE_FULL)
            blk[i].data = priv + (p++) * bs;
        else
            blk[i].data = cache_entry_data(blk[i].e);
        if (blk[i].r == CACHE_MISS || blk[i].r == CACHE_FULL) {
            items[nitems].block = first + i;
            items[nitems].dst = blk[i].data;
            items[nitems].len = fmt_blob_block_plain_len(&k->header, first + i);
            nitems++;
        }
    }
    if (nitems > 0) {
        stalled = 1;
        rc = fs_fetch_blocks(m, n, k, items, nitems);
        for (size_t i = 0, j = 0; i < nblocks; i++) {
            if (blk[i].r != CACHE_MISS && blk[i].r != CACHE_FULL)
                continue;
            if (blk[i].r == CACHE_MISS)
                cache_fill_done(m->cache, blk[i].e, items[j].rc, items[j].len);
            j++;
        }
    }
    /* Blocks another thread is filling: wait for that one fetch. If it was fetch-ahead that
     * failed on the store, try once more here; an authentication failure stands. */
    for (uint64_t i = 0; i < nblocks && rc == 0; i++) {
        int wrc;
        if (blk[i].r != CACHE_BUSY)
            continue;
        stalled = 1;
        if ((wrc = cache_wait(m->cache, blk[i].e)) == 0)
            continue;
        if (wrc == EBADMSG) {
            rc = EBADMSG;
            break;
        }
        if ((blk[i].data = ccr_secmem_alloc(bs)) == NULL) {
            rc = ENOMEM;
            break;
        }
        cache_release(m->cache, blk[i].e);
        blk[i].e = NULL;
        blk[i].r = CACHE_FULL; /* now a private buffer of its own */
        items[0].block = first + i;
        items[0].dst = blk[i].data;
        items[0].len = fmt_blob_block_plain_len(&k->header, first + i);
        rc = fs_fetch_blocks(m, n, k, items, 1);
    }
    /* The last use of the open file: once the reply is sent, its release may come at once. */
    pthread_mutex_lock(&of->lock);
    of->stalled = stalled;
    pthread_mutex_unlock(&of->lock);
    if (rc == 0) {
        for (uint64_t i = 0; i < nblocks; i++) {
            uint64_t bstart = (first + i) << log2;
            uint64_t from = off > bstart ? off - bstart : 0;
            uint64_t to = fmt_blob_block_plain_len(&k->header, first + i);
            if (bstart + to > off + size)
                to = off + size - bstart;
            iov[i].iov_base = blk[i].data + from;
            iov[i].iov_len = (size_t)(to - from);
        }
        /* Straight from the pinned cache slots to the kernel: no plaintext copy. */
        fuse_reply_iov(req, iov, (int)nblocks);
        atomic_fetch_add(&m->bytes_served, size);
    }
release:
    for (uint64_t i = 0; i < nblocks; i++) {
        if (blk[i].e != NULL)
            cache_release(m->cache, blk[i].e);
        else if (blk[i].r == CACHE_FULL && blk[i].data != NULL &&
                 (priv == NULL || blk[i].data < priv || blk[i].data >= priv + priv_len))
            ccr_secmem_free(blk[i].data, bs);
    }
unlock:
    pthread_rwlock_unlock(&m->key_lock);
    ccr_secmem_free(priv, priv_len);
    free(blk);
    free(items);
    free(iov);
    if (rc != 0)
        fuse_reply_err(req, rc == EBADMSG || rc == ESTALE ? EIO : rc);
}

static void fs_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
    struct fs_mount *m = req_mount(req);
    struct statvfs sv;

    (void)ino;
    memset(&sv, 0, sizeof sv);
    sv.f_bsize = 65536;
    sv.f_frsize = 65536;
    sv.f_blocks = (m->tree.total_bytes + 65535) / 65536;
    sv.f_files = m->tree.count;
    sv.f_namemax = 255;
    sv.f_flag = ST_RDONLY;
    if (m->eph != NULL) {
        /* Room left in the overlay (its bound, or a nominal 1 TiB when unbounded). */
        struct fs_ephemeral_stats es;
        uint64_t room;
        fs_ephemeral_get_stats(m->eph, &es);
        room = es.max_bytes ? es.max_bytes : (1ull << 40);
        room = room > es.bytes_stored ? room - es.bytes_stored : 0;
        sv.f_flag = 0;
        sv.f_blocks += (room + es.bytes_stored) / 65536;
        sv.f_bfree = sv.f_bavail = room / 65536;
        sv.f_files += fs_ovl_created(m->ovl) + 1000000;
        sv.f_ffree = sv.f_favail = 1000000;
    }
    fuse_reply_statfs(req, &sv);
}

/* Answers an xattr value per the size protocol: size 0 asks for the length. */
static void reply_xattr_value(fuse_req_t req, const char *value, size_t len, size_t size)
{
    if (size == 0)
        fuse_reply_xattr(req, len);
    else if (size < len)
        fuse_reply_err(req, ERANGE);
    else
        fuse_reply_buf(req, value, len);
}

static void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    struct fs_mount *m = req_mount(req);
    struct fs_node *n = fs_tree_node(&m->tree, ino);
    char value[2048];
    int len = -1;

    if (n == NULL && m->ovl != NULL)
        return (void)fuse_reply_err(req, ENODATA); /* made on the mount */
    if (n == NULL)
        return (void)fuse_reply_err(req, ENOENT);
    if (m->ds == NULL && !(n->e == NULL && strcmp(name, XATTR_STATS) == 0)) {
        len = -1; /* a sink has no dataset: only the root's counters */
    } else if (strcmp(name, XATTR_DATASET_ID) == 0) {
        len = snprintf(value, sizeof value, "%s", m->ds->id);
    } else if (n->e == NULL && strcmp(name, XATTR_STATS) == 0) {
        if (fs_mount_stats_json(m, value, sizeof value) != 0)
            return (void)fuse_reply_err(req, EIO);
        len = (int)strlen(value);
    } else if (n->e != NULL && n->e->type == FMT_ENTRY_FILE &&
               !(m->ovl != NULL && fs_ovl_copied(m->ovl, ino))) {
        /* A file written on a no-egress mount no longer has the dataset's hash or blob. */
        if (strcmp(name, XATTR_SHA256) == 0) {
            ccr_hex_encode(n->e->sha256, FMT_SHA256_LEN, value);
            len = 2 * FMT_SHA256_LEN;
        } else if (strcmp(name, XATTR_BLOB) == 0) {
            len = snprintf(value, sizeof value, "%s", n->e->blob);
        } else if (strcmp(name, XATTR_BLOCK_SIZE) == 0) {
            len = snprintf(value, sizeof value, "%llu", 1ull << n->e->log2_block);
        }
    }
    if (len < 0)
        return (void)fuse_reply_err(req, ENODATA);
    reply_xattr_value(req, value, (size_t)len, size);
}

static void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    struct fs_mount *m = req_mount(req);
    struct fs_node *n = fs_tree_node(&m->tree, ino);
    static const char root_list[] = XATTR_DATASET_ID "\0" XATTR_STATS "\0";
    static const char dir_list[] = XATTR_DATASET_ID "\0";
    static const char file_list[] =
        XATTR_DATASET_ID "\0" XATTR_SHA256 "\0" XATTR_BLOB "\0" XATTR_BLOCK_SIZE "\0";

    if (n == NULL && m->ovl != NULL)
        return (void)reply_xattr_value(req, "", 0, size);
    if (n == NULL)
        return (void)fuse_reply_err(req, ENOENT);
    if (m->ds == NULL)
        reply_xattr_value(req, n->e == NULL ? XATTR_STATS : "", n->e == NULL ? sizeof XATTR_STATS : 0, size);
    else if (n->e == NULL)
        reply_xattr_value(req, root_list, sizeof root_list - 1, size);
    else if (is_dir(n))
        reply_xattr_value(req, dir_list, sizeof dir_list - 1, size);
    else
        reply_xattr_value(req, file_list, sizeof file_list - 1, size);
}

/* Read-only mounts refuse every change with EROFS; no-egress and sink mounts change their
 * overlay (fs/ops_ovl.c). */
static void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                          struct fuse_file_info *fi)
{
    (void)fi;
    if (req_mount(req)->ovl == NULL)
        return (void)fuse_reply_err(req, EROFS);
    fs_ovl_op_setattr(req, ino, attr, to_set);
}

static void fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
    (void)rdev;
    if (req_mount(req)->ovl == NULL)
        return (void)fuse_reply_err(req, EROFS);
    fs_ovl_op_mknod(req, parent, name, mode);
}

static void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    if (req_mount(req)->ovl == NULL)
        return (void)fuse_reply_err(req, EROFS);
    fs_ovl_op_mkdir(req, parent, name, mode);
}

static void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    if (req_mount(req)->ovl == NULL)
        return (void)fuse_reply_err(req, EROFS);
    fs_ovl_op_unlink(req, parent, name);
}

static void fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    if (req_mount(req)->ovl == NULL)
        return (void)fuse_reply_err(req, EROFS);
    fs_ovl_op_rmdir(req, parent, name);
}

/* Symbolic and hard links are not kept, in any mode. */
static void fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
    (void)link, (void)parent, (void)name;
    fuse_reply_err(req, req_mount(req)->ovl == NULL ? EROFS : EPERM);
}

static void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                         const char *newname, unsigned int flags)
{
    if (req_mount(req)->ovl == NULL)
        return (void)fuse_reply_err(req, EROFS);
    fs_ovl_op_rename(req, parent, name, newparent, newname, flags);
}

static void fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
    (void)ino, (void)newparent, (void)newname;
    fuse_reply_err(req, req_mount(req)->ovl == NULL ? EROFS : EPERM);
}

static void fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                        struct fuse_file_info *fi)
{
    (void)ino;
    if (req_mount(req)->ovl == NULL)
        return (void)fuse_reply_err(req, EROFS);
    fs_ovl_op_write(req, (struct fs_open_file *)(uintptr_t)fi->fh, buf, size, off);
}

static void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
                           int flags)
{
    (void)ino, (void)name, (void)value, (void)size, (void)flags;
    fuse_reply_err(req, req_mount(req)->ovl == NULL ? EROFS : ENOTSUP);
}

static void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
    (void)ino, (void)name;
    fuse_reply_err(req, req_mount(req)->ovl == NULL ? EROFS : ENOTSUP);
}

static void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                         struct fuse_file_info *fi)
{
    if (req_mount(req)->ovl == NULL)
        return (void)fuse_reply_err(req, EROFS);
    fs_ovl_op_create(req, parent, name, mode, fi);
}

static void fs_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                            struct fuse_file_info *fi)
{
    (void)ino, (void)mode, (void)offset, (void)length, (void)fi;
    fuse_reply_err(req, req_mount(req)->ovl == NULL ? EROFS : EOPNOTSUPP);
}

static void fs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    if (req_mount(req)->ovl == NULL)
        return fuse_reply_none(req);
    fs_ovl_op_forget(req, ino, nlookup);
}

static void fs_op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    if (req_mount(req)->ovl == NULL)
        return fuse_reply_none(req);
    fs_ovl_op_forget_multi(req, count, forgets);
}

const struct fuse_lowlevel_ops fs_ops = {
    .init = fs_op_init,
    .lookup = fs_op_lookup,
    .getattr = fs_op_getattr,
    .setattr = fs_op_setattr,
    .mknod = fs_op_mknod,
    .mkdir = fs_op_mkdir,
    .unlink = fs_op_unlink,
    .rmdir = fs_op_rmdir,
    .symlink = fs_op_symlink,
    .rename = fs_op_rename,
    .link = fs_op_link,
    .open = fs_op_open,
    .read = fs_op_read,
    .write = fs_op_write,
    .release = fs_op_release,
    .opendir = fs_op_opendir,
    .releasedir = fs_op_releasedir,
    .forget = fs_op_forget,
    .forget_multi = fs_op_forget_multi,
    .readdir = fs_op_readdir,
    .readdirplus = fs_op_readdirplus,
    .statfs = fs_op_statfs,
    .setxattr = fs_op_setxattr,
    .getxattr = fs_op_getxattr,
    .listxattr = fs_op_listxattr,
    .removexattr = fs_op_removexattr,
    .create = fs_op_create,
    .fallocate = fs_op_fallocate,
};
