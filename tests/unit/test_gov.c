/* The governance object driven through the filesystem's hooks, as the filesystem would:
 * many threads opening, reading and releasing; the audit log then verified. */
#include "common/err.h"
#include "common/fileio.h"
#include "governance/audit.h"
#include "governance/canon.h"
#include "governance/event.h"
#include "governance/gov.h"
#include "governance/sign.h"
#include "governance/spool.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/support/scratch.h"

#include <errno.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

static char *tpath(const char *name)
{
    return ccr_path_join(tmpdir, name);
}

static int setup(void **state)
{
    (void)state;
    return tsup_scratch_make(tmpdir, sizeof tmpdir, "test_gov") == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return tsup_scratch_remove(tmpdir) == 0 ? 0 : -1;
}

/* Verifies a log file; returns the number of events, or -1 (message printed). */
static long verify_log(const char *path, size_t *checkpoints)
{
    FILE *in = fopen(path, "r");
    struct gov_audit *a;
    struct gov_audit_summary s;
    char *line = NULL, where[32];
    size_t cap = 0, n = 0;
    ssize_t len;
    long rc = 0;

    if (in == NULL)
        return -1;
    assert_int_equal(gov_audit_new(NULL, &a), 0);
    while ((len = getline(&line, &cap, in)) > 0) {
        snprintf(where, sizeof where, "line %zu", ++n);
        if (gov_audit_add(a, line, (size_t)len - 1, where) != 0) {
            print_message("verify: %s\n", ccr_err_msg(EBADMSG));
            rc = -1;
            break;
        }
    }
    gov_audit_summary(a, &s);
    if (checkpoints != NULL)
        *checkpoints = s.checkpoints;
    if (rc == 0)
        rc = (long)s.events;
    gov_audit_free(a);
    free(line);
    fclose(in);
    return rc;
}

static size_t count_type(const char *path, const char *type, uint64_t *bytes)
{
    FILE *in = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0, n = 0;
    ssize_t len;
    if (bytes != NULL)
        *bytes = 0;
    assert_non_null(in);
    while ((len = getline(&line, &cap, in)) > 0) {
        json_object *ev;
        const char *t;
        long long b;
        assert_int_equal(gov_json_parse(line, (size_t)len, "log", &ev), 0);
        t = gov_json_str(ev, "type");
        if (t != NULL && strcmp(t, type) == 0) {
            n++;
            if (bytes != NULL && gov_json_int(ev, "bytes", &b) == 0)
                *bytes += (uint64_t)b;
        }
        json_object_put(ev);
    }
    free(line);
    fclose(in);
    return n;
}

struct worker {
    struct fs_access_hooks hooks;
    int id, files, reads;
    int refused;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char path[64];
    for (int f = 0; f < w->files; f++) {
        struct fs_open_info oi = {path, 0, 1000 + w->id, 0, 0, "trainer"};
        uint64_t h;
        snprintf(path, sizeof path, "data/t%d/f%d", w->id, f);
        if (w->hooks.on_open(w->hooks.arg, &oi, &h) != 0) {
            w->refused++;
            continue;
        }
        for (int r = 0; r < w->reads; r++)
            if (w->hooks.on_read(w->hooks.arg, h, (uint64_t)r * 4096, 4096) != 0)
                w->refused++;
        w->hooks.on_release(w->hooks.arg, h);
    }
    return NULL;
}

