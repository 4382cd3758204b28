/* A small HTTP client for the governance API, over net/http.h (one reused connection).
 * Loopback or TLS; the bearer token, when set, goes in the Authorization header and is
 * never logged. Replies are bounded in size; idempotent requests are retried for up to 2 s
 * on transient failures (a POST never is). One caller at a time per handle. */
#ifndef CCRFS_GOVERNANCE_HTTP_H
#define CCRFS_GOVERNANCE_HTTP_H

#include <curl/curl.h>
#include <stddef.h>

#include "common/dynbuf.h"

struct gov_http;

#define GOV_HTTP_REPLY_MAX (64 * 1024 * 1024)

int gov_http_new(const char *base_url, const char *token, long timeout_ms, struct gov_http **out);
/* The same with the token read by gov_token_load(token_file) and wiped once the client holds it. */
int gov_http_open(const char *base_url, const char *token_file, long timeout_ms, struct gov_http **out);
void gov_http_free(struct gov_http *h);
/* Sends METHOD base_url+path (path already escaped) with an optional JSON body. On a reply of
 * any status returns 0 with *status and the body (malloc'd, NUL-terminated, may be NULL when
 * resp is NULL). A transport failure is ECONNREFUSED / ETIMEDOUT / EHOSTUNREACH with a message. */
int gov_http_request(struct gov_http *h, const char *method, const char *path, const char *body,
                     size_t body_len, long *status, char **resp, size_t *resp_len);
/* The same with one extra request header ("Name: value", e.g. the sidecar's API path prefix;
 * NULL: none), and the reply's Retry-After (milliseconds, 0 when absent) when retry_after_ms
 * is given. Sent once: the caller decides about retries. */
int gov_http_request_hdr(struct gov_http *h, const char *method, const char *path, const char *header,
                         const char *body, size_t body_len, long *status, char **resp, size_t *resp_len,
                         unsigned *retry_after_ms);

/* One request on its own curl handle, for callers that run several at once (a curl multi
 * handle): set up by gov_http_call_setup, performed by the caller, read by
 * gov_http_call_result, released by gov_http_call_cleanup. The body is referenced, not
 * copied. */
struct gov_http_call {
    CURL *easy;
    struct curl_slist *headers;
    struct ccr_dynbuf reply; /* bounded: an error reply is only read for its message */
    unsigned retry_after_ms;
    char url[2048];
    char curl_err[CURL_ERROR_SIZE];
};
int gov_http_call_setup(struct gov_http_call *c, const struct gov_http *h, const char *method,
                        const char *path, const char *header, const char *body, size_t body_len);
/* After the transfer finished with cc: 0 with *status, or a transport errno with a message
 * naming the scrubbed URL. */
int gov_http_call_result(struct gov_http_call *c, CURLcode cc, long *status);
void gov_http_call_cleanup(struct gov_http_call *c);

/* URL-escapes s into a malloc'd string. */
char *gov_http_escape(const char *s);
/* The "message" of a JSON error reply, or a short excerpt of the body, into out. */
void gov_http_error_text(const char *resp, char *out, size_t out_len);

/* "<code>: <message>" of an error reply {"error":{"code","message"}} (the sidecar's and
 * CGS's shape), else as gov_http_error_text. */
void gov_http_error_code_text(const char *resp, char *out, size_t out_len);

/* The header a multi-contract sidecar takes the CGS path prefix from (e.g.
 * "app/contracts/<contract>"). */
#define GOV_ACR_PREFIX_HEADER "x-ms-ccr-governance-api-path-prefix"

/* Reads a token from a file (the first field of its first line that is not a comment, so a
 * credential line "TOKEN PARTY ROLES" works) or, when path is NULL, from CCRFS_GOV_TOKEN or
 * the file CCRFS_GOV_TOKEN_FILE names. *out is NULL (and 0 returned) when none is set. */
int gov_token_load(const char *path, char **out);

#endif
