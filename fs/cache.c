#include "fs/cache.h"
#include "common/err.h"
#include "common/secmem.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>

#define CACHE_NONE UINT32_MAX

enum entry_state { ENTRY_FREE, ENTRY_FILLING, ENTRY_READY, ENTRY_DEAD };

struct cache_entry {
    uint64_t file, block;
    uint8_t *data;
    size_t len;
    uint32_t pins;
    uint32_t hash_next;          /* chain in the bucket */
    uint32_t lru_prev, lru_next; /* READY and unpinned entries only; also the free list (lru_next) */
    uint8_t state;               /* enum entry_state */
    uint8_t stale;               /* a wipe happened during the fill: drop the block when it ends */
    int fill_rc;                 /* ENTRY_DEAD: why */
};

/* One mutex (lock) protects every field below it and every entry; fills happen outside it.
 * filled is broadcast whenever a fill ends. */
struct cache {
    pthread_mutex_t lock;
    pthread_cond_t filled;
    uint8_t *slab;
    size_t slab_len, slot_size;
    uint32_t nslots, nbuckets;
    struct cache_entry *entries;
    uint32_t *buckets;
    uint32_t lru_head, lru_tail; /* head = most recently used */
    uint32_t free_head;
    uint32_t used;
    struct cache_stats st;
};

/* The cache keeps its own table rather than common/hash.h: keys are two integers, not strings,
 * the buckets and chains are indexes into the fixed entry array (no allocation on the read
 * path, nothing to free on eviction), and every read of every block looks it up. */
static uint32_t cache_hash(const struct cache *c, uint64_t file, uint64_t block)
{
    uint64_t h = file * 0x9E3779B97F4A7C15ull ^ (block + 0x632BE59BD9B4E019ull) * 0xC2B2AE3D27D4EB4Full;
    h ^= h >> 31;
    return (uint32_t)(h % c->nbuckets);
}

int cache_create(size_t slot_size, size_t nslots, struct cache **out)
{
    struct cache *c;

    if (slot_size == 0 || nslots == 0 || nslots >= CACHE_NONE || nslots > SIZE_MAX / slot_size)
        return ccr_err_set(EINVAL, "cache: invalid size (%zu slots of %zu bytes)", nslots, slot_size);
    if ((c = calloc(1, sizeof *c)) == NULL)
        return ENOMEM;
    c->slot_size = slot_size;
    c->nslots = (uint32_t)nslots;
    c->nbuckets = (uint32_t)(nslots * 2 + 1);
    c->slab_len = slot_size * nslots;
    c->slab = ccr_secmem_alloc(c->slab_len);
    c->entries = calloc(nslots, sizeof *c->entries);
    c->buckets = malloc(c->nbuckets * sizeof *c->buckets);
    if (c->slab == NULL || c->entries == NULL || c->buckets == NULL) {
        ccr_secmem_free(c->slab, c->slab_len);
        free(c->entries);
        free(c->buckets);
        free(c);
        return ccr_err_set(ENOMEM, "cache: cannot allocate %zu bytes of locked memory", slot_size * nslots);
    }
    for (uint32_t i = 0; i < c->nbuckets; i++)
        c->buckets[i] = CACHE_NONE;
    for (uint32_t i = 0; i < c->nslots; i++) {
        c->entries[i].data = c->slab + (size_t)i * slot_size;
        c->entries[i].lru_next = i + 1 < c->nslots ? i + 1 : CACHE_NONE;
        c->entries[i].hash_next = CACHE_NONE;
    }
    c->free_head = 0;
    c->lru_head = c->lru_tail = CACHE_NONE;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->filled, NULL);
    c->st.slots = nslots;
    c->st.slot_size = slot_size;
    *out = c;
    return 0;
}

void cache_destroy(struct cache *c)
{
    if (c == NULL)
        return;
    ccr_secmem_free(c->slab, c->slab_len);
    free(c->entries);
    free(c->buckets);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->filled);
    free(c);
}

static uint32_t idx_of(const struct cache *c, const struct cache_entry *e)
{
    return (uint32_t)(e - c->entries);
}

static void lru_unlink(struct cache *c, struct cache_entry *e)
{
    uint32_t i = idx_of(c, e);
    if (e->lru_prev != CACHE_NONE)
        c->entries[e->lru_prev].lru_next = e->lru_next;
    else if (c->lru_head == i)
        c->lru_head = e->lru_next;
    if (e->lru_next != CACHE_NONE)
        c->entries[e->lru_next].lru_prev = e->lru_prev;
    else if (c->lru_tail == i)
        c->lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = CACHE_NONE;
}

static void lru_push_head(struct cache *c, struct cache_entry *e)
{
    uint32_t i = idx_of(c, e);
    e->lru_prev = CACHE_NONE;
    e->lru_next = c->lru_head;
    if (c->lru_head != CACHE_NONE)
        c->entries[c->lru_head].lru_prev = i;
    c->lru_head = i;
    if (c->lru_tail == CACHE_NONE)
        c->lru_tail = i;
}

