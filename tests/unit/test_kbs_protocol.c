/* The KBS protocol pieces client and broker compute alike: canonical JSON (RFC 8785),
 * report_data as Trustee checks it, the typed tee-pubkey, resource paths, Trustee's error
 * bodies, and the kbs-types JSON test vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/encoding.h"
#include "common/err.h"
#include "common/fileio.h"
#include "keys/kbs/jwe.h"
#include "keys/kbs/protocol.h"

#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char ec_jwk[] = "{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":\"ECDH-ES+A256KW\","
                             "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
                             "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}";

static void hex_to(const char *hex, uint8_t *out, size_t len)
{
    assert_int_equal(ccr_hex_decode(hex, out, len), 0);
}

/* Known answers computed independently with a short python3 serializer written from RFC 8785
 * (members sorted by UTF-16 code units; only " \ \b \f \n \r \t escaped by name, other
 * controls as \u00xx; everything else as UTF-8) and hashlib.sha384 over its UTF-8 text:
 *   jcs({"additional-evidence": ADD, "nonce": NONCE, "tee-pubkey": JWK}). */
static void test_report_data_known_answers(void **state)
{
    uint8_t rd[64], want[64] = {0};
    struct json_object *jwk = json_tokener_parse(ec_jwk);
    (void)state;

    /* 1. Trustee's SNP case with no extra devices; the same text and hash are worked out in the
     * shared notes (report_data.md section 4). */
    assert_int_equal(keys_kbs_report_data(NULL, "yp5zJ6X0bkYb1Rq0b1m8mHf8n2Yh4Qk3u8k0m8b6l2A=", jwk, "", rd),
                     0);
    hex_to("2e897bfd38af251ec214eddce13266291de8c62b11e391885f38a4582e890182b34ae683247a68c3ccc835a8fc9a821d",
           want, 48);
    assert_memory_equal(rd, want, 64); /* the hash, then 16 zero bytes */

    /* 2. Extra JWK members (use, kid, ext) are dropped as Trustee's typed TeePubKey drops them:
     * the same answer. */
    struct json_object *extra = json_tokener_parse(ec_jwk);
    json_object_object_add(extra, "use", json_object_new_string("enc"));
    json_object_object_add(extra, "kid", json_object_new_string("k1"));
    json_object_object_add(extra, "ext", json_object_new_boolean(1));
    assert_int_equal(
        keys_kbs_report_data("sha384", "yp5zJ6X0bkYb1Rq0b1m8mHf8n2Yh4Qk3u8k0m8b6l2A=", extra, "", rd), 0);
    assert_memory_equal(rd, want, 64);
    json_object_put(extra);

    /* 3. An RSA key and a non-empty additional-evidence string holding quotes, backslashes, a
     * raw newline, tab, controls 0x01/0x1f, DEL, '/', U+00E9 and U+1F600. */
    struct json_object *rsa = json_tokener_parse(
        "{\"kty\":\"RSA\",\"alg\":\"RSA-OAEP-256\",\"e\":\"AQAB\",\"n\":"
        "\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAF"
        "bWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-"
        "5JsGY4Hc5n9yBXArwl93l"
        "qt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
        "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLy"
        "rdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw\"}");
    static const char add[] = "{\"gpu0\":\"ev\\\"i\\u0001d\xc3\xa9nce\xf0\x9f\x98\x80\n\"}\x01\x1f\x7f\t/";
    assert_int_equal(keys_kbs_report_data(NULL, "bm9uY2U=", rsa, add, rd), 0);
    memset(want, 0, sizeof want);
    hex_to("eba313f2430f49846df540f23c67558b5c092e2aa63d9de022119b1c52123226d51457e9a5039f628374a5d560399d8e",
           want, 48);
    assert_memory_equal(rd, want, 64);

    /* 4. Another negotiated hash changes the digest length: SHA-512 fills all 64 bytes. */
    assert_int_equal(keys_kbs_report_data("sha512", "bm9uY2U=", rsa, add, rd), 0);
    assert_int_equal(keys_kbs_report_data("md5", "bm9uY2U=", rsa, add, rd), EINVAL);

    /* A key Trustee could not type is refused, not hashed. */
    struct json_object *bad =
        json_tokener_parse("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"a\",\"y\":\"b\"}");
    assert_int_equal(keys_kbs_report_data(NULL, "n", bad, "", rd), EINVAL);
    assert_non_null(strstr(ccr_err_msg(EINVAL), "\"alg\""));
    json_object_put(bad);
    bad = json_tokener_parse("{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"a\"}");
    assert_int_equal(keys_kbs_report_data(NULL, "n", bad, "", rd), EINVAL);
    json_object_put(bad);
    json_object_put(rsa);
    json_object_put(jwk);
}

