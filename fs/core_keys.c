/* File keys: a file's blob key is derived (header read and authenticated, HKDF) when it is
 * first needed, held while the file is open, and kept afterwards only among the key_lru_max
 * most recently closed files; older ones are wiped. Memory for keys is thus bounded by the
 * files open at once plus the LRU, whatever number of distinct files is opened over time.
 *
 * At most key_lru_max keys nobody holds stay after a close; while reads in flight keep the
 * eviction from taking key_lock, the excess waits for the next read to let go of key_lock (or
 * the next key installed) and is trimmed then.
 *
 * The list of recently closed keys (fs_node.lru_prev/lru_next, node indexes) holds only keys
 * nobody holds; a hold takes the key out, the last drop puts it at the head. Keys are
 * installed and evicted under key_lock held exclusively, so a reader that holds key_lock
 * shared never sees its key freed; one that finds the key gone opens it again. */
#include "fs/internal.h"
#include "common/err.h"
#include "common/log.h"

#include <errno.h>

static void lru_unlink(struct fs_mount *m, struct fs_node *n)
{
    struct fs_node *nodes = m->tree.nodes;

    if (!n->in_lru)
        return;
    if (n->lru_prev != 0)
        nodes[n->lru_prev].lru_next = n->lru_next;
    else
        m->lru_head = n->lru_next;
    if (n->lru_next != 0)
        nodes[n->lru_next].lru_prev = n->lru_prev;
    else
        m->lru_tail = n->lru_prev;
    n->lru_prev = n->lru_next = 0;
    n->in_lru = 0;
    m->lru_count--;
}

static void lru_push_head(struct fs_mount *m, struct fs_node *n)
{
    uint32_t idx = (uint32_t)(n - m->tree.nodes);

    n->lru_prev = 0;
    n->lru_next = m->lru_head;
    if (m->lru_head != 0)
        m->tree.nodes[m->lru_head].lru_prev = idx;
    else
        m->lru_tail = idx;
    m->lru_head = idx;
    n->in_lru = 1;
    m->lru_count++;
}

/* Wipes the least recently used keys nobody holds beyond the bound. key_lock exclusive and
 * key_lru_lock held. */
static void evict_excess(struct fs_mount *m)
{
    while (m->lru_count > m->key_lru_max && m->lru_tail != 0) {
        struct fs_node *victim = &m->tree.nodes[m->lru_tail];
        lru_unlink(m, victim);
        victim->key_cached = 0;
        fmt_blob_key_free(victim->key);
        victim->key = NULL;
        atomic_fetch_sub(&m->keys_live, 1);
        atomic_fetch_add(&m->key_evictions, 1);
        fs_ahead_forget(m, victim);
    }
}

/* A small file's blocks came with its header: authenticated and decrypted into the cache now,
 * so the reads that follow need no request. Under key_lock shared, so that a revocation (which
 * takes it exclusively, then wipes the cache) cannot fall between the check and the fill. */
static void fill_cache_whole(struct fs_mount *m, struct fs_node *n, const struct fmt_blob_key *k,
                             const uint8_t *whole)
{
    const struct fmt_blob_header *h = &k->header;
    uint64_t file = (uint64_t)(n - m->tree.nodes), count = fmt_blob_block_count(h);

    pthread_rwlock_rdlock(&m->key_lock);
    for (uint64_t i = 0; i < count && !atomic_load(&m->revoked); i++) {
        struct cache_entry *ce;
        enum cache_result r = cache_acquire(m->cache, file, i, &ce);
        size_t plain = fmt_blob_block_plain_len(h, i);

        if (r == CACHE_FULL)
            break;
        if (r == CACHE_MISS) {
            int rc = fmt_blob_decrypt_block(k, i, whole + fmt_blob_block_offset(h, i), plain + FMT_TAG_LEN,
                                            cache_entry_data(ce));
            if (rc != 0)
                fs_report_integrity(m, n, i, "tag mismatch");
            cache_fill_done(m->cache, ce, rc != 0 ? EBADMSG : 0, plain);
        }
        cache_release(m->cache, ce);
    }
    pthread_rwlock_unlock(&m->key_lock);
}

/* Installs key k of n (taking it) unless another open did first or access was revoked; the
 * blob counts as checked from here on. */
static int install_key(struct fs_mount *m, struct fs_node *n, struct fmt_blob_key *k)
{
    int rc = 0;

    pthread_rwlock_wrlock(&m->key_lock);
    if (atomic_load(&m->revoked)) {
        rc = EACCES;
    } else if (n->key == NULL) {
        n->blob_checked = 1;
        n->key = k;
        k = NULL;
        pthread_mutex_lock(&m->key_lru_lock);
        n->key_cached = 1;
        /* Counted once the excess is gone, so that readers without the lock (stats, tests
         * while fetch-ahead installs keys) never see more than the bound; but before, when the
         * eviction can take this very key (key_cache=0: it is the only one in the list), so
         * the count never goes below zero. */
        int count_first = m->key_lru_max == 0;
        if (count_first)
            atomic_fetch_add(&m->keys_live, 1);
        if (n->key_users == 0)
            lru_push_head(m, n);
        evict_excess(m);
        if (!count_first)
            atomic_fetch_add(&m->keys_live, 1);
        pthread_mutex_unlock(&m->key_lru_lock);
    }
    pthread_rwlock_unlock(&m->key_lock);
    fmt_blob_key_free(k);
    return rc;
}

