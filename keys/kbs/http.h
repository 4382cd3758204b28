/* A small HTTP client for brokers (KBS, its admin API, the Azure SKR sidecar): a client of
 * net/http.h with its cookie engine on, so a KBS session cookie follows the requests. */
#ifndef CCRFS_KEYS_KBS_HTTP_H
#define CCRFS_KEYS_KBS_HTTP_H

#include <stddef.h>

struct keys_http;

struct keys_http_reply {
    long status;
    char *body; /* malloc'd, NUL-terminated */
    size_t len;
};

int keys_http_open(const char *base_url, const char *ca_file, struct keys_http **out);
/* Sends one request to base_url + path. body may be NULL; bearer is an optional token.
 * Transport failures: ECONNREFUSED / EHOSTUNREACH / ETIMEDOUT with a message naming the URL
 * (scrubbed), EFBIG for a reply over 4 MiB. GETs are retried briefly on transient failures.
 * Any HTTP status is a success here; see keys_http_refusal. */
int keys_http_do(struct keys_http *h, const char *method, const char *path, const char *body, size_t body_len,
                 const char *bearer, struct keys_http_reply *reply);
/* The same with the body's Content-Type (NULL: application/json), e.g. the raw value
 * Trustee's resource admin API takes as application/octet-stream. */
int keys_http_send(struct keys_http *h, const char *method, const char *path, const void *body,
                   size_t body_len, const char *content_type, const char *bearer,
                   struct keys_http_reply *reply);
/* Frees the body, wiping it first. */
void keys_http_reply_free(struct keys_http_reply *reply);
/* Turns a non-2xx reply into an error that names the server's reason: the RFC 7807 "detail"
 * (or "title"), or an {"error": ...} message. 401/403 -> EACCES, 404 -> ENOENT, else EIO. */
int keys_http_refusal(const struct keys_http_reply *reply, const char *who);
void keys_http_close(struct keys_http *h);

#endif
