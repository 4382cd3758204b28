/* The HTTP engine: libcurl multi transfers with retries, a store-wide in-flight bound, and
 * strict checks of every answer (206 with the Content-Range asked for, the pinned ETag). */
#include "fetch/http.h"
#include "common/array.h"
#include "common/clock.h"
#include "common/dynbuf.h"
#include "common/err.h"
#include "common/log.h"
#include "net/http.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HTTP_ERR_BODY_MAX 512

/* One multi handle with its connection cache and idle easy handles, used by one caller at a
 * time; idle ones wait in a list so connections are reused by the next caller. */
struct http_conn {
    CURLM *multi;
    struct ccr_array idle; /* of CURL * */
    struct http_conn *next;
};

struct fetch_http {
    struct fetch_options opt;
    char *ca_file;
    struct net_http_opts transport;
    struct net_retry_policy retry;
    fetch_http_prepare_fn prepare;
    void *prepare_arg;
    struct net_http_share *share;
    pthread_mutex_t lock; /* conns, slots */
    pthread_cond_t slot_free;
    unsigned slots_used;
    struct http_conn *conns;
    atomic_uint_least64_t requests, bytes_read, bytes_written, errors, retries, in_flight;
};

enum xfer_state { XFER_WAITING, XFER_ACTIVE, XFER_DONE };

struct xfer {
    struct fetch_http_req *r;
    struct fetch_http *h;
    CURL *easy;
    struct curl_slist *headers;
    enum xfer_state state;
    uint64_t deadline_ms, not_before_ms, start_ms;
    /* per attempt */
    size_t got;    /* body bytes received */
    uint64_t sent; /* upload bytes sent */
    int abort_rc;  /* set when a callback stopped the transfer */
    char abort_msg[200];
    unsigned retry_after_ms;
    int have_cr;
    uint64_t cr_first, cr_last, cr_total;
    char err_body[HTTP_ERR_BODY_MAX + 1];
    size_t err_len;
    char ms_error[64];
    char curl_err[CURL_ERROR_SIZE];
    struct ccr_dynbuf body; /* grow_max requests */
};

int fetch_http_create(const struct fetch_options *opt, fetch_http_prepare_fn prepare, void *arg,
                      struct fetch_http **out)
{
    struct fetch_http *h;
    int rc;

    h = calloc(1, sizeof *h);
    if (h == NULL)
        return ENOMEM;
    h->opt = *opt;
    if (h->opt.connect_timeout_ms == 0)
        h->opt.connect_timeout_ms = 10000;
    if (h->opt.low_speed_time_s == 0)
        h->opt.low_speed_time_s = 30;
    if (h->opt.retry_budget_ms == 0)
        h->opt.retry_budget_ms = 60000;
    if (h->opt.max_in_flight == 0)
        h->opt.max_in_flight = 16;
    if (opt->ca_file != NULL && (h->ca_file = strdup(opt->ca_file)) == NULL) {
        free(h);
        return ENOMEM;
    }
    h->opt.ca_file = h->ca_file;
    /* Not needed here, and not owned: the backend keeps what it needs of them. */
    h->opt.endpoint = NULL;
    h->opt.az_sas_file = h->opt.az_key_file = h->opt.az_token_file = NULL;
    h->retry.base_ms = 100;
    h->retry.cap_ms = 5000;
    h->retry.budget_ms = h->opt.retry_budget_ms;
    h->transport.ca_file = h->ca_file;
    h->transport.connect_timeout_ms = h->opt.connect_timeout_ms;
    h->transport.low_speed_time_s = h->opt.low_speed_time_s;
    h->prepare = prepare;
    h->prepare_arg = arg;
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->slot_free, NULL);
    /* DNS answers and TLS sessions are shared between callers; connections live per multi. */
    if ((rc = net_http_share_new(&h->share)) != 0) {
        fetch_http_destroy(h);
        return rc;
    }
    *out = h;
    return 0;
}

