/* Azure SKR pieces: the released key as a private JWK (RSA, EC, oct), and dek.wrapped.json
 * (RSA-OAEP-256, or ECDH-ES+A256KW for an EC key) wrapped and unwrapped, including malformed and
 * foreign documents. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/encoding.h"
#include "common/err.h"
#include "format/dek.h"
#include "keys/skr/skr.h"
#include "keys/skr/wrap_ec.h"

#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <stdlib.h>
#include <string.h>

/* The private JWK of key, as the sidecar returns it. */
static char *private_jwk(EVP_PKEY *key, const char *skip)
{
    static const char *names[] = {"n", "e", "d", "p", "q", "dp", "dq", "qi"};
    static const char *params[] = {OSSL_PKEY_PARAM_RSA_N,         OSSL_PKEY_PARAM_RSA_E,
                                   OSSL_PKEY_PARAM_RSA_D,         OSSL_PKEY_PARAM_RSA_FACTOR1,
                                   OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
                                   OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1};
    struct json_object *o = json_object_new_object();
    char *out;
    json_object_object_add(o, "kty", json_object_new_string("RSA"));
    for (size_t i = 0; i < 8; i++) {
        BIGNUM *bn = NULL;
        uint8_t buf[1024];
        char enc[1400];
        int n;
        if (skip && strcmp(skip, names[i]) == 0)
            continue;
        assert_int_equal(EVP_PKEY_get_bn_param(key, params[i], &bn), 1);
        n = BN_bn2bin(bn, buf);
        ccr_b64_encode(buf, (size_t)n, enc, CCR_B64_URL);
        json_object_object_add(o, names[i], json_object_new_string(enc));
        BN_clear_free(bn);
    }
    out = strdup(json_object_to_json_string(o));
    json_object_put(o);
    return out;
}

static void test_wrap_unwrap(void **state)
{
    EVP_PKEY *kek = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048), *released, *other;
    uint8_t dek[32];
    struct fmt_dek *got;
    char *doc, *jwk;
    (void)state;
    for (int i = 0; i < 32; i++)
        dek[i] = (uint8_t)(0xa0 + i);
    assert_non_null(kek);
    assert_int_equal(fmt_dek_wrap(dek, sizeof dek, kek, "kid-1", &doc), 0);
    assert_non_null(strstr(doc, "RSA-OAEP-256"));
    jwk = private_jwk(kek, NULL);
    assert_int_equal(keys_skr_jwk_private(jwk, strlen(jwk), &released), 0);
    assert_int_equal(fmt_dek_unwrap(doc, strlen(doc), released, &got), 0);
    assert_memory_equal(got->bytes, dek, 32);
    fmt_dek_free(got);

    other = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    assert_int_equal(fmt_dek_unwrap(doc, strlen(doc), other, &got), EBADMSG);
    EVP_PKEY_free(other);

    /* A wrapped value that is not a 32-byte key. */
    free(doc);
    assert_int_equal(fmt_dek_wrap(dek, 16, kek, NULL, &doc), 0);
    assert_int_equal(fmt_dek_unwrap(doc, strlen(doc), released, &got), EINVAL);
    free(doc);
    free(jwk);
    EVP_PKEY_free(released);
    EVP_PKEY_free(kek);
}

static void test_malformed_documents(void **state)
{
    static const char *bad[] = {
        "",
        "[]",
        "{\"alg\":\"RSA-OAEP-256\",\"wrapped_key\":\"AAAA\"}",
        "{\"version\":2,\"alg\":\"RSA-OAEP-256\",\"wrapped_key\":\"AAAA\"}",
        "{\"version\":1,\"alg\":\"RSA1_5\",\"wrapped_key\":\"AAAA\"}",
        "{\"version\":1,\"alg\":\"RSA-OAEP-256\"}",
        "{\"version\":1,\"alg\":\"RSA-OAEP-256\",\"wrapped_key\":\"***\"}",
    };
    EVP_PKEY *kek = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    struct fmt_dek *got;
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(fmt_dek_unwrap(bad[i], strlen(bad[i]), kek, &got), EINVAL);
        assert_non_null(strstr(ccr_err_msg(EINVAL), "dek.wrapped.json"));
    }
    EVP_PKEY_free(kek);
}

