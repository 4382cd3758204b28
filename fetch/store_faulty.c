/* The fault-injecting store for tests: wraps another store and fails calls, cuts reads short
 * and delays them, at rates and from a seed the test chooses, so callers' error paths run. */
#include "fetch/store.h"
#include "common/err.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct faulty_store {
    struct fetch_store pub;
    struct fetch_store *inner;
    struct fetch_faulty_conf conf;
    pthread_mutex_t lock;
    uint64_t rng;
    unsigned calls;
    atomic_uint_least64_t requests, bytes_read, bytes_written, errors, in_flight;
};

enum fault { FAULT_NONE, FAULT_ERROR, FAULT_SHORT };

/* splitmix64: reproducible from the seed, good enough to spread faults. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static enum fault faulty_decide(struct faulty_store *f, int is_read, unsigned *cut)
{
    enum fault what = FAULT_NONE;
    unsigned roll_err, roll_short;

    pthread_mutex_lock(&f->lock);
    f->calls++;
    roll_err = (unsigned)(next_random(&f->rng) % 1000);
    roll_short = (unsigned)(next_random(&f->rng) % 1000);
    *cut = (unsigned)next_random(&f->rng);
    if (f->calls <= f->conf.fail_first || roll_err < f->conf.error_permille)
        what = FAULT_ERROR;
    else if (is_read && roll_short < f->conf.short_read_permille)
        what = FAULT_SHORT;
    pthread_mutex_unlock(&f->lock);
    if (f->conf.delay_ms > 0) {
        struct timespec ts = {(time_t)(f->conf.delay_ms / 1000), (long)(f->conf.delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return what;
}

static int faulty_error(struct faulty_store *f, const char *op, const char *key)
{
    int code = f->conf.error_code ? f->conf.error_code : EIO;
    atomic_fetch_add(&f->errors, 1);
    return ccr_err_set(code, "%s %s: injected fault", op, key ? key : "");
}

static int faulty_read_range(struct fetch_store *s, const char *key, uint64_t offset, size_t len, void *buf)
{
    struct faulty_store *f = s->priv;
    unsigned cut;
    enum fault what;
    int rc;

    /* Counted when it starts, as the other calls are: a test can see a read is under way
     * (waiting out delay_ms) and act while it is. */
    atomic_fetch_add(&f->requests, 1);
    what = faulty_decide(f, 1, &cut);
    if (what == FAULT_ERROR)
        return faulty_error(f, "read", key);
    atomic_fetch_add(&f->in_flight, 1);
    rc = fetch_read_range(f->inner, key, offset, len, buf);
    atomic_fetch_sub(&f->in_flight, 1);
    if (rc == 0 && what == FAULT_SHORT && len > 0) {
        /* What a backend must never hand on as success: part of the bytes, the rest garbage. */
        size_t keep = cut % len;
        memset((uint8_t *)buf + keep, 0xA5, len - keep);
        atomic_fetch_add(&f->errors, 1);
        return ccr_err_set(EIO, "read %s: injected short read (%zu of %zu bytes)", key, keep, len);
    }
    if (rc == 0)
        atomic_fetch_add(&f->bytes_read, len);
    else
        atomic_fetch_add(&f->errors, 1);
    return rc;
}

static int faulty_stat(struct fetch_store *s, const char *key, struct fetch_object_info *info)
{
    struct faulty_store *f = s->priv;
    unsigned cut;
    int rc;

    atomic_fetch_add(&f->requests, 1);
    if (faulty_decide(f, 0, &cut) == FAULT_ERROR)
        return faulty_error(f, "stat", key);
    rc = fetch_stat(f->inner, key, info);
    if (rc != 0)
        atomic_fetch_add(&f->errors, 1);
    return rc;
}

static int faulty_list(struct fetch_store *s, const char *prefix, fetch_list_cb cb, void *arg)
{
    struct faulty_store *f = s->priv;
    unsigned cut;

    atomic_fetch_add(&f->requests, 1);
    if (faulty_decide(f, 0, &cut) == FAULT_ERROR)
        return faulty_error(f, "list", prefix);
    return fetch_list(f->inner, prefix, cb, arg);
}

static int faulty_put(struct fetch_store *s, const char *key, const struct fetch_source *src)
{
    struct faulty_store *f = s->priv;
    unsigned cut;
    int rc;

    atomic_fetch_add(&f->requests, 1);
    if (faulty_decide(f, 0, &cut) == FAULT_ERROR)
        return faulty_error(f, "put", key);
    rc = fetch_put(f->inner, key, src);
    if (rc == 0)
        atomic_fetch_add(&f->bytes_written, src->len);
    else
        atomic_fetch_add(&f->errors, 1);
    return rc;
}

static void faulty_get_stats(struct fetch_store *s, struct fetch_stats *out)
{
    struct faulty_store *f = s->priv;
    out->requests = atomic_load(&f->requests);
    out->bytes_read = atomic_load(&f->bytes_read);
    out->bytes_written = atomic_load(&f->bytes_written);
    out->errors = atomic_load(&f->errors);
    out->in_flight = atomic_load(&f->in_flight);
}

static void faulty_destroy(struct fetch_store *s)
{
    struct faulty_store *f = s->priv;
    fetch_store_destroy(f->inner);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

int fetch_faulty_create(const struct fetch_faulty_conf *conf, struct fetch_store *inner,
                        struct fetch_store **out)
{
    struct faulty_store *f;

    if (conf->error_permille > 1000 || conf->short_read_permille > 1000)
        return ccr_err_set(EINVAL, "faulty store: rates are parts per thousand (0 to 1000)");
    if ((f = calloc(1, sizeof *f)) == NULL)
        return ENOMEM;
    f->inner = inner;
    f->conf = *conf;
    f->rng = conf->seed;
    pthread_mutex_init(&f->lock, NULL);
    f->pub.kind = "faulty";
    f->pub.read_range = faulty_read_range;
    f->pub.stat = faulty_stat;
    f->pub.list = faulty_list;
    f->pub.put = faulty_put;
    f->pub.get_stats = faulty_get_stats;
    f->pub.destroy = faulty_destroy;
    f->pub.priv = f;
    *out = &f->pub;
    return 0;
}