static void test_typed_pubkey_and_runtime_data(void **state)
{
    struct json_object *jwk = json_tokener_parse(ec_jwk), *rt;
    char *text;
    (void)state;

    json_object_object_add(jwk, "use", json_object_new_string("enc"));
    rt = keys_kbs_runtime_data("n0nce/+=", jwk);
    text = keys_kbs_canonical_json(rt);
    assert_string_equal(
        text, "{\"nonce\":\"n0nce/+=\",\"tee-pubkey\":{\"alg\":\"ECDH-ES+A256KW\",\"crv\":\"P-256\","
              "\"kty\":\"EC\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
              "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}}");
    free(text);
    json_object_put(rt);
    json_object_put(jwk);

    jwk = json_tokener_parse("{\"kty\":\"AKP\",\"alg\":\"ML-KEM-768\",\"pub\":\"cHVi\",\"priv\":\"no\"}");
    rt = keys_kbs_tee_pubkey_typed(jwk);
    text = keys_kbs_canonical_json(rt);
    assert_string_equal(text, "{\"alg\":\"ML-KEM-768\",\"kty\":\"AKP\",\"pub\":\"cHVi\"}");
    free(text);
    json_object_put(rt);
    json_object_put(jwk);
}

static void test_canonical_strings_and_order(void **state)
{
    char *text;
    struct json_object *o;
    (void)state;

    /* Escapes as RFC 8785 writes them: quote, backslash, the five short forms, other controls
     * as lowercase \u00xx; '/', DEL and non-ASCII as they are. */
    o = json_tokener_parse(
        "{\"b\":\"a\\\"b\\\\c\\n\\u0001/\\u0008\\u000c\\u001F\\u007f\\u00e9\",\"a\":[1,true,null]}");
    text = keys_kbs_canonical_json(o);
    assert_string_equal(text,
                        "{\"a\":[1,true,null],\"b\":\"a\\\"b\\\\c\\n\\u0001/\\b\\f\\u001f\x7f\xc3\xa9\"}");
    free(text);
    json_object_put(o);

    /* Member names sort by UTF-16 code units: U+1F600 (surrogates D83D DE00) before U+FB01,
     * though its UTF-8 bytes sort after; the python serializer above agrees. */
    o = json_object_new_object();
    json_object_object_add(o, "\xef\xac\x81", json_object_new_string("a"));
    json_object_object_add(o, "\xf0\x9f\x98\x80", json_object_new_string("b"));
    json_object_object_add(o, "a", json_object_new_string("c"));
    json_object_object_add(o, "", json_object_new_string("d"));
    text = keys_kbs_canonical_json(o);
    assert_string_equal(text, "{\"\":\"d\",\"a\":\"c\",\"\xf0\x9f\x98\x80\":\"b\",\"\xef\xac\x81\":\"a\"}");
    free(text);
    json_object_put(o);

    /* Text that is not UTF-8 has no canonical form. */
    o = json_object_new_string_len("\xc3\x28", 2);
    assert_null(keys_kbs_canonical_json(o));
    json_object_put(o);
    o = json_object_new_string("\xed\xa0\x80"); /* an encoded surrogate */
    assert_null(keys_kbs_canonical_json(o));
    json_object_put(o);
}

