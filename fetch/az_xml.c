/* A strict reader for the small XML documents the object stores answer with. It checks that
 * elements nest and close, decodes the five entities and character references, and refuses
 * DOCTYPE and CDATA. For Azure it reads the List Blobs answer (Name, Content-Length, Etag and
 * Last-Modified of each Blob, and the NextMarker); for everyone else it hands each element's
 * path and text to a callback (fetch_xml_walk, used by the S3 answers). */
#include "fetch/azure.h"
#include "fetch/s3.h"
#include "common/err.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#define XML_DEPTH_MAX 16
#define XML_NAME_MAX  64
#define XML_TEXT_MAX  4096

struct xml_reader {
    const char *p, *end, *start;
    char stack[XML_DEPTH_MAX][XML_NAME_MAX];
    int depth;
    char text[XML_TEXT_MAX + 1];
    size_t text_len;
    int root_seen;
    /* the blob being read */
    char name[XML_TEXT_MAX + 1];
    int have_name, have_len;
    struct fetch_object_info info;
    char *marker;
    int marker_seen;
    fetch_az_blob_cb cb;
    void *arg;
    /* fetch_xml_walk: the root element expected, the document's name for messages, and the
     * callback at the end of every element */
    const char *root;
    const char *doc;
    fetch_xml_end_cb end_cb;
    void *end_arg;
};

static int xml_fail(struct xml_reader *x, const char *what)
{
    return ccr_err_set(EINVAL, "%s: %s at byte %zu", x->doc ? x->doc : "List Blobs answer", what,
                       (size_t)(x->p - x->start));
}

static int name_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_' || c == ':' || c == '.';
}

static int read_name(struct xml_reader *x, char *out)
{
    size_t n = 0;
    if (x->p >= x->end || !(isalpha((unsigned char)*x->p) || *x->p == '_'))
        return xml_fail(x, "expected an element name");
    while (x->p < x->end && name_char(*x->p)) {
        if (n + 1 >= XML_NAME_MAX)
            return xml_fail(x, "element name too long");
        out[n++] = *x->p++;
    }
    out[n] = '\0';
    return 0;
}

static void skip_ws(struct xml_reader *x)
{
    while (x->p < x->end && (*x->p == ' ' || *x->p == '\t' || *x->p == '\r' || *x->p == '\n'))
        x->p++;
}

static int text_put(struct xml_reader *x, const char *s, size_t n)
{
    if (x->text_len + n > XML_TEXT_MAX)
        return xml_fail(x, "text too long");
    memcpy(x->text + x->text_len, s, n);
    x->text_len += n;
    x->text[x->text_len] = '\0';
    return 0;
}

static int put_utf8(struct xml_reader *x, unsigned long cp)
{
    char b[4];
    size_t n;
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return xml_fail(x, "character reference out of range");
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return text_put(x, b, n);
}

/* Decodes text up to the next '<' into x->text (entities resolved). */
static int read_text(struct xml_reader *x)
{
    while (x->p < x->end && *x->p != '<') {
        const char *amp;
        if (*x->p != '&') {
            const char *stop = x->p;
            while (stop < x->end && *stop != '<' && *stop != '&')
                stop++;
            if (x->depth == 0) {
                for (const char *q = x->p; q < stop; q++)
                    if (!isspace((unsigned char)*q))
                        return xml_fail(x, "text outside the root element");
            } else if (text_put(x, x->p, (size_t)(stop - x->p)) != 0) {
                return EINVAL;
            }
            x->p = stop;
            continue;
        }
        amp = x->p;
        {
            const char *semi = memchr(amp, ';', (size_t)(x->end - amp) < 12 ? (size_t)(x->end - amp) : 12);
            size_t n;
            int rc;
            if (semi == NULL)
                return xml_fail(x, "unterminated entity");
            n = (size_t)(semi - amp - 1);
            if (n == 2 && memcmp(amp + 1, "lt", 2) == 0)
                rc = text_put(x, "<", 1);
            else if (n == 2 && memcmp(amp + 1, "gt", 2) == 0)
                rc = text_put(x, ">", 1);
            else if (n == 3 && memcmp(amp + 1, "amp", 3) == 0)
                rc = text_put(x, "&", 1);
            else if (n == 4 && memcmp(amp + 1, "quot", 4) == 0)
                rc = text_put(x, "\"", 1);
            else if (n == 4 && memcmp(amp + 1, "apos", 4) == 0)
                rc = text_put(x, "'", 1);
            else if (n >= 2 && amp[1] == '#') {
                unsigned long cp = 0;
                int hex = amp[2] == 'x';
                const char *d = amp + 2 + hex;
                if (d == semi)
                    return xml_fail(x, "empty character reference");
                for (; d < semi; d++) {
                    int v;
                    if (isdigit((unsigned char)*d))
                        v = *d - '0';
                    else if (hex && isxdigit((unsigned char)*d))
                        v = tolower((unsigned char)*d) - 'a' + 10;
                    else
                        return xml_fail(x, "malformed character reference");
                    cp = cp * (hex ? 16 : 10) + (unsigned long)v;
                    if (cp > 0x10FFFF)
                        return xml_fail(x, "character reference out of range");
                }
                rc = put_utf8(x, cp);
            } else {
                return xml_fail(x, "unknown entity");
            }
            if (rc != 0)
                return rc;
            if (x->depth == 0)
                return xml_fail(x, "text outside the root element");
            x->p = semi + 1;
        }
    }
    return 0;
}

