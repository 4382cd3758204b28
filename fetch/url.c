/* Store URLs: parsing, object URLs, percent-encoding, and scrubbing secrets for messages. */
#include "fetch/http.h"
#include "common/err.h"
#include "net/http.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fetch_url_scrub(const char *url, char *out, size_t out_len)
{
    net_url_scrub(url, out, out_len);
}

void fetch_url_public(const char *url, char *out, size_t out_len)
{
    net_url_public(url, out, out_len);
}

static int unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static int encode(const char *in, char *out, size_t out_len, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t j = 0;

    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        if (unreserved(*p) || (keep_slash && *p == '/')) {
            if (j + 1 >= out_len)
                return ENAMETOOLONG;
            out[j++] = (char)*p;
        } else {
            if (j + 3 >= out_len)
                return ENAMETOOLONG;
            out[j++] = '%';
            out[j++] = hex[*p >> 4];
            out[j++] = hex[*p & 15];
        }
    }
    if (j >= out_len)
        return ENAMETOOLONG;
    out[j] = '\0';
    return 0;
}

int fetch_url_encode_path(const char *in, char *out, size_t out_len)
{
    return encode(in, out, out_len, 1);
}

int fetch_url_encode_query(const char *in, char *out, size_t out_len)
{
    return encode(in, out, out_len, 0);
}

int fetch_key_check(const char *key)
{
    const char *p = key;

    if (key[0] == '\0' || key[0] == '/')
        return ccr_err_set(EINVAL, "\"%s\": invalid object key", key);
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return ccr_err_set(EINVAL, "\"%s\": invalid object key", key);
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
                return ccr_err_set(EINVAL, "\"%s\": control character in object key", key);
        p += len;
        if (*p == '/' && *++p == '\0')
            return ccr_err_set(EINVAL, "\"%s\": object key ends with '/'", key);
    }
    return 0;
}

void fetch_http_url_free(struct fetch_http_url *u)
{
    free(u->origin);
    free(u->path);
    free(u->query);
    memset(u, 0, sizeof *u);
}

int fetch_http_url_parse(const char *url, struct fetch_http_url *out)
{
    const char *rest, *auth_end, *q;
    size_t scheme_len, path_len;

    memset(out, 0, sizeof *out);
    if (strncmp(url, "http://", 7) == 0)
        scheme_len = 7;
    else if (strncmp(url, "https://", 8) == 0)
        scheme_len = 8;
    else
        return ccr_err_set(EINVAL, "not an http(s) URL");
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '#')
            return ccr_err_set(EINVAL, "URL holds a space, control character or fragment");
    rest = url + scheme_len;
    auth_end = rest + strcspn(rest, "/?");
    if (auth_end == rest)
        return ccr_err_set(EINVAL, "URL has no host");
    if (memchr(rest, '@', (size_t)(auth_end - rest)) != NULL)
        return ccr_err_set(EINVAL, "credentials in the URL are not accepted; use a SAS or pre-signed query");
    {
        /* An explicit port must be a number in range. */
        const char *colon = NULL;
        if (*rest == '[') {
            const char *close = memchr(rest, ']', (size_t)(auth_end - rest));
            if (close == NULL)
                return ccr_err_set(EINVAL, "URL has an unterminated [IPv6] host");
            if (close + 1 < auth_end)
                colon = close + 1;
        } else {
            colon = memchr(rest, ':', (size_t)(auth_end - rest));
        }
        if (colon != NULL) {
            unsigned long port = 0;
            const char *p = colon + 1;
            if (*colon != ':' || p == auth_end)
                return ccr_err_set(EINVAL, "URL has a malformed port");
            for (; p < auth_end; p++) {
                if (!isdigit((unsigned char)*p) || (port = port * 10 + (unsigned)(*p - '0')) > 65535)
                    return ccr_err_set(EINVAL, "URL has a malformed port");
            }
            if (port == 0)
                return ccr_err_set(EINVAL, "URL has a malformed port");
        }
    }
    q = strchr(auth_end, '?');
    path_len = q ? (size_t)(q - auth_end) : strlen(auth_end);
    while (path_len > 0 && auth_end[path_len - 1] == '/')
        path_len--;
    out->origin = strndup(url, (size_t)(auth_end - url));
    out->path = strndup(auth_end, path_len);
    if (q != NULL && q[1] != '\0')
        out->query = strdup(q + 1);
    if (out->origin == NULL || out->path == NULL || (q != NULL && q[1] != '\0' && out->query == NULL)) {
        fetch_http_url_free(out);
        return ENOMEM;
    }
    return 0;
}

char *fetch_http_url_object(const struct fetch_http_url *u, const char *key)
{
    size_t enc_len = strlen(key) * 3 + 1;
    char *enc = malloc(enc_len), *url = NULL;
    size_t len;

    if (enc == NULL || fetch_url_encode_path(key, enc, enc_len) != 0) {
        free(enc);
        return NULL;
    }
    len = strlen(u->origin) + strlen(u->path) + strlen(enc) + (u->query ? strlen(u->query) : 0) + 4;
    url = malloc(len);
    if (url != NULL)
        snprintf(url, len, "%s%s/%s%s%s", u->origin, u->path, enc, u->query ? "?" : "",
                 u->query ? u->query : "");
    free(enc);
    return url;
}

int fetch_key_join(const char *prefix, const char *key, char **out)
{
    size_t len;
    int rc = fetch_key_check(key);

    *out = NULL;
    if (rc != 0)
        return rc;
    len = strlen(prefix) + strlen(key) + 2;
    if ((*out = malloc(len)) == NULL)
        return ENOMEM;
    snprintf(*out, len, "%s%s%s", prefix, prefix[0] ? "/" : "", key);
    return 0;
}
