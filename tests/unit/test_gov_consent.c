/* Consent and fail-closed behaviour against the governance service run in-process: consent
 * disabled before mounting; revoked while many threads read (reads refused within seconds,
 * on_revoke called once, revocation recorded); the service going away (reads go on for the
 * grace period, then refused) and coming back (serving again, every event delivered once). */
#include "common/clock.h"
#include "common/err.h"
#include "common/fileio.h"
#include "governance/canon.h"
#include "governance/client.h"
#include "governance/contract.h"
#include "governance/gov.h"
#include "governance/http.h"
#include "governance/service/service.h"
#include "governance/sign.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOKEN "test-token-0123456789abcdef"

static char dir[64], url[64], *db, *key;
static struct gov_service *svc;
static uint16_t port;

static double now_s(void)
{
    return (double)ccr_clock_mono_ns() / 1e9;
}

static void start_service(uint16_t p)
{
    struct gov_service_config sc = {db, NULL, p, NULL};
    assert_int_equal(gov_service_start(&sc, &svc), 0);
    port = gov_service_port(svc);
    snprintf(url, sizeof url, "http://127.0.0.1:%u", port);
}

/* One call to the service; returns the HTTP status. */
static long api(const char *method, const char *path, const char *body)
{
    struct gov_http *h;
    long status = 0;
    char *resp = NULL;
    assert_int_equal(gov_http_new(url, TOKEN, 5000, &h), 0);
    assert_int_equal(gov_http_request(h, method, path, body, body ? strlen(body) : 0, &status, &resp, NULL),
                     0);
    free(resp);
    gov_http_free(h);
    return status;
}

/* A one-party contract, proposed, and signed when sign is set. */
static void make_contract(const char *id, int sign)
{
    struct gov_key *k;
    struct gov_contract *c;
    char *pub, doc[2048], *bytes, *sig, body[512], path[128];
    size_t len;

    assert_int_equal(gov_key_load_private(key, &k), 0);
    assert_int_equal(gov_key_public_b64(k, &pub), 0);
    snprintf(
        doc, sizeof doc,
        "{\"id\":\"%s\",\"purpose\":\"test\",\"parties\":[{\"id\":\"p\",\"role\":\"provider\",\"publicKey\":"
        "\"%s\"}],\"startTime\":\"2020-01-01T00:00:00Z\",\"expiryTime\":\"2099-01-01T00:00:00Z\","
        "\"datasets\":[{\"id\":\"sha256:%064d\",\"provider\":\"p\",\"accessMode\":\"read-only\","
        "\"maxMounts\":5}]}",
        id, pub, 0);
    assert_int_equal(api("POST", "/contracts", doc), 201);
    if (sign) {
        assert_int_equal(gov_contract_parse(doc, strlen(doc), &c), 0);
        assert_int_equal(gov_contract_signed_bytes(c, &bytes, &len), 0);
        assert_int_equal(gov_key_sign_b64(k, bytes, len, &sig), 0);
        snprintf(body, sizeof body, "{\"party\":\"p\",\"signature\":\"%s\"}", sig);
        snprintf(path, sizeof path, "/contracts/%s/sign", id);
        assert_int_equal(api("POST", path, body), 200);
        free(sig);
        free(bytes);
        gov_contract_free(c);
    }
    free(pub);
    gov_key_free(k);
}

static void revoke_contract(const char *id)
{
    struct gov_key *k;
    struct gov_http *h;
    char path[128], body[512], *resp = NULL, *bytes, *sig;
    long status;
    size_t len;
    json_object *v, *doc;
    struct gov_contract *c;
    const char *text;

    snprintf(path, sizeof path, "/contracts/%s", id);
    assert_int_equal(gov_http_new(url, TOKEN, 5000, &h), 0);
    assert_int_equal(gov_http_request(h, "GET", path, NULL, 0, &status, &resp, &len), 0);
    gov_http_free(h);
    assert_int_equal(gov_json_parse(resp, len, "show", &v), 0);
    free(resp);
    assert_true(json_object_object_get_ex(v, "contract", &doc));
    text = json_object_to_json_string(doc);
    assert_int_equal(gov_contract_parse(text, strlen(text), &c), 0);
    json_object_put(v);
    assert_int_equal(gov_key_load_private(key, &k), 0);
    assert_int_equal(gov_contract_revoke_bytes(c, &bytes, &len), 0);
    assert_int_equal(gov_key_sign_b64(k, bytes, len, &sig), 0);
    snprintf(body, sizeof body, "{\"party\":\"p\",\"signature\":\"%s\"}", sig);
    snprintf(path, sizeof path, "/contracts/%s/revoke", id);
    assert_int_equal(api("POST", path, body), 200);
    free(sig);
    free(bytes);
    gov_contract_free(c);
    gov_key_free(k);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_gov_consent.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    setenv("CCRFS_GOV_TOKEN", TOKEN, 1);
    db = ccr_path_join(dir, "gov.db");
    key = ccr_path_join(dir, "party.pem");
    if (gov_key_generate_file(key, "ed25519") != 0)
        return -1;
    start_service(0);
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    gov_service_stop(svc);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    free(db);
    free(key);
    return system(cmd) == 0 ? 0 : -1;
}

