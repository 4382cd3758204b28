/* Init-data (keys/initdata.h): a small, strict reader of the TOML subset Confidential
 * Containers writes, and of ccrfs's own entry in it. */
#include "keys/initdata.h"
#include "common/dynbuf.h"
#include "common/encoding.h"
#include "common/err.h"
#include "common/fileio.h"
#include "keys/kbs/protocol.h"

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 256

struct toml_reader {
    const char *p, *end;
    unsigned line;
    const char *where;
};

/* A message naming the document, the line and, when known, the key. */
static int toml_fail(const struct toml_reader *r, const char *key, const char *what)
{
    if (key != NULL)
        return ccr_err_set(EINVAL, "%s:%u: key '%.64s': %s", r->where, r->line, key, what);
    return ccr_err_set(EINVAL, "%s:%u: %s", r->where, r->line, what);
}

/* The whole document must be UTF-8 (TOML requires it): no overlong forms, surrogates or code
 * points past U+10FFFF. Reports the line of the first bad byte. */
static int utf8_check(const char *text, size_t len, const char *where)
{
    const unsigned char *s = (const unsigned char *)text;
    unsigned line = 1;

    for (size_t i = 0; i < len;) {
        unsigned c = s[i], n, cp;
        if (c == '\n')
            line++;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return ccr_err_set(EINVAL, "%s:%u: not UTF-8", where, line);
        }
        if (i + n >= len)
            return ccr_err_set(EINVAL, "%s:%u: not UTF-8 (truncated sequence)", where, line);
        for (unsigned k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return ccr_err_set(EINVAL, "%s:%u: not UTF-8", where, line);
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return ccr_err_set(EINVAL, "%s:%u: not UTF-8 (overlong form or invalid code point)", where, line);
        i += n + 1;
    }
    return 0;
}

static void skip_blank(struct toml_reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t'))
        r->p++;
}

/* A control character TOML does not allow in comments and strings (tab is allowed). */
static int is_control(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7F;
}

/* At a newline (LF or CRLF): consumes it. 0 when there is none here. */
static int take_newline(struct toml_reader *r)
{
    if (r->p < r->end && *r->p == '\n') {
        r->p++;
        r->line++;
        return 1;
    }
    if (r->end - r->p >= 2 && r->p[0] == '\r' && r->p[1] == '\n') {
        r->p += 2;
        r->line++;
        return 1;
    }
    return 0;
}

/* After a key/value pair or a table header: blanks, an optional comment, then the end of the
 * line or of the document. */
static int end_of_line(struct toml_reader *r, const char *key)
{
    skip_blank(r);
    if (r->p < r->end && *r->p == '#') {
        while (r->p < r->end && *r->p != '\n' && !(*r->p == '\r' && r->p + 1 < r->end && r->p[1] == '\n')) {
            if (is_control((unsigned char)*r->p))
                return toml_fail(r, key, "control character in a comment");
            r->p++;
        }
    }
    if (r->p == r->end || take_newline(r))
        return 0;
    return toml_fail(r, key, "expected the end of the line after the value (one key = value per line)");
}