static void test_malformed_jwk(void **state)
{
    EVP_PKEY *kek = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048), *k;
    char *jwk = private_jwk(kek, "qi");
    (void)state;
    assert_int_equal(keys_skr_jwk_private(jwk, strlen(jwk), &k), EINVAL);
    assert_non_null(strstr(ccr_err_msg(EINVAL), "\"qi\""));
    assert_int_equal(keys_skr_jwk_private("{\"kty\":\"EC\"}", 12, &k), EINVAL);
    assert_int_equal(keys_skr_jwk_private("not json", 8, &k), EINVAL);
    free(jwk);
    EVP_PKEY_free(kek);
}

static void test_wrap_refuses_small_or_ec(void **state)
{
    EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    uint8_t dek[32] = {0};
    char *doc;
    (void)state;
    assert_int_equal(fmt_dek_wrap(dek, 32, small, NULL, &doc), EINVAL);
    assert_int_equal(fmt_dek_wrap(dek, 32, ec, NULL, &doc), EINVAL);
    EVP_PKEY_free(small);
    EVP_PKEY_free(ec);
}

/* The private JWK of an EC key, as the sidecar returns it (jwx writes crv, d, kty, x, y). */
static char *ec_jwk(EVP_PKEY *key, const char *crv, size_t clen, int corrupt_y)
{
    uint8_t pub[1 + 2 * 48], d[48];
    size_t pub_len = 0;
    BIGNUM *priv = NULL;
    char x[80], y[80], de[80], *out;
    struct json_object *o = json_object_new_object();

    assert_int_equal(EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub, &pub_len),
                     1);
    assert_int_equal(pub_len, 1 + 2 * clen);
    assert_int_equal(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &priv), 1);
    assert_int_equal(BN_bn2binpad(priv, d, (int)clen), (int)clen);
    BN_clear_free(priv);
    if (corrupt_y)
        pub[1 + clen] ^= 1;
    ccr_b64_encode(pub + 1, clen, x, CCR_B64_URL);
    ccr_b64_encode(pub + 1 + clen, clen, y, CCR_B64_URL);
    ccr_b64_encode(d, clen, de, CCR_B64_URL);
    json_object_object_add(o, "crv", json_object_new_string(crv));
    json_object_object_add(o, "d", json_object_new_string(de));
    json_object_object_add(o, "kty", json_object_new_string("EC"));
    json_object_object_add(o, "x", json_object_new_string(x));
    json_object_object_add(o, "y", json_object_new_string(y));
    out = strdup(json_object_to_json_string(o));
    json_object_put(o);
    return out;
}

