#include "format/hashpipe.h"
#include "common/err.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>

#define HASHPIPE_SLOTS 16

/* lock protects every field below it; the hashing itself runs unlocked. */
struct fmt_hashpipe {
    pthread_t thread;
    EVP_MD_CTX *sha; /* touched only by the hashing thread until it is joined */
    pthread_mutex_t lock;
    pthread_cond_t changed;
    struct {
        const uint8_t *data;
        size_t len;
    } queue[HASHPIPE_SLOTS];
    uint64_t pushed; /* tickets handed out */
    uint64_t hashed; /* tickets done */
    int stopping;
};

static void *hashpipe_main(void *arg)
{
    struct fmt_hashpipe *p = arg;

    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (p->hashed == p->pushed && !p->stopping)
            pthread_cond_wait(&p->changed, &p->lock);
        if (p->hashed == p->pushed)
            break;
        {
            const uint8_t *data = p->queue[p->hashed % HASHPIPE_SLOTS].data;
            size_t len = p->queue[p->hashed % HASHPIPE_SLOTS].len;
            pthread_mutex_unlock(&p->lock);
            EVP_DigestUpdate(p->sha, data, len);
            pthread_mutex_lock(&p->lock);
        }
        p->hashed++;
        pthread_cond_broadcast(&p->changed);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int fmt_hashpipe_start(struct fmt_hashpipe **out)
{
    struct fmt_hashpipe *p = calloc(1, sizeof *p);

    if (p == NULL)
        return ENOMEM;
    p->sha = EVP_MD_CTX_new();
    if (p->sha == NULL || EVP_DigestInit_ex(p->sha, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(p->sha);
        free(p);
        return ccr_err_set(EIO, "SHA-256 is not available");
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->changed, NULL);
    if (pthread_create(&p->thread, NULL, hashpipe_main, p) != 0) {
        EVP_MD_CTX_free(p->sha);
        free(p);
        return ccr_err_set(EAGAIN, "cannot start the hashing thread");
    }
    *out = p;
    return 0;
}

uint64_t fmt_hashpipe_push(struct fmt_hashpipe *p, const uint8_t *data, size_t len)
{
    uint64_t ticket;

    pthread_mutex_lock(&p->lock);
    while (p->pushed - p->hashed >= HASHPIPE_SLOTS)
        pthread_cond_wait(&p->changed, &p->lock);
    ticket = p->pushed;
    p->queue[ticket % HASHPIPE_SLOTS].data = data;
    p->queue[ticket % HASHPIPE_SLOTS].len = len;
    p->pushed++;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
    return ticket;
}

void fmt_hashpipe_wait(struct fmt_hashpipe *p, uint64_t ticket)
{
    pthread_mutex_lock(&p->lock);
    while (p->hashed <= ticket)
        pthread_cond_wait(&p->changed, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

void fmt_hashpipe_finish(struct fmt_hashpipe *p, uint8_t out[32])
{
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    if (out != NULL)
        EVP_DigestFinal_ex(p->sha, out, NULL);
    EVP_MD_CTX_free(p->sha);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->changed);
    free(p);
}
