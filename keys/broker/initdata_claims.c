/* Init-data claims: a TOML reader of just what the broker needs (tables, keys, strings, and
 * skipping any other value whole), and the check of ccrfs's entry. */
#include "keys/broker/initdata_claims.h"
#include "common/dynbuf.h"
#include "common/encoding.h"
#include "common/err.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INITDATA_MAX        (256 * 1024)
#define INITDATA_MAX_PARTS  8
#define INITDATA_MAX_KEYLEN 128
#define INITDATA_MAX_DEPTH  16

struct toml_reader {
    const char *p;
    unsigned line;
};

struct toml_key {
    size_t n;
    char part[INITDATA_MAX_PARTS][INITDATA_MAX_KEYLEN];
};

static int bad(const struct toml_reader *r, const char *what)
{
    return ccr_err_set(EINVAL, "init-data: TOML line %u: %s", r->line, what);
}

static void skip_blank(struct toml_reader *r)
{
    while (*r->p == ' ' || *r->p == '\t')
        r->p++;
}

/* Whitespace, newlines and comments. */
static void skip_space(struct toml_reader *r)
{
    for (;;) {
        skip_blank(r);
        if (*r->p == '#') {
            while (*r->p != '\0' && *r->p != '\n')
                r->p++;
        } else if (*r->p == '\r' || *r->p == '\n') {
            if (*r->p == '\n')
                r->line++;
            r->p++;
        } else {
            return;
        }
    }
}

static int put_utf8(struct ccr_dynbuf *b, unsigned long cp)
{
    char u[4];
    size_t n;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return EINVAL;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return ccr_dynbuf_add(b, u, n);
}

/* One escape of a basic string, r->p just past the backslash. */
static int read_escape(struct toml_reader *r, struct ccr_dynbuf *b)
{
    static const char from[] = "btnfr\"\\", to[] = "\b\t\n\f\r\"\\";
    const char *hit = *r->p ? strchr(from, *r->p) : NULL;
    unsigned long cp = 0;
    int digits;

    if (hit != NULL) {
        r->p++;
        return ccr_dynbuf_add(b, &to[hit - from], 1);
    }
    if (*r->p != 'u' && *r->p != 'U')
        return bad(r, "unknown escape in a string");
    digits = *r->p == 'u' ? 4 : 8;
    r->p++;
    for (int i = 0; i < digits; i++) {
        int d = ccr_hex_digit(r->p[i]);
        if (d < 0)
            return bad(r, "\\u needs hex digits");
        cp = cp * 16 + (unsigned long)d;
    }
    r->p += digits;
    return put_utf8(b, cp) == 0 ? 0 : bad(r, "\\u names no Unicode scalar value");
}

/* A string value of any of TOML's four kinds; b (may be NULL: skip) gets its text. */
static int read_string(struct toml_reader *r, struct ccr_dynbuf *b)
{
    char q = *r->p;
    int multi = r->p[1] == q && r->p[2] == q, rc;
    struct ccr_dynbuf scratch;

    ccr_dynbuf_init(&scratch, INITDATA_MAX);
    if (b == NULL)
        b = &scratch;
    r->p += multi ? 3 : 1;
    if (multi && *r->p == '\n') { /* a newline right after the opening delimiter is trimmed */
        r->line++;
        r->p++;
    } else if (multi && r->p[0] == '\r' && r->p[1] == '\n') {
        r->line++;
        r->p += 2;
    }
    for (;;) {
        if (*r->p == '\0') {
            rc = bad(r, "a string is not closed");
            break;
        }
        if (*r->p == q && (!multi || (r->p[1] == q && r->p[2] == q))) {
            r->p += multi ? 3 : 1;
            /* """a"""" is a" followed by the delimiter: up to two quotes belong to the text */
            for (int extra = 0; multi && extra < 2 && *r->p == q; extra++)
                if ((rc = ccr_dynbuf_add(b, r->p++, 1)) != 0)
                    goto out;
            rc = 0;
            break;
        }
        if (*r->p == '\n') {
            if (!multi) {
                rc = bad(r, "a one-line string holds a newline");
                break;
            }
            r->line++;
        }
        if (q == '"' && *r->p == '\\') {
            r->p++;
            if (multi && (*r->p == ' ' || *r->p == '\t' || *r->p == '\r' || *r->p == '\n')) {
                /* a line-ending backslash trims the line break and the blanks after it */
                const char *t = r->p + strspn(r->p, " \t\r");
                if (*t != '\n') {
                    rc = bad(r, "a backslash in a multi-line string must end its line");
                    break;
                }
                while (*r->p == ' ' || *r->p == '\t' || *r->p == '\r' || *r->p == '\n') {
                    if (*r->p == '\n')
                        r->line++;
                    r->p++;
                }
                continue;
            }
            if ((rc = read_escape(r, b)) != 0)
                break;
            continue;
        }
        if ((rc = ccr_dynbuf_add(b, r->p++, 1)) != 0) {
            rc = rc == EFBIG ? bad(r, "a string is too long") : rc;
            break;
        }
    }
out:
    ccr_dynbuf_free(&scratch);
    return rc;
}