static void conn_free(struct http_conn *c)
{
    for (size_t i = 0; i < c->idle.len; i++)
        curl_easy_cleanup(CCR_ARRAY_AT(&c->idle, CURL *, i));
    ccr_array_free(&c->idle);
    if (c->multi != NULL)
        curl_multi_cleanup(c->multi);
    free(c);
}

void fetch_http_destroy(struct fetch_http *h)
{
    if (h == NULL)
        return;
    while (h->conns != NULL) {
        struct http_conn *c = h->conns;
        h->conns = c->next;
        conn_free(c);
    }
    net_http_share_free(h->share);
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->slot_free);
    free(h->ca_file);
    free(h);
}

const struct fetch_options *fetch_http_options(struct fetch_http *h)
{
    return &h->opt;
}

void fetch_http_get_stats(struct fetch_http *h, struct fetch_stats *out)
{
    out->requests = atomic_load(&h->requests);
    out->bytes_read = atomic_load(&h->bytes_read);
    out->bytes_written = atomic_load(&h->bytes_written);
    out->errors = atomic_load(&h->errors);
    out->retries = atomic_load(&h->retries);
    out->in_flight = atomic_load(&h->in_flight);
}

static struct http_conn *conn_take(struct fetch_http *h)
{
    struct http_conn *c;

    pthread_mutex_lock(&h->lock);
    c = h->conns;
    if (c != NULL)
        h->conns = c->next;
    pthread_mutex_unlock(&h->lock);
    if (c != NULL)
        return c;
    c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    ccr_array_init(&c->idle, sizeof(CURL *));
    c->multi = net_http_multi_new();
    if (c->multi == NULL) {
        free(c);
        return NULL;
    }
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)h->opt.max_in_flight);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)h->opt.max_in_flight);
    return c;
}

static void conn_give(struct fetch_http *h, struct http_conn *c)
{
    pthread_mutex_lock(&h->lock);
    c->next = h->conns;
    h->conns = c;
    pthread_mutex_unlock(&h->lock);
}

static CURL *conn_easy(struct http_conn *c)
{
    if (c->idle.len > 0)
        return CCR_ARRAY_AT(&c->idle, CURL *, --c->idle.len);
    return net_http_easy_new();
}

static void conn_easy_back(struct http_conn *c, CURL *e)
{
    curl_easy_reset(e);
    if (ccr_array_append(&c->idle, &e) != 0)
        curl_easy_cleanup(e);
}

/* Slots bound the requests in flight across every caller of one store. A caller with
 * transfers of its own under way never blocks for a slot, so none can wait on another. */
static int slot_try(struct fetch_http *h)
{
    int ok;
    pthread_mutex_lock(&h->lock);
    ok = h->slots_used < h->opt.max_in_flight;
    if (ok)
        h->slots_used++;
    pthread_mutex_unlock(&h->lock);
    return ok;
}

static void slot_wait(struct fetch_http *h, unsigned ms)
{
    struct timespec ts = ccr_clock_deadline_ms(ms);
    pthread_mutex_lock(&h->lock);
    if (h->slots_used >= h->opt.max_in_flight)
        pthread_cond_timedwait(&h->slot_free, &h->lock, &ts);
    pthread_mutex_unlock(&h->lock);
}

static void slot_release(struct fetch_http *h)
{
    pthread_mutex_lock(&h->lock);
    h->slots_used--;
    pthread_cond_signal(&h->slot_free);
    pthread_mutex_unlock(&h->lock);
}

