/* The pending-range journal: ranges written before they are served, markers that say which
 * event covers them, and the replay after a crash (what no event covers comes back, once). */
#include "common/err.h"
#include "common/fileio.h"
#include "governance/canon.h"
#include "governance/gov.h"
#include "governance/pending.h"
#include "governance/ranges.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/support/scratch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    return tsup_scratch_make(tmpdir, sizeof tmpdir, "test_gov_pending") == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return tsup_scratch_remove(tmpdir) == 0 ? 0 : -1;
}

static char *folder(const char *name)
{
    char *p = ccr_path_join(tmpdir, name);
    assert_non_null(p);
    assert_int_equal(ccr_mkdirs(p, 0700), 0);
    return p;
}

static struct gov_pending_info info_of(const char *path, int64_t open_seq)
{
    struct gov_pending_info i = {.path = path, .process = "cat", .open_seq = open_seq, .pid = 42, .uid = 7};
    return i;
}

static struct gov_pending *open_empty(const char *dir)
{
    struct gov_pending *p;
    struct gov_pending_recovered *rec;
    size_t n;
    assert_int_equal(gov_pending_open(dir, 0, &p, &rec, &n), 0);
    assert_int_equal(n, 0);
    gov_pending_recovered_free(rec, n);
    return p;
}

static const struct gov_pending_recovered *find(const struct gov_pending_recovered *rec, size_t n,
                                                const char *path)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(gov_json_str(rec[i].info, "path"), path) == 0)
            return &rec[i];
    return NULL;
}

/* The one pending-*.log file in dir (the test's journals have one generation). */
static char *journal_file(const char *dir)
{
    char name[64];
    snprintf(name, sizeof name, "pending-%020d.log", 1);
    return ccr_path_join(dir, name);
}

/* Where the journal's records end (it is allocated ahead, zeros after them). */
static size_t records_end(const char *path, uint8_t **data, size_t *len)
{
    size_t end = 0;
    assert_int_equal(ccr_read_file(path, 1 << 24, data, len), 0);
    while (end < *len && (*data)[end] != 0)
        end++;
    return end;
}

/* Stores text after the journal's records, as a writer killed mid-record would leave it. */
static void append_raw(const char *dir, const char *text)
{
    char *path = journal_file(dir);
    uint8_t *data;
    size_t len, end = records_end(path, &data, &len);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, text, strlen(text), (off_t)end), (ssize_t)strlen(text));
    close(fd);
    free(data);
    free(path);
}

/* Two files read; one event covers the first: a crash before the second's event leaves only it. */
static void test_replay_keeps_what_no_event_covers(void **state)
{
    char *dir = folder("j1");
    struct gov_pending *p = open_empty(dir);
    struct gov_pending_file a = {0, 0, -1, 0}, b = {0, 0, -1, 0}, *pa = &a;
    struct gov_pending_info ia = info_of("a.bin", 5), ib = info_of("b.bin", -1);
    struct gov_pending_recovered *rec;
    const struct gov_pending_recovered *r;
    uint64_t mark;
    size_t n;
    (void)state;

    assert_int_equal(gov_pending_read(p, &a, &ia, 0, 4096), 0);
    assert_int_equal(gov_pending_read(p, &a, &ia, 4096, 4096), 0);
    assert_int_equal(gov_pending_read(p, &b, &ib, 100, 50), 0);
    assert_int_equal(gov_pending_read(p, &b, &ib, 0, 100), 0);
    assert_int_equal(gov_pending_mark(p, 10, &pa, 1, &mark), 0);
    assert_true(mark != 0);
    assert_int_equal(gov_pending_mark_done(p, mark, &pa, 1, 1), 0);
    assert_int_equal(a.ref_gen, 0);
    gov_pending_close(p); /* b still holds: the journal stays */

    /* The chain reached seq 10: a is covered, b comes back merged into one range. */
    assert_int_equal(gov_pending_open(dir, 11, &p, &rec, &n), 0);
    assert_int_equal(n, 1);
    r = find(rec, n, "b.bin");
    assert_non_null(r);
    assert_int_equal(r->ranges.len, 1);
    assert_int_equal(CCR_ARRAY_AT(&r->ranges, struct gov_range, 0).off, 0);
    assert_int_equal(CCR_ARRAY_AT(&r->ranges, struct gov_range, 0).len, 150);
    assert_int_equal(r->reads, 2);
    assert_int_equal(r->bytes, 150);
    assert_string_equal(gov_json_str(r->info, "process"), "cat");
    gov_pending_recovered_free(rec, n);
    gov_pending_close(p);

    /* The chain never got to seq 10 (killed between marker and event): a comes back too. */
    assert_int_equal(gov_pending_open(dir, 10, &p, &rec, &n), 0);
    assert_int_equal(n, 2);
    r = find(rec, n, "a.bin");
    assert_non_null(r);
    assert_int_equal(CCR_ARRAY_AT(&r->ranges, struct gov_range, 0).len, 8192);
    gov_pending_recovered_free(rec, n);
    gov_pending_close(p);
    free(dir);
}

