/* Locked memory for secrets: many small secrets share one locked arena instead of one mapping
 * each (a mount that opened 55,000 files ran out of mappings and every later open failed);
 * every allocation is zero-filled, usable to its length, and released. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/secmem.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long count_mappings(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    long n = 0;
    int c;
    if (f == NULL)
        return -1;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

#define NKEYS 20000

static void test_small_secrets_share_one_arena(void **state)
{
    static uint8_t *keys[NKEYS];
    long before, after;
    (void)state;
    before = count_mappings();
    assert_true(before > 0);
    for (int i = 0; i < NKEYS; i++) {
        keys[i] = ccr_secmem_alloc(32);
        assert_non_null(keys[i]);
        for (int j = 0; j < 32; j++)
            assert_int_equal(keys[i][j], 0);
        memset(keys[i], 0xa5 ^ (i & 0xff), 32);
    }
    after = count_mappings();
    /* One mapping per secret would add 20,000 lines; the arena adds a handful, and only a
     * heap that filled up would add more. */
    assert_true(after - before < 200);
    assert_true(CRYPTO_secure_malloc_initialized());
    for (int i = 0; i < NKEYS; i++) {
        assert_int_equal(keys[i][31], 0xa5 ^ (i & 0xff));
        ccr_secmem_free(keys[i], 32);
    }
    assert_true(count_mappings() - before < 200);
}

static void test_large_and_odd_sizes(void **state)
{
    static const size_t sizes[] = {0, 1, 31, 33, 1024, 1025, 4096, 65536, 1 << 20};
    (void)state;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i] ? sizes[i] : 1;
        uint8_t *p = ccr_secmem_alloc(sizes[i]);
        assert_non_null(p);
        for (size_t j = 0; j < n; j++)
            assert_int_equal(p[j], 0);
        memset(p, 0x5a, n);
        ccr_secmem_free(p, sizes[i]);
    }
    ccr_secmem_free(NULL, 32);
}

static void test_reuse_is_wiped(void **state)
{
    /* Memory handed back and taken again never shows the old secret. */
    (void)state;
    for (int round = 0; round < 1000; round++) {
        uint8_t *p = ccr_secmem_alloc(64);
        assert_non_null(p);
        for (int j = 0; j < 64; j++)
            assert_int_equal(p[j], 0);
        memset(p, 0xff, 64);
        ccr_secmem_free(p, 64);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_secrets_share_one_arena),
        cmocka_unit_test(test_large_and_odd_sizes),
        cmocka_unit_test(test_reuse_is_wiped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