static int put_utf8(struct ccr_dynbuf *b, unsigned long cp)
{
    char u[4];
    size_t n;

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
static int take_escape(struct toml_reader *r, const char *key, struct ccr_dynbuf *b)
{
    static const char from[] = "btnfr\"\\", to[] = "\b\t\n\f\r\"\\";
    const char *hit;
    unsigned long cp = 0;
    int digits;

    if (r->p == r->end)
        return toml_fail(r, key, "unterminated string");
    if ((hit = strchr(from, *r->p)) != NULL && *r->p != '\0') {
        r->p++;
        return ccr_dynbuf_add(b, &to[hit - from], 1);
    }
    if (*r->p != 'u' && *r->p != 'U')
        return toml_fail(
            r, key, "unknown escape in a basic string (\\b \\t \\n \\f \\r \\\" \\\\ \\uXXXX \\UXXXXXXXX)");
    digits = *r->p == 'u' ? 4 : 8;
    r->p++;
    for (int i = 0; i < digits; i++, r->p++) {
        int v = r->p < r->end ? ccr_hex_digit(*r->p) : -1;
        if (v < 0)
            return toml_fail(r, key, "a \\u escape needs 4 hex digits, \\U 8");
        cp = cp << 4 | (unsigned long)v;
    }
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return toml_fail(r, key, "a \\u escape names no Unicode scalar value");
    if (cp == 0)
        return toml_fail(r, key, "a \\u0000 escape (NUL) is not accepted");
    return put_utf8(b, cp);
}

/* The closing run of a multi-line string: three quotes, up to two more belonging to the
 * content. Returns the run's length at r->p (0 when fewer than three). */
static size_t quote_run(const struct toml_reader *r, char q)
{
    size_t n = 0;
    while (r->p + n < r->end && r->p[n] == q)
        n++;
    return n >= 3 ? n : 0;
}

/* A string value of any of the four kinds, r->p at its opening quote. */
static int take_string(struct toml_reader *r, const char *key, struct ccr_dynbuf *b)
{
    char q = *r->p;
    int multi = r->end - r->p >= 3 && r->p[1] == q && r->p[2] == q;
    int rc;

    r->p += multi ? 3 : 1;
    if (multi)
        (void)take_newline(r); /* a newline right after the opening quotes is not content */
    for (;;) {
        unsigned char c;
        if (r->p == r->end)
            return toml_fail(r, key, "unterminated string");
        c = (unsigned char)*r->p;
        if (c == (unsigned char)q) {
            if (!multi) {
                r->p++;
                return 0;
            }
            size_t run = quote_run(r, q);
            if (run > 5)
                return toml_fail(r, key, "more than two quotes before the closing quotes");
            if (run >= 3) {
                if ((rc = ccr_dynbuf_add(b, r->p, run - 3)) != 0)
                    return rc;
                r->p += run;
                return 0;
            }
            r->p++;
            if ((rc = ccr_dynbuf_add(b, &q, 1)) != 0)
                return rc;
            continue;
        }
        if (c == '\n' || (c == '\r' && r->p + 1 < r->end && r->p[1] == '\n')) {
            if (!multi)
                return toml_fail(r, key, "newline in a single-line string");
            /* CRLF reads as LF, as the toml crate CoCo uses (and Python's tomllib) read it. */
            if ((rc = ccr_dynbuf_add(b, "\n", 1)) != 0)
                return rc;
            (void)take_newline(r);
            continue;
        }
        if (is_control(c))
            return toml_fail(r, key, "control character in a string (escape it, or use a tab)");
        if (c == '\\' && q == '"') {
            r->p++;
            if (multi) {
                /* A line-ending backslash trims the newline and the whitespace after it. */
                const char *save = r->p;
                unsigned save_line = r->line;
                skip_blank(r);
                if (take_newline(r)) {
                    for (;;) {
                        skip_blank(r);
                        if (!take_newline(r))
                            break;
                    }
                    continue;
                }
                r->p = save;
                r->line = save_line;
            }
            if ((rc = take_escape(r, key, b)) != 0)
                return rc;
            continue;
        }
        if ((rc = ccr_dynbuf_add(b, r->p, 1)) != 0)
            return rc;
        r->p++;
    }
}

/* A key: bare (A-Za-z0-9_-) or a single-line basic or literal string. Dotted keys are refused. */
static int take_key(struct toml_reader *r, char key[KEY_MAX])
{
    struct ccr_dynbuf b;
    int rc = 0;

    if (r->p < r->end && (*r->p == '"' || *r->p == '\'')) {
        if (r->end - r->p >= 3 && r->p[1] == *r->p && r->p[2] == *r->p)
            return toml_fail(r, NULL, "a key may not be a multi-line string");
        ccr_dynbuf_init(&b, KEY_MAX - 1);
        if ((rc = take_string(r, NULL, &b)) == 0) {
            if (b.len == 0 || memchr(b.data, '\n', b.len) != NULL)
                rc = toml_fail(r, NULL, "empty or multi-line key");
            else
                snprintf(key, KEY_MAX, "%s", b.data);
        } else if (rc == EFBIG) {
            rc = toml_fail(r, NULL, "key longer than 255 bytes");
        }
        ccr_dynbuf_free(&b);
    } else {
        size_t n = 0;
        while (r->p + n < r->end &&
               (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", r->p[n]) != NULL &&
                r->p[n] != '\0'))
            n++;
        if (n == 0)
            return toml_fail(r, NULL,
                             "expected a key (bare, \"quoted\" or 'literal'), a [table] or a comment");
        if (n >= KEY_MAX)
            return toml_fail(r, NULL, "key longer than 255 bytes");
        memcpy(key, r->p, n);
        key[n] = '\0';
        r->p += n;
    }
    if (rc != 0)
        return rc;
    skip_blank(r);
    if (r->p < r->end && *r->p == '.')
        return toml_fail(r, key, "dotted keys are not accepted");
    return 0;
}

static int add_entry(struct keys_initdata *d, char *key, char *value)
{
    struct keys_initdata_entry *n = realloc(d->data, (d->data_count + 1) * sizeof *n);
    if (n == NULL)
        return ENOMEM;
    d->data = n;
    d->data[d->data_count].key = key;
    d->data[d->data_count].value = value;
    d->data_count++;
    return 0;
}

/* One key = value line, r->p at the key. top: not in [data]. */
static int take_pair(struct toml_reader *r, struct keys_initdata *d, int top, int *seen_version,
                     int *seen_algorithm)
{
    char key[KEY_MAX];
    struct ccr_dynbuf b;
    char *value = NULL, *keycopy = NULL;
    size_t len;
    int rc;

    if ((rc = take_key(r, key)) != 0)
        return rc;
    /* Checks of the key come first, so their messages name the key's line. */
    if (top && strcmp(key, "version") != 0 && strcmp(key, "algorithm") != 0)
        return toml_fail(r, key,
                         "unknown top-level key (init-data has version, algorithm and a [data] table)");
    if (top ? *(key[0] == 'v' ? seen_version : seen_algorithm) : keys_initdata_get(d, key) != NULL)
        return toml_fail(r, key, top ? "given twice" : "given twice in [data]");
    if (r->p == r->end || *r->p != '=')
        return toml_fail(r, key, "expected '=' after the key");
    r->p++;
    skip_blank(r);
    if (r->p == r->end || (*r->p != '"' && *r->p != '\''))
        return toml_fail(
            r, key, "only string values are accepted (\"...\", '...', \"\"\"...\"\"\" or \'\'\'...\'\'\')");
    ccr_dynbuf_init(&b, KEYS_INITDATA_MAX_BYTES);
    if ((rc = take_string(r, key, &b)) != 0) {
        ccr_dynbuf_free(&b);
        return rc;
    }
    if ((value = ccr_dynbuf_steal(&b, &len)) == NULL)
        return ENOMEM;
    if ((rc = end_of_line(r, key)) != 0) {
        free(value);
        return rc;
    }
    if (top) {
        char *dst = key[0] == 'v' ? d->version : d->algorithm;
        size_t cap = key[0] == 'v' ? sizeof d->version : sizeof d->algorithm;
        *(key[0] == 'v' ? seen_version : seen_algorithm) = 1;
        if (len >= cap) {
            free(value);
            return ccr_err_set(EINVAL, "%s: key '%s': value too long", r->where, key);
        }
        memcpy(dst, value, len + 1);
        free(value);
        return 0;
    }
    if ((keycopy = strdup(key)) == NULL || (rc = add_entry(d, keycopy, value)) != 0) {
        free(keycopy);
        free(value);
        return ENOMEM;
    }
    return 0;
}

/* A [table] header, r->p at '['. Only [data], once. */
static int take_header(struct toml_reader *r, int *in_data)
{
    char key[KEY_MAX];
    int rc;

    r->p++;
    if (r->p < r->end && *r->p == '[')
        return toml_fail(r, NULL, "arrays of tables ([[...]]) are not accepted");
    skip_blank(r);
    if ((rc = take_key(r, key)) != 0)
        return rc;
    if (r->p == r->end || *r->p != ']')
        return toml_fail(r, key, "expected ']' closing the table header");
    r->p++;
    if (strcmp(key, "data") != 0)
        return toml_fail(r, key, "unknown table (init-data has only [data])");
    if (*in_data)
        return toml_fail(r, key, "[data] given twice");
    *in_data = 1;
    return end_of_line(r, key);
}

static const EVP_MD *initdata_md(const char *name)
{
    /* kbs-types' HashAlgorithm names (serde lowercase). */
    return strcmp(name, "sha256") == 0   ? EVP_sha256()
           : strcmp(name, "sha384") == 0 ? EVP_sha384()
           : strcmp(name, "sha512") == 0 ? EVP_sha512()
           : strcmp(name, "sm3") == 0    ? EVP_sm3()
                                         : NULL;
}

int keys_initdata_parse(const char *text, size_t len, const char *where, struct keys_initdata *out)
{
    struct toml_reader r = {text, text + len, 1, where};
    int in_data = 0, seen_version = 0, seen_algorithm = 0, rc;
    const char *ccrfs;
    const EVP_MD *md;
    unsigned int dlen = 0;

    memset(out, 0, sizeof *out);
    if (len > KEYS_INITDATA_MAX_BYTES)
        return ccr_err_set(EINVAL, "%s: init-data of %zu bytes; at most %d are accepted", where, len,
                           KEYS_INITDATA_MAX_BYTES);
    if (memchr(text, '\0', len) != NULL)
        return ccr_err_set(EINVAL, "%s: init-data holds a NUL byte", where);
    if ((rc = utf8_check(text, len, where)) != 0)
        return rc;
    if ((out->text = malloc(len + 1)) == NULL)
        return ENOMEM;
    memcpy(out->text, text, len);
    out->text[len] = '\0';
    out->len = len;
    while (r.p < r.end) {
        skip_blank(&r);
        if (r.p == r.end)
            break;
        if (*r.p == '#' || *r.p == '\n' || *r.p == '\r')
            rc = end_of_line(&r, NULL);
        else if (*r.p == '[')
            rc = take_header(&r, &in_data);
        else
            rc = take_pair(&r, out, !in_data, &seen_version, &seen_algorithm);
        if (rc != 0)
            goto fail;
    }
    if (!seen_version || !seen_algorithm || !in_data) {
        rc = ccr_err_set(EINVAL,
                         "%s: init-data needs top-level version and algorithm and a [data] table%s%s%s",
                         where, seen_version ? "" : " (no version)", seen_algorithm ? "" : " (no algorithm)",
                         in_data ? "" : " (no [data])");
        goto fail;
    }
    if (strcmp(out->version, "0.1.0") != 0) {
        rc = ccr_err_set(EINVAL, "%s: key 'version': \"%s\"; the init-data specification defines 0.1.0",
                         where, out->version);
        goto fail;
    }
    if ((md = initdata_md(out->algorithm)) == NULL) {
        rc = ccr_err_set(EINVAL, "%s: key 'algorithm': \"%s\"; expected sha256, sha384, sha512 or sm3", where,
                         out->algorithm);
        goto fail;
    }
    if (EVP_Digest(text, len, out->digest, &dlen, md, NULL) != 1) {
        rc = ccr_err_set(EIO, "%s: cannot hash the init-data", where);
        goto fail;
    }
    out->digest_len = dlen;
    memcpy(out->host_data, out->digest, dlen < KEYS_INITDATA_HOST_DATA ? dlen : KEYS_INITDATA_HOST_DATA);
    if ((ccrfs = keys_initdata_get(out, KEYS_INITDATA_CCRFS_KEY)) != NULL) {
        char w[300];
        snprintf(w, sizeof w, "%s: [data].\"" KEYS_INITDATA_CCRFS_KEY "\"", where);
        if ((rc = keys_initdata_ccrfs_parse(ccrfs, w, &out->ccrfs)) != 0)
            goto fail;
        out->has_ccrfs = 1;
    }
    return 0;
fail:
    keys_initdata_free(out);
    return rc;
}

int keys_initdata_load(const char *path, struct keys_initdata *out)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;

    memset(out, 0, sizeof *out);
    if ((rc = ccr_read_file(path, KEYS_INITDATA_MAX_BYTES, &buf, &len)) != 0)
        return ccr_err_wrap(rc, "init-data %s: ", path);
    rc = keys_initdata_parse((const char *)buf, len, path, out);
    free(buf);
    return rc;
}

