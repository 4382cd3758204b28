/* Governance limits through the filesystem's hooks: the byte budget per mount, the end of a
 * contract's validity, and the upload hook of sink mounts. */
#include "common/err.h"
#include "common/fileio.h"
#include "governance/audit.h"
#include "governance/gov.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_gov_budget.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The events of a log, verified; returns how many lines contain all of the given words. */
static int count_lines(const char *path, const char *w1, const char *w2)
{
    FILE *in = fopen(path, "r");
    struct gov_audit *a;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int n = 0;

    assert_non_null(in);
    assert_int_equal(gov_audit_new(NULL, &a), 0);
    while ((len = getline(&line, &cap, in)) > 0) {
        assert_int_equal(gov_audit_add(a, line, (size_t)len - 1, "line"), 0);
        if (strstr(line, w1) != NULL && (w2 == NULL || strstr(line, w2) != NULL))
            n++;
    }
    gov_audit_free(a);
    free(line);
    fclose(in);
    return n;
}

static void test_byte_budget(void **state)
{
    char *log = ccr_path_join(tmpdir, "budget.log"), *spool = ccr_path_join(tmpdir, "spool-b");
    struct gov_config cfg = {
        .full_access = 1, .audit_log = log, .spool_dir = spool, .max_bytes_per_mount = 1000};
    struct gov *g;
    struct fs_access_hooks hk;
    struct fs_open_info oi = {"a.bin", 0, 7, 0, 0, "reader"}, oi2 = {"b.bin", 0, 7, 0, 0, "reader"};
    uint64_t h, h2;
    (void)state;

    assert_int_equal(gov_open(&cfg, &g), 0);
    gov_fs_hooks(g, &hk);
    assert_int_equal(hk.on_open(hk.arg, &oi, &h), 0);
    assert_int_equal(hk.on_open(hk.arg, &oi2, &h2), 0);
    /* The budget is the mount's: both files count. */
    assert_int_equal(hk.on_read(hk.arg, h, 0, 600), 0);
    assert_int_equal(hk.on_read(hk.arg, h2, 0, 300), 0);
    /* 900 served: 200 more would cross 1000, refused, and not counted. */
    assert_int_equal(hk.on_read(hk.arg, h, 600, 200), EACCES);
    assert_int_equal(hk.on_read(hk.arg, h, 600, 100), 0); /* exactly 1000 */
    assert_int_equal(hk.on_read(hk.arg, h2, 300, 1), EACCES);
    /* Reading the same bytes again still counts: the budget is what was served. */
    assert_int_equal(hk.on_read(hk.arg, h, 0, 1), EACCES);
    hk.on_release(hk.arg, h);
    hk.on_release(hk.arg, h2);
    assert_int_equal(gov_record_unmount(g, "test"), 0);
    gov_close(g);
    assert_int_equal(count_lines(log, "\"type\":\"denial\"", "byte budget spent"), 1);
    /* Served ranges only: 700 bytes of a.bin, 300 of b.bin. */
    assert_int_equal(count_lines(log, "\"type\":\"release\"", "\"bytes\":700"), 1);
    assert_int_equal(count_lines(log, "\"type\":\"release\"", "\"bytes\":300"), 1);
    free(log);
    free(spool);
}

static void test_set_limits_and_expiry(void **state)
{
    char *log = ccr_path_join(tmpdir, "limits.log"), *spool = ccr_path_join(tmpdir, "spool-l");
    struct gov_config cfg = {.audit_log = log, .spool_dir = spool};
    struct gov *g;
    struct fs_access_hooks hk;
    struct fs_open_info oi = {"a.bin", 0, 7, 0, 0, "reader"};
    uint64_t h;
    char why[200];
    (void)state;

    assert_int_equal(gov_open(&cfg, &g), 0);
    gov_fs_hooks(g, &hk);
    gov_set_limits(g, 10, 0);
    assert_int_equal(hk.on_open(hk.arg, &oi, &h), 0);
    assert_int_equal(hk.on_read(hk.arg, h, 0, 10), 0);
    assert_int_equal(hk.on_read(hk.arg, h, 10, 1), EACCES);
    /* A contract that ended a second ago: nothing is served any more. */
    gov_set_limits(g, 0, (int64_t)time(NULL) * 1000 - 1000);
    assert_int_equal(gov_serving(g, why, sizeof why), 0);
    assert_non_null(strstr(why, "expired"));
    assert_int_equal(hk.on_read(hk.arg, h, 10, 1), EACCES);
    hk.on_release(hk.arg, h);
    gov_close(g);
    free(log);
    free(spool);
}

static void test_upload_recorded(void **state)
{
    char *log = ccr_path_join(tmpdir, "upload.log"), *spool = ccr_path_join(tmpdir, "spool-u");
    struct gov_config cfg = {.audit_log = log, .spool_dir = spool};
    struct gov *g;
    struct fs_access_hooks hk;
    uint8_t sha[32];
    (void)state;

    for (int i = 0; i < 32; i++)
        sha[i] = (uint8_t)(0xa0 + (i & 15));
    assert_int_equal(gov_open(&cfg, &g), 0);
    gov_fs_hooks(g, &hk);
    assert_non_null(hk.on_upload);
    assert_int_equal(hk.on_upload(hk.arg, "model/weights.bin", 12345, sha, "outputs/obj-1"), 0);
    /* Once the contract has ended, an upload is refused and the refusal recorded. */
    gov_set_limits(g, 0, 1);
    assert_int_equal(hk.on_upload(hk.arg, "model/late.bin", 1, sha, "outputs/obj-2"), EACCES);
    gov_close(g);
    assert_int_equal(
        count_lines(log, "\"type\":\"upload\"",
                    "\"sha256\":\"a0a1a2a3a4a5a6a7a8a9aaabacadaeafa0a1a2a3a4a5a6a7a8a9aaabacadaeaf\""),
        1);
    assert_int_equal(count_lines(log, "\"object\":\"outputs/obj-1\"", "\"size\":12345"), 1);
    assert_int_equal(count_lines(log, "\"type\":\"denial\"", "\"op\":\"upload\""), 1);
    assert_int_equal(count_lines(log, "outputs/obj-2", NULL), 0);
    free(log);
    free(spool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_byte_budget),
        cmocka_unit_test(test_set_limits_and_expiry),
        cmocka_unit_test(test_upload_recorded),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
