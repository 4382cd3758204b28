/* A hash table from NUL-terminated string keys to pointers (chained, grows at load 1), and the
 * one string hash (FNV-1a, 64-bit) for tables that keep their own buckets. Not thread-safe: the
 * owner's lock protects it. */
#ifndef CCRFS_COMMON_HASH_H
#define CCRFS_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t ccr_hash_bytes(const void *data, size_t len);
uint64_t ccr_hash_str(const char *s);

struct ccr_hash_entry;

struct ccr_hash {
    struct ccr_hash_entry **buckets;
    size_t nbuckets, count;
};

void ccr_hash_init(struct ccr_hash *h);
/* The value stored under key, or NULL. */
void *ccr_hash_get(const struct ccr_hash *h, const char *key);
/* Stores value under key (the key is copied). When key was present its value is replaced and
 * the old one returned through *old (if old is not NULL). 0 or ENOMEM (table unchanged). */
int ccr_hash_put(struct ccr_hash *h, const char *key, void *value, void **old);
/* Removes key and returns its value, or NULL when absent. */
void *ccr_hash_remove(struct ccr_hash *h, const char *key);
/* Calls fn for every entry in no particular order; fn must not change the table. */
void ccr_hash_foreach(const struct ccr_hash *h, void (*fn)(const char *key, void *value, void *arg),
                      void *arg);
/* Frees the table, calling free_value on each value when it is not NULL. */
void ccr_hash_free(struct ccr_hash *h, void (*free_value)(void *value));

#endif
