/* libcurl client for the governance API. */
#include "governance/http.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/secmem.h"
#include "governance/canon.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gov_http {
    CURL *curl;
    char *base;
    char *auth; /* "Authorization: Bearer ..." */
    long timeout_ms;
};

struct reply_buf {
    char *p;
    size_t len;
    int too_big;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct reply_buf *r = arg;
    size_t n = size * nmemb;
    char *np;
    if (r->len + n > GOV_HTTP_REPLY_MAX) {
        r->too_big = 1;
        return 0;
    }
    np = realloc(r->p, r->len + n + 1);
    if (np == NULL)
        return 0;
    r->p = np;
    memcpy(r->p + r->len, ptr, n);
    r->len += n;
    r->p[r->len] = '\0';
    return n;
}

int gov_http_new(const char *base_url, const char *token, long timeout_ms, struct gov_http **out)
{
    struct gov_http *h;
    size_t blen = strlen(base_url);

    if (strncmp(base_url, "http://", 7) != 0 && strncmp(base_url, "https://", 8) != 0)
        return ccr_err_set(EINVAL, "governance URL '%s' must start with http:// or https://", base_url);
    pthread_once(&curl_once, curl_init_once);
    h = calloc(1, sizeof *h);
    if (h == NULL)
        return ENOMEM;
    while (blen > 0 && base_url[blen - 1] == '/')
        blen--;
    h->base = strndup(base_url, blen);
    h->curl = curl_easy_init();
    h->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
    if (token != NULL) {
        size_t alen = strlen(token) + 32;
        h->auth = malloc(alen);
        if (h->auth != NULL)
            snprintf(h->auth, alen, "Authorization: Bearer %s", token);
    }
    if (h->base == NULL || h->curl == NULL || (token != NULL && h->auth == NULL)) {
        gov_http_free(h);
        return ENOMEM;
    }
    *out = h;
    return 0;
}

void gov_http_free(struct gov_http *h)
{
    if (h == NULL)
        return;
    if (h->curl != NULL)
        curl_easy_cleanup(h->curl);
    if (h->auth != NULL)
        ccr_freezero(h->auth, strlen(h->auth));
    free(h->base);
    free(h);
}

char *gov_http_escape(const char *s)
{
    char *e, *r;
    pthread_once(&curl_once, curl_init_once);
    e = curl_easy_escape(NULL, s, 0);
    if (e == NULL)
        return NULL;
    r = strdup(e);
    curl_free(e);
    return r;
}

int gov_http_request(struct gov_http *h, const char *method, const char *path, const char *body,
                     size_t body_len, long *status, char **resp, size_t *resp_len)
{
    struct reply_buf r = {0};
    struct curl_slist *hdrs = NULL;
    size_t ulen = strlen(h->base) + strlen(path) + 1;
    char *url = malloc(ulen);
    CURLcode cc;
    int rc = 0;

    if (url == NULL)
        return ENOMEM;
    snprintf(url, ulen, "%s%s", h->base, path);
    curl_easy_reset(h->curl);
    curl_easy_setopt(h->curl, CURLOPT_URL, url);
    curl_easy_setopt(h->curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, h->timeout_ms);
    curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS, h->timeout_ms < 5000 ? h->timeout_ms : 5000L);
    curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, &r);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (h->auth != NULL)
        hdrs = curl_slist_append(hdrs, h->auth);
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, hdrs);
    if (body != NULL) {
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    }
    cc = curl_easy_perform(h->curl);
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    if (cc != CURLE_OK) {
        int e = cc == CURLE_COULDNT_CONNECT            ? ECONNREFUSED
                : cc == CURLE_OPERATION_TIMEDOUT       ? ETIMEDOUT
                : cc == CURLE_WRITE_ERROR && r.too_big ? EFBIG
                                                       : EHOSTUNREACH;
        rc = ccr_err_set(e, "governance %s %s%s: %s", method, h->base, path, curl_easy_strerror(cc));
        free(r.p);
    } else {
        curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, status);
        if (resp != NULL) {
            *resp = r.p;
            if (resp_len != NULL)
                *resp_len = r.len;
        } else {
            free(r.p);
        }
    }
    free(url);
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
