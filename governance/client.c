/* Contract and use-budget calls to the governance service (see client.h). */
#include "governance/client.h"
#include "common/err.h"
#include "common/secmem.h"
#include "governance/admission.h"
#include "governance/canon.h"
#include "governance/contract.h"
#include "governance/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One call; 0 with the parsed JSON reply on 2xx, else an errno from the status. */
static int call(const char *url, const char *token_file, const char *method, const char *path,
                json_object **out)
{
    struct gov_http *h;
    char *resp = NULL, msg[512];
    size_t len = 0;
    long status = 0;
    int rc;

    if ((rc = gov_http_open(url, token_file, 30000, &h)) != 0)
        return rc;
    rc = gov_http_request(h, method, path, NULL, 0, &status, &resp, &len);
    gov_http_free(h);
    if (rc != 0)
        return rc;
    if (status < 200 || status > 299) {
        gov_http_error_text(resp, msg, sizeof msg);
        free(resp);
        rc = status == 409   ? ENOSPC
             : status == 403 ? EACCES
             : status == 404 ? ENOENT
             : status == 401 ? EPERM
                             : EIO;
        return ccr_err_set(rc, "governance %s %s: HTTP %ld: %s", method, path, status, msg);
    }
    rc = gov_json_parse(resp ? resp : "", len, "governance reply", out);
    free(resp);
    return rc != 0 ? EPROTO : 0;
}

static char *path_for(const char *id, const char *tail, const char *dataset)
{
    char *esc = gov_http_escape(id), *dsesc = dataset ? gov_http_escape(dataset) : NULL, *p;
    size_t len = (esc ? strlen(esc) : 0) + (dsesc ? strlen(dsesc) : 0) + 64;
    p = malloc(len);
    if (p != NULL && esc != NULL)
        snprintf(p, len, "/contracts/%s%s%s%s", esc, tail, dsesc ? "?dataset=" : "", dsesc ? dsesc : "");
    free(esc);
    free(dsesc);
    return p;
}

int gov_client_signed_contract(const char *url, const char *token_file, const char *id,
                               struct gov_signed_contract *out)
{
    char *path = path_for(id, "", NULL);
    json_object *v = NULL;
    const char *text;
    int rc;

    memset(out, 0, sizeof *out);
    if (path == NULL)
        return ENOMEM;
    rc = call(url, token_file, "GET", path, &v);
    free(path);
    if (rc != 0)
        return rc;
    text = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    rc = gov_signed_contract_parse(text, strlen(text), out);
    json_object_put(v);
    if (rc != 0)
        return ccr_err_wrap(EPROTO, "governance's contract %s: ", id);
    if (strcmp(out->c->id, id) != 0) {
        rc = ccr_err_set(EPROTO, "governance answered contract %s for %s", out->c->id, id);
        gov_signed_contract_release(out);
    }
    return rc;
}

int gov_client_contract(const char *url, const char *token_file, const char *id, struct gov_contract **out)
{
    struct gov_signed_contract sc;
    int rc = gov_client_signed_contract(url, token_file, id, &sc);

    if (rc != 0)
        return rc;
    *out = sc.c; /* the contract alone: the signatures are dropped */
    sc.c = NULL;
    gov_signed_contract_release(&sc);
    return 0;
}

int gov_client_use(const char *url, const char *token_file, const char *id, const char *dataset,
                   struct gov_use *out)
{
    char *path = path_for(id, "/use", dataset);
    json_object *v = NULL;
    long long used, max, remaining, maxb;
    const char *mode;
    int rc;

    if (path == NULL)
        return ENOMEM;
    rc = call(url, token_file, "POST", path, &v);
    free(path);
    if (rc != 0)
        return rc;
    mode = gov_json_str(v, "accessMode");
    if (gov_json_int(v, "used", &used) != 0 || gov_json_int(v, "maxMounts", &max) != 0 ||
        gov_json_int(v, "remaining", &remaining) != 0 || gov_json_int(v, "maxBytesPerMount", &maxb) != 0 ||
        mode == NULL || used < 1 || max < used || remaining != max - used || maxb < 0) {
        json_object_put(v);
        return ccr_err_set(EPROTO, "governance use reply for %s is malformed", dataset);
    }
    memset(out, 0, sizeof *out);
    out->used = (uint64_t)used;
    out->max_mounts = (uint64_t)max;
    out->remaining = (uint64_t)remaining;
    out->max_bytes_per_mount = (uint64_t)maxb;
    snprintf(out->access_mode, sizeof out->access_mode, "%s", mode);
    json_object_put(v);
    return 0;
}
