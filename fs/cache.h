/* The plaintext block cache: a fixed number of equal slots cut from one slab of locked
 * memory, looked up by (file, block), evicted least recently used first, and wiped whenever a
 * block leaves it. Plaintext lives nowhere else for longer than one request.
 *
 * A block is pinned while anyone uses it. The first reader of an absent block gets CACHE_MISS
 * and fills it; readers arriving meanwhile get CACHE_BUSY and wait for that one fill, so a
 * block is never fetched twice at once. A filler never waits on another fill while it holds
 * unfilled entries, so fills cannot deadlock; when every slot is pinned the cache answers
 * CACHE_FULL at once and the caller decrypts into its own buffer instead of waiting. */
#ifndef CCRFS_FS_CACHE_H
#define CCRFS_FS_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct cache;
struct cache_entry;

enum cache_result {
    CACHE_HIT,  /* pinned, holds the block */
    CACHE_MISS, /* pinned, empty: the caller fills it and calls cache_fill_done */
    CACHE_BUSY, /* pinned, another caller is filling it: call cache_wait */
    CACHE_FULL, /* no entry: every slot is pinned */
};

struct cache_stats {
    uint64_t hits, misses, waits, evictions, fill_failures, wipes;
    uint64_t slots, slots_used, slot_size;
};

/* nslots slots of slot_size bytes each, in one locked slab. */
int cache_create(size_t slot_size, size_t nslots, struct cache **out);
/* Wipes and frees everything; no entry may be pinned. */
void cache_destroy(struct cache *c);

enum cache_result cache_acquire(struct cache *c, uint64_t file, uint64_t block, struct cache_entry **out);
/* The slot of a pinned entry (slot_size bytes) and, once filled, the bytes it holds. */
uint8_t *cache_entry_data(struct cache_entry *e);
size_t cache_entry_len(const struct cache_entry *e);
/* Ends the fill of a CACHE_MISS entry: rc 0 makes its len bytes visible to everyone; an error
 * wipes the slot and drops the block (waiters see the error). The caller still holds its pin. */
void cache_fill_done(struct cache *c, struct cache_entry *e, int rc, size_t len);
/* Waits for a CACHE_BUSY entry's fill: 0 when it holds the block, else the filler's error. */
int cache_wait(struct cache *c, struct cache_entry *e);
/* Drops a pin. */
void cache_release(struct cache *c, struct cache_entry *e);
/* Wipes every block now (pinned ones when their last pin goes, fills in progress when they
 * end): consent withdrawn. The cache stays usable. */
void cache_wipe(struct cache *c);
void cache_get_stats(struct cache *c, struct cache_stats *out);

#endif
