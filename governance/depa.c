/* Strict parser of DEPA training contracts (see depa.h). */
#include "governance/depa.h"
#include "common/encoding.h"
#include "common/err.h"
#include "common/secmem.h"
#include "governance/admission.h"
#include "governance/canon.h"
#include "governance/client.h"
#include "governance/http.h"
#include "governance/sign.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include "governance/event.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEPA_MAX_PARTIES  64
#define DEPA_MAX_DATASETS 1024

static int check_fields(json_object *obj, const char *where, const char *const *allowed)
{
    return gov_json_check_fields(obj, "DEPA contract", where, allowed);
}

/* A string field; *out is NULL when absent and not required. empty_ok allows "". */
static int str_field(json_object *obj, const char *where, const char *key, int required, int empty_ok,
                     size_t max, const char **out)
{
    json_object *v;
    size_t n;

    *out = NULL;
    if (!json_object_object_get_ex(obj, key, &v))
        return required ? ccr_err_set(EINVAL, "DEPA contract: %s: \"%s\" is missing", where, key) : 0;
    if (!json_object_is_type(v, json_type_string))
        return ccr_err_set(EINVAL, "DEPA contract: %s: \"%s\" must be a string", where, key);
    n = (size_t)json_object_get_string_len(v);
    if ((n == 0 && !empty_ok) || n > max)
        return ccr_err_set(EINVAL, "DEPA contract: %s: \"%s\" must have %d to %zu characters", where, key,
                           empty_ok ? 0 : 1, max);
    *out = json_object_get_string(v);
    if (strchr(*out, '$') != NULL)
        return ccr_err_set(EINVAL, "DEPA contract: %s: \"%s\" holds an unfilled placeholder: \"%s\"", where,
                           key, *out);
    return 0;
}

static int dup_str(const char *s, char **out)
{
    *out = strdup(s != NULL ? s : "");
    return *out != NULL ? 0 : ENOMEM;
}

/* A party id: a DID (did:web:host[:path], percent-encoded) or a plain name. */
int gov_party_id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 256)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
              ch == '_' || ch == '.' || ch == ':' || ch == '%'))
            return 0;
    }
    return 1;
}

/* Adds a party unless it is there already (a TDP may also own a dataset). */
static int add_party(struct gov_contract *c, const char *id, const char *role, const char *where)
{
    struct gov_contract_party *p;

    if (!gov_party_id_valid(id))
        return ccr_err_set(EINVAL,
                           "DEPA contract: %s: \"%s\" is not a DID or name (letters, digits, '-', '_', '.', "
                           "':', '%%')",
                           where, id);
    if (gov_contract_party(c, id) != NULL)
        return 0;
    if (c->nparties == DEPA_MAX_PARTIES)
        return ccr_err_set(EINVAL, "DEPA contract: more than %d parties", DEPA_MAX_PARTIES);
    p = &c->parties[c->nparties];
    if ((p->id = strdup(id)) == NULL || (p->role = strdup(role)) == NULL)
        return ENOMEM;
    p->public_key = NULL; /* from the party registry */
    c->nparties++;
    return 0;
}

