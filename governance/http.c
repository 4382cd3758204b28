/* The governance API client: a thin adapter over net/http.h (one reused connection, TLS,
 * timeouts, retries of idempotent requests, scrubbed messages). */
#include "governance/http.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/secmem.h"
#include "governance/canon.h"
#include "net/http.h"

#include <openssl/crypto.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A governance server that is briefly away (a restart, a 503) is tried again for this long;
 * a POST is never sent twice. */
#define GOV_HTTP_RETRY_BUDGET_MS 2000

struct gov_http {
    struct net_http_client *client;
    /* For requests on their own handle (gov_http_call_*): the same peer and settings. */
    char *base_url, *token;
    long timeout_ms;
};

int gov_http_new(const char *base_url, const char *token, long timeout_ms, struct gov_http **out)
{
    struct net_http_client_opts o = {0};
    struct gov_http *h;
    int rc;

    if (timeout_ms <= 0)
        timeout_ms = 10000;
    o.base_url = base_url;
    o.who = "governance";
    o.bearer = token;
    o.transport.timeout_ms = (unsigned)timeout_ms;
    o.transport.connect_timeout_ms = timeout_ms < 5000 ? (unsigned)timeout_ms : 5000;
    o.retry.base_ms = 100;
    o.retry.cap_ms = 1000;
    o.retry.budget_ms =
        timeout_ms < GOV_HTTP_RETRY_BUDGET_MS ? (unsigned)timeout_ms : GOV_HTTP_RETRY_BUDGET_MS;
    o.reply_max = GOV_HTTP_REPLY_MAX;
    if ((h = calloc(1, sizeof *h)) == NULL)
        return ENOMEM;
    h->timeout_ms = timeout_ms;
    h->base_url = strdup(base_url);
    h->token = token != NULL ? strdup(token) : NULL;
    if (h->base_url == NULL || (token != NULL && h->token == NULL)) {
        gov_http_free(h);
        return ENOMEM;
    }
    while (h->base_url[0] != '\0' && h->base_url[strlen(h->base_url) - 1] == '/')
        h->base_url[strlen(h->base_url) - 1] = '\0';
    if ((rc = net_http_client_new(&o, &h->client)) != 0) {
        gov_http_free(h);
        return rc;
    }
    *out = h;
    return 0;
}

void gov_http_free(struct gov_http *h)
{
    if (h == NULL)
        return;
    net_http_client_free(h->client);
    free(h->base_url);
    if (h->token != NULL)
        ccr_freezero(h->token, strlen(h->token));
    free(h);
}

char *gov_http_escape(const char *s)
{
    return net_url_escape(s);
}

int gov_http_request(struct gov_http *h, const char *method, const char *path, const char *body,
                     size_t body_len, long *status, char **resp, size_t *resp_len)
{
    struct net_http_request rq = {.method = method, .path = path, .body = body, .body_len = body_len};
    struct net_http_reply reply;
    int rc = net_http_client_do(h->client, &rq, &reply);

    if (rc != 0) {
        /* The documented transport failures: anything else is "cannot reach it". */
        if (rc != ECONNREFUSED && rc != ETIMEDOUT && rc != EHOSTUNREACH && rc != EFBIG && rc != ENOMEM) {
            char msg[CCR_ERR_MSG_MAX];
            snprintf(msg, sizeof msg, "%s", ccr_err_msg(rc));
            rc = ccr_err_set(EHOSTUNREACH, "%s", msg);
        }
        return rc;
    }
    *status = reply.status;
    if (reply.len == 0) { /* callers take "no body" as NULL */
        free(reply.body);
        reply.body = NULL;
    }
    if (resp != NULL) {
        *resp = reply.body;
        if (resp_len != NULL)
            *resp_len = reply.len;
    } else {
        free(reply.body);
    }
    return 0;
}

/* Replies to requests on their own handle are read up to this much: an events page or an
 * error message. */
#define GOV_HTTP_CALL_REPLY_MAX (64u * 1024 * 1024)

