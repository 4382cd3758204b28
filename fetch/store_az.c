/* The Azure Blob store: az://ACCOUNT/CONTAINER/PREFIX over the Blob REST API, with a SAS
 * token, a Shared Key account key or an OAuth bearer token (from a file or the managed-identity
 * endpoint). Reads are x-ms-range GETs pinned with If-Match; uploads are Put Blob, or Put Block
 * and Put Block List for large objects; listing is List Blobs with continuation markers. */
#include "fetch/azure.h"
#include "fetch/http.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/secmem.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AZ_SINGLE_PUT_MAX (32ull << 20) /* larger objects go up in blocks */
#define AZ_BLOCK_SIZE     (8ull << 20)
#define AZ_LIST_MAX       (32u << 20)
#define AZ_SECRET_MAX     8192
#define AZ_IMDS_DEFAULT   "http://169.254.169.254/metadata/identity/oauth2/token"

enum az_auth { AZ_AUTH_NONE, AZ_AUTH_SAS, AZ_AUTH_KEY, AZ_AUTH_TOKEN_FILE, AZ_AUTH_MANAGED };

struct az_store {
    struct fetch_store pub;
    struct fetch_az_url u;
    char *container_url; /* endpoint + "/" + container */
    struct fetch_http *engine;
    struct fetch_pins *pins;
    enum az_auth auth;
    uint8_t *key; /* secmem */
    size_t key_len;
    char *sas;   /* without '?' */
    char *token; /* current bearer token */
    int64_t token_until;
    char *token_file;
    struct fetch_http *mi_engine;
    char *mi_url;
    pthread_mutex_t token_lock;
    unsigned list_page; /* maxresults of one List Blobs call */
};

/* What a request is, beyond its method: extra headers it must carry and sign. */
struct az_op {
    const char *blob_type;
    const char *content_type;
};

static const struct az_op az_put_blob = {"BlockBlob", "application/octet-stream"};
static const struct az_op az_put_block = {NULL, "application/octet-stream"};
static const struct az_op az_put_list = {NULL, "application/xml"};

static void az_wipe(char *s)
{
    if (s != NULL)
        ccr_freezero(s, strlen(s));
}

/* Reads a secret from a file: trailing whitespace dropped, nothing else changed. */
static int read_secret_file(const char *path, char **out)
{
    uint8_t *data;
    size_t len;
    int rc = ccr_read_file(path, AZ_SECRET_MAX, &data, &len);

    if (rc != 0)
        return rc;
    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == ' '))
        data[--len] = '\0';
    if (len == 0 || memchr(data, '\0', len) != NULL) {
        ccr_freezero(data, len);
        return ccr_err_set(EINVAL, "%s: empty or not text", path);
    }
    *out = (char *)data;
    return 0;
}

static int mi_prepare(void *arg, struct fetch_http_req *r, struct curl_slist **headers)
{
    (void)arg;
    (void)r;
    return fetch_http_header_add(headers, "Metadata", "true");
}

/* A bearer token that is good for a few more minutes, fetched or re-read when needed. */
static int az_token(struct az_store *az, char **out)
{
    int rc = 0;

    pthread_mutex_lock(&az->token_lock);
    if (az->token == NULL || (int64_t)(ccr_clock_wall_ms() / 1000) >= az->token_until) {
        char *fresh = NULL;
        int64_t until = 0;
        if (az->auth == AZ_AUTH_TOKEN_FILE) {
            rc = read_secret_file(az->token_file, &fresh);
            until = (int64_t)(ccr_clock_wall_ms() / 1000) +
                    60; /* re-read often: whoever writes the file renews it */
        } else {
            struct fetch_http_req r, *p = &r;
            memset(&r, 0, sizeof r);
            r.method = "GET";
            r.url = az->mi_url;
            r.key = "managed-identity token";
            r.grow_max = 1u << 20;
            rc = fetch_http_run(az->mi_engine, &p, 1);
            if (rc == 0)
                rc = fetch_az_token_parse((const char *)r.body, r.body_len, &fresh, &until);
            if (rc == 0)
                until = until > 0 ? until - 300 : (int64_t)(ccr_clock_wall_ms() / 1000) + 300;
            if (r.body != NULL)
                ccr_freezero(r.body, r.body_len);
        }
        if (rc == 0) {
            az_wipe(az->token);
            az->token = fresh;
            az->token_until = until;
        }
    }
    if (rc == 0 && (*out = strdup(az->token)) == NULL)
        rc = ENOMEM;
    pthread_mutex_unlock(&az->token_lock);
    return rc;
}