static int parse_key(json_object *key, const char *where, struct gov_contract_dataset *d)
{
    static const char *const key_fields[] = {"type", "properties", NULL};
    static const char *const prop_fields[] = {"kid", "authority", "endpoint", NULL};
    static const char *const auth_fields[] = {"endpoint", NULL};
    json_object *props, *auth;
    const char *type, *kid, *authority, *endpoint;
    char w[96];
    int rc;

    snprintf(w, sizeof w, "%s.key", where);
    if (!json_object_is_type(key, json_type_object))
        return ccr_err_set(EINVAL, "DEPA contract: %s must be an object", w);
    if ((rc = check_fields(key, w, key_fields)) != 0 ||
        (rc = str_field(key, w, "type", 1, 0, 32, &type)) != 0)
        return rc;
    if (strcmp(type, "azure") != 0)
        return ccr_err_set(EINVAL, "DEPA contract: %s: \"type\" \"%s\" is not known; only \"azure\" (SKR) is",
                           w, type);
    if (!json_object_object_get_ex(key, "properties", &props) ||
        !json_object_is_type(props, json_type_object))
        return ccr_err_set(EINVAL, "DEPA contract: %s: \"properties\" must be an object", w);
    snprintf(w, sizeof w, "%s.key.properties", where);
    if ((rc = check_fields(props, w, prop_fields)) != 0 ||
        (rc = str_field(props, w, "kid", 1, 0, 256, &kid)) != 0 ||
        (rc = str_field(props, w, "endpoint", 0, 1, 512, &endpoint)) != 0)
        return rc;
    if (!json_object_object_get_ex(props, "authority", &auth) || !json_object_is_type(auth, json_type_object))
        return ccr_err_set(EINVAL,
                           "DEPA contract: %s: \"authority\" must be an object {\"endpoint\": MAA host}", w);
    snprintf(w, sizeof w, "%s.key.properties.authority", where);
    if ((rc = check_fields(auth, w, auth_fields)) != 0 ||
        (rc = str_field(auth, w, "endpoint", 1, 0, 512, &authority)) != 0)
        return rc;
    if ((rc = dup_str(type, &d->key_type)) != 0 || (rc = dup_str(kid, &d->key_kid)) != 0 ||
        (rc = dup_str(authority, &d->key_authority)) != 0 || (rc = dup_str(endpoint, &d->key_endpoint)) != 0)
        return rc;
    return 0;
}

static int parse_dataset(struct gov_contract *c, json_object *o, size_t i)
{
    static const char *const fields[] = {"id", "owner", "name", "url", "provider", "key", NULL};
    struct gov_contract_dataset *d = &c->datasets[i];
    const char *id, *owner, *name, *url, *provider;
    json_object *key;
    char where[48];
    int rc;

    snprintf(where, sizeof where, "datasets[%zu]", i);
    if (!json_object_is_type(o, json_type_object))
        return ccr_err_set(EINVAL, "DEPA contract: %s must be an object", where);
    if ((rc = check_fields(o, where, fields)) != 0 || (rc = str_field(o, where, "id", 1, 0, 64, &id)) != 0 ||
        (rc = str_field(o, where, "owner", 1, 0, 256, &owner)) != 0 ||
        (rc = str_field(o, where, "name", 0, 1, 256, &name)) != 0 ||
        (rc = str_field(o, where, "url", 1, 0, 2048, &url)) != 0 ||
        (rc = str_field(o, where, "provider", 0, 1, 256, &provider)) != 0)
        return rc;
    if (!gov_uuid_valid(id))
        return ccr_err_set(EINVAL,
                           "DEPA contract: %s: \"id\" must be a UUID (8-4-4-4-12 hex digits), not \"%s\"",
                           where, id);
    if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
        return ccr_err_set(EINVAL, "DEPA contract: %s: \"url\" must be an http(s) URL, not \"%s\"", where,
                           url);
    if (!json_object_object_get_ex(o, "key", &key))
        return ccr_err_set(EINVAL, "DEPA contract: %s: \"key\" is missing", where);
    if ((rc = parse_key(key, where, d)) != 0)
        return rc;
    {
        char w[64];
        snprintf(w, sizeof w, "%s.owner", where);
        if ((rc = add_party(c, owner, "owner", w)) != 0)
            return rc;
    }
    for (size_t j = 0; j < i; j++)
        if (strcasecmp(c->datasets[j].uuid, id) == 0)
            return ccr_err_set(EINVAL, "DEPA contract: %s: dataset %s appears twice", where, id);
    memcpy(d->uuid, id, GOV_UUID_LEN + 1);
    d->id[0] = '\0'; /* the pinned id comes from the dataset registry */
    d->mode = GOV_MODE_READ_ONLY;
    d->max_mounts = (uint64_t)INT64_MAX; /* DEPA contracts set no use budget */
    if ((rc = dup_str(name, &d->name)) != 0 || (rc = dup_str(owner, &d->provider)) != 0 ||
        (rc = dup_str("", &d->recipient)) != 0 || (rc = dup_str(url, &d->url)) != 0)
        return rc;
    return 0;
}

/* constraints: [{"privacy": [{"dataset": UUID, "epsilon_threshold", "noise_multiplier", "delta",
 * "epochs_per_report"}]}]: kept as written (ccrfs cannot enforce differential privacy), but each
 * entry must name a dataset of the contract. */