/* Any other value, skipped whole: arrays and inline tables (which may hold strings with
 * brackets in them) by depth, scalars to the end of the line. */
static int skip_value(struct toml_reader *r)
{
    int depth = 0, rc;

    if (*r->p == '"' || *r->p == '\'')
        return read_string(r, NULL);
    if (*r->p != '[' && *r->p != '{') {
        while (*r->p != '\0' && *r->p != '\n' && *r->p != '#')
            r->p++;
        return 0;
    }
    for (;;) {
        if (*r->p == '\0')
            return bad(r, "an array or inline table is not closed");
        if (*r->p == '"' || *r->p == '\'') {
            if ((rc = read_string(r, NULL)) != 0)
                return rc;
            continue;
        }
        if (*r->p == '#') {
            while (*r->p != '\0' && *r->p != '\n')
                r->p++;
            continue;
        }
        if (*r->p == '\n')
            r->line++;
        if (*r->p == '[' || *r->p == '{') {
            if (++depth > INITDATA_MAX_DEPTH)
                return bad(r, "arrays nested too deep");
        } else if (*r->p == ']' || *r->p == '}') {
            if (--depth == 0) {
                r->p++;
                return 0;
            }
        }
        r->p++;
    }
}

/* A dotted key: bare, "basic" or 'literal' parts. */
static int read_key(struct toml_reader *r, struct toml_key *k, size_t first)
{
    k->n = first;
    for (;;) {
        char *part;
        skip_blank(r);
        if (k->n == INITDATA_MAX_PARTS)
            return bad(r, "a key has too many parts");
        part = k->part[k->n];
        if (*r->p == '"' || *r->p == '\'') {
            struct ccr_dynbuf b;
            int rc;
            if (r->p[1] == *r->p && r->p[2] == *r->p)
                return bad(r, "a key cannot be a multi-line string");
            ccr_dynbuf_init(&b, INITDATA_MAX_KEYLEN - 1);
            rc = read_string(r, &b);
            if (rc == 0 && b.len >= INITDATA_MAX_KEYLEN)
                rc = bad(r, "a key is too long");
            if (rc == 0) {
                memcpy(part, b.data ? b.data : "", b.len);
                part[b.len] = '\0';
            }
            ccr_dynbuf_free(&b);
            if (rc != 0)
                return rc == EFBIG ? bad(r, "a key is too long") : rc;
        } else {
            size_t n = 0;
            while ((*r->p >= 'A' && *r->p <= 'Z') || (*r->p >= 'a' && *r->p <= 'z') ||
                   (*r->p >= '0' && *r->p <= '9') || *r->p == '_' || *r->p == '-') {
                if (n + 1 >= INITDATA_MAX_KEYLEN)
                    return bad(r, "a key is too long");
                part[n++] = *r->p++;
            }
            if (n == 0)
                return bad(r, "expected a key");
            part[n] = '\0';
        }
        k->n++;
        skip_blank(r);
        if (*r->p != '.')
            return 0;
        r->p++;
    }
}