void keys_initdata_free(struct keys_initdata *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->data_count; i++) {
        free(d->data[i].key);
        free(d->data[i].value);
    }
    free(d->data);
    free(d->text);
    keys_initdata_ccrfs_free(&d->ccrfs);
    memset(d, 0, sizeof *d);
}

const char *keys_initdata_get(const struct keys_initdata *d, const char *key)
{
    for (size_t i = 0; i < d->data_count; i++)
        if (strcmp(d->data[i].key, key) == 0)
            return d->data[i].value;
    return NULL;
}

const struct keys_initdata_dataset *keys_initdata_dataset(const struct keys_initdata *d, const char *id)
{
    for (size_t i = 0; i < d->ccrfs.dataset_count; i++)
        if (strcmp(d->ccrfs.datasets[i].id, id) == 0)
            return &d->ccrfs.datasets[i];
    return NULL;
}

int keys_initdata_lists_resource(const struct keys_initdata *d, const char *resource)
{
    if (d->ccrfs.resource_count == 0)
        return 1;
    for (size_t i = 0; i < d->ccrfs.resource_count; i++)
        if (strcmp(d->ccrfs.resources[i], resource) == 0)
            return 1;
    return 0;
}

int keys_initdata_check_host_data(const struct keys_initdata *d,
                                  const uint8_t host_data[KEYS_INITDATA_HOST_DATA])
{
    char want[2 * KEYS_INITDATA_HOST_DATA + 1], got[2 * KEYS_INITDATA_HOST_DATA + 1];

    if (CRYPTO_memcmp(d->host_data, host_data, KEYS_INITDATA_HOST_DATA) == 0)
        return 0;
    ccr_hex_encode(d->host_data, KEYS_INITDATA_HOST_DATA, want);
    ccr_hex_encode(host_data, KEYS_INITDATA_HOST_DATA, got);
    return ccr_err_set(EACCES,
                       "init-data does not match this guest's HOST_DATA: its %s digest gives %s, the report "
                       "holds %s (the init-data was changed after launch, or belongs to another guest)",
                       d->algorithm, want, got);
}

