/* The S3 store: s3://BUCKET/PREFIX on AWS S3 or any S3-compatible service, every request
 * signed with Signature Version 4. Reads are ranged GETs pinned with If-Match; stat is HEAD;
 * listing is ListObjectsV2 with continuation tokens; uploads are PutObject, or a multipart
 * upload (parts sent concurrently) for large objects, so a reader never sees a partial one. */
#include "fetch/http.h"
#include "fetch/s3.h"
#include "fetch/sigv4.h"
#include "common/clock.h"
#include "common/dynbuf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/secmem.h"
#include "net/http.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S3_SINGLE_PUT_MAX (32ull << 20) /* larger objects go up in parts */
#define S3_PART_MIN       (8ull << 20)
#define S3_PARTS_MAX      10000u
#define S3_LIST_MAX       (32u << 20)
#define S3_POST_REPLY_MAX (1u << 20)
#define S3_REFRESH_S      600 /* temporary credentials are renewed this long before they expire */
#define S3_RENEW_PAUSE_S  30  /* after a failed renewal, while the keys in hand still hold */

struct s3_store {
    struct fetch_store pub;
    struct fetch_s3_url u;
    struct fetch_s3_endpoint ep;
    char *region;
    char *bucket_path; /* "/BUCKET" path-style, "" virtual-hosted */
    int https;
    int anonymous;
    struct fetch_http *engine;
    struct fetch_pins *pins;
    struct net_http_opts transport; /* for the POSTs the engine does not send */
    struct fetch_options opt;
    struct fetch_s3_cred_env env;
    struct fetch_s3_creds creds;
    pthread_mutex_t cred_lock;
    int64_t renew_not_before;
    unsigned list_page;
};

/* What a request carries beyond its method (r->user). */
struct s3_op {
    const char *content_type;
    char payload_hash[65]; /* "" : derived from the request */
};

/* Credentials that stay good for a while; renewed (web identity, instance metadata) before
 * they expire. A renewal that fails while the keys in hand are still valid keeps them, and is
 * tried again after S3_RENEW_PAUSE_S rather than on every request. Called with cred_lock held. */
static int creds_fresh(struct s3_store *s3)
{
    struct fetch_s3_creds fresh;
    int64_t now = (int64_t)(ccr_clock_wall_ms() / 1000);
    int rc;

    if (s3->creds.expires == 0 || now + S3_REFRESH_S < s3->creds.expires)
        return 0;
    if (now < s3->renew_not_before && now + 60 < s3->creds.expires)
        return 0;
    if ((rc = fetch_s3_creds_resolve(&s3->env, &fresh)) != 0) {
        if (now + 60 < s3->creds.expires) {
            ccr_log_warn("renewing the %s credentials failed, the current ones hold for %lld s more: %s",
                         s3->creds.source, (long long)(s3->creds.expires - now), ccr_err_msg(rc));
            s3->renew_not_before = now + S3_RENEW_PAUSE_S;
            ccr_err_clear();
            return 0;
        }
        return ccr_err_wrap(rc, "renewing the %s credentials: ", s3->creds.source);
    }
    fetch_s3_creds_free(&s3->creds);
    s3->creds = fresh;
    return 0;
}