static int parse_constraints(struct gov_contract *c, json_object *arr)
{
    static const char *const fields[] = {"privacy", NULL};
    static const char *const privacy_fields[] = {"dataset", "epsilon_threshold", "noise_multiplier",
                                                 "delta",   "epochs_per_report", NULL};
    char where[64];
    int rc;

    if (!json_object_is_type(arr, json_type_array))
        return ccr_err_set(EINVAL, "DEPA contract: \"constraints\" must be an array");
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        json_object *o = json_object_array_get_idx(arr, i), *priv;
        snprintf(where, sizeof where, "constraints[%zu]", i);
        if (!json_object_is_type(o, json_type_object))
            return ccr_err_set(EINVAL, "DEPA contract: %s must be an object", where);
        if ((rc = check_fields(o, where, fields)) != 0)
            return rc;
        if (!json_object_object_get_ex(o, "privacy", &priv))
            continue;
        if (!json_object_is_type(priv, json_type_array))
            return ccr_err_set(EINVAL, "DEPA contract: %s: \"privacy\" must be an array", where);
        for (size_t j = 0; j < json_object_array_length(priv); j++) {
            json_object *p = json_object_array_get_idx(priv, j);
            const char *ds, *tmp;
            snprintf(where, sizeof where, "constraints[%zu].privacy[%zu]", i, j);
            if (!json_object_is_type(p, json_type_object))
                return ccr_err_set(EINVAL, "DEPA contract: %s must be an object", where);
            if ((rc = check_fields(p, where, privacy_fields)) != 0 ||
                (rc = str_field(p, where, "dataset", 1, 0, 64, &ds)) != 0)
                return rc;
            for (size_t k = 1; privacy_fields[k] != NULL; k++)
                if ((rc = str_field(p, where, privacy_fields[k], 0, 0, 64, &tmp)) != 0)
                    return rc;
            if (gov_contract_dataset_by_uuid(c, ds) == NULL)
                return ccr_err_set(EINVAL, "DEPA contract: %s: \"dataset\" %s is not one of the datasets",
                                   where, ds);
        }
    }
    c->constraints = arr;
    return 0;
}

/* terms: {"payment": {...}, "revocation": {...}}: kept as written. */
static int parse_terms(struct gov_contract *c, json_object *o)
{
    static const char *const fields[] = {"payment", "revocation", NULL};
    int rc;

    if (!json_object_is_type(o, json_type_object))
        return ccr_err_set(EINVAL, "DEPA contract: \"terms\" must be an object");
    if ((rc = check_fields(o, "terms", fields)) != 0)
        return rc;
    json_object_object_foreach(o, key, val)
    {
        if (!json_object_is_type(val, json_type_object))
            return ccr_err_set(EINVAL, "DEPA contract: terms: \"%s\" must be an object", key);
    }
    c->terms = o;
    return 0;
}

static int parse_time(json_object *doc, const char *key, int64_t *ms)
{
    const char *t;
    int rc = str_field(doc, "top level", key, 1, 0, 32, &t);
    if (rc != 0)
        return rc;
    if (gov_time_parse_ms(t, ms) != 0)
        return ccr_err_wrap(EINVAL, "DEPA contract: \"%s\": ", key);
    return 0;
}

int gov_depa_detect(json_object *doc)
{
    return json_object_is_type(doc, json_type_object) &&
           (json_object_object_get_ex(doc, "tdc", NULL) || json_object_object_get_ex(doc, "tdps", NULL) ||
            json_object_object_get_ex(doc, "ccrp", NULL));
}

