/* Dispatches a key request to its source. */
#include "keys/release.h"
#include "common/err.h"

#include <stdio.h>
#include <string.h>

int keys_release_obtain(const struct keys_release_request *req, struct keys_dek **dek,
                        struct keys_release_info *info)
{
    int sources = (req->key_file != NULL) + (req->kbs_url != NULL) + (req->skr_url != NULL);

    memset(info, 0, sizeof *info);
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
    return ccr_err_set(ENOTSUP, "%s key release is not built into this version",
                       req->kbs_url != NULL ? "KBS" : "Azure SKR");
}
