/* Mount admission under a contract: the signed-contract envelope parser, each refusal
 * reason of gov_admit, and the recipient key's dataset id (known answers from openssl). */
#include "common/err.h"
#include "common/fileio.h"
#include "governance/admission.h"
#include "governance/contract.h"
#include "governance/sign.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DS_A "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DS_S "sha256:9d724de21a9f7efe6f5f9c75d273937cce99bebc0f77364a3048a605ce495c86"
/* 2026-07-01T00:00:00Z and 2026-12-31T23:59:59Z in ms */
#define START_MS  1782864000000LL
#define EXPIRY_MS 1798761599000LL

static char tmpdir[64];
static struct gov_key *kp, *kc;
static char *pub_p, *pub_c;

static int setup(void **state)
{
    char *p;
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_admission.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    p = ccr_path_join(tmpdir, "p.pem");
    assert_int_equal(gov_key_generate_file(p, "ed25519"), 0);
    assert_int_equal(gov_key_load_private(p, &kp), 0);
    free(p);
    p = ccr_path_join(tmpdir, "c.pem");
    assert_int_equal(gov_key_generate_file(p, "p256"), 0);
    assert_int_equal(gov_key_load_private(p, &kc), 0);
    free(p);
    assert_int_equal(gov_key_public_b64(kp, &pub_p), 0);
    assert_int_equal(gov_key_public_b64(kc, &pub_c), 0);
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    gov_key_free(kp);
    gov_key_free(kc);
    free(pub_p);
    free(pub_c);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A contract with a read-only dataset DS_A and a sink dataset DS_S for the consumer. */
static char *contract_text(void)
{
    char *t = malloc(4096);
    snprintf(t, 4096,
             "{\"id\":\"c1\",\"purpose\":\"TRAINING\","
             "\"parties\":[{\"id\":\"prov\",\"role\":\"data-provider\",\"publicKey\":\"%s\"},"
             "{\"id\":\"cons\",\"role\":\"data-consumer\",\"publicKey\":\"%s\"}],"
             "\"startTime\":\"2026-07-01T00:00:00Z\",\"expiryTime\":\"2026-12-31T23:59:59Z\","
             "\"datasets\":[{\"id\":\"" DS_A "\",\"provider\":\"prov\",\"accessMode\":\"read-only\","
             "\"maxMounts\":3,\"maxBytesPerMount\":1000},"
             "{\"id\":\"" DS_S "\",\"provider\":\"cons\",\"accessMode\":\"sink\",\"maxMounts\":1,"
             "\"recipient\":\"cons\"}]}",
             pub_p, pub_c);
    return t;
}

static char *sign_by(struct gov_key *k, const char *contract)
{
    struct gov_contract *c;
    char *bytes, *sig;
    size_t len;
    assert_int_equal(gov_contract_parse(contract, strlen(contract), &c), 0);
    assert_int_equal(gov_contract_signed_bytes(c, &bytes, &len), 0);
    assert_int_equal(gov_key_sign_b64(k, bytes, len, &sig), 0);
    free(bytes);
    gov_contract_free(c);
    return sig;
}

/* The envelope ccrfs gov contract show prints: {"contract":..., "signatures":{...}, ...}. */
static char *envelope(const char *contract, const char *sig_p, const char *sig_c, const char *extra)
{
    size_t n = strlen(contract) + 2048;
    char *t = malloc(n);
    snprintf(t, n, "{\"id\":\"c1\",\"status\":\"active\",\"contract\":%s,\"signatures\":{%s%s%s%s%s%s%s}%s}",
             contract, sig_p ? "\"prov\":\"" : "", sig_p ? sig_p : "", sig_p ? "\"" : "",
             sig_p && sig_c ? "," : "", sig_c ? "\"cons\":\"" : "", sig_c ? sig_c : "", sig_c ? "\"" : "",
             extra ? extra : "");
    return t;
}

static int admit(const char *text, const char *dataset, enum gov_access_mode mode, const char *purpose,
                 int64_t now, const struct gov_contract_dataset **d)
{
    struct gov_signed_contract sc;
    struct gov_admission req = {.dataset_id = dataset, .mode = mode, .purpose = purpose, .now_ms = now};
    int rc = gov_signed_contract_parse(text, strlen(text), &sc);
    if (rc != 0)
        return -rc;
    rc = gov_admit(&sc, &req, d);
    if (d != NULL && *d != NULL) /* copied out before the contract goes */
        assert_int_equal((*d)->max_bytes_per_mount, 1000);
    gov_signed_contract_release(&sc);
    return rc;
}

static void test_admits_signed(void **state)
{
    char *c = contract_text(), *sp = sign_by(kp, c), *sc = sign_by(kc, c), *env = envelope(c, sp, sc, NULL);
    const struct gov_contract_dataset *d = NULL;
    (void)state;
    assert_int_equal(admit(env, DS_A, GOV_MODE_READ_ONLY, "TRAINING", START_MS, &d), 0);
    assert_non_null(d);
    /* The sink dataset, named by the recipient key's id. */
    assert_int_equal(admit(env, DS_S, GOV_MODE_SINK, "TRAINING", EXPIRY_MS - 1, NULL), 0);
    free(c), free(sp), free(sc), free(env);
}

static void expect_refusal(const char *text, const char *dataset, enum gov_access_mode mode,
                           const char *purpose, int64_t now, const char *words)
{
    int rc = admit(text, dataset, mode, purpose, now, NULL);
    assert_int_equal(rc, EACCES);
    if (strstr(ccr_err_msg(rc), words) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", ccr_err_msg(rc), words);
}

static void test_refusals(void **state)
{
    char *c = contract_text(), *sp = sign_by(kp, c), *sc = sign_by(kc, c);
    char *full = envelope(c, sp, sc, NULL), *only_p = envelope(c, sp, NULL, NULL);
    char *swapped = envelope(c, sc, sp, NULL); /* each signature under the other party */
    char *revoked = envelope(c, sp, sc, ",\"revokedAt\":\"2026-08-01T00:00:00Z\",\"revokedBy\":\"prov\"");
    (void)state;
    expect_refusal(c, DS_A, GOV_MODE_READ_ONLY, "TRAINING", START_MS, "not signed by party prov");
    expect_refusal(only_p, DS_A, GOV_MODE_READ_ONLY, "TRAINING", START_MS, "not signed by party cons");
    expect_refusal(swapped, DS_A, GOV_MODE_READ_ONLY, "TRAINING", START_MS, "does not verify");
    expect_refusal(revoked, DS_A, GOV_MODE_READ_ONLY, "TRAINING", START_MS, "revoked");
    expect_refusal(full, DS_A, GOV_MODE_READ_ONLY, "TRAINING", START_MS - 1, "not valid yet");
    expect_refusal(full, DS_A, GOV_MODE_READ_ONLY, "TRAINING", EXPIRY_MS, "expired");
    expect_refusal(full, "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
                   GOV_MODE_READ_ONLY, "TRAINING", START_MS, "does not name dataset");
    expect_refusal(full, DS_A, GOV_MODE_NO_EGRESS, "TRAINING", START_MS, "access mode read-only");
    expect_refusal(full, DS_S, GOV_MODE_READ_ONLY, "TRAINING", START_MS, "access mode sink");
    expect_refusal(full, DS_A, GOV_MODE_READ_ONLY, "training", START_MS, "purpose");
    expect_refusal(full, DS_A, GOV_MODE_READ_ONLY, NULL, START_MS, "no --purpose");
    free(c), free(sp), free(sc), free(full), free(only_p), free(swapped), free(revoked);
}

/* A signature over a changed contract does not count. */
static void test_signature_of_other_content(void **state)
{
    char *c = contract_text(), *sp = sign_by(kp, c), *sc = sign_by(kc, c), *env;
    char *p = strstr(c, "TRAINING");
    (void)state;
    memcpy(p, "RESEARCH", 8);
    env = envelope(c, sp, sc, NULL);
    expect_refusal(env, DS_A, GOV_MODE_READ_ONLY, "RESEARCH", START_MS, "does not verify");
    free(c), free(sp), free(sc), free(env);
}

static void expect_bad(const char *text, const char *words)
{
    struct gov_signed_contract sc;
    int rc = gov_signed_contract_parse(text, strlen(text), &sc);
    assert_int_not_equal(rc, 0);
    if (strstr(ccr_err_msg(rc), words) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", ccr_err_msg(rc), words);
    assert_null(sc.c);
}

static void test_malformed_envelopes(void **state)
{
    char *c = contract_text(), buf[8192];
    (void)state;
    expect_bad("", "signed contract");
    expect_bad("[1]", "object");
    expect_bad("{\"contract\":\"x\"}", "\"contract\" must be an object");
    snprintf(buf, sizeof buf, "{\"contract\":%s,\"signatures\":[\"x\"]}", c);
    expect_bad(buf, "\"signatures\" must be an object");
    snprintf(buf, sizeof buf, "{\"contract\":%s,\"signatures\":{\"prov\":1}}", c);
    expect_bad(buf, "signatures.prov");
    snprintf(buf, sizeof buf, "{\"contract\":%s,\"signatures\":{\"mallory\":\"AAAA\"}}", c);
    expect_bad(buf, "not a party");
    snprintf(buf, sizeof buf, "{\"contract\":%s,\"signatures\":{\"prov\":\"\"}}", c);
    expect_bad(buf, "non-empty");
    snprintf(buf, sizeof buf, "{\"contract\":%s} x", c);
    expect_bad(buf, "signed contract");
    /* The contract inside is checked by the strict parser. */
    expect_bad("{\"contract\":{\"id\":\"c1\"}}", "contract");
    free(c);
}

/* Random edits of a signed envelope never crash the parser or the checks: each either parses
 * (and is then admitted or refused with a message) or is refused with a message. */
static void test_mutations(void **state)
{
    char *c = contract_text(), *sp = sign_by(kp, c), *sc = sign_by(kc, c), *env = envelope(c, sp, sc, NULL);
    size_t n = strlen(env), admitted = 0;
    uint64_t x = 0x2545f4914f6cdd1dULL;
    char *buf = malloc(n + 1);
    (void)state;
    for (int round = 0; round < 2000; round++) {
        struct gov_signed_contract s;
        struct gov_admission req = {
            .dataset_id = DS_A, .mode = GOV_MODE_READ_ONLY, .purpose = "TRAINING", .now_ms = START_MS};
        size_t len = n;
        int rc;
        memcpy(buf, env, n);
        for (int e = 0; e < 1 + round % 3; e++) {
            size_t at;
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            at = (size_t)(x >> 8) % len;
            if (x % 3 == 0)
                buf[at] = (char)(x >> 40);
            else if (x % 3 == 1)
                buf[at] = "{}[]\",:0-.e\\"[(x >> 32) % 13];
            else
                len = at + 1;
        }
        rc = gov_signed_contract_parse(buf, len, &s);
        if (rc != 0) {
            assert_true(strlen(ccr_err_msg(rc)) > 0);
            continue;
        }
        rc = gov_admit(&s, &req, NULL);
        if (rc == 0)
            admitted++;
        else
            assert_true(strlen(ccr_err_msg(rc)) > 0);
        gov_signed_contract_release(&s);
    }
    print_message("mutations still admitted: %zu of 2000\n", admitted);
    free(buf), free(c), free(sp), free(sc), free(env);
}

static void write_text(const char *name, const char *text, char **path)
{
    *path = ccr_path_join(tmpdir, name);
    assert_int_equal(ccr_write_file_atomic(*path, text, strlen(text), 0600), 0);
}

static void test_recipient_ids(void **state)
{
    /* Known answers: openssl pkey -pubin -outform DER | sha256sum. */
    static const char x25519[] = "-----BEGIN PUBLIC KEY-----\n"
                                 "MCowBQYDK2VuAyEAhVo+E7zpkHJtZr0PNt8JkHBQKOqAAClRa4y1ZUpwhw0=\n"
                                 "-----END PUBLIC KEY-----\n";
    static const char rsa[] = "-----BEGIN PUBLIC KEY-----\n"
                              "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAiAuwb/zJe5co+kU3RIAw\n"
                              "CjuRHPUcuYJVrCEs3S+jYMrT/vENBxMsQX5w9UX1DI3UOCjhKZBVSFQaQl6l2RXh\n"
                              "vaA4SxXFol47xNmawP/yqh3iFqSvYVEht50HuvaS1AJ5R3A1e56isdmLDOzCrWrX\n"
                              "zaPagnhCkmu3+EaQG0wveq5nwn2PokKyGwRYi0/7HkodAgQc8LNOjjqQvVa4XZmw\n"
                              "hQw41qnjoZZQDj5RBdi5xzuWuDGl+qYN7L6m/r7IGJKhXTciaLkbc+kZmKil4o1+\n"
                              "0gnDbLVR3umQVYk3cLV9AaQpBb4uutObcy6McpFGsyxEi+vQpNRWSm+hyIpOWHkv\n"
                              "vwIDAQAB\n"
                              "-----END PUBLIC KEY-----\n";
    char id[GOV_DATASET_ID_LEN + 1], *p;
    (void)state;
    write_text("x.pub", x25519, &p);
    assert_int_equal(gov_recipient_dataset_id(p, id), 0);
    assert_string_equal(id, DS_S);
    free(p);
    write_text("r.pub", rsa, &p);
    assert_int_equal(gov_recipient_dataset_id(p, id), 0);
    assert_string_equal(id, "sha256:2ddb208e3c4c9209720b40cdbe9e1ed817827b6f27a0cc7fa326c9832c4b03a6");
    free(p);
    write_text("bad.pub", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", &p);
    assert_int_equal(gov_recipient_dataset_id(p, id), EINVAL);
    assert_non_null(strstr(ccr_err_msg(EINVAL), "not a PEM public key"));
    free(p);
    p = ccr_path_join(tmpdir, "missing.pub");
    assert_int_equal(gov_recipient_dataset_id(p, id), ENOENT);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admits_signed),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_signature_of_other_content),
        cmocka_unit_test(test_malformed_envelopes),
        cmocka_unit_test(test_recipient_ids),
        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
