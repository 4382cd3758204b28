/* AWS Signature Version 4: canonical request, string to sign, signing key, signature. */
#include "fetch/sigv4.h"
#include "common/array.h"
#include "common/dynbuf.h"
#include "common/encoding.h"
#include "common/err.h"
#include "common/secmem.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kv {
    char *name, *value;
};

static int kv_cmp(const void *a, const void *b)
{
    const struct kv *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

static void kv_free(struct ccr_array *a)
{
    for (size_t i = 0; i < a->len; i++) {
        struct kv *e = &CCR_ARRAY_AT(a, struct kv, i);
        free(e->name);
        free(e->value);
    }
    ccr_array_free(a);
}

/* Decodes percent-escapes of s[0..n) and encodes the result the way SigV4 wants it: every
 * byte but the RFC 3986 unreserved ones as %XX with uppercase digits. */
static int requote(const char *s, size_t n, char **out)
{
    static const char hex[] = "0123456789ABCDEF";
    char *d = malloc(n * 3 + 1);
    size_t j = 0;

    if (d == NULL)
        return ENOMEM;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            int hi = i + 2 < n ? ccr_hex_digit(s[i + 1]) : -1, lo = i + 2 < n ? ccr_hex_digit(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free(d);
                return ccr_err_set(EINVAL, "malformed percent-encoding in the query");
            }
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        }
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            d[j++] = (char)c;
        } else {
            d[j++] = '%';
            d[j++] = hex[c >> 4];
            d[j++] = hex[c & 15];
        }
    }
    d[j] = '\0';
    *out = d;
    return 0;
}

static int canonical_query(struct ccr_dynbuf *b, const char *query)
{
    struct ccr_array ps = CCR_ARRAY_INIT(struct kv);
    const char *p = query;
    int rc = 0;

    while (p != NULL && *p != '\0' && rc == 0) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (len > 0) {
            struct kv *e = ccr_array_push(&ps);
            if (e == NULL) {
                rc = ENOMEM;
                break;
            }
            e->name = e->value = NULL;
            if ((rc = requote(p, eq ? (size_t)(eq - p) : len, &e->name)) == 0)
                rc = requote(eq ? eq + 1 : "", eq ? len - (size_t)(eq - p) - 1 : 0, &e->value);
        }
        p = amp ? amp + 1 : NULL;
    }
    if (rc == 0) {
        if (ps.len > 1)
            qsort(ps.items, ps.len, sizeof(struct kv), kv_cmp);
        for (size_t i = 0; i < ps.len && rc == 0; i++) {
            struct kv *e = &CCR_ARRAY_AT(&ps, struct kv, i);
            rc = ccr_dynbuf_addf(b, "%s%s=%s", i ? "&" : "", e->name, e->value);
        }
    }
    kv_free(&ps);
    return rc;
}

/* Header names lowercased, values trimmed with inner runs of spaces squeezed, sorted by
 * name, repeated names joined with ','. Fills the canonical block and the signed list. */
static int canonical_headers(const struct fetch_sigv4_req *r, struct ccr_dynbuf *block,
                             struct ccr_dynbuf *names)
{
    struct ccr_array hs = CCR_ARRAY_INIT(struct kv);
    int rc = 0;

    for (size_t i = 0; i < r->n_headers && rc == 0; i++) {
        const char *v = r->headers[i].value;
        struct kv *e = ccr_array_push(&hs);
        size_t j = 0;
        if (e == NULL) {
            rc = ENOMEM;
            break;
        }
        e->name = strdup(r->headers[i].name);
        e->value = malloc(strlen(v) + 1);
        if (e->name == NULL || e->value == NULL) {
            rc = ENOMEM;
            break;
        }
        if (e->name[0] == '\0')
            rc = ccr_err_set(EINVAL, "empty header name");
        for (char *c = e->name; *c && rc == 0; c++) {
            if (!isgraph((unsigned char)*c) || *c == ':')
                rc = ccr_err_set(EINVAL, "header name \"%s\" is not a token", r->headers[i].name);
            *c = (char)tolower((unsigned char)*c);
        }
        while (*v == ' ' || *v == '\t')
            v++;
        for (; *v; v++) {
            if ((*v == ' ' || *v == '\t') && (j == 0 || e->value[j - 1] == ' '))
                continue;
            e->value[j++] = *v == '\t' ? ' ' : *v;
        }
        while (j > 0 && e->value[j - 1] == ' ')
            j--;
        e->value[j] = '\0';
    }
    if (rc == 0) {
        struct kv *a = hs.items;
        if (hs.len > 1)
            qsort(a, hs.len, sizeof *a, kv_cmp);
        for (size_t i = 0; i < hs.len && rc == 0; i++) {
            if (i > 0 && strcmp(a[i].name, a[i - 1].name) == 0) {
                /* The block ends with "\n": replace it by ",value\n". */
                block->len--;
                rc = ccr_dynbuf_addf(block, ",%s\n", a[i].value);
            } else {
                rc = ccr_dynbuf_addf(block, "%s:%s\n", a[i].name, a[i].value);
                if (rc == 0)
                    rc = ccr_dynbuf_addf(names, "%s%s", i ? ";" : "", a[i].name);
            }
        }
    }
    kv_free(&hs);
    return rc;
}

