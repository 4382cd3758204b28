/* ETags pinned at first contact: an object that changes under a reader is an error (ESTALE),
 * never a mix of old and new bytes. */
#include "fetch/http.h"
#include "common/err.h"
#include "common/hash.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fetch_pins {
    pthread_mutex_t lock;
    struct ccr_hash etags; /* key -> malloc'd ETag */
};

struct fetch_pins *fetch_pins_create(void)
{
    struct fetch_pins *p = calloc(1, sizeof *p);
    if (p != NULL) {
        pthread_mutex_init(&p->lock, NULL);
        ccr_hash_init(&p->etags);
    }
    return p;
}

void fetch_pins_destroy(struct fetch_pins *p)
{
    if (p == NULL)
        return;
    ccr_hash_free(&p->etags, free);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

int fetch_pins_get(struct fetch_pins *p, const char *key, char *out)
{
    const char *etag;
    int rc = ENOENT;

    pthread_mutex_lock(&p->lock);
    if ((etag = ccr_hash_get(&p->etags, key)) != NULL) {
        snprintf(out, FETCH_ETAG_MAX, "%s", etag);
        rc = 0;
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

int fetch_pins_check(struct fetch_pins *p, const char *key, const char *etag)
{
    const char *pinned;
    char *copy;
    int rc = 0;

    if (etag[0] == '\0' || strlen(etag) >= FETCH_ETAG_MAX)
        return 0; /* nothing to pin: the server gives no usable ETag */
    pthread_mutex_lock(&p->lock);
    if ((pinned = ccr_hash_get(&p->etags, key)) != NULL) {
        if (strcmp(pinned, etag) != 0)
            rc = ccr_err_set(ESTALE, "%s: object changed since it was first read (ETag %s, then %s)", key,
                             pinned, etag);
    } else if ((copy = strdup(etag)) == NULL) {
        rc = ENOMEM;
    } else if ((rc = ccr_hash_put(&p->etags, key, copy, NULL)) != 0) {
        free(copy);
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

void fetch_pins_forget(struct fetch_pins *p, const char *key)
{
    pthread_mutex_lock(&p->lock);
    free(ccr_hash_remove(&p->etags, key));
    pthread_mutex_unlock(&p->lock);
}
