/* Compact access records (the default; no option set here): a small file opened, read and closed costs one
 * entry of an "access" event; the log still verifies and the report counts it as an open with its reads. A
 * file open for longer than the flush interval is recorded as before. Stale spool temporaries are removed
 * when the spool opens. */
#include "common/err.h"
#include "common/fileio.h"
#include "governance/audit.h"
#include "governance/canon.h"
#include "governance/gov.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/support/scratch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    return tsup_scratch_make(tmpdir, sizeof tmpdir, "test_audit_compact") == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return tsup_scratch_remove(tmpdir) == 0 ? 0 : -1;
}

struct log_counts {
    size_t events, access_events, access_entries, opens, reads, releases;
    long long entry_bytes; /* bytes summed over access entries */
};

/* Verifies the log (fails the test if it does not) and counts what it holds; the audit is
 * returned for a report. */
static struct gov_audit *verify_and_count(const char *path, struct log_counts *c)
{
    FILE *in = fopen(path, "r");
    struct gov_audit *a;
    char *line = NULL, where[32];
    size_t cap = 0, n = 0;
    ssize_t len;

    memset(c, 0, sizeof *c);
    assert_non_null(in);
    assert_int_equal(gov_audit_new(NULL, &a), 0);
    while ((len = getline(&line, &cap, in)) > 0) {
        json_object *ev, *files;
        const char *t;
        snprintf(where, sizeof where, "line %zu", ++n);
        if (gov_audit_add(a, line, (size_t)len - 1, where) != 0)
            fail_msg("verify: %s", ccr_err_msg(EBADMSG));
        assert_int_equal(gov_json_parse(line, (size_t)len - 1, "log", &ev), 0);
        t = gov_json_str(ev, "type");
        c->events++;
        if (strcmp(t, "access") == 0) {
            c->access_events++;
            assert_true(json_object_object_get_ex(ev, "files", &files));
            for (size_t i = 0; i < json_object_array_length(files); i++) {
                json_object *e = json_object_array_get_idx(files, i);
                long long b;
                assert_non_null(gov_json_str(e, "path"));
                assert_non_null(gov_json_str(e, "process"));
                assert_non_null(gov_json_str(e, "opened"));
                assert_int_equal(gov_json_int(e, "bytes", &b), 0);
                c->entry_bytes += b;
                c->access_entries++;
            }
        } else if (strcmp(t, "open") == 0) {
            c->opens++;
        } else if (strcmp(t, "read") == 0) {
            c->reads++;
        } else if (strcmp(t, "release") == 0) {
            c->releases++;
        }
        json_object_put(ev);
    }
    free(line);
    fclose(in);
    return a;
}

static off_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static struct gov *open_gov(const char *log, const char *spool, unsigned flush_ms)
{
    struct gov_config cfg = {
        .audit_log = log,
        .spool_dir = spool,
        .contract_id = "contract-7",
        .flush_interval_ms = flush_ms,
    };
    struct gov_mount_info mi = {"/mnt/data", "sha256:00", "file:///store", "read-only", NULL, NULL};
    struct gov *g;
    assert_int_equal(gov_open(&cfg, &g), 0);
    assert_int_equal(gov_record_mount(g, &mi), 0);
    return g;
}

#define SMALL_FILES 2000

