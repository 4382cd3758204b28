/* The one block-read routine: every read of dataset bytes (a FUSE read, the overlay's copy-up
 * and read through) pins its blocks here, and the fetch-ahead jobs fill the same cache. The
 * plaintext is decrypted straight into the cache slot and replied from it: no copies. */
#include "fs/internal.h"
#include "common/err.h"
#include "common/secmem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct pinned_block {
    struct cache_entry *e; /* NULL: the bytes are in a private buffer */
    enum cache_result r;
    uint8_t *data;
    uint8_t *own; /* a private buffer of this block alone (a retried fetch), freed at unpin */
};

struct fs_read_pins {
    size_t nblocks, bs;
    struct pinned_block *blk;
    struct fs_fetch_item *items;
    struct iovec *iov;
    int iovcnt;
    uint8_t *priv; /* one locked buffer for the blocks no slot was free for */
    size_t priv_len;
    int locked; /* key_lock held shared */
};

static struct fs_read_pins *pins_alloc(size_t nblocks)
{
    /* One allocation: the header and its three arrays. */
    size_t need =
        sizeof(struct fs_read_pins) +
        nblocks * (sizeof(struct pinned_block) + sizeof(struct fs_fetch_item) + sizeof(struct iovec));
    struct fs_read_pins *p = calloc(1, need);

    if (p == NULL)
        return NULL;
    p->nblocks = nblocks;
    p->iov = (struct iovec *)(p + 1);
    p->blk = (struct pinned_block *)(p->iov + nblocks);
    p->items = (struct fs_fetch_item *)(p->blk + nblocks);
    return p;
}

void fs_read_unpin(struct fs_mount *m, struct fs_read_pins *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->nblocks; i++) {
        if (p->blk[i].e != NULL)
            cache_release(m->cache, p->blk[i].e);
        if (p->blk[i].own != NULL)
            ccr_secmem_free(p->blk[i].own, p->bs);
    }
    if (p->locked) {
        pthread_rwlock_unlock(&m->key_lock);
        fs_keys_trim_pending(m);
    }
    ccr_secmem_free(p->priv, p->priv_len);
    free(p);
}

int fs_read_pins_buffer(size_t len, struct fs_read_pins **out, uint8_t **buf)
{
    struct fs_read_pins *p = pins_alloc(1);

    *out = NULL;
    if (p == NULL || (p->priv = ccr_secmem_alloc(len)) == NULL) {
        free(p);
        return ENOMEM;
    }
    p->nblocks = 0; /* nothing pinned in the cache */
    p->priv_len = len;
    p->iov[0].iov_base = p->priv;
    p->iov[0].iov_len = len;
    p->iovcnt = 1;
    *buf = p->priv;
    *out = p;
    return 0;
}

void fs_read_pins_trim(struct fs_read_pins *p, size_t len)
{
    if (p->iovcnt == 1 && len < p->iov[0].iov_len)
        p->iov[0].iov_len = len;
}

struct iovec *fs_read_pins_iov(struct fs_read_pins *p, int *count)
{
    *count = p->iovcnt;
    return p->iov;
}

/* Acquires every block: hits and blocks being filled elsewhere are pinned, misses get a slot
 * to fill, and a private buffer stands in when every slot is pinned. */
static int pin_blocks(struct fs_mount *m, struct fs_node *n, uint64_t first, struct fs_read_pins *p)
{
    size_t full = 0;

    for (size_t i = 0; i < p->nblocks; i++) {
        p->blk[i].r = cache_acquire(m->cache, (uint64_t)(n - m->tree.nodes), first + i, &p->blk[i].e);
        if (p->blk[i].r == CACHE_FULL)
            full++;
    }
    if (full > 0) {
        p->priv_len = full * p->bs;
        if ((p->priv = ccr_secmem_alloc(p->priv_len)) == NULL) {
            p->priv_len = 0;
            return ENOMEM;
        }
    }
    for (size_t i = 0, j = 0; i < p->nblocks; i++)
        p->blk[i].data = p->blk[i].r == CACHE_FULL ? p->priv + (j++) * p->bs : cache_entry_data(p->blk[i].e);
    return 0;
}

