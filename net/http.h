/* The one HTTP client of the project, over libcurl. Every module that speaks HTTP (the
 * stores' transfer engine, the governance API, the KBS client, Azure SKR) gets its curl
 * handles, TLS settings, timeouts, retry policy, error mapping and URL scrubbing here:
 *
 * - libcurl is initialised exactly once (net_http_global_init, also done by every
 *   constructor), and SIGPIPE is ignored so a peer closing a TLS connection cannot kill a
 *   threaded process;
 * - handles speak http and https only, follow no redirects, verify TLS peers and host names
 *   (never switched off; a private CA comes in through ca_file), and carry connect, total
 *   and low-speed timeouts;
 * - idempotent requests are retried on transient failures (connection errors, 408, 429, 5xx
 *   but 501/505) with exponential backoff, jitter and Retry-After, inside a time budget;
 * - a URL that reaches a message or a log line has its query (SAS tokens, pre-signed
 *   signatures) and userinfo removed first; bearer tokens never reach a message.
 *
 * net_http_client is the synchronous client (one request at a time per client, its
 * connection reused). The stores' parallel engine (fetch/http.c) builds on the primitives
 * below rather than setting up curl itself. */
#ifndef CCRFS_NET_HTTP_H
#define CCRFS_NET_HTTP_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

/* Initialises libcurl once per process, whichever thread comes first; 0 or EIO. */
int net_http_global_init(void);
/* How many times libcurl's global initialisation has run in this process (0 or 1). */
unsigned net_http_global_init_runs(void);
/* New handles (libcurl initialised first); NULL when it cannot be. */
CURL *net_http_easy_new(void);
CURLM *net_http_multi_new(void);

/* Transport settings shared by every handle. */
struct net_http_opts {
    const char *ca_file;         /* PEM bundle of trusted CAs; NULL: the system store */
    unsigned connect_timeout_ms; /* 0: 10 s */
    unsigned timeout_ms;         /* whole request; 0: none (the low-speed limit still holds) */
    unsigned low_speed_time_s;   /* abort below 1 KiB/s for this long; 0: 30 s */
};
/* Sets the common options on e: protocols, no redirects, no signals, TLS verification, CA
 * file, timeouts, keep-alive. Called after curl_easy_reset and before anything
 * request-specific. */
void net_http_easy_apply(CURL *e, const struct net_http_opts *o);

/* A share handle (DNS answers and TLS sessions, thread-safe) for handles of one client. */
struct net_http_share;
int net_http_share_new(struct net_http_share **out);
CURLSH *net_http_share_handle(struct net_http_share *s);
void net_http_share_free(struct net_http_share *s);

/* Retry policy. */
struct net_retry_policy {
    unsigned base_ms;   /* first delay */
    unsigned cap_ms;    /* longest delay */
    unsigned budget_ms; /* total time from the first attempt; 0: no retries */
};
/* Delay before attempt number attempt+1 (attempt >= 1 is the number of attempts made):
 * min(cap, base * 2^(attempt-1)), jittered into [d/2, d] by rnd (any 32-bit value). */
unsigned net_retry_delay_ms(const struct net_retry_policy *p, unsigned attempt, uint32_t rnd);
/* The same with fresh jitter from ccr_random_below. */
unsigned net_retry_backoff_ms(const struct net_retry_policy *p, unsigned attempt);
/* Whether an HTTP status is worth another attempt: 408, 429 and 5xx other than 501/505. */
int net_retry_status(long status);
/* Whether a transport failure is worth another attempt (connection refused or reset,
 * timeouts, empty or cut answers, TLS handshake failures). */
int net_retry_curl(CURLcode cc);
/* Whether a method may be sent twice: GET, HEAD, PUT, DELETE, OPTIONS. */
int net_method_idempotent(const char *method);
/* Retry-After as delay-seconds, in milliseconds (at most an hour); 0 when absent or not a
 * plain number. */
unsigned net_parse_retry_after(const char *value);
/* One raw header line as curl's header callback gives it (len bytes, not terminated): 1 with
 * *ms set when it is Retry-After, else 0. */
int net_header_retry_after(const char *line, size_t len, unsigned *ms);

/* The one mapping to errno. Transport: refused ECONNREFUSED, timeout ETIMEDOUT, name not
 * resolved or host unreachable EHOSTUNREACH, TLS peer not trusted EACCES, out of memory
 * ENOMEM, else EIO. Final HTTP status: 404 ENOENT, 401/403 EACCES, 412 ESTALE, else EIO. */
int net_curl_errno(CURLcode cc);
int net_status_errno(long status);

/* Copies url into out without userinfo (user:password@) and with any query string (SAS
 * tokens, pre-signed signatures) replaced by "?<redacted>"; the fragment goes too. For
 * every message and log line that names a URL. */
void net_url_scrub(const char *url, char *out, size_t out_len);
/* The same without even the "?<redacted>" marker: what a URL may show where anyone can read
 * it (the mount's fsname in /proc/mounts). */
void net_url_public(const char *url, char *out, size_t out_len);

/* The synchronous client. */
struct net_http_client_opts {
    const char *base_url; /* http:// or https://; requests go to base_url + path */
    const char *who;      /* names the peer in messages ("governance", "broker") */
    struct net_http_opts transport;
    struct net_retry_policy retry;
    size_t reply_max;   /* larger replies fail with EFBIG; 0: 4 MiB */
    int cookies;        /* keep cookies between requests (a KBS session) */
    const char *bearer; /* default Authorization: Bearer token, or NULL; copied, wiped on free */
};

struct net_http_request {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* appended to base_url, already escaped */
    const void *body;   /* NULL: none */
    size_t body_len;
    const char *content_type; /* any method but GET and HEAD; NULL: application/json */
    const char *accept;       /* NULL: no Accept header */
    const char *bearer;       /* overrides the client's token for this request */
};

struct net_http_reply {
    long status;
    char *body; /* malloc'd, NUL-terminated, never NULL after success */
    size_t len;
    unsigned attempts;
};

struct net_http_client;

int net_http_client_new(const struct net_http_client_opts *o, struct net_http_client **out);
void net_http_client_free(struct net_http_client *c);
/* The base URL as given (trailing '/' removed); scrub it before showing it. */
const char *net_http_client_base(const struct net_http_client *c);
/* Sends one request, retrying an idempotent one on transient failures within the budget.
 * Any HTTP status is a success here (the last one when retries ran out); a transport
 * failure is an errno from net_curl_errno, EFBIG for an oversized reply, each with a
 * message naming the method and the scrubbed URL. One caller at a time per client. */
int net_http_client_do(struct net_http_client *c, const struct net_http_request *rq,
                       struct net_http_reply *reply);
/* Frees the body, wiping it first (it may have held a key). */
void net_http_reply_free(struct net_http_reply *reply);

/* URL-escapes s (RFC 3986 unreserved kept) into a malloc'd string, or NULL. */
char *net_url_escape(const char *s);

#endif
