/* The HTTP engine under the http(s) and Azure stores: libcurl transfers run through a
 * multi handle, many at once, on reused connections, each retried on transient failures
 * with exponential backoff and jitter inside a time budget, its headers (and so its
 * authorization) rebuilt by the backend before every attempt. Handles, TLS, timeouts, the
 * retry policy and the errno mapping come from net/http.h. Also the small parsers and
 * policies the backends share, kept apart so the unit tests reach them. */
#ifndef CCRFS_FETCH_HTTP_H
#define CCRFS_FETCH_HTTP_H

#include "fetch/store.h"

#include <stdint.h>

struct curl_slist;
struct fetch_http;

#define FETCH_HTTP_MSG_MAX 384

/* One request. The caller fills the first part; the engine fills the results. */
struct fetch_http_req {
    const char *method; /* "GET", "HEAD" or "PUT" */
    const char *url;    /* full URL, query included */
    const char *key;    /* object key, for messages */
    int ranged;         /* GET range_off..range_off+range_len-1 into buf, expecting 206 */
    uint64_t range_off;
    size_t range_len;
    void *buf;
    size_t grow_max;                /* a non-ranged GET collects at most this many bytes into body */
    const struct fetch_source *src; /* PUT body: src bytes [src_off, src_off+src_len) */
    uint64_t src_off, src_len;
    const char *if_match; /* ETag the object must still have, or NULL */
    void *user;           /* for the backend's prepare callback */

    int result;
    long status;
    char etag[FETCH_ETAG_MAX];
    uint64_t content_length;
    int have_length;
    uint64_t object_size; /* a ranged GET: the total Content-Range gave, 0 when unknown ('*') */
    int64_t mtime;
    uint8_t *body; /* malloc'd, for grow_max requests; the caller frees it */
    size_t body_len;
    unsigned attempts;
    char msg[FETCH_HTTP_MSG_MAX];
};

/* Appends "name: value" to a curl header list; the text is wiped after the copy, since
 * credentials (Authorization, session tokens) pass through here. ENOMEM. */
int fetch_http_header_add(struct curl_slist **headers, const char *name, const char *value);

/* Builds the headers of one attempt (Range, If-Match, Date, Authorization, ...) into *headers.
 * Called before every attempt, so time-limited credentials are fresh. */
typedef int (*fetch_http_prepare_fn)(void *arg, struct fetch_http_req *r, struct curl_slist **headers);

int fetch_http_create(const struct fetch_options *opt, fetch_http_prepare_fn prepare, void *arg,
                      struct fetch_http **out);
void fetch_http_destroy(struct fetch_http *h);
/* Runs the requests, at most max_in_flight at once for the whole engine; returns 0 or the
 * first failure, with its message recorded. Each request carries its own result and msg. */
int fetch_http_run(struct fetch_http *h, struct fetch_http_req **reqs, size_t n);
void fetch_http_get_stats(struct fetch_http *h, struct fetch_stats *out);

struct fetch_pins;
/* Builds the URL of an object (malloc'd). */
typedef int (*fetch_http_url_fn)(void *arg, const char *key, char **url);
/* A batch of ranged GETs, all in flight together: each object's ETag is sent as If-Match
 * once pinned, and pinned from the first answer otherwise. Each range gets its result;
 * returns the first failure. The read_many of every HTTP-based store. */
int fetch_http_read_many(struct fetch_http *h, struct fetch_pins *pins, fetch_http_url_fn url, void *url_arg,
                         struct fetch_range *ranges, size_t n);
/* The options in force (defaults filled in). */
const struct fetch_options *fetch_http_options(struct fetch_http *h);

/* Content-Range: "bytes FIRST-LAST/TOTAL" (TOTAL may be "*"; total is then UINT64_MAX).
 * EINVAL on anything else, including FIRST > LAST and LAST >= TOTAL. */
int fetch_parse_content_range(const char *value, uint64_t *first, uint64_t *last, uint64_t *total);

/* net_url_scrub and net_url_public under the names the store's users know: a URL without
 * userinfo and with its query replaced by "?<redacted>" (messages, logs), or with no query at
 * all (where anyone can read it: the mount's fsname in /proc/mounts). */
void fetch_url_scrub(const char *url, char *out, size_t out_len);
void fetch_url_public(const char *url, char *out, size_t out_len);
/* Appends the percent-encoding of a key (keeping '/' and RFC 3986 unreserved characters). */
int fetch_url_encode_path(const char *in, char *out, size_t out_len);
/* Percent-encodes a query value (everything but unreserved characters). */
int fetch_url_encode_query(const char *in, char *out, size_t out_len);

/* A parsed http(s) store URL: scheme://authority/path?query. */
struct fetch_http_url {
    char *origin; /* "http://host:port" */
    char *path;   /* "/a/b" without a trailing '/', "" for the root */
    char *query;  /* without '?', NULL when none */
};
int fetch_http_url_parse(const char *url, struct fetch_http_url *out);
void fetch_http_url_free(struct fetch_http_url *u);
/* origin + path + "/" + encoded key + "?" + query, malloc'd. */
char *fetch_http_url_object(const struct fetch_http_url *u, const char *key);

/* ETags pinned at first contact, per object key. */
struct fetch_pins;
struct fetch_pins *fetch_pins_create(void);
void fetch_pins_destroy(struct fetch_pins *p);
/* Copies the pinned ETag of key into out (size FETCH_ETAG_MAX); 0 when pinned, ENOENT when not. */
int fetch_pins_get(struct fetch_pins *p, const char *key, char *out);
/* Pins etag for key when nothing is pinned; ESTALE (with a message) when a different one is. */
int fetch_pins_check(struct fetch_pins *p, const char *key, const char *etag);
/* Forgets key (after the store itself replaced it with put). */
void fetch_pins_forget(struct fetch_pins *p, const char *key);

/* Reads an environment variable holding a number, with a message naming it when malformed. */
int fetch_env_uint(const char *name, unsigned *out);

#endif