/* Fetches every block this reader has to fill, in one batch of ranged requests. */
static int fill_missing(struct fs_mount *m, struct fs_node *n, const struct fmt_blob_key *k, uint64_t first,
                        struct fs_read_pins *p, int *stalled)
{
    size_t nitems = 0;
    int rc;

    for (size_t i = 0; i < p->nblocks; i++) {
        if (p->blk[i].r != CACHE_MISS && p->blk[i].r != CACHE_FULL)
            continue;
        p->items[nitems].block = first + i;
        p->items[nitems].dst = p->blk[i].data;
        p->items[nitems].len = fmt_blob_block_plain_len(&k->header, first + i);
        p->items[nitems].rc = 0;
        nitems++;
    }
    if (nitems == 0)
        return 0;
    *stalled = 1;
    rc = fs_fetch_blocks(m, n, k, p->items, nitems);
    for (size_t i = 0, j = 0; i < p->nblocks; i++) {
        if (p->blk[i].r != CACHE_MISS && p->blk[i].r != CACHE_FULL)
            continue;
        if (p->blk[i].r == CACHE_MISS)
            cache_fill_done(m->cache, p->blk[i].e, p->items[j].rc, p->items[j].len);
        j++;
    }
    return rc;
}

/* Blocks another thread is filling: waits for that one fetch. If it was fetch-ahead that
 * failed on the store, tries once more here; an authentication failure stands. */
static int wait_busy(struct fs_mount *m, struct fs_node *n, const struct fmt_blob_key *k, uint64_t first,
                     struct fs_read_pins *p, int *stalled)
{
    for (size_t i = 0; i < p->nblocks; i++) {
        struct fs_fetch_item item;
        int rc;

        if (p->blk[i].r != CACHE_BUSY)
            continue;
        *stalled = 1;
        if ((rc = cache_wait(m->cache, p->blk[i].e)) == 0)
            continue;
        if (rc == EBADMSG)
            return EBADMSG;
        if ((p->blk[i].own = ccr_secmem_alloc(p->bs)) == NULL)
            return ENOMEM;
        cache_release(m->cache, p->blk[i].e);
        p->blk[i].e = NULL;
        p->blk[i].r = CACHE_FULL;
        p->blk[i].data = p->blk[i].own;
        item.block = first + i;
        item.dst = p->blk[i].data;
        item.len = fmt_blob_block_plain_len(&k->header, first + i);
        item.rc = 0;
        if ((rc = fs_fetch_blocks(m, n, k, &item, 1)) != 0)
            return rc;
    }
    return 0;
}

static void build_iov(const struct fmt_blob_key *k, unsigned log2, uint64_t first, uint64_t off, size_t len,
                      struct fs_read_pins *p)
{
    for (size_t i = 0; i < p->nblocks; i++) {
        uint64_t bstart = (first + i) << log2;
        uint64_t from = off > bstart ? off - bstart : 0;
        uint64_t to = fmt_blob_block_plain_len(&k->header, first + i);
        if (bstart + to > off + len)
            to = off + len - bstart;
        p->iov[i].iov_base = p->blk[i].data + from;
        p->iov[i].iov_len = (size_t)(to - from);
    }
    p->iovcnt = (int)p->nblocks;
}

int fs_read_pin(struct fs_mount *m, struct fs_node *n, uint64_t off, size_t len, struct fs_read_pins **out,
                int *stalled)
{
    unsigned log2 = n->e->log2_block;
    uint64_t first = off >> log2, last = (off + len - 1) >> log2;
    const struct fmt_blob_key *k;
    struct fs_read_pins *p;
    int rc;

    *out = NULL;
    *stalled = 0;
    if (len == 0 || off + len > n->e->size)
        return ccr_err_set(EIO, "%s: read past the end of the dataset file", n->e->path);
    if ((p = pins_alloc((size_t)(last - first + 1))) == NULL)
        return ENOMEM;
    p->bs = (size_t)1 << log2;
    pthread_rwlock_rdlock(&m->key_lock);
    /* A key nobody holds (a read through of a file not open) may have been evicted: open it
     * again, a few times at most, since others may evict it in between. */
    for (int tries = 0; n->key == NULL && !atomic_load(&m->revoked) && tries < 3; tries++) {
        pthread_rwlock_unlock(&m->key_lock);
        if ((rc = fs_node_open_key(m, n)) != 0) {
            free(p);
            return rc;
        }
        pthread_rwlock_rdlock(&m->key_lock);
    }
    p->locked = 1;
    k = n->key;
    if (atomic_load(&m->revoked) || k == NULL)
        rc = EACCES;
    else if ((rc = pin_blocks(m, n, first, p)) == 0 && (rc = fill_missing(m, n, k, first, p, stalled)) == 0)
        rc = wait_busy(m, n, k, first, p, stalled);
    /* A revoke that began while this read fetched waits for key_lock: it gets nothing. */
    if (rc == 0 && atomic_load(&m->revoked))
        rc = EACCES;
    if (rc != 0) {
        fs_read_unpin(m, p);
        return rc;
    }
    build_iov(k, log2, first, off, len, p);
    *out = p;
    return 0;
}

