/* The plaintext block cache: hits and misses, LRU order, the bound, one fill for many
 * concurrent readers, wiping on eviction, on a failed fill and on cache_wipe. */
#include "fs/cache.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define SLOT 4096

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return 0;
    return 1;
}

/* Fills block (file, block) with byte v and releases it. */
static void put_block(struct cache *c, uint64_t file, uint64_t block, uint8_t v)
{
    struct cache_entry *e;
    assert_int_equal(cache_acquire(c, file, block, &e), CACHE_MISS);
    memset(cache_entry_data(e), v, SLOT);
    cache_fill_done(c, e, 0, SLOT);
    cache_release(c, e);
}

static int has_block(struct cache *c, uint64_t file, uint64_t block, uint8_t v)
{
    struct cache_entry *e;
    enum cache_result r = cache_acquire(c, file, block, &e);
    int ok = 0;
    if (r == CACHE_HIT) {
        ok = cache_entry_len(e) == SLOT && cache_entry_data(e)[0] == v && cache_entry_data(e)[SLOT - 1] == v;
        cache_release(c, e);
        return ok;
    }
    if (r == CACHE_MISS) {
        cache_fill_done(c, e, EIO, 0); /* leave nothing behind */
        cache_release(c, e);
    }
    return 0;
}

static void test_hit_miss(void **state)
{
    struct cache *c;
    struct cache_stats st;
    (void)state;
    assert_int_equal(cache_create(SLOT, 4, &c), 0);
    put_block(c, 1, 0, 0xA1);
    put_block(c, 2, 0, 0xB2); /* same block number, other file */
    assert_true(has_block(c, 1, 0, 0xA1));
    assert_true(has_block(c, 2, 0, 0xB2));
    assert_false(has_block(c, 1, 1, 0));
    cache_get_stats(c, &st);
    assert_int_equal(st.hits, 2);
    assert_int_equal(st.misses, 3);
    assert_int_equal(st.slots, 4);
    cache_destroy(c);
}

static void test_lru_and_bound(void **state)
{
    struct cache *c;
    struct cache_stats st;
    (void)state;
    assert_int_equal(cache_create(SLOT, 3, &c), 0);
    put_block(c, 1, 0, 0x10);
    put_block(c, 1, 1, 0x11);
    put_block(c, 1, 2, 0x12);
    /* Touch block 0: block 1 becomes the least recently used. */
    assert_true(has_block(c, 1, 0, 0x10));
    put_block(c, 1, 3, 0x13);
    cache_get_stats(c, &st);
    assert_int_equal(st.evictions, 1);
    assert_int_equal(st.slots_used, 3);
    assert_true(has_block(c, 1, 0, 0x10));
    assert_true(has_block(c, 1, 2, 0x12));
    assert_true(has_block(c, 1, 3, 0x13));
    assert_false(has_block(c, 1, 1, 0x11));
    /* Never more than 3 blocks, whatever goes through. */
    for (uint64_t b = 10; b < 100; b++)
        put_block(c, 7, b, (uint8_t)b);
    cache_get_stats(c, &st);
    assert_int_equal(st.slots_used, 3);
    assert_true(has_block(c, 7, 99, 99));
    assert_true(has_block(c, 7, 98, 98));
    assert_true(has_block(c, 7, 97, 97));
    cache_destroy(c);
}

static void test_full_when_all_pinned(void **state)
{
    struct cache *c;
    struct cache_entry *a, *b, *x;
    (void)state;
    assert_int_equal(cache_create(SLOT, 2, &c), 0);
    assert_int_equal(cache_acquire(c, 1, 0, &a), CACHE_MISS);
    cache_fill_done(c, a, 0, 10);
    assert_int_equal(cache_acquire(c, 1, 1, &b), CACHE_MISS);
    /* Both pinned: no waiting for a slot, the caller is told at once. */
    assert_int_equal(cache_acquire(c, 1, 2, &x), CACHE_FULL);
    assert_null(x);
    cache_fill_done(c, b, 0, 10);
    cache_release(c, a);
    assert_int_equal(cache_acquire(c, 1, 2, &x), CACHE_MISS); /* evicts block 0 */
    cache_fill_done(c, x, 0, 10);
    cache_release(c, x);
    cache_release(c, b);
    cache_destroy(c);
}

static void test_wipe_on_eviction(void **state)
{
    struct cache *c;
    struct cache_entry *e;
    uint8_t *slot;
    (void)state;
    assert_int_equal(cache_create(SLOT, 1, &c), 0);
    assert_int_equal(cache_acquire(c, 1, 0, &e), CACHE_MISS);
    slot = cache_entry_data(e);
    memset(slot, 0x5A, SLOT);
    cache_fill_done(c, e, 0, SLOT);
    cache_release(c, e);
    /* The one slot is reused for another block: the old plaintext must be gone before the
     * new filler sees the slot. */
    assert_int_equal(cache_acquire(c, 1, 1, &e), CACHE_MISS);
    assert_ptr_equal(cache_entry_data(e), slot);
    assert_true(all_zero(slot, SLOT));
    cache_fill_done(c, e, 0, SLOT);
    cache_release(c, e);
    cache_destroy(c);
}