int keys_initdata_data_entry(const char *toml, const char *key, char **out)
{
    struct toml_reader r = {.p = toml, .line = 1};
    struct toml_key table = {0}, k;
    int rc;

    *out = NULL;
    if (strlen(toml) > INITDATA_MAX)
        return ccr_err_set(EINVAL, "init-data: the TOML is larger than %d bytes", INITDATA_MAX);
    for (;;) {
        skip_space(&r);
        if (*r.p == '\0')
            return ENOENT;
        if (*r.p == '[') {
            int array = r.p[1] == '[';
            r.p += array ? 2 : 1;
            if ((rc = read_key(&r, &table, 0)) != 0)
                return rc;
            if (*r.p != ']' || (array && r.p[1] != ']'))
                return bad(&r, "a table header is not closed with ]");
            r.p += array ? 2 : 1;
        } else {
            memcpy(&k, &table, sizeof k);
            if ((rc = read_key(&r, &k, table.n)) != 0)
                return rc;
            if (*r.p != '=')
                return bad(&r, "expected = after a key");
            r.p++;
            skip_blank(&r);
            if (k.n == 2 && strcmp(k.part[0], "data") == 0 && strcmp(k.part[1], key) == 0) {
                struct ccr_dynbuf b;
                if (*r.p != '"' && *r.p != '\'')
                    return ccr_err_set(EINVAL, "init-data: TOML line %u: data.\"%s\" must be a string",
                                       r.line, key);
                ccr_dynbuf_init(&b, INITDATA_MAX);
                if ((rc = read_string(&r, &b)) != 0) {
                    ccr_dynbuf_free(&b);
                    return rc;
                }
                *out = b.data != NULL ? ccr_dynbuf_steal(&b, NULL) : strdup("");
                return *out ? 0 : ENOMEM;
            }
            if ((rc = skip_value(&r)) != 0)
                return rc;
        }
        skip_blank(&r);
        if (*r.p == '#')
            continue;
        if (*r.p != '\0' && *r.p != '\n' && *r.p != '\r')
            return bad(&r, "unexpected text after a value");
    }
}

static int entry_bad(const char *where, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int entry_bad(const char *where, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ccr_err_set(EINVAL, "init-data: ccrfs.json: %s%s%s", where, where[0] ? ": " : "", msg);
}

/* A string member: required or optional, non-empty, at most max bytes. */
static int check_str(struct json_object *o, const char *where, const char *key, int required, size_t max)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v))
        return required ? entry_bad(where, "\"%s\" is missing", key) : 0;
    if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0 ||
        (size_t)json_object_get_string_len(v) > max)
        return entry_bad(where, "\"%s\" must be a non-empty string", key);
    return 0;
}