int fs_read_copy(struct fs_mount *m, struct fs_node *n, void *buf, size_t len, uint64_t off)
{
    uint8_t *out = buf;
    int rc, stalled;

    if (len == 0)
        return 0;
    if (off + len > n->e->size)
        return ccr_err_set(EIO, "%s: read past the end of the dataset file", n->e->path);
    if ((rc = fs_node_open_key(m, n)) != 0)
        return rc;
    while (len > 0) {
        size_t take = len < FS_RANGE_MAX ? len : FS_RANGE_MAX;
        struct fs_read_pins *p;
        struct iovec *iov;
        int cnt;

        if ((rc = fs_read_pin(m, n, off, take, &p, &stalled)) != 0)
            return rc;
        iov = fs_read_pins_iov(p, &cnt);
        for (int i = 0; i < cnt; i++) {
            memcpy(out, iov[i].iov_base, iov[i].iov_len);
            out += iov[i].iov_len;
        }
        fs_read_unpin(m, p);
        off += take;
        len -= take;
    }
    return 0;
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

void fs_read_ahead(struct fs_mount *m, struct fs_open_file *of, uint64_t off, uint64_t len)
{
    uint64_t ahead_off, ahead_len;

    pthread_mutex_lock(&of->lock);
    fs_window_on_read(&of->win, off, len, of->node->e->size, atomic_load(&of->stalled), &ahead_off,
                      &ahead_len);
    if (ahead_len > 0 && m->pf != NULL) { /* fetch_workers=0 turns fetch-ahead off */
        uint64_t done = queue_ahead(m, of->node, ahead_off, ahead_len);
        if (done < ahead_off + ahead_len)
            fs_window_unissue(&of->win, done);
    }
    pthread_mutex_unlock(&of->lock);
}

void fs_prefetch_runner(void *arg, const struct fs_prefetch_job *job)
{
    struct fs_mount *m = arg;
    struct fs_node *n = &m->tree.nodes[job->node];
    struct fs_read_pins *p;
    size_t nitems = 0;

    if (job->first == FS_PREFETCH_OPEN_AHEAD) {
        fs_ahead_run(m, job->node);
        return;
    }
    if (atomic_load(&m->revoked) || (p = pins_alloc(job->count)) == NULL)
        return;
    pthread_rwlock_rdlock(&m->key_lock);
    if (atomic_load(&m->revoked) || n->key == NULL) {
        pthread_rwlock_unlock(&m->key_lock);
        free(p);
        return;
    }
    /* Only the blocks nobody has: the reader will pin them itself. */
    for (uint64_t b = job->first; b < job->first + job->count; b++) {
        struct cache_entry *e;
        enum cache_result r = cache_acquire(m->cache, job->node, b, &e);
        if (r == CACHE_FULL)
            break; /* every slot is in use: fetching further ahead would only evict */
        if (r != CACHE_MISS) {
            cache_release(m->cache, e);
            continue;
        }
        p->blk[nitems].e = e;
        p->items[nitems].block = b;
        p->items[nitems].dst = cache_entry_data(e);
        p->items[nitems].len = fmt_blob_block_plain_len(&n->key->header, b);
        nitems++;
    }
    (void)fs_fetch_blocks(m, n, n->key, p->items, nitems);
    for (size_t i = 0; i < nitems; i++) {
        cache_fill_done(m->cache, p->blk[i].e, p->items[i].rc, p->items[i].len);
        cache_release(m->cache, p->blk[i].e);
    }
    pthread_rwlock_unlock(&m->key_lock);
    fs_keys_trim_pending(m);
    free(p);
}
