/* JWE and JWK: known-answer vectors from RFC 3394, RFC 7516 and RFC 7518, round trips for
 * both key algorithms, and every way a JWE can be tampered with or malformed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/encoding.h"
#include "common/err.h"
#include "common/secmem.h"
#include "keys/kbs/jwe.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

static void b64url_dec(const char *s, uint8_t **out, size_t *len)
{
    assert_int_equal(ccr_b64_decode(s, strlen(s), out, len, CCR_B64_URL), 0);
}

/* RFC 3394 section 4.6: 256 bits of key data wrapped with a 256-bit KEK. */
static void test_aes_kw_rfc3394(void **state)
{
    static const uint8_t kek[32] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A,
                                    0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
                                    0x16, 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F};
    static const uint8_t key[32] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA,
                                    0xBB, 0xCC, 0xDD, 0xEE, 0xFF, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05,
                                    0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F};
    static const uint8_t wrapped[40] = {0x28, 0xC9, 0xF4, 0x04, 0xC4, 0xB8, 0x10, 0xF4, 0xCB, 0xCC,
                                        0xB3, 0x5C, 0xFB, 0x87, 0xF8, 0x26, 0x3F, 0x57, 0x86, 0xE2,
                                        0xD8, 0x0E, 0xD3, 0x26, 0xCB, 0xC7, 0xF0, 0xE7, 0x1A, 0x99,
                                        0xF4, 0x3B, 0xFB, 0x98, 0x8B, 0x9B, 0x7A, 0x02, 0xDD, 0x21};
    uint8_t out[40], back[32], bad[40];
    (void)state;
    assert_int_equal(keys_aes_kw_wrap(kek, key, sizeof key, out), 0);
    assert_memory_equal(out, wrapped, sizeof wrapped);
    assert_int_equal(keys_aes_kw_unwrap(kek, wrapped, sizeof wrapped, back), 0);
    assert_memory_equal(back, key, sizeof key);
    memcpy(bad, wrapped, sizeof bad);
    bad[39] ^= 1;
    assert_int_equal(keys_aes_kw_unwrap(kek, bad, sizeof bad, back), EBADMSG);
    assert_int_equal(keys_aes_kw_unwrap(kek, wrapped, 20, back), EINVAL);
}

/* RFC 7518 appendix C: the Concat KDF for ECDH-ES, apu "Alice", apv "Bob", A128GCM. */
static void test_concat_kdf_rfc7518(void **state)
{
    static const uint8_t z[32] = {158, 86,  217, 29,  129, 113, 53,  211, 114, 131, 66,
                                  131, 191, 132, 38,  156, 251, 49,  110, 163, 218, 128,
                                  106, 72,  246, 218, 167, 121, 140, 254, 144, 196};
    static const uint8_t expect[16] = {86, 170, 141, 234, 248, 35,  109, 32,
                                       92, 34,  40,  205, 113, 167, 16,  26};
    uint8_t out[16];
    (void)state;
    assert_int_equal(keys_jwe_concat_kdf(z, sizeof z, "A128GCM", (const uint8_t *)"Alice", 5,
                                         (const uint8_t *)"Bob", 3, 128, out),
                     0);
    assert_memory_equal(out, expect, sizeof expect);
}

/* RFC 7516 appendix A.1: the A256GCM content layer with the example's CEK, IV, AAD. */
static void test_gcm_rfc7516(void **state)
{
    static const uint8_t cek[32] = {177, 161, 244, 128, 84,  143, 225, 115, 63, 180, 3,
                                    255, 107, 154, 212, 246, 138, 7,   110, 91, 112, 46,
                                    34,  105, 47,  130, 203, 46,  122, 234, 64, 252};
    static const char prot[] = "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ";
    static const char text[] = "The true sign of intelligence is not knowledge but imagination.";
    uint8_t *iv, *ct, *tag, out[128];
    size_t iv_len, ct_len, tag_len;
    (void)state;
    b64url_dec("48V1_ALb6US04U3b", &iv, &iv_len);
    b64url_dec("5eym8TW_c8SuK0ltJ3rpYIzOeDQz7TALvtu6UG9oMo4vpzs9tX_EFShS8iB7j6jiSdiwkIr3ajwQzaBtQD_A", &ct,
               &ct_len);
    b64url_dec("XFBoMYUZodetZdvTiFvSkQ", &tag, &tag_len);
    assert_int_equal(ct_len, strlen(text));
    assert_int_equal(keys_jwe_gcm_open(cek, iv, iv_len, prot, ct, ct_len, tag, tag_len, out), 0);
    assert_memory_equal(out, text, ct_len);
    tag[15] ^= 0x80;
    assert_int_equal(keys_jwe_gcm_open(cek, iv, iv_len, prot, ct, ct_len, tag, tag_len, out), EBADMSG);
    tag[15] ^= 0x80;
    assert_int_equal(keys_jwe_gcm_open(cek, iv, iv_len, "eyJ", ct, ct_len, tag, tag_len, out), EBADMSG);
    free(iv);
    free(ct);
    free(tag);
}

