/* Strict contract parser and the bytes that are signed (see contract.h). */
#include "governance/contract.h"
#include "common/encoding.h"
#include "common/err.h"
#include "common/fileio.h"
#include "governance/canon.h"
#include "governance/cose.h"
#include "governance/depa.h"
#include "governance/event.h"
#include "governance/sign.h"
#include "format/crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char signed_prefix[] = "ccrfs-contract-v1\n";

static int valid_name(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
              ch == '_' || ch == '.' || ch == ':'))
            return 0;
    }
    return 1;
}

static int check_keys(json_object *obj, const char *where, const char *const *allowed)
{
    return gov_json_check_fields(obj, "contract", where, allowed);
}

/* A required (or optional) string field. */
static int get_str(json_object *obj, const char *where, const char *key, int required, size_t max, char **out)
{
    json_object *v;
    *out = NULL;
    if (!json_object_object_get_ex(obj, key, &v)) {
        if (required)
            return ccr_err_set(EINVAL, "contract: %s: \"%s\" is missing", where, key);
        *out = strdup("");
        return *out ? 0 : ENOMEM;
    }
    if (!json_object_is_type(v, json_type_string))
        return ccr_err_set(EINVAL, "contract: %s: \"%s\" must be a string", where, key);
    if (json_object_get_string_len(v) == 0 || (size_t)json_object_get_string_len(v) > max)
        return ccr_err_set(EINVAL, "contract: %s: \"%s\" must have 1 to %zu characters", where, key, max);
    *out = strdup(json_object_get_string(v));
    return *out ? 0 : ENOMEM;
}

static int get_u64(json_object *obj, const char *where, const char *key, int required, uint64_t min,
                   uint64_t *out)
{
    json_object *v;
    int64_t x;
    if (!json_object_object_get_ex(obj, key, &v)) {
        if (required)
            return ccr_err_set(EINVAL, "contract: %s: \"%s\" is missing", where, key);
        *out = 0;
        return 0;
    }
    if (!json_object_is_type(v, json_type_int))
        return ccr_err_set(EINVAL, "contract: %s: \"%s\" must be an integer", where, key);
    x = json_object_get_int64(v);
    if (x < (int64_t)min || x == INT64_MAX)
        return ccr_err_set(EINVAL, "contract: %s: \"%s\" must be at least %llu", where, key,
                           (unsigned long long)min);
    *out = (uint64_t)x;
    return 0;
}

static int get_bool(json_object *obj, const char *where, const char *key, int *out)
{
    json_object *v;
    *out = 0;
    if (!json_object_object_get_ex(obj, key, &v))
        return 0;
    if (!json_object_is_type(v, json_type_boolean))
        return ccr_err_set(EINVAL, "contract: %s: \"%s\" must be true or false", where, key);
    *out = json_object_get_boolean(v);
    return 0;
}

static int parse_party(json_object *p, size_t i, struct gov_contract_party *out)
{
    static const char *const allowed[] = {"id", "role", "name", "publicKey", NULL};
    char where[48];
    struct gov_key *k = NULL;
    int rc;

    snprintf(where, sizeof where, "parties[%zu]", i);
    if (!json_object_is_type(p, json_type_object))
        return ccr_err_set(EINVAL, "contract: %s must be an object", where);
    if ((rc = check_keys(p, where, allowed)) != 0 || (rc = get_str(p, where, "id", 1, 128, &out->id)) != 0 ||
        (rc = get_str(p, where, "role", 1, 64, &out->role)) != 0 ||
        (rc = get_str(p, where, "publicKey", 1, 4096, &out->public_key)) != 0)
        return rc;
    if (!valid_name(out->id, 128))
        return ccr_err_set(EINVAL, "contract: %s: \"id\" may hold only letters, digits, '-', '_', '.', ':'",
                           where);
    {
        char *name;
        if ((rc = get_str(p, where, "name", 0, 256, &name)) != 0)
            return rc;
        free(name);
    }
    if (gov_key_from_public_b64(out->public_key, &k) != 0)
        return ccr_err_wrap(EINVAL, "contract: %s: \"publicKey\": ", where);
    gov_key_free(k);
    return 0;
}

