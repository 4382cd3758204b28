/* The governance API client: a thin adapter over net/http.h (one reused connection, TLS,
 * timeouts, retries of idempotent requests, scrubbed messages). */
#include "governance/http.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/secmem.h"
#include "governance/canon.h"
#include "net/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A governance server that is briefly away (a restart, a 503) is tried again for this long;
 * a POST is never sent twice. */
#define GOV_HTTP_RETRY_BUDGET_MS 2000

struct gov_http {
    struct net_http_client *client;
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
    if ((rc = net_http_client_new(&o, &h->client)) != 0) {
        free(h);
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

int gov_token_load(const char *path, char **out)
{
    uint8_t *data;
    size_t len;
    const char *env;
    int rc;

    *out = NULL;
    if (path == NULL) {
        env = getenv("CCRFS_GOV_TOKEN");
        if (env == NULL || env[0] == '\0')
            return 0;
        *out = strdup(env);
        return *out == NULL ? ENOMEM : 0;
    }
    rc = ccr_read_file(path, 4096, &data, &len);
    if (rc != 0)
        return rc;
    size_t full = len;
    for (size_t i = 0; i < len; i++)
        if (data[i] == '\n' || data[i] == '\r') {
            len = i;
            break;
        }
    if (len == 0) {
        ccr_freezero(data, full + 1);
        return ccr_err_set(EINVAL, "%s: the token file is empty", path);
    }
    *out = strndup((char *)data, len);
    ccr_freezero(data, full + 1);
    return *out == NULL ? ENOMEM : 0;
}