static int s3_prepare(void *arg, struct fetch_http_req *r, struct curl_slist **headers)
{
    struct s3_store *s3 = arg;
    const struct s3_op *op = r->user;
    struct fetch_sigv4_header h[8];
    size_t n = 0;
    char date[20], range[64], auth[FETCH_SIGV4_AUTH_MAX];
    const char *hash = FETCH_SIGV4_EMPTY_SHA256, *path, *q;
    char *path_only = NULL;
    int rc = 0;

    if (op != NULL && op->payload_hash[0] != '\0')
        hash = op->payload_hash;
    else if (r->src != NULL && r->src_len > 0)
        hash = FETCH_SIGV4_UNSIGNED;
    fetch_sigv4_amz_date(time(NULL), date, sizeof date);
    h[n++] = (struct fetch_sigv4_header){"host", s3->ep.host};
    h[n++] = (struct fetch_sigv4_header){"x-amz-date", date};
    h[n++] = (struct fetch_sigv4_header){"x-amz-content-sha256", hash};
    if (r->ranged) {
        snprintf(range, sizeof range, "bytes=%llu-%llu", (unsigned long long)r->range_off,
                 (unsigned long long)(r->range_off + r->range_len - 1));
        h[n++] = (struct fetch_sigv4_header){"range", range};
    }
    if (r->if_match != NULL && strncmp(r->if_match, "W/", 2) != 0)
        h[n++] = (struct fetch_sigv4_header){"if-match", r->if_match};
    if (op != NULL && op->content_type != NULL)
        h[n++] = (struct fetch_sigv4_header){"content-type", op->content_type};
    /* host goes out from the URL; the rest here */
    for (size_t i = 1; i < n && rc == 0; i++)
        rc = fetch_http_header_add(headers, h[i].name, h[i].value);
    if (rc != 0 || s3->anonymous)
        return rc;
    path = strstr(r->url, "://");
    path = path ? strchr(path + 3, '/') : NULL;
    if (path == NULL)
        return ccr_err_set(EINVAL, "request URL has no path");
    q = strchr(path, '?');
    if ((path_only = strndup(path, q ? (size_t)(q - path) : strlen(path))) == NULL)
        return ENOMEM;
    pthread_mutex_lock(&s3->cred_lock);
    if ((rc = creds_fresh(s3)) == 0) {
        struct fetch_sigv4_req sr = {r->method,
                                     path_only,
                                     q ? q + 1 : NULL,
                                     h,
                                     n,
                                     hash,
                                     date,
                                     s3->region,
                                     "s3",
                                     s3->creds.access_key_id,
                                     s3->creds.secret,
                                     strlen(s3->creds.secret)};
        if (s3->creds.token != NULL) {
            h[n++] = (struct fetch_sigv4_header){"x-amz-security-token", s3->creds.token};
            sr.n_headers = n;
            rc = fetch_http_header_add(headers, "x-amz-security-token", s3->creds.token);
        }
        if (rc == 0)
            rc = fetch_sigv4_authorization(&sr, auth, sizeof auth);
    }
    pthread_mutex_unlock(&s3->cred_lock);
    if (rc == 0)
        rc = fetch_http_header_add(headers, "Authorization", auth);
    free(path_only);
    return rc;
}

/* base + bucket path + "/" + encoded(name) + ["?" + query] */
static char *s3_url(struct s3_store *s3, const char *name, const char *query)
{
    size_t enc_len = strlen(name) * 3 + 1;
    char *enc = malloc(enc_len), *url = NULL;
    struct ccr_dynbuf b;

    if (enc == NULL || fetch_url_encode_path(name, enc, enc_len) != 0) {
        free(enc);
        return NULL;
    }
    ccr_dynbuf_init(&b, 0);
    if (ccr_dynbuf_addf(&b, "%s%s/%s%s%s", s3->ep.base, s3->bucket_path, enc, query ? "?" : "",
                        query ? query : "") == 0)
        url = ccr_dynbuf_steal(&b, NULL);
    else
        ccr_dynbuf_free(&b);
    free(enc);
    return url;
}

static int s3_object_url(struct s3_store *s3, const char *key, const char *query, char **out)
{
    char *name;
    int rc = fetch_key_join(s3->u.prefix, key, &name);

    if (rc != 0)
        return rc;
    *out = s3_url(s3, name, query);
    free(name);
    return *out == NULL ? ENOMEM : 0;
}

static int s3_url_of(void *arg, const char *key, char **url)
{
    return s3_object_url(arg, key, NULL, url);
}