static int az_prepare(void *arg, struct fetch_http_req *r, struct curl_slist **headers)
{
    struct az_store *az = arg;
    const struct az_op *op = r->user;
    struct fetch_az_header ms[4];
    size_t n_ms = 0;
    char date[64], range[64] = "";
    const char *if_match = NULL;
    time_t now = time(NULL);
    struct tm tm;
    int rc = 0;

    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    ms[n_ms++] = (struct fetch_az_header){"x-ms-date", date};
    ms[n_ms++] = (struct fetch_az_header){"x-ms-version", FETCH_AZ_VERSION};
    if (r->ranged) {
        snprintf(range, sizeof range, "bytes=%llu-%llu", (unsigned long long)r->range_off,
                 (unsigned long long)(r->range_off + r->range_len - 1));
        ms[n_ms++] = (struct fetch_az_header){"x-ms-range", range};
    }
    if (op != NULL && op->blob_type != NULL)
        ms[n_ms++] = (struct fetch_az_header){"x-ms-blob-type", op->blob_type};
    for (size_t i = 0; i < n_ms && rc == 0; i++)
        rc = fetch_http_header_add(headers, ms[i].name, ms[i].value);
    if (rc == 0 && op != NULL && op->content_type != NULL)
        rc = fetch_http_header_add(headers, "Content-Type", op->content_type);
    if (rc == 0 && r->if_match != NULL && strncmp(r->if_match, "W/", 2) != 0) {
        if_match = r->if_match;
        rc = fetch_http_header_add(headers, "If-Match", if_match);
    }
    if (rc != 0)
        return rc;
    if (az->auth == AZ_AUTH_KEY) {
        /* Signed per attempt: x-ms-date must be within minutes of the service's clock. */
        const char *path = strstr(r->url, "://"), *q;
        char *path_only, *sts = NULL, sig[64], auth[256];
        struct fetch_az_sign_req sr;
        path = path ? strchr(path + 3, '/') : NULL;
        if (path == NULL)
            return ccr_err_set(EINVAL, "request URL has no path");
        q = strchr(path, '?');
        path_only = strndup(path, q ? (size_t)(q - path) : strlen(path));
        if (path_only == NULL)
            return ENOMEM;
        memset(&sr, 0, sizeof sr);
        sr.verb = r->method;
        sr.content_length = r->src != NULL ? r->src_len : 0;
        sr.content_type = op != NULL ? op->content_type : NULL;
        sr.if_match = if_match;
        sr.ms_headers = ms;
        sr.n_ms = n_ms;
        sr.account = az->u.account;
        sr.path = path_only;
        sr.query = q ? q + 1 : NULL;
        rc = fetch_az_string_to_sign(&sr, &sts);
        if (rc == 0)
            rc = fetch_az_sign(az->key, az->key_len, sts, sig, sizeof sig);
        if (rc == 0) {
            snprintf(auth, sizeof auth, "SharedKey %s:%s", az->u.account, sig);
            rc = fetch_http_header_add(headers, "Authorization", auth);
        }
        free(sts);
        free(path_only);
    } else if (az->auth == AZ_AUTH_TOKEN_FILE || az->auth == AZ_AUTH_MANAGED) {
        char *token = NULL, *line;
        struct curl_slist *n = NULL;
        size_t len;
        if ((rc = az_token(az, &token)) != 0)
            return ccr_err_wrap(rc == ENOMEM ? rc : EACCES, "bearer token: ");
        /* Tokens can be longer than header_add's buffer; built on the heap and wiped. */
        len = strlen(token) + 32;
        if ((line = malloc(len)) != NULL) {
            snprintf(line, len, "Authorization: Bearer %s", token);
            n = curl_slist_append(*headers, line);
            ccr_freezero(line, len);
        }
        az_wipe(token);
        if (n == NULL)
            return ENOMEM;
        *headers = n;
    }
    return rc;
}