static int parse_dataset(struct gov_contract *c, json_object *d, size_t i, struct gov_contract_dataset *out)
{
    static const char *const allowed[] = {"id",         "name",          "provider",
                                          "accessMode", "maxMounts",     "maxBytesPerMount",
                                          "recipient",  "plaintextHash", NULL};
    char where[48], *id = NULL, *mode = NULL;
    int rc;

    snprintf(where, sizeof where, "datasets[%zu]", i);
    if (!json_object_is_type(d, json_type_object))
        return ccr_err_set(EINVAL, "contract: %s must be an object", where);
    if ((rc = check_keys(d, where, allowed)) != 0 || (rc = get_str(d, where, "id", 1, 80, &id)) != 0)
        goto out;
    if (!gov_dataset_id_valid(id)) {
        rc = ccr_err_set(EINVAL, "contract: %s: \"id\" must be \"sha256:\" and 64 lowercase hex digits",
                         where);
        goto out;
    }
    memcpy(out->id, id, GOV_DATASET_ID_LEN + 1);
    if ((rc = get_str(d, where, "name", 0, 256, &out->name)) != 0 ||
        (rc = get_str(d, where, "provider", 1, 128, &out->provider)) != 0 ||
        (rc = get_str(d, where, "accessMode", 1, 32, &mode)) != 0 ||
        (rc = get_u64(d, where, "maxMounts", 1, 1, &out->max_mounts)) != 0 ||
        (rc = get_u64(d, where, "maxBytesPerMount", 0, 1, &out->max_bytes_per_mount)) != 0 ||
        (rc = get_str(d, where, "recipient", 0, 128, &out->recipient)) != 0 ||
        (rc = get_bool(d, where, "plaintextHash", &out->plaintext_hash)) != 0)
        goto out;
    if (gov_contract_party(c, out->provider) == NULL) {
        rc = ccr_err_set(EINVAL, "contract: %s: provider \"%s\" is not one of the parties", where,
                         out->provider);
        goto out;
    }
    if (strcmp(mode, "read-only") == 0)
        out->mode = GOV_MODE_READ_ONLY;
    else if (strcmp(mode, "no-egress") == 0)
        out->mode = GOV_MODE_NO_EGRESS;
    else if (strcmp(mode, "sink") == 0)
        out->mode = GOV_MODE_SINK;
    else {
        rc = ccr_err_set(EINVAL,
                         "contract: %s: \"accessMode\" must be read-only, no-egress or sink, not \"%s\"",
                         where, mode);
        goto out;
    }
    if (out->mode == GOV_MODE_SINK && out->recipient[0] == '\0') {
        rc = ccr_err_set(EINVAL, "contract: %s: a sink dataset needs a \"recipient\"", where);
        goto out;
    }
    if (out->mode != GOV_MODE_SINK && out->recipient[0] != '\0') {
        rc = ccr_err_set(EINVAL, "contract: %s: \"recipient\" belongs only to sink datasets", where);
        goto out;
    }
    if (out->recipient[0] != '\0' && gov_contract_party(c, out->recipient) == NULL) {
        rc = ccr_err_set(EINVAL, "contract: %s: recipient \"%s\" is not one of the parties", where,
                         out->recipient);
        goto out;
    }
out:
    free(id);
    free(mode);
    return rc;
}

static int get_time(json_object *obj, const char *key, int64_t *ms)
{
    char *t;
    int rc = get_str(obj, "contract", key, 1, 32, &t);
    if (rc != 0)
        return rc;
    rc = gov_time_parse_ms(t, ms);
    free(t);
    return rc != 0 ? ccr_err_wrap(EINVAL, "contract: \"%s\": ", key) : 0;
}

