/* HTTP requests to brokers. */
#include "keys/kbs/http.h"
#include "common/err.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_MAX_REPLY (4u << 20)

struct keys_http {
    CURL *curl;
    char base[512];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int keys_http_open(const char *base_url, const char *ca_file, struct keys_http **out)
{
    struct keys_http *h;
    size_t n = strlen(base_url);

    if (strncmp(base_url, "http://", 7) != 0 && strncmp(base_url, "https://", 8) != 0)
        return ccr_err_set(EINVAL, "broker URL '%s': expected http:// or https://", base_url);
    pthread_once(&curl_once, curl_init_once);
    h = calloc(1, sizeof *h);
    if (h == NULL)
        return ENOMEM;
    while (n > 0 && base_url[n - 1] == '/')
        n--;
    if (n >= sizeof h->base) {
        free(h);
        return ccr_err_set(EINVAL, "broker URL is too long");
    }
    memcpy(h->base, base_url, n);
    h->base[n] = '\0';
    h->curl = curl_easy_init();
    if (h->curl == NULL) {
        free(h);
        return ENOMEM;
    }
    curl_easy_setopt(h->curl, CURLOPT_COOKIEFILE, ""); /* cookie engine on, nothing loaded */
    curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    if (ca_file != NULL)
        curl_easy_setopt(h->curl, CURLOPT_CAINFO, ca_file);
    *out = h;
    return 0;
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    struct keys_http_reply *r = arg;
    size_t add = size * n;
    char *b;
    if (r->len + add > HTTP_MAX_REPLY)
        return 0;
    b = realloc(r->body, r->len + add + 1);
    if (b == NULL)
        return 0;
    memcpy(b + r->len, p, add);
    r->body = b;
    r->len += add;
    b[r->len] = '\0';
    return add;
}

int keys_http_do(struct keys_http *h, const char *method, const char *path, const char *body, size_t body_len,
                 const char *bearer, struct keys_http_reply *reply)
{
    struct curl_slist *hdrs = NULL;
    char url[1024], auth[1024];
    CURLcode cc;

    memset(reply, 0, sizeof *reply);
    snprintf(url, sizeof url, "%s%s", h->base, path);
    curl_easy_setopt(h->curl, CURLOPT_URL, url);
    curl_easy_setopt(h->curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h->curl, CURLOPT_HTTPGET, 1L);
    if (body != NULL) {
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE, (long)body_len);
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    }
    curl_easy_setopt(h->curl, CURLOPT_CUSTOMREQUEST, method);
    hdrs = curl_slist_append(hdrs, "Accept: application/json, application/problem+json");
    if (bearer != NULL) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer);
        hdrs = curl_slist_append(hdrs, auth);
    }
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, reply);
    cc = curl_easy_perform(h->curl);
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, NULL);
    curl_slist_free_all(hdrs);
    if (bearer != NULL)
        memset(auth, 0, sizeof auth);
    if (cc != CURLE_OK) {
        keys_http_reply_free(reply);
        if (cc == CURLE_COULDNT_CONNECT)
            return ccr_err_set(ECONNREFUSED,
                               "cannot reach the broker at %s: connection refused (is it running?)", h->base);
        if (cc == CURLE_COULDNT_RESOLVE_HOST)
            return ccr_err_set(EHOSTUNREACH, "cannot resolve the broker host in %s", h->base);
        if (cc == CURLE_OPERATION_TIMEDOUT)
            return ccr_err_set(ETIMEDOUT, "the broker at %s did not answer in time", h->base);
        return ccr_err_set(EHOSTUNREACH, "request to %s failed: %s", url, curl_easy_strerror(cc));
    }
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &reply->status);
    if (reply->body == NULL) {
        reply->body = calloc(1, 1);
        if (reply->body == NULL)
            return ENOMEM;
    }
    return 0;
}

void keys_http_reply_free(struct keys_http_reply *reply)
{
    free(reply->body);
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
    curl_easy_cleanup(h->curl);
    free(h);
}