static atomic_int revoke_calls;
static void on_revoke(void *arg, const char *reason)
{
    (void)arg;
    (void)reason;
    atomic_fetch_add(&revoke_calls, 1);
}

static void test_disabled_before_mount(void **state)
{
    char *spool = ccr_path_join(dir, "spool-d");
    struct gov_config cfg = {.governance_url = url, .contract_id = "unsigned", .spool_dir = spool};
    struct gov *g;
    (void)state;
    make_contract("unsigned", 0);
    assert_int_equal(gov_open(&cfg, &g), 0);
    assert_int_equal(gov_check_consent(g), EACCES);
    assert_non_null(strstr(ccr_err_msg(EACCES), "consent for contract unsigned is disabled"));
    assert_non_null(strstr(ccr_err_msg(EACCES), "not signed yet by party p"));
    gov_close(g);
    /* A contract the service does not know: disabled too. */
    cfg.contract_id = "nope";
    assert_int_equal(gov_open(&cfg, &g), 0);
    assert_int_equal(gov_check_consent(g), EACCES);
    assert_non_null(strstr(ccr_err_msg(EACCES), "no contract with id 'nope'"));
    gov_close(g);
    free(spool);
}

struct reader {
    struct fs_access_hooks hooks;
    int id;
    atomic_int *stop;
    long ok, refused_after;
    double first_refusal;
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    struct fs_open_info oi = {"data/big", 0, 100 + r->id, 0, 0, "reader"};
    uint64_t h, off = 0;
    assert_int_equal(r->hooks.on_open(r->hooks.arg, &oi, &h), 0);
    while (!atomic_load(r->stop)) {
        int rc = r->hooks.on_read(r->hooks.arg, h, off, 65536);
        if (rc == 0) {
            r->ok++;
            if (r->first_refusal > 0)
                r->refused_after = -1000000; /* served after a refusal: wrong */
        } else {
            assert_int_equal(rc, EACCES);
            if (r->first_refusal == 0)
                r->first_refusal = now_s();
            r->refused_after++;
        }
        off += 2 * 65536; /* apart, so ranges do not merge */
        usleep(2000);
    }
    r->hooks.on_release(r->hooks.arg, h);
    return NULL;
}

/* The log of a mount whose consent was withdrawn: every read before the disabled consent
 * answer, which the revocation follows at once, and nothing but denials and releases after. */
static void assert_revocation_order(const char *log)
{
    FILE *f = fopen(log, "r");
    char *line = NULL;
    size_t cap = 0;
    int phase = 0; /* 0: serving, 1: after the disabled answer, 2: after the revocation */
    long reads = 0, denials = 0;

    assert_non_null(f);
    while (getline(&line, &cap, f) > 0) {
        json_object *ev = json_tokener_parse(line), *t;
        const char *type;
        assert_non_null(ev);
        assert_true(json_object_object_get_ex(ev, "type", &t));
        type = json_object_get_string(t);
        if (strcmp(type, "read") == 0) {
            if (phase != 0)
                fail_msg("a read recorded after the consent was withdrawn: %s", line);
            reads++;
        } else if (strcmp(type, "consent") == 0 && strstr(line, "\"disabled\"") != NULL) {
            assert_int_equal(phase, 0);
            phase = 1;
        } else if (strcmp(type, "revocation") == 0) {
            assert_int_equal(phase, 1);
            phase = 2;
        } else if (strcmp(type, "denial") == 0) {
            if (phase != 2)
                fail_msg("a refusal recorded before the revocation: %s", line);
            denials++;
        } else if (phase == 1) {
            fail_msg("between the disabled answer and the revocation: %s", line);
        }
        json_object_put(ev);
    }
    free(line);
    fclose(f);
    assert_int_equal(phase, 2);
    assert_true(reads > 0);
    assert_true(denials > 0);
}