static int parse_doc(struct gov_contract *c)
{
    static const char *const allowed[] = {"schemaVersion", "id",        "name",       "description",
                                          "parties",       "startTime", "expiryTime", "purpose",
                                          "datasets",      "terms",     NULL};
    json_object *v = c->json, *arr;
    char *tmp;
    int rc;

    if (!json_object_is_type(v, json_type_object))
        return ccr_err_set(EINVAL, "contract: must be a JSON object");
    if (gov_depa_detect(v)) {
        c->format = GOV_CONTRACT_DEPA;
        return gov_depa_parse(c);
    }
    if ((rc = check_keys(v, "top level", allowed)) != 0)
        return rc;
    if ((rc = get_str(v, "top level", "id", 1, 128, &c->id)) != 0)
        return rc;
    if (!valid_name(c->id, 128))
        return ccr_err_set(EINVAL, "contract: \"id\" may hold only letters, digits, '-', '_', '.', ':'");
    if ((rc = get_str(v, "top level", "schemaVersion", 0, 32, &tmp)) != 0)
        return rc;
    free(tmp);
    if ((rc = get_str(v, "top level", "name", 0, 256, &tmp)) != 0)
        return rc;
    free(tmp);
    if ((rc = get_str(v, "top level", "description", 0, 4096, &tmp)) != 0)
        return rc;
    free(tmp);
    if ((rc = get_str(v, "top level", "purpose", 1, 256, &c->purpose)) != 0)
        return rc;
    if ((rc = get_time(v, "startTime", &c->start_ms)) != 0 ||
        (rc = get_time(v, "expiryTime", &c->expiry_ms)) != 0)
        return rc;
    if (c->expiry_ms <= c->start_ms)
        return ccr_err_set(EINVAL, "contract: \"expiryTime\" must be after \"startTime\"");
    if (!json_object_object_get_ex(v, "parties", &arr) || !json_object_is_type(arr, json_type_array) ||
        json_object_array_length(arr) == 0 || json_object_array_length(arr) > 64)
        return ccr_err_set(EINVAL, "contract: \"parties\" must be an array of 1 to 64 parties");
    c->nparties = json_object_array_length(arr);
    c->parties = calloc(c->nparties, sizeof *c->parties);
    if (c->parties == NULL)
        return ENOMEM;
    for (size_t i = 0; i < c->nparties; i++) {
        if ((rc = parse_party(json_object_array_get_idx(arr, i), i, &c->parties[i])) != 0)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->parties[j].id, c->parties[i].id) == 0)
                return ccr_err_set(EINVAL, "contract: parties[%zu]: id \"%s\" appears twice", i,
                                   c->parties[i].id);
    }
    if (!json_object_object_get_ex(v, "datasets", &arr) || !json_object_is_type(arr, json_type_array) ||
        json_object_array_length(arr) == 0 || json_object_array_length(arr) > 1024)
        return ccr_err_set(EINVAL, "contract: \"datasets\" must be an array of 1 to 1024 datasets");
    c->ndatasets = json_object_array_length(arr);
    c->datasets = calloc(c->ndatasets, sizeof *c->datasets);
    if (c->datasets == NULL)
        return ENOMEM;
    for (size_t i = 0; i < c->ndatasets; i++) {
        if ((rc = parse_dataset(c, json_object_array_get_idx(arr, i), i, &c->datasets[i])) != 0)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->datasets[j].id, c->datasets[i].id) == 0)
                return ccr_err_set(EINVAL, "contract: datasets[%zu]: dataset %s appears twice", i,
                                   c->datasets[i].id);
    }
    return 0;
}

int gov_contract_parse(const char *text, size_t len, struct gov_contract **out)
{
    struct gov_contract *c;
    char *bytes;
    size_t blen;
    uint8_t digest[FMT_SHA256_LEN];
    int rc;

    if (len > GOV_CONTRACT_MAX_BYTES)
        return ccr_err_set(EFBIG, "contract: %zu bytes, more than the %d allowed", len,
                           GOV_CONTRACT_MAX_BYTES);
    c = calloc(1, sizeof *c);
    if (c == NULL)
        return ENOMEM;
    if ((rc = gov_json_parse(text, len, "contract", &c->json)) != 0 || (rc = parse_doc(c)) != 0 ||
        (rc = gov_canon_json(c->json, NULL, &c->canonical, &c->canonical_len)) != 0 ||
        (rc = gov_contract_signed_bytes(c, &bytes, &blen)) != 0) {
        gov_contract_free(c);
        return rc;
    }
    fmt_sha256(bytes, blen, digest);
    free(bytes);
    ccr_hex_encode(digest, sizeof digest, c->digest);
    *out = c;
    return 0;
}