int gov_depa_parse(struct gov_contract *c)
{
    static const char *const fields[] = {"id",   "schemaVersion", "startTime", "expiryTime",  "tdc",   "tdps",
                                         "ccrp", "datasets",      "purpose",   "constraints", "terms", NULL};
    json_object *doc = c->json, *tdps, *arr, *v;
    const char *id, *tmp;
    int rc;

    if ((rc = check_fields(doc, "top level", fields)) != 0 ||
        (rc = str_field(doc, "top level", "id", 1, 0, 128, &id)) != 0 ||
        (rc = str_field(doc, "top level", "schemaVersion", 0, 0, 32, &tmp)) != 0 ||
        (rc = str_field(doc, "top level", "purpose", 1, 0, 256, &tmp)) != 0 ||
        (rc = dup_str(tmp, &c->purpose)) != 0)
        return rc;
    if (!gov_party_id_valid(id) || strchr(id, '%') != NULL)
        return ccr_err_set(EINVAL, "DEPA contract: \"id\" may hold only letters, digits, '-', '_', '.', ':'");
    if ((rc = dup_str(id, &c->id)) != 0)
        return rc;
    if ((rc = parse_time(doc, "startTime", &c->start_ms)) != 0 ||
        (rc = parse_time(doc, "expiryTime", &c->expiry_ms)) != 0)
        return rc;
    if (c->expiry_ms <= c->start_ms)
        return ccr_err_set(EINVAL, "DEPA contract: \"expiryTime\" must be after \"startTime\"");

    c->parties = calloc(DEPA_MAX_PARTIES, sizeof *c->parties);
    if (c->parties == NULL)
        return ENOMEM;
    /* "" and [] are how DEPA's templates leave a role open: no party then. */
    if ((rc = str_field(doc, "top level", "tdc", 0, 1, 256, &tmp)) != 0 ||
        (tmp != NULL && tmp[0] != '\0' && (rc = add_party(c, tmp, "tdc", "tdc")) != 0))
        return rc;
    if (json_object_object_get_ex(doc, "tdps", &tdps)) {
        if (!json_object_is_type(tdps, json_type_array))
            return ccr_err_set(EINVAL, "DEPA contract: \"tdps\" must be an array of DIDs");
        for (size_t i = 0; i < json_object_array_length(tdps); i++) {
            char where[32];
            v = json_object_array_get_idx(tdps, i);
            snprintf(where, sizeof where, "tdps[%zu]", i);
            if (!json_object_is_type(v, json_type_string))
                return ccr_err_set(EINVAL, "DEPA contract: %s must be a string (a DID)", where);
            if (strchr(json_object_get_string(v), '$') != NULL)
                return ccr_err_set(EINVAL, "DEPA contract: %s holds an unfilled placeholder: \"%s\"", where,
                                   json_object_get_string(v));
            if ((rc = add_party(c, json_object_get_string(v), "tdp", where)) != 0)
                return rc;
        }
    }
    if ((rc = str_field(doc, "top level", "ccrp", 0, 1, 256, &tmp)) != 0 ||
        (tmp != NULL && tmp[0] != '\0' && (rc = add_party(c, tmp, "ccrp", "ccrp")) != 0))
        return rc;

    if (!json_object_object_get_ex(doc, "datasets", &arr) || !json_object_is_type(arr, json_type_array) ||
        json_object_array_length(arr) == 0 || json_object_array_length(arr) > DEPA_MAX_DATASETS)
        return ccr_err_set(EINVAL, "DEPA contract: \"datasets\" must be an array of 1 to %d datasets",
                           DEPA_MAX_DATASETS);
    c->datasets = calloc(json_object_array_length(arr), sizeof *c->datasets);
    if (c->datasets == NULL)
        return ENOMEM;
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        c->ndatasets = i + 1; /* freed with the contract even when this one fails */
        if ((rc = parse_dataset(c, json_object_array_get_idx(arr, i), i)) != 0)
            return rc;
    }
    if (json_object_object_get_ex(doc, "constraints", &v) && (rc = parse_constraints(c, v)) != 0)
        return rc;
    if (json_object_object_get_ex(doc, "terms", &v) && (rc = parse_terms(c, v)) != 0)
        return rc;
    return 0;
}

int gov_dataset_record_bytes(const char *uuid, const char *id, const char *owner, const char *name,
                             const char *store, const char *key_source, char **out, size_t *out_len)
{
    static const char prefix[] = "ccrfs-dataset-v1\n";
    json_object *v = json_object_new_object();
    char *canon = NULL;
    size_t clen;
    int rc;

    if (v == NULL)
        return ENOMEM;
    json_object_object_add(v, "uuid", json_object_new_string(uuid));
    json_object_object_add(v, "id", json_object_new_string(id));
    json_object_object_add(v, "owner", json_object_new_string(owner));
    json_object_object_add(v, "name", json_object_new_string(name ? name : ""));
    json_object_object_add(v, "store", json_object_new_string(store ? store : ""));
    json_object_object_add(v, "keySource", json_object_new_string(key_source ? key_source : ""));
    rc = gov_canon_json(v, NULL, &canon, &clen);
    json_object_put(v);
    if (rc != 0)
        return rc;
    *out = malloc(sizeof prefix - 1 + clen + 1);
    if (*out == NULL) {
        free(canon);
        return ENOMEM;
    }
    memcpy(*out, prefix, sizeof prefix - 1);
    memcpy(*out + sizeof prefix - 1, canon, clen + 1);
    *out_len = sizeof prefix - 1 + clen;
    free(canon);
    return 0;
}