static char *set_member(const char *jwe, const char *name, const char *value)
{
    struct json_object *o = json_tokener_parse(jwe);
    char *s;
    if (value)
        json_object_object_add(o, name, json_object_new_string(value));
    else
        json_object_object_del(o, name);
    s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    return s;
}

/* Flips one bit in the base64url member name. */
static char *flip_member(const char *jwe, const char *name, size_t byte)
{
    struct json_object *o = json_tokener_parse(jwe), *v;
    uint8_t *raw;
    size_t len;
    char *enc, *s;
    json_object_object_get_ex(o, name, &v);
    b64url_dec(json_object_get_string(v), &raw, &len);
    raw[byte % len] ^= 0x01;
    enc = malloc(ccr_b64_encoded_size(len, CCR_B64_URL));
    ccr_b64_encode(raw, len, enc, CCR_B64_URL);
    s = set_member(jwe, name, enc);
    free(enc);
    free(raw);
    json_object_put(o);
    return s;
}

static void roundtrip(const char *alg)
{
    static const uint8_t secret[32] = "0123456789abcdef0123456789abcdef";
    EVP_PKEY *key, *other, *pub;
    struct json_object *jwk;
    char *jwe, *bad, alg_seen[32];
    uint8_t *pt;
    size_t len;

    assert_int_equal(keys_jwk_generate(alg, &key), 0);
    /* The client sends only the public JWK; the broker encrypts to what it parses. */
    jwk = keys_jwk_public(key, alg);
    assert_int_equal(keys_jwk_parse_public(jwk, &pub, alg_seen, sizeof alg_seen), 0);
    assert_string_equal(alg_seen, alg);
    assert_int_equal(keys_jwe_encrypt(pub, alg, secret, sizeof secret, &jwe), 0);
    assert_int_equal(keys_jwe_decrypt(jwe, strlen(jwe), key, &pt, &len), 0);
    assert_int_equal(len, sizeof secret);
    assert_memory_equal(pt, secret, len);
    ccr_secmem_free(pt, len);

    /* A tampered tag, ciphertext, IV, wrapped key or header never yields plaintext. */
    static const char *members[] = {"tag", "ciphertext", "iv", "encrypted_key"};
    for (size_t i = 0; i < 4; i++) {
        bad = flip_member(jwe, members[i], 3);
        pt = (uint8_t *)1;
        int rc = keys_jwe_decrypt(bad, strlen(bad), key, &pt, &len);
        assert_true(rc == EBADMSG || (rc == EINVAL && strcmp(members[i], "iv") == 0));
        assert_null(pt);
        free(bad);
    }
    /* Another recipient's key cannot open it. */
    assert_int_equal(keys_jwk_generate(alg, &other), 0);
    assert_int_equal(keys_jwe_decrypt(jwe, strlen(jwe), other, &pt, &len), EBADMSG);
    EVP_PKEY_free(other);
    /* A different protected header (here: re-encoded) breaks the AAD. */
    bad = set_member(jwe, "aad", "eHh4");
    assert_int_equal(keys_jwe_decrypt(bad, strlen(bad), key, &pt, &len), EBADMSG);
    free(bad);

    json_object_put(jwk);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(key);
    free(jwe);
}

static void test_roundtrip_ecdh(void **state)
{
    (void)state;
    roundtrip(KEYS_JWE_ALG_ECDH);
}

static void test_roundtrip_rsa(void **state)
{
    (void)state;
    roundtrip(KEYS_JWE_ALG_RSA);
}