int gov_contract_load_file(const char *path, struct gov_contract **out)
{
    uint8_t *data;
    size_t len;
    int rc = ccr_read_file(path, GOV_CONTRACT_MAX_BYTES, &data, &len);
    if (rc != 0)
        return rc;
    rc = gov_contract_parse((char *)data, len, out);
    free(data);
    return rc != 0 ? ccr_err_wrap(rc, "%s: ", path) : 0;
}

void gov_contract_free(struct gov_contract *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; c->parties != NULL && i < c->nparties; i++) {
        free(c->parties[i].id);
        free(c->parties[i].role);
        free(c->parties[i].public_key);
    }
    for (size_t i = 0; c->datasets != NULL && i < c->ndatasets; i++) {
        free(c->datasets[i].name);
        free(c->datasets[i].provider);
        free(c->datasets[i].recipient);
        free(c->datasets[i].url);
        free(c->datasets[i].key_type);
        free(c->datasets[i].key_kid);
        free(c->datasets[i].key_authority);
        free(c->datasets[i].key_endpoint);
    }
    free(c->parties);
    free(c->datasets);
    free(c->id);
    free(c->purpose);
    free(c->canonical);
    json_object_put(c->json);
    free(c);
}

int gov_contract_signed_bytes(const struct gov_contract *c, char **out, size_t *out_len)
{
    size_t plen = sizeof signed_prefix - 1;
    char *b = malloc(plen + c->canonical_len + 1);
    if (b == NULL)
        return ENOMEM;
    memcpy(b, signed_prefix, plen);
    memcpy(b + plen, c->canonical, c->canonical_len + 1);
    *out = b;
    *out_len = plen + c->canonical_len;
    return 0;
}

int gov_contract_revoke_bytes(const struct gov_contract *c, char **out, size_t *out_len)
{
    size_t len = strlen(c->id) + 128;
    char *b = malloc(len);
    int n;
    if (b == NULL)
        return ENOMEM;
    n = snprintf(b, len, "ccrfs-contract-revoke-v1\n%s\n%s", c->id, c->digest);
    *out = b;
    *out_len = (size_t)n;
    return 0;
}

int gov_contract_check_sig(const struct gov_contract *c, const char *party, const void *msg, size_t len,
                           const char *sig_b64)
{
    const struct gov_contract_party *p = gov_contract_party(c, party);
    struct gov_key *k;
    int rc;
    if (p == NULL)
        return ccr_err_set(ENOENT, "\"%s\" is not a party to contract %s", party, c->id);
    if (p->public_key == NULL)
        return ccr_err_set(ENOKEY, "party \"%s\" of contract %s has no registered key", party, c->id);
    if (strncmp(sig_b64, GOV_COSE_SIG_PREFIX, strlen(GOV_COSE_SIG_PREFIX)) == 0) {
        /* A COSE_Sign1 by the party's key over the same bytes (attached or detached). */
        rc = gov_cose_verify_b64(sig_b64 + strlen(GOV_COSE_SIG_PREFIX), p->public_key, msg, len, NULL);
        if (rc != 0)
            return ccr_err_wrap(rc == EBADMSG ? EBADMSG : EINVAL,
                                "COSE signature of party \"%s\" on contract %s: ", party, c->id);
        return 0;
    }
    if ((rc = gov_key_from_public_b64(p->public_key, &k)) != 0)
        return rc;
    rc = gov_key_verify_b64(k, msg, len, sig_b64);
    gov_key_free(k);
    if (rc != 0)
        return ccr_err_set(rc == EBADMSG ? EBADMSG : EINVAL,
                           "signature of party \"%s\" on contract %s does not verify", party, c->id);
    return 0;
}

const struct gov_contract_party *gov_contract_party(const struct gov_contract *c, const char *id)
{
    for (size_t i = 0; i < c->nparties; i++)
        if (c->parties[i].id != NULL && strcmp(c->parties[i].id, id) == 0)
            return &c->parties[i];
    return NULL;
}