/* A compact open journaled alone (no read yet) comes back owed, without ranges, until a marker
 * covers it; an open whose event is in the chain (open >= 0) is owed nothing. */
static void test_open_without_reads_replayed_until_covered(void **state)
{
    char *dir = folder("j0");
    struct gov_pending *p = open_empty(dir);
    struct gov_pending_file a = {0, 0, -1, 0}, b = {0, 0, -1, 0}, c = {0, 0, -1, 0}, *pa = &a;
    struct gov_pending_info ia = info_of("a.bin", -1), ib = info_of("b.bin", -1), ic = info_of("c.bin", 7);
    struct gov_pending_recovered *rec;
    const struct gov_pending_recovered *r;
    uint64_t mark;
    size_t n;
    (void)state;

    assert_int_equal(gov_pending_open_file(p, &a, &ia), 0);
    assert_int_equal(gov_pending_open_file(p, &b, &ib), 0);
    assert_int_equal(gov_pending_open_file(p, &c, &ic), 0);
    assert_true(a.fid != 0 && a.ref_gen != 0 && b.fid != a.fid);
    /* a is sealed (its access entry, or its late open event) at seq 3. */
    assert_int_equal(gov_pending_mark(p, 3, &pa, 1, &mark), 0);
    assert_true(mark != 0);
    assert_int_equal(gov_pending_mark_done(p, mark, &pa, 1, 1), 0);
    assert_int_equal(a.ref_gen, 0);
    gov_pending_close(p);

    assert_int_equal(gov_pending_open(dir, 4, &p, &rec, &n), 0);
    assert_int_equal(n, 1);
    r = find(rec, n, "b.bin");
    assert_non_null(r);
    assert_true(r->open_owed);
    assert_int_equal(r->ranges.len, 0);
    assert_int_equal(r->reads, 0);
    assert_string_equal(gov_json_str(r->info, "process"), "cat");
    gov_pending_recovered_free(rec, n);
    gov_pending_close(p);

    /* The chain never reached seq 3: a is owed too. */
    assert_int_equal(gov_pending_open(dir, 3, &p, &rec, &n), 0);
    assert_int_equal(n, 2);
    assert_non_null(find(rec, n, "a.bin"));
    assert_null(find(rec, n, "c.bin"));
    gov_pending_recovered_free(rec, n);
    gov_pending_close(p);
    free(dir);
}

/* An event that could not be sealed leaves its marker cancelled: its seq, used later by
 * another event, covers nothing. */
static void test_cancelled_marker_covers_nothing(void **state)
{
    char *dir = folder("j2");
    struct gov_pending *p = open_empty(dir);
    struct gov_pending_file a = {0, 0, -1, 0}, *pa = &a;
    struct gov_pending_info ia = info_of("a.bin", 3);
    struct gov_pending_recovered *rec;
    uint64_t mark;
    size_t n;
    (void)state;

    assert_int_equal(gov_pending_read(p, &a, &ia, 0, 10), 0);
    assert_int_equal(gov_pending_mark(p, 4, &pa, 1, &mark), 0);
    assert_int_equal(gov_pending_mark_done(p, mark, &pa, 1, 0), 0);
    assert_true(a.ref_gen != 0);
    gov_pending_close(p);
    assert_int_equal(gov_pending_open(dir, 100, &p, &rec, &n), 0);
    assert_int_equal(n, 1);
    gov_pending_recovered_free(rec, n);
    gov_pending_close(p);
    free(dir);
}

