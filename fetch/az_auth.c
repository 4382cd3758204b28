/* Azure Blob authorization pieces: the az:// URL, the Shared Key string-to-sign and its
 * HMAC, and the managed-identity token answer. */
#include "fetch/azure.h"
#include "fetch/http.h"
#include "common/encoding.h"
#include "common/array.h"
#include "common/dynbuf.h"
#include "common/err.h"

#include <ctype.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fetch_az_url_free(struct fetch_az_url *u)
{
    free(u->account);
    free(u->container);
    free(u->prefix);
    memset(u, 0, sizeof *u);
}

int fetch_az_url_parse(const char *url, struct fetch_az_url *out)
{
    const char *p, *slash;
    size_t n;

    memset(out, 0, sizeof *out);
    if (strncmp(url, "az://", 5) != 0)
        return ccr_err_set(EINVAL, "not an az:// URL");
    if (strchr(url, '?') != NULL)
        return ccr_err_set(EINVAL,
                           "az:// URLs take no query; give a SAS token through CCRFS_AZURE_SAS_FILE or "
                           "AZURE_STORAGE_SAS_TOKEN");
    p = url + 5;
    slash = strchr(p, '/');
    n = slash ? (size_t)(slash - p) : strlen(p);
    if (n < 3 || n > 24)
        return ccr_err_set(EINVAL, "az:// account name must be 3 to 24 lowercase letters and digits");
    for (size_t i = 0; i < n; i++)
        if (!islower((unsigned char)p[i]) && !isdigit((unsigned char)p[i]))
            return ccr_err_set(EINVAL, "az:// account name must be 3 to 24 lowercase letters and digits");
    if (slash == NULL)
        return ccr_err_set(EINVAL, "az:// URL names no container (az://ACCOUNT/CONTAINER[/PREFIX])");
    out->account = strndup(p, n);
    p = slash + 1;
    slash = strchr(p, '/');
    n = slash ? (size_t)(slash - p) : strlen(p);
    if (n < 3 || n > 63 || p[0] == '-' || p[n - 1] == '-') {
        fetch_az_url_free(out);
        return ccr_err_set(EINVAL,
                           "az:// container name must be 3 to 63 lowercase letters, digits and hyphens");
    }
    for (size_t i = 0; i < n; i++) {
        if ((!islower((unsigned char)p[i]) && !isdigit((unsigned char)p[i]) && p[i] != '-') ||
            (p[i] == '-' && p[i + 1] == '-')) {
            fetch_az_url_free(out);
            return ccr_err_set(EINVAL,
                               "az:// container name must be 3 to 63 lowercase letters, digits and single "
                               "hyphens");
        }
    }
    out->container = strndup(p, n);
    p = slash ? slash + 1 : p + n;
    n = strlen(p);
    while (n > 0 && p[n - 1] == '/')
        n--;
    out->prefix = strndup(p, n);
    if (out->account == NULL || out->container == NULL || out->prefix == NULL) {
        fetch_az_url_free(out);
        return ENOMEM;
    }
    if (n > 0 && fetch_key_check(out->prefix) != 0) {
        fetch_az_url_free(out);
        return ccr_err_set(EINVAL,
                           "az:// prefix has an empty, \".\" or \"..\" segment or a control character");
    }
    return 0;
}

/* A growing string for the string-to-sign. */
struct sbuf {
    struct ccr_dynbuf d;
    int failed; /* checked once at the end instead of after every piece */
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (!b->failed && ccr_dynbuf_add(&b->d, s, n) != 0)
        b->failed = 1;
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_line(struct sbuf *b, const char *s)
{
    if (s != NULL)
        sb_str(b, s);
    sb_add(b, "\n", 1);
}

static int pct_decode(const char *s, size_t n, char **out)
{
    char *d = malloc(n + 1);
    size_t j = 0;

    if (d == NULL)
        return ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi = i + 2 < n ? ccr_hex_digit(s[i + 1]) : -1;
            if (hi < 0 || ccr_hex_digit(s[i + 2]) < 0) {
                free(d);
                return ccr_err_set(EINVAL, "malformed percent-encoding in the query");
            }
            d[j++] = (char)(hi * 16 + ccr_hex_digit(s[i + 2]));
            i += 2;
        } else {
            d[j++] = s[i];
        }
    }
    d[j] = '\0';
    *out = d;
    return 0;
}

struct qparam {
    char *name, *value;
};

