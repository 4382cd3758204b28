/* HTTP requests to brokers: a thin adapter over net/http.h with the cookie engine on. */
#include "keys/kbs/http.h"
#include "common/err.h"
#include "net/http.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_MAX_REPLY (4u << 20)

struct keys_http {
    struct net_http_client *client;
};

int keys_http_open(const char *base_url, const char *ca_file, struct keys_http **out)
{
    struct net_http_client_opts o = {0};
    struct keys_http *h;
    int rc;

    o.base_url = base_url;
    o.who = "broker";
    o.transport.ca_file = ca_file;
    o.transport.connect_timeout_ms = 5000;
    o.transport.timeout_ms = 30000;
    /* GETs of a broker that is briefly away are tried again; a POST (auth, attest, release)
     * never is. */
    o.retry.base_ms = 100;
    o.retry.cap_ms = 1000;
    o.retry.budget_ms = 2000;
    o.reply_max = HTTP_MAX_REPLY;
    o.cookies = 1; /* the KBS session cookie follows the requests */
    if ((h = calloc(1, sizeof *h)) == NULL)
        return ENOMEM;
    if ((rc = net_http_client_new(&o, &h->client)) != 0) {
        free(h);
        return rc;
    }
    *out = h;
    return 0;
}

int keys_http_do(struct keys_http *h, const char *method, const char *path, const char *body, size_t body_len,
                 const char *bearer, struct keys_http_reply *reply)
{
    return keys_http_send(h, method, path, body, body_len, NULL, bearer, reply);
}

int keys_http_send(struct keys_http *h, const char *method, const char *path, const void *body,
                   size_t body_len, const char *content_type, const char *bearer,
                   struct keys_http_reply *reply)
{
    struct net_http_request rq = {.method = method,
                                  .path = path,
                                  .body = body,
                                  .body_len = body_len,
                                  .content_type = content_type,
                                  .accept = "application/json, application/problem+json",
                                  .bearer = bearer};
    struct net_http_reply r;
    char base[512];
    int rc;

    memset(reply, 0, sizeof *reply);
    rc = net_http_client_do(h->client, &rq, &r);
    if (rc != 0) {
        net_url_scrub(net_http_client_base(h->client), base, sizeof base);
        if (rc == ECONNREFUSED)
            return ccr_err_set(ECONNREFUSED,
                               "cannot reach the broker at %s: connection refused (is it running?)", base);
        if (rc == EHOSTUNREACH)
            return ccr_err_set(EHOSTUNREACH, "cannot resolve the broker host in %s", base);
        if (rc == ETIMEDOUT)
            return ccr_err_set(ETIMEDOUT, "the broker at %s did not answer in time", base);
        return rc; /* net's message names the method and the scrubbed URL */
    }
    reply->status = r.status;
    reply->body = r.body;
    reply->len = r.len;
    return 0;
}

void keys_http_reply_free(struct keys_http_reply *reply)
{
    struct net_http_reply r = {.status = reply->status, .body = reply->body, .len = reply->len};

    net_http_reply_free(&r); /* wiped: a release answer holds a key */
    memset(reply, 0, sizeof *reply);
}

int keys_http_refusal(const struct keys_http_reply *r, const char *who)
{
    struct json_object *o = r->body ? json_tokener_parse(r->body) : NULL, *v;
    char reason[512] = "";
    int code = r->status == 401 || r->status == 403 ? EACCES : r->status == 404 ? ENOENT : EIO;

    if (o != NULL && json_object_is_type(o, json_type_object)) {
        if ((json_object_object_get_ex(o, "detail", &v) || json_object_object_get_ex(o, "error", &v) ||
             json_object_object_get_ex(o, "title", &v)) &&
            json_object_is_type(v, json_type_string))
            snprintf(reason, sizeof reason, "%s", json_object_get_string(v));
    }
    json_object_put(o);
    if (reason[0] == '\0')
        snprintf(reason, sizeof reason, "no reason given");
    return ccr_err_set(code, "%s refused (HTTP %ld): %s", who, r->status, reason);
}

void keys_http_close(struct keys_http *h)
{
    if (h == NULL)
        return;
    net_http_client_free(h->client);
    free(h);
}
