/* ETags pinned at first contact: an object that changes under a reader is an error (ESTALE),
 * never a mix of old and new bytes. */
#include "fetch/http.h"
#include "common/err.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define PINS_BUCKETS 1024

struct pin {
    struct pin *next;
    char etag[FETCH_ETAG_MAX];
    char key[];
};

struct fetch_pins {
    pthread_mutex_t lock;
    struct pin *buckets[PINS_BUCKETS];
};

static unsigned pins_hash(const char *key)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % PINS_BUCKETS;
}

struct fetch_pins *fetch_pins_create(void)
{
    struct fetch_pins *p = calloc(1, sizeof *p);
    if (p != NULL)
        pthread_mutex_init(&p->lock, NULL);
    return p;
}

void fetch_pins_destroy(struct fetch_pins *p)
{
    if (p == NULL)
        return;
    for (unsigned i = 0; i < PINS_BUCKETS; i++) {
        while (p->buckets[i] != NULL) {
            struct pin *e = p->buckets[i];
            p->buckets[i] = e->next;
            free(e);
        }
    }
    pthread_mutex_destroy(&p->lock);
    free(p);
}

static struct pin *pins_find(struct fetch_pins *p, const char *key)
{
    for (struct pin *e = p->buckets[pins_hash(key)]; e != NULL; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

int fetch_pins_get(struct fetch_pins *p, const char *key, char *out)
{
    struct pin *e;
    int rc = ENOENT;

    pthread_mutex_lock(&p->lock);
    if ((e = pins_find(p, key)) != NULL) {
        memcpy(out, e->etag, FETCH_ETAG_MAX);
        rc = 0;
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

int fetch_pins_check(struct fetch_pins *p, const char *key, const char *etag)
{
    struct pin *e;
    int rc = 0;

    if (etag[0] == '\0' || strlen(etag) >= FETCH_ETAG_MAX)
        return 0; /* nothing to pin: the server gives no usable ETag */
    pthread_mutex_lock(&p->lock);
    if ((e = pins_find(p, key)) != NULL) {
        if (strcmp(e->etag, etag) != 0)
            rc = ccr_err_set(ESTALE, "%s: object changed since it was first read (ETag %s, then %s)", key,
                             e->etag, etag);
    } else if ((e = calloc(1, sizeof *e + strlen(key) + 1)) == NULL) {
        rc = ENOMEM;
    } else {
        unsigned b = pins_hash(key);
        memcpy(e->key, key, strlen(key) + 1);
        memcpy(e->etag, etag, strlen(etag) + 1);
        e->next = p->buckets[b];
        p->buckets[b] = e;
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

void fetch_pins_forget(struct fetch_pins *p, const char *key)
{
    unsigned b = pins_hash(key);

    pthread_mutex_lock(&p->lock);
    for (struct pin **pp = &p->buckets[b]; *pp != NULL; pp = &(*pp)->next) {
        if (strcmp((*pp)->key, key) == 0) {
            struct pin *e = *pp;
            *pp = e->next;
            free(e);
            break;
        }
    }
    pthread_mutex_unlock(&p->lock);
}
