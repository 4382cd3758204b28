/* Hex and base64 against RFC 4648's vectors, and the strict decoders against bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/encoding.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void test_base64_rfc4648(void **state)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const std[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    static const char *const url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    (void)state;
    for (int i = 0; i < 7; i++) {
        size_t len = strlen(plain[i]);
        char enc[16];
        uint8_t *dec;
        size_t dlen;
        assert_int_equal(ccr_b64_encoded_size(len, CCR_B64_STD), strlen(std[i]) + 1);
        ccr_b64_encode((const uint8_t *)plain[i], len, enc, CCR_B64_STD);
        assert_string_equal(enc, std[i]);
        ccr_b64_encode((const uint8_t *)plain[i], len, enc, CCR_B64_URL);
        assert_string_equal(enc, url[i]);
        assert_int_equal(ccr_b64_decode(std[i], strlen(std[i]), &dec, &dlen, CCR_B64_STD), 0);
        assert_int_equal(dlen, len);
        assert_memory_equal(dec, plain[i], len);
        free(dec);
        assert_int_equal(ccr_b64_decode(url[i], strlen(url[i]), &dec, &dlen, CCR_B64_URL), 0);
        assert_int_equal(dlen, len);
        assert_memory_equal(dec, plain[i], len);
        free(dec);
    }
}

static void test_base64_url_alphabet(void **state)
{
    const uint8_t bytes[] = {0xfb, 0xff, 0xbf};
    char enc[8];
    uint8_t *dec;
    size_t dlen;
    (void)state;
    ccr_b64_encode(bytes, 3, enc, CCR_B64_URL);
    assert_string_equal(enc, "-_-_");
    ccr_b64_encode(bytes, 3, enc, CCR_B64_STD);
    assert_string_equal(enc, "+/+/");
    assert_int_equal(ccr_b64_decode("-_-_", 4, &dec, &dlen, CCR_B64_URL), 0);
    assert_memory_equal(dec, bytes, 3);
    free(dec);
}

static void test_base64_malformed(void **state)
{
    uint8_t *dec;
    size_t dlen;
    (void)state;
    assert_int_equal(ccr_b64_decode("Zm9v!", 5, &dec, &dlen, CCR_B64_STD), EINVAL);
    assert_int_equal(ccr_b64_decode("Zm9", 3, &dec, &dlen, CCR_B64_STD), EINVAL); /* unpadded */
    assert_int_equal(ccr_b64_decode("Z", 1, &dec, &dlen, CCR_B64_URL), EINVAL);
    assert_int_equal(ccr_b64_decode("Zh==", 4, &dec, &dlen, CCR_B64_STD), EINVAL); /* non-canonical */
    assert_int_equal(ccr_b64_decode("Zm9v====", 8, &dec, &dlen, CCR_B64_STD), EINVAL);
    assert_int_equal(ccr_b64_decode("Zm+v", 4, &dec, &dlen, CCR_B64_URL), EINVAL); /* std char in url */
}

static void test_hex(void **state)
{
    uint8_t out[4];
    char enc[9];
    const uint8_t in[4] = {0x00, 0x9f, 0xa0, 0xff};
    (void)state;
    ccr_hex_encode(in, 4, enc);
    assert_string_equal(enc, "009fa0ff");
    assert_int_equal(ccr_hex_decode("009FA0ff", out, 4), 0);
    assert_memory_equal(out, in, 4);
    assert_int_equal(ccr_hex_decode("009fa0f", out, 4), EINVAL);
    assert_int_equal(ccr_hex_decode("009fa0fg", out, 4), EINVAL);
    assert_int_equal(ccr_hex_decode("009fa0ff00", out, 4), EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64_rfc4648),
        cmocka_unit_test(test_base64_url_alphabet),
        cmocka_unit_test(test_base64_malformed),
        cmocka_unit_test(test_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