static void xfer_abort(struct xfer *x, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void xfer_abort(struct xfer *x, int rc, const char *fmt, ...)
{
    va_list ap;
    if (x->abort_rc != 0)
        return;
    x->abort_rc = rc;
    va_start(ap, fmt);
    vsnprintf(x->abort_msg, sizeof x->abort_msg, fmt, ap);
    va_end(ap);
}

static size_t header_cb(char *data, size_t size, size_t n, void *arg)
{
    struct xfer *x = arg;
    struct fetch_http_req *r = x->r;
    size_t len = size * n;
    char line[512], *value, *end;

    if (len >= sizeof line)
        return len; /* no header we read is that long */
    memcpy(line, data, len);
    line[len] = '\0';
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n' || line[len - 1] == ' '))
        line[--len] = '\0';
    if (strncmp(line, "HTTP/", 5) == 0) {
        /* A new response (after a 100 Continue): forget what the previous one said. */
        x->have_cr = 0;
        r->etag[0] = '\0';
        r->have_length = 0;
        x->retry_after_ms = 0;
        x->ms_error[0] = '\0';
        return size * n;
    }
    value = strchr(line, ':');
    if (value == NULL)
        return size * n;
    *value++ = '\0';
    while (*value == ' ' || *value == '\t')
        value++;
    if (strcasecmp(line, "content-range") == 0) {
        x->have_cr = fetch_parse_content_range(value, &x->cr_first, &x->cr_last, &x->cr_total) == 0;
        if (!x->have_cr)
            xfer_abort(x, EIO, "malformed Content-Range \"%s\"", value);
    } else if (strcasecmp(line, "etag") == 0) {
        if (strlen(value) < sizeof r->etag)
            memcpy(r->etag, value, strlen(value) + 1);
        else
            xfer_abort(x, EIO, "ETag longer than %d bytes", FETCH_ETAG_MAX - 1);
    } else if (strcasecmp(line, "content-length") == 0) {
        unsigned long long v;
        errno = 0;
        v = strtoull(value, &end, 10);
        if (errno == 0 && end != value && *end == '\0' && value[0] != '-') {
            r->content_length = v;
            r->have_length = 1;
        }
    } else if (strcasecmp(line, "retry-after") == 0) {
        x->retry_after_ms = net_parse_retry_after(value);
    } else if (strcasecmp(line, "x-ms-error-code") == 0) {
        snprintf(x->ms_error, sizeof x->ms_error, "%s", value);
    }
    return size * n;
}

static size_t write_cb(char *data, size_t size, size_t n, void *arg)
{
    struct xfer *x = arg;
    struct fetch_http_req *r = x->r;
    size_t len = size * n;
    long status = 0;

    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        /* Keep the start of an error body for the message; drop the rest. */
        size_t room = HTTP_ERR_BODY_MAX - x->err_len;
        size_t take = len < room ? len : room;
        memcpy(x->err_body + x->err_len, data, take);
        x->err_len += take;
        x->err_body[x->err_len] = '\0';
        return len;
    }
    if (r->ranged) {
        if (x->got == 0) {
            /* Checked before the first byte lands, so nothing of a wrong answer is kept. */
            if (status != 206) {
                xfer_abort(x, EIO, "server ignored the Range request (status %ld, expected 206)", status);
                return 0;
            }
            if (!x->have_cr) {
                xfer_abort(x, EIO, "206 answer without a Content-Range");
                return 0;
            }
            if (x->cr_first != r->range_off || x->cr_last != r->range_off + r->range_len - 1) {
                char want[120];
                snprintf(want, sizeof want, "bytes %llu-%llu, got %llu-%llu",
                         (unsigned long long)r->range_off,
                         (unsigned long long)(r->range_off + r->range_len - 1),
                         (unsigned long long)x->cr_first, (unsigned long long)x->cr_last);
                xfer_abort(x, EIO, "Content-Range does not match the range asked for: asked %s", want);
                return 0;
            }
            if (r->if_match != NULL && r->etag[0] != '\0' && strcmp(r->etag, r->if_match) != 0) {
                xfer_abort(x, ESTALE, "object changed while being read (ETag %s is not the one pinned)",
                           r->etag);
                return 0;
            }
        }
        if (len > r->range_len - x->got) {
            xfer_abort(x, EIO, "server sent more bytes than the range asked for");
            return 0;
        }
        memcpy((uint8_t *)r->buf + x->got, data, len);
        x->got += len;
        atomic_fetch_add(&x->h->bytes_read, len);
        return len;
    }
    if (r->grow_max > 0) {
        if (len > r->grow_max - r->body_len) {
            xfer_abort(x, EFBIG, "answer larger than %zu bytes", r->grow_max);
            return 0;
        }
        if (ccr_dynbuf_add(&x->body, data, len) != 0) {
            xfer_abort(x, ENOMEM, "out of memory");
            return 0;
        }
        r->body_len = x->body.len;
        x->got += len;
        return len;
    }
    return len; /* bodies of HEAD and PUT answers are not needed */
}