/* ---- [data]."ccrfs.json" ---- */

/* Printable ASCII without blanks, quotes or backslashes: URLs, ids and paths as written. */
static int plain_text(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7F || s[i] == '"' || s[i] == '\\')
            return 0;
    return 1;
}

static int http_url(const char *s)
{
    const char *host = strncmp(s, "https://", 8) == 0 ? s + 8 : strncmp(s, "http://", 7) == 0 ? s + 7 : NULL;
    return plain_text(s, 2048) && host != NULL && *host != '\0' && *host != '/' && strcspn(host, "/?#") > 0 &&
           strchr(s, '?') == NULL && strchr(s, '#') == NULL && memchr(host, '@', strcspn(host, "/")) == NULL;
}

static int ccrfs_string(struct json_object *v, const char *where, const char *name, char **out)
{
    if (!json_object_is_type(v, json_type_string))
        return ccr_err_set(EINVAL, "%s: \"%s\" must be a string", where, name);
    if ((*out = strdup(json_object_get_string(v))) == NULL)
        return ENOMEM;
    return 0;
}

static int ccrfs_dataset(struct json_object *o, const char *where, size_t i, struct keys_initdata_dataset *ds)
{
    static const char *const modes[] = {"read-only", "no-egress", "sink"};
    int have_id = 0, have_mode = 0;

    if (!json_object_is_type(o, json_type_object))
        return ccr_err_set(EINVAL, "%s: datasets[%zu] must be an object", where, i);
    json_object_object_foreach(o, k, v)
    {
        if (strcmp(k, "id") == 0) {
            if (!json_object_is_type(v, json_type_string) ||
                fmt_dataset_id_parse(json_object_get_string(v), ds->id) != 0)
                return ccr_err_set(EINVAL, "%s: datasets[%zu].id must be \"sha256:\" and 64 hex digits",
                                   where, i);
            have_id = 1;
        } else if (strcmp(k, "mode") == 0) {
            size_t m;
            for (m = 0; m < sizeof modes / sizeof modes[0]; m++)
                if (json_object_is_type(v, json_type_string) &&
                    strcmp(json_object_get_string(v), modes[m]) == 0)
                    break;
            if (m == sizeof modes / sizeof modes[0])
                return ccr_err_set(EINVAL, "%s: datasets[%zu].mode must be read-only, no-egress or sink",
                                   where, i);
            snprintf(ds->mode, sizeof ds->mode, "%s", modes[m]);
            have_mode = 1;
        } else if (strcmp(k, "store") == 0) {
            if (!json_object_is_type(v, json_type_string) || !plain_text(json_object_get_string(v), 2048) ||
                strpbrk(json_object_get_string(v), "?#") != NULL)
                return ccr_err_set(EINVAL,
                                   "%s: datasets[%zu].store must be a store URL or folder without a query "
                                   "(init-data is not secret: no SAS token or signature in it)",
                                   where, i);
            free(ds->store);
            if ((ds->store = strdup(json_object_get_string(v))) == NULL)
                return ENOMEM;
        } else {
            return ccr_err_set(EINVAL, "%s: datasets[%zu]: unknown member \"%.64s\" (id, mode, store)", where,
                               i, k);
        }
    }
    if (!have_id || !have_mode)
        return ccr_err_set(EINVAL, "%s: datasets[%zu] needs \"id\" and \"mode\"", where, i);
    return 0;
}

