/* The common toolkit: the error message rule, the growable array and buffer, the hash table
 * (FNV-1a known answers), clocks and random. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/array.h"
#include "common/clock.h"
#include "common/dynbuf.h"
#include "common/err.h"
#include "common/hash.h"
#include "common/random.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A message recorded for one failure must not explain another (issue: ENOMEM logged with the
 * message of an earlier EINVAL on the same thread). */
static void test_err_message_only_for_its_code(void **state)
{
    (void)state;
    ccr_err_clear();
    ccr_err_set(EINVAL, "manifest.ccrfs: entry 3: bad path");
    assert_string_equal(ccr_err_msg(EINVAL), "manifest.ccrfs: entry 3: bad path");
    assert_string_equal(ccr_err_msg(ENOMEM), strerror(ENOMEM));
    assert_string_equal(ccr_err_msg(EFBIG), strerror(EFBIG));
    /* wrap with another code starts from strerror, not the stale text */
    ccr_err_wrap(ENOMEM, "overlay: ");
    {
        char want[256];
        snprintf(want, sizeof want, "overlay: %s", strerror(ENOMEM));
        assert_string_equal(ccr_err_msg(ENOMEM), want);
    }
    assert_string_equal(ccr_err_msg(EINVAL), strerror(EINVAL));
    ccr_err_set(EIO, "blobs/ab: short read");
    ccr_err_wrap(EIO, "file a.csv: ");
    assert_string_equal(ccr_err_msg(EIO), "file a.csv: blobs/ab: short read");
    /* re-recording the current message under another code keeps its words */
    ccr_err_set(EPROTO, "%s", ccr_err_msg(EIO));
    assert_string_equal(ccr_err_msg(EPROTO), "file a.csv: blobs/ab: short read");
    ccr_err_clear();
    assert_string_equal(ccr_err_msg(EIO), strerror(EIO));
}

struct point {
    int x, y;
};

static void test_array(void **state)
{
    struct ccr_array a = CCR_ARRAY_INIT(struct point);
    size_t n;
    struct point *all;
    (void)state;
    for (int i = 0; i < 1000; i++) {
        struct point *p = ccr_array_push(&a);
        assert_non_null(p);
        assert_int_equal(p->x, 0);
        p->x = i;
        p->y = -i;
    }
    assert_int_equal(a.len, 1000);
    assert_true(a.cap >= 1000);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(CCR_ARRAY_AT(&a, struct point, i).y, -i);
    {
        struct point q = {7, 8};
        assert_int_equal(ccr_array_append(&a, &q), 0);
        assert_int_equal(CCR_ARRAY_AT(&a, struct point, 1000).y, 8);
    }
    all = ccr_array_steal(&a, &n);
    assert_int_equal(n, 1001);
    assert_null(a.items);
    assert_int_equal(a.len, 0);
    free(all);
    ccr_array_free(&a);
    /* a reserve that cannot be satisfied leaves the array as it was */
    ccr_array_init(&a, 1u << 20);
    assert_int_equal(ccr_array_reserve(&a, SIZE_MAX / 2), ENOMEM);
    assert_int_equal(a.len, 0);
    assert_null(a.items);
}