static void test_ec_key_wraps_and_unwraps(void **state)
{
    static const struct {
        const char *crv;
        size_t len;
    } curves[] = {{"P-256", 32}, {"P-384", 48}};
    uint8_t dek[32];
    (void)state;
    for (int i = 0; i < 32; i++)
        dek[i] = (uint8_t)(0x40 + i);
    for (size_t c = 0; c < 2; c++) {
        EVP_PKEY *kek = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curves[c].crv);
        EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curves[c].crv);
        struct keys_skr_key released, wrong;
        struct fmt_dek *got = NULL;
        char *jwk = ec_jwk(kek, curves[c].crv, curves[c].len, 0), *jwk_other, *doc;

        assert_int_equal(keys_skr_wrap_ec(dek, sizeof dek, kek, "ec-kek", &doc), 0);
        assert_non_null(strstr(doc, "\"alg\":\"ECDH-ES+A256KW\""));
        assert_non_null(strstr(doc, "\"jwe\":{"));
        assert_int_equal(keys_skr_key_parse(jwk, strlen(jwk), &released), 0);
        assert_int_equal(released.kty, KEYS_SKR_KTY_EC);
        assert_string_equal(released.crv, curves[c].crv);
        assert_int_equal(keys_skr_unwrap_ec(doc, strlen(doc), released.pkey, &got), 0);
        assert_memory_equal(got->bytes, dek, 32);
        fmt_dek_free(got);
        /* Wrapped for another key of the same curve: does not unwrap. */
        jwk_other = ec_jwk(other, curves[c].crv, curves[c].len, 0);
        assert_int_equal(keys_skr_key_parse(jwk_other, strlen(jwk_other), &wrong), 0);
        assert_int_equal(keys_skr_unwrap_ec(doc, strlen(doc), wrong.pkey, &got), EBADMSG);
        assert_null(got);
        /* An RSA document is not for an EC key. */
        assert_int_equal(keys_skr_unwrap_ec("{\"version\":1,\"alg\":\"RSA-OAEP-256\",\"wrapped_key\":\"AA\"}",
                                            56, released.pkey, &got),
                         EINVAL);
        assert_non_null(strstr(ccr_err_msg(EINVAL), "ECDH-ES+A256KW"));
        keys_skr_key_clear(&released);
        keys_skr_key_clear(&wrong);
        free(jwk);
        free(jwk_other);
        /* x, y that are not d's point. */
        jwk = ec_jwk(kek, curves[c].crv, curves[c].len, 1);
        assert_int_equal(keys_skr_key_parse(jwk, strlen(jwk), &released), EINVAL);
        free(jwk);
        free(doc);
        EVP_PKEY_free(kek);
        EVP_PKEY_free(other);
    }
}

static void test_oct_and_kty_names(void **state)
{
    static const char *bad[] = {
        "{\"kty\":\"oct\"}",
        "{\"kty\":\"oct\",\"k\":\"\"}",
        "{\"kty\":\"oct\",\"k\":\"not base64!\"}",
        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\"}",
        "{\"kty\":\"oct-HSMX\",\"k\":\"AAAA\"}",
        "{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AA\",\"y\":\"AA\",\"d\":\"AA\"}",
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\",\"d\":\"AA\"}",
        "{\"k\":\"AAAA\"}",
    };
    struct keys_skr_key k;
    (void)state;
    /* A 32-byte oct key with key_ops, as the sidecar writes an oct-HSM key Key Vault released. */
    const char *oct =
        "{\"k\":\"ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8\",\"key_ops\":[\"encrypt\",\"decrypt\"],"
        "\"kty\":\"oct\"}";
    assert_int_equal(keys_skr_key_parse(oct, strlen(oct), &k), 0);
    assert_int_equal(k.kty, KEYS_SKR_KTY_OCT);
    assert_int_equal(k.secret_len, 32);
    for (int i = 0; i < 32; i++)
        assert_int_equal(k.secret[i], 0x20 + i);
    keys_skr_key_clear(&k);
    assert_null(k.secret);
    const char *hsm = "{\"kty\":\"oct-HSM\",\"k\":\"AAECAw\"}";
    assert_int_equal(keys_skr_key_parse(hsm, strlen(hsm), &k), 0);
    assert_int_equal(k.secret_len, 4);
    keys_skr_key_clear(&k);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (keys_skr_key_parse(bad[i], strlen(bad[i]), &k) != EINVAL)
            fail_msg("accepted: %s", bad[i]);
        assert_non_null(strstr(ccr_err_msg(EINVAL), "released key"));
        assert_null(k.pkey);
        assert_null(k.secret);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrap_unwrap),
        cmocka_unit_test(test_malformed_documents),
        cmocka_unit_test(test_malformed_jwk),
        cmocka_unit_test(test_wrap_refuses_small_or_ec),
        cmocka_unit_test(test_ec_key_wraps_and_unwraps),
        cmocka_unit_test(test_oct_and_kty_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
