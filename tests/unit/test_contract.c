/* The contract parser: a known-answer vector for the signed bytes, every validation rule
 * refusing with a message naming the field, and party signatures. */
#include "common/err.h"
#include "common/fileio.h"
#include "governance/contract.h"
#include "governance/sign.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KAT_KEY "MCowBQYDK2VwAyEA2lc+myy84XU8Yvc1RYescKm1zRVD8iuBWx/vBTUPSeQ="
#define DS_AB   "sha256:abababababababababababababababababababababababababababababababab"
#define DS_CD   "sha256:cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"

/* Written with whitespace and keys out of order on purpose: canonical form must not care. */
static const char kat[] =
    "{ \"purpose\": \"TRAINING\", \"id\": \"contract-kat-1\",\n"
    "  \"parties\": [ {\"role\": \"data-provider\", \"id\": \"provider\", \"publicKey\": \"" KAT_KEY "\"},\n"
    "               {\"id\": \"consumer\", \"role\": \"data-consumer\", \"publicKey\": \"" KAT_KEY "\"} ],\n"
    "  \"startTime\": \"2026-01-01T00:00:00Z\", \"expiryTime\": \"2027-01-01T00:00:00Z\",\n"
    "  \"datasets\": [\n"
    "    {\"id\": \"" DS_AB
    "\", \"name\": \"icmr\", \"provider\": \"provider\", \"accessMode\": \"read-only\",\n"
    "     \"maxMounts\": 3, \"maxBytesPerMount\": 1048576},\n"
    "    {\"id\": \"" DS_CD "\", \"provider\": \"consumer\", \"accessMode\": \"sink\", \"maxMounts\": 1,\n"
    "     \"recipient\": \"provider\"} ],\n"
    "  \"terms\": {\"note\": \"a/b\", \"n\": [1, 2]} }\n";

/* SHA-256 of "ccrfs-contract-v1\n" + the canonical JSON, computed independently. */
static const char kat_digest[] = "9f56f17e075b81442401df3b25b65a5b6cda736e41fb9f1724da1cbfc42b044f";

static void test_known_answer(void **state)
{
    struct gov_contract *c;
    (void)state;
    assert_int_equal(gov_contract_parse(kat, strlen(kat), &c), 0);
    assert_string_equal(c->digest, kat_digest);
    assert_string_equal(c->id, "contract-kat-1");
    assert_int_equal(c->nparties, 2);
    assert_int_equal(c->ndatasets, 2);
    assert_int_equal(c->datasets[0].mode, GOV_MODE_READ_ONLY);
    assert_int_equal(c->datasets[0].max_mounts, 3);
    assert_int_equal(c->datasets[0].max_bytes_per_mount, 1048576);
    assert_false(c->datasets[0].plaintext_hash); /* not offered unless the contract says so */
    assert_int_equal(c->datasets[1].mode, GOV_MODE_SINK);
    assert_string_equal(c->datasets[1].recipient, "provider");
    assert_int_equal(c->datasets[1].max_bytes_per_mount, 0);
    assert_int_equal(c->start_ms, 1767225600000LL);
    assert_non_null(gov_contract_dataset(c, DS_CD));
    assert_null(gov_contract_dataset(c, "sha256:00"));
    assert_non_null(strstr(c->canonical, "\"note\":\"a/b\""));
    gov_contract_free(c);
}

/* Replaces the first occurrence of from with to in the KAT and expects a refusal whose
 * message contains want. */
static void expect_refused(const char *from, const char *to, const char *want)
{
    const char *at = strstr(kat, from);
    char buf[8192];
    struct gov_contract *c = NULL;
    int rc;

    assert_non_null(at);
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - kat), kat, to, at + strlen(from));
    ccr_err_clear();
    rc = gov_contract_parse(buf, strlen(buf), &c);
    if (rc == 0 || strstr(ccr_err_msg(rc), want) == NULL)
        print_message("replacing '%s' with '%s': rc %d, message '%s', wanted '%s'\n", from, to, rc,
                      ccr_err_msg(rc), want);
    assert_int_not_equal(rc, 0);
    assert_null(c);
    assert_non_null(strstr(ccr_err_msg(rc), want));
}

