/* Dispatches a key request to its source. */
#include "keys/release.h"
#include "common/err.h"
#include "common/log.h"
#include "common/secmem.h"
#include "keys/kbs/client.h"
#include "keys/skr/skr.h"

#include <stdio.h>
#include <string.h>

static int release_kbs(const struct keys_release_request *req, struct keys_dek **dek,
                       struct keys_release_info *info)
{
    uint8_t *value = NULL;
    size_t len = 0;
    int rc;

    if (req->resource == NULL || req->attest == NULL)
        return ccr_err_set(EINVAL,
                           "a KBS key source needs a resource (REPO/TYPE/TAG) and evidence (sim:DIR or snp)");
    rc = keys_kbs_fetch(req->kbs_url, req->ca_file, req->resource, req->attest, &value, &len, info->detail,
                        sizeof info->detail);
    if (rc != 0)
        return rc;
    if (len != KEYS_DEK_LEN) {
        ccr_secmem_free(value, len);
        return ccr_err_set(EINVAL, "key broker %s: resource %s holds %zu bytes, a data key is %d",
                           req->kbs_url, req->resource, len, KEYS_DEK_LEN);
    }
    rc = keys_dek_from_bytes(value, len, dek);
    ccr_secmem_free(value, len);
    if (rc != 0)
        return rc;
    info->attested = 1;
    snprintf(info->method, sizeof info->method, "kbs");
    snprintf(info->broker, sizeof info->broker, "%s", req->kbs_url);
    snprintf(info->evidence, sizeof info->evidence, "%s",
             strncmp(req->attest, "sim:", 4) == 0 ? "sim" : "snp");
    return 0;
}

int keys_release_obtain(const struct keys_release_request *req, struct keys_dek **dek,
                        struct keys_release_info *info)
{
    int sources = (req->key_file != NULL) + (req->kbs_url != NULL) + (req->skr_url != NULL);

    memset(info, 0, sizeof *info);
    *dek = NULL;
    if (sources != 1)
        return ccr_err_set(EINVAL, "give exactly one key source (--key-file, --kbs or --skr)");
    if (req->key_file != NULL) {
        int rc = keys_dek_load_file(req->key_file, dek);
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
