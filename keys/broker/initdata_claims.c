/* Init-data claims: the shared init-data reader (keys/initdata.h) turned into the JSON claims
 * release policies and the contract gate read. */
#include "keys/broker/initdata_claims.h"
#include "common/encoding.h"
#include "common/err.h"
#include "keys/initdata.h"

#include <json-c/json.h>
#include <string.h>

static void add_str(struct json_object *o, const char *key, const char *value)
{
    if (value != NULL)
        json_object_object_add(o, key, json_object_new_string(value));
}

static struct json_object *ccrfs_claims(const struct keys_initdata_ccrfs *c)
{
    struct json_object *o = json_object_new_object(), *arr;

    add_str(o, "governance", c->governance);
    add_str(o, "governanceApi", c->governance_api);
    add_str(o, "contract", c->contract);
    add_str(o, "broker", c->broker);
    if (c->datasets != NULL) {
        arr = json_object_new_array();
        for (size_t i = 0; i < c->dataset_count; i++) {
            struct json_object *d = json_object_new_object();
            add_str(d, "id", c->datasets[i].id);
            add_str(d, "mode", c->datasets[i].mode);
            add_str(d, "store", c->datasets[i].store);
            json_object_array_add(arr, d);
        }
        json_object_object_add(o, "datasets", arr);
    }
    if (c->resources != NULL) {
        arr = json_object_new_array();
        for (size_t i = 0; i < c->resource_count; i++)
            json_object_array_add(arr, json_object_new_string(c->resources[i]));
        json_object_object_add(o, "resources", arr);
    }
    return o;
}

int keys_initdata_claims(const char *toml, const uint8_t *digest, size_t dlen, struct json_object **out)
{
    struct keys_initdata d;
    struct json_object *claims;
    char hex[2 * KEYS_INITDATA_MAX_DIGEST + 1];
    int rc;

    *out = NULL;
    if (dlen == 0 || dlen > KEYS_INITDATA_MAX_DIGEST)
        return ccr_err_set(EINVAL, "init-data: a digest of %zu bytes", dlen);
    if ((rc = keys_initdata_parse(toml, strlen(toml), "init-data", &d)) != 0)
        return rc;
    claims = json_object_new_object();
    ccr_hex_encode(digest, dlen, hex);
    json_object_object_add(claims, "digest", json_object_new_string(hex));
    if (d.has_ccrfs)
        json_object_object_add(claims, "ccrfs", ccrfs_claims(&d.ccrfs));
    keys_initdata_free(&d);
    *out = claims;
    return 0;
}