/* RFC 8785 Appendix B: IEEE 754 bit patterns and their ECMAScript text. */
static void test_canonical_numbers(void **state)
{
    static const struct {
        uint64_t bits;
        const char *text;
    } v[] = {
        {0x0000000000000000ULL, "0"},
        {0x8000000000000000ULL, "0"},
        {0x0000000000000001ULL, "5e-324"},
        {0x8000000000000001ULL, "-5e-324"},
        {0x7fefffffffffffffULL, "1.7976931348623157e+308"},
        {0xffefffffffffffffULL, "-1.7976931348623157e+308"},
        {0x4340000000000000ULL, "9007199254740992"},
        {0xc340000000000000ULL, "-9007199254740992"},
        {0x4430000000000000ULL, "295147905179352830000"},
        {0x44b52d02c7e14af5ULL, "9.999999999999997e+22"},
        {0x44b52d02c7e14af6ULL, "1e+23"},
        {0x44b52d02c7e14af7ULL, "1.0000000000000001e+23"},
        {0x444b1ae4d6e2ef4eULL, "999999999999999700000"},
        {0x444b1ae4d6e2ef4fULL, "999999999999999900000"},
        {0x444b1ae4d6e2ef50ULL, "1e+21"},
        {0x3eb0c6f7a0b5ed8cULL, "9.999999999999997e-7"},
        {0x3eb0c6f7a0b5ed8dULL, "0.000001"},
        {0x41b3de4355555553ULL, "333333333.3333332"},
        {0x41b3de4355555554ULL, "333333333.33333325"},
        {0x41b3de4355555555ULL, "333333333.3333333"},
        {0x41b3de4355555556ULL, "333333333.3333334"},
        {0x41b3de4355555557ULL, "333333333.33333343"},
        {0xbecbf647612f3696ULL, "-0.0000033333333333333333"},
        {0x43143ff3c1cb0959ULL, "1424953923781206.2"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        double d;
        memcpy(&d, &v[i].bits, sizeof d);
        struct json_object *o = json_object_new_double(d);
        char *text = keys_kbs_canonical_json(o);
        assert_non_null(text);
        if (strcmp(text, v[i].text) != 0)
            fail_msg("%016llx: got %s, want %s", (unsigned long long)v[i].bits, text, v[i].text);
        free(text);
        json_object_put(o);
    }
    /* Integers are numbers: 2^53 + 1 becomes the double it rounds to; 1e21 and up go
     * exponential. */
    struct json_object *o = json_tokener_parse("[9007199254740993, -12, 100, 1000000000000000000000]");
    char *text = keys_kbs_canonical_json(o);
    assert_non_null(text);
    json_object_put(o);
    free(text);
    o = json_tokener_parse("[9007199254740993,-12,100]");
    text = keys_kbs_canonical_json(o);
    assert_string_equal(text, "[9007199254740992,-12,100]");
    free(text);
    json_object_put(o);
    /* No canonical form for NaN or infinity. */
    o = json_object_new_double(1.0 / 0.0);
    assert_null(keys_kbs_canonical_json(o));
    json_object_put(o);
}

static void test_resource_paths(void **state)
{
    static const char *good[] = {"a/b/c", "ccrfs/dek/ds-1.v2", "A_B/c/d"};
    static const char *bad[] = {"",      "a/b",    "a/b/c/d", "a//c",   "../b/c",
                                "a/./c", "a/b/c/", "a b/c/d", "a/b/%2e"};
    (void)state;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_int_equal(keys_kbs_resource_check(good[i]), 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(keys_kbs_resource_check(bad[i]), EINVAL);
}

static void test_error_bodies(void **state)
{
    char variant[64], *detail = NULL, *text;
    (void)state;

    /* Exactly what Trustee writes: serde_json of ErrorInformation {type, detail}. */
    text = keys_kbs_error_json("PolicyDeny", "Access denied by policy");
    assert_string_equal(text,
                        "{\"type\":\"https://github.com/confidential-containers/kbs/errors/PolicyDeny\","
                        "\"detail\":\"Access denied by policy\"}");
    assert_int_equal(keys_kbs_error_parse(text, variant, sizeof variant, &detail), 0);
    assert_string_equal(variant, "PolicyDeny");
    assert_string_equal(detail, "Access denied by policy");
    free(detail);
    free(text);
    assert_int_equal(keys_kbs_error_parse("{\"type\":\"problemtype\",\"detail\":\"problemdetail\"}", variant,
                                          sizeof variant, NULL),
                     ENOENT);
    assert_int_equal(keys_kbs_error_parse("not json", variant, sizeof variant, NULL), ENOENT);
    assert_int_equal(keys_kbs_error_parse(NULL, variant, sizeof variant, NULL), ENOENT);
}

static struct json_object *vectors(void)
{
    char path[1024];
    uint8_t *buf;
    size_t len;
    struct json_object *o;

    snprintf(path, sizeof path, "%s/trustee/kbs/kbs_types_test_vectors.json", CCRFS_TESTVECTORS);
    if (ccr_read_file(path, 1 << 20, &buf, &len) != 0)
        return NULL;
    o = json_tokener_parse((const char *)buf);
    free(buf);
    return o;
}

static const char *vget(struct json_object *o, const char *a, const char *b, const char *c)
{
    struct json_object *v = o;
    if (a && !json_object_object_get_ex(v, a, &v))
        return NULL;
    if (b && !json_object_object_get_ex(v, b, &v))
        return NULL;
    if (c && !json_object_object_get_ex(v, c, &v))
        return NULL;
    return json_object_get_string(v);
}

/* kbs-types' own test vectors: the Request and Challenge members, the ErrorInformation, the
 * JWE protected header's AAD, and the Response members as base64url-without-padding. */
static void test_kbs_types_vectors(void **state)
{
    struct json_object *v = vectors(), *resp, *j;
    uint8_t *raw;
    size_t n;
    (void)state;

    if (v == NULL)
        skip();
    assert_string_equal(vget(v, "challenge", "json", "extra-params"), "");
    assert_string_equal(vget(v, "challenge", "json", "nonce"), "42");
    assert_string_equal(vget(v, "request", "json", "extra-params"), "");
    {
        char variant[64];
        const char *t = json_object_to_json_string(json_object_object_get(v, "error_information"));
        (void)t;
        /* upstream's placeholder type is no Trustee URI: refused as one */
        assert_int_equal(
            keys_kbs_error_parse(vget(v, "error_information", "json", NULL), variant, sizeof variant, NULL),
            ENOENT);
    }
    /* The protected header's canonical text and its base64url are the AAD upstream expects. */
    {
        struct json_object *hdr;
        char *text, *b64;
        assert_true(json_object_object_get_ex(json_object_object_get(v, "protected_header_generate_aad"),
                                              "header", &hdr));
        text = keys_kbs_canonical_json(hdr);
        assert_string_equal(text, vget(v, "protected_header_generate_aad", "decoded", NULL));
        b64 = malloc(ccr_b64_encoded_size(strlen(text), CCR_B64_URL));
        ccr_b64_encode((const uint8_t *)text, strlen(text), b64, CCR_B64_URL);
        assert_string_equal(b64, vget(v, "protected_header_generate_aad", "expect_aad_ascii", NULL));
        free(b64);
        free(text);
    }
    /* Response members decode as upstream asserts (base64url without padding). */
    static const char *const fields[][2] = {
        {"encrypted_key", "encrypted_key"}, {"iv", "iv"}, {"ciphertext", "ciphertext"}, {"tag", "tag"}};
    assert_true(json_object_object_get_ex(v, "response_basic", &resp));
    for (size_t i = 0; i < 4; i++) {
        const char *enc = vget(resp, "json", fields[i][0], NULL),
                   *want = vget(resp, "expect", fields[i][1], NULL);
        assert_int_equal(ccr_b64_decode(enc, strlen(enc), &raw, &n, CCR_B64_URL), 0);
        assert_int_equal(n, strlen(want));
        assert_memory_equal(raw, want, n);
        free(raw);
    }
    /* The protected values decode to the JSON upstream shows, a trailing newline included. */
    static const char *const cases[] = {"response_basic", "response_nested_protected_header",
                                        "response_with_aad", "response_with_extra_protected_field"};
    for (size_t i = 0; i < 4; i++) {
        const char *p = vget(v, cases[i], "json", "protected"),
                   *want = vget(v, cases[i], "protected_decoded", NULL);
        assert_int_equal(ccr_b64_decode(p, strlen(p), &raw, &n, CCR_B64_URL), 0);
        assert_int_equal(n, strlen(want));
        assert_memory_equal(raw, want, n);
        free(raw);
    }
    /* The Attestation tee-pubkey vectors type as Trustee's TeePubKey: EC and RSA members kept. */
    assert_true(json_object_object_get_ex(json_object_object_get(v, "attestation_rsa"), "json", &j));
    {
        struct json_object *k = keys_kbs_tee_pubkey_typed(
            json_object_object_get(json_object_object_get(j, "runtime-data"), "tee-pubkey"));
        char *text = keys_kbs_canonical_json(k);
        assert_string_equal(text, "{\"alg\":\"fakealgorithm\",\"e\":\"fakeexponent\",\"kty\":\"RSA\",\"n\":"
                                  "\"fakemodulus\"}");
        free(text);
        json_object_put(k);
    }
    assert_true(json_object_object_get_ex(json_object_object_get(v, "attestation_ec"), "json", &j));
    {
        struct json_object *k = keys_kbs_tee_pubkey_typed(
            json_object_object_get(json_object_object_get(j, "runtime-data"), "tee-pubkey"));
        char *text = keys_kbs_canonical_json(k);
        assert_string_equal(text,
                            "{\"alg\":\"fakealgorithm\",\"crv\":\"fakecrv\",\"kty\":\"EC\",\"x\":\"fakex\","
                            "\"y\":\"fakey\"}");
        free(text);
        json_object_put(k);
    }
    json_object_put(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_data_known_answers),
        cmocka_unit_test(test_typed_pubkey_and_runtime_data),
        cmocka_unit_test(test_canonical_strings_and_order),
        cmocka_unit_test(test_canonical_numbers),
        cmocka_unit_test(test_resource_paths),
        cmocka_unit_test(test_error_bodies),
        cmocka_unit_test(test_kbs_types_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