static void test_dynbuf(void **state)
{
    struct ccr_dynbuf b;
    size_t len;
    char *s;
    (void)state;
    ccr_dynbuf_init(&b, 0);
    assert_int_equal(ccr_dynbuf_add(&b, "abc", 3), 0);
    assert_int_equal(ccr_dynbuf_addf(&b, "-%d-%s", 42, "x"), 0);
    assert_string_equal(b.data, "abc-42-x");
    for (int i = 0; i < 10000; i++)
        assert_int_equal(ccr_dynbuf_add(&b, "0123456789", 10), 0);
    assert_int_equal(b.len, 8 + 100000);
    assert_int_equal(b.data[b.len], '\0');
    ccr_dynbuf_reset(&b);
    assert_string_equal(b.data, "");
    ccr_dynbuf_free(&b);

    /* a cap refuses what would pass it and keeps what it held */
    ccr_dynbuf_init(&b, 5);
    assert_int_equal(ccr_dynbuf_add(&b, "abcd", 4), 0);
    assert_int_equal(ccr_dynbuf_add(&b, "ef", 2), EFBIG);
    assert_int_equal(ccr_dynbuf_addf(&b, "%s", "xy"), EFBIG);
    assert_string_equal(b.data, "abcd");
    assert_int_equal(ccr_dynbuf_add(&b, "e", 1), 0);
    s = ccr_dynbuf_steal(&b, &len);
    assert_string_equal(s, "abcde");
    assert_int_equal(len, 5);
    free(s);
    /* an empty buffer steals as "" */
    s = ccr_dynbuf_steal(&b, &len);
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);
    ccr_dynbuf_free_wiped(&b);
}

static void count_entry(const char *key, void *value, void *arg)
{
    (void)key;
    *(size_t *)arg += (size_t)(uintptr_t)value;
}

static void test_hash(void **state)
{
    struct ccr_hash h;
    char key[32];
    void *old = (void *)1;
    size_t sum = 0;
    (void)state;
    /* FNV-1a 64 known answers (the FNV reference's test values) */
    assert_true(ccr_hash_str("") == 0xcbf29ce484222325ull);
    assert_true(ccr_hash_str("a") == 0xaf63dc4c8601ec8cull);
    assert_true(ccr_hash_str("foobar") == 0x85944171f73967e8ull);

    ccr_hash_init(&h);
    assert_null(ccr_hash_get(&h, "missing"));
    assert_null(ccr_hash_remove(&h, "missing"));
    for (int i = 1; i <= 5000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(ccr_hash_put(&h, key, (void *)(uintptr_t)i, &old), 0);
        assert_null(old);
    }
    assert_int_equal(h.count, 5000);
    for (int i = 1; i <= 5000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal((uintptr_t)ccr_hash_get(&h, key), i);
    }
    assert_int_equal(ccr_hash_put(&h, "k10", (void *)(uintptr_t)99, &old), 0);
    assert_int_equal((uintptr_t)old, 10);
    assert_int_equal((uintptr_t)ccr_hash_remove(&h, "k11"), 11);
    assert_null(ccr_hash_get(&h, "k11"));
    assert_int_equal(h.count, 4999);
    ccr_hash_foreach(&h, count_entry, &sum);
    assert_int_equal(sum, 5000u * 5001u / 2 - 10 - 11 + 99);
    ccr_hash_free(&h, NULL);
    assert_int_equal(h.count, 0);
}

static void test_clock_and_random(void **state)
{
    uint64_t a = ccr_clock_mono_ns(), b;
    uint8_t r1[32] = {0}, r2[32] = {0}, zero[32] = {0};
    char iso[40];
    (void)state;
    b = ccr_clock_mono_ns();
    assert_true(b >= a);
    assert_true(ccr_clock_wall() > 1.7e9);
    assert_string_equal(ccr_clock_iso8601(0.25, iso, sizeof iso), "1970-01-01T00:00:00.250Z");
    assert_string_equal(ccr_clock_iso8601(1796122522.0, iso, sizeof iso), "2026-12-01T10:55:22.000Z");
    {
        struct timespec d = ccr_clock_deadline_ms(1500);
        assert_true(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L);
        assert_true((double)d.tv_sec + 1.0 >= ccr_clock_wall());
    }
    assert_int_equal(ccr_random(r1, sizeof r1), 0);
    assert_int_equal(ccr_random(r2, sizeof r2), 0);
    assert_memory_not_equal(r1, r2, 32);
    assert_memory_not_equal(r1, zero, 32);
    assert_int_equal(ccr_random_below(0), 0);
    for (int i = 0; i < 1000; i++)
        assert_true(ccr_random_below(7) < 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_message_only_for_its_code),
        cmocka_unit_test(test_array),
        cmocka_unit_test(test_dynbuf),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_clock_and_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