static int ccrfs_member(struct keys_initdata_ccrfs *c, const char *where, const char *k,
                        struct json_object *v)
{
    int rc;

    if (strcmp(k, "governance") == 0 || strcmp(k, "broker") == 0) {
        char **dst = k[0] == 'g' ? &c->governance : &c->broker;
        if ((rc = ccrfs_string(v, where, k, dst)) != 0)
            return rc;
        if (!http_url(*dst))
            return ccr_err_set(
                EINVAL, "%s: \"%s\" must be an http:// or https:// URL without query or userinfo", where, k);
        return 0;
    }
    if (strcmp(k, "governanceApi") == 0) {
        if ((rc = ccrfs_string(v, where, k, &c->governance_api)) != 0)
            return rc;
        if (strcmp(c->governance_api, "ccrfs") != 0 && strcmp(c->governance_api, "acr") != 0)
            return ccr_err_set(EINVAL, "%s: \"governanceApi\" must be \"ccrfs\" or \"acr\"", where);
        return 0;
    }
    if (strcmp(k, "contract") == 0) {
        if ((rc = ccrfs_string(v, where, k, &c->contract)) != 0)
            return rc;
        if (!plain_text(c->contract, 256))
            return ccr_err_set(EINVAL, "%s: \"contract\" must be a contract id (printable, no blanks)",
                               where);
        return 0;
    }
    if (strcmp(k, "datasets") == 0) {
        size_t n;
        if (!json_object_is_type(v, json_type_array))
            return ccr_err_set(EINVAL, "%s: \"datasets\" must be an array", where);
        n = json_object_array_length(v);
        if ((c->datasets = calloc(n ? n : 1, sizeof *c->datasets)) == NULL)
            return ENOMEM;
        for (size_t i = 0; i < n; i++) {
            if ((rc = ccrfs_dataset(json_object_array_get_idx(v, i), where, i, &c->datasets[i])) != 0) {
                c->dataset_count = i + 1;
                return rc;
            }
            c->dataset_count = i + 1;
            for (size_t j = 0; j < i; j++)
                if (strcmp(c->datasets[j].id, c->datasets[i].id) == 0)
                    return ccr_err_set(EINVAL, "%s: datasets[%zu] lists %s again", where, i,
                                       c->datasets[i].id);
        }
        return 0;
    }
    if (strcmp(k, "resources") == 0) {
        size_t n;
        if (!json_object_is_type(v, json_type_array))
            return ccr_err_set(EINVAL, "%s: \"resources\" must be an array", where);
        n = json_object_array_length(v);
        if ((c->resources = calloc(n ? n : 1, sizeof *c->resources)) == NULL)
            return ENOMEM;
        for (size_t i = 0; i < n; i++) {
            struct json_object *e = json_object_array_get_idx(v, i);
            if (!json_object_is_type(e, json_type_string) ||
                keys_kbs_resource_check(json_object_get_string(e)) != 0) {
                ccr_err_clear();
                return ccr_err_set(EINVAL, "%s: resources[%zu] must be a KBS resource path REPO/TYPE/TAG",
                                   where, i);
            }
            if ((c->resources[i] = strdup(json_object_get_string(e))) == NULL)
                return ENOMEM;
            c->resource_count = i + 1;
        }
        return 0;
    }
    return ccr_err_set(EINVAL,
                       "%s: unknown member \"%.64s\" (governance, governanceApi, contract, datasets, broker, "
                       "resources)",
                       where, k);
}