/* GET /datasets/UUID: the registration's store and key source. */
static int registration(const char *url, const char *token_file, const char *uuid, json_object **out)
{
    struct gov_http *h;
    char *resp = NULL, *esc, path[160], msg[512];
    size_t len = 0;
    long status = 0;
    int rc;

    if ((rc = gov_http_open(url, token_file, 30000, &h)) != 0)
        return rc;
    if ((esc = gov_http_escape(uuid)) == NULL) {
        gov_http_free(h);
        return ENOMEM;
    }
    snprintf(path, sizeof path, "/datasets/%s", esc);
    free(esc);
    rc = gov_http_request(h, "GET", path, NULL, 0, &status, &resp, &len);
    gov_http_free(h);
    if (rc != 0)
        return rc;
    if (status != 200) {
        gov_http_error_text(resp, msg, sizeof msg);
        free(resp);
        return ccr_err_set(status == 404 ? ENOENT : EIO, "governance GET %s: HTTP %ld: %s", path, status,
                           msg);
    }
    rc = gov_json_parse(resp ? resp : "", len, "dataset registration", out);
    free(resp);
    return rc;
}

int gov_depa_mount_resolve(const char *url, const char *token_file, const char *contract_id, const char *uuid,
                           struct gov_depa_mount *out)
{
    struct gov_signed_contract sc;
    const struct gov_contract_dataset *d;
    json_object *reg = NULL;
    const char *store, *ksrc;
    int rc;

    memset(out, 0, sizeof *out);
    if (!gov_uuid_valid(uuid))
        return ccr_err_set(EINVAL, "--dataset: \"%s\" is not a UUID", uuid);
    if ((rc = gov_client_signed_contract(url, token_file, contract_id, &sc)) != 0)
        return rc;
    if (sc.c->format != GOV_CONTRACT_DEPA) {
        rc = ccr_err_set(EINVAL, "contract %s is not a DEPA contract: name its dataset with --dataset-id",
                         contract_id);
        goto out;
    }
    if ((d = gov_contract_dataset_by_uuid(sc.c, uuid)) == NULL) {
        rc = ccr_err_set(ENOENT, "contract %s does not name dataset %s", contract_id, uuid);
        goto out;
    }
    if (d->id[0] == '\0') {
        rc = ccr_err_set(ENOENT, "dataset %s of contract %s is not registered (ccrfs gov dataset register)",
                         uuid, contract_id);
        goto out;
    }
    if ((rc = registration(url, token_file, uuid, &reg)) != 0)
        goto out;
    store = gov_json_str(reg, "store");
    ksrc = gov_json_str(reg, "keySource");
    memcpy(out->dataset_id, d->id, sizeof out->dataset_id);
    if ((rc = dup_str(store != NULL && store[0] != '\0' ? store : d->url, &out->store)) != 0 ||
        (rc = dup_str(d->key_kid, &out->key_kid)) != 0 ||
        (rc = dup_str(d->key_authority, &out->key_authority)) != 0 ||
        (rc = dup_str(d->key_endpoint, &out->key_akv)) != 0 || (rc = dup_str(ksrc, &out->key_source)) != 0)
        gov_depa_mount_release(out);
out:
    json_object_put(reg);
    gov_signed_contract_release(&sc);
    return rc;
}

void gov_depa_mount_release(struct gov_depa_mount *m)
{
    if (m->store != NULL)
        ccr_freezero(m->store, strlen(m->store)); /* may carry a SAS token */
    free(m->key_kid);
    free(m->key_authority);
    free(m->key_akv);
    free(m->key_source);
    memset(m, 0, sizeof *m);
}