static void test_plaintext_hash_offered(void **state)
{
    const char *from = "\"maxMounts\": 3,", *at = strstr(kat, from);
    char buf[8192];
    struct gov_contract *c = NULL;
    (void)state;
    assert_non_null(at);
    snprintf(buf, sizeof buf, "%.*s\"maxMounts\": 3, \"plaintextHash\": true,%s", (int)(at - kat), kat,
             at + strlen(from));
    assert_int_equal(gov_contract_parse(buf, strlen(buf), &c), 0);
    assert_true(c->datasets[0].plaintext_hash);
    assert_false(c->datasets[1].plaintext_hash);
    assert_non_null(strstr(c->canonical, "\"plaintextHash\":true")); /* signed with the rest */
    gov_contract_free(c);
}

static void test_refusals(void **state)
{
    (void)state;
    expect_refused("\"purpose\": \"TRAINING\",", "\"purpose\": \"TRAINING\", \"extra\": 1,",
                   "unknown field \"extra\"");
    expect_refused("\"id\": \"contract-kat-1\",", "", "\"id\" is missing");
    expect_refused("contract-kat-1", "contract kat", "\"id\" may hold only");
    expect_refused("\"purpose\": \"TRAINING\",", "\"purpose\": 7,", "\"purpose\" must be a string");
    expect_refused("\"purpose\": \"TRAINING\",", "\"purpose\": \"\",", "\"purpose\" must have 1 to");
    expect_refused("2027-01-01T00:00:00Z", "2025-01-01T00:00:00Z", "\"expiryTime\" must be after");
    expect_refused("2027-01-01T00:00:00Z", "2027-01-01 00:00:00", "expiryTime");
    expect_refused("2026-01-01T00:00:00Z", "2026-02-30T00:00:00Z", "no such date");
    expect_refused("\"id\": \"consumer\"", "\"id\": \"provider\"", "appears twice");
    expect_refused(DS_AB, "sha256:ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB",
                   "64 lowercase hex");
    expect_refused(DS_AB, "sha256:abab", "64 lowercase hex");
    expect_refused(DS_CD, DS_AB, "appears twice");
    expect_refused("\"accessMode\": \"read-only\"", "\"accessMode\": \"read-write\"",
                   "read-only, no-egress or sink");
    expect_refused(",\n     \"recipient\": \"provider\"", "", "needs a \"recipient\"");
    expect_refused("\"maxMounts\": 3,", "\"maxMounts\": 3, \"recipient\": \"consumer\",", "only to sink");
    expect_refused("\"recipient\": \"provider\"", "\"recipient\": \"nobody\"",
                   "recipient \"nobody\" is not one");
    expect_refused("\"provider\": \"provider\", \"accessMode\"", "\"provider\": \"x\", \"accessMode\"",
                   "not one of the parties");
    expect_refused("\"maxMounts\": 3", "\"maxMounts\": 0", "\"maxMounts\" must be at least 1");
    expect_refused("\"maxMounts\": 3", "\"maxMounts\": \"3\"", "must be an integer");
    expect_refused("\"maxMounts\": 3,", "\"maxMounts\": 3, \"plaintextHash\": \"yes\",",
                   "\"plaintextHash\" must be true or false");
    expect_refused(", \"maxMounts\": 1,", ",", "\"maxMounts\" is missing");
    expect_refused("\"n\": [1, 2]", "\"n\": [1.5]", "fractional");
    expect_refused(KAT_KEY "\"},", "bm90IGEga2V5\"},", "publicKey");
    expect_refused("\"parties\": [", "\"parties\": [], \"x\": [", "unknown field");
    expect_refused("} }\n", "} } }", "not valid JSON");
    expect_refused("{ \"purpose\"", "[{ \"purpose\"", "not valid JSON");
    expect_refused("\"TRAINING\"", "\"TRAIN\xff\xfeING\"", "not valid JSON"); /* not UTF-8 */
}

static void test_not_object_and_size(void **state)
{
    struct gov_contract *c = NULL;
    char *big;
    (void)state;
    assert_int_equal(gov_contract_parse("[]", 2, &c), EINVAL);
    assert_int_equal(gov_contract_parse("", 0, &c), EINVAL);
    big = calloc(1, GOV_CONTRACT_MAX_BYTES + 2);
    memset(big, ' ', GOV_CONTRACT_MAX_BYTES + 1);
    assert_int_equal(gov_contract_parse(big, GOV_CONTRACT_MAX_BYTES + 1, &c), EFBIG);
    free(big);
}