static size_t read_cb(char *buf, size_t size, size_t n, void *arg)
{
    struct xfer *x = arg;
    struct fetch_http_req *r = x->r;
    size_t want = size * n;
    int rc;

    if (want > r->src_len - x->sent)
        want = (size_t)(r->src_len - x->sent);
    if (want == 0)
        return 0;
    rc = r->src->read(r->src, r->src_off + x->sent, buf, want);
    if (rc != 0) {
        xfer_abort(x, rc, "reading the upload source failed: %s", ccr_err_msg(rc));
        return CURL_READFUNC_ABORT;
    }
    x->sent += want;
    atomic_fetch_add(&x->h->bytes_written, want);
    return want;
}

static int seek_cb(void *arg, curl_off_t offset, int origin)
{
    struct xfer *x = arg;
    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > x->r->src_len)
        return CURL_SEEKFUNC_FAIL;
    x->sent = (uint64_t)offset;
    return CURL_SEEKFUNC_OK;
}

static int xfer_setup(struct fetch_http *h, struct xfer *x)
{
    struct fetch_http_req *r = x->r;
    CURL *e = x->easy;
    int rc;

    x->got = 0;
    x->sent = 0;
    x->abort_rc = 0;
    x->abort_msg[0] = '\0';
    x->retry_after_ms = 0;
    x->have_cr = 0;
    x->err_len = 0;
    x->err_body[0] = '\0';
    x->ms_error[0] = '\0';
    x->curl_err[0] = '\0';
    r->etag[0] = '\0';
    r->have_length = 0;
    r->content_length = 0;
    r->status = 0;
    r->body_len = 0;
    ccr_dynbuf_free_wiped(&x->body); /* a token answer may be in it */
    ccr_dynbuf_init(&x->body, 0);
    curl_slist_free_all(x->headers);
    x->headers = NULL;
    rc = h->prepare(h->prepare_arg, r, &x->headers);
    if (rc != 0)
        return rc;
    if (r->src != NULL) {
        /* One round trip less; every server we speak to takes the body straight away. */
        struct curl_slist *more = curl_slist_append(x->headers, "Expect:");
        if (more == NULL)
            return ENOMEM;
        x->headers = more;
    }
    net_http_easy_apply(e, &h->transport);
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 256L * 1024);
    curl_easy_setopt(e, CURLOPT_FILETIME, 1L);
    curl_easy_setopt(e, CURLOPT_SHARE, net_http_share_handle(h->share));
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->curl_err);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(r->method, "PUT") == 0) {
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
        curl_easy_setopt(e, CURLOPT_READDATA, x);
        curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, seek_cb);
        curl_easy_setopt(e, CURLOPT_SEEKDATA, x);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->src_len);
    } else if (strcmp(r->method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    }
    return 0;
}

int fetch_http_header_add(struct curl_slist **h, const char *name, const char *value)
{
    struct ccr_dynbuf line;
    struct curl_slist *n;

    ccr_dynbuf_init(&line, 0);
    if (ccr_dynbuf_addf(&line, "%s: %s", name, value) != 0) {
        ccr_dynbuf_free_wiped(&line);
        return ENOMEM;
    }
    n = curl_slist_append(*h, line.data);
    ccr_dynbuf_free_wiped(&line); /* the session token passes through here */
    if (n == NULL)
        return ENOMEM;
    *h = n;
    return 0;
}

