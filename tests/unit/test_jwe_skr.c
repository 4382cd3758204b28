/* Azure SKR pieces: the released key as an RSA private JWK, and dek.wrapped.json (RSA-OAEP-256)
 * wrapped and unwrapped, including malformed and foreign documents. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/encoding.h"
#include "common/err.h"
#include "format/dek.h"
#include "keys/skr/skr.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrap_unwrap),
        cmocka_unit_test(test_malformed_documents),
        cmocka_unit_test(test_malformed_jwk),
        cmocka_unit_test(test_wrap_refuses_small_or_ec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