/* A contract's constraints and terms are carried into the mount event as written. */
static void test_mount_event_records_constraints(void **state)
{
    char *log = tpath("constraints.log"), *spool = tpath("constraints-spool");
    struct gov_config cfg = {
        .full_access = 1, .audit_log = log, .spool_dir = spool, .contract_id = "c1", .flush_interval_ms = 20};
    json_object *constraints = json_tokener_parse("[{\"privacy\":{\"epsilon\":\"7.5\",\"delta\":\"1e-5\"}}]");
    json_object *terms = json_tokener_parse("{\"retentionDays\":30}");
    struct gov_mount_info mi = {"/mnt/x", "sha256:00", "file:///d", "read-only", constraints, terms};
    uint8_t *text = NULL;
    size_t len = 0, cps;
    struct gov *g;
    (void)state;

    assert_non_null(constraints);
    assert_non_null(terms);
    assert_int_equal(gov_open(&cfg, &g), 0);
    assert_int_equal(gov_record_mount(g, &mi), 0);
    /* The event holds copies: the contract may go first. */
    json_object_put(constraints);
    json_object_put(terms);
    assert_int_equal(gov_record_unmount(g, "test"), 0);
    assert_int_equal(gov_flush(g, 5000), 0);
    gov_close(g);
    assert_true(verify_log(log, &cps) > 0);
    assert_int_equal(ccr_read_file(log, 1 << 20, &text, &len), 0);
    assert_non_null(
        strstr((char *)text, "\"constraints\":[{\"privacy\":{\"delta\":\"1e-5\",\"epsilon\":\"7.5\"}}]"));
    assert_non_null(strstr((char *)text, "\"terms\":{\"retentionDays\":30}"));
    free(text);
    free(log);
    free(spool);
}

static void test_threads_every_access_recorded(void **state)
{
    char *log = tpath("audit.log"), *spool = tpath("spool");
    struct gov_config cfg = {.full_access = 1,
                             .audit_log = log,
                             .spool_dir = spool,
                             .contract_id = "c1",
                             .checkpoint_events = 50,
                             .flush_interval_ms = 20};
    struct gov *g;
    struct worker w[8];
    pthread_t th[8];
    struct keys_release_info ki = {0, "key-file", "", "none", ""};
    struct gov_mount_info mi = {"/mnt/x", "sha256:00", "file:///d", "read-only", NULL, NULL};
    size_t cps;
    uint64_t bytes;
    (void)state;

    assert_int_equal(gov_open(&cfg, &g), 0);
    assert_int_equal(gov_check_consent(g), 0);
    assert_int_equal(gov_record_mount(g, &mi), 0);
    assert_int_equal(gov_record_key_release(g, &ki), 0);
    for (int i = 0; i < 8; i++) {
        w[i] = (struct worker){.id = i, .files = 20, .reads = 30};
        gov_fs_hooks(g, &w[i].hooks);
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].refused, 0);
    }
    {
        struct fs_access_hooks hk;
        gov_fs_hooks(g, &hk);
        hk.on_integrity_failure(hk.arg, "data/t0/f0", 7);
    }
    assert_int_equal(gov_record_unmount(g, "test"), 0);
    assert_int_equal(gov_flush(g, 5000), 0);
    gov_close(g);

    assert_true(verify_log(log, &cps) > 0);
    assert_true(cps >= 2);
    assert_int_equal(count_type(log, "open", NULL), 160);
    assert_int_equal(count_type(log, "release", NULL), 160);
    /* Sequential 4 KiB reads coalesce: the read events cover every byte exactly once. */
    count_type(log, "read", &bytes);
    assert_int_equal(bytes, 160ULL * 30 * 4096);
    assert_int_equal(count_type(log, "integrity", NULL), 1);
    assert_int_equal(count_type(log, "mount", NULL), 1);
    assert_int_equal(count_type(log, "key_release", NULL), 1);
    free(log);
    free(spool);
}

static void test_ranges_coalesce_and_flush_threshold(void **state)
{
    char *log = tpath("coalesce.log"), *spool = tpath("spool-c");
    struct gov_config cfg = {.full_access = 1,
                             .audit_log = log,
                             .spool_dir = spool,
                             .flush_ranges = 4,
                             .flush_interval_ms = 60000};
    struct gov *g;
    struct fs_access_hooks hk;
    struct fs_open_info oi = {"a.bin", 0, 1, 0, 0, "cat"};
    uint64_t h, bytes;
    (void)state;

    assert_int_equal(gov_open(&cfg, &g), 0);
    gov_fs_hooks(g, &hk);
    assert_int_equal(hk.on_open(hk.arg, &oi, &h), 0);
    /* Overlapping and out of order: [0,100) [50,150) [300,400) [150,300) -> one range [0,400). */
    assert_int_equal(hk.on_read(hk.arg, h, 0, 100), 0);
    assert_int_equal(hk.on_read(hk.arg, h, 50, 100), 0);
    assert_int_equal(hk.on_read(hk.arg, h, 300, 100), 0);
    assert_int_equal(hk.on_read(hk.arg, h, 150, 150), 0);
    /* Six disjoint ranges: past the threshold of 4, flushed without waiting for the timer. */
    for (int i = 0; i < 6; i++)
        assert_int_equal(hk.on_read(hk.arg, h, 10000 + (uint64_t)i * 1000, 10), 0);
    assert_int_equal(gov_flush(g, 5000), 0);
    hk.on_release(hk.arg, h);
    gov_close(g);
    assert_true(verify_log(log, NULL) > 0);
    assert_int_equal(count_type(log, "read", &bytes), 2);
    assert_int_equal(bytes, 400 + 60);
    free(log);
    free(spool);
}

