/* The KBS protocol end to end in one process: the client against `kbs serve`'s broker on an
 * ephemeral loopback port, with simulated evidence; the happy path and each refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/encoding.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/secmem.h"
#include "keys/attest/sim.h"
#include "keys/broker/broker.h"
#include "keys/broker/store.h"
#include "keys/kbs/client.h"
#include "keys/kbs/http.h"
#include "keys/kbs/jwe.h"
#include "keys/release.h"
#include "format/dek.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOKEN "test-admin-token-0123456789"

static char dir[] = "/tmp/ccrfs-test-kbs-XXXXXX";
static char sim[300], state[300], url[64], spec[320];
static struct keys_broker *broker;
static const uint8_t secret[32] = {0xde, 0xad, 0xbe, 0xef, 1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12,
                                   13,   14,   15,   16,   17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28};

static void write_sim_conf(uint64_t policy, unsigned vmpl)
{
    char path[400], text[512], *chip;
    uint8_t *buf;
    size_t len;
    snprintf(path, sizeof path, "%s/sim.json", sim);
    assert_int_equal(ccr_read_file(path, 1 << 16, &buf, &len), 0);
    chip = strstr((char *)buf, "\"chip_id\"");
    assert_non_null(chip);
    /* keep the chip id: it is bound to the VCEK */
    char chip_hex[129];
    memcpy(chip_hex, strchr(chip + 9, '"') + 1, 128);
    chip_hex[128] = '\0';
    snprintf(text, sizeof text, "{\"policy\": %llu, \"vmpl\": %u, \"chip_id\": \"%s\"}",
             (unsigned long long)policy, vmpl, chip_hex);
    free(buf);
    assert_int_equal(ccr_write_file_atomic(path, text, strlen(text), 0600), 0);
}

static int setup(void **state_)
{
    struct keys_sim_config cfg = {0};
    struct keys_broker_conf conf = {0};
    struct keys_rstore *rs;
    uint8_t m[48];
    char mhex[97], policy[512];
    (void)state_;

    ccr_log_set_level(CCR_LOG_ERROR);
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(sim, sizeof sim, "%s/sim", dir);
    snprintf(state, sizeof state, "%s/state", dir);
    snprintf(spec, sizeof spec, "sim:%s", sim);
    if (keys_sim_init(sim, &cfg) != 0 || keys_sim_self_measurement(m) != 0)
        return -1;
    ccr_hex_encode(m, sizeof m, mhex);
    snprintf(
        policy, sizeof policy,
        "{\"version\":\"1.0.0\",\"anyOf\":[{\"authority\":\"local\",\"allOf\":[{\"claim\":\"measurement\","
        "\"equals\":\"%s\"},{\"claim\":\"debug\",\"equals\":false}]}]}",
        mhex);
    /* Resources written before the broker starts must be there after: durability. */
    if (keys_rstore_open(state, &rs) != 0 || keys_rstore_put(rs, "ccrfs/dek/good", policy, secret, 32) != 0 ||
        keys_rstore_put(rs, "ccrfs/dek/other-build",
                        "{\"allOf\":[{\"claim\":\"measurement\",\"equals\":\"00\"}]}", secret, 32) != 0)
        return -1;
    keys_rstore_close(rs);
    conf.state_dir = state;
    conf.admin_token = TOKEN;
    conf.sim_root = sim;
    if (keys_broker_start(&conf, &broker) != 0)
        return -1;
    snprintf(url, sizeof url, "http://127.0.0.1:%u", keys_broker_port(broker));
    return 0;
}