static const char *parent(struct xml_reader *x, int up)
{
    return x->depth - 1 - up >= 0 ? x->stack[x->depth - 1 - up] : "";
}

static int element_start(struct xml_reader *x)
{
    if (x->root != NULL) {
        if (x->depth == 1 && strcmp(x->stack[0], x->root) != 0)
            return xml_fail(x, "unexpected root element");
        return 0;
    }
    if (x->depth == 1 && strcmp(x->stack[0], "EnumerationResults") != 0)
        return xml_fail(x, "root element is not EnumerationResults");
    if (x->depth == 3 && strcmp(parent(x, 0), "Blob") == 0 && strcmp(parent(x, 1), "Blobs") == 0) {
        memset(&x->info, 0, sizeof x->info);
        x->have_name = x->have_len = 0;
    }
    return 0;
}

static int element_end(struct xml_reader *x)
{
    const char *el = parent(x, 0);

    if (x->root != NULL) {
        const char *path[XML_DEPTH_MAX];
        if (memchr(x->text, '\0', x->text_len) != NULL)
            return xml_fail(x, "NUL in a text");
        for (int i = 0; i < x->depth; i++)
            path[i] = x->stack[i];
        return x->end_cb != NULL ? x->end_cb(x->end_arg, path, x->depth, x->text, x->text_len) : 0;
    }

    if (x->depth == 2 && strcmp(el, "NextMarker") == 0) {
        if (x->marker_seen)
            return xml_fail(x, "two NextMarker elements");
        x->marker_seen = 1;
        if (x->text_len > 0 && (x->marker = strdup(x->text)) == NULL)
            return ENOMEM;
    } else if (x->depth == 4 && strcmp(parent(x, 1), "Blob") == 0 && strcmp(el, "Name") == 0) {
        if (x->have_name || x->text_len == 0)
            return xml_fail(x, "Blob with an empty or second Name");
        if (memchr(x->text, '\0', x->text_len) != NULL)
            return xml_fail(x, "NUL in a blob name");
        memcpy(x->name, x->text, x->text_len + 1);
        x->have_name = 1;
    } else if (x->depth == 5 && strcmp(parent(x, 1), "Properties") == 0 &&
               strcmp(parent(x, 2), "Blob") == 0) {
        if (strcmp(el, "Content-Length") == 0) {
            uint64_t v = 0;
            if (x->text_len == 0 || x->text_len > 19)
                return xml_fail(x, "malformed Content-Length");
            for (size_t i = 0; i < x->text_len; i++) {
                if (!isdigit((unsigned char)x->text[i]))
                    return xml_fail(x, "malformed Content-Length");
                v = v * 10 + (uint64_t)(x->text[i] - '0');
            }
            x->info.size = v;
            x->have_len = 1;
        } else if (strcmp(el, "Etag") == 0) {
            if (x->text_len >= sizeof x->info.etag)
                return xml_fail(x, "Etag too long");
            memcpy(x->info.etag, x->text, x->text_len + 1);
        } else if (strcmp(el, "Last-Modified") == 0) {
            time_t t = curl_getdate(x->text, NULL);
            x->info.mtime = t > 0 ? (int64_t)t : 0;
        }
    } else if (x->depth == 3 && strcmp(el, "Blob") == 0 && strcmp(parent(x, 1), "Blobs") == 0) {
        if (!x->have_name || !x->have_len)
            return xml_fail(x, "Blob without Name or Content-Length");
        if (x->cb != NULL) {
            int rc = x->cb(x->arg, x->name, &x->info);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

static int skip_past(struct xml_reader *x, const char *end_mark, const char *what)
{
    size_t n = strlen(end_mark);
    while (x->p + n <= x->end) {
        if (memcmp(x->p, end_mark, n) == 0) {
            x->p += n;
            return 0;
        }
        x->p++;
    }
    return xml_fail(x, what);
}

static int read_tag(struct xml_reader *x)
{
    char name[XML_NAME_MAX];
    int rc;

    x->p++; /* '<' */
    if (x->p < x->end && *x->p == '?') {
        if (x->root_seen || x->depth > 0)
            return xml_fail(x, "processing instruction after the root element started");
        return skip_past(x, "?>", "unterminated declaration");
    }
    if (x->end - x->p >= 3 && memcmp(x->p, "!--", 3) == 0)
        return skip_past(x, "-->", "unterminated comment");
    if (x->p < x->end && *x->p == '!')
        return xml_fail(x, "DOCTYPE or CDATA is not accepted");
    if (x->p < x->end && *x->p == '/') {
        x->p++;
        if ((rc = read_name(x, name)) != 0)
            return rc;
        skip_ws(x);
        if (x->p >= x->end || *x->p != '>')
            return xml_fail(x, "malformed closing tag");
        x->p++;
        if (x->depth == 0 || strcmp(name, x->stack[x->depth - 1]) != 0)
            return xml_fail(x, "closing tag does not match the open element");
        if ((rc = element_end(x)) != 0)
            return rc;
        x->depth--;
        x->text_len = 0;
        x->text[0] = '\0';
        return 0;
    }
    if ((rc = read_name(x, name)) != 0)
        return rc;
    if (x->depth == 0 && x->root_seen)
        return xml_fail(x, "second root element");
    if (x->depth == XML_DEPTH_MAX)
        return xml_fail(x, "elements nested too deeply");
    for (;;) {
        char attr[XML_NAME_MAX];
        char quote;
        skip_ws(x);
        if (x->p >= x->end)
            return xml_fail(x, "unterminated tag");
        if (*x->p == '>' || (*x->p == '/' && x->p + 1 < x->end && x->p[1] == '>'))
            break;
        if ((rc = read_name(x, attr)) != 0)
            return rc;
        skip_ws(x);
        if (x->p >= x->end || *x->p != '=')
            return xml_fail(x, "attribute without a value");
        x->p++;
        skip_ws(x);
        if (x->p >= x->end || (*x->p != '"' && *x->p != '\''))
            return xml_fail(x, "attribute value not quoted");
        quote = *x->p++;
        while (x->p < x->end && *x->p != quote) {
            if (*x->p == '<')
                return xml_fail(x, "'<' in an attribute value");
            x->p++;
        }
        if (x->p >= x->end)
            return xml_fail(x, "unterminated attribute value");
        x->p++;
    }
    memcpy(x->stack[x->depth], name, sizeof name);
    x->depth++;
    x->root_seen = 1;
    x->text_len = 0;
    x->text[0] = '\0';
    if ((rc = element_start(x)) != 0)
        return rc;
    if (*x->p == '/') {
        x->p += 2;
        if ((rc = element_end(x)) != 0)
            return rc;
        x->depth--;
        return 0;
    }
    x->p++;
    return 0;
}

static int xml_run(struct xml_reader *x)
{
    int rc;
    if (x->end - x->p >= 3 && memcmp(x->p, "\xEF\xBB\xBF", 3) == 0)
        x->p += 3; /* Azure starts its answers with a byte-order mark */
    while (x->p < x->end) {
        if (*x->p == '<')
            rc = read_tag(x);
        else
            rc = read_text(x);
        if (rc != 0)
            return rc;
    }
    if (!x->root_seen)
        return xml_fail(x, "no root element");
    if (x->depth != 0)
        return xml_fail(x, "unexpected end of document");
    return 0;
}

int fetch_az_list_parse(const char *xml, size_t len, fetch_az_blob_cb cb, void *arg, char **next_marker)
{
    struct xml_reader *x = calloc(1, sizeof *x);
    int rc;

    *next_marker = NULL;
    if (x == NULL)
        return ENOMEM;
    if (memchr(xml, '\0', len) != NULL) {
        free(x);
        return ccr_err_set(EINVAL, "List Blobs answer: NUL byte in the document");
    }
    /* First pass checks the whole document, so a malformed page yields no entries at all. */
    x->p = x->start = xml;
    x->end = xml + len;
    rc = xml_run(x);
    free(x->marker);
    if (rc == 0) {
        memset(x, 0, sizeof *x);
        x->p = x->start = xml;
        x->end = xml + len;
        x->cb = cb;
        x->arg = arg;
        rc = xml_run(x);
        if (rc == 0)
            *next_marker = x->marker;
        else
            free(x->marker);
    }
    free(x);
    return rc;
}

int fetch_xml_walk(const char *xml, size_t len, const char *root, const char *doc, fetch_xml_end_cb cb,
                   void *arg)
{
    struct xml_reader *x = calloc(1, sizeof *x);
    int rc;

    if (x == NULL)
        return ENOMEM;
    if (memchr(xml, '\0', len) != NULL) {
        free(x);
        return ccr_err_set(EINVAL, "%s: NUL byte in the document", doc);
    }
    x->p = x->start = xml;
    x->end = xml + len;
    x->root = root;
    x->doc = doc;
    x->end_cb = cb;
    x->end_arg = arg;
    rc = xml_run(x);
    free(x);
    return rc;
}