/* A file with no unsealed range writes no marker. */
static void test_mark_without_ranges_writes_nothing(void **state)
{
    char *dir = folder("j3");
    struct gov_pending *p = open_empty(dir);
    struct gov_pending_file a = {0, 0, -1, 0}, *pa = &a;
    uint64_t mark = 99, before = gov_pending_bytes(p);
    (void)state;

    assert_int_equal(gov_pending_mark(p, 1, &pa, 1, &mark), 0);
    assert_int_equal(mark, 0);
    assert_int_equal(gov_pending_bytes(p), before);
    gov_pending_close(p);
    free(dir);
}

/* A line torn by a crash mid-write is cut off cleanly; a damaged line before the end refuses
 * the journal, naming the file and line. */
static void test_torn_last_line_cut_damaged_line_refused(void **state)
{
    char *dir = folder("j4"), *path;
    struct gov_pending *p = open_empty(dir);
    struct gov_pending_file a = {0, 0, -1, 0};
    struct gov_pending_info ia = info_of("a.bin", 1);
    struct gov_pending_recovered *rec;
    uint8_t *data;
    size_t n, len;
    (void)state;

    assert_int_equal(gov_pending_read(p, &a, &ia, 0, 10), 0);
    gov_pending_close(p);
    append_raw(dir, "r 1 500 1");
    assert_int_equal(gov_pending_open(dir, 0, &p, &rec, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rec[0].ranges.len, 1);
    assert_int_equal(rec[0].bytes, 10);
    gov_pending_recovered_free(rec, n);
    gov_pending_close(p);
    /* The torn record is gone (zeroed), the records before it intact. */
    path = journal_file(dir);
    {
        size_t end = records_end(path, &data, &len);
        assert_true(end > 0 && data[end - 1] == '\n');
        assert_null(memmem(data, len, "r 1 500", 7));
    }
    free(data);

    append_raw(dir, "r 1 x 1\nr 1 20 5\n");
    assert_int_equal(gov_pending_open(dir, 0, &p, &rec, &n), EBADMSG);
    assert_non_null(strstr(ccr_err_msg(EBADMSG), "damaged pending range record"));
    assert_non_null(strstr(ccr_err_msg(EBADMSG), "line 3"));
    /* A range naming a file no record introduced is refused too. */
    assert_int_equal(ccr_write_file_atomic(path, "r 9 0 1\n", 8, 0600), 0);
    assert_int_equal(gov_pending_open(dir, 0, &p, &rec, &n), EBADMSG);
    free(path);
    free(dir);
}

static size_t count_generations(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t n = 0;
    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        n += strncmp(de->d_name, "pending-", 8) == 0;
    closedir(d);
    return n;
}

static void seal(struct gov_pending *p, struct gov_pending_file *f, uint64_t seq)
{
    uint64_t mark;
    assert_int_equal(gov_pending_mark(p, seq, &f, 1, &mark), 0);
    assert_int_equal(gov_pending_mark_done(p, mark, &f, 1, 1), 0);
}

/* Past 1 MiB a new generation starts (at the next delivery round) once the one before is drained; one still
 * holding an unsealed range stays (and grows) until it is sealed; replay reads across generations. */
static void test_generations_switch_and_drain(void **state)
{
    char *dir = folder("j5");
    struct gov_pending *p = open_empty(dir);
    struct gov_pending_file held = {0, 0, -1, 0}, busy = {0, 0, -1, 0}, late = {0, 0, -1, 0};
    struct gov_pending_info ih = info_of("held.bin", 1), ib = info_of("busy.bin", 2),
                            il = info_of("late.bin", 3);
    struct gov_pending_recovered *rec;
    uint64_t seq = 10;
    size_t n;
    (void)state;

    assert_int_equal(count_generations(dir), 1);
    /* One file writing 1.5 MiB of records without a seal: the generation grows past its step. */
    for (uint64_t i = 0; i < 90000; i++)
        assert_int_equal(gov_pending_read(p, &busy, &ib, i * 8192, 4096), 0);
    assert_true(gov_pending_bytes(p) > 1536u * 1024);
    assert_int_equal(count_generations(dir), 1);
    seal(p, &busy, seq++);
    /* The next delivery round (gov_pending_sync) starts a new generation, off the hooks' path;
     * the drained one goes at once. */
    assert_int_equal(gov_pending_sync(p), 0);
    assert_int_equal(gov_pending_read(p, &held, &ih, 0, 100), 0);
    assert_int_equal(count_generations(dir), 1);
    assert_true(gov_pending_bytes(p) < 4096);
    /* held stays unsealed while busy fills this generation: the next switch keeps it. */
    for (uint64_t i = 0; i < 70000; i++) {
        assert_int_equal(gov_pending_read(p, &busy, &ib, i * 8192, 4096), 0);
        if (i % 1000 == 999)
            seal(p, &busy, seq++);
    }
    seal(p, &busy, seq++);
    assert_int_equal(gov_pending_sync(p), 0);
    assert_int_equal(gov_pending_read(p, &late, &il, 0, 10), 0);
    assert_int_equal(count_generations(dir), 2);
    gov_pending_close(p); /* killed: held and late are unsealed */

    assert_int_equal(gov_pending_open(dir, seq, &p, &rec, &n), 0);
    assert_int_equal(n, 2);
    assert_non_null(find(rec, n, "held.bin"));
    assert_non_null(find(rec, n, "late.bin"));
    assert_null(find(rec, n, "busy.bin"));
    for (size_t i = 0; i < n; i++) {
        struct gov_pending_file *f = &rec[i].file;
        seal(p, f, seq++);
    }
    gov_pending_recovered_free(rec, n);
    assert_int_equal(gov_pending_restart(p), 0);
    assert_int_equal(count_generations(dir), 1);
    gov_pending_close(p);
    assert_int_equal(count_generations(dir), 0);
    free(dir);
}

static int count_recovered(const char *log, const char *type)
{
    FILE *in = fopen(log, "r");
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    assert_non_null(in);
    while (getline(&line, &cap, in) > 0) {
        char want[64];
        snprintf(want, sizeof want, "\"type\":\"%s\"", type);
        if (strstr(line, want) != NULL && strstr(line, "\"recovered\":true") != NULL)
            n++;
    }
    free(line);
    fclose(in);
    return n;
}

/* A process killed right after a read returned: the next open of its spool records the range,
 * and a third open records nothing again. */
static void run_killed_reader(const char *spool, const char *log, int compact, int reads)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct gov_config cfg = {
            .audit_log = log, .spool_dir = spool, .flush_interval_ms = 600000, .full_access = !compact};
        struct gov *g;
        struct fs_access_hooks hk;
        struct fs_open_info oi = {"data/x.bin", 0, 1, 0, 0, "reader"};
        uint64_t h;
        if (gov_open(&cfg, &g) != 0)
            _exit(2);
        gov_fs_hooks(g, &hk);
        if (hk.on_open(hk.arg, &oi, &h) != 0 || (reads && hk.on_read(hk.arg, h, 8192, 4096) != 0))
            _exit(3);
        raise(SIGKILL);
        _exit(4);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

static void reopen_and_close(const char *spool, const char *log)
{
    struct gov_config cfg = {.audit_log = log, .spool_dir = spool};
    struct gov *g;
    assert_int_equal(gov_open(&cfg, &g), 0);
    assert_int_equal(gov_flush(g, 5000), 0);
    gov_close(g);
}

static void test_killed_after_read_replayed_once(void **state)
{
    char *spool = folder("spool-k"), *log = ccr_path_join(tmpdir, "k.log");
    (void)state;

    run_killed_reader(spool, log, 0, 1);
    reopen_and_close(spool, log);
    assert_int_equal(count_recovered(log, "read"), 1);
    reopen_and_close(spool, log);
    assert_int_equal(count_recovered(log, "read"), 1);
    free(spool);
    free(log);
}

static void test_killed_compact_reader_replayed_as_access(void **state)
{
    char *spool = folder("spool-kc"), *log = ccr_path_join(tmpdir, "kc.log");
    FILE *in;
    char buf[8192];
    size_t len;
    (void)state;

    run_killed_reader(spool, log, 1, 1);
    reopen_and_close(spool, log);
    assert_int_equal(count_recovered(log, "access"), 1);
    in = fopen(log, "r");
    assert_non_null(in);
    len = fread(buf, 1, sizeof buf - 1, in);
    fclose(in);
    buf[len] = '\0';
    assert_non_null(strstr(buf, "\"ranges\":[[8192,4096]]"));
    assert_non_null(strstr(buf, "\"process\":\"reader\""));
    reopen_and_close(spool, log);
    assert_int_equal(count_recovered(log, "access"), 1);
    free(spool);
    free(log);
}

/* The delivery round maps the journal larger ahead of the hooks, and starts a new generation
 * (each swapped in under the lock): the records on every side of the swaps are all there on
 * replay. */
static void test_mapping_grown_ahead_keeps_records(void **state)
{
    char *dir = folder("j6");
    struct gov_pending *p = open_empty(dir);
    struct gov_pending_file f = {0, 0, -1, 0};
    struct gov_pending_info fi = info_of("f.bin", 4);
    struct gov_pending_recovered *rec;
    size_t n;
    (void)state;

    for (uint64_t i = 0; i < 60000; i++) {
        assert_int_equal(gov_pending_read(p, &f, &fi, i * 8192, 4096), 0);
        if (i % 5000 == 4999)
            assert_int_equal(gov_pending_sync(p), 0);
    }
    /* Past 1 MiB a round started a second generation; the first, holding f, stays. */
    assert_int_equal(count_generations(dir), 2);
    gov_pending_close(p); /* killed: f is unsealed */
    assert_int_equal(gov_pending_open(dir, 0, &p, &rec, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rec[0].reads, 60000);
    assert_int_equal(rec[0].ranges.len, 60000);
    gov_pending_recovered_free(rec, n);
    gov_pending_close(p);
    free(dir);
}

/* A compact open killed before its first read: the next run records it as a recovered access
 * entry without ranges, once. */
static void test_killed_compact_open_without_reads_recorded(void **state)
{
    char *spool = folder("spool-ko"), *log = ccr_path_join(tmpdir, "ko.log");
    FILE *in;
    char buf[8192];
    size_t len;
    (void)state;

    run_killed_reader(spool, log, 1, 0);
    reopen_and_close(spool, log);
    assert_int_equal(count_recovered(log, "access"), 1);
    in = fopen(log, "r");
    assert_non_null(in);
    len = fread(buf, 1, sizeof buf - 1, in);
    fclose(in);
    buf[len] = '\0';
    assert_non_null(strstr(buf, "\"path\":\"data/x.bin\""));
    assert_non_null(strstr(buf, "\"ranges\":[]"));
    assert_non_null(strstr(buf, "\"process\":\"reader\""));
    reopen_and_close(spool, log);
    assert_int_equal(count_recovered(log, "access"), 1);
    free(spool);
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_keeps_what_no_event_covers),
        cmocka_unit_test(test_open_without_reads_replayed_until_covered),
        cmocka_unit_test(test_cancelled_marker_covers_nothing),
        cmocka_unit_test(test_mark_without_ranges_writes_nothing),
        cmocka_unit_test(test_torn_last_line_cut_damaged_line_refused),
        cmocka_unit_test(test_generations_switch_and_drain),
        cmocka_unit_test(test_mapping_grown_ahead_keeps_records),
        cmocka_unit_test(test_killed_after_read_replayed_once),
        cmocka_unit_test(test_killed_compact_reader_replayed_as_access),
        cmocka_unit_test(test_killed_compact_open_without_reads_recorded),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
