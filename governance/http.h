/* A small HTTP client for the governance API, over net/http.h (one reused connection).
 * Loopback or TLS; the bearer token, when set, goes in the Authorization header and is
 * never logged. Replies are bounded in size; idempotent requests are retried for up to 2 s
 * on transient failures (a POST never is). One caller at a time per handle. */
#ifndef CCRFS_GOVERNANCE_HTTP_H
#define CCRFS_GOVERNANCE_HTTP_H

#include <stddef.h>

struct gov_http;

#define GOV_HTTP_REPLY_MAX (64 * 1024 * 1024)

int gov_http_new(const char *base_url, const char *token, long timeout_ms, struct gov_http **out);
void gov_http_free(struct gov_http *h);
/* Sends METHOD base_url+path (path already escaped) with an optional JSON body. On a reply of
 * any status returns 0 with *status and the body (malloc'd, NUL-terminated, may be NULL when
 * resp is NULL). A transport failure is ECONNREFUSED / ETIMEDOUT / EHOSTUNREACH with a message. */
int gov_http_request(struct gov_http *h, const char *method, const char *path, const char *body,
                     size_t body_len, long *status, char **resp, size_t *resp_len);
/* URL-escapes s into a malloc'd string. */
char *gov_http_escape(const char *s);
/* The "message" of a JSON error reply, or a short excerpt of the body, into out. */
void gov_http_error_text(const char *resp, char *out, size_t out_len);

/* Reads a token from a file (first line) or, when path is NULL, from CCRFS_GOV_TOKEN.
 * *out is NULL (and 0 returned) when neither is set. */
int gov_token_load(const char *path, char **out);

#endif