static void test_spool_full_fails_closed(void **state)
{
    char *log = tpath("full.log"), *spool = tpath("spool-f");
    struct gov_config cfg = {.audit_log = log, .spool_dir = spool, .spool_max_bytes = 64 * 1024};
    struct gov *g;
    struct fs_access_hooks hk;
    struct fs_open_info oi = {"x", 0, 1, 0, 0, "cat"};
    uint64_t h;
    int refused = 0, allowed = 0;
    char why[256];
    (void)state;

    /* A folder is no log file: refused clearly, nothing started. */
    assert_int_equal(ccr_mkdirs(log, 0700), 0);
    assert_int_not_equal(gov_open(&cfg, &g), 0);
    rmdir(log);
    /* A service that is down: events pile up in a small spool until it is full. */
    cfg.audit_log = NULL;
    cfg.governance_url = "http://127.0.0.1:9"; /* nothing listens on the discard port */
    cfg.governance_optional = 1;               /* so only the spool limit applies */
    assert_int_equal(gov_open(&cfg, &g), 0);
    gov_fs_hooks(g, &hk);
    for (int i = 0; i < 2000 && refused == 0; i++) {
        if (hk.on_open(hk.arg, &oi, &h) == 0) {
            allowed++;
            hk.on_release(hk.arg, h);
        } else {
            refused++;
        }
    }
    assert_true(allowed > 10);
    assert_int_equal(refused, 1);
    assert_int_equal(gov_serving(g, why, sizeof why), 0);
    assert_non_null(strstr(why, "spool is full"));
    assert_int_equal(hk.on_open(hk.arg, &oi, &h), EACCES);
    gov_close(g);
    free(log);
    free(spool);
}

static void test_crash_replay_continues_chain(void **state)
{
    char *log = tpath("replay.log"), *spool = tpath("spool-r");
    struct gov_config cfg = {.full_access = 1,
                             .governance_url = "http://127.0.0.1:9",
                             .governance_optional = 1,
                             .spool_dir = spool};
    struct gov *g;
    struct fs_access_hooks hk;
    struct fs_open_info oi = {"y", 0, 1, 0, 0, "cat"};
    uint64_t h;
    (void)state;

    /* Events spooled while the service is down... */
    assert_int_equal(gov_open(&cfg, &g), 0);
    gov_fs_hooks(g, &hk);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(hk.on_open(hk.arg, &oi, &h), 0);
        hk.on_release(hk.arg, h);
    }
    gov_close(g);
    /* ...are delivered, exactly once, by the next run, whose own events continue the chain. */
    cfg.governance_url = NULL;
    cfg.audit_log = log;
    assert_int_equal(gov_open(&cfg, &g), 0);
    gov_fs_hooks(g, &hk);
    assert_int_equal(hk.on_open(hk.arg, &oi, &h), 0);
    hk.on_release(hk.arg, h);
    assert_int_equal(gov_flush(g, 5000), 0);
    gov_close(g);
    assert_int_equal(count_type(log, "open", NULL), 6);
    assert_true(verify_log(log, NULL) >= 12);
    free(log);
    free(spool);
}

