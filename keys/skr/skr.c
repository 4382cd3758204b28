/* Azure Secure Key Release through the SKR sidecar. */
#include "keys/skr/skr.h"
#include "common/err.h"
#include "common/log.h"
#include "common/secmem.h"
#include "fetch/store.h"
#include "keys/kbs/http.h"
#include "keys/skr/endpoint.h"
#include "keys/skr/wrap_ec.h"
#include "net/http.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *kty_name(enum keys_skr_kty kty)
{
    return kty == KEYS_SKR_KTY_RSA ? "RSA" : kty == KEYS_SKR_KTY_EC ? "EC" : "oct";
}

/* Both endpoints as host names, with a notice when a URL was reduced. */
static int normalize_endpoints(const struct keys_release_request *req, char *maa, char *akv)
{
    int reduced, rc;

    if ((rc = keys_skr_endpoint_host(req->skr_maa_endpoint, "--skr-maa", maa, KEYS_SKR_HOST_MAX, &reduced)) !=
        0)
        return rc;
    if (reduced)
        ccr_log_warn("--skr-maa: the URL is reduced to its host %s (the SKR sidecar takes a host name)", maa);
    if ((rc = keys_skr_endpoint_host(req->skr_akv_endpoint, "--skr-akv", akv, KEYS_SKR_HOST_MAX, &reduced)) !=
        0)
        return rc;
    if (reduced)
        ccr_log_warn("--skr-akv: the URL is reduced to its host %s (the SKR sidecar takes a host name)", akv);
    return 0;
}

/* The sidecar answers errors as {"error": "<reason>\n<a paragraph of documentation links>"}
 * (400/403/500); the reason is its first line. A binding failure serializes as {"error": {}}. */
static int sidecar_refusal(const struct keys_http_reply *r)
{
    struct json_object *o = r->body ? json_tokener_parse(r->body) : NULL, *v;
    int code = r->status == 401 || r->status == 403 ? EACCES : r->status == 404 ? ENOENT : EIO;
    char reason[400] = "no reason given";
    int rc;

    if (o != NULL && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "error", &v)) {
        if (json_object_is_type(v, json_type_string)) {
            const char *s = json_object_get_string(v);
            size_t n = strcspn(s, "\n");
            snprintf(reason, sizeof reason, "%.*s", (int)(n < sizeof reason ? n : sizeof reason - 1), s);
            for (char *c = reason; *c; c++)
                if ((unsigned char)*c < 0x20 || *c == 0x7f)
                    *c = ' ';
        } else if (r->status == 400) {
            snprintf(reason, sizeof reason,
                     "the sidecar did not accept the request (maa_endpoint, akv_endpoint "
                     "and kid are required)");
        }
    }
    json_object_put(o);
    rc = ccr_err_set(code, "Azure SKR key release refused (HTTP %ld): %s", r->status, reason);
    return rc;
}

/* POST /key/release; *key_out gets the released key. */
static int call_sidecar(const struct keys_release_request *req, const char *maa, const char *akv,
                        struct keys_skr_key *key_out)
{
    struct json_object *body = json_object_new_object(), *resp = NULL, *key;
    struct keys_http *http = NULL;
    struct keys_http_reply reply = {0};
    const char *text;
    int rc;

    json_object_object_add(body, "maa_endpoint", json_object_new_string(maa));
    json_object_object_add(body, "akv_endpoint", json_object_new_string(akv));
    json_object_object_add(body, "kid", json_object_new_string(req->skr_kid));
    text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    if ((rc = keys_http_open(req->skr_url, req->ca_file, &http)) != 0 ||
        (rc = keys_http_do(http, "POST", "/key/release", text, strlen(text), NULL, &reply)) != 0) {
        rc = ccr_err_wrap(rc, "Azure SKR sidecar: ");
        goto out;
    }
    if (reply.status != 200) {
        rc = sidecar_refusal(&reply);
        goto out;
    }
    resp = json_tokener_parse(reply.body);
    if (resp == NULL || !json_object_object_get_ex(resp, "key", &key) ||
        !(json_object_is_type(key, json_type_string) || json_object_is_type(key, json_type_object))) {
        rc = ccr_err_set(EIO, "Azure SKR sidecar: the answer has no \"key\"");
        goto out;
    }
    /* The sidecar sends the JWK serialized as a string; accept an object too. */
    text = json_object_is_type(key, json_type_string)
               ? json_object_get_string(key)
               : json_object_to_json_string_ext(key, JSON_C_TO_STRING_PLAIN);
    rc = keys_skr_key_parse(text, strlen(text), key_out);
out:
    if (reply.body)
        ccr_freezero(reply.body, reply.len); /* it held the private key */
    reply.body = NULL;
    if (resp)
        json_object_put(resp); /* json-c copies are not wiped; see docs/KEYS.md */
    keys_http_close(http);
    json_object_put(body);
    return rc;
}