static int s3_read_many(struct fetch_store *s, struct fetch_range *ranges, size_t n)
{
    struct s3_store *s3 = s->priv;
    return fetch_http_read_many(s3->engine, s3->pins, s3_url_of, s3, ranges, n);
}

static void explain_refusal(struct s3_store *s3, const char *url, const char *key, int rc,
                            const char *head_msg);

static int s3_head(struct s3_store *s3, const char *key, struct fetch_object_info *info)
{
    struct fetch_http_req r, *p = &r;
    char pinned[FETCH_ETAG_MAX];
    char *url;
    int rc;

    if ((rc = s3_object_url(s3, key, NULL, &url)) != 0)
        return rc;
    memset(&r, 0, sizeof r);
    r.method = "HEAD";
    r.url = url;
    r.key = key;
    if (fetch_pins_get(s3->pins, key, pinned) == 0)
        r.if_match = pinned;
    rc = fetch_http_run(s3->engine, &p, 1);
    if (rc != 0 && r.status >= 400 && r.status != 404 && r.status != 412)
        explain_refusal(s3, url, key, rc, r.msg);
    if (rc == 0 && !r.have_length)
        rc = ccr_err_set(EIO, "%s: the service gave no Content-Length", key);
    if (rc == 0 && r.if_match == NULL)
        rc = fetch_pins_check(s3->pins, key, r.etag);
    if (rc == 0) {
        memset(info, 0, sizeof *info);
        info->size = r.content_length;
        info->mtime = r.mtime;
        memcpy(info->etag, r.etag, sizeof info->etag);
    }
    free(url);
    return rc;
}

static int s3_stat(struct fetch_store *s, const char *key, struct fetch_object_info *info)
{
    return s3_head(s->priv, key, info);
}

struct s3_list_walk {
    const char *strip;
    size_t strip_len;
    fetch_list_cb cb;
    void *arg;
};

static int s3_list_entry(void *arg, const char *key, const struct fetch_object_info *info)
{
    struct s3_list_walk *w = arg;
    if (strncmp(key, w->strip, w->strip_len) != 0 || key[w->strip_len] == '\0')
        return 0;
    return w->cb(w->arg, key + w->strip_len, info);
}

static int s3_list(struct fetch_store *s, const char *prefix, fetch_list_cb cb, void *arg)
{
    struct s3_store *s3 = s->priv;
    struct s3_list_walk w = {NULL, 0, cb, arg};
    char *strip = NULL, *full = NULL, *enc = NULL, *token = NULL;
    size_t len = strlen(s3->u.prefix) + strlen(prefix) + 2;
    int rc = 0;

    strip = malloc(len);
    full = malloc(len);
    enc = malloc(len * 3 + 1);
    if (strip == NULL || full == NULL || enc == NULL) {
        rc = ENOMEM;
        goto out;
    }
    snprintf(strip, len, "%s%s", s3->u.prefix, s3->u.prefix[0] ? "/" : "");
    snprintf(full, len, "%s%s", strip, prefix);
    w.strip = strip;
    w.strip_len = strlen(strip);
    if ((rc = fetch_url_encode_query(full, enc, len * 3 + 1)) != 0)
        goto out;
    do {
        struct fetch_http_req r, *p = &r;
        struct ccr_dynbuf q;
        char *url = NULL, *next = NULL;
        ccr_dynbuf_init(&q, 0);
        rc = ccr_dynbuf_addf(&q, "list-type=2&max-keys=%u&prefix=%s", s3->list_page, enc);
        if (rc == 0 && token != NULL) {
            char *enc_token = net_url_escape(token);
            rc = enc_token == NULL ? ENOMEM : ccr_dynbuf_addf(&q, "&continuation-token=%s", enc_token);
            free(enc_token);
        }
        if (rc == 0) {
            size_t blen = strlen(s3->ep.base) + strlen(s3->bucket_path) + q.len + 4;
            if ((url = malloc(blen)) != NULL)
                snprintf(url, blen, "%s%s%s?%s", s3->ep.base, s3->bucket_path, s3->bucket_path[0] ? "" : "/",
                         q.data);
        }
        ccr_dynbuf_free(&q);
        if (rc != 0 || url == NULL) {
            free(url);
            rc = rc ? rc : ENOMEM;
            break;
        }
        memset(&r, 0, sizeof r);
        r.method = "GET";
        r.url = url;
        r.key = "list";
        r.grow_max = S3_LIST_MAX;
        rc = fetch_http_run(s3->engine, &p, 1);
        if (rc == 0)
            rc =
                fetch_s3_list_parse(r.body ? (const char *)r.body : "", r.body_len, s3_list_entry, &w, &next);
        free(r.body);
        free(url);
        free(token);
        token = next;
    } while (rc == 0 && token != NULL);
out:
    free(token);
    free(strip);
    free(full);
    free(enc);
    return rc;
}

