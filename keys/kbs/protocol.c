/* KBS protocol pieces shared by client and broker. */
#include "keys/kbs/protocol.h"
#include "common/dynbuf.h"
#include "common/err.h"

#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

struct sbuf {
    struct ccr_dynbuf d;
    int oom; /* checked once at the end instead of after every piece */
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
    if (!b->oom && ccr_dynbuf_add(&b->d, s, n) != 0)
        b->oom = 1;
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
        } else if (c == '\b') {
            sb_put(b, "\\b", 2);
        } else if (c == '\f') {
            sb_put(b, "\\f", 2);
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
    struct sbuf b = {{NULL, 0, 0, 0}, 0};
    sb_value(&b, v);
    if (b.oom) {
        ccr_dynbuf_free(&b.d);
        return NULL;
    }
    return ccr_dynbuf_steal(&b.d, NULL);
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