/* The DEK from the released key and dek.wrapped.json (doc, NULL when the dataset has none). */
static int dek_from_key(const struct keys_skr_key *key, const uint8_t *doc, size_t doc_len,
                        struct fmt_dek **dek)
{
    char alg[32];

    if (key->kty == KEYS_SKR_KTY_OCT) {
        /* A symmetric key is the DEK itself; a wrapped DEK beside the dataset means the data
         * provider meant another key, and guessing which to use is not safe. */
        if (doc != NULL) {
            keys_skr_wrapped_alg((const char *)doc, doc_len, alg, sizeof alg);
            return ccr_err_set(EINVAL,
                               "Azure SKR: the released key is a symmetric (oct) key, which is the DEK "
                               "itself, but the dataset has " FMT_WRAPPED_DEK_OBJECT
                               " (alg %s) for a key-encryption key: is --skr-kid the right key?",
                               alg[0] ? alg : "none");
        }
        if (key->secret_len != FMT_DEK_LEN)
            return ccr_err_set(EINVAL,
                               "Azure SKR: the released oct key is %zu bytes; a dataset key is %d bytes "
                               "(AES-256)",
                               key->secret_len, FMT_DEK_LEN);
        return fmt_dek_from_bytes(key->secret, key->secret_len, dek);
    }
    if (doc == NULL)
        return ccr_err_set(
            ENOENT,
            "Azure SKR: the released %s key is a key-encryption key, but there is no " FMT_WRAPPED_DEK_OBJECT
            " beside the dataset",
            kty_name(key->kty));
    if (key->kty == KEYS_SKR_KTY_EC)
        return keys_skr_unwrap_ec((const char *)doc, doc_len, key->pkey, dek);
    return fmt_dek_unwrap((const char *)doc, doc_len, key->pkey, dek);
}

int keys_skr_release(const struct keys_release_request *req, struct fmt_dek **dek,
                     struct keys_release_info *info)
{
    struct keys_skr_key key = {0};
    uint8_t *doc = NULL;
    size_t doc_len = 0;
    char maa[KEYS_SKR_HOST_MAX], akv[KEYS_SKR_HOST_MAX];
    int rc;

    if (req->skr_kid == NULL || req->skr_kid[0] == '\0')
        return ccr_err_set(EINVAL, "Azure SKR needs a key id (--skr-kid)");
    if (req->dataset_store == NULL)
        return ccr_err_set(EINVAL, "Azure SKR needs the dataset's store to read " FMT_WRAPPED_DEK_OBJECT);
    if ((rc = normalize_endpoints(req, maa, akv)) != 0)
        return rc;
    /* Read the wrapped key first, so a store that cannot be read fails before a release. A
     * dataset without one is keyed by an oct key, which is the DEK itself. */
    rc = fetch_read_object(req->dataset_store, FMT_WRAPPED_DEK_OBJECT, 64 * 1024, &doc, &doc_len);
    if (rc == ENOENT) {
        doc = NULL;
        doc_len = 0;
    } else if (rc != 0) {
        return ccr_err_wrap(rc, "Azure SKR: reading " FMT_WRAPPED_DEK_OBJECT " beside the dataset: ");
    }
    if ((rc = call_sidecar(req, maa, akv, &key)) != 0 || (rc = dek_from_key(&key, doc, doc_len, dek)) != 0)
        goto out;
    info->attested = 1;
    snprintf(info->method, sizeof info->method, "azure-skr");
    /* Logged and recorded in governance events: no credentials or query. */
    net_url_scrub(req->skr_url, info->broker, sizeof info->broker);
    snprintf(info->evidence, sizeof info->evidence, "snp");
    snprintf(info->detail, sizeof info->detail, "kid %.100s (%s key) from %.180s, attested by %.180s",
             req->skr_kid, kty_name(key.kty), akv, maa);
out:
    keys_skr_key_clear(&key);
    free(doc);
    return rc;
}