static size_t call_body(char *data, size_t size, size_t n, void *arg)
{
    struct gov_http_call *c = arg;
    return ccr_dynbuf_add(&c->reply, data, size * n) == 0 ? size * n : 0;
}

static size_t call_header(char *line, size_t size, size_t n, void *arg)
{
    struct gov_http_call *c = arg;
    unsigned ms;

    if (net_header_retry_after(line, size * n, &ms))
        c->retry_after_ms = ms;
    return size * n;
}

static int call_add_header(struct gov_http_call *c, const char *line)
{
    struct curl_slist *l = curl_slist_append(c->headers, line);
    if (l == NULL)
        return ENOMEM;
    c->headers = l;
    return 0;
}

int gov_http_call_setup(struct gov_http_call *c, const struct gov_http *h, const char *method,
                        const char *path, const char *header, const char *body, size_t body_len)
{
    struct net_http_opts o = {0};
    int rc = 0;

    memset(c, 0, sizeof *c);
    ccr_dynbuf_init(&c->reply, GOV_HTTP_CALL_REPLY_MAX);
    if ((size_t)snprintf(c->url, sizeof c->url, "%s%s", h->base_url, path) >= sizeof c->url)
        return ccr_err_set(ENAMETOOLONG, "governance request path is too long");
    if ((c->easy = net_http_easy_new()) == NULL)
        return ccr_err_set(EIO, "cannot create an HTTP handle");
    o.timeout_ms = (unsigned)h->timeout_ms;
    o.connect_timeout_ms = h->timeout_ms < 5000 ? (unsigned)h->timeout_ms : 5000;
    net_http_easy_apply(c->easy, &o);
    if (body != NULL)
        rc = call_add_header(c, "Content-Type: application/json");
    if (rc == 0 && header != NULL)
        rc = call_add_header(c, header);
    if (rc == 0 && h->token != NULL) {
        size_t n = strlen(h->token) + sizeof "Authorization: Bearer ";
        char *line = malloc(n);
        if (line == NULL)
            return ENOMEM;
        snprintf(line, n, "Authorization: Bearer %s", h->token);
        rc = call_add_header(c, line); /* curl keeps its own copy, wiped below */
        ccr_freezero(line, n);
    }
    if (rc == 0) /* no 100-continue round trip before a batch */
        rc = call_add_header(c, "Expect:");
    if (rc != 0)
        return rc;
    curl_easy_setopt(c->easy, CURLOPT_URL, c->url);
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->curl_err);
    curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, call_body);
    curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, call_header);
    curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
    if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, body != NULL ? body : "");
        curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body != NULL ? body_len : 0));
        curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, method);
    }
    return 0;
}

int gov_http_call_result(struct gov_http_call *c, CURLcode cc, long *status)
{
    char where[512];
    if (cc != CURLE_OK) {
        int rc = net_curl_errno(cc);
        net_url_scrub(c->url, where, sizeof where);
        if (rc != ECONNREFUSED && rc != ETIMEDOUT && rc != ENOMEM)
            rc = EHOSTUNREACH;
        return ccr_err_set(rc, "governance %s: %s", where,
                           c->curl_err[0] ? c->curl_err : curl_easy_strerror(cc));
    }
    *status = 0;
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, status);
    return 0;
}

void gov_http_call_cleanup(struct gov_http_call *c)
{
    if (c->easy != NULL)
        curl_easy_cleanup(c->easy);
    for (struct curl_slist *l = c->headers; l != NULL; l = l->next)
        OPENSSL_cleanse(l->data, strlen(l->data)); /* one of them carries the token */
    curl_slist_free_all(c->headers);
    ccr_dynbuf_free(&c->reply);
    memset(c, 0, sizeof *c);
}

