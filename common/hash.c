#include "common/hash.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct ccr_hash_entry {
    struct ccr_hash_entry *next;
    uint64_t hash;
    void *value;
    char key[]; /* NUL-terminated copy */
};

uint64_t ccr_hash_bytes(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull;

    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

uint64_t ccr_hash_str(const char *s)
{
    return ccr_hash_bytes(s, strlen(s));
}

void ccr_hash_init(struct ccr_hash *h)
{
    h->buckets = NULL;
    h->nbuckets = h->count = 0;
}

static struct ccr_hash_entry **hash_slot(const struct ccr_hash *h, const char *key, uint64_t hv)
{
    struct ccr_hash_entry **pp;

    if (h->nbuckets == 0)
        return NULL;
    for (pp = &h->buckets[hv % h->nbuckets]; *pp != NULL; pp = &(*pp)->next)
        if ((*pp)->hash == hv && strcmp((*pp)->key, key) == 0)
            return pp;
    return NULL;
}

void *ccr_hash_get(const struct ccr_hash *h, const char *key)
{
    struct ccr_hash_entry **pp = hash_slot(h, key, ccr_hash_str(key));
    return pp != NULL ? (*pp)->value : NULL;
}

static int hash_grow(struct ccr_hash *h)
{
    size_t n = h->nbuckets ? h->nbuckets * 2 : 16;
    struct ccr_hash_entry **b = calloc(n, sizeof *b);

    if (b == NULL)
        return ENOMEM;
    for (size_t i = 0; i < h->nbuckets; i++) {
        struct ccr_hash_entry *e = h->buckets[i], *next;
        for (; e != NULL; e = next) {
            next = e->next;
            e->next = b[e->hash % n];
            b[e->hash % n] = e;
        }
    }
    free(h->buckets);
    h->buckets = b;
    h->nbuckets = n;
    return 0;
}

int ccr_hash_put(struct ccr_hash *h, const char *key, void *value, void **old)
{
    uint64_t hv = ccr_hash_str(key);
    struct ccr_hash_entry **pp = hash_slot(h, key, hv), *e;
    size_t klen;

    if (pp != NULL) {
        if (old != NULL)
            *old = (*pp)->value;
        (*pp)->value = value;
        return 0;
    }
    if (old != NULL)
        *old = NULL;
    if (h->count >= h->nbuckets && hash_grow(h) != 0)
        return ENOMEM;
    klen = strlen(key);
    e = malloc(sizeof *e + klen + 1);
    if (e == NULL)
        return ENOMEM;
    memcpy(e->key, key, klen + 1);
    e->hash = hv;
    e->value = value;
    e->next = h->buckets[hv % h->nbuckets];
    h->buckets[hv % h->nbuckets] = e;
    h->count++;
    return 0;
}

void *ccr_hash_remove(struct ccr_hash *h, const char *key)
{
    struct ccr_hash_entry **pp = hash_slot(h, key, ccr_hash_str(key)), *e;
    void *value;

    if (pp == NULL)
        return NULL;
    e = *pp;
    *pp = e->next;
    value = e->value;
    free(e);
    h->count--;
    return value;
}

void ccr_hash_foreach(const struct ccr_hash *h, void (*fn)(const char *key, void *value, void *arg),
                      void *arg)
{
    for (size_t i = 0; i < h->nbuckets; i++)
        for (struct ccr_hash_entry *e = h->buckets[i]; e != NULL; e = e->next)
            fn(e->key, e->value, arg);
}

void ccr_hash_free(struct ccr_hash *h, void (*free_value)(void *value))
{
    for (size_t i = 0; i < h->nbuckets; i++) {
        struct ccr_hash_entry *e = h->buckets[i], *next;
        for (; e != NULL; e = next) {
            next = e->next;
            if (free_value != NULL)
                free_value(e->value);
            free(e);
        }
    }
    free(h->buckets);
    ccr_hash_init(h);
}
