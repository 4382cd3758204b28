/* KBS protocol pieces shared by client and broker. */
#include "keys/kbs/protocol.h"
#include "common/dynbuf.h"
#include "common/err.h"

#include <json-c/json.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sbuf {
    struct ccr_dynbuf d;
    int err; /* first failure (ENOMEM, EINVAL), checked once at the end */
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
    if (!b->err && ccr_dynbuf_add(&b->d, s, n) != 0)
        b->err = ENOMEM;
}

static void sb_fail(struct sbuf *b, int code)
{
    if (!b->err)
        b->err = code;
}

/* Decodes one UTF-8 sequence at s (n bytes left): its length, or 0 when it is not valid
 * UTF-8 (overlong forms, surrogates and values past U+10FFFF included). */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t len, i;
    uint32_t v;

    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        len = 2;
        v = s[0] & 0x1F;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3;
        v = s[0] & 0x0F;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4;
        v = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && v < 0x800) || (len == 4 && (v < 0x10000 || v > 0x10FFFF)) ||
        (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

static int utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    uint32_t cp;
    size_t i = 0, k;

    while (i < n) {
        if ((k = utf8_next(p + i, n - i, &cp)) == 0)
            return 0;
        i += k;
    }
    return 1;
}

static void sb_str(struct sbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";

    if (!utf8_valid(s, n)) {
        sb_fail(b, EINVAL);
        return;
    }
    sb_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[6] = {'\\', 'u', '0', '0', 0, 0};
        switch (c) {
        case '"':
            sb_put(b, "\\\"", 2);
            break;
        case '\\':
            sb_put(b, "\\\\", 2);
            break;
        case '\b':
            sb_put(b, "\\b", 2);
            break;
        case '\f':
            sb_put(b, "\\f", 2);
            break;
        case '\n':
            sb_put(b, "\\n", 2);
            break;
        case '\r':
            sb_put(b, "\\r", 2);
            break;
        case '\t':
            sb_put(b, "\\t", 2);
            break;
        default:
            if (c < 0x20) {
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                sb_put(b, esc, 6);
            } else {
                sb_put(b, (const char *)&c, 1);
            }
        }
    }
    sb_put(b, "\"", 1);
}

/* ECMAScript Number::toString for a finite double (RFC 8785 section 3.2.2.3): the shortest
 * digit string that reads back to the same double, laid out by the decimal exponent. */