int keys_initdata_ccrfs_parse(const char *json, const char *where, struct keys_initdata_ccrfs *out)
{
    struct json_tokener *tok;
    struct json_object *doc;
    size_t len = strlen(json), end;
    int rc = 0;

    memset(out, 0, sizeof *out);
    if ((tok = json_tokener_new()) == NULL)
        return ENOMEM;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    doc = json_tokener_parse_ex(tok, json, (int)len);
    end = json_tokener_get_parse_end(tok);
    if (doc == NULL || json_tokener_get_error(tok) != json_tokener_success) {
        rc = ccr_err_set(EINVAL, "%s: not JSON (%s, at byte %zu)", where,
                         json_tokener_error_desc(json_tokener_get_error(tok)), end);
        goto out;
    }
    if (json + end != json + len && json[end + strspn(json + end, " \t\r\n")] != '\0') {
        rc = ccr_err_set(EINVAL, "%s: text after the JSON document (at byte %zu)", where, end);
        goto out;
    }
    if (!json_object_is_type(doc, json_type_object)) {
        rc = ccr_err_set(EINVAL, "%s: must be a JSON object", where);
        goto out;
    }
    json_object_object_foreach(doc, k, v)
    {
        if ((rc = ccrfs_member(out, where, k, v)) != 0)
            goto out;
    }
out:
    json_object_put(doc);
    json_tokener_free(tok);
    if (rc != 0)
        keys_initdata_ccrfs_free(out);
    return rc;
}

void keys_initdata_ccrfs_free(struct keys_initdata_ccrfs *c)
{
    free(c->governance);
    free(c->governance_api);
    free(c->contract);
    free(c->broker);
    for (size_t i = 0; i < c->dataset_count; i++)
        free(c->datasets[i].store);
    free(c->datasets);
    for (size_t i = 0; i < c->resource_count; i++)
        free(c->resources[i]);
    free(c->resources);
    memset(c, 0, sizeof *c);
}
