/* libcurl set up in one place: global initialisation, the options every handle carries, the
 * share handle, and the synchronous client with retries. */
#include "net/http.h"
#include "common/clock.h"
#include "common/dynbuf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/secmem.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NET_REPLY_MAX_DEFAULT (4u << 20)
#define NET_URL_SHOWN_MAX     512

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;
static atomic_uint global_runs;

static void global_init(void)
{
    struct sigaction sa;

    atomic_fetch_add(&global_runs, 1);
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    /* Transfers run with CURLOPT_NOSIGNAL (threads); a peer closing a TLS connection could
     * then raise SIGPIPE and kill the process, so a default disposition becomes "ignore". */
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, NULL);
    }
}

int net_http_global_init(void)
{
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK)
        return ccr_err_set(EIO, "libcurl: %s", curl_easy_strerror(global_rc));
    return 0;
}

unsigned net_http_global_init_runs(void)
{
    return atomic_load(&global_runs);
}

CURL *net_http_easy_new(void)
{
    return net_http_global_init() == 0 ? curl_easy_init() : NULL;
}

CURLM *net_http_multi_new(void)
{
    return net_http_global_init() == 0 ? curl_multi_init() : NULL;
}

void net_http_easy_apply(CURL *e, const struct net_http_opts *o)
{
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    /* Never switched off: a private CA is trusted through ca_file instead. */
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (o->ca_file != NULL)
        curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_file);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(o->connect_timeout_ms ? o->connect_timeout_ms : 10000));
    if (o->timeout_ms != 0)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)(o->low_speed_time_s ? o->low_speed_time_s : 30));
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
}

struct net_http_share {
    CURLSH *share;
    pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
};

static void share_lock(CURL *c, curl_lock_data data, curl_lock_access access, void *arg)
{
    struct net_http_share *s = arg;
    (void)c;
    (void)access;
    pthread_mutex_lock(&s->locks[data]);
}

static void share_unlock(CURL *c, curl_lock_data data, void *arg)
{
    struct net_http_share *s = arg;
    (void)c;
    pthread_mutex_unlock(&s->locks[data]);
}