/* A short, printable excerpt of an error body (Azure explains itself there). */
static void body_excerpt(const struct xfer *x, char *out, size_t out_len)
{
    size_t j = 0;
    const char *msg = strstr(x->err_body, "<Message>");
    const char *from = msg ? msg + 9 : x->err_body;

    for (size_t i = 0; from[i] != '\0' && j + 1 < out_len && j < 160; i++) {
        if (msg != NULL && from[i] == '<')
            break;
        out[j++] = (from[i] >= 0x20 && from[i] < 0x7f) ? from[i] : ' ';
    }
    out[j] = '\0';
}

/* The error code of an S3-style XML error body (<Code>...</Code>), when no header gave one. */
static void body_code(const struct xfer *x, char *out, size_t out_len)
{
    const char *from = strstr(x->err_body, "<Code>");
    size_t j = 0;

    if (from != NULL)
        for (from += 6; from[j] != '\0' && from[j] != '<' && j + 1 < out_len; j++)
            out[j] = (from[j] >= 0x20 && from[j] < 0x7f) ? from[j] : ' ';
    out[j] = '\0';
}

/* Decides what one finished attempt means: 0 done, -1 try again, or a final errno with r->msg set. */
static int xfer_outcome(struct xfer *x, CURLcode cc, char *why, size_t why_len)
{
    struct fetch_http_req *r = x->r;
    long status = 0;
    long filetime = -1;

    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    r->status = status;
    if (x->abort_rc != 0) {
        snprintf(why, why_len, "%s", x->abort_msg);
        return x->abort_rc;
    }
    if (cc != CURLE_OK) {
        snprintf(why, why_len, "%s", x->curl_err[0] ? x->curl_err : curl_easy_strerror(cc));
        return net_retry_curl(cc) ? -1 : net_curl_errno(cc);
    }
    if (status >= 200 && status <= 299) {
        if (r->ranged) {
            if (status != 206 || !x->have_cr) {
                snprintf(why, why_len, "server ignored the Range request (status %ld, expected 206)", status);
                return EIO;
            }
            if (x->got != r->range_len) {
                snprintf(why, why_len, "206 answer carried %zu bytes, the range is %zu", x->got,
                         r->range_len);
                return EIO;
            }
            r->object_size = x->cr_total != UINT64_MAX ? x->cr_total : 0;
        }
        if (r->if_match != NULL && r->etag[0] != '\0' && strcmp(r->etag, r->if_match) != 0) {
            snprintf(why, why_len, "object changed (ETag %s is not the one pinned)", r->etag);
            return ESTALE;
        }
        curl_easy_getinfo(x->easy, CURLINFO_FILETIME, &filetime);
        r->mtime = filetime > 0 ? filetime : 0;
        return 0;
    }
    {
        char excerpt[180], code[sizeof x->ms_error];
        body_excerpt(x, excerpt, sizeof excerpt);
        if (x->ms_error[0] != '\0')
            snprintf(code, sizeof code, "%s", x->ms_error);
        else
            body_code(x, code, sizeof code);
        snprintf(why, why_len, "HTTP %ld%s%s%s%s", status, code[0] ? " " : "", code, excerpt[0] ? ": " : "",
                 excerpt);
    }
    if (net_retry_status(status))
        return -1;
    if (status == 412)
        snprintf(why, why_len, "object changed since it was first read (HTTP 412, If-Match failed)");
    else if (status == 416)
        snprintf(why, why_len, "range beyond the end of the object (HTTP 416)");
    return net_status_errno(status);
}

static void xfer_finish(struct xfer *x, int rc, const char *why)
{
    struct fetch_http_req *r = x->r;
    char where[256];

    r->result = rc;
    x->state = XFER_DONE;
    if (rc == 0) {
        r->msg[0] = '\0';
        return;
    }
    fetch_url_scrub(r->url, where, sizeof where);
    if (r->attempts > 1)
        snprintf(r->msg, sizeof r->msg, "%s %s: %s (after %u attempts)", r->method, where, why, r->attempts);
    else
        snprintf(r->msg, sizeof r->msg, "%s %s: %s", r->method, where, why);
    atomic_fetch_add(&x->h->errors, 1);
}

