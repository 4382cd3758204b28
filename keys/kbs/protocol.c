/* KBS protocol pieces shared by client and broker. */
#include "keys/kbs/protocol.h"
#include "common/encoding.h"
#include "common/err.h"

#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 256) + n;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            sb_put(b, esc, 2);
        } else if (c == '\n') {
            sb_put(b, "\\n", 2);
        } else if (c == '\r') {
            sb_put(b, "\\r", 2);
        } else if (c == '\t') {
            sb_put(b, "\\t", 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            sb_put(b, esc, 6);
        } else {
            sb_put(b, (const char *)&c, 1);
        }
    }
    sb_put(b, "\"", 1);
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void sb_value(struct sbuf *b, struct json_object *v)
{
    char num[32];
    switch (json_object_get_type(v)) {
    case json_type_null:
        sb_put(b, "null", 4);
        break;
    case json_type_boolean:
        sb_put(b, json_object_get_boolean(v) ? "true" : "false", json_object_get_boolean(v) ? 4 : 5);
        break;
    case json_type_int:
        snprintf(num, sizeof num, "%lld", (long long)json_object_get_int64(v));
        sb_put(b, num, strlen(num));
        break;
    case json_type_double: {
        const char *t = json_object_to_json_string(v);
        sb_put(b, t, strlen(t));
        break;
    }
    case json_type_string:
        sb_str(b, json_object_get_string(v));
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
            b->oom = 1;
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
            sb_str(b, keys[i]);
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
    struct sbuf b = {0};
    sb_value(&b, v);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

struct json_object *keys_kbs_runtime_data(const char *nonce, struct json_object *tee_pubkey)
{
    struct json_object *o = json_object_new_object();
    if (o == NULL)
        return NULL;
    json_object_object_add(o, "nonce", json_object_new_string(nonce));
    json_object_object_add(o, "tee-pubkey", json_object_get(tee_pubkey));
    return o;
}

int keys_kbs_report_data(struct json_object *runtime_data, uint8_t out[KEYS_SNP_REPORT_DATA_LEN])
{
    char *text = keys_kbs_canonical_json(runtime_data);
    unsigned int len = 0;
    int ok;
    if (text == NULL)
        return ENOMEM;
    memset(out, 0, KEYS_SNP_REPORT_DATA_LEN);
    ok = EVP_Digest(text, strlen(text), out, &len, EVP_sha384(), NULL) == 1 && len == 48;
    free(text);
    return ok ? 0 : ccr_err_set(EIO, "cannot hash the runtime data");
}

static char *b64std(const uint8_t *p, size_t len)
{
    char *s = malloc(ccr_b64_encoded_size(len, CCR_B64_STD));
    if (s)
        ccr_b64_encode(p, len, s, CCR_B64_STD);
    return s;
}

struct json_object *keys_kbs_snp_evidence(const struct keys_evidence *ev)
{
    struct json_object *o = json_object_new_object(), *chain = json_object_new_array(), *entry;
    char *s = b64std(ev->report, sizeof ev->report);
    json_object_object_add(o, "attestation_report", json_object_new_string(s ? s : ""));
    free(s);
    if (ev->vcek_der != NULL) {
        entry = json_object_new_object();
        json_object_object_add(entry, "cert_type", json_object_new_string("VCEK"));
        s = b64std(ev->vcek_der, ev->vcek_len);
        json_object_object_add(entry, "data", json_object_new_string(s ? s : ""));
        free(s);
        json_object_array_add(chain, entry);
    }
    json_object_object_add(o, "cert_chain", chain);
    return o;
}

int keys_kbs_snp_evidence_parse(struct json_object *o, struct keys_snp_report *r, uint8_t **vcek_der,
                                size_t *vcek_len)
{
    struct json_object *rep, *chain;
    uint8_t *raw = NULL;
    size_t len;
    const char *s;
    int rc;

    *vcek_der = NULL;
    if (!json_object_is_type(o, json_type_object) ||
        !json_object_object_get_ex(o, "attestation_report", &rep) ||
        !json_object_is_type(rep, json_type_string))
        return ccr_err_set(EINVAL, "SNP evidence: \"attestation_report\" is missing or not a string");
    s = json_object_get_string(rep);
    if (ccr_b64_decode(s, strlen(s), &raw, &len, CCR_B64_STD) != 0)
        return ccr_err_set(EINVAL, "SNP evidence: \"attestation_report\" is not base64");
    rc = keys_snp_report_parse(raw, len, r);
    free(raw);
    if (rc != 0)
        return rc;
    if (!json_object_object_get_ex(o, "cert_chain", &chain) || !json_object_is_type(chain, json_type_array))
        return ccr_err_set(EINVAL, "SNP evidence: \"cert_chain\" is missing or not an array");
    for (size_t i = 0; i < json_object_array_length(chain); i++) {
        struct json_object *e = json_object_array_get_idx(chain, i), *t, *d;
        if (!json_object_object_get_ex(e, "cert_type", &t) || !json_object_object_get_ex(e, "data", &d) ||
            !json_object_is_type(d, json_type_string))
            return ccr_err_set(EINVAL, "SNP evidence: cert_chain[%zu] needs \"cert_type\" and \"data\"", i);
        if (strcmp(json_object_get_string(t), "VCEK") != 0)
            continue;
        s = json_object_get_string(d);
        if (ccr_b64_decode(s, strlen(s), vcek_der, vcek_len, CCR_B64_STD) != 0)
            return ccr_err_set(EINVAL, "SNP evidence: cert_chain[%zu].data is not base64", i);
        return 0;
    }
    return ccr_err_set(EINVAL, "SNP evidence: cert_chain holds no VCEK");
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