/* A JWK's coordinate: base64url of exactly n bytes. */
static int jwk_coord(json_object *jwk, const char *name, size_t n, uint8_t *out)
{
    const char *v = gov_json_str(jwk, name);
    uint8_t *raw = NULL;
    size_t len = 0;
    if (v == NULL || ccr_b64_decode(v, strlen(v), &raw, &len, CCR_B64_URL) != 0 || len != n) {
        free(raw);
        return ccr_err_set(EINVAL, "DID document: publicKeyJwk: \"%s\" must be base64url of %zu bytes", name,
                           n);
    }
    memcpy(out, raw, n);
    free(raw);
    return 0;
}

static int jwk_to_pkey(json_object *jwk, EVP_PKEY **out)
{
    const char *kty = gov_json_str(jwk, "kty"), *crv = gov_json_str(jwk, "crv");
    uint8_t pt[65];
    int rc;

    *out = NULL;
    if (kty != NULL && crv != NULL && strcmp(kty, "OKP") == 0 && strcmp(crv, "Ed25519") == 0) {
        if ((rc = jwk_coord(jwk, "x", 32, pt)) != 0)
            return rc;
        *out = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pt, 32);
    } else if (kty != NULL && crv != NULL && strcmp(kty, "EC") == 0 && strcmp(crv, "P-256") == 0) {
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        OSSL_PARAM params[3];
        char group[] = "prime256v1";
        pt[0] = 0x04; /* uncompressed point */
        if ((rc = jwk_coord(jwk, "x", 32, pt + 1)) != 0 || (rc = jwk_coord(jwk, "y", 32, pt + 33)) != 0) {
            EVP_PKEY_CTX_free(ctx);
            return rc;
        }
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
        params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof pt);
        params[2] = OSSL_PARAM_construct_end();
        if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
            EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) != 1)
            *out = NULL;
        EVP_PKEY_CTX_free(ctx);
    } else {
        return ccr_err_set(EINVAL,
                           "DID document: publicKeyJwk: only OKP Ed25519 and EC P-256 keys are accepted");
    }
    return *out != NULL ? 0 : ccr_err_set(EINVAL, "DID document: publicKeyJwk is not a valid key");
}

int gov_did_document_key(const char *text, size_t len, const char *did, char **public_key_b64)
{
    json_object *doc = NULL, *vms, *jwk = NULL;
    const char *id;
    EVP_PKEY *pk = NULL;
    struct gov_key *k = NULL;
    int rc;

    *public_key_b64 = NULL;
    if ((rc = gov_json_parse(text, len, "DID document", &doc)) != 0)
        return rc;
    id = gov_json_str(doc, "id");
    if (id == NULL || strcmp(id, did) != 0) {
        rc = ccr_err_set(EINVAL, "DID document: \"id\" is %s%s%s, not %s", id ? "\"" : "",
                         id ? id : "missing", id ? "\"" : "", did);
        goto out;
    }
    if (!json_object_object_get_ex(doc, "verificationMethod", &vms) ||
        !json_object_is_type(vms, json_type_array)) {
        rc = ccr_err_set(EINVAL, "DID document: \"verificationMethod\" must be an array");
        goto out;
    }
    for (size_t i = 0; i < json_object_array_length(vms) && jwk == NULL; i++)
        json_object_object_get_ex(json_object_array_get_idx(vms, i), "publicKeyJwk", &jwk);
    if (jwk == NULL || !json_object_is_type(jwk, json_type_object)) {
        rc = ccr_err_set(EINVAL, "DID document: no verificationMethod has a \"publicKeyJwk\"");
        goto out;
    }
    if (json_object_object_get_ex(jwk, "d", NULL)) {
        rc = ccr_err_set(EINVAL, "DID document: publicKeyJwk holds a private key (\"d\"); refusing it");
        goto out;
    }
    if ((rc = jwk_to_pkey(jwk, &pk)) != 0 || (rc = gov_key_from_evp(pk, &k)) != 0 ||
        (rc = gov_key_public_b64(k, public_key_b64)) != 0)
        goto out;
out:
    gov_key_free(k);
    EVP_PKEY_free(pk);
    json_object_put(doc);
    return rc;
}
