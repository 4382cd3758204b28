#include "launch/dataset.h"
#include "common/err.h"
#include "fetch/http.h"

#include <stdlib.h>
#include <string.h>

#define LAUNCH_URL_SHOWN_MAX 512

int launch_store_open(const char *url, struct fetch_store **out)
{
    struct fetch_options opt;
    char shown[LAUNCH_URL_SHOWN_MAX];
    int rc;

    *out = NULL;
    memset(&opt, 0, sizeof opt);
    if ((rc = fetch_options_from_env(&opt)) != 0)
        return ccr_err_wrap(rc, "store options: ");
    fetch_url_scrub(url, shown, sizeof shown);
    if ((rc = fetch_store_open(url, &opt, out)) != 0) {
        /* Stores name themselves (scrubbed) in most of their messages: say it once. */
        if (strstr(ccr_err_msg(rc), shown) != NULL)
            return rc;
        return ccr_err_wrap(rc, "%s: ", shown);
    }
    return 0;
}

int launch_dataset_id(struct fetch_store *store, const char *url, const char *expect_id,
                      char id[FMT_DATASET_ID_LEN + 1])
{
    char shown[LAUNCH_URL_SHOWN_MAX];
    uint8_t *obj = NULL;
    size_t len;
    int rc;

    fetch_url_scrub(url, shown, sizeof shown);
    if ((rc = fetch_read_object(store, FMT_MANIFEST_NAME, FMT_MANIFEST_MAX, &obj, &len)) != 0) {
        if (rc == ENOENT)
            return ccr_err_set(ENOENT, "%s: not a dataset: no %s", shown, FMT_MANIFEST_NAME);
        return ccr_err_wrap(rc, "%s: ", shown);
    }
    fmt_dataset_id(obj, len, id);
    free(obj);
    if (expect_id != NULL && strcmp(expect_id, id) != 0)
        return ccr_err_set(EPERM, "%s: dataset id mismatch: expected %s, the manifest is %s", shown,
                           expect_id, id);
    return 0;
}

int launch_dataset_open(const char *url, const struct keys_release_request *keys, const char *expect_id,
                        struct launch_dataset *out)
{
    struct keys_release_request req = *keys;
    char shown[LAUNCH_URL_SHOWN_MAX];
    int rc;

    memset(out, 0, sizeof *out);
    if ((rc = launch_store_open(url, &out->store)) != 0)
        return rc;
    req.dataset_store = out->store;
    if ((rc = keys_release_obtain(&req, &out->dek, &out->key_info)) != 0) {
        rc = ccr_err_wrap(rc, "key: ");
        goto fail;
    }
    if ((rc = fmt_dataset_open(out->store, out->dek, expect_id, &out->ds)) != 0) {
        fetch_url_scrub(url, shown, sizeof shown);
        rc = ccr_err_wrap(rc, "%s: ", shown);
        goto fail;
    }
    return 0;
fail:
    launch_dataset_close(out);
    return rc;
}

void launch_dataset_close(struct launch_dataset *d)
{
    fmt_dataset_close(d->ds);
    fetch_store_destroy(d->store);
    fmt_dek_free(d->dek);
    d->ds = NULL;
    d->store = NULL;
    d->dek = NULL;
}