int net_http_share_new(struct net_http_share **out)
{
    struct net_http_share *s;
    int rc;

    if ((rc = net_http_global_init()) != 0)
        return rc;
    if ((s = calloc(1, sizeof *s)) == NULL)
        return ENOMEM;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&s->locks[i], NULL);
    if ((s->share = curl_share_init()) == NULL) {
        net_http_share_free(s);
        return ENOMEM;
    }
    /* DNS answers and TLS sessions are shared between callers; connections live per handle
     * (or per multi handle), which keeps them free of cross-thread locking. */
    curl_share_setopt(s->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(s->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(s->share, CURLSHOPT_USERDATA, s);
    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    *out = s;
    return 0;
}

CURLSH *net_http_share_handle(struct net_http_share *s)
{
    return s->share;
}

void net_http_share_free(struct net_http_share *s)
{
    if (s == NULL)
        return;
    if (s->share != NULL)
        curl_share_cleanup(s->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&s->locks[i]);
    free(s);
}

struct net_http_client {
    CURL *curl;
    char *base;
    char *who;
    char *bearer; /* wiped on free */
    struct net_http_opts transport;
    char *ca_file;
    struct net_retry_policy retry;
    size_t reply_max;
    int cookies;
};

int net_http_client_new(const struct net_http_client_opts *o, struct net_http_client **out)
{
    struct net_http_client *c;
    size_t blen = strlen(o->base_url);
    int rc;

    if (strncmp(o->base_url, "http://", 7) != 0 && strncmp(o->base_url, "https://", 8) != 0) {
        char shown[NET_URL_SHOWN_MAX];
        net_url_scrub(o->base_url, shown, sizeof shown);
        return ccr_err_set(EINVAL, "%s URL '%s' must start with http:// or https://",
                           o->who ? o->who : "server", shown);
    }
    if ((rc = net_http_global_init()) != 0)
        return rc;
    if ((c = calloc(1, sizeof *c)) == NULL)
        return ENOMEM;
    while (blen > 0 && o->base_url[blen - 1] == '/')
        blen--;
    c->base = strndup(o->base_url, blen);
    c->who = strdup(o->who ? o->who : "server");
    c->bearer = o->bearer ? strdup(o->bearer) : NULL;
    c->ca_file = o->transport.ca_file ? strdup(o->transport.ca_file) : NULL;
    c->curl = curl_easy_init();
    if (c->base == NULL || c->who == NULL || c->curl == NULL || (o->bearer && c->bearer == NULL) ||
        (o->transport.ca_file && c->ca_file == NULL)) {
        net_http_client_free(c);
        return ENOMEM;
    }
    c->transport = o->transport;
    c->transport.ca_file = c->ca_file;
    c->retry = o->retry;
    c->reply_max = o->reply_max ? o->reply_max : NET_REPLY_MAX_DEFAULT;
    c->cookies = o->cookies;
    if (c->cookies)
        curl_easy_setopt(c->curl, CURLOPT_COOKIEFILE, ""); /* cookie engine on, nothing loaded */
    *out = c;
    return 0;
}

void net_http_client_free(struct net_http_client *c)
{
    if (c == NULL)
        return;
    if (c->curl != NULL)
        curl_easy_cleanup(c->curl);
    if (c->bearer != NULL)
        ccr_freezero(c->bearer, strlen(c->bearer));
    free(c->base);
    free(c->who);
    free(c->ca_file);
    free(c);
}

const char *net_http_client_base(const struct net_http_client *c)
{
    return c->base;
}

void net_http_reply_free(struct net_http_reply *reply)
{
    if (reply->body != NULL)
        ccr_freezero(reply->body, reply->len);
    memset(reply, 0, sizeof *reply);
}

/* What one attempt collects. */
struct attempt {
    struct ccr_dynbuf body;
    int too_big;
    unsigned retry_after_ms;
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct attempt *a = arg;
    size_t len = size * n;
    int rc = ccr_dynbuf_add(&a->body, data, len);

    if (rc == EFBIG)
        a->too_big = 1;
    return rc == 0 ? len : 0;
}

static size_t on_header(char *line, size_t size, size_t n, void *arg)
{
    struct attempt *a = arg;
    unsigned ms;

    if (net_header_retry_after(line, size * n, &ms))
        a->retry_after_ms = ms;
    return size * n;
}

static int headers_build(const struct net_http_client *c, const struct net_http_request *rq,
                         struct curl_slist **out, char *auth, size_t auth_len)
{
    struct curl_slist *h = NULL, *n;
    const char *bearer = rq->bearer ? rq->bearer : c->bearer;
    char line[160];

    /* One round trip less: the servers we speak to take the body straight away. */
    if ((h = curl_slist_append(h, "Expect:")) == NULL)
        return ENOMEM;
    /* Also on a bodyless POST: libcurl would otherwise label it as a form. */
    if (rq->body != NULL || (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "HEAD") != 0)) {
        snprintf(line, sizeof line, "Content-Type: %s",
                 rq->content_type ? rq->content_type : "application/json");
        if ((n = curl_slist_append(h, line)) == NULL)
            goto nomem;
        h = n;
    }
    if (rq->accept != NULL) {
        snprintf(line, sizeof line, "Accept: %s", rq->accept);
        if ((n = curl_slist_append(h, line)) == NULL)
            goto nomem;
        h = n;
    }
    if (bearer != NULL) {
        if ((size_t)snprintf(auth, auth_len, "Authorization: Bearer %s", bearer) >= auth_len) {
            curl_slist_free_all(h);
            return ccr_err_set(EINVAL, "the bearer token is too long");
        }
        if ((n = curl_slist_append(h, auth)) == NULL)
            goto nomem;
        h = n;
    }
    *out = h;
    return 0;
nomem:
    curl_slist_free_all(h);
    return ENOMEM;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void attempt_setup(struct net_http_client *c, const struct net_http_request *rq, const char *url,
                          struct curl_slist *headers, struct attempt *a, char *curl_err)
{
    CURL *e = c->curl;

    /* No curl_easy_reset: every option a request sets is set again (or undone) here, and the
     * cookie engine, switched on once at creation, must not be re-armed per request (libcurl
     * would keep a list entry each time). */
    net_http_easy_apply(e, &c->transport);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_setopt(e, CURLOPT_NOBODY, 0L);
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L); /* back to a plain GET; the method follows */
    if (strcmp(rq->method, "GET") == 0 && rq->body == NULL) {
        /* as set */
    } else if (strcmp(rq->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, rq->body ? (const char *)rq->body : "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(rq->body ? rq->body_len : 0));
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, rq->method);
    }
}