static void test_revoked_mid_read(void **state)
{
    char *spool = ccr_path_join(dir, "spool-r"), *log = ccr_path_join(dir, "revoked.log");
    /* Every read recorded at once (two ranges per open flush), so reads race the withdrawal. */
    struct gov_config cfg = {.governance_url = url,
                             .contract_id = "live",
                             .spool_dir = spool,
                             .audit_log = log,
                             .consent_interval_s = 1,
                             .flush_ranges = 1,
                             .on_revoke = on_revoke};
    struct gov *g;
    struct reader r[4];
    pthread_t th[4];
    atomic_int stop = 0;
    struct fs_open_info oi = {"data/late", 0, 1, 0, 0, "late"};
    uint64_t h;
    double t_revoke;
    char why[256];
    (void)state;

    make_contract("live", 1);
    assert_int_equal(gov_open(&cfg, &g), 0);
    assert_int_equal(gov_check_consent(g), 0);
    for (int i = 0; i < 4; i++) {
        r[i] = (struct reader){.id = i, .stop = &stop};
        gov_fs_hooks(g, &r[i].hooks);
        assert_int_equal(pthread_create(&th[i], NULL, reader_main, &r[i]), 0);
    }
    usleep(500000);
    revoke_contract("live");
    t_revoke = now_s();
    while (now_s() - t_revoke < 3.0 && atomic_load(&revoke_calls) == 0)
        usleep(20000);
    usleep(100000);
    atomic_store(&stop, 1);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_true(r[i].ok > 10);
        assert_true(r[i].refused_after > 0); /* refused after revocation, never served again */
        assert_true(r[i].first_refusal - t_revoke < 2.5);
    }
    assert_int_equal(atomic_load(&revoke_calls), 1);
    assert_int_equal(gov_serving(g, why, sizeof why), 0);
    assert_non_null(strstr(why, "consent revoked"));
    /* New opens are refused too. */
    assert_int_equal(r[0].hooks.on_open(r[0].hooks.arg, &oi, &h), EACCES);
    assert_int_equal(gov_flush(g, 5000), 0);
    gov_close(g);
    assert_revocation_order(log);
    free(log);
    free(spool);
}

static void test_service_down_then_back(void **state)
{
    char *spool = ccr_path_join(dir, "spool-g");
    struct gov_config cfg = {.governance_url = url,
                             .contract_id = "flaky",
                             .spool_dir = spool,
                             .consent_interval_s = 1,
                             .grace_seconds = 1,
                             .flush_interval_ms = 50};
    struct gov *g;
    struct fs_access_hooks hk;
    struct fs_open_info oi = {"data/f", 0, 1, 0, 0, "cat"};
    uint64_t h, off = 0;
    double t_down, t_refused = 0, t_back;
    int served_again = 0;
    (void)state;

    make_contract("flaky", 1);
    assert_int_equal(gov_open(&cfg, &g), 0);
    assert_int_equal(gov_check_consent(g), 0);
    gov_fs_hooks(g, &hk);
    assert_int_equal(hk.on_open(hk.arg, &oi, &h), 0);
    assert_int_equal(hk.on_read(hk.arg, h, 0, 100), 0);
    gov_service_stop(svc);
    t_down = now_s();
    /* Reads go on within the grace period, then are refused. */
    while (now_s() - t_down < 5.0) {
        if (hk.on_read(hk.arg, h, off += 100, 100) != 0) {
            t_refused = now_s();
            break;
        }
        usleep(10000);
    }
    assert_true(t_refused > 0);
    assert_true(t_refused - t_down >= 0.9);
    start_service(port);
    t_back = now_s();
    while (now_s() - t_back < 6.0) {
        if (hk.on_read(hk.arg, h, off += 100, 100) == 0) {
            served_again = 1;
            break;
        }
        usleep(20000);
    }
    assert_true(served_again);
    hk.on_release(hk.arg, h);
    assert_int_equal(gov_record_unmount(g, "test"), 0);
    assert_int_equal(gov_flush(g, 8000), 0);
    gov_close(g);
    free(spool);
}

/* A fake governance sidecar answering consent checks with whatever the test sets. */
static const char *fake_body;
static unsigned fake_status;

