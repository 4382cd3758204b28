/* The broker and Azure vTPM evidence (tee "az-snp-vtpm"), with Trustee's own evidence
 * (../shared/testvectors/trustee/az-snp-vtpm/; SKIPPED when absent).
 *
 * How these vectors can reach the broker: each quote's nonce is a fixed value (Trustee's tests
 * give the verifier "challenge" or a SHA-384 whose preimage, a nonce and tee-pubkey of some past
 * session, is not published), while the broker demands the SHA-384 of this session's
 * runtime-data. No session can reproduce them, and a switch that lets a test choose the expected
 * report data would be a way around the binding. So the accepting path is tested one step below
 * HTTP, at keys_broker_vtpm_check (the function the /attest handler calls with the runtime-data
 * hash), with the report data Trustee's tests use; and the broker itself is driven over
 * loopback for the Request naming the tee and for the refusals: the vectors sent in a real
 * session fail the quote's nonce check (only that step makes this refusal), a wrong
 * runtime-data nonce, a tampered quote, malformed evidence and a SHA-384 init-data are each a
 * Trustee AttestationError, and no refused session gets a resource. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/encoding.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/log.h"
#include "keys/attest/roots.h"
#include "keys/broker/broker.h"
#include "keys/broker/policy.h"
#include "keys/broker/store.h"
#include "keys/broker/vtpm.h"
#include "keys/kbs/http.h"
#include "keys/kbs/jwe.h"

#include <errno.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TOKEN  "test-admin-token-0123456789"
#define ERR    "https://github.com/confidential-containers/kbs/errors/"
#define PINNED ((time_t)1748736000) /* 2025-06-01T00:00:00Z: every vector's VCEK is valid */

/* guest-components' Request for this tee (kbs-types 0.18 renames AzSnpVtpm "az-snp-vtpm"). */
#define REQUEST                                                                                              \
    "{\"version\":\"0.4.0\",\"tee\":\"az-snp-vtpm\",\"extra-params\":{\"supported-hash-algorithms\":"        \
    "[\"sha256\",\"sha384\",\"sha512\",\"sm3\"]}}"

static char vec_dir[512], dir[] = "/tmp/ccrfs-test-broker-vtpm-XXXXXX", state[300], url[64];
static struct keys_broker *broker;
static struct keys_snp_roots *amd;

/* Report data Trustee's tests verify each vector with (deps/verifier/src/az_snp_vtpm/mod.rs). */
static const struct vector {
    const char *file, *report_data_hex, *product;
} vectors[] = {
    {"evidence-v0.json", "6368616c6c656e6765", "Milan"},
    {"evidence-v1.json", "6368616c6c656e6765", "Milan"},
    {"evidence-v2.json",
     "982f5c6e45df0ed3f10b6f60b02f0c8390e281300f3805e2279c16168cd6ae9aa398f647caa2338748cd0fd9f5f819ef",
     "Milan"},
    {"evidence-genoa.json",
     "0218488bae25d2509232bf676f1a66a30d7372add909109b36016ef136f2938ca05475f8b46094de6b64270ea35d950f",
     "Genoa"},
};

static int have_vectors(void)
{
    struct stat st;
    snprintf(vec_dir, sizeof vec_dir, "%s/trustee/az-snp-vtpm", CCRFS_TESTVECTORS);
    return stat(vec_dir, &st) == 0 && S_ISDIR(st.st_mode);
}

static struct json_object *load(const char *file)
{
    char path[700];
    struct json_object *o;
    snprintf(path, sizeof path, "%s/%s", vec_dir, file);
    o = json_object_from_file(path);
    assert_non_null(o);
    return o;
}

