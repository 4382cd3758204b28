/* The contract gate's calls to ccrfs's governance service, and the choice of the dataset a
 * resource is released for. */
#include "keys/broker/govcheck.h"
#include "common/err.h"
#include "common/secmem.h"
#include "net/http.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Asked on every release: a broker must not wait long on a service that is down. */
#define GOVCHECK_TIMEOUT_MS 10000u
#define GOVCHECK_REPLY_MAX  (1u << 20)

struct keys_govcheck {
    char *url, *token, *ca_file;
};

int keys_govcheck_new(const char *url, const char *token, const char *ca_file, struct keys_govcheck **out)
{
    struct keys_govcheck *g;

    *out = NULL;
    if (url == NULL || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
        return ccr_err_set(EINVAL, "--governance: expected an http:// or https:// URL");
    if ((g = calloc(1, sizeof *g)) == NULL)
        return ENOMEM;
    g->url = strdup(url);
    g->token = token ? strdup(token) : NULL;
    g->ca_file = ca_file ? strdup(ca_file) : NULL;
    if (g->url == NULL || (token && g->token == NULL) || (ca_file && g->ca_file == NULL)) {
        keys_govcheck_free(g);
        return ENOMEM;
    }
    *out = g;
    return 0;
}

void keys_govcheck_free(struct keys_govcheck *g)
{
    if (g == NULL)
        return;
    free(g->url);
    if (g->token)
        ccr_freezero(g->token, strlen(g->token));
    free(g->ca_file);
    free(g);
}

/* The service's {"error": {"code", "message"}}, or the status alone. */
static void error_text(const struct net_http_reply *r, char *out, size_t len)
{
    struct json_object *o = json_tokener_parse(r->body ? r->body : ""), *e, *code, *msg;
    if (o != NULL && json_object_object_get_ex(o, "error", &e) &&
        json_object_object_get_ex(e, "code", &code) && json_object_object_get_ex(e, "message", &msg))
        snprintf(out, len, "%.64s: %.400s", json_object_get_string(code), json_object_get_string(msg));
    else
        snprintf(out, len, "HTTP %ld", r->status);
    json_object_put(o);
}

/* One call; *body the parsed 2xx answer. A non-2xx answer is EACCES for the refusals the API
 * defines (403, 404, 409) with its message, else EIO. */
static int call(struct keys_govcheck *g, const char *method, const char *path, struct json_object **body,
                long *status, char *reason, size_t rlen)
{
    struct net_http_client_opts o = {.base_url = g->url,
                                     .who = "governance",
                                     .transport = {.ca_file = g->ca_file, .timeout_ms = GOVCHECK_TIMEOUT_MS},
                                     .reply_max = GOVCHECK_REPLY_MAX,
                                     .bearer = g->token};
    struct net_http_request rq = {.method = method, .path = path};
    struct net_http_client *c;
    struct net_http_reply r = {0};
    char shown[256];
    int rc;

    *body = NULL;
    *status = 0;
    net_url_scrub(g->url, shown, sizeof shown);
    if ((rc = net_http_client_new(&o, &c)) != 0) {
        snprintf(reason, rlen, "governance %s cannot be asked: %s", shown, ccr_err_msg(rc));
        return rc;
    }
    rc = net_http_client_do(c, &rq, &r);
    net_http_client_free(c);
    if (rc != 0) {
        snprintf(reason, rlen, "governance %s cannot be reached: %s", shown, ccr_err_msg(rc));
        return rc;
    }
    *status = r.status;
    if (r.status < 200 || r.status > 299) {
        char msg[512];
        error_text(&r, msg, sizeof msg);
        snprintf(reason, rlen, "governance refused (%s %s): %s", method, path, msg);
        net_http_reply_free(&r);
        return *status == 403 || *status == 404 || *status == 409 ? EACCES : EIO;
    }
    *body = json_tokener_parse(r.body);
    net_http_reply_free(&r);
    if (*body == NULL || !json_object_is_type(*body, json_type_object)) {
        json_object_put(*body);
        *body = NULL;
        snprintf(reason, rlen, "governance's answer to %s %s is not a JSON object", method, path);
        return EPROTO;
    }
    return 0;
}

static const char *str_member(struct json_object *o, const char *key)
{
    struct json_object *v;
    return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

static int int_member(struct json_object *o, const char *key, int64_t *out)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
        return EPROTO;
    *out = json_object_get_int64(v);
    return *out < 0 ? EPROTO : 0;
}

/* GET /contracts/ID: active, and the dataset granted in this mode. */
static int check_contract(struct keys_govcheck *g, const char *path, const char *contract,
                          const char *dataset, const char *mode, char *reason, size_t rlen)
{
    struct json_object *v, *doc, *arr;
    const char *status, *why, *granted = NULL;
    long http;
    int rc;

    if ((rc = call(g, "GET", path, &v, &http, reason, rlen)) != 0)
        return rc;
    status = str_member(v, "status");
    why = str_member(v, "reason");
    if (status == NULL || !json_object_object_get_ex(v, "contract", &doc) ||
        !json_object_object_get_ex(doc, "datasets", &arr) || !json_object_is_type(arr, json_type_array)) {
        snprintf(reason, rlen, "governance's view of contract %s lacks \"status\" or \"contract\".datasets",
                 contract);
        json_object_put(v);
        return EPROTO;
    }
    if (strcmp(status, "active") != 0) {
        snprintf(reason, rlen, "contract %s is %.32s%s%.300s", contract, status, why && why[0] ? ": " : "",
                 why ? why : "");
        json_object_put(v);
        return EACCES;
    }
    for (size_t i = 0; i < json_object_array_length(arr) && granted == NULL; i++) {
        struct json_object *d = json_object_array_get_idx(arr, i);
        const char *id = str_member(d, "id");
        if (id != NULL && strcmp(id, dataset) == 0)
            granted = str_member(d, "accessMode");
    }
    rc = 0;
    if (granted == NULL) {
        snprintf(reason, rlen, "contract %s does not name dataset %s", contract, dataset);
        rc = EACCES;
    } else if (strcmp(granted, mode) != 0) {
        snprintf(reason, rlen, "contract %s grants dataset %s as %.16s; the init-data asks %s", contract,
                 dataset, granted, mode);
        rc = EACCES;
    }
    json_object_put(v);
    return rc;
}

int keys_govcheck_release(struct keys_govcheck *g, const char *contract, const char *dataset,
                          const char *mode, struct keys_govcheck_use *use, char *reason, size_t reason_len)
{
    char *id = net_url_escape(contract), *ds = net_url_escape(dataset), path[512];
    struct json_object *v;
    int64_t used, max, remaining;
    long http;
    int rc;

    reason[0] = '\0';
    memset(use, 0, sizeof *use);
    if (id == NULL || ds == NULL || strlen(id) + strlen(ds) > 400) {
        free(id);
        free(ds);
        snprintf(reason, reason_len, "the contract id or dataset cannot be put in a URL");
        return id && ds ? EINVAL : ENOMEM;
    }
    snprintf(path, sizeof path, "/contracts/%s", id);
    rc = check_contract(g, path, contract, dataset, mode, reason, reason_len);
    if (rc == 0) {
        snprintf(path, sizeof path, "/contracts/%s/use?dataset=%s", id, ds);
        rc = call(g, "POST", path, &v, &http, reason, reason_len);
        if (rc == EACCES && http == 409)
            snprintf(reason + strlen(reason), reason_len - strlen(reason), " (use budget spent)");
    }
    free(id);
    free(ds);
    if (rc != 0)
        return rc;
    if (int_member(v, "used", &used) != 0 || int_member(v, "maxMounts", &max) != 0 ||
        int_member(v, "remaining", &remaining) != 0 || used < 1 || max < used || remaining != max - used) {
        snprintf(reason, reason_len, "governance's use answer for dataset %s is malformed", dataset);
        json_object_put(v);
        return EPROTO;
    }
    use->used = (uint64_t)used;
    use->max_mounts = (uint64_t)max;
    use->remaining = (uint64_t)remaining;
    snprintf(reason, reason_len, "contract %s: use %lld of %lld of dataset %s", contract, (long long)used,
             (long long)max, dataset);
    json_object_put(v);
    return 0;
}

static int listed(struct json_object *arr, const char *s)
{
    for (size_t i = 0; json_object_is_type(arr, json_type_array) && i < json_object_array_length(arr); i++) {
        struct json_object *e = json_object_array_get_idx(arr, i);
        if (json_object_is_type(e, json_type_string) && strcmp(json_object_get_string(e), s) == 0)
            return 1;
    }
    return 0;
}

int keys_govcheck_target(struct json_object *claims, const char *resource, struct json_object *map,
                         char *dataset, char *mode, const char **contract, char *reason, size_t reason_len)
{
    struct json_object *init, *ccrfs, *arr, *res, *configured = NULL;
    const char *api, *want = NULL, *want_mode = NULL;
    size_t keyed = 0;

    reason[0] = '\0';
    if (claims == NULL || !json_object_object_get_ex(claims, "init_data", &init) ||
        !json_object_object_get_ex(init, "ccrfs", &ccrfs)) {
        snprintf(reason, reason_len,
                 "the evidence carries no init-data with a ccrfs.json entry: this broker releases keys "
                 "only under a contract");
        return EACCES;
    }
    *contract = str_member(ccrfs, "contract");
    api = str_member(ccrfs, "governanceApi");
    if (*contract == NULL) {
        snprintf(reason, reason_len, "the init-data names no contract");
        return EACCES;
    }
    if (api != NULL && strcmp(api, "ccrfs") != 0) {
        snprintf(reason, reason_len,
                 "the init-data's governanceApi is %.16s; this broker asks ccrfs's governance service", api);
        return EACCES;
    }
    if (!json_object_object_get_ex(ccrfs, "resources", &res) || !listed(res, resource)) {
        snprintf(reason, reason_len, "resource %s is not listed in the init-data's resources", resource);
        return EACCES;
    }
    json_object_object_get_ex(ccrfs, "datasets", &arr);
    if (map != NULL)
        json_object_object_get_ex(map, resource, &configured);
    for (size_t i = 0; json_object_is_type(arr, json_type_array) && i < json_object_array_length(arr); i++) {
        struct json_object *d = json_object_array_get_idx(arr, i);
        const char *id = str_member(d, "id"), *m = str_member(d, "mode");
        if (id == NULL || m == NULL)
            continue;
        if (configured != NULL) {
            if (strcmp(id, json_object_get_string(configured)) == 0) {
                want = id;
                want_mode = m;
            }
        } else if (strcmp(m, "sink") != 0) {
            keyed++;
            want = id;
            want_mode = m;
        }
    }
    if (configured != NULL && want == NULL) {
        snprintf(reason, reason_len, "dataset %s (of resource %s) is not listed in the init-data's datasets",
                 json_object_get_string(configured), resource);
        return EACCES;
    }
    if (configured == NULL && keyed != 1) {
        snprintf(
            reason, reason_len,
            "the init-data names %zu datasets that need a key: the broker needs the dataset of resource %s "
            "(--resource-dataset %s=sha256:...)",
            keyed, resource, resource);
        return EACCES;
    }
    snprintf(dataset, 72, "%s", want);
    snprintf(mode, 16, "%s", want_mode);
    return 0;
}