static int qparam_cmp(const void *a, const void *b)
{
    const struct qparam *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

static int header_cmp(const void *a, const void *b)
{
    const struct fetch_az_header *x = a, *y = b;
    return strcmp(x->name, y->name);
}

/* Query parameters sorted by lowercase name, values decoded, repeated names joined by ','. */
static int canonical_query(struct sbuf *b, const char *query)
{
    struct ccr_array params = CCR_ARRAY_INIT(struct qparam);
    struct qparam *ps;
    size_t n = 0;
    int rc = 0;
    const char *p = query;

    while (p != NULL && *p != '\0') {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (len > 0) {
            struct qparam *q = ccr_array_push(&params);
            if (q == NULL) {
                rc = ENOMEM;
                break;
            }
            if ((rc = pct_decode(p, eq ? (size_t)(eq - p) : len, &q->name)) != 0 ||
                (rc = pct_decode(eq ? eq + 1 : "", eq ? len - (size_t)(eq - p) - 1 : 0, &q->value)) != 0) {
                free(q->name);
                params.len--;
                break;
            }
            for (char *c = q->name; *c; c++)
                *c = (char)tolower((unsigned char)*c);
        }
        p = amp ? amp + 1 : NULL;
    }
    ps = params.items;
    n = params.len;
    if (rc == 0) {
        if (n > 1)
            qsort(ps, n, sizeof *ps, qparam_cmp);
        for (size_t i = 0; i < n; i++) {
            if (i > 0 && strcmp(ps[i].name, ps[i - 1].name) == 0) {
                sb_str(b, ",");
            } else {
                sb_str(b, "\n");
                sb_str(b, ps[i].name);
                sb_str(b, ":");
            }
            sb_str(b, ps[i].value);
        }
    }
    for (size_t i = 0; i < n; i++) {
        free(ps[i].name);
        free(ps[i].value);
    }
    ccr_array_free(&params);
    return rc;
}

int fetch_az_string_to_sign(const struct fetch_az_sign_req *r, char **out)
{
    struct sbuf b = {{NULL, 0, 0, 0}, 0};
    struct fetch_az_header *hs = NULL;
    char len_text[24] = "";
    int rc = 0;

    if (r->content_length > 0)
        snprintf(len_text, sizeof len_text, "%llu", (unsigned long long)r->content_length);
    sb_line(&b, r->verb);
    sb_line(&b, NULL); /* Content-Encoding */
    sb_line(&b, NULL); /* Content-Language */
    sb_line(&b, len_text);
    sb_line(&b, NULL); /* Content-MD5 */
    sb_line(&b, r->content_type);
    sb_line(&b, NULL); /* Date: x-ms-date is used instead */
    sb_line(&b, NULL); /* If-Modified-Since */
    sb_line(&b, r->if_match);
    sb_line(&b, NULL); /* If-None-Match */
    sb_line(&b, NULL); /* If-Unmodified-Since */
    sb_line(&b, r->range);
    if (r->n_ms > 0) {
        hs = malloc(r->n_ms * sizeof *hs);
        if (hs == NULL) {
            ccr_dynbuf_free(&b.d);
            return ENOMEM;
        }
        memcpy(hs, r->ms_headers, r->n_ms * sizeof *hs);
        qsort(hs, r->n_ms, sizeof *hs, header_cmp);
        for (size_t i = 0; i < r->n_ms; i++) {
            sb_str(&b, hs[i].name);
            sb_str(&b, ":");
            sb_line(&b, hs[i].value);
        }
        free(hs);
    }
    sb_str(&b, "/");
    sb_str(&b, r->account);
    sb_str(&b, r->path);
    rc = canonical_query(&b, r->query);
    if (rc == 0 && b.failed)
        rc = ENOMEM;
    if (rc != 0) {
        ccr_dynbuf_free(&b.d);
        return rc;
    }
    *out = ccr_dynbuf_steal(&b.d, NULL);
    return *out == NULL ? ENOMEM : 0;
}

int fetch_az_sign(const uint8_t *key, size_t key_len, const char *sts, char *out, size_t out_len)
{
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;

    if (out_len < ccr_b64_encoded_size(32, CCR_B64_STD))
        return EINVAL;
    if (HMAC(EVP_sha256(), key, (int)key_len, (const uint8_t *)sts, strlen(sts), mac, &mac_len) == NULL ||
        mac_len != 32)
        return ccr_err_set(EIO, "HMAC-SHA256 failed");
    ccr_b64_encode(mac, mac_len, out, CCR_B64_STD);
    OPENSSL_cleanse(mac, sizeof mac);
    return 0;
}

int fetch_az_token_parse(const char *json, size_t len, char **token, int64_t *expires_on)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object *root = NULL, *at, *exp;
    const char *t;
    int rc = 0;

    *token = NULL;
    if (tok == NULL)
        return ENOMEM;
    root = json_tokener_parse_ex(tok, json, (int)len);
    if (root == NULL || json_tokener_get_error(tok) != json_tokener_success || tok->char_offset != (int)len) {
        rc = ccr_err_set(EINVAL, "managed-identity answer: not one JSON object");
        goto out;
    }
    if (!json_object_is_type(root, json_type_object) ||
        !json_object_object_get_ex(root, "access_token", &at) || !json_object_is_type(at, json_type_string) ||
        json_object_get_string_len(at) == 0) {
        rc = ccr_err_set(EINVAL, "managed-identity answer: no access_token string");
        goto out;
    }
    t = json_object_get_string(at);
    for (const char *c = t; *c; c++) {
        if ((unsigned char)*c <= 0x20 || *c == 0x7f) {
            rc = ccr_err_set(EINVAL,
                             "managed-identity answer: access_token holds a space or control character");
            goto out;
        }
    }
    *expires_on = 0;
    if (json_object_object_get_ex(root, "expires_on", &exp)) {
        const char *e = json_object_get_string(exp);
        char *end;
        long long v;
        errno = 0;
        v = strtoll(e, &end, 10);
        if (errno != 0 || end == e || *end != '\0' || v <= 0) {
            rc = ccr_err_set(EINVAL, "managed-identity answer: malformed expires_on");
            goto out;
        }
        *expires_on = v;
    }
    if ((*token = strdup(t)) == NULL)
        rc = ENOMEM;
out:
    json_object_put(root);
    json_tokener_free(tok);
    return rc;
}