static void test_small_files_one_entry_each(void **state)
{
    char *log = ccr_path_join(tmpdir, "audit.jsonl"), *spool = ccr_path_join(tmpdir, "spool");
    struct gov *g = open_gov(log, spool, 1000);
    struct fs_access_hooks hk;
    struct log_counts c;
    struct gov_audit *a;
    char path[64], *report = NULL;
    size_t report_len = 0;
    FILE *out;
    double per_file;
    (void)state;

    gov_fs_hooks(g, &hk);
    for (int i = 0; i < SMALL_FILES; i++) {
        struct fs_open_info oi = {path, 0x8000, 123456, 1000, 1000, "python3"};
        uint64_t h;
        snprintf(path, sizeof path, "/train/n%05d/img%07d.jpg", i % 200, i);
        assert_int_equal(hk.on_open(hk.arg, &oi, &h), 0);
        assert_int_equal(hk.on_read(hk.arg, h, 0, 4096), 0);
        assert_int_equal(hk.on_read(hk.arg, h, 4096, 1000), 0);
        hk.on_release(hk.arg, h);
    }
    assert_int_equal(gov_record_unmount(g, "test"), 0);
    assert_int_equal(gov_flush(g, 5000), 0);
    gov_close(g);

    a = verify_and_count(log, &c);
    assert_int_equal(c.access_entries, SMALL_FILES);
    assert_int_equal(c.opens, 0);
    assert_int_equal(c.reads, 0);
    assert_int_equal(c.releases, 0);
    assert_int_equal(c.entry_bytes, (long long)SMALL_FILES * 5096);
    assert_true(c.access_events >= 1 && c.access_events < SMALL_FILES / 8); /* batched */
    /* The goal: at most 300 audit bytes per small file read once (the whole log,
     * mount, unmount and checkpoints included). */
    per_file = (double)file_size(log) / SMALL_FILES;
    print_message("audit bytes per small file: %.1f\n", per_file);
    assert_true(per_file <= 300.0);

    out = open_memstream(&report, &report_len);
    assert_non_null(out);
    assert_int_equal(gov_audit_report(a, GOV_REPORT_CSV, GOV_REPORT_BY_FILE, out), 0);
    fclose(out);
    /* path, opens 1, reads 2, bytes 5096, covered 5096 */
    assert_non_null(strstr(report, "\"/train/n00007/img0000007.jpg\",1,2,5096,5096,"));
    free(report);
    report = NULL;
    out = open_memstream(&report, &report_len);
    assert_int_equal(gov_audit_report(a, GOV_REPORT_CSV, GOV_REPORT_BY_PROCESS, out), 0);
    fclose(out);
    assert_non_null(strstr(report, "\"python3\",2000,4000,10192000,10192000,"));
    free(report);
    gov_audit_free(a);
    free(log);
    free(spool);
}

/* A file still open after the flush interval gets its open event (saying when it was opened),
 * then reads and release as without compaction; quick ones in between stay compact. */
static void test_long_open_recorded_as_before(void **state)
{
    char *log = ccr_path_join(tmpdir, "long.jsonl"), *spool = ccr_path_join(tmpdir, "spool-l");
    struct gov *g = open_gov(log, spool, 20);
    struct fs_access_hooks hk;
    struct fs_open_info oi = {"/big.bin", 0, 42, 0, 0, "trainer"};
    struct fs_open_info qi = {"/small.txt", 0, 42, 0, 0, "trainer"};
    struct log_counts c;
    uint64_t h, q;
    (void)state;

    gov_fs_hooks(g, &hk);
    assert_int_equal(hk.on_open(hk.arg, &oi, &h), 0);
    assert_int_equal(hk.on_read(hk.arg, h, 0, 4096), 0);
    assert_int_equal(hk.on_open(hk.arg, &qi, &q), 0);
    hk.on_release(hk.arg, q);
    usleep(400 * 1000); /* several deliverer rounds past the 20 ms interval */
    assert_int_equal(hk.on_read(hk.arg, h, 4096, 4096), 0);
    hk.on_release(hk.arg, h);
    assert_int_equal(gov_record_unmount(g, "test"), 0);
    assert_int_equal(gov_flush(g, 5000), 0);
    gov_close(g);

    gov_audit_free(verify_and_count(log, &c));
    assert_int_equal(c.opens, 1);
    assert_true(c.reads >= 1);
    assert_int_equal(c.releases, 1);
    assert_int_equal(c.access_entries, 1);
    free(log);
    free(spool);
}

/* Long paths: access events stay under the governance service's 64 KiB per event. */
static void test_access_events_stay_small(void **state)
{
    char *log = ccr_path_join(tmpdir, "longpaths.jsonl"), *spool = ccr_path_join(tmpdir, "spool-p");
    struct gov *g = open_gov(log, spool, 5000);
    struct fs_access_hooks hk;
    struct log_counts c;
    char path[3100], *line = NULL;
    size_t cap = 0;
    ssize_t len, longest = 0;
    FILE *in;
    (void)state;

    gov_fs_hooks(g, &hk);
    memset(path, 'p', sizeof path - 1);
    path[sizeof path - 1] = '\0';
    for (int i = 0; i < 300; i++) {
        struct fs_open_info oi = {path, 0, 1, 0, 0, "reader"};
        uint64_t h;
        snprintf(path, 16, "/%06d/", i);
        path[8] = 'p';
        assert_int_equal(hk.on_open(hk.arg, &oi, &h), 0);
        hk.on_release(hk.arg, h);
    }
    assert_int_equal(gov_flush(g, 5000), 0);
    gov_close(g);
    gov_audit_free(verify_and_count(log, &c));
    assert_int_equal(c.access_entries, 300);
    in = fopen(log, "r");
    assert_non_null(in);
    while ((len = getline(&line, &cap, in)) > 0)
        if (len > longest)
            longest = len;
    free(line);
    fclose(in);
    assert_true(longest < 64 * 1024);
    free(log);
    free(spool);
}

