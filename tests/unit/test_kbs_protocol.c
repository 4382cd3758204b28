/* The KBS protocol pieces client and broker compute alike: canonical JSON and report_data,
 * resource paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "keys/kbs/protocol.h"

#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_canonical_runtime_data(void **state)
{
    /* Members given out of order, as a JSON library might keep them; the hash is over the
     * sorted, compact text. */
    struct json_object *jwk =
        json_tokener_parse("{\"y\":\"YY\",\"x\":\"XX\",\"kty\":\"EC\",\"crv\":\"P-256\","
                           "\"alg\":\"ECDH-ES+A256KW\"}");
    struct json_object *rt = keys_kbs_runtime_data("n0nce/+=", jwk);
    static const char expect[] =
        "{\"nonce\":\"n0nce/+=\",\"tee-pubkey\":{\"alg\":\"ECDH-ES+A256KW\",\"crv\":\"P-256\","
        "\"kty\":\"EC\",\"x\":\"XX\",\"y\":\"YY\"}}";
    uint8_t rd[64], want[64] = {0};
    unsigned int len;
    char *text = keys_kbs_canonical_json(rt);
    (void)state;
    assert_string_equal(text, expect);
    assert_int_equal(keys_kbs_report_data(rt, rd), 0);
    assert_int_equal(EVP_Digest(expect, strlen(expect), want, &len, EVP_sha384(), NULL), 1);
    assert_memory_equal(rd, want, 64); /* SHA-384 then 16 zero bytes */
    free(text);
    json_object_put(rt);
    json_object_put(jwk);

    /* Escapes as serde_json writes them: quote, backslash, control characters; '/' as is. */
    struct json_object *o =
        json_tokener_parse("{\"b\":\"a\\\"b\\\\c\\n\\u0001/\\u0008\\u000c\",\"a\":[1,true,null]}");
    text = keys_kbs_canonical_json(o);
    assert_string_equal(text, "{\"a\":[1,true,null],\"b\":\"a\\\"b\\\\c\\n\\u0001/\\b\\f\"}");
    free(text);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_runtime_data),
        cmocka_unit_test(test_resource_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