/* container_url + "/" + encoded(prefix/key) + [?extra] + [&sas] */
static char *az_url(struct az_store *az, const char *name, const char *extra_query)
{
    size_t enc_len = strlen(name) * 3 + 1, len;
    char *enc = malloc(enc_len), *url = NULL;
    const char *sas = az->auth == AZ_AUTH_SAS ? az->sas : NULL;

    if (enc == NULL || fetch_url_encode_path(name, enc, enc_len) != 0) {
        free(enc);
        return NULL;
    }
    len = strlen(az->container_url) + strlen(enc) + (extra_query ? strlen(extra_query) : 0) +
          (sas ? strlen(sas) : 0) + 4;
    url = malloc(len);
    if (url != NULL)
        snprintf(url, len, "%s%s%s%s%s%s", az->container_url, name[0] ? "/" : "", enc,
                 extra_query || sas ? "?" : "", extra_query ? extra_query : "",
                 sas ? (extra_query ? "&" : "") : "");
    if (url != NULL && sas != NULL) {
        size_t used = strlen(url);
        snprintf(url + used, len - used, "%s", sas);
    }
    free(enc);
    return url;
}

static int az_object_url(struct az_store *az, const char *key, const char *extra_query, char **out)
{
    char *name;
    int rc = fetch_key_join(az->u.prefix, key, &name);

    if (rc != 0)
        return rc;
    *out = az_url(az, name, extra_query);
    free(name);
    return *out == NULL ? ENOMEM : 0;
}

static int az_url_of(void *arg, const char *key, char **url)
{
    return az_object_url(arg, key, NULL, url);
}

static int az_read_many(struct fetch_store *s, struct fetch_range *ranges, size_t n)
{
    struct az_store *az = s->priv;
    return fetch_http_read_many(az->engine, az->pins, az_url_of, az, ranges, n);
}

static int az_head(struct az_store *az, const char *key, int pin, struct fetch_object_info *info)
{
    struct fetch_http_req r, *p = &r;
    char pinned[FETCH_ETAG_MAX];
    char *url;
    int rc;

    if ((rc = az_object_url(az, key, NULL, &url)) != 0)
        return rc;
    memset(&r, 0, sizeof r);
    r.method = "HEAD";
    r.url = url;
    r.key = key;
    if (pin && fetch_pins_get(az->pins, key, pinned) == 0)
        r.if_match = pinned;
    rc = fetch_http_run(az->engine, &p, 1);
    if (rc == 0 && !r.have_length)
        rc = ccr_err_set(EIO, "%s: the service gave no Content-Length", key);
    if (rc == 0 && pin && r.if_match == NULL)
        rc = fetch_pins_check(az->pins, key, r.etag);
    if (rc == 0) {
        memset(info, 0, sizeof *info);
        info->size = r.content_length;
        info->mtime = r.mtime;
        memcpy(info->etag, r.etag, sizeof info->etag);
    }
    free(url);
    return rc;
}

static int az_stat(struct fetch_store *s, const char *key, struct fetch_object_info *info)
{
    return az_head(s->priv, key, 1, info);
}

struct az_list_walk {
    const char *strip; /* the store prefix and its '/' */
    size_t strip_len;
    fetch_list_cb cb;
    void *arg;
};

static int az_list_entry(void *arg, const char *name, const struct fetch_object_info *info)
{
    struct az_list_walk *w = arg;
    if (strncmp(name, w->strip, w->strip_len) != 0 || name[w->strip_len] == '\0')
        return 0;
    return w->cb(w->arg, name + w->strip_len, info);
}