static int teardown(void **state_)
{
    char cmd[400];
    (void)state_;
    keys_broker_stop(broker);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void expect_refusal(int rc, int code, const char *words)
{
    if (rc != code || strstr(ccr_err_msg(rc), words) == NULL)
        fail_msg("expected error %d with '%s', got %d: %s", code, words, rc, ccr_err_msg(rc));
}

static void test_release(void **state_)
{
    uint8_t *v;
    size_t len;
    char detail[256];
    (void)state_;
    assert_int_equal(keys_kbs_fetch(url, NULL, "ccrfs/dek/good", spec, &v, &len, detail, sizeof detail), 0);
    assert_int_equal(len, 32);
    assert_memory_equal(v, secret, 32);
    assert_non_null(strstr(detail, "evidence sim"));
    ccr_secmem_free(v, len);
}

static void test_release_rsa(void **state_)
{
    struct keys_kbs_session *s;
    uint8_t *v;
    size_t len;
    (void)state_;
    assert_int_equal(keys_kbs_session_new(url, NULL, KEYS_JWE_ALG_RSA, &s), 0);
    assert_int_equal(keys_kbs_auth(s), 0);
    assert_int_equal(keys_kbs_attest(s, spec, NULL, NULL, 0), 0);
    assert_int_equal(keys_kbs_get_resource(s, "ccrfs/dek/good", &v, &len), 0);
    assert_memory_equal(v, secret, 32);
    ccr_secmem_free(v, len);
    /* The session serves further requests without attesting again. */
    assert_int_equal(keys_kbs_get_resource(s, "ccrfs/dek/good", &v, &len), 0);
    ccr_secmem_free(v, len);
    keys_kbs_session_free(s);
}

static void test_nonce_replayed(void **state_)
{
    struct keys_kbs_session *a, *b;
    struct keys_kbs_attest_faults f = {0};
    (void)state_;
    assert_int_equal(keys_kbs_session_new(url, NULL, NULL, &a), 0);
    assert_int_equal(keys_kbs_session_new(url, NULL, NULL, &b), 0);
    assert_int_equal(keys_kbs_auth(a), 0);
    assert_int_equal(keys_kbs_attest(a, spec, NULL, NULL, 0), 0);
    /* The same session's nonce, a second time. */
    expect_refusal(keys_kbs_attest(a, spec, NULL, NULL, 0), EACCES, "nonce was already used");
    /* Another session's nonce. */
    assert_int_equal(keys_kbs_auth(b), 0);
    f.nonce = keys_kbs_nonce(a);
    expect_refusal(keys_kbs_attest(b, spec, &f, NULL, 0), EACCES,
                   "nonce in the handshake session is different");
    keys_kbs_session_free(a);
    keys_kbs_session_free(b);
}

static void test_report_data_mismatch(void **state_)
{
    struct keys_kbs_session *s;
    struct keys_kbs_attest_faults f = {.bind_other_key = 1};
    (void)state_;
    assert_int_equal(keys_kbs_session_new(url, NULL, NULL, &s), 0);
    assert_int_equal(keys_kbs_auth(s), 0);
    expect_refusal(keys_kbs_attest(s, spec, &f, NULL, 0), EACCES, "Report Data Mismatch");
    keys_kbs_session_free(s);
}

static void test_tampered_signature(void **state_)
{
    struct keys_kbs_session *s;
    struct keys_kbs_attest_faults f = {.flip_signature_byte = 1};
    (void)state_;
    assert_int_equal(keys_kbs_session_new(url, NULL, NULL, &s), 0);
    assert_int_equal(keys_kbs_auth(s), 0);
    expect_refusal(keys_kbs_attest(s, spec, &f, NULL, 0), EACCES, "signature");
    keys_kbs_session_free(s);
}

static void test_not_attested(void **state_)
{
    struct keys_kbs_session *s;
    uint8_t *v;
    size_t len;
    struct keys_kbs_attest_faults f = {.flip_signature_byte = 1};
    (void)state_;
    assert_int_equal(keys_kbs_session_new(url, NULL, NULL, &s), 0);
    assert_int_equal(keys_kbs_auth(s), 0);
    assert_int_not_equal(keys_kbs_attest(s, spec, &f, NULL, 0), 0);
    /* A failed attestation leaves the session unable to get anything. */
    expect_refusal(keys_kbs_get_resource(s, "ccrfs/dek/good", &v, &len), EACCES, "no attested session");
    keys_kbs_session_free(s);
}

static void test_policy_refusals(void **state_)
{
    uint8_t *v;
    size_t len;
    (void)state_;
    expect_refusal(keys_kbs_fetch(url, NULL, "ccrfs/dek/other-build", spec, &v, &len, NULL, 0), EACCES,
                   "claim measurement is");
    expect_refusal(keys_kbs_fetch(url, NULL, "ccrfs/dek/missing", spec, &v, &len, NULL, 0), ENOENT,
                   "no resource named ccrfs/dek/missing");
    expect_refusal(keys_kbs_fetch(url, NULL, "ccrfs/../x", spec, &v, &len, NULL, 0), EINVAL, "REPO/TYPE/TAG");
}

static void test_debug_and_vmpl(void **state_)
{
    uint8_t *v;
    size_t len;
    (void)state_;
    write_sim_conf(0x30000 | (1ULL << 19), 0);
    expect_refusal(keys_kbs_fetch(url, NULL, "ccrfs/dek/good", spec, &v, &len, NULL, 0), EACCES, "DEBUG");
    write_sim_conf(0x30000, 1);
    expect_refusal(keys_kbs_fetch(url, NULL, "ccrfs/dek/good", spec, &v, &len, NULL, 0), EACCES, "VMPL 1");
    write_sim_conf(0x30000, 0);
    assert_int_equal(keys_kbs_fetch(url, NULL, "ccrfs/dek/good", spec, &v, &len, NULL, 0), 0);
    ccr_secmem_free(v, len);
}

static void test_expired_session(void **state_)
{
    struct keys_broker_conf conf = {0};
    struct keys_broker *b;
    struct keys_kbs_session *s;
    char u[64];
    uint8_t *v;
    size_t len;
    (void)state_;
    conf.state_dir = state;
    conf.admin_token = TOKEN;
    conf.sim_root = sim;
    conf.session_ttl = 2;
    assert_int_equal(keys_broker_start(&conf, &b), 0);
    snprintf(u, sizeof u, "http://127.0.0.1:%u", keys_broker_port(b));
    /* A slow machine (sanitizers, load) may take longer than the TTL between auth and attest;
     * the session then expires early. What is checked is that an attested session past its TTL
     * gets nothing, so retry until one attestation fits in the TTL. */
    for (int attempt = 0;; attempt++) {
        int rc;
        assert_int_equal(keys_kbs_session_new(u, NULL, NULL, &s), 0);
        assert_int_equal(keys_kbs_auth(s), 0);
        if ((rc = keys_kbs_attest(s, spec, NULL, NULL, 0)) == 0)
            break;
        keys_kbs_session_free(s);
        assert_int_equal(rc, EACCES);
        assert_true(attempt < 5);
    }
    sleep(3);
    expect_refusal(keys_kbs_get_resource(s, "ccrfs/dek/good", &v, &len), EACCES, "expired");
    keys_kbs_session_free(s);
    keys_broker_stop(b);
}

static void test_untrusted_root(void **state_)
{
    struct keys_broker_conf conf = {0};
    struct keys_broker *b;
    char u[64];
    uint8_t *v;
    size_t len;
    (void)state_;
    conf.state_dir = state;
    conf.admin_token = TOKEN; /* no sim_root: only AMD's roots */
    assert_int_equal(keys_broker_start(&conf, &b), 0);
    snprintf(u, sizeof u, "http://127.0.0.1:%u", keys_broker_port(b));
    expect_refusal(keys_kbs_fetch(u, NULL, "ccrfs/dek/good", spec, &v, &len, NULL, 0), EACCES,
                   "not issued by any trusted root");
    keys_broker_stop(b);
    /* And a broker that is not there at all. */
    expect_refusal(keys_kbs_fetch(u, NULL, "ccrfs/dek/good", spec, &v, &len, NULL, 0), ECONNREFUSED,
                   "connection refused");
}

static void test_admin(void **state_)
{
    struct keys_http *h;
    struct keys_http_reply r;
    static const char good[] =
        "{\"policy\":{\"allOf\":[{\"claim\":\"debug\",\"equals\":false}]},\"value\":\"AAEC\"}";
    static const char bad_policy[] =
        "{\"policy\":{\"allOf\":[{\"claim\":\"debugg\",\"equals\":false}]},\"value\":\"AAEC\"}";
    (void)state_;
    assert_int_equal(keys_http_open(url, NULL, &h), 0);
    assert_int_equal(
        keys_http_do(h, "PUT", "/admin/v0/resource/a/b/c", good, strlen(good), "wrong-token", &r), 0);
    assert_int_equal(r.status, 401);
    keys_http_reply_free(&r);
    assert_int_equal(keys_http_do(h, "PUT", "/admin/v0/resource/a/b/c", good, strlen(good), NULL, &r), 0);
    assert_int_equal(r.status, 401);
    keys_http_reply_free(&r);
    assert_int_equal(
        keys_http_do(h, "PUT", "/admin/v0/resource/a/b/c", bad_policy, strlen(bad_policy), TOKEN, &r), 0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "unknown claim 'debugg'"));
    keys_http_reply_free(&r);
    assert_int_equal(keys_http_do(h, "PUT", "/admin/v0/resource/a/b/c", good, strlen(good), TOKEN, &r), 0);
    assert_int_equal(r.status, 201);
    keys_http_reply_free(&r);
    assert_int_equal(keys_http_do(h, "GET", "/admin/v0/resources", NULL, 0, TOKEN, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"a/b/c\""));
    assert_null(strstr(r.body, "AAEC")); /* values never leave through the admin API */
    keys_http_reply_free(&r);
    assert_int_equal(keys_http_do(h, "DELETE", "/admin/v0/resource/a/b/c", NULL, 0, TOKEN, &r), 0);
    assert_int_equal(r.status, 204);
    keys_http_reply_free(&r);
    assert_int_equal(keys_http_do(h, "DELETE", "/admin/v0/resource/a/b/c", NULL, 0, TOKEN, &r), 0);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "\"detail\":\"no resource named a/b/c\""));
    keys_http_reply_free(&r);
    /* The protocol refuses an old client with the reason. */
    static const char old[] = "{\"version\":\"0.1.0\",\"tee\":\"snp\"}";
    assert_int_equal(keys_http_do(h, "POST", "/kbs/v0/auth", old, strlen(old), NULL, &r), 0);
    assert_int_equal(r.status, 401);
    expect_refusal(keys_http_refusal(&r, "auth"), EACCES,
                   "Version Mismatch: expect =0.4.0 while the request is 0.1.0");
    keys_http_reply_free(&r);
    keys_http_close(h);
}