static void test_failed_fill_wipes_and_drops(void **state)
{
    struct cache *c;
    struct cache_entry *e, *w;
    struct cache_stats st;
    uint8_t *slot;
    (void)state;
    assert_int_equal(cache_create(SLOT, 2, &c), 0);
    assert_int_equal(cache_acquire(c, 1, 0, &e), CACHE_MISS);
    assert_int_equal(cache_acquire(c, 1, 0, &w), CACHE_BUSY);
    assert_ptr_equal(e, w);
    slot = cache_entry_data(e);
    memset(slot, 0x77, SLOT); /* a block that failed authentication half-way */
    cache_fill_done(c, e, EBADMSG, 0);
    assert_true(all_zero(slot, SLOT));
    assert_int_equal(cache_wait(c, w), EBADMSG);
    cache_release(c, w);
    cache_release(c, e);
    /* Not cached: the next reader fetches again. */
    assert_int_equal(cache_acquire(c, 1, 0, &e), CACHE_MISS);
    cache_fill_done(c, e, 0, 1);
    cache_release(c, e);
    cache_get_stats(c, &st);
    assert_int_equal(st.fill_failures, 1);
    cache_destroy(c);
}

static void test_wipe_all(void **state)
{
    struct cache *c;
    struct cache_entry *pinned, *filling;
    uint8_t *p0, *p1;
    (void)state;
    assert_int_equal(cache_create(SLOT, 4, &c), 0);
    put_block(c, 1, 0, 0x31);
    assert_int_equal(cache_acquire(c, 1, 0, &pinned), CACHE_HIT);
    p0 = cache_entry_data(pinned);
    put_block(c, 1, 1, 0x32);
    assert_true(has_block(c, 1, 1, 0x32));
    assert_int_equal(cache_acquire(c, 1, 2, &filling), CACHE_MISS);
    p1 = cache_entry_data(filling);
    cache_wipe(c);
    /* Unpinned blocks are gone at once, a fill in progress is dropped when it ends, a pinned
     * block is wiped when its reader lets go. */
    assert_false(has_block(c, 1, 1, 0x32));
    memset(p1, 0x33, SLOT);
    cache_fill_done(c, filling, 0, SLOT);
    assert_true(all_zero(p1, SLOT));
    cache_release(c, filling);
    assert_int_equal(p0[0], 0x31);
    cache_release(c, pinned);
    assert_true(all_zero(p0, SLOT));
    assert_false(has_block(c, 1, 0, 0x31));
    assert_false(has_block(c, 1, 2, 0x33));
    cache_destroy(c);
}

struct racer {
    struct cache *c;
    int fills;
    int ok;
};

static pthread_mutex_t racer_lock = PTHREAD_MUTEX_INITIALIZER;

static void *race_reader(void *arg)
{
    struct racer *r = arg;
    struct cache_entry *e;
    enum cache_result res = cache_acquire(r->c, 9, 42, &e);
    int ok = 0;

    if (res == CACHE_MISS) {
        pthread_mutex_lock(&racer_lock);
        r->fills++;
        pthread_mutex_unlock(&racer_lock);
        usleep(50000); /* a slow fetch: everyone else arrives meanwhile */
        memset(cache_entry_data(e), 0x42, SLOT);
        cache_fill_done(r->c, e, 0, SLOT);
        ok = 1;
    } else if (res == CACHE_BUSY) {
        ok = cache_wait(r->c, e) == 0;
    } else if (res == CACHE_HIT) {
        ok = 1;
    }
    if (res != CACHE_FULL) {
        ok = ok && cache_entry_data(e)[SLOT / 2] == 0x42;
        cache_release(r->c, e);
    }
    pthread_mutex_lock(&racer_lock);
    r->ok += ok;
    pthread_mutex_unlock(&racer_lock);
    return NULL;
}

static void test_single_fetch_under_concurrency(void **state)
{
    struct racer r = {0};
    pthread_t t[16];
    (void)state;
    assert_int_equal(cache_create(SLOT, 8, &r.c), 0);
    for (int i = 0; i < 16; i++)
        assert_int_equal(pthread_create(&t[i], NULL, race_reader, &r), 0);
    for (int i = 0; i < 16; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(r.fills, 1);
    assert_int_equal(r.ok, 16);
    cache_destroy(r.c);
}

static void test_bad_sizes(void **state)
{
    struct cache *c;
    (void)state;
    assert_int_equal(cache_create(0, 4, &c), EINVAL);
    assert_int_equal(cache_create(SLOT, 0, &c), EINVAL);
    assert_int_equal(cache_create(SIZE_MAX / 2, 4, &c), EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_miss),
        cmocka_unit_test(test_lru_and_bound),
        cmocka_unit_test(test_full_when_all_pinned),
        cmocka_unit_test(test_wipe_on_eviction),
        cmocka_unit_test(test_failed_fill_wipes_and_drops),
        cmocka_unit_test(test_wipe_all),
        cmocka_unit_test(test_single_fetch_under_concurrency),
        cmocka_unit_test(test_bad_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
