/* Canonical JSON serialisation (see canon.h). */
#include "governance/canon.h"
#include "common/dynbuf.h"
#include "common/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int buf_str(struct ccr_dynbuf *b, const char *s)
{
    return ccr_dynbuf_add(b, s, strlen(s));
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int skipped(const char *key, const char *const *skip)
{
    for (size_t i = 0; skip != NULL && skip[i] != NULL; i++)
        if (strcmp(key, skip[i]) == 0)
            return 1;
    return 0;
}

static int canon_value(struct ccr_dynbuf *b, json_object *v, const char *const *skip, const char *where);

/* Escapes as RFC 8259 requires and nothing more: '"' and '\\', the short forms \b \f \n \r \t,
 * other control characters as \u00xx (lowercase hex); every other byte (UTF-8 included) as is.
 * Written here rather than borrowed from a JSON library so the hashed bytes never change
 * with a library version. */
static int canon_string(struct ccr_dynbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = 0;
    int rc = ccr_dynbuf_add(b, "\"", 1);

    for (size_t i = 0; rc == 0 && i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        char esc[7];
        size_t elen = 2;
        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        esc[0] = '\\';
        switch (ch) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[ch >> 4];
            esc[5] = hex[ch & 15];
            elen = 6;
        }
        rc = ccr_dynbuf_add(b, s + start, i - start);
        if (rc == 0)
            rc = ccr_dynbuf_add(b, esc, elen);
        start = i + 1;
    }
    if (rc == 0)
        rc = ccr_dynbuf_add(b, s + start, n - start);
    return rc != 0 ? rc : ccr_dynbuf_add(b, "\"", 1);
}

static int canon_object(struct ccr_dynbuf *b, json_object *v, const char *const *skip)
{
    size_t n = (size_t)json_object_object_length(v), k = 0;
    const char **keys = calloc(n ? n : 1, sizeof *keys);
    int rc = 0;

    if (keys == NULL)
        return ENOMEM;
    json_object_object_foreach(v, key, val)
    {
        (void)val;
        if (!skipped(key, skip))
            keys[k++] = key;
    }
    qsort(keys, k, sizeof *keys, key_cmp);
    rc = ccr_dynbuf_add(b, "{", 1);
    for (size_t i = 0; rc == 0 && i < k; i++) {
        if (i > 0)
            rc = ccr_dynbuf_add(b, ",", 1);
        if (rc == 0)
            rc = canon_string(b, keys[i], strlen(keys[i]));
        if (rc == 0)
            rc = ccr_dynbuf_add(b, ":", 1);
        if (rc == 0)
            rc = canon_value(b, json_object_object_get(v, keys[i]), NULL, keys[i]);
    }
    if (rc == 0)
        rc = ccr_dynbuf_add(b, "}", 1);
    free(keys);
    return rc;
}

static int canon_value(struct ccr_dynbuf *b, json_object *v, const char *const *skip, const char *where)
{
    char num[32];
    int rc = 0;

    switch (json_object_get_type(v)) {
    case json_type_null:
        return buf_str(b, "null");
    case json_type_boolean:
        return buf_str(b, json_object_get_boolean(v) ? "true" : "false");
    case json_type_int:
        snprintf(num, sizeof num, "%lld", (long long)json_object_get_int64(v));
        return buf_str(b, num);
    case json_type_double:
        return ccr_err_set(EINVAL, "\"%s\": a fractional number is not allowed here (integers only)", where);
    case json_type_string:
        return canon_string(b, json_object_get_string(v), (size_t)json_object_get_string_len(v));
    case json_type_array:
        rc = ccr_dynbuf_add(b, "[", 1);
        for (size_t i = 0; rc == 0 && i < json_object_array_length(v); i++) {
            if (i > 0)
                rc = ccr_dynbuf_add(b, ",", 1);
            if (rc == 0)
                rc = canon_value(b, json_object_array_get_idx(v, i), NULL, where);
        }
        return rc != 0 ? rc : ccr_dynbuf_add(b, "]", 1);
    case json_type_object:
        return canon_object(b, v, skip);
    }
    return ccr_err_set(EINVAL, "\"%s\": unsupported JSON value", where);
}

int gov_canon_json(json_object *v, const char *const *skip, char **out, size_t *out_len)
{
    struct ccr_dynbuf b;
    size_t len;
    int rc;

    ccr_dynbuf_init(&b, 0);
    rc = canon_value(&b, v, skip, "(top)");
    if (rc != 0) {
        ccr_dynbuf_free(&b);
        return rc;
    }
    *out = ccr_dynbuf_steal(&b, &len);
    if (*out == NULL)
        return ENOMEM;
    if (out_len != NULL)
        *out_len = len;
    return 0;
}

int gov_json_parse(const char *text, size_t len, const char *what, json_object **out)
{
    json_tokener *tok;
    json_object *v;
    enum json_tokener_error jerr;
    size_t used;

    if (len > 0x7fffffff)
        return ccr_err_set(EFBIG, "%s: too large to parse", what);
    if (memchr(text, '\0', len) != NULL)
        return ccr_err_set(EINVAL, "%s: contains a NUL byte", what);
    tok = json_tokener_new();
    if (tok == NULL)
        return ENOMEM;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    v = json_tokener_parse_ex(tok, text, (int)len);
    jerr = json_tokener_get_error(tok);
    used = (size_t)json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (v == NULL || jerr != json_tokener_success) {
        json_object_put(v);
        if (jerr == json_tokener_continue)
            return ccr_err_set(EINVAL, "%s: not valid JSON: input ends early", what);
        return ccr_err_set(EINVAL, "%s: not valid JSON at byte %zu: %s", what, used,
                           json_tokener_error_desc(jerr));
    }
    while (used < len &&
           (text[used] == ' ' || text[used] == '\n' || text[used] == '\r' || text[used] == '\t'))
        used++;
    if (used != len) {
        json_object_put(v);
        return ccr_err_set(EINVAL, "%s: unexpected bytes after the JSON value at byte %zu", what, used);
    }
    *out = v;
    return 0;
}

const char *gov_json_str(json_object *obj, const char *key)
{
    json_object *v;
    if (obj == NULL || !json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

int gov_json_int(json_object *obj, const char *key, long long *out)
{
    json_object *v;
    if (obj == NULL || !json_object_object_get_ex(obj, key, &v))
        return ENOENT;
    if (!json_object_is_type(v, json_type_int))
        return EINVAL;
    *out = (long long)json_object_get_int64(v);
    return 0;
}

int gov_json_check_fields(json_object *obj, const char *doc, const char *where, const char *const *allowed)
{
    json_object_object_foreach(obj, key, val)
    {
        int ok = 0;
        (void)val;
        for (size_t i = 0; allowed[i] != NULL; i++)
            ok |= strcmp(key, allowed[i]) == 0;
        if (!ok)
            return ccr_err_set(EINVAL, "%s: %s: unknown field \"%s\"", doc, where, key);
    }
    return 0;
}