static int canonical(const struct fetch_sigv4_req *r, char **out, char **signed_names)
{
    struct ccr_dynbuf b, block, names;
    int rc;

    ccr_dynbuf_init(&b, 0);
    ccr_dynbuf_init(&block, 0);
    ccr_dynbuf_init(&names, 0);
    rc = ccr_dynbuf_addf(&b, "%s\n%s\n", r->method, r->path != NULL && r->path[0] ? r->path : "/");
    if (rc == 0)
        rc = canonical_query(&b, r->query);
    if (rc == 0)
        rc = canonical_headers(r, &block, &names);
    if (rc == 0)
        rc = ccr_dynbuf_addf(&b, "\n%s\n%s\n%s", block.data ? block.data : "", names.data ? names.data : "",
                             r->payload_hash);
    ccr_dynbuf_free(&block);
    if (rc != 0) {
        ccr_dynbuf_free(&b);
        ccr_dynbuf_free(&names);
        return rc;
    }
    *out = ccr_dynbuf_steal(&b, NULL);
    if (signed_names == NULL) {
        ccr_dynbuf_free(&names);
        return *out == NULL ? ENOMEM : 0;
    }
    *signed_names = ccr_dynbuf_steal(&names, NULL);
    if (*out == NULL || *signed_names == NULL) {
        free(*out);
        free(*signed_names);
        return ENOMEM;
    }
    return 0;
}

int fetch_sigv4_canonical_request(const struct fetch_sigv4_req *r, char **out)
{
    return canonical(r, out, NULL);
}

int fetch_sigv4_sha256_hex(const void *data, size_t len, char *out)
{
    uint8_t md[32];
    unsigned md_len = 0;

    if (EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL) != 1 || md_len != 32)
        return ccr_err_set(EIO, "SHA-256 failed");
    ccr_hex_encode(md, 32, out);
    return 0;
}

static int amz_day(const struct fetch_sigv4_req *r, char day[9])
{
    if (r->amz_date == NULL || strlen(r->amz_date) != 16 || r->amz_date[8] != 'T' || r->amz_date[15] != 'Z')
        return ccr_err_set(EINVAL, "x-amz-date \"%s\" is not YYYYMMDDTHHMMSSZ",
                           r->amz_date ? r->amz_date : "");
    memcpy(day, r->amz_date, 8);
    day[8] = '\0';
    return 0;
}

static int sts_from(const struct fetch_sigv4_req *r, const char *creq, char **out)
{
    char day[9], hash[65];
    struct ccr_dynbuf b;
    int rc;

    if ((rc = amz_day(r, day)) != 0 || (rc = fetch_sigv4_sha256_hex(creq, strlen(creq), hash)) != 0)
        return rc;
    ccr_dynbuf_init(&b, 0);
    if (ccr_dynbuf_addf(&b, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", r->amz_date, day, r->region,
                        r->service, hash) != 0) {
        ccr_dynbuf_free(&b);
        return ENOMEM;
    }
    *out = ccr_dynbuf_steal(&b, NULL);
    return *out == NULL ? ENOMEM : 0;
}

int fetch_sigv4_string_to_sign(const struct fetch_sigv4_req *r, char **out)
{
    char *creq = NULL;
    int rc = canonical(r, &creq, NULL);

    if (rc == 0)
        rc = sts_from(r, creq, out);
    free(creq);
    return rc;
}

static int hmac(const uint8_t *key, size_t key_len, const char *msg, uint8_t out[32])
{
    unsigned len = 0;
    if (HMAC(EVP_sha256(), key, (int)key_len, (const uint8_t *)msg, strlen(msg), out, &len) == NULL ||
        len != 32)
        return ccr_err_set(EIO, "HMAC-SHA256 failed");
    return 0;
}

int fetch_sigv4_authorization(const struct fetch_sigv4_req *r, char *out, size_t out_len)
{
    char *creq = NULL, *names = NULL, *sts = NULL, day[9], sig[65];
    size_t seed_len = r->secret_len + 4;
    uint8_t *seed, *k; /* "AWS4"+secret, then the chain of derived keys: all secret */
    int rc;

    if ((rc = amz_day(r, day)) != 0)
        return rc;
    if ((rc = canonical(r, &creq, &names)) != 0)
        return rc;
    if ((rc = sts_from(r, creq, &sts)) != 0)
        goto out;
    seed = ccr_secmem_alloc(seed_len + 32 * 2);
    if (seed == NULL) {
        rc = ENOMEM;
        goto out;
    }
    k = seed + seed_len;
    memcpy(seed, "AWS4", 4);
    memcpy(seed + 4, r->secret, r->secret_len);
    if ((rc = hmac(seed, seed_len, day, k)) == 0 && (rc = hmac(k, 32, r->region, k + 32)) == 0 &&
        (rc = hmac(k + 32, 32, r->service, k)) == 0 && (rc = hmac(k, 32, "aws4_request", k + 32)) == 0 &&
        (rc = hmac(k + 32, 32, sts, k)) == 0) {
        ccr_hex_encode(k, 32, sig);
        if ((size_t)snprintf(
                out, out_len,
                "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s",
                r->access_key_id, day, r->region, r->service, names, sig) >= out_len)
            rc = ccr_err_set(ENAMETOOLONG, "Authorization header too long");
    }
    ccr_secmem_free(seed, seed_len + 32 * 2);
out:
    free(creq);
    free(names);
    free(sts);
    return rc;
}

void fetch_sigv4_amz_date(time_t t, char *out, size_t out_len)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, out_len, "%Y%m%dT%H%M%SZ", &tm);
}