/* The broker URL a release reports (logged, recorded in governance events) has no
 * credentials or query in it. */
static void test_release_info_scrubbed(void **state_)
{
    struct keys_release_request req = {0};
    struct keys_release_info info = {0};
    struct fmt_dek *dek = NULL;
    char u[128];
    (void)state_;
    snprintf(u, sizeof u, "http://user:SECRET@%s", url + strlen("http://"));
    req.kbs_url = u;
    req.resource = "ccrfs/dek/good";
    req.attest = spec;
    assert_int_equal(keys_release_obtain(&req, &dek, &info), 0);
    fmt_dek_free(dek);
    assert_non_null(strstr(info.broker, "127.0.0.1"));
    assert_null(strstr(info.broker, "SECRET"));
}

/* A broker URL with credentials in it: no message shows them. */
static void test_messages_scrubbed(void **state_)
{
    struct keys_http *h;
    struct keys_http_reply r;
    (void)state_;
    /* Port 1 on loopback: nobody listens there. */
    assert_int_equal(keys_http_open("http://user:SECRET@127.0.0.1:1/kbs?sig=SECRET2", NULL, &h), 0);
    assert_int_equal(keys_http_do(h, "POST", "/kbs/v0/auth", "{}", 2, NULL, &r), ECONNREFUSED);
    assert_non_null(strstr(ccr_err_msg(ECONNREFUSED), "connection refused"));
    assert_null(strstr(ccr_err_msg(ECONNREFUSED), "SECRET"));
    keys_http_close(h);
    assert_int_equal(keys_http_open("ftp://user:SECRET@host/x", NULL, &h), EINVAL);
    assert_null(strstr(ccr_err_msg(EINVAL), "SECRET"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_release),
        cmocka_unit_test(test_release_rsa),
        cmocka_unit_test(test_nonce_replayed),
        cmocka_unit_test(test_report_data_mismatch),
        cmocka_unit_test(test_tampered_signature),
        cmocka_unit_test(test_not_attested),
        cmocka_unit_test(test_policy_refusals),
        cmocka_unit_test(test_debug_and_vmpl),
        cmocka_unit_test(test_expired_session),
        cmocka_unit_test(test_untrusted_root),
        cmocka_unit_test(test_admin),
        cmocka_unit_test(test_messages_scrubbed),
        cmocka_unit_test(test_release_info_scrubbed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