int gov_http_request_hdr(struct gov_http *h, const char *method, const char *path, const char *header,
                         const char *body, size_t body_len, long *status, char **resp, size_t *resp_len,
                         unsigned *retry_after_ms)
{
    struct gov_http_call c;
    int rc = gov_http_call_setup(&c, h, method, path, header, body, body_len);

    if (rc == 0)
        rc = gov_http_call_result(&c, curl_easy_perform(c.easy), status);
    if (rc == 0) {
        if (retry_after_ms != NULL)
            *retry_after_ms = c.retry_after_ms;
        if (resp != NULL) {
            size_t len = 0;
            *resp = c.reply.len > 0 ? ccr_dynbuf_steal(&c.reply, &len) : NULL;
            if (resp_len != NULL)
                *resp_len = len;
        }
    }
    gov_http_call_cleanup(&c);
    return rc;
}

void gov_http_error_text(const char *resp, char *out, size_t out_len)
{
    json_object *v = NULL;
    const char *m = NULL;
    if (resp != NULL && gov_json_parse(resp, strlen(resp), "reply", &v) == 0) {
        json_object *err;
        m = gov_json_str(v, "message");
        if (m == NULL && json_object_object_get_ex(v, "error", &err))
            m = json_object_is_type(err, json_type_string) ? json_object_get_string(err)
                                                           : gov_json_str(err, "message");
    }
    ccr_err_clear();
    if (m != NULL)
        snprintf(out, out_len, "%s", m);
    else
        snprintf(out, out_len, "%.200s", resp != NULL ? resp : "(empty reply)");
    json_object_put(v);
}

void gov_http_error_code_text(const char *resp, char *out, size_t out_len)
{
    json_object *v = NULL, *err;
    const char *code = NULL, *m = NULL;
    if (resp != NULL && gov_json_parse(resp, strlen(resp), "reply", &v) == 0 &&
        json_object_object_get_ex(v, "error", &err) && json_object_is_type(err, json_type_object)) {
        code = gov_json_str(err, "code");
        m = gov_json_str(err, "message");
    }
    ccr_err_clear();
    if (code != NULL)
        snprintf(out, out_len, "%s: %s", code, m != NULL ? m : "(no message)");
    else
        gov_http_error_text(resp, out, out_len);
    json_object_put(v);
}

/* The token of a credential: the first field of the first line that is not a comment, so a
 * party's line of the service's token file ("TOKEN PARTY ROLES") works as its client file. */
static int token_field(const char *text, size_t len, char **out)
{
    size_t at = 0;
    while (at < len) {
        size_t end = at, start;
        while (end < len && text[end] != '\n' && text[end] != '\r')
            end++;
        start = at;
        while (start < end && (text[start] == ' ' || text[start] == '\t'))
            start++;
        if (start < end && text[start] != '#') {
            size_t n = 0;
            while (start + n < end && text[start + n] != ' ' && text[start + n] != '\t')
                n++;
            *out = strndup(text + start, n);
            return *out == NULL ? ENOMEM : 0;
        }
        at = end + 1;
    }
    return EINVAL;
}

int gov_http_open(const char *base_url, const char *token_file, long timeout_ms, struct gov_http **out)
{
    char *token = NULL;
    int rc;

    if ((rc = gov_token_load(token_file, &token)) != 0)
        return rc;
    rc = gov_http_new(base_url, token, timeout_ms, out);
    if (token != NULL)
        ccr_freezero(token, strlen(token));
    return rc;
}

int gov_token_load(const char *path, char **out)
{
    uint8_t *data;
    size_t len;
    const char *env;
    int rc;

    *out = NULL;
    if (path == NULL) {
        env = getenv("CCRFS_GOV_TOKEN");
        if (env != NULL && env[0] != '\0')
            return token_field(env, strlen(env), out) == ENOMEM ? ENOMEM : 0;
        path = getenv("CCRFS_GOV_TOKEN_FILE");
        if (path == NULL || path[0] == '\0')
            return 0;
    }
    rc = ccr_read_file(path, 4096, &data, &len);
    if (rc != 0)
        return rc;
    rc = token_field((const char *)data, len, out);
    ccr_freezero(data, len + 1);
    if (rc == EINVAL)
        return ccr_err_set(EINVAL, "%s: the token file is empty", path);
    return rc;
}
