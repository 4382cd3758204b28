/* The generic http(s) store: objects are URLs below a base URL; reads are ranged GETs that
 * must come back 206, pinned to the object's first ETag with If-Match. A query string on the
 * base URL (a pre-signed or SAS URL) is kept on every object URL. */
#include "fetch/http.h"
#include "common/err.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct http_store {
    struct fetch_store pub;
    struct fetch_http_url url;
    struct fetch_http *engine;
    struct fetch_pins *pins;
    char kind[8];
};

static int header_add(struct curl_slist **h, const char *line)
{
    struct curl_slist *n = curl_slist_append(*h, line);
    if (n == NULL)
        return ENOMEM;
    *h = n;
    return 0;
}

static int http_prepare(void *arg, struct fetch_http_req *r, struct curl_slist **headers)
{
    char line[FETCH_ETAG_MAX + 64];
    int rc = 0;
    (void)arg;

    if (r->ranged) {
        snprintf(line, sizeof line, "Range: bytes=%llu-%llu", (unsigned long long)r->range_off,
                 (unsigned long long)(r->range_off + r->range_len - 1));
        rc = header_add(headers, line);
    }
    /* A weak ETag never matches If-Match (strong comparison); the answer's ETag is still checked. */
    if (rc == 0 && r->if_match != NULL && strncmp(r->if_match, "W/", 2) != 0) {
        snprintf(line, sizeof line, "If-Match: %s", r->if_match);
        rc = header_add(headers, line);
    }
    return rc;
}

static int http_object_url(struct http_store *hs, const char *key, char **out)
{
    int rc = fetch_key_check(key);
    if (rc != 0)
        return rc;
    *out = fetch_http_url_object(&hs->url, key);
    return *out == NULL ? ENOMEM : 0;
}

static int http_url_of(void *arg, const char *key, char **url)
{
    return http_object_url(arg, key, url);
}

static int http_read_many(struct fetch_store *s, struct fetch_range *ranges, size_t n)
{
    struct http_store *hs = s->priv;
    return fetch_http_read_many(hs->engine, hs->pins, http_url_of, hs, ranges, n);
}

static int http_stat(struct fetch_store *s, const char *key, struct fetch_object_info *info)
{
    struct http_store *hs = s->priv;
    struct fetch_http_req r, *p = &r;
    char pinned[FETCH_ETAG_MAX];
    char *url;
    int rc;

    if ((rc = http_object_url(hs, key, &url)) != 0)
        return rc;
    memset(&r, 0, sizeof r);
    r.method = "HEAD";
    r.url = url;
    r.key = key;
    if (fetch_pins_get(hs->pins, key, pinned) == 0)
        r.if_match = pinned;
    rc = fetch_http_run(hs->engine, &p, 1);
    if (rc == 0 && !r.have_length)
        rc = ccr_err_set(EIO, "%s: the server gave no Content-Length", key);
    if (rc == 0 && r.if_match == NULL)
        rc = fetch_pins_check(hs->pins, key, r.etag);
    if (rc == 0) {
        memset(info, 0, sizeof *info);
        info->size = r.content_length;
        info->mtime = r.mtime;
        memcpy(info->etag, r.etag, sizeof info->etag);
    }
    free(url);
    return rc;
}

static int http_list(struct fetch_store *s, const char *prefix, fetch_list_cb cb, void *arg)
{
    (void)prefix;
    (void)cb;
    (void)arg;
    return ccr_err_set(
        ENOTSUP, "%s store: plain HTTP has no way to list objects; read known keys, or use az://", s->kind);
}

static int http_put(struct fetch_store *s, const char *key, const struct fetch_source *src)
{
    struct http_store *hs = s->priv;
    struct fetch_http_req r, *p = &r;
    char *url;
    int rc;

    if ((rc = http_object_url(hs, key, &url)) != 0)
        return rc;
    memset(&r, 0, sizeof r);
    r.method = "PUT";
    r.url = url;
    r.key = key;
    r.src = src;
    r.src_len = src->len;
    rc = fetch_http_run(hs->engine, &p, 1);
    if (rc != 0 && (r.status == 405 || r.status == 501))
        rc = ccr_err_set(ENOTSUP,
                         "%s: the server does not accept uploads (HTTP %ld); it needs WebDAV PUT or a "
                         "pre-signed upload URL",
                         key, r.status);
    if (rc == 0)
        fetch_pins_forget(hs->pins, key);
    free(url);
    return rc;
}

static void http_get_stats(struct fetch_store *s, struct fetch_stats *out)
{
    struct http_store *hs = s->priv;
    fetch_http_get_stats(hs->engine, out);
}

static void http_destroy(struct fetch_store *s)
{
    struct http_store *hs = s->priv;
    fetch_http_destroy(hs->engine);
    fetch_pins_destroy(hs->pins);
    fetch_http_url_free(&hs->url);
    free(hs);
}

int fetch_http_store_create(const char *url, const struct fetch_options *opt, struct fetch_store **out)
{
    struct http_store *hs = calloc(1, sizeof *hs);
    char shown[256];
    int rc;

    if (hs == NULL)
        return ENOMEM;
    fetch_url_scrub(url, shown, sizeof shown);
    if ((rc = fetch_http_url_parse(url, &hs->url)) != 0) {
        free(hs);
        return ccr_err_wrap(rc, "%s: ", shown);
    }
    hs->pins = fetch_pins_create();
    if (hs->pins == NULL || (rc = fetch_http_create(opt, http_prepare, hs, &hs->engine)) != 0) {
        fetch_pins_destroy(hs->pins);
        fetch_http_url_free(&hs->url);
        free(hs);
        return rc ? rc : ENOMEM;
    }
    snprintf(hs->kind, sizeof hs->kind, "%s", strncmp(url, "https:", 6) == 0 ? "https" : "http");
    hs->pub.kind = hs->kind;
    hs->pub.read_many = http_read_many;
    hs->pub.stat = http_stat;
    hs->pub.list = http_list;
    hs->pub.put = http_put;
    hs->pub.get_stats = http_get_stats;
    hs->pub.destroy = http_destroy;
    hs->pub.priv = hs;
    *out = &hs->pub;
    return 0;
}