/* SHA-256 of src[off, off+len) in lowercase hex: the payload hash of a PUT over plain http,
 * where nothing else protects the body (over https it is UNSIGNED-PAYLOAD, as the SDKs do). */
static int source_sha256(const struct fetch_source *src, uint64_t off, uint64_t len, char out[65])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t chunk = 1u << 20;
    uint8_t *buf = malloc(chunk), md[32];
    unsigned md_len = 0;
    int rc = 0;

    if (ctx == NULL || buf == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        rc = ENOMEM;
        goto out;
    }
    while (len > 0 && rc == 0) {
        size_t n = len < chunk ? (size_t)len : chunk;
        if ((rc = src->read(src, off, buf, n)) == 0 && EVP_DigestUpdate(ctx, buf, n) != 1)
            rc = ccr_err_set(EIO, "SHA-256 failed");
        off += n;
        len -= n;
    }
    if (rc == 0 && (EVP_DigestFinal_ex(ctx, md, &md_len) != 1 || md_len != 32))
        rc = ccr_err_set(EIO, "SHA-256 failed");
    if (rc == 0) {
        static const char hex[] = "0123456789abcdef";
        for (int i = 0; i < 32; i++) {
            out[2 * i] = hex[md[i] >> 4];
            out[2 * i + 1] = hex[md[i] & 15];
        }
        out[64] = '\0';
    }
out:
    EVP_MD_CTX_free(ctx);
    free(buf);
    return rc;
}

static int op_for_body(struct s3_store *s3, struct s3_op *op, const struct fetch_source *src, uint64_t off,
                       uint64_t len)
{
    memset(op, 0, sizeof *op);
    op->content_type = "application/octet-stream";
    if (s3->https || s3->anonymous)
        return 0;
    return source_sha256(src, off, len, op->payload_hash);
}

static size_t post_write(char *data, size_t size, size_t n, void *arg)
{
    struct ccr_dynbuf *b = arg;
    return ccr_dynbuf_add(b, data, size * n) == 0 ? size * n : 0;
}

/* One request whose answer body matters even when it is an error: the POSTs of a multipart
 * upload (create, complete), which carry an XML body the transfer engine does not send, and
 * the GET that explains a refused HEAD. One at a time, signed per attempt, retried like the
 * others. A 200 whose body is an <Error> (CompleteMultipartUpload may answer so) is a failure;
 * the failure message names S3's error code. retry_allowed 0: one attempt only. */