int net_http_client_do(struct net_http_client *c, const struct net_http_request *rq,
                       struct net_http_reply *reply)
{
    struct ccr_dynbuf urlb;
    struct curl_slist *headers = NULL;
    char auth[4096], shown[NET_URL_SHOWN_MAX], curl_err[CURL_ERROR_SIZE];
    const int idempotent = net_method_idempotent(rq->method);
    uint64_t start = ccr_clock_mono_ms(), deadline = start + c->retry.budget_ms;
    int rc;

    memset(reply, 0, sizeof *reply);
    ccr_dynbuf_init(&urlb, 0);
    if (ccr_dynbuf_addf(&urlb, "%s%s", c->base, rq->path) != 0)
        return ENOMEM;
    net_url_scrub(urlb.data, shown, sizeof shown);
    if ((rc = headers_build(c, rq, &headers, auth, sizeof auth)) != 0) {
        explicit_bzero(auth, sizeof auth);
        ccr_dynbuf_free(&urlb);
        return rc;
    }
    for (;;) {
        struct attempt a = {.retry_after_ms = 0};
        CURLcode cc;
        unsigned delay;
        int again;

        ccr_dynbuf_init(&a.body, c->reply_max);
        curl_err[0] = '\0';
        attempt_setup(c, rq, urlb.data, headers, &a, curl_err);
        reply->attempts++;
        cc = curl_easy_perform(c->curl);
        if (cc == CURLE_OK)
            curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &reply->status);
        again = idempotent && !a.too_big &&
                (cc != CURLE_OK ? net_retry_curl(cc) : net_retry_status(reply->status));
        if (again) {
            uint64_t now = ccr_clock_mono_ms();
            delay = net_retry_backoff_ms(&c->retry, reply->attempts);
            if (a.retry_after_ms > delay)
                delay = a.retry_after_ms;
            if (c->retry.budget_ms > 0 && now + delay < deadline) {
                ccr_log_debug("%s %s %s: %s; again in %u ms", c->who, rq->method, shown,
                              cc != CURLE_OK ? (curl_err[0] ? curl_err : curl_easy_strerror(cc)) : "busy",
                              delay);
                ccr_dynbuf_free_wiped(&a.body);
                sleep_ms(delay);
                continue;
            }
        }
        if (cc != CURLE_OK) {
            char tries[48] = "";
            if (reply->attempts > 1)
                snprintf(tries, sizeof tries, " (after %u attempts)", reply->attempts);
            ccr_dynbuf_free_wiped(&a.body);
            reply->status = 0;
            if (a.too_big)
                rc = ccr_err_set(EFBIG, "%s %s %s: the reply is larger than %zu bytes", c->who, rq->method,
                                 shown, c->reply_max);
            else
                rc = ccr_err_set(net_curl_errno(cc), "%s %s %s: %s%s", c->who, rq->method, shown,
                                 curl_err[0] ? curl_err : curl_easy_strerror(cc), tries);
        } else {
            reply->body = ccr_dynbuf_steal(&a.body, &reply->len);
            rc = reply->body == NULL ? ENOMEM : 0;
        }
        break;
    }
    /* Nothing of the request stays with the handle: the token goes from its headers. */
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, NULL);
    for (struct curl_slist *l = headers; l != NULL; l = l->next)
        explicit_bzero(l->data, strlen(l->data));
    curl_slist_free_all(headers);
    explicit_bzero(auth, sizeof auth);
    ccr_dynbuf_free(&urlb);
    return rc;
}