static int setup(void **state_)
{
    struct keys_broker_conf conf = {0};
    struct keys_rstore *rs;
    (void)state_;
    ccr_log_set_level(CCR_LOG_ERROR);
    if (mkdtemp(dir) == NULL || keys_snp_roots_amd(&amd) != 0)
        return -1;
    snprintf(state, sizeof state, "%s/state", dir);
    if (keys_rstore_open(state, &rs) != 0 ||
        keys_rstore_put(rs, "ccrfs/dek/any", "{\"allOf\":[{\"claim\":\"debug\",\"equals\":false}]}",
                        (const uint8_t *)"0123456789abcdef0123456789abcdef", 32) != 0)
        return -1;
    keys_rstore_close(rs);
    conf.state_dir = state;
    conf.admin_token = TOKEN;
    conf.no_kds = 1;
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
    keys_snp_roots_free(amd);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The step the broker runs, with a vector's own report data. */
static int check(const struct vector *v, struct json_object *ev, unsigned min_version, struct json_object **c)
{
    struct keys_broker_vtpm_opts opts = {.min_report_version = min_version, .at = PINNED};
    uint8_t rd[64];
    size_t n = strlen(v->report_data_hex) / 2;
    int is_test = -1, rc;
    assert_int_equal(ccr_hex_decode(v->report_data_hex, rd, n), 0);
    rc = keys_broker_vtpm_check(ev, rd, n, NULL, amd, &opts, c, &is_test);
    if (rc == 0)
        assert_int_equal(is_test, 0);
    return rc;
}

static void expect_refusal(int rc, int code, const char *words)
{
    if (rc != code || strstr(ccr_err_msg(rc), words) == NULL)
        fail_msg("expected error %d with '%s', got %d: %s", code, words, rc, ccr_err_msg(rc));
}

static void test_vectors_accepted_by_the_broker_step(void **state_)
{
    static const char pol_text[] =
        "{\"allOf\":[{\"claim\":\"product\",\"equals\":\"Genoa\"},"
        "{\"claim\":\"signing_key\",\"equals\":\"VCEK\"},"
        "{\"claim\":\"vmpl\",\"equals\":0},{\"claim\":\"debug\",\"equals\":false}]}";
    struct keys_policy *pol;
    (void)state_;
    assert_int_equal(keys_policy_parse(pol_text, strlen(pol_text), &pol), 0);
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        struct json_object *ev = load(vectors[i].file), *c = NULL, *t;
        char reason[300], want[300];
        int rc = check(&vectors[i], ev, 0, &c);
        if (rc != 0)
            fail_msg("%s: %s", vectors[i].file, ccr_err_msg(rc));
        assert_true(json_object_object_get_ex(c, "tee", &t));
        assert_string_equal(json_object_get_string(t), "az-snp-vtpm");
        assert_true(json_object_object_get_ex(c, "report_data", &t));
        assert_string_equal(json_object_get_string(t), vectors[i].report_data_hex);
        /* the claims go through the same release policy as SNP evidence */
        if (strcmp(vectors[i].product, "Genoa") == 0) {
            assert_int_equal(keys_policy_eval(pol, c, reason, sizeof reason), 0);
        } else {
            snprintf(want, sizeof want, "claim product is %s, the policy requires Genoa", vectors[i].product);
            assert_int_equal(keys_policy_eval(pol, c, reason, sizeof reason), EACCES);
            assert_string_equal(reason, want);
        }
        json_object_put(c);
        c = NULL;
        /* a broker demanding newer reports refuses these version 3 ones, with the claims for its log */
        expect_refusal(check(&vectors[i], ev, 4, &c), EACCES,
                       "the SNP report inside the HCL report is version 3; this broker demands 4 or later");
        assert_non_null(c);
        json_object_put(c);
        c = NULL;
        assert_int_equal(check(&vectors[i], ev, 3, &c), 0);
        json_object_put(c);
        json_object_put(ev);
    }
    keys_policy_free(pol);
}

static void test_step_refusals(void **state_)
{
    struct vector wrong = vectors[3];
    struct json_object *ev = load(wrong.file), *c = NULL;
    (void)state_;
    /* the runtime-data hash of another session */
    wrong.report_data_hex =
        "1218488bae25d2509232bf676f1a66a30d7372add909109b36016ef136f2938ca05475f8b46094de6b64270ea35d950f";
    expect_refusal(check(&wrong, ev, 0, &c), EBADMSG, "TPM quote nonce doesn't match expected report_data");
    assert_null(c);
    json_object_put(ev);
    expect_refusal(check(&vectors[0], NULL, 0, &c), EINVAL, "not a JSON object");
    ev = json_object_new_string("evidence");
    expect_refusal(check(&vectors[0], ev, 0, &c), EINVAL, "not a JSON object");
    json_object_put(ev);
}