static enum MHD_Result fake_handler(void *cls, struct MHD_Connection *conn, const char *u, const char *m,
                                    const char *v, const char *up, size_t *up_size, void **ctx)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    (void)cls, (void)u, (void)m, (void)v, (void)up;
    if (*ctx == NULL) {
        *ctx = conn;
        return MHD_YES;
    }
    if (*up_size > 0) {
        *up_size = 0;
        return MHD_YES;
    }
    resp = MHD_create_response_from_buffer(strlen(fake_body), (void *)fake_body, MHD_RESPMEM_PERSISTENT);
    ret = MHD_queue_response(conn, fake_status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void test_consent_replies(void **state)
{
    static const struct {
        unsigned status;
        const char *body;
        int rc;
        const char *msg;
    } cases[] = {
        {200, "{\"status\":\"enabled\"}", 0, NULL},
        {200, "{\"status\":\"disabled\",\"reason\":{\"code\":\"ContractExpired\",\"message\":\"too late\"}}",
         EACCES, "ContractExpired: too late"},
        {200, "{\"status\":\"maybe\"}", EPROTO, "\"status\" must be"},
        {200, "{\"reason\":{}}", EPROTO, "\"status\" must be"},
        {200, "enabled", EPROTO, "consent reply: not valid JSON"},
        {200, "{\"status\":\"enabled\"} trailing", EPROTO, "consent reply"},
        {404, "{\"error\":{\"message\":\"no such contract\"}}", EACCES, "HTTP 404: no such contract"},
        {500, "oops", EIO, "consent check: HTTP 500: oops"},
    };
    char *spool = ccr_path_join(dir, "spool-fake"), furl[64];
    struct MHD_Daemon *d;
    struct gov *g;
    (void)state;

    d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, fake_handler, NULL, MHD_OPTION_END);
    assert_non_null(d);
    snprintf(furl, sizeof furl, "http://127.0.0.1:%u",
             MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct gov_config cfg = {.governance_url = furl, .contract_id = "c", .spool_dir = spool};
        int rc;
        fake_status = cases[i].status;
        fake_body = cases[i].body;
        assert_int_equal(gov_open(&cfg, &g), 0);
        ccr_err_clear();
        rc = gov_check_consent(g);
        if (rc != cases[i].rc || (cases[i].msg && strstr(ccr_err_msg(rc), cases[i].msg) == NULL))
            print_message("case %zu: rc %d, message '%s'\n", i, rc, ccr_err_msg(rc));
        assert_int_equal(rc, cases[i].rc);
        if (cases[i].msg != NULL)
            assert_non_null(strstr(ccr_err_msg(rc), cases[i].msg));
        gov_close(g);
    }
    MHD_stop_daemon(d);
    free(spool);
}

/* The use budget as the mount code would count it, and the contract it fetches. */
static void test_use_budget_client(void **state)
{
    char ds[80];
    struct gov_use u;
    struct gov_contract *c;
    (void)state;
    snprintf(ds, sizeof ds, "sha256:%064d", 0);
    make_contract("budget", 1);
    make_contract("budget-unsigned", 0);
    assert_int_equal(gov_client_contract(url, NULL, "budget", &c), 0);
    assert_string_equal(c->id, "budget");
    assert_int_equal(c->datasets[0].max_mounts, 5);
    gov_contract_free(c);
    assert_int_equal(gov_client_contract(url, NULL, "nope", &c), ENOENT);
    for (int i = 1; i <= 5; i++) {
        assert_int_equal(gov_client_use(url, NULL, "budget", ds, &u), 0);
        assert_int_equal(u.used, i);
        assert_int_equal(u.remaining, 5 - i);
        assert_string_equal(u.access_mode, "read-only");
    }
    assert_int_equal(gov_client_use(url, NULL, "budget", ds, &u), ENOSPC);
    assert_non_null(strstr(ccr_err_msg(ENOSPC), "spent (5 of 5 mounts)"));
    assert_int_equal(gov_client_use(url, NULL, "budget", "sha256:00", &u), ENOENT);
    assert_int_equal(gov_client_use(url, NULL, "budget-unsigned", ds, &u), EACCES);
    assert_non_null(strstr(ccr_err_msg(EACCES), "not signed yet"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_consent_replies),        cmocka_unit_test(test_use_budget_client),
        cmocka_unit_test(test_disabled_before_mount),  cmocka_unit_test(test_revoked_mid_read),
        cmocka_unit_test(test_service_down_then_back),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
