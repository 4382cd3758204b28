/* Rotation of the audit log: past audit_log_max_bytes the log becomes LOG.1, LOG.2, ... and
 * the chain runs on into the new file; the set verifies as one, a later mount continues it
 * without repeating events, and a missing file in the middle is found. */
#include "common/err.h"
#include "common/fileio.h"
#include "governance/audit.h"
#include "governance/gov.h"
#include "governance/logset.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/support/scratch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    return tsup_scratch_make(tmpdir, sizeof tmpdir, "test_audit_rotate") == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return tsup_scratch_remove(tmpdir) == 0 ? 0 : -1;
}

/* Feeds files in order to one audit; the events verified, or -1 with the message in why. */
static long verify_files(char **files, size_t n, char *why, size_t why_len)
{
    struct gov_audit *a;
    struct gov_audit_summary s;
    long rc = 0;

    assert_int_equal(gov_audit_new(NULL, &a), 0);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        FILE *in = fopen(files[i], "r");
        char *line = NULL, where[32];
        size_t cap = 0, lineno = 0;
        ssize_t len;
        assert_non_null(in);
        while ((len = getline(&line, &cap, in)) > 0) {
            snprintf(where, sizeof where, "line %zu", ++lineno);
            if (gov_audit_add(a, line, (size_t)len - 1, where) != 0) {
                snprintf(why, why_len, "%s", ccr_err_msg(EBADMSG));
                rc = -1;
                break;
            }
        }
        free(line);
        fclose(in);
    }
    gov_audit_summary(a, &s);
    gov_audit_free(a);
    return rc == 0 ? (long)s.events : -1;
}

static long verify_set(const char *log, char *why, size_t why_len)
{
    struct ccr_array files = CCR_ARRAY_INIT(char *);
    long n;
    assert_int_equal(gov_logset_list(log, &files), 0);
    n = verify_files((char **)files.items, files.len, why, why_len);
    gov_logset_free(&files);
    return n;
}

/* One mount's worth of opens and reads, delivered as it goes so the log rotates several times. */
static void one_mount(const char *log, const char *spool, int files)
{
    struct gov_config cfg = {.full_access = 1, .audit_log = log, .spool_dir = spool, .checkpoint_events = 40};
    struct gov_mount_info mi = {"/mnt/data", "sha256:00", "file:///store", "read-only", NULL, NULL};
    struct fs_access_hooks hk;
    struct gov *g;
    char path[64];

    assert_int_equal(gov_config_option(&cfg, "audit_log_max_bytes", "4K"), 0);
    assert_int_equal(cfg.audit_log_max_bytes, 4096);
    assert_int_equal(gov_open(&cfg, &g), 0);
    assert_int_equal(gov_record_mount(g, &mi), 0);
    gov_fs_hooks(g, &hk);
    for (int i = 0; i < files; i++) {
        struct fs_open_info oi = {path, 0, 77, 0, 0, "reader"};
        uint64_t h;
        snprintf(path, sizeof path, "/d/f%04d", i);
        assert_int_equal(hk.on_open(hk.arg, &oi, &h), 0);
        assert_int_equal(hk.on_read(hk.arg, h, 0, 100), 0);
        hk.on_release(hk.arg, h);
        if (i % 5 == 4)
            assert_int_equal(gov_flush(g, 5000), 0);
    }
    assert_int_equal(gov_record_unmount(g, "test"), 0);
    assert_int_equal(gov_flush(g, 5000), 0);
    gov_close(g);
}

static void test_rotated_set_verifies_and_continues(void **state)
{
    char *log = ccr_path_join(tmpdir, "audit.jsonl"), *spool = ccr_path_join(tmpdir, "spool");
    char why[512] = "", name[512];
    unsigned long last, last_after;
    long first_events, events;
    (void)state;

    one_mount(log, spool, 60);
    assert_int_equal(gov_logset_last(log, &last), 0);
    assert_true(last >= 3);
    first_events = verify_set(log, why, sizeof why);
    if (first_events < 0)
        fail_msg("verify: %s", why);
    /* A single file of the set alone does not verify: its chain starts in the one before. */
    snprintf(name, sizeof name, "%s.2", log);
    {
        char *one[] = {name};
        assert_int_equal(verify_files(one, 1, why, sizeof why), -1);
        assert_non_null(strstr(why, "gap in the sequence"));
    }

    /* The next mount of the same spool continues the chain in the set, repeating nothing. */
    one_mount(log, spool, 30);
    assert_int_equal(gov_logset_last(log, &last_after), 0);
    assert_true(last_after > last);
    events = verify_set(log, why, sizeof why);
    if (events < 0)
        fail_msg("verify after the second mount: %s", why);
    assert_true(events > first_events + 30 * 3);
    free(log);
    free(spool);
}

static void test_missing_middle_file_detected(void **state)
{
    char *log = ccr_path_join(tmpdir, "gap.jsonl"), *spool = ccr_path_join(tmpdir, "spool-g");
    char why[512] = "", f1[512], f3[512], f2[512];
    struct ccr_array files = CCR_ARRAY_INIT(char *);
    (void)state;

    one_mount(log, spool, 60);
    snprintf(f1, sizeof f1, "%s.1", log);
    snprintf(f2, sizeof f2, "%s.2", log);
    snprintf(f3, sizeof f3, "%s.3", log);
    assert_int_equal(unlink(f2), 0);
    /* By name: the set lacks a number. */
    assert_int_equal(gov_logset_list(log, &files), EBADMSG);
    assert_non_null(strstr(ccr_err_msg(EBADMSG), ".2 is missing"));
    /* Given file by file: the chain has a gap. */
    {
        char *given[] = {f1, f3};
        assert_int_equal(verify_files(given, 2, why, sizeof why), -1);
        assert_non_null(strstr(why, "gap in the sequence"));
    }
    free(log);
    free(spool);
}

static void test_rotation_options(void **state)
{
    struct gov_config cfg = {0};
    (void)state;
    assert_int_equal(gov_config_option(&cfg, "audit_log_max_bytes", "64M"), 0);
    assert_int_equal(cfg.audit_log_max_bytes, 64ULL << 20);
    assert_int_equal(gov_config_option(&cfg, "audit_log_max_age", "86400"), 0);
    assert_int_equal(cfg.audit_log_max_age_s, 86400);
    assert_int_equal(gov_config_option(&cfg, "audit_log_max_bytes", "12"), EINVAL);
    assert_int_equal(gov_config_option(&cfg, "audit_log_max_age", "x"), EINVAL);
    /* The compact form is the default; audit_compact is still accepted and changes nothing. */
    assert_int_equal(cfg.full_access, 0);
    assert_int_equal(gov_config_option(&cfg, "audit_compact", NULL), 0);
    assert_int_equal(cfg.full_access, 0);
    assert_int_equal(gov_config_option(&cfg, "audit_compact", "1"), EINVAL);
    assert_int_equal(gov_config_option(&cfg, "audit_full", NULL), 0);
    assert_int_equal(cfg.full_access, 1);
    assert_int_equal(gov_config_option(&cfg, "audit_compact", NULL), 0);
    assert_int_equal(cfg.full_access, 1);
    assert_int_equal(gov_config_option(&cfg, "audit_full", "yes"), EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rotated_set_verifies_and_continues),
        cmocka_unit_test(test_missing_middle_file_detected),
        cmocka_unit_test(test_rotation_options),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