static int is_dataset_id(const char *s)
{
    if (strlen(s) != 71 || strncmp(s, "sha256:", 7) != 0)
        return 0;
    for (size_t i = 7; i < 71; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* ccrfs's entry: the members the broker decides on, each of the type it must have. */
static int check_ccrfs(struct json_object *o)
{
    static const char *const known[] = {"governance", "governanceApi", "contract", "datasets",
                                        "broker",     "resources",     NULL};
    struct json_object *arr, *v;
    int rc;

    if (!json_object_is_type(o, json_type_object))
        return entry_bad("", "%s", "not a JSON object");
    json_object_object_foreach(o, key, val)
    {
        size_t i = 0;
        (void)val;
        while (known[i] != NULL && strcmp(known[i], key) != 0)
            i++;
        if (known[i] == NULL)
            return entry_bad("", "unknown member \"%s\"", key);
    }
    if ((rc = check_str(o, "", "contract", 0, 128)) != 0 ||
        (rc = check_str(o, "", "governance", 0, 2048)) != 0 ||
        (rc = check_str(o, "", "broker", 0, 2048)) != 0 ||
        (rc = check_str(o, "", "governanceApi", 0, 16)) != 0)
        return rc;
    if (json_object_object_get_ex(o, "governanceApi", &v) &&
        strcmp(json_object_get_string(v), "ccrfs") != 0 && strcmp(json_object_get_string(v), "acr") != 0)
        return entry_bad("", "%s", "\"governanceApi\" must be \"ccrfs\" or \"acr\"");
    /* Every member is optional here, as in the mount's reading of the same entry; the gate
     * refuses a release the entry does not cover. */
    if (!json_object_object_get_ex(o, "datasets", &arr))
        arr = NULL;
    else if (!json_object_is_type(arr, json_type_array))
        return entry_bad("", "%s", "\"datasets\" must be an array");
    for (size_t i = 0; arr != NULL && i < json_object_array_length(arr); i++) {
        struct json_object *d = json_object_array_get_idx(arr, i), *id, *mode;
        char where[32];
        snprintf(where, sizeof where, "datasets[%zu]", i);
        if (!json_object_is_type(d, json_type_object))
            return entry_bad(where, "%s", "must be an object");
        json_object_object_foreach(d, dkey, dval)
        {
            (void)dval;
            if (strcmp(dkey, "id") != 0 && strcmp(dkey, "mode") != 0 && strcmp(dkey, "store") != 0)
                return entry_bad(where, "unknown member \"%s\"", dkey);
        }
        if ((rc = check_str(d, where, "id", 1, 80)) != 0 || (rc = check_str(d, where, "mode", 1, 16)) != 0 ||
            (rc = check_str(d, where, "store", 0, 4096)) != 0)
            return rc;
        json_object_object_get_ex(d, "id", &id);
        json_object_object_get_ex(d, "mode", &mode);
        if (!is_dataset_id(json_object_get_string(id)))
            return entry_bad(where, "%s", "\"id\" must be \"sha256:\" and 64 lowercase hex digits");
        if (strcmp(json_object_get_string(mode), "read-only") != 0 &&
            strcmp(json_object_get_string(mode), "no-egress") != 0 &&
            strcmp(json_object_get_string(mode), "sink") != 0)
            return entry_bad(where, "%s", "\"mode\" must be read-only, no-egress or sink");
    }
    if (json_object_object_get_ex(o, "resources", &arr)) {
        if (!json_object_is_type(arr, json_type_array))
            return entry_bad("", "%s", "\"resources\" must be an array of strings");
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
            v = json_object_array_get_idx(arr, i);
            if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0)
                return entry_bad("", "%s", "\"resources\" must be an array of strings");
        }
    }
    return 0;
}

int keys_initdata_claims(const char *toml, const uint8_t *digest, size_t dlen, struct json_object **out)
{
    struct json_object *claims, *entry = NULL;
    struct json_tokener *tok;
    char hex[2 * 64 + 1], *text = NULL;
    int rc;

    *out = NULL;
    if (dlen == 0 || dlen > 64)
        return ccr_err_set(EINVAL, "init-data: a digest of %zu bytes", dlen);
    rc = keys_initdata_data_entry(toml, "ccrfs.json", &text);
    if (rc != 0 && rc != ENOENT)
        return rc;
    if (text != NULL) {
        if ((tok = json_tokener_new()) == NULL) {
            free(text);
            return ENOMEM;
        }
        entry = json_tokener_parse_ex(tok, text, (int)strlen(text));
        if (entry == NULL || json_tokener_get_error(tok) != json_tokener_success ||
            json_tokener_get_parse_end(tok) != strlen(text)) {
            rc = ccr_err_set(
                EINVAL, "init-data: data.\"ccrfs.json\" is not one JSON value (%s at offset %zu)",
                json_tokener_error_desc(json_tokener_get_error(tok)), json_tokener_get_parse_end(tok));
            json_object_put(entry);
            entry = NULL;
        }
        json_tokener_free(tok);
        free(text);
        if (rc == 0 && (rc = check_ccrfs(entry)) != 0)
            json_object_put(entry);
        if (rc != 0)
            return rc;
    }
    claims = json_object_new_object();
    ccr_hex_encode(digest, dlen, hex);
    json_object_object_add(claims, "digest", json_object_new_string(hex));
    if (entry != NULL)
        json_object_object_add(claims, "ccrfs", entry);
    *out = claims;
    return 0;
}