int fs_node_open_key(struct fs_mount *m, struct fs_node *n)
{
    struct fmt_blob_key *k = NULL;
    uint64_t whole_len = fs_whole_blob_len(n->e);
    uint8_t header[FMT_BLOB_HEADER_LEN], *buf = header;
    size_t len = sizeof header;
    int rc, have, checked;

    pthread_rwlock_rdlock(&m->key_lock);
    have = n->key != NULL;
    checked = n->blob_checked;
    pthread_rwlock_unlock(&m->key_lock);
    if (have)
        return 0;
    /* Checked once already: the key comes from the manifest alone, and the blocks still
     * authenticate as they are read (a blob swapped or truncated since fails there). A warm
     * epoch over more files than key_cache then makes no store request for its opens. */
    if (checked && fmt_dataset_file_key_again(m->ds, n->e, &k) == 0)
        return install_key(m, n, k);
    if (whole_len != 0 && (buf = fs_scratch_get((size_t)whole_len)) != NULL)
        len = (size_t)whole_len;
    else
        buf = header;
    /* Store I/O happens outside the lock; two first opens may race and one key is dropped. */
    ccr_err_clear();
    rc = fmt_dataset_open_file_read(m->ds, n->e, buf, len, &k);
    if (rc == 0 && len > FMT_BLOB_HEADER_LEN) {
        atomic_fetch_add(&m->bytes_fetched, len - FMT_BLOB_HEADER_LEN);
        fill_cache_whole(m, n, k, buf);
    }
    if (rc == EBADMSG) {
        fs_report_integrity(m, n, FS_HEADER_BLOCK, ccr_err_msg(rc));
        return EIO;
    }
    if (rc == ENOMEM) {
        /* Not the store's fault: counted apart so the stats point at the real cause. */
        atomic_fetch_add(&m->memory_errors, 1);
        ccr_log_error("open %s: out of memory", n->e->path);
        return ENOMEM;
    }
    if (rc != 0) {
        atomic_fetch_add(&m->store_errors, 1);
        ccr_log_error("open %s: %s", n->e->path, ccr_err_msg(rc));
        return EIO;
    }
    return install_key(m, n, k);
}

int fs_key_hold(struct fs_mount *m, struct fs_node *n)
{
    int rc;

    /* Counted first: from here on no eviction takes the key, and the open below installs it
     * when it is not there. */
    pthread_mutex_lock(&m->key_lru_lock);
    if (n->key_users++ == 0)
        lru_unlink(m, n);
    pthread_mutex_unlock(&m->key_lru_lock);
    if ((rc = fs_node_open_key(m, n)) != 0)
        fs_key_drop(m, n);
    return rc;
}

void fs_key_drop(struct fs_mount *m, struct fs_node *n)
{
    int over;

    pthread_mutex_lock(&m->key_lru_lock);
    if (n->key_users > 0 && --n->key_users == 0 && n->key_cached)
        lru_push_head(m, n);
    over = m->lru_count > m->key_lru_max;
    pthread_mutex_unlock(&m->key_lru_lock);
    /* Evicting needs key_lock exclusively; a close does not wait for reads in flight to get
     * it: when they hold it, the read that lets go of it last trims the list instead. */
    if (over) {
        atomic_store(&m->key_trim_pending, 1);
        fs_keys_trim_pending(m);
    }
}

void fs_keys_trim_pending(struct fs_mount *m)
{
    if (!atomic_load(&m->key_trim_pending) || pthread_rwlock_trywrlock(&m->key_lock) != 0)
        return;
    atomic_store(&m->key_trim_pending, 0);
    pthread_mutex_lock(&m->key_lru_lock);
    evict_excess(m);
    pthread_mutex_unlock(&m->key_lru_lock);
    pthread_rwlock_unlock(&m->key_lock);
}

void fs_keys_wipe_locked(struct fs_mount *m)
{
    pthread_mutex_lock(&m->key_lru_lock);
    for (uint32_t i = 0; i < m->tree.count; i++) {
        struct fs_node *n = &m->tree.nodes[i];
        fmt_blob_key_free(n->key);
        n->key = NULL;
        n->key_cached = n->in_lru = 0;
        n->lru_prev = n->lru_next = 0;
    }
    m->lru_head = m->lru_tail = m->lru_count = 0;
    atomic_store(&m->keys_live, 0);
    pthread_mutex_unlock(&m->key_lru_lock);
}

uint64_t fs_keys_live(struct fs_mount *m)
{
    return atomic_load(&m->keys_live);
}
