/* Arguments under init-data (launch/initdata.h). */
#include "launch/initdata.h"
#include "common/err.h"
#include "fetch/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* URLs compare equal when they differ only by a trailing slash. */
static int same_url(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    while (la > 0 && a[la - 1] == '/')
        la--;
    while (lb > 0 && b[lb - 1] == '/')
        lb--;
    return la == lb && strncmp(a, b, la) == 0;
}

/* One setting: taken from the init-data when the command line left it open, refused when the
 * command line says otherwise. */
static int take_setting(const char *file, const char *option, const char **arg, const char *bound,
                        const char *what)
{
    if (bound == NULL)
        return 0;
    if (*arg != NULL && !same_url(*arg, bound)) {
        char shown[512]; /* a URL given may carry a token or userinfo: never in a message */
        fetch_url_scrub(*arg, shown, sizeof shown);
        return ccr_err_set(EINVAL, "%s %s contradicts the init-data %s, which names %s %s", option, shown,
                           file, what, bound);
    }
    *arg = bound;
    return 0;
}

static int is_local(const char *url)
{
    return strstr(url, "://") == NULL || strncmp(url, "file://", 7) == 0;
}

/* The store URL as given against a listed store: local folders by their real path, URLs by
 * their public form (no query, no userinfo). */
static int same_store(const char *given, const char *listed)
{
    if (is_local(given) && is_local(listed)) {
        char *a = realpath(strncmp(given, "file://", 7) == 0 ? given + 7 : given, NULL);
        char *b = realpath(strncmp(listed, "file://", 7) == 0 ? listed + 7 : listed, NULL);
        int same = a != NULL && b != NULL && strcmp(a, b) == 0;
        free(a);
        free(b);
        return same;
    }
    if (is_local(given) != is_local(listed))
        return 0;
    {
        size_t n = strlen(given) + 1;
        char *pub = malloc(n);
        int same;
        if (pub == NULL)
            return 0;
        fetch_url_public(given, pub, n);
        same = same_url(pub, listed);
        free(pub);
        return same;
    }
}

static const struct keys_initdata_dataset *pick_dataset(const struct keys_initdata *d, const char *file,
                                                        const struct launch_initdata_args *a, int *rc)
{
    const struct keys_initdata_ccrfs *c = &d->ccrfs;
    const struct keys_initdata_dataset *hit = NULL;
    size_t hits = 0;

    *rc = 0;
    if (a->dataset_id[0] != '\0') {
        if ((hit = keys_initdata_dataset(d, a->dataset_id)) == NULL)
            *rc = ccr_err_set(EINVAL,
                              "--dataset-id %s is not among the datasets the init-data %s lists (%zu, the "
                              "first %s)",
                              a->dataset_id, file, c->dataset_count, c->datasets[0].id);
        return hit;
    }
    for (size_t i = 0; i < c->dataset_count; i++)
        if (c->datasets[i].store != NULL && a->store_url != NULL &&
            same_store(a->store_url, c->datasets[i].store)) {
            hit = &c->datasets[i];
            hits++;
        }
    if (hits == 1)
        return hit;
    if (c->dataset_count == 1)
        return &c->datasets[0];
    *rc = ccr_err_set(EINVAL, "the init-data %s lists %zu datasets and none by this store: give --dataset-id",
                      file, c->dataset_count);
    return NULL;
}

static int apply_dataset(const struct keys_initdata *d, const char *file, struct launch_initdata_args *a)
{
    const struct keys_initdata_dataset *ds;
    enum fs_access_mode listed;
    int rc;

    if (d->ccrfs.dataset_count == 0)
        return 0;
    if ((ds = pick_dataset(d, file, a, &rc)) == NULL)
        return rc;
    if (ds->store != NULL && a->store_url != NULL && !same_store(a->store_url, ds->store)) {
        char shown[512];
        fetch_url_public(a->store_url, shown, sizeof shown);
        return ccr_err_set(EINVAL,
                           "STORE_URL %s contradicts the init-data %s, which names store %s for dataset %s",
                           shown, file, ds->store, ds->id);
    }
    listed = strcmp(ds->mode, "sink") == 0        ? FS_MODE_SINK
             : strcmp(ds->mode, "no-egress") == 0 ? FS_MODE_NO_EGRESS
                                                  : FS_MODE_READ_ONLY;
    if (a->mode_given && *a->mode != listed)
        return ccr_err_set(EINVAL,
                           "-o mode=%s contradicts the init-data %s, which names mode %s for dataset %s",
                           fs_access_mode_name(*a->mode), file, ds->mode, ds->id);
    *a->mode = listed;
    snprintf(a->dataset_id, FMT_DATASET_ID_LEN + 1, "%s", ds->id);
    return 0;
}

static int apply_keys(const struct keys_initdata *d, const char *file, struct launch_initdata_args *a)
{
    const struct keys_initdata_ccrfs *c = &d->ccrfs;
    struct keys_release_request *k = a->keys;
    int rc;

    if (c->broker != NULL && (k->key_file != NULL || k->skr_url != NULL || k->unwrap_key_file != NULL))
        return ccr_err_set(EINVAL, "%s contradicts the init-data %s, which names key broker %s",
                           k->key_file  ? "--key (a local key file)"
                           : k->skr_url ? "--skr (Azure Secure Key Release)"
                                        : "--unwrap-key",
                           file, c->broker);
    if ((rc = take_setting(file, "--kbs", &k->kbs_url, c->broker, "key broker")) != 0)
        return rc;
    if (*a->mode == FS_MODE_SINK || c->resource_count == 0)
        return 0;
    if (k->resource != NULL) {
        if (!keys_initdata_lists_resource(d, k->resource))
            return ccr_err_set(
                EINVAL,
                "--resource %s contradicts the init-data %s, which lists %zu resource%s (the first %s)",
                k->resource, file, c->resource_count, c->resource_count == 1 ? "" : "s", c->resources[0]);
        return 0;
    }
    if (c->resource_count > 1)
        return ccr_err_set(EINVAL, "the init-data %s lists %zu resources: give --resource", file,
                           c->resource_count);
    k->resource = c->resources[0];
    return 0;
}

int launch_initdata_apply(const struct keys_initdata *d, const char *file, struct launch_initdata_args *a)
{
    const struct keys_initdata_ccrfs *c = &d->ccrfs;
    int rc;

    if (!d->has_ccrfs)
        return ccr_err_set(EINVAL,
                           "the init-data %s has no [data].\"" KEYS_INITDATA_CCRFS_KEY
                           "\": nothing in it configures ccrfs",
                           file);
    if ((rc = take_setting(file, "--governance", &a->gov->governance_url, c->governance, "governance")) !=
            0 ||
        (rc = take_setting(file, "--contract", &a->gov->contract_id, c->contract, "contract")) != 0)
        return rc;
    if (c->governance_api != NULL) {
        const char *given = a->gov->governance_api;
        if (given != NULL && strcmp(given, c->governance_api) != 0)
            return ccr_err_set(EINVAL, "--governance-api %s contradicts the init-data %s, which names API %s",
                               given, file, c->governance_api);
        a->gov->governance_api = c->governance_api;
    }
    if ((rc = apply_dataset(d, file, a)) != 0)
        return rc;
    return apply_keys(d, file, a);
}