static int az_list(struct fetch_store *s, const char *prefix, fetch_list_cb cb, void *arg)
{
    struct az_store *az = s->priv;
    struct az_list_walk w = {NULL, 0, cb, arg};
    char *full = NULL, *marker = NULL, *enc_prefix = NULL, *strip = NULL;
    size_t len = strlen(az->u.prefix) + strlen(prefix) + 2;
    int rc = 0;

    full = malloc(len);
    strip = malloc(strlen(az->u.prefix) + 2);
    enc_prefix = malloc(len * 3 + 1);
    if (full == NULL || strip == NULL || enc_prefix == NULL) {
        rc = ENOMEM;
        goto out;
    }
    snprintf(strip, strlen(az->u.prefix) + 2, "%s%s", az->u.prefix, az->u.prefix[0] ? "/" : "");
    snprintf(full, len, "%s%s", strip, prefix);
    w.strip = strip;
    w.strip_len = strlen(strip);
    if ((rc = fetch_url_encode_query(full, enc_prefix, len * 3 + 1)) != 0)
        goto out;
    do {
        struct fetch_http_req r, *p = &r;
        char *query, *url, *next = NULL;
        size_t qlen = strlen(enc_prefix) + (marker ? strlen(marker) * 3 : 0) + 96;
        query = malloc(qlen);
        if (query == NULL) {
            rc = ENOMEM;
            break;
        }
        snprintf(query, qlen, "restype=container&comp=list&maxresults=%u&prefix=%s", az->list_page,
                 enc_prefix);
        if (marker != NULL) {
            size_t used = strlen(query);
            snprintf(query + used, qlen - used, "&marker=");
            used = strlen(query);
            if ((rc = fetch_url_encode_query(marker, query + used, qlen - used)) != 0) {
                free(query);
                break;
            }
        }
        url = az_url(az, "", query);
        free(query);
        if (url == NULL) {
            rc = ENOMEM;
            break;
        }
        memset(&r, 0, sizeof r);
        r.method = "GET";
        r.url = url;
        r.key = "list";
        r.grow_max = AZ_LIST_MAX;
        rc = fetch_http_run(az->engine, &p, 1);
        if (rc == 0)
            rc =
                fetch_az_list_parse(r.body ? (const char *)r.body : "", r.body_len, az_list_entry, &w, &next);
        free(r.body);
        free(url);
        free(marker);
        marker = next;
    } while (rc == 0 && marker != NULL);
out:
    free(marker);
    free(full);
    free(strip);
    free(enc_prefix);
    return rc;
}

