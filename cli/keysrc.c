#include "cli/keysrc.h"
#include "cli/commands.h"
#include "cli/util.h"

#include <string.h>

int cli_keysrc_take(struct keys_release_request *req, int opt, const char *arg)
{
    switch (opt) {
    case CLI_KEYSRC_OPT_KEY:
        req->key_file = arg;
        return 1;
    case CLI_KEYSRC_OPT_KBS:
        req->kbs_url = arg;
        return 1;
    case CLI_KEYSRC_OPT_RESOURCE:
        req->resource = arg;
        return 1;
    case CLI_KEYSRC_OPT_ATTEST:
        req->attest = arg;
        return 1;
    case CLI_KEYSRC_OPT_SKR:
        req->skr_url = arg;
        return 1;
    case CLI_KEYSRC_OPT_SKR_MAA:
        req->skr_maa_endpoint = arg;
        return 1;
    case CLI_KEYSRC_OPT_SKR_AKV:
        req->skr_akv_endpoint = arg;
        return 1;
    case CLI_KEYSRC_OPT_SKR_KID:
        req->skr_kid = arg;
        return 1;
    case CLI_KEYSRC_OPT_BROKER_CA:
        req->ca_file = arg;
        return 1;
    case CLI_KEYSRC_OPT_UNWRAP_KEY:
        req->unwrap_key_file = arg;
        return 1;
    default:
        return 0;
    }
}

int cli_keysrc_check(const struct keys_release_request *req)
{
    int sources = (req->key_file != NULL) + (req->kbs_url != NULL) + (req->skr_url != NULL) +
                  (req->unwrap_key_file != NULL);

    if (sources == 0)
        return cli_usage("missing a key source: --key FILE, --kbs URL, --skr URL or --unwrap-key PEM");
    if (sources > 1)
        return cli_usage("give only one key source (--key, --kbs, --skr or --unwrap-key)");
    if (req->kbs_url != NULL && (req->resource == NULL || req->attest == NULL))
        return cli_usage("--kbs needs --resource REPO/TYPE/TAG and --attest sim:DIR|snp|aa:URL");
    if (req->kbs_url == NULL && (req->resource != NULL || req->attest != NULL))
        return cli_usage("--resource and --attest go with --kbs");
    if (req->skr_url != NULL && req->skr_kid == NULL)
        return cli_usage("--skr needs --skr-kid KID, --skr-maa HOST and --skr-akv HOST");
    return 0;
}