static void sign_roundtrip(const char *alg)
{
    char dir[] = "/tmp/test_contract.XXXXXX", *keyf, *pub, *doc, *bytes, *sig, *rbytes;
    struct gov_key *k;
    struct gov_contract *c;
    size_t len, rlen;
    const char *at;

    assert_non_null(mkdtemp(dir));
    keyf = ccr_path_join(dir, "party.pem");
    assert_int_equal(gov_key_generate_file(keyf, alg), 0);
    assert_int_equal(gov_key_generate_file(keyf, alg), EEXIST);
    assert_int_equal(gov_key_load_private(keyf, &k), 0);
    assert_string_equal(gov_key_alg(k), alg);
    assert_int_equal(gov_key_public_b64(k, &pub), 0);
    /* The KAT with the provider's key replaced by ours. */
    at = strstr(kat, KAT_KEY);
    len = strlen(kat) + strlen(pub) + 1;
    doc = malloc(len);
    snprintf(doc, len, "%.*s%s%s", (int)(at - kat), kat, pub, at + strlen(KAT_KEY));
    assert_int_equal(gov_contract_parse(doc, strlen(doc), &c), 0);
    assert_int_equal(gov_contract_signed_bytes(c, &bytes, &len), 0);
    assert_int_equal(gov_key_sign_b64(k, bytes, len, &sig), 0);
    assert_int_equal(gov_contract_check_sig(c, "provider", bytes, len, sig), 0);
    /* The consumer's key is the KAT key: our signature is not theirs. */
    assert_int_equal(gov_contract_check_sig(c, "consumer", bytes, len, sig), EBADMSG);
    assert_int_equal(gov_contract_check_sig(c, "nobody", bytes, len, sig), ENOENT);
    bytes[len - 2] ^= 1;
    assert_int_equal(gov_contract_check_sig(c, "provider", bytes, len, sig), EBADMSG);
    assert_int_equal(gov_contract_check_sig(c, "provider", bytes, len, "!!"), EINVAL);
    assert_int_equal(gov_contract_revoke_bytes(c, &rbytes, &rlen), 0);
    assert_non_null(strstr(rbytes, c->digest));
    free(rbytes);
    free(sig);
    free(bytes);
    gov_contract_free(c);
    free(doc);
    free(pub);
    gov_key_free(k);
    unlink(keyf);
    free(keyf);
    rmdir(dir);
}

static void test_signatures_ed25519(void **state)
{
    (void)state;
    sign_roundtrip("ed25519");
}

static void test_signatures_p256(void **state)
{
    (void)state;
    sign_roundtrip("p256");
}

/* Random byte edits, cuts and splices of a valid contract: the parser never crashes (the
 * sanitizer build checks memory), and every refusal carries a message. */
static void test_mutations(void **state)
{
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    size_t n = strlen(kat), accepted = 0;
    char *buf = malloc(n + 64);
    (void)state;
    for (int round = 0; round < 3000; round++) {
        size_t len = n;
        struct gov_contract *c = NULL;
        int edits, rc;
        memcpy(buf, kat, n);
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        edits = 1 + (int)(x % 4);
        for (int e = 0; e < edits; e++) {
            size_t at;
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            at = (size_t)(x >> 8) % len;
            switch (x % 4) {
            case 0:
                buf[at] = (char)(x >> 40);
                break; /* replace a byte */
            case 1:
                len = at + 1;
                break; /* cut */
            case 2:
                buf[at] = "{}[]\",:0-.e\\"[(x >> 32) % 13];
                break; /* a JSON character */
            default:
                memmove(buf + at, buf + at + 1, len - at - 1);
                len--;
                break; /* delete a byte */
            }
            if (len == 0)
                len = 1;
        }
        ccr_err_clear();
        rc = gov_contract_parse(buf, len, &c);
        if (rc == 0) {
            accepted++;
            assert_non_null(c);
            gov_contract_free(c);
        } else {
            assert_null(c);
            assert_true(strlen(ccr_err_msg(rc)) > 0);
        }
    }
    free(buf);
    print_message("mutations accepted (still valid contracts): %zu of 3000\n", accepted);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answer),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_plaintext_hash_offered),
        cmocka_unit_test(test_not_object_and_size),
        cmocka_unit_test(test_signatures_ed25519),
        cmocka_unit_test(test_signatures_p256),
        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