const struct gov_contract_dataset *gov_contract_dataset(const struct gov_contract *c, const char *dataset_id)
{
    for (size_t i = 0; i < c->ndatasets; i++)
        if (c->datasets[i].id[0] != '\0' && strcmp(c->datasets[i].id, dataset_id) == 0)
            return &c->datasets[i];
    return NULL;
}

const char *gov_access_mode_name(enum gov_access_mode m)
{
    switch (m) {
    case GOV_MODE_READ_ONLY:
        return "read-only";
    case GOV_MODE_NO_EGRESS:
        return "no-egress";
    case GOV_MODE_SINK:
        return "sink";
    }
    return "?";
}

const struct gov_contract_dataset *gov_contract_dataset_by_uuid(const struct gov_contract *c,
                                                                const char *uuid)
{
    for (size_t i = 0; i < c->ndatasets; i++)
        if (c->datasets[i].uuid[0] != '\0' && strcasecmp(c->datasets[i].uuid, uuid) == 0)
            return &c->datasets[i];
    return NULL;
}

const char *gov_contract_format_name(enum gov_contract_format f)
{
    return f == GOV_CONTRACT_DEPA ? "depa" : "ccrfs";
}

int gov_contract_bind_key(struct gov_contract *c, const char *party, const char *public_key_b64)
{
    struct gov_contract_party *p = NULL;
    struct gov_key *k = NULL;

    for (size_t i = 0; i < c->nparties; i++)
        if (strcmp(c->parties[i].id, party) == 0)
            p = &c->parties[i];
    if (p == NULL)
        return ccr_err_set(ENOENT, "\"%s\" is not a party to contract %s", party, c->id);
    if (p->public_key != NULL)
        return strcmp(p->public_key, public_key_b64) == 0
                   ? 0
                   : ccr_err_set(EEXIST, "contract %s: party %s has another key already", c->id, party);
    if (gov_key_from_public_b64(public_key_b64, &k) != 0)
        return ccr_err_wrap(EINVAL, "contract %s: the key of party %s: ", c->id, party);
    gov_key_free(k);
    p->public_key = strdup(public_key_b64);
    return p->public_key != NULL ? 0 : ENOMEM;
}

int gov_contract_bind_dataset(struct gov_contract *c, const char *uuid, const char *dataset_id)
{
    struct gov_contract_dataset *d = NULL;

    for (size_t i = 0; i < c->ndatasets; i++)
        if (c->datasets[i].uuid[0] != '\0' && strcasecmp(c->datasets[i].uuid, uuid) == 0)
            d = &c->datasets[i];
    if (d == NULL)
        return ccr_err_set(ENOENT, "contract %s does not name dataset %s", c->id, uuid);
    if (!gov_dataset_id_valid(dataset_id))
        return ccr_err_set(EINVAL, "dataset %s: \"%s\" is not a dataset id (sha256:...)", uuid, dataset_id);
    if (d->id[0] != '\0')
        return strcmp(d->id, dataset_id) == 0
                   ? 0
                   : ccr_err_set(EEXIST, "contract %s: dataset %s is bound to another id already", c->id,
                                 uuid);
    for (size_t i = 0; i < c->ndatasets; i++)
        if (strcmp(c->datasets[i].id, dataset_id) == 0)
            return ccr_err_set(EEXIST, "contract %s: datasets %s and %s are both registered as %s", c->id,
                               c->datasets[i].uuid, uuid, dataset_id);
    memcpy(d->id, dataset_id, GOV_DATASET_ID_LEN + 1);
    return 0;
}

int gov_dataset_id_valid(const char *s)
{
    if (strlen(s) != GOV_DATASET_ID_LEN || strncmp(s, "sha256:", 7) != 0)
        return 0;
    for (size_t k = 7; k < GOV_DATASET_ID_LEN; k++)
        if (!((s[k] >= '0' && s[k] <= '9') || (s[k] >= 'a' && s[k] <= 'f')))
            return 0;
    return 1;
}

int gov_uuid_valid(const char *s)
{
    if (strlen(s) != GOV_UUID_LEN)
        return 0;
    for (size_t i = 0; i < GOV_UUID_LEN; i++) {
        char ch = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (ch != '-')
                return 0;
        } else if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F'))) {
            return 0;
        }
    }
    return 1;
}