/* Counts lines of a type in the spool's segment files. */
static size_t spool_count(const char *spool, const char *type)
{
    char cmd[600], out[32] = "";
    FILE *p;
    snprintf(cmd, sizeof cmd, "cat '%s'/seg-*.log | grep -c '\"type\":\"%s\"'", spool, type);
    p = popen(cmd, "r");
    assert_non_null(p);
    if (fgets(out, sizeof out, p) == NULL)
        out[0] = '\0';
    pclose(p);
    return (size_t)strtoul(out, NULL, 10);
}

/* Delivery never succeeds, so the spool fills: near its limit opens are written at once, and
 * a spool that cannot take them refuses them, as without compaction. */
static void test_near_full_spool_writes_then_refuses(void **state)
{
    char *spool = ccr_path_join(tmpdir, "spool-f");
    struct gov_config cfg = {
        .governance_url = "http://127.0.0.1:1",
        .governance_optional = 1,
        .spool_dir = spool,
        .spool_max_bytes = 64 * 1024,
    };
    struct fs_access_hooks hk;
    struct gov *g;
    char path[64];
    int refused = 0, allowed = 0;
    (void)state;

    assert_int_equal(gov_open(&cfg, &g), 0);
    gov_fs_hooks(g, &hk);
    for (int i = 0; i < 5000 && refused == 0; i++) {
        struct fs_open_info oi = {path, 0, 9, 0, 0, "reader"};
        uint64_t h;
        snprintf(path, sizeof path, "/f%05d", i);
        if (hk.on_open(hk.arg, &oi, &h) != 0) {
            refused++;
            break;
        }
        allowed++;
        if (hk.on_read(hk.arg, h, 0, 100) != 0)
            refused++; /* the spool filled since the open */
        hk.on_release(hk.arg, h);
        if (i % 16 == 15)
            gov_flush(g, 0); /* seal what waits, as the delivery thread would */
    }
    assert_int_equal(refused, 1);
    gov_close(g);
    /* Opens allowed near the limit were written as open events, the rest as entries. */
    assert_true(spool_count(spool, "open") > 0);
    assert_true(spool_count(spool, "access") > 0);
    assert_true(allowed > 100);
    free(spool);
}

static void test_stale_spool_temporaries_removed(void **state)
{
    char *spool = ccr_path_join(tmpdir, "spool-t"), *log = ccr_path_join(tmpdir, "t.jsonl");
    char *stale = ccr_path_join(spool, "acked.tmp.4242"), *stale2 = ccr_path_join(spool, "checkpoint.tmp.7");
    char *keep = ccr_path_join(spool, "notes.tmp.x");
    struct gov *g = open_gov(log, spool, 1000);
    (void)state;

    gov_close(g);
    assert_int_equal(ccr_write_file_new(stale, "12\n", 3, 0600), 0);
    assert_int_equal(ccr_write_file_new(stale2, "3\n", 2, 0600), 0);
    assert_int_equal(ccr_write_file_new(keep, "x", 1, 0600), 0);
    g = open_gov(log, spool, 1000);
    gov_close(g);
    assert_int_equal(access(stale, F_OK), -1);
    assert_int_equal(access(stale2, F_OK), -1);
    assert_int_equal(access(keep, F_OK), 0);
    free(stale);
    free(stale2);
    free(keep);
    free(spool);
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_files_one_entry_each),
        cmocka_unit_test(test_long_open_recorded_as_before),
        cmocka_unit_test(test_access_events_stay_small),
        cmocka_unit_test(test_near_full_spool_writes_then_refuses),
        cmocka_unit_test(test_stale_spool_temporaries_removed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