static int az_put_blocks(struct az_store *az, const char *key, const struct fetch_source *src)
{
    uint64_t nblocks = (src->len + AZ_BLOCK_SIZE - 1) / AZ_BLOCK_SIZE;
    struct fetch_http_req *reqs = calloc(nblocks, sizeof *reqs);
    struct fetch_http_req **ptrs = calloc(nblocks, sizeof *ptrs);
    char(*ids)[32] = calloc(nblocks, 32);
    struct sbuf_list {
        char *s;
        size_t len;
    } list = {NULL, 0};
    struct fetch_source list_src;
    struct fetch_http_req lr, *lp = &lr;
    int rc = 0;

    if (reqs == NULL || ptrs == NULL || ids == NULL) {
        rc = ENOMEM;
        goto out;
    }
    for (uint64_t i = 0; i < nblocks && rc == 0; i++) {
        char raw[24], query[96], enc[64];
        /* Equal-length ids, as the service requires within one blob. */
        snprintf(raw, sizeof raw, "ccrfs-blk-%08llu", (unsigned long long)i);
        ccr_b64_encode((const uint8_t *)raw, 18, ids[i], CCR_B64_STD);
        if ((rc = fetch_url_encode_query(ids[i], enc, sizeof enc)) != 0)
            break;
        snprintf(query, sizeof query, "comp=block&blockid=%s", enc);
        if ((rc = az_object_url(az, key, query, (char **)&reqs[i].url)) != 0)
            break;
        reqs[i].method = "PUT";
        reqs[i].key = key;
        reqs[i].src = src;
        reqs[i].src_off = i * AZ_BLOCK_SIZE;
        reqs[i].src_len =
            src->len - reqs[i].src_off < AZ_BLOCK_SIZE ? src->len - reqs[i].src_off : AZ_BLOCK_SIZE;
        reqs[i].user = (void *)&az_put_block;
        ptrs[i] = &reqs[i];
    }
    if (rc == 0)
        rc = fetch_http_run(az->engine, ptrs, nblocks);
    if (rc != 0)
        goto out;
    list.len = 64 + nblocks * 48;
    if ((list.s = malloc(list.len)) == NULL) {
        rc = ENOMEM;
        goto out;
    }
    {
        size_t used =
            (size_t)snprintf(list.s, list.len, "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
        for (uint64_t i = 0; i < nblocks; i++)
            used += (size_t)snprintf(list.s + used, list.len - used, "<Latest>%s</Latest>", ids[i]);
        used += (size_t)snprintf(list.s + used, list.len - used, "</BlockList>");
        list.len = used;
    }
    fetch_source_memory(&list_src, list.s, list.len);
    memset(&lr, 0, sizeof lr);
    if ((rc = az_object_url(az, key, "comp=blocklist", (char **)&lr.url)) != 0)
        goto out;
    lr.method = "PUT";
    lr.key = key;
    lr.src = &list_src;
    lr.src_len = list.len;
    lr.user = (void *)&az_put_list;
    rc = fetch_http_run(az->engine, &lp, 1);
    free((char *)lr.url);
out:
    if (reqs != NULL)
        for (uint64_t i = 0; i < nblocks; i++)
            free((char *)reqs[i].url);
    free(reqs);
    free(ptrs);
    free(ids);
    free(list.s);
    return rc;
}

static int az_put(struct fetch_store *s, const char *key, const struct fetch_source *src)
{
    struct az_store *az = s->priv;
    int rc;

    if (src->len > AZ_SINGLE_PUT_MAX) {
        rc = az_put_blocks(az, key, src);
    } else {
        struct fetch_http_req r, *p = &r;
        char *url;
        if ((rc = az_object_url(az, key, NULL, &url)) != 0)
            return rc;
        memset(&r, 0, sizeof r);
        r.method = "PUT";
        r.url = url;
        r.key = key;
        r.src = src;
        r.src_len = src->len;
        r.user = (void *)&az_put_blob;
        rc = fetch_http_run(az->engine, &p, 1);
        free(url);
    }
    if (rc == 0)
        fetch_pins_forget(az->pins, key);
    return rc;
}

static void az_get_stats(struct fetch_store *s, struct fetch_stats *out)
{
    struct az_store *az = s->priv;
    fetch_http_get_stats(az->engine, out);
}

static void az_destroy(struct fetch_store *s)
{
    struct az_store *az = s->priv;
    fetch_http_destroy(az->engine);
    fetch_http_destroy(az->mi_engine);
    fetch_pins_destroy(az->pins);
    fetch_az_url_free(&az->u);
    ccr_secmem_free(az->key, az->key_len ? az->key_len : 1);
    az_wipe(az->sas);
    az_wipe(az->token);
    free(az->token_file);
    free(az->mi_url);
    free(az->container_url);
    pthread_mutex_destroy(&az->token_lock);
    free(az);
}

static int az_set_key(struct az_store *az, const char *b64, const char *where)
{
    uint8_t *raw = NULL;
    size_t len = 0;
    int rc = ccr_b64_decode(b64, strlen(b64), &raw, &len, CCR_B64_STD);

    if (rc != 0 || len == 0) {
        ccr_freezero(raw, len);
        return ccr_err_set(EINVAL, "%s: the account key is not base64", where);
    }
    az->key = ccr_secmem_alloc(len);
    if (az->key == NULL) {
        ccr_freezero(raw, len);
        return ENOMEM;
    }
    memcpy(az->key, raw, len);
    az->key_len = len;
    ccr_freezero(raw, len);
    az->auth = AZ_AUTH_KEY;
    return 0;
}

static int az_set_sas(struct az_store *az, const char *sas, const char *where)
{
    if (sas[0] == '?')
        sas++;
    for (const char *c = sas; *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f || *c == '#')
            return ccr_err_set(EINVAL, "%s: the SAS token holds a space, control character or '#'", where);
    if ((az->sas = strdup(sas)) == NULL)
        return ENOMEM;
    az->auth = AZ_AUTH_SAS;
    return 0;
}

/* Credentials, first found wins: SAS file, key file, token file, managed identity (options
 * or their environment variables), then AZURE_STORAGE_SAS_TOKEN, then AZURE_STORAGE_KEY.
 * With none, requests go unauthenticated (a public container). */
static int az_credentials(struct az_store *az, const struct fetch_options *opt)
{
    const char *env;
    char *secret = NULL;
    int rc = 0;

    if (opt->az_sas_file != NULL) {
        if ((rc = read_secret_file(opt->az_sas_file, &secret)) == 0)
            rc = az_set_sas(az, secret, opt->az_sas_file);
    } else if (opt->az_key_file != NULL) {
        if ((rc = read_secret_file(opt->az_key_file, &secret)) == 0)
            rc = az_set_key(az, secret, opt->az_key_file);
    } else if (opt->az_token_file != NULL) {
        if ((az->token_file = strdup(opt->az_token_file)) == NULL)
            return ENOMEM;
        az->auth = AZ_AUTH_TOKEN_FILE;
    } else if (opt->az_managed_identity) {
        const char *ep = getenv("CCRFS_AZURE_IDENTITY_ENDPOINT");
        const char *client = getenv("CCRFS_AZURE_CLIENT_ID");
        size_t len;
        if (ep == NULL || ep[0] == '\0')
            ep = AZ_IMDS_DEFAULT;
        len = strlen(ep) + (client ? strlen(client) * 3 : 0) + 128;
        if ((az->mi_url = malloc(len)) == NULL)
            return ENOMEM;
        snprintf(az->mi_url, len,
                 "%s%sapi-version=2018-02-01&resource=https%%3A%%2F%%2Fstorage.azure.com%%2F", ep,
                 strchr(ep, '?') ? "&" : "?");
        if (client != NULL && client[0] != '\0') {
            size_t used = strlen(az->mi_url);
            snprintf(az->mi_url + used, len - used, "&client_id=");
            used = strlen(az->mi_url);
            if (fetch_url_encode_query(client, az->mi_url + used, len - used) != 0)
                return ccr_err_set(EINVAL, "CCRFS_AZURE_CLIENT_ID is too long");
        }
        if ((rc = fetch_http_create(opt, mi_prepare, az, &az->mi_engine)) != 0)
            return rc;
        az->auth = AZ_AUTH_MANAGED;
    } else if ((env = getenv("AZURE_STORAGE_SAS_TOKEN")) != NULL && env[0] != '\0') {
        rc = az_set_sas(az, env, "AZURE_STORAGE_SAS_TOKEN");
    } else if ((env = getenv("AZURE_STORAGE_KEY")) != NULL && env[0] != '\0') {
        rc = az_set_key(az, env, "AZURE_STORAGE_KEY");
    }
    if (secret != NULL)
        az_wipe(secret);
    return rc;
}

int fetch_az_create(const char *url, const struct fetch_options *opt, struct fetch_store **out)
{
    struct az_store *az = calloc(1, sizeof *az);
    char endpoint[512], shown[512];
    const char *ep = opt->endpoint;
    size_t len;
    int rc;

    if (az == NULL)
        return ENOMEM;
    pthread_mutex_init(&az->token_lock, NULL);
    if ((rc = fetch_az_url_parse(url, &az->u)) != 0) {
        fetch_url_scrub(url, shown, sizeof shown);
        ccr_err_wrap(rc, "%s: ", shown);
        goto fail;
    }
    if (ep == NULL || ep[0] == '\0')
        ep = getenv("CCRFS_AZURE_ENDPOINT");
    if (ep != NULL && ep[0] != '\0') {
        struct fetch_http_url check;
        fetch_url_scrub(ep, shown, sizeof shown);
        if ((rc = fetch_http_url_parse(ep, &check)) != 0) {
            ccr_err_wrap(rc, "Azure endpoint %s: ", shown);
            goto fail;
        }
        if (check.query != NULL) {
            fetch_http_url_free(&check);
            rc = ccr_err_set(EINVAL, "Azure endpoint %s: no query string allowed", shown);
            goto fail;
        }
        snprintf(endpoint, sizeof endpoint, "%s%s", check.origin, check.path);
        fetch_http_url_free(&check);
    } else {
        snprintf(endpoint, sizeof endpoint, "https://%s.blob.core.windows.net", az->u.account);
    }
    len = strlen(endpoint) + strlen(az->u.container) + 2;
    if ((az->container_url = malloc(len)) == NULL || (az->pins = fetch_pins_create()) == NULL) {
        rc = ENOMEM;
        goto fail;
    }
    snprintf(az->container_url, len, "%s/%s", endpoint, az->u.container);
    if ((rc = az_credentials(az, opt)) != 0)
        goto fail;
    az->list_page = 5000;
    /* Smaller pages let the tests walk continuation markers. */
    if ((rc = fetch_env_uint("CCRFS_AZURE_LIST_PAGE", &az->list_page)) != 0)
        goto fail;
    if (az->list_page == 0 || az->list_page > 5000) {
        rc = ccr_err_set(EINVAL, "CCRFS_AZURE_LIST_PAGE: expected 1 to 5000");
        goto fail;
    }
    if ((rc = fetch_http_create(opt, az_prepare, az, &az->engine)) != 0)
        goto fail;
    az->pub.kind = "az";
    az->pub.read_many = az_read_many;
    az->pub.stat = az_stat;
    az->pub.list = az_list;
    az->pub.put = az_put;
    az->pub.get_stats = az_get_stats;
    az->pub.destroy = az_destroy;
    az->pub.priv = az;
    *out = &az->pub;
    return 0;
fail:
    az->pub.priv = az;
    az_destroy(&az->pub);
    return rc;
}