int fetch_http_run(struct fetch_http *h, struct fetch_http_req **reqs, size_t n)
{
    struct http_conn *c;
    struct xfer *xs;
    size_t done = 0, active = 0;
    int first = 0;

    if (n == 0)
        return 0;
    c = conn_take(h);
    xs = calloc(n, sizeof *xs);
    if (c == NULL || xs == NULL) {
        if (c != NULL)
            conn_give(h, c);
        free(xs);
        return ccr_err_set(ENOMEM, "out of memory starting %zu requests", n);
    }
    for (size_t i = 0; i < n; i++) {
        xs[i].r = reqs[i];
        xs[i].h = h;
        xs[i].state = XFER_WAITING;
        reqs[i]->result = 0;
        reqs[i]->attempts = 0;
        reqs[i]->msg[0] = '\0';
        reqs[i]->body = NULL;
        reqs[i]->body_len = 0;
    }
    while (done < n) {
        uint64_t now = ccr_clock_mono_ms(), next_wake = UINT64_MAX;
        int waiting_for_slot = 0;
        int running, msgs;
        CURLMsg *m;

        for (size_t i = 0; i < n; i++) {
            struct xfer *x = &xs[i];
            int rc;
            if (x->state != XFER_WAITING)
                continue;
            if (x->not_before_ms > now) {
                if (x->not_before_ms < next_wake)
                    next_wake = x->not_before_ms;
                continue;
            }
            if (!slot_try(h)) {
                waiting_for_slot = 1;
                break;
            }
            if (x->easy == NULL && (x->easy = conn_easy(c)) == NULL) {
                slot_release(h);
                xfer_finish(x, ENOMEM, "out of memory");
                done++;
                continue;
            }
            if (x->r->attempts == 0) {
                x->start_ms = now;
                x->deadline_ms = now + h->retry.budget_ms;
            }
            x->r->attempts++;
            atomic_fetch_add(&h->requests, 1);
            if ((rc = xfer_setup(h, x)) != 0) {
                slot_release(h);
                xfer_finish(x, rc, ccr_err_msg(rc));
                done++;
                continue;
            }
            if (curl_multi_add_handle(c->multi, x->easy) != CURLM_OK) {
                slot_release(h);
                xfer_finish(x, EIO, "cannot start the transfer");
                done++;
                continue;
            }
            x->state = XFER_ACTIVE;
            active++;
            atomic_fetch_add(&h->in_flight, 1);
        }
        if (active == 0) {
            if (done == n)
                break;
            if (waiting_for_slot) {
                slot_wait(h, 50);
            } else if (next_wake != UINT64_MAX) {
                uint64_t wait = next_wake > now ? next_wake - now : 0;
                struct timespec ts = {(time_t)(wait / 1000), (long)(wait % 1000) * 1000000L};
                nanosleep(&ts, NULL);
            }
            continue;
        }
        curl_multi_perform(c->multi, &running);
        while ((m = curl_multi_info_read(c->multi, &msgs)) != NULL) {
            struct xfer *x = NULL;
            char why[FETCH_HTTP_MSG_MAX];
            int rc;
            if (m->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            rc = xfer_outcome(x, m->data.result, why, sizeof why);
            curl_multi_remove_handle(c->multi, x->easy);
            active--;
            atomic_fetch_sub(&h->in_flight, 1);
            slot_release(h);
            if (rc == -1) {
                uint64_t t = ccr_clock_mono_ms();
                unsigned delay = net_retry_backoff_ms(&h->retry, x->r->attempts);
                if (x->retry_after_ms > delay)
                    delay = x->retry_after_ms;
                if (t + delay >= x->deadline_ms) {
                    char final[FETCH_HTTP_MSG_MAX + 64];
                    snprintf(final, sizeof final, "%s; gave up after %.1f s", why,
                             (double)(t - x->start_ms) / 1000.0);
                    xfer_finish(x,
                                x->r->status >= 400 ? net_status_errno(x->r->status)
                                                    : net_curl_errno(m->data.result),
                                final);
                    if (x->r->result == 0)
                        x->r->result = EIO;
                    done++;
                } else {
                    ccr_log_debug("retrying %s in %u ms: %s", x->r->key ? x->r->key : "request", delay, why);
                    atomic_fetch_add(&h->retries, 1);
                    x->state = XFER_WAITING;
                    x->not_before_ms = t + delay;
                }
            } else {
                xfer_finish(x, rc, why);
                done++;
            }
        }
        if (active > 0) {
            int wait_ms = 200;
            if (next_wake != UINT64_MAX) {
                uint64_t t = ccr_clock_mono_ms();
                wait_ms = next_wake > t ? (int)(next_wake - t < 200 ? next_wake - t : 200) : 0;
            }
            if (waiting_for_slot && wait_ms > 20)
                wait_ms = 20;
            curl_multi_poll(c->multi, NULL, 0, wait_ms, NULL);
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (xs[i].easy != NULL)
            conn_easy_back(c, xs[i].easy);
        if (reqs[i]->result == 0 && reqs[i]->grow_max > 0)
            reqs[i]->body = (uint8_t *)ccr_dynbuf_steal(&xs[i].body, &reqs[i]->body_len);
        else
            ccr_dynbuf_free_wiped(&xs[i].body);
        if (reqs[i]->body == NULL)
            reqs[i]->body_len = 0;
        curl_slist_free_all(xs[i].headers);
        if (reqs[i]->result != 0 && first == 0) {
            first = reqs[i]->result;
            ccr_err_set(first, "%s", reqs[i]->msg);
        }
    }
    free(xs);
    conn_give(h, c);
    return first;
}

int fetch_http_read_many(struct fetch_http *h, struct fetch_pins *pins, fetch_http_url_fn url_of,
                         void *url_arg, struct fetch_range *ranges, size_t n)
{
    struct fetch_http_req *reqs = calloc(n ? n : 1, sizeof *reqs);
    struct fetch_http_req **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    char(*pinned)[FETCH_ETAG_MAX] = calloc(n ? n : 1, FETCH_ETAG_MAX);
    size_t m = 0;
    int first = 0, rc;

    if (reqs == NULL || ptrs == NULL || pinned == NULL) {
        free(reqs);
        free(ptrs);
        free(pinned);
        return ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        struct fetch_http_req *r = &reqs[i];
        char *url = NULL;
        ranges[i].result = 0;
        ranges[i].object_size = 0;
        if (ranges[i].len == 0)
            continue;
        if ((rc = url_of(url_arg, ranges[i].key, &url)) != 0) {
            ranges[i].result = rc;
            if (first == 0)
                first = rc;
            continue;
        }
        r->method = "GET";
        r->url = url;
        r->key = ranges[i].key;
        r->ranged = 1;
        r->range_off = ranges[i].offset;
        r->range_len = ranges[i].len;
        r->buf = ranges[i].buf;
        if (fetch_pins_get(pins, ranges[i].key, pinned[i]) == 0)
            r->if_match = pinned[i];
        ptrs[m++] = r;
    }
    rc = fetch_http_run(h, ptrs, m);
    if (first == 0)
        first = rc;
    for (size_t i = 0; i < n; i++) {
        struct fetch_http_req *r = &reqs[i];
        if (r->url == NULL)
            continue;
        if (r->result == 0 && r->if_match == NULL && (rc = fetch_pins_check(pins, r->key, r->etag)) != 0) {
            r->result = rc;
            if (first == 0)
                first = rc;
        }
        ranges[i].result = r->result;
        ranges[i].object_size = r->result == 0 ? r->object_size : 0;
        free((char *)r->url);
    }
    free(reqs);
    free(ptrs);
    free(pinned);
    return first;
}