static int s3_call(struct s3_store *s3, const char *method, const char *url, const char *key,
                   const char *body, size_t len, int retry_allowed, struct ccr_dynbuf *reply)
{
    struct net_retry_policy pol = {100, 5000, s3->opt.retry_budget_ms ? s3->opt.retry_budget_ms : 60000};
    uint64_t start = ccr_clock_mono_ms();
    CURL *e = net_http_easy_new();
    char where[256];
    int rc = 0;

    if (e == NULL)
        return ENOMEM;
    fetch_url_scrub(url, where, sizeof where);
    for (unsigned attempt = 1;; attempt++) {
        struct fetch_http_req fake;
        struct s3_op op;
        struct curl_slist *h = NULL;
        char code[64] = "", msg[200] = "", why[300];
        long status = 0;
        CURLcode cc;
        int retry = 0;

        memset(&fake, 0, sizeof fake);
        memset(&op, 0, sizeof op);
        fake.method = method;
        fake.url = url;
        fake.key = key;
        fake.user = &op;
        if (len > 0)
            op.content_type = "application/xml";
        if (body == NULL)
            body = "";
        if ((rc = fetch_sigv4_sha256_hex(body, len, op.payload_hash)) != 0 ||
            (rc = s3_prepare(s3, &fake, &h)) != 0) {
            curl_slist_free_all(h);
            break;
        }
        ccr_dynbuf_reset(reply);
        curl_easy_reset(e);
        net_http_easy_apply(e, &s3->transport);
        curl_easy_setopt(e, CURLOPT_URL, url);
        if (strcmp(method, "POST") == 0) {
            curl_easy_setopt(e, CURLOPT_POST, 1L);
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        }
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, post_write);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, reply);
        cc = curl_easy_perform(e);
        curl_slist_free_all(h);
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        if (cc != CURLE_OK) {
            snprintf(why, sizeof why, "%s", curl_easy_strerror(cc));
            rc = net_curl_errno(cc);
            retry = net_retry_curl(cc);
        } else {
            int is_error = reply->len > 0 && fetch_s3_error_parse(reply->data, reply->len, code, sizeof code,
                                                                  msg, sizeof msg) == 0;
            ccr_err_clear();
            if (status >= 200 && status <= 299 && !is_error) {
                rc = 0;
                break;
            }
            snprintf(why, sizeof why, "HTTP %ld%s%s%s%s", status, code[0] ? " " : "", code,
                     msg[0] ? ": " : "", msg);
            if (status >= 200 && status <= 299) {
                rc = EIO;
                retry = strcmp(code, "InternalError") == 0 || strcmp(code, "SlowDown") == 0;
            } else {
                rc = net_status_errno(status);
                retry = net_retry_status(status);
            }
        }
        if (retry && retry_allowed) {
            unsigned delay = net_retry_backoff_ms(&pol, attempt);
            if (ccr_clock_mono_ms() + delay < start + pol.budget_ms) {
                struct timespec ts = {(time_t)(delay / 1000), (long)(delay % 1000) * 1000000L};
                nanosleep(&ts, NULL);
                continue;
            }
        }
        rc = ccr_err_set(rc, "%s %s: %s%s", method, where, why, attempt > 1 ? " (after retries)" : "");
        break;
    }
    curl_easy_cleanup(e);
    return rc;
}

/* A HEAD answer has no body, so a refusal says only its status; S3 names the reason (say,
 * SignatureDoesNotMatch) in the body of a GET, asked for here to explain the failure. */
static void explain_refusal(struct s3_store *s3, const char *url, const char *key, int rc,
                            const char *head_msg)
{
    struct ccr_dynbuf reply;
    char saved[FETCH_HTTP_MSG_MAX];
    int grc;

    snprintf(saved, sizeof saved, "%s", head_msg);
    ccr_dynbuf_init(&reply, 64u << 10);
    grc = s3_call(s3, "GET", url, key, NULL, 0, 0, &reply); /* once: the failure is known already */
    if (grc == 0 || strstr(ccr_err_msg(grc), "HTTP ") == NULL)
        ccr_err_set(rc, "%s", saved);
    else if (grc != rc)
        ccr_err_set(rc, "%s", ccr_err_msg(grc));
    ccr_dynbuf_free(&reply);
}

static void s3_abort_upload(struct s3_store *s3, const char *key, const char *query)
{
    struct fetch_http_req r, *p = &r;
    char *url = NULL;

    if (s3_object_url(s3, key, query, &url) != 0)
        return;
    memset(&r, 0, sizeof r);
    r.method = "DELETE";
    r.url = url;
    r.key = key;
    (void)fetch_http_run(s3->engine, &p, 1); /* best effort: a lifecycle rule cleans up the rest */
    free(url);
}