/* --- over loopback --- */

struct session {
    struct keys_http *h;
    char nonce[64];
    EVP_PKEY *key;
    struct json_object *jwk;
};

static void session_open(struct session *s, const char *request)
{
    struct keys_http_reply r;
    struct json_object *o, *n;
    memset(s, 0, sizeof *s);
    assert_int_equal(keys_http_open(url, NULL, &s->h), 0);
    assert_int_equal(keys_http_do(s->h, "POST", "/kbs/v0/auth", request, strlen(request), NULL, &r), 0);
    assert_int_equal(r.status, 200);
    o = json_tokener_parse(r.body);
    assert_non_null(o);
    assert_true(json_object_object_get_ex(o, "nonce", &n));
    snprintf(s->nonce, sizeof s->nonce, "%s", json_object_get_string(n));
    json_object_put(o);
    keys_http_reply_free(&r);
    assert_int_equal(keys_jwk_generate(KEYS_JWE_ALG_ECDH, &s->key), 0);
    s->jwk = keys_jwk_public(s->key, KEYS_JWE_ALG_ECDH);
    assert_non_null(s->jwk);
}

static void session_close(struct session *s)
{
    keys_http_close(s->h);
    EVP_PKEY_free(s->key);
    json_object_put(s->jwk);
}

/* The Attestation as guest-components sends it, with `evidence` (taken) as primary evidence. */
static void attest(struct session *s, const char *nonce, struct json_object *evidence,
                   struct json_object *init, struct keys_http_reply *r)
{
    struct json_object *a = json_object_new_object(), *rt = json_object_new_object(),
                       *te = json_object_new_object();
    const char *body;
    json_object_object_add(rt, "nonce", json_object_new_string(nonce ? nonce : s->nonce));
    json_object_object_add(rt, "tee-pubkey", json_object_get(s->jwk));
    json_object_object_add(te, "primary_evidence", evidence);
    json_object_object_add(te, "additional_evidence", json_object_new_string(""));
    json_object_object_add(a, "init-data", init);
    json_object_object_add(a, "runtime-data", rt);
    json_object_object_add(a, "tee-evidence", te);
    body = json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    assert_int_equal(keys_http_do(s->h, "POST", "/kbs/v0/attest", body, strlen(body), NULL, r), 0);
    json_object_put(a);
}

/* A Trustee error: the status, the type, and words of the detail. */
static void expect_kbs_error(struct keys_http_reply *r, long status, const char *variant, const char *words)
{
    struct json_object *o = json_tokener_parse(r->body), *t, *d;
    char want[200];
    snprintf(want, sizeof want, ERR "%s", variant);
    if (r->status != status || o == NULL || !json_object_object_get_ex(o, "type", &t) ||
        strcmp(json_object_get_string(t), want) != 0 || !json_object_object_get_ex(o, "detail", &d) ||
        json_object_object_length(o) != 2 || strstr(json_object_get_string(d), words) == NULL)
        fail_msg("expected %ld %s with '%s', got %ld %s", status, variant, words, r->status, r->body);
    json_object_put(o);
    keys_http_reply_free(r);
}

/* A refused session gets no resource. */
static void expect_no_release(struct session *s)
{
    struct keys_http_reply r;
    assert_int_equal(keys_http_do(s->h, "GET", "/kbs/v0/resource/ccrfs/dek/any", NULL, 0, NULL, &r), 0);
    expect_kbs_error(&r, 401, "TokenNotFound", "Attestation Token not found");
}

static void test_request_names_the_tee(void **state_)
{
    struct session s;
    struct keys_http *h;
    struct keys_http_reply r;
    static const char old_name[] = "{\"version\":\"0.4.0\",\"tee\":\"azsnpvtpm\",\"extra-params\":\"\"}";
    (void)state_;
    session_open(&s, REQUEST);
    assert_int_equal(strlen(s.nonce), 44);
    session_close(&s);
    /* kbs-types before 0.18 spelt it "azsnpvtpm"; Trustee 0.4.0 does not know that name */
    assert_int_equal(keys_http_open(url, NULL, &h), 0);
    assert_int_equal(keys_http_do(h, "POST", "/kbs/v0/auth", old_name, strlen(old_name), NULL, &r), 0);
    expect_kbs_error(&r, 401, "AttestationError", "TEE type azsnpvtpm is not supported");
    keys_http_close(h);
}