static void test_spool_rejects_tampering(void **state)
{
    char *spool = tpath("spool-t"), *seg, cmd[600];
    struct gov_spool *s;
    struct gov_chain c;
    size_t replayed;
    json_object *ev;
    char *line;
    size_t len;
    (void)state;

    assert_int_equal(gov_spool_open(spool, 1 << 20, &s, &c, &replayed), 0);
    for (int i = 0; i < 3; i++) {
        uint64_t seq = c.next_seq;
        ev = gov_event_new("open");
        json_object_object_add(ev, "path", json_object_new_string("p"));
        assert_int_equal(gov_event_seal(&c, ev, &line, &len), 0);
        assert_int_equal(gov_spool_append(s, seq, line, len, 0), 0);
        free(line);
        json_object_put(ev);
    }
    /* A torn write at the end is cut off; the three events come back. */
    seg = ccr_path_join(spool, "seg-00000000000000000000.log");
    snprintf(cmd, sizeof cmd, "printf '{\"type\":\"op' >> '%s'", seg);
    assert_int_equal(system(cmd), 0);
    gov_spool_close(s);
    assert_int_equal(gov_spool_open(spool, 1 << 20, &s, &c, &replayed), 0);
    assert_int_equal(replayed, 3);
    assert_int_equal(c.next_seq, 3);
    gov_spool_close(s);
    /* An edited event in the middle is refused with a clear message. */
    snprintf(cmd, sizeof cmd, "sed -i '2s/\"p\"/\"q\"/' '%s'", seg);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(gov_spool_open(spool, 1 << 20, &s, &c, &replayed), EBADMSG);
    assert_non_null(strstr(ccr_err_msg(EBADMSG), "line 2"));
    free(seg);
    free(spool);
}

/* Checkpoints signed with a key the mount code hands over (as it would the key bound into
 * the attestation evidence), and a log pinned to that key verifies. */
static void test_attested_signing_key(void **state)
{
    char *log = tpath("attested.log"), *spool = tpath("spool-a"), *keyf = tpath("tee.pem");
    struct gov_config cfg = {.full_access = 1,
                             .audit_log = log,
                             .spool_dir = spool,
                             .checkpoint_events = 3,
                             .signing_key_attestation = "sim report_data=sha256(key)"};
    struct gov *g;
    struct fs_access_hooks hk;
    struct fs_open_info oi = {"z", 0, 1, 0, 0, "cat"};
    struct gov_key *pin;
    struct gov_audit *a;
    FILE *in;
    EVP_PKEY *pkey;
    char *line = NULL;
    size_t cap = 0, n = 0;
    ssize_t len;
    uint64_t h;
    (void)state;

    assert_int_equal(gov_key_generate_file(keyf, "p256"), 0);
    in = fopen(keyf, "r");
    pkey = PEM_read_PrivateKey(in, NULL, NULL, NULL);
    fclose(in);
    assert_non_null(pkey);
    cfg.signing_pkey = pkey;
    assert_int_equal(gov_open(&cfg, &g), 0);
    EVP_PKEY_free(pkey); /* governance keeps its own reference */
    gov_fs_hooks(g, &hk);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(hk.on_open(hk.arg, &oi, &h), 0);
        hk.on_release(hk.arg, h);
    }
    gov_close(g);
    assert_true(count_type(log, "checkpoint", NULL) >= 3);
    assert_int_equal(gov_key_load_public(keyf, &pin), 0);
    assert_int_equal(gov_audit_new(pin, &a), 0);
    in = fopen(log, "r");
    while ((len = getline(&line, &cap, in)) > 0) {
        char where[32];
        snprintf(where, sizeof where, "line %zu", ++n);
        assert_int_equal(gov_audit_add(a, line, (size_t)len - 1, where), 0);
        if (strstr(line, "\"type\":\"checkpoint\"") != NULL) {
            assert_non_null(strstr(line, "\"key_source\":\"attested\""));
            assert_non_null(strstr(line, "\"alg\":\"p256\""));
            assert_non_null(strstr(line, "\"attestation\":\"sim report_data=sha256(key)\""));
        }
    }
    fclose(in);
    free(line);
    gov_audit_free(a);
    gov_key_free(pin);
    free(log);
    free(spool);
    free(keyf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_every_access_recorded),
        cmocka_unit_test(test_mount_event_records_constraints),
        cmocka_unit_test(test_ranges_coalesce_and_flush_threshold),
        cmocka_unit_test(test_spool_full_fails_closed),
        cmocka_unit_test(test_crash_replay_continues_chain),
        cmocka_unit_test(test_spool_rejects_tampering),
        cmocka_unit_test(test_attested_signing_key),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
