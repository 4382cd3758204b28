/* Dispatches a key request to its source. */
#include "keys/release.h"
#include "common/err.h"
#include "common/log.h"
#include "common/secmem.h"
#include "fetch/store.h"
#include "keys/kbs/client.h"
#include "keys/skr/skr.h"
#include "net/http.h"

#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int release_kbs(const struct keys_release_request *req, struct fmt_dek **dek,
                       struct keys_release_info *info)
{
    uint8_t *value = NULL;
    size_t len = 0;
    int rc;

    if (req->resource == NULL || req->attest == NULL)
        return ccr_err_set(
            EINVAL,
            "a KBS key source needs a resource (REPO/TYPE/TAG) and evidence (sim:DIR, snp or aa:URL)");
    rc = keys_kbs_fetch(req->kbs_url, req->ca_file, req->resource, req->attest, &value, &len, info->detail,
                        sizeof info->detail);
    if (rc != 0)
        return rc;
    if (len != FMT_DEK_LEN) {
        ccr_secmem_free(value, len);
        net_url_scrub(req->kbs_url, info->broker, sizeof info->broker);
        return ccr_err_set(EINVAL, "key broker %s: resource %s holds %zu bytes, a data key is %d",
                           info->broker, req->resource, len, FMT_DEK_LEN);
    }
    rc = fmt_dek_from_bytes(value, len, dek);
    ccr_secmem_free(value, len);
    if (rc != 0)
        return rc;
    info->attested = 1;
    snprintf(info->method, sizeof info->method, "kbs");
    /* Logged and recorded in governance events: no credentials or query. */
    net_url_scrub(req->kbs_url, info->broker, sizeof info->broker);
    snprintf(info->evidence, sizeof info->evidence, "%s",
             strncmp(req->attest, "sim:", 4) == 0 ? "sim" : "snp");
    return 0;
}

/* A dataset sealed for a recipient (a sink mount's output): its DEK, wrapped with
 * RSA-OAEP-256 for the recipient's public key, sits beside it in dek.wrapped.json. */
static int release_unwrap(const struct keys_release_request *req, struct fmt_dek **dek,
                          struct keys_release_info *info)
{
    EVP_PKEY *priv = NULL;
    uint8_t *doc = NULL;
    size_t doc_len = 0;
    FILE *f;
    int rc;

    if (req->dataset_store == NULL)
        return ccr_err_set(EINVAL, "--unwrap-key needs the dataset's store to read " FMT_WRAPPED_DEK_OBJECT);
    if ((f = fopen(req->unwrap_key_file, "re")) == NULL)
        return ccr_err_set(errno, "unwrap key %s: %s", req->unwrap_key_file, strerror(errno));
    priv = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (priv == NULL || EVP_PKEY_base_id(priv) != EVP_PKEY_RSA) {
        EVP_PKEY_free(priv);
        return ccr_err_set(EINVAL, "unwrap key %s: not a PEM RSA private key", req->unwrap_key_file);
    }
    if ((rc = fetch_read_object(req->dataset_store, FMT_WRAPPED_DEK_OBJECT, 64 * 1024, &doc, &doc_len)) !=
        0) {
        rc = ccr_err_wrap(rc, "reading " FMT_WRAPPED_DEK_OBJECT " beside the dataset: ");
        goto out;
    }
    if ((rc = fmt_dek_unwrap((const char *)doc, doc_len, priv, dek)) != 0) {
        if (rc == EBADMSG)
            rc = ccr_err_set(EACCES,
                             "refused: the dataset's key is not wrapped for the private key in %s "
                             "(it was sealed for another recipient, or " FMT_WRAPPED_DEK_OBJECT
                             " was altered)",
                             req->unwrap_key_file);
        goto out;
    }
    snprintf(info->method, sizeof info->method, "unwrap-key");
    snprintf(info->evidence, sizeof info->evidence, "none");
    snprintf(info->detail, sizeof info->detail, "unwrapped with a local recipient key");
out:
    EVP_PKEY_free(priv);
    free(doc);
    return rc;
}

int keys_release_obtain(const struct keys_release_request *req, struct fmt_dek **dek,
                        struct keys_release_info *info)
{
    int sources = (req->key_file != NULL) + (req->kbs_url != NULL) + (req->skr_url != NULL) +
                  (req->unwrap_key_file != NULL);

    memset(info, 0, sizeof *info);
    *dek = NULL;
    if (sources != 1)
        return ccr_err_set(EINVAL, "give exactly one key source (--key-file, --kbs, --skr or --unwrap-key)");
    if (req->unwrap_key_file != NULL)
        return release_unwrap(req, dek, info);
    if (req->key_file != NULL) {
        int rc = fmt_dek_load_file(req->key_file, dek);
        if (rc != 0)
            return rc;
        snprintf(info->method, sizeof info->method, "key-file");
        snprintf(info->evidence, sizeof info->evidence, "none");
        snprintf(info->detail, sizeof info->detail, "unattested key file");
        return 0;
    }
    if (req->kbs_url != NULL)
        return release_kbs(req, dek, info);
    return keys_skr_release(req, dek, info);
}