static void hash_remove(struct cache *c, struct cache_entry *e)
{
    uint32_t *p = &c->buckets[cache_hash(c, e->file, e->block)], i = idx_of(c, e);
    while (*p != CACHE_NONE) {
        if (*p == i) {
            *p = e->hash_next;
            break;
        }
        p = &c->entries[*p].hash_next;
    }
    e->hash_next = CACHE_NONE;
}

/* Wipes the slot and puts the entry on the free list. */
static void entry_free(struct cache *c, struct cache_entry *e)
{
    OPENSSL_cleanse(e->data, c->slot_size);
    e->state = ENTRY_FREE;
    e->len = 0;
    e->stale = 0;
    e->lru_prev = CACHE_NONE;
    e->lru_next = c->free_head;
    c->free_head = idx_of(c, e);
    c->used--;
}

enum cache_result cache_acquire(struct cache *c, uint64_t file, uint64_t block, struct cache_entry **out)
{
    uint32_t b = cache_hash(c, file, block), i;
    struct cache_entry *e;
    enum cache_result r;

    pthread_mutex_lock(&c->lock);
    for (i = c->buckets[b]; i != CACHE_NONE; i = c->entries[i].hash_next) {
        e = &c->entries[i];
        if (e->file == file && e->block == block)
            break;
    }
    if (i != CACHE_NONE) {
        if (e->state == ENTRY_READY) {
            if (e->pins++ == 0)
                lru_unlink(c, e);
            c->st.hits++;
            r = CACHE_HIT;
        } else {
            e->pins++;
            c->st.waits++;
            r = CACHE_BUSY;
        }
        *out = e;
        pthread_mutex_unlock(&c->lock);
        return r;
    }
    c->st.misses++;
    if (c->free_head != CACHE_NONE) {
        e = &c->entries[c->free_head];
        c->free_head = e->lru_next;
        c->used++;
    } else if (c->lru_tail != CACHE_NONE) {
        e = &c->entries[c->lru_tail];
        lru_unlink(c, e);
        hash_remove(c, e);
        OPENSSL_cleanse(e->data, c->slot_size);
        c->st.evictions++;
    } else {
        *out = NULL;
        pthread_mutex_unlock(&c->lock);
        return CACHE_FULL;
    }
    e->file = file;
    e->block = block;
    e->len = 0;
    e->pins = 1;
    e->state = ENTRY_FILLING;
    e->stale = 0;
    e->fill_rc = 0;
    e->lru_prev = e->lru_next = CACHE_NONE;
    e->hash_next = c->buckets[b];
    c->buckets[b] = idx_of(c, e);
    *out = e;
    pthread_mutex_unlock(&c->lock);
    return CACHE_MISS;
}

uint8_t *cache_entry_data(struct cache_entry *e)
{
    return e->data;
}

size_t cache_entry_len(const struct cache_entry *e)
{
    return e->len;
}

void cache_fill_done(struct cache *c, struct cache_entry *e, int rc, size_t len)
{
    pthread_mutex_lock(&c->lock);
    if (rc == 0 && e->stale)
        rc = ECANCELED;
    if (rc == 0 && len <= c->slot_size) {
        e->len = len;
        e->state = ENTRY_READY;
    } else {
        OPENSSL_cleanse(e->data, c->slot_size);
        hash_remove(c, e);
        e->state = ENTRY_DEAD;
        e->fill_rc = rc != 0 ? rc : EINVAL;
        c->st.fill_failures++;
    }
    pthread_cond_broadcast(&c->filled);
    pthread_mutex_unlock(&c->lock);
}

int cache_wait(struct cache *c, struct cache_entry *e)
{
    int rc;

    pthread_mutex_lock(&c->lock);
    while (e->state == ENTRY_FILLING)
        pthread_cond_wait(&c->filled, &c->lock);
    rc = e->state == ENTRY_READY ? 0 : e->fill_rc;
    pthread_mutex_unlock(&c->lock);
    return rc;
}

void cache_release(struct cache *c, struct cache_entry *e)
{
    pthread_mutex_lock(&c->lock);
    if (--e->pins == 0) {
        if (e->state == ENTRY_READY)
            lru_push_head(c, e);
        else if (e->state == ENTRY_DEAD)
            entry_free(c, e);
    }
    pthread_mutex_unlock(&c->lock);
}

void cache_wipe(struct cache *c)
{
    pthread_mutex_lock(&c->lock);
    for (uint32_t i = 0; i < c->nslots; i++) {
        struct cache_entry *e = &c->entries[i];
        if (e->state == ENTRY_FILLING) {
            e->stale = 1;
        } else if (e->state == ENTRY_READY) {
            hash_remove(c, e);
            if (e->pins == 0) {
                lru_unlink(c, e);
                entry_free(c, e);
            } else {
                /* In use by a reply being sent: wiped when its last pin goes. */
                e->state = ENTRY_DEAD;
                e->fill_rc = ECANCELED;
            }
        }
    }
    c->st.wipes++;
    pthread_mutex_unlock(&c->lock);
}

void cache_get_stats(struct cache *c, struct cache_stats *out)
{
    pthread_mutex_lock(&c->lock);
    *out = c->st;
    out->slots_used = c->used;
    pthread_mutex_unlock(&c->lock);
}