static int s3_put_multipart(struct s3_store *s3, const char *key, const struct fetch_source *src)
{
    uint64_t part = S3_PART_MIN, nparts;
    struct fetch_http_req *reqs = NULL, **ptrs = NULL;
    struct s3_op *ops = NULL;
    struct ccr_dynbuf reply, list;
    char *url = NULL, *upload_id = NULL, *enc_id = NULL, query[256];
    int rc;

    /* Parts of at least 8 MiB, whole MiB, no more than S3's 10,000 of them. */
    while ((src->len + part - 1) / part > S3_PARTS_MAX)
        part += 1ull << 20;
    nparts = (src->len + part - 1) / part;
    ccr_dynbuf_init(&reply, S3_POST_REPLY_MAX);
    ccr_dynbuf_init(&list, 0);
    if ((rc = s3_object_url(s3, key, "uploads", &url)) != 0)
        goto out;
    if ((rc = s3_call(s3, "POST", url, key, "", 0, 1, &reply)) != 0)
        goto out;
    if ((rc = fetch_s3_upload_id_parse(reply.data ? reply.data : "", reply.len, &upload_id)) != 0)
        goto out;
    if ((enc_id = net_url_escape(upload_id)) == NULL || strlen(enc_id) > 200) {
        rc = enc_id == NULL ? ENOMEM : ccr_err_set(EIO, "%s: the UploadId is too long", key);
        goto out;
    }
    reqs = calloc(nparts, sizeof *reqs);
    ptrs = calloc(nparts, sizeof *ptrs);
    ops = calloc(nparts, sizeof *ops);
    if (reqs == NULL || ptrs == NULL || ops == NULL) {
        rc = ENOMEM;
        goto abort;
    }
    for (uint64_t i = 0; i < nparts && rc == 0; i++) {
        snprintf(query, sizeof query, "partNumber=%llu&uploadId=%s", (unsigned long long)(i + 1), enc_id);
        reqs[i].method = "PUT";
        reqs[i].key = key;
        reqs[i].src = src;
        reqs[i].src_off = i * part;
        reqs[i].src_len = src->len - reqs[i].src_off < part ? src->len - reqs[i].src_off : part;
        reqs[i].user = &ops[i];
        ptrs[i] = &reqs[i];
        if ((rc = op_for_body(s3, &ops[i], src, reqs[i].src_off, reqs[i].src_len)) == 0)
            rc = s3_object_url(s3, key, query, (char **)&reqs[i].url);
    }
    if (rc == 0)
        rc = fetch_http_run(s3->engine, ptrs, nparts);
    for (uint64_t i = 0; i < nparts && rc == 0; i++)
        if (reqs[i].etag[0] == '\0')
            rc = ccr_err_set(EIO, "%s: part %llu was accepted without an ETag", key,
                             (unsigned long long)(i + 1));
    if (rc != 0)
        goto abort;
    rc =
        ccr_dynbuf_addf(&list, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    for (uint64_t i = 0; i < nparts && rc == 0; i++) {
        rc = ccr_dynbuf_addf(&list, "<Part><PartNumber>%llu</PartNumber><ETag>", (unsigned long long)(i + 1));
        for (const char *c = reqs[i].etag; *c && rc == 0; c++)
            rc = *c == '"'   ? ccr_dynbuf_addf(&list, "&quot;")
                 : *c == '&' ? ccr_dynbuf_addf(&list, "&amp;")
                 : *c == '<' ? ccr_dynbuf_addf(&list, "&lt;")
                             : ccr_dynbuf_add(&list, c, 1);
        if (rc == 0)
            rc = ccr_dynbuf_addf(&list, "</ETag></Part>");
    }
    if (rc == 0)
        rc = ccr_dynbuf_addf(&list, "</CompleteMultipartUpload>");
    if (rc != 0)
        goto abort;
    free(url);
    snprintf(query, sizeof query, "uploadId=%s", enc_id);
    if ((rc = s3_object_url(s3, key, query, &url)) != 0)
        goto abort;
    if ((rc = s3_call(s3, "POST", url, key, list.data, list.len, 1, &reply)) == 0)
        goto out;
abort:
    snprintf(query, sizeof query, "uploadId=%s", enc_id ? enc_id : "");
    if (enc_id != NULL) {
        char msg[FETCH_HTTP_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", ccr_err_msg(rc));
        s3_abort_upload(s3, key, query);
        ccr_err_set(rc, "%s", msg);
    }
out:
    if (reqs != NULL)
        for (uint64_t i = 0; i < nparts; i++)
            free((char *)reqs[i].url);
    free(reqs);
    free(ptrs);
    free(ops);
    free(url);
    free(upload_id);
    free(enc_id);
    ccr_dynbuf_free(&reply);
    ccr_dynbuf_free(&list);
    return rc;
}

static int s3_put(struct fetch_store *s, const char *key, const struct fetch_source *src)
{
    struct s3_store *s3 = s->priv;
    int rc;

    if (src->len > S3_SINGLE_PUT_MAX) {
        rc = s3_put_multipart(s3, key, src);
    } else {
        struct fetch_http_req r, *p = &r;
        struct s3_op op;
        char *url;
        if ((rc = fetch_key_check(key)) != 0 || (rc = op_for_body(s3, &op, src, 0, src->len)) != 0 ||
            (rc = s3_object_url(s3, key, NULL, &url)) != 0)
            return rc;
        memset(&r, 0, sizeof r);
        r.method = "PUT";
        r.url = url;
        r.key = key;
        r.src = src;
        r.src_len = src->len;
        r.user = &op;
        rc = fetch_http_run(s3->engine, &p, 1);
        free(url);
    }
    if (rc == 0)
        fetch_pins_forget(s3->pins, key);
    return rc;
}

static void s3_get_stats(struct fetch_store *s, struct fetch_stats *out)
{
    struct s3_store *s3 = s->priv;
    fetch_http_get_stats(s3->engine, out);
}

static void s3_destroy(struct fetch_store *s)
{
    struct s3_store *s3 = s->priv;
    fetch_http_destroy(s3->engine);
    fetch_pins_destroy(s3->pins);
    fetch_s3_url_free(&s3->u);
    fetch_s3_endpoint_free(&s3->ep);
    fetch_s3_creds_free(&s3->creds);
    free(s3->region);
    free(s3->bucket_path);
    free((char *)s3->transport.ca_file);
    pthread_mutex_destroy(&s3->cred_lock);
    free(s3);
}

static const char *first_set(const char *a, const char *b, const char *c)
{
    if (a != NULL && a[0] != '\0')
        return a;
    if (b != NULL && b[0] != '\0')
        return b;
    return c != NULL && c[0] != '\0' ? c : NULL;
}

static int region_ok(const char *r)
{
    size_t n = strlen(r);
    if (n == 0 || n > 64)
        return 0;
    for (const char *c = r; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-'))
            return 0;
    return 1;
}

int fetch_s3_create(const char *url, const struct fetch_options *opt, struct fetch_store **out)
{
    struct s3_store *s3 = calloc(1, sizeof *s3);
    const char *endpoint, *region, *nosign;
    char *profile_region = NULL, shown[512];
    int rc;

    if (s3 == NULL)
        return ENOMEM;
    pthread_mutex_init(&s3->cred_lock, NULL);
    s3->opt = *opt;
    fetch_url_scrub(url, shown, sizeof shown);
    if ((rc = fetch_s3_url_parse(url, &s3->u)) != 0) {
        ccr_err_wrap(rc, "%s: ", shown);
        goto fail;
    }
    fetch_s3_cred_env_from_environ(&s3->env);
    s3->env.opt = &s3->opt;
    /* Region: the option, then AWS_REGION, AWS_DEFAULT_REGION, the profile's, us-east-1. */
    region = first_set(opt->s3_region, getenv("AWS_REGION"), getenv("AWS_DEFAULT_REGION"));
    if (region == NULL)
        region = profile_region = fetch_s3_profile_region(&s3->env);
    if (region == NULL)
        region = "us-east-1";
    if (!region_ok(region)) {
        rc = ccr_err_set(EINVAL, "S3 region \"%s\": expected lowercase letters, digits and '-'", region);
        goto fail;
    }
    if ((s3->region = strdup(region)) == NULL) {
        rc = ENOMEM;
        goto fail;
    }
    s3->env.region = s3->region;
    /* Endpoint: the option, then AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL (as the SDKs read them). */
    endpoint = first_set(opt->s3_endpoint, getenv("AWS_ENDPOINT_URL_S3"), getenv("AWS_ENDPOINT_URL"));
    if ((rc = fetch_s3_endpoint_make(endpoint, s3->region, s3->u.bucket, getenv("CCRFS_S3_ADDRESSING_STYLE"),
                                     &s3->ep)) != 0)
        goto fail;
    s3->https = strncmp(s3->ep.base, "https://", 8) == 0;
    if ((s3->bucket_path = malloc(strlen(s3->u.bucket) + 2)) == NULL ||
        (s3->pins = fetch_pins_create()) == NULL) {
        rc = ENOMEM;
        goto fail;
    }
    snprintf(s3->bucket_path, strlen(s3->u.bucket) + 2, "%s%s", s3->ep.path_style ? "/" : "",
             s3->ep.path_style ? s3->u.bucket : "");
    s3->list_page = 1000;
    /* Smaller pages let the tests walk continuation tokens. */
    if ((rc = fetch_env_uint("CCRFS_S3_LIST_PAGE", &s3->list_page)) != 0)
        goto fail;
    if (s3->list_page == 0 || s3->list_page > 1000) {
        rc = ccr_err_set(EINVAL, "CCRFS_S3_LIST_PAGE: expected 1 to 1000");
        goto fail;
    }
    nosign = getenv("CCRFS_S3_NO_SIGN");
    if (nosign != NULL && nosign[0] != '\0' && strcmp(nosign, "0") != 0) {
        if (strcmp(nosign, "1") != 0) {
            rc = ccr_err_set(EINVAL, "environment variable CCRFS_S3_NO_SIGN: expected 0 or 1");
            goto fail;
        }
        s3->anonymous = 1;
    } else if ((rc = fetch_s3_creds_resolve(&s3->env, &s3->creds)) != 0) {
        goto fail;
    }
    if (opt->ca_file != NULL && (s3->transport.ca_file = strdup(opt->ca_file)) == NULL) {
        rc = ENOMEM;
        goto fail;
    }
    s3->opt.ca_file = s3->transport.ca_file; /* the caller's copy may not outlive the store */
    s3->transport.connect_timeout_ms = opt->connect_timeout_ms ? opt->connect_timeout_ms : 10000;
    s3->transport.low_speed_time_s = opt->low_speed_time_s ? opt->low_speed_time_s : 30;
    if ((rc = fetch_http_create(opt, s3_prepare, s3, &s3->engine)) != 0)
        goto fail;
    free(profile_region);
    s3->pub.kind = "s3";
    s3->pub.read_many = s3_read_many;
    s3->pub.stat = s3_stat;
    s3->pub.list = s3_list;
    s3->pub.put = s3_put;
    s3->pub.get_stats = s3_get_stats;
    s3->pub.destroy = s3_destroy;
    s3->pub.priv = s3;
    *out = &s3->pub;
    return 0;
fail:
    free(profile_region);
    s3->pub.priv = s3;
    s3_destroy(&s3->pub);
    return rc;
}