static void test_malformed(void **state)
{
    EVP_PKEY *key;
    uint8_t *pt;
    size_t len;
    char *jwe, *bad;
    static const uint8_t v[32] = {1};
    (void)state;

    assert_int_equal(keys_jwk_generate(KEYS_JWE_ALG_ECDH, &key), 0);
    assert_int_equal(keys_jwe_encrypt(key, KEYS_JWE_ALG_ECDH, v, sizeof v, &jwe), 0);
    assert_int_equal(keys_jwe_decrypt("", 0, key, &pt, &len), EINVAL);
    assert_int_equal(keys_jwe_decrypt("[1,2]", 5, key, &pt, &len), EINVAL);
    static const char *members[] = {"protected", "encrypted_key", "iv", "ciphertext", "tag"};
    for (size_t i = 0; i < 5; i++) {
        bad = set_member(jwe, members[i], NULL);
        assert_int_equal(keys_jwe_decrypt(bad, strlen(bad), key, &pt, &len), EINVAL);
        assert_non_null(strstr(ccr_err_msg(EINVAL), members[i]));
        free(bad);
        bad = set_member(jwe, members[i], "not*base64");
        assert_int_equal(keys_jwe_decrypt(bad, strlen(bad), key, &pt, &len), EINVAL);
        free(bad);
    }
    /* {"alg":"ECDH-ES+A256KW","enc":"A128GCM"} and {"alg":"dir","enc":"A256GCM"} */
    bad = set_member(jwe, "protected", "eyJhbGciOiJFQ0RILUVTK0EyNTZLVyIsImVuYyI6IkExMjhHQ00ifQ");
    assert_int_equal(keys_jwe_decrypt(bad, strlen(bad), key, &pt, &len), EINVAL);
    assert_non_null(strstr(ccr_err_msg(EINVAL), "A128GCM"));
    free(bad);
    bad = set_member(jwe, "protected", "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0");
    assert_int_equal(keys_jwe_decrypt(bad, strlen(bad), key, &pt, &len), EINVAL);
    assert_non_null(strstr(ccr_err_msg(EINVAL), "dir"));
    free(bad);
    /* ECDH-ES+A256KW without an epk */
    bad = set_member(jwe, "protected", "eyJhbGciOiJFQ0RILUVTK0EyNTZLVyIsImVuYyI6IkEyNTZHQ00ifQ");
    assert_int_equal(keys_jwe_decrypt(bad, strlen(bad), key, &pt, &len), EINVAL);
    free(bad);
    free(jwe);
    EVP_PKEY_free(key);
}

static void test_jwk_malformed(void **state)
{
    static const char *bad[] = {
        "[]",
        "{\"kty\":\"oct\",\"k\":\"AAAA\"}",
        "{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AA\",\"y\":\"AA\"}",
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"AAAA\"}",
        /* right lengths, but (1, 1) is not on P-256 */
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\","
        "\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\"}",
        "{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}",
        "{\"kty\":\"RSA\",\"e\":\"AQAB\"}",
    };
    EVP_PKEY *k;
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct json_object *o = json_tokener_parse(bad[i]);
        assert_non_null(o);
        assert_int_equal(keys_jwk_parse_public(o, &k, NULL, 0), EINVAL);
        assert_null(k);
        json_object_put(o);
    }
    assert_int_equal(keys_jwk_generate("RSA1_5", &k), EINVAL);
}

/* Random corruption anywhere in the serialized JWE: never a crash, never other plaintext. */
static void test_random_corruption(void **state)
{
    static const uint8_t secret[32] = "corruption-test-secret-32-bytes";
    EVP_PKEY *key;
    char *jwe, *bad;
    uint8_t *pt;
    size_t len, n;
    (void)state;
    assert_int_equal(keys_jwk_generate(KEYS_JWE_ALG_ECDH, &key), 0);
    assert_int_equal(keys_jwe_encrypt(key, KEYS_JWE_ALG_ECDH, secret, sizeof secret, &jwe), 0);
    n = strlen(jwe);
    bad = malloc(n + 1);
    srand(7);
    for (int i = 0; i < 3000; i++) {
        memcpy(bad, jwe, n + 1);
        for (int k = 0; k < 1 + rand() % 3; k++)
            bad[(size_t)rand() % n] = (char)(32 + rand() % 95);
        if (keys_jwe_decrypt(bad, n, key, &pt, &len) == 0) {
            /* only a change that leaves the meaning intact may still decrypt */
            assert_int_equal(len, sizeof secret);
            assert_memory_equal(pt, secret, len);
            ccr_secmem_free(pt, len);
        }
    }
    /* truncations */
    for (size_t cut = 0; cut < n; cut += 7)
        assert_int_not_equal(keys_jwe_decrypt(jwe, cut, key, &pt, &len), 0);
    free(bad);
    free(jwe);
    EVP_PKEY_free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aes_kw_rfc3394), cmocka_unit_test(test_concat_kdf_rfc7518),
        cmocka_unit_test(test_gcm_rfc7516),    cmocka_unit_test(test_roundtrip_ecdh),
        cmocka_unit_test(test_roundtrip_rsa),  cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_jwk_malformed),  cmocka_unit_test(test_random_corruption),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