static int es6_number(double v, char *out, size_t out_len)
{
    char tmp[40], digits[24];
    size_t k = 0;
    int exp10, n, p;
    char *e;

    if (!isfinite(v))
        return EINVAL;
    if (v == 0) {
        snprintf(out, out_len, "0"); /* -0 too */
        return 0;
    }
    for (p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    /* tmp is [-]d[.ddd]e(+|-)xx */
    e = strchr(tmp, 'e');
    if (e == NULL)
        return EINVAL;
    exp10 = (int)strtol(e + 1, NULL, 10);
    for (const char *q = tmp; q < e; q++)
        if (*q >= '0' && *q <= '9' && k < sizeof digits - 1)
            digits[k++] = *q;
    while (k > 1 && digits[k - 1] == '0')
        k--;
    digits[k] = '\0';
    n = exp10 + 1;
    {
        const char *sign = v < 0 ? "-" : "";
        if ((int)k <= n && n <= 21)
            snprintf(out, out_len, "%s%s%.*s", sign, digits, n - (int)k, "000000000000000000000");
        else if (0 < n && n <= 21)
            snprintf(out, out_len, "%s%.*s.%s", sign, n, digits, digits + n);
        else if (-6 < n && n <= 0)
            snprintf(out, out_len, "%s0.%.*s%s", sign, -n, "000000", digits);
        else if (k == 1)
            snprintf(out, out_len, "%s%se%c%d", sign, digits, n - 1 >= 0 ? '+' : '-', abs(n - 1));
        else
            snprintf(out, out_len, "%s%c.%se%c%d", sign, digits[0], digits + 1, n - 1 >= 0 ? '+' : '-',
                     abs(n - 1));
    }
    return 0;
}

/* The first UTF-16 code unit of a code point: what RFC 8785 sorts member names by. */
static uint32_t utf16_lead(uint32_t cp)
{
    return cp < 0x10000 ? cp : 0xD800 + ((cp - 0x10000) >> 10);
}

static int cmp_utf16(const char *a, const char *b)
{
    const unsigned char *p = (const unsigned char *)a, *q = (const unsigned char *)b;
    size_t na = strlen(a), nb = strlen(b);

    while (na > 0 && nb > 0) {
        uint32_t ca, cb;
        size_t ka = utf8_next(p, na, &ca), kb = utf8_next(q, nb, &cb);
        if (ka == 0 || kb == 0) /* invalid names are refused when written; any order will do */
            return strcmp((const char *)p, (const char *)q);
        if (utf16_lead(ca) != utf16_lead(cb))
            return utf16_lead(ca) < utf16_lead(cb) ? -1 : 1;
        if (ca != cb) /* same lead surrogate: the trail unit orders as the code point does */
            return ca < cb ? -1 : 1;
        p += ka;
        q += kb;
        na -= ka;
        nb -= kb;
    }
    return na == nb ? 0 : na == 0 ? -1 : 1;
}

static int cmp_keys(const void *a, const void *b)
{
    return cmp_utf16(*(const char *const *)a, *(const char *const *)b);
}

static void sb_value(struct sbuf *b, struct json_object *v)
{
    char num[80];
    switch (json_object_get_type(v)) {
    case json_type_null:
        sb_put(b, "null", 4);
        break;
    case json_type_boolean:
        sb_put(b, json_object_get_boolean(v) ? "true" : "false", json_object_get_boolean(v) ? 4 : 5);
        break;
    case json_type_int: {
        /* JCS numbers are IEEE doubles: an integer is written as the double it becomes. */
        int64_t i = json_object_get_int64(v);
        double d = i == INT64_MAX ? (double)json_object_get_uint64(v) : (double)i;
        if (es6_number(d, num, sizeof num) != 0)
            sb_fail(b, EINVAL);
        else
            sb_put(b, num, strlen(num));
        break;
    }
    case json_type_double:
        if (es6_number(json_object_get_double(v), num, sizeof num) != 0)
            sb_fail(b, EINVAL);
        else
            sb_put(b, num, strlen(num));
        break;
    case json_type_string:
        sb_str(b, json_object_get_string(v), (size_t)json_object_get_string_len(v));
        break;
    case json_type_array:
        sb_put(b, "[", 1);
        for (size_t i = 0; i < json_object_array_length(v); i++) {
            if (i)
                sb_put(b, ",", 1);
            sb_value(b, json_object_array_get_idx(v, i));
        }
        sb_put(b, "]", 1);
        break;
    case json_type_object: {
        size_t n = (size_t)json_object_object_length(v), i = 0;
        const char **keys = calloc(n ? n : 1, sizeof *keys);
        if (keys == NULL) {
            sb_fail(b, ENOMEM);
            return;
        }
        json_object_object_foreach(v, k, val)
        {
            (void)val;
            keys[i++] = k;
        }
        qsort(keys, n, sizeof *keys, cmp_keys);
        sb_put(b, "{", 1);
        for (i = 0; i < n; i++) {
            if (i)
                sb_put(b, ",", 1);
            sb_str(b, keys[i], strlen(keys[i]));
            sb_put(b, ":", 1);
            sb_value(b, json_object_object_get(v, keys[i]));
        }
        sb_put(b, "}", 1);
        free(keys);
        break;
    }
    }
}

char *keys_kbs_canonical_json(struct json_object *v)
{
    struct sbuf b = {{NULL, 0, 0, 0}, 0};
    sb_value(&b, v);
    if (b.err) {
        ccr_dynbuf_free(&b.d);
        if (b.err == EINVAL)
            ccr_err_set(EINVAL, "canonical JSON: a string is not UTF-8 or a number is not finite");
        return NULL;
    }
    return ccr_dynbuf_steal(&b.d, NULL);
}

struct json_object *keys_kbs_tee_pubkey_typed(struct json_object *jwk)
{
    static const char *const ec[] = {"crv", "alg", "x", "y", NULL};
    static const char *const rsa[] = {"alg", "n", "e", NULL};
    static const char *const akp[] = {"alg", "pub", NULL};
    const char *const *members;
    struct json_object *kty, *v, *out;
    const char *k;

    if (jwk == NULL || !json_object_is_type(jwk, json_type_object) ||
        !json_object_object_get_ex(jwk, "kty", &kty) || !json_object_is_type(kty, json_type_string)) {
        ccr_err_set(EINVAL, "tee-pubkey: expected a JWK object with a string \"kty\"");
        return NULL;
    }
    k = json_object_get_string(kty);
    members = strcmp(k, "EC") == 0 ? ec : strcmp(k, "RSA") == 0 ? rsa : strcmp(k, "AKP") == 0 ? akp : NULL;
    if (members == NULL) {
        ccr_err_set(EINVAL, "tee-pubkey: kty \"%.16s\" is none of EC, RSA, AKP", k);
        return NULL;
    }
    if ((out = json_object_new_object()) == NULL)
        return NULL;
    json_object_object_add(out, "kty", json_object_new_string(k));
    for (size_t i = 0; members[i] != NULL; i++) {
        if (!json_object_object_get_ex(jwk, members[i], &v) || !json_object_is_type(v, json_type_string)) {
            ccr_err_set(EINVAL, "tee-pubkey: a %s key needs the string member \"%s\"", k, members[i]);
            json_object_put(out);
            return NULL;
        }
        json_object_object_add(out, members[i], json_object_get(v));
    }
    return out;
}

struct json_object *keys_kbs_runtime_data(const char *nonce, struct json_object *tee_pubkey)
{
    struct json_object *typed = keys_kbs_tee_pubkey_typed(tee_pubkey), *o;
    if (typed == NULL || (o = json_object_new_object()) == NULL) {
        json_object_put(typed);
        return NULL;
    }
    json_object_object_add(o, "nonce", json_object_new_string(nonce));
    json_object_object_add(o, "tee-pubkey", typed);
    return o;
}

const char *const keys_kbs_hash_algorithms[] = {"sha256", "sha384", "sha512", NULL};

int keys_kbs_report_data(const char *hash, const char *nonce, struct json_object *tee_pubkey,
                         const char *additional_evidence, uint8_t out[KEYS_SNP_REPORT_DATA_LEN])
{
    struct json_object *typed, *o;
    const EVP_MD *md = hash == NULL || strcmp(hash, "sha384") == 0 ? EVP_sha384()
                       : strcmp(hash, "sha256") == 0               ? EVP_sha256()
                       : strcmp(hash, "sha512") == 0               ? EVP_sha512()
                                                                   : NULL;
    char *text;
    unsigned int len = 0;
    int ok;

    if (md == NULL)
        return ccr_err_set(EINVAL, "hash algorithm '%.16s' is none of sha256, sha384, sha512", hash);
    if ((typed = keys_kbs_tee_pubkey_typed(tee_pubkey)) == NULL)
        return EINVAL;
    if ((o = json_object_new_object()) == NULL) {
        json_object_put(typed);
        return ENOMEM;
    }
    json_object_object_add(o, "additional-evidence",
                           json_object_new_string(additional_evidence ? additional_evidence : ""));
    json_object_object_add(o, "nonce", json_object_new_string(nonce));
    json_object_object_add(o, "tee-pubkey", typed);
    text = keys_kbs_canonical_json(o);
    json_object_put(o);
    if (text == NULL)
        return ccr_err_wrap(EINVAL, "runtime data: ");
    memset(out, 0, KEYS_SNP_REPORT_DATA_LEN);
    ok = EVP_Digest(text, strlen(text), out, &len, md, NULL) == 1 && len <= KEYS_SNP_REPORT_DATA_LEN;
    free(text);
    return ok ? 0 : ccr_err_set(EIO, "cannot hash the runtime data");
}

int keys_kbs_resource_check(const char *path)
{
    int parts = 0;
    const char *p = path;

    while (1) {
        size_t n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return ccr_err_set(EINVAL,
                               "resource '%s': each of REPO/TYPE/TAG must be a non-empty name of "
                               "letters, digits, '.', '_' or '-'",
                               path);
        parts++;
        p += n;
        if (*p == '\0')
            break;
        if (*p != '/' || parts == 3)
            return ccr_err_set(EINVAL, "resource '%s': expected REPO/TYPE/TAG", path);
        p++;
    }
    if (parts != 3)
        return ccr_err_set(EINVAL, "resource '%s': expected REPO/TYPE/TAG", path);
    return 0;
}

char *keys_kbs_error_json(const char *variant, const char *detail)
{
    struct json_object *o = json_object_new_object();
    char type[160], *text;

    if (o == NULL)
        return NULL;
    snprintf(type, sizeof type, KEYS_KBS_ERROR_PREFIX "%s", variant);
    json_object_object_add(o, "type", json_object_new_string(type));
    json_object_object_add(o, "detail", json_object_new_string(detail));
    text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    return text;
}

int keys_kbs_error_parse(const char *body, char *variant, size_t variant_len, char **detail)
{
    struct json_object *o = body ? json_tokener_parse(body) : NULL, *t, *d;
    const char *ts;
    int rc = ENOENT;

    if (detail)
        *detail = NULL;
    if (o != NULL && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "type", &t) &&
        json_object_is_type(t, json_type_string) &&
        strncmp(ts = json_object_get_string(t), KEYS_KBS_ERROR_PREFIX, strlen(KEYS_KBS_ERROR_PREFIX)) == 0 &&
        ts[strlen(KEYS_KBS_ERROR_PREFIX)] != '\0') {
        snprintf(variant, variant_len, "%s", ts + strlen(KEYS_KBS_ERROR_PREFIX));
        if (detail && json_object_object_get_ex(o, "detail", &d) && json_object_is_type(d, json_type_string))
            *detail = strdup(json_object_get_string(d));
        rc = 0;
    }
    json_object_put(o);
    return rc;
}
