/* Sorted, disjoint byte ranges: sequential growth, merging of touching and overlapping ranges,
 * inserts before, between and after. */
#include "governance/ranges.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

/* The ranges as "off+len off+len ..." for comparison. */
static const char *text(const struct ccr_array *a)
{
    static char buf[512];
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < a->len; i++) {
        const struct gov_range *r = &CCR_ARRAY_AT(a, struct gov_range, i);
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%llu+%llu", i ? " " : "",
                                 (unsigned long long)r->off, (unsigned long long)r->len);
    }
    return buf;
}

static void test_sequential(void **state)
{
    struct ccr_array a = CCR_ARRAY_INIT(struct gov_range);
    (void)state;
    for (uint64_t off = 0; off < 10 * 4096; off += 4096)
        assert_int_equal(gov_ranges_add(&a, off, 4096), 0);
    assert_string_equal(text(&a), "0+40960");
    /* A re-read inside the range changes nothing. */
    assert_int_equal(gov_ranges_add(&a, 100, 10), 0);
    assert_string_equal(text(&a), "0+40960");
    ccr_array_free(&a);
}

static void test_merge_and_insert(void **state)
{
    struct ccr_array a = CCR_ARRAY_INIT(struct gov_range);
    (void)state;
    assert_int_equal(gov_ranges_add(&a, 100, 10), 0);
    assert_int_equal(gov_ranges_add(&a, 10, 10), 0); /* before */
    assert_int_equal(gov_ranges_add(&a, 50, 5), 0);  /* between */
    assert_int_equal(gov_ranges_add(&a, 200, 1), 0); /* after */
    assert_string_equal(text(&a), "10+10 50+5 100+10 200+1");
    assert_int_equal(gov_ranges_add(&a, 20, 30), 0); /* touches both neighbours: one range */
    assert_string_equal(text(&a), "10+45 100+10 200+1");
    assert_int_equal(gov_ranges_add(&a, 5, 300), 0); /* covers everything */
    assert_string_equal(text(&a), "5+300");
    assert_int_equal(gov_ranges_add(&a, 0, 5), 0); /* touches from below */
    assert_string_equal(text(&a), "0+305");
    ccr_array_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequential),
        cmocka_unit_test(test_merge_and_insert),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
