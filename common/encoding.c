#include "common/encoding.h"
#include "common/err.h"

#include <stdlib.h>
#include <string.h>

void ccr_hex_encode(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

int ccr_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int ccr_hex_decode(const char *hex, uint8_t *out, size_t out_len)
{
    if (strlen(hex) != 2 * out_len)
        return ccr_err_set(EINVAL, "expected %zu hex digits, got %zu", 2 * out_len, strlen(hex));
    for (size_t i = 0; i < out_len; i++) {
        int hi = ccr_hex_digit(hex[2 * i]), lo = ccr_hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return ccr_err_set(EINVAL, "not a hex digit at position %zu", hi < 0 ? 2 * i : 2 * i + 1);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t ccr_b64_encoded_size(size_t len, enum ccr_b64_variant v)
{
    if (v == CCR_B64_STD)
        return (len + 2) / 3 * 4 + 1;
    return len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0) + 1;
}

void ccr_b64_encode(const uint8_t *in, size_t len, char *out, enum ccr_b64_variant v)
{
    const char *alphabet = v == CCR_B64_STD ? b64_std : b64_url;
    size_t o = 0, i = 0;

    for (; i + 3 <= len; i += 3) {
        uint32_t n = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = alphabet[n >> 18];
        out[o++] = alphabet[(n >> 12) & 63];
        out[o++] = alphabet[(n >> 6) & 63];
        out[o++] = alphabet[n & 63];
    }
    if (len - i == 1) {
        uint32_t n = (uint32_t)in[i] << 16;
        out[o++] = alphabet[n >> 18];
        out[o++] = alphabet[(n >> 12) & 63];
        if (v == CCR_B64_STD) {
            out[o++] = '=';
            out[o++] = '=';
        }
    } else if (len - i == 2) {
        uint32_t n = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = alphabet[n >> 18];
        out[o++] = alphabet[(n >> 12) & 63];
        out[o++] = alphabet[(n >> 6) & 63];
        if (v == CCR_B64_STD)
            out[o++] = '=';
    }
    out[o] = '\0';
}

static int b64_value(char c, enum ccr_b64_variant v)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (v == CCR_B64_STD ? '+' : '-'))
        return 62;
    if (c == (v == CCR_B64_STD ? '/' : '_'))
        return 63;
    return -1;
}

int ccr_b64_decode(const char *in, size_t in_len, uint8_t **out, size_t *out_len, enum ccr_b64_variant v)
{
    size_t pad = 0, data_len, full, rem, o = 0;
    uint8_t *buf;

    while (in_len > 0 && in[in_len - 1] == '=' && pad < 2) {
        in_len--;
        pad++;
    }
    data_len = in_len;
    rem = data_len % 4;
    if (rem == 1)
        return ccr_err_set(EINVAL, "base64: impossible length %zu", data_len + pad);
    if (v == CCR_B64_STD && (data_len + pad) % 4 != 0)
        return ccr_err_set(EINVAL, "base64: length %zu is not a multiple of 4", data_len + pad);
    if (pad && rem == 0)
        return ccr_err_set(EINVAL, "base64: padding where none belongs");
    full = data_len / 4;
    buf = malloc(full * 3 + 3);
    if (buf == NULL)
        return ENOMEM;
    for (size_t i = 0; i < data_len; i += 4) {
        int vals[4] = {0, 0, 0, 0};
        size_t n = data_len - i < 4 ? data_len - i : 4;
        for (size_t k = 0; k < n; k++) {
            vals[k] = b64_value(in[i + k], v);
            if (vals[k] < 0) {
                free(buf);
                return ccr_err_set(EINVAL, "base64: invalid character at offset %zu", i + k);
            }
        }
        uint32_t w =
            (uint32_t)vals[0] << 18 | (uint32_t)vals[1] << 12 | (uint32_t)vals[2] << 6 | (uint32_t)vals[3];
        buf[o++] = (uint8_t)(w >> 16);
        if (n > 2)
            buf[o++] = (uint8_t)(w >> 8);
        if (n > 3)
            buf[o++] = (uint8_t)w;
        /* Unused trailing bits must be zero, so each value has exactly one encoding. */
        if ((n == 2 && (w & 0xffff)) || (n == 3 && (w & 0xff))) {
            free(buf);
            return ccr_err_set(EINVAL, "base64: non-canonical final character");
        }
    }
    *out = buf;
    *out_len = o;
    return 0;
}