static void test_vector_in_a_live_session_is_refused(void **state_)
{
    struct session s;
    struct keys_http_reply r;
    (void)state_;
    /* The vector's quote carries another session's nonce: the broker's runtime-data hash is not it. */
    session_open(&s, REQUEST);
    attest(&s, NULL, load("evidence-genoa.json"), NULL, &r);
    expect_kbs_error(
        &r, 401, "AttestationError",
        "RCAR handshake Attest failed: evidence: TPM quote nonce doesn't match expected report_data");
    expect_no_release(&s);
    /* the session's nonce is spent */
    attest(&s, NULL, load("evidence-genoa.json"), NULL, &r);
    expect_kbs_error(&r, 401, "AttestationError", "nonce was already used");
    session_close(&s);
}

static void test_wrong_nonce(void **state_)
{
    struct session s;
    struct keys_http_reply r;
    (void)state_;
    session_open(&s, REQUEST);
    attest(&s, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", load("evidence-v2.json"), NULL, &r);
    expect_kbs_error(&r, 401, "AttestationError",
                     "the nonce in the handshake session is different from the client side");
    expect_no_release(&s);
    session_close(&s);
}

static void test_tampered_quote(void **state_)
{
    struct session s;
    struct keys_http_reply r;
    struct json_object *ev = load("evidence-v2.json"), *q, *sig;
    char *hex;
    (void)state_;
    assert_true(json_object_object_get_ex(ev, "tpm_quote", &q));
    assert_true(json_object_object_get_ex(q, "signature", &sig));
    hex = strdup(json_object_get_string(sig));
    hex[21] = hex[21] == '0' ? '1' : '0';
    json_object_object_add(q, "signature", json_object_new_string(hex));
    free(hex);
    session_open(&s, REQUEST);
    attest(&s, NULL, ev, NULL, &r);
    expect_kbs_error(&r, 401, "AttestationError", "vTPM quote is not signed by the AK in the HCL report");
    expect_no_release(&s);
    session_close(&s);
}

static void test_malformed_and_mismatched(void **state_)
{
    struct session s;
    struct keys_http_reply r;
    struct json_object *init;
    (void)state_;
    session_open(&s, REQUEST);
    attest(&s, NULL, json_object_new_string("not evidence"), NULL, &r);
    expect_kbs_error(&r, 401, "AttestationError", "Deserialize Azure vTPM SEV-SNP evidence failed");
    session_close(&s);
    /* the session's tee decides the verifier: vTPM evidence in an "snp" session is not SNP evidence */
    session_open(&s, "{\"version\":\"0.4.0\",\"tee\":\"snp\",\"extra-params\":\"\"}");
    attest(&s, NULL, load("evidence-v2.json"), NULL, &r);
    expect_kbs_error(&r, 401, "AttestationError", "Deserialize SNP Evidence failed");
    session_close(&s);
    /* PCR8 holds a SHA-256 binding: a SHA-384 init-data cannot be checked, so it is refused */
    session_open(&s, REQUEST);
    init = json_object_new_object();
    json_object_object_add(init, "format", json_object_new_string("toml"));
    json_object_object_add(init, "body",
                           json_object_new_string("algorithm = \"sha384\"\nversion = \"0.1.0\"\n"));
    attest(&s, NULL, load("evidence-v2.json"), init, &r);
    expect_kbs_error(&r, 401, "AttestationError", "az-snp-vtpm binds a 32-byte digest in PCR8");
    expect_no_release(&s);
    session_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_accepted_by_the_broker_step),
        cmocka_unit_test(test_step_refusals),
        cmocka_unit_test(test_request_names_the_tee),
        cmocka_unit_test(test_vector_in_a_live_session_is_refused),
        cmocka_unit_test(test_wrong_nonce),
        cmocka_unit_test(test_tampered_quote),
        cmocka_unit_test(test_malformed_and_mismatched),
    };
    if (!have_vectors()) {
        printf("SKIPPED: %s is absent\n", vec_dir);
        return 0;
    }
    return cmocka_run_group_tests(tests, setup, teardown);
}
