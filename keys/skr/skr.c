/* Azure Secure Key Release through the SKR sidecar. */
#include "keys/skr/skr.h"
#include "common/encoding.h"
#include "common/err.h"
#include "common/secmem.h"
#include "fetch/store.h"
#include "keys/kbs/http.h"
#include "net/http.h"

#include <json-c/json.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

static BIGNUM *jwk_bn(struct json_object *o, const char *name)
{
    struct json_object *v;
    uint8_t *b = NULL;
    size_t len;
    BIGNUM *bn;
    const char *s;

    if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    s = json_object_get_string(v);
    if (ccr_b64_decode(s, strlen(s), &b, &len, CCR_B64_URL) != 0)
        return NULL;
    bn = BN_secure_new();
    if (bn != NULL && BN_bin2bn(b, (int)len, bn) == NULL) {
        BN_clear_free(bn);
        bn = NULL;
    }
    ccr_freezero(b, len);
    return bn;
}

int keys_skr_jwk_private(const char *jwk_text, size_t len, EVP_PKEY **out)
{
    static const char *names[] = {"n", "e", "d", "p", "q", "dp", "dq", "qi"};
    static const char *params_names[] = {OSSL_PKEY_PARAM_RSA_N,         OSSL_PKEY_PARAM_RSA_E,
                                         OSSL_PKEY_PARAM_RSA_D,         OSSL_PKEY_PARAM_RSA_FACTOR1,
                                         OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
                                         OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1};
    struct json_tokener *tok = json_tokener_new();
    struct json_object *o = tok ? json_tokener_parse_ex(tok, jwk_text, (int)len) : NULL, *kty;
    BIGNUM *bn[8] = {0};
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    int rc = 0;

    *out = NULL;
    json_tokener_free(tok);
    if (o == NULL || !json_object_is_type(o, json_type_object)) {
        rc = ccr_err_set(EINVAL, "released key: not a JSON Web Key");
        goto out;
    }
    if (!json_object_object_get_ex(o, "kty", &kty) || !json_object_is_type(kty, json_type_string) ||
        (strcmp(json_object_get_string(kty), "RSA") != 0 &&
         strcmp(json_object_get_string(kty), "RSA-HSM") != 0)) {
        rc = ccr_err_set(EINVAL, "released key: \"kty\" must be RSA");
        goto out;
    }
    for (size_t i = 0; i < 8; i++) {
        if ((bn[i] = jwk_bn(o, names[i])) == NULL) {
            rc =
                ccr_err_set(EINVAL,
                            "released key: \"%s\" is missing or not base64url (a private RSA JWK needs n, e, "
                            "d, p, q, dp, dq, qi)",
                            names[i]);
            goto out;
        }
        OSSL_PARAM_BLD_push_BN(bld, params_names[i], bn[i]);
    }
    params = OSSL_PARAM_BLD_to_param(bld);
    if (ctx == NULL || params == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, out, EVP_PKEY_KEYPAIR, params) != 1) {
        rc = ccr_err_set(EINVAL, "released key: not a valid RSA private key");
        goto out;
    }
out:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    for (size_t i = 0; i < 8; i++)
        BN_clear_free(bn[i]);
    json_object_put(o);
    return rc;
}

int keys_skr_release(const struct keys_release_request *req, struct fmt_dek **dek,
                     struct keys_release_info *info)
{
    struct json_object *body = json_object_new_object(), *resp = NULL, *key;
    struct keys_http *http = NULL;
    struct keys_http_reply reply = {0};
    uint8_t *doc = NULL;
    size_t doc_len = 0;
    EVP_PKEY *kek = NULL;
    const char *text;
    int rc;

    if (req->skr_kid == NULL) {
        json_object_put(body);
        return ccr_err_set(EINVAL, "Azure SKR needs a key id (--skr-kid)");
    }
    if (req->dataset_store == NULL) {
        json_object_put(body);
        return ccr_err_set(EINVAL, "Azure SKR needs the dataset's store to read " FMT_WRAPPED_DEK_OBJECT);
    }
    /* Read the wrapped key first: no point releasing a KEK for a dataset that has none. */
    if ((rc = fetch_read_object(req->dataset_store, FMT_WRAPPED_DEK_OBJECT, 64 * 1024, &doc, &doc_len)) !=
        0) {
        rc = ccr_err_wrap(rc, "Azure SKR: reading " FMT_WRAPPED_DEK_OBJECT " beside the dataset: ");
        goto out;
    }
    json_object_object_add(body, "maa_endpoint",
                           json_object_new_string(req->skr_maa_endpoint ? req->skr_maa_endpoint : ""));
    json_object_object_add(body, "akv_endpoint",
                           json_object_new_string(req->skr_akv_endpoint ? req->skr_akv_endpoint : ""));
    json_object_object_add(body, "kid", json_object_new_string(req->skr_kid));
    text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    if ((rc = keys_http_open(req->skr_url, req->ca_file, &http)) != 0 ||
        (rc = keys_http_do(http, "POST", "/key/release", text, strlen(text), NULL, &reply)) != 0) {
        rc = ccr_err_wrap(rc, "Azure SKR sidecar: ");
        goto out;
    }
    if (reply.status != 200) {
        rc = keys_http_refusal(&reply, "Azure SKR key release");
        goto out;
    }
    resp = json_tokener_parse(reply.body);
    if (resp == NULL || !json_object_object_get_ex(resp, "key", &key)) {
        rc = ccr_err_set(EIO, "Azure SKR sidecar: the answer has no \"key\"");
        goto out;
    }
    /* "key" is the JWK as a string; accept an object too. */
    text = json_object_is_type(key, json_type_string)
               ? json_object_get_string(key)
               : json_object_to_json_string_ext(key, JSON_C_TO_STRING_PLAIN);
    if ((rc = keys_skr_jwk_private(text, strlen(text), &kek)) != 0 ||
        (rc = fmt_dek_unwrap((const char *)doc, doc_len, kek, dek)) != 0)
        goto out;
    info->attested = 1;
    snprintf(info->method, sizeof info->method, "azure-skr");
    /* Logged and recorded in governance events: no credentials or query. */
    net_url_scrub(req->skr_url, info->broker, sizeof info->broker);
    snprintf(info->evidence, sizeof info->evidence, "snp");
    snprintf(info->detail, sizeof info->detail, "kid %s via %s", req->skr_kid,
             req->skr_akv_endpoint ? req->skr_akv_endpoint : "(sidecar default)");
out:
    EVP_PKEY_free(kek);
    if (reply.body)
        ccr_freezero(reply.body, reply.len); /* it held the private KEK */
    reply.body = NULL;
    if (resp)
        json_object_put(resp); /* json-c copies are not wiped; see docs/KEYS.md */
    keys_http_close(http);
    json_object_put(body);
    free(doc);
    return rc;
}
