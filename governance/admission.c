/* Contract checks made before a mount is allowed (see admission.h). */
#include "governance/admission.h"
#include "common/encoding.h"
#include "common/err.h"
#include "common/fileio.h"
#include "governance/canon.h"
#include "format/crypto.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ENVELOPE_BYTES (1024 * 1024)

void gov_signed_contract_release(struct gov_signed_contract *sc)
{
    gov_contract_free(sc->c);
    for (size_t i = 0; i < sc->nsigs; i++) {
        free(sc->parties[i]);
        free(sc->sigs[i]);
    }
    free(sc->parties);
    free(sc->sigs);
    memset(sc, 0, sizeof *sc);
}

static int take_signatures(struct gov_signed_contract *sc, json_object *sigs)
{
    size_t n = (size_t)json_object_object_length(sigs), i = 0;

    if (n == 0)
        return 0;
    sc->parties = calloc(n, sizeof *sc->parties);
    sc->sigs = calloc(n, sizeof *sc->sigs);
    if (sc->parties == NULL || sc->sigs == NULL)
        return ENOMEM;
    json_object_object_foreach(sigs, party, sig)
    {
        const char *s = json_object_get_string(sig);
        if (!json_object_is_type(sig, json_type_string) || s[0] == '\0')
            return ccr_err_set(EINVAL, "signed contract: signatures.%s must be a non-empty string", party);
        if (gov_contract_party(sc->c, party) == NULL)
            return ccr_err_set(EINVAL, "signed contract: signatures.%s: not a party to contract %s", party,
                               sc->c->id);
        if ((sc->parties[i] = strdup(party)) == NULL || (sc->sigs[i] = strdup(s)) == NULL)
            return ENOMEM;
        sc->nsigs = ++i;
    }
    return 0;
}

/* "registry": {"parties": {ID: {"publicKey": B64}}, "datasets": {UUID: {"id": "sha256:..."}}}: what
 * the service's registry says a DEPA contract's parties and datasets are (docs/CONTRACTS.md). */
static int take_registry(struct gov_signed_contract *sc, json_object *reg)
{
    json_object *parties = NULL, *datasets = NULL;
    int rc;

    if (!json_object_is_type(reg, json_type_object))
        return ccr_err_set(EINVAL, "signed contract: \"registry\" must be an object");
    json_object_object_get_ex(reg, "parties", &parties);
    json_object_object_get_ex(reg, "datasets", &datasets);
    if ((parties != NULL && !json_object_is_type(parties, json_type_object)) ||
        (datasets != NULL && !json_object_is_type(datasets, json_type_object)))
        return ccr_err_set(EINVAL, "signed contract: registry.parties and registry.datasets must be objects");
    if (parties != NULL) {
        json_object_object_foreach(parties, party, entry)
        {
            const char *key = gov_json_str(entry, "publicKey");
            if (key == NULL)
                return ccr_err_set(EINVAL, "signed contract: registry.parties.%s: \"publicKey\" is missing",
                                   party);
            if ((rc = gov_contract_bind_key(sc->c, party, key)) != 0)
                return ccr_err_wrap(rc == ENOENT ? EINVAL : rc,
                                    "signed contract: registry.parties.%s: ", party);
        }
    }
    if (datasets != NULL) {
        json_object_object_foreach(datasets, uuid, entry)
        {
            const char *id = gov_json_str(entry, "id");
            if (id == NULL)
                return ccr_err_set(EINVAL, "signed contract: registry.datasets.%s: \"id\" is missing", uuid);
            if ((rc = gov_contract_bind_dataset(sc->c, uuid, id)) != 0)
                return ccr_err_wrap(rc == ENOENT ? EINVAL : rc,
                                    "signed contract: registry.datasets.%s: ", uuid);
        }
    }
    return 0;
}

int gov_signed_contract_parse(const char *text, size_t len, struct gov_signed_contract *out)
{
    json_object *v = NULL, *doc, *sigs, *rev, *reg;
    const char *doc_text;
    int rc;

    memset(out, 0, sizeof *out);
    if (len > MAX_ENVELOPE_BYTES)
        return ccr_err_set(EFBIG, "signed contract: %zu bytes, more than the %d allowed", len,
                           MAX_ENVELOPE_BYTES);
    if ((rc = gov_json_parse(text, len, "signed contract", &v)) != 0)
        return rc;
    if (!json_object_is_type(v, json_type_object)) {
        json_object_put(v);
        return ccr_err_set(EINVAL, "signed contract: expected a JSON object");
    }
    if (!json_object_object_get_ex(v, "contract", &doc)) {
        /* A bare contract document: nobody's signature comes with it. */
        json_object_put(v);
        return gov_contract_parse(text, len, &out->c);
    }
    if (!json_object_is_type(doc, json_type_object)) {
        json_object_put(v);
        return ccr_err_set(EINVAL, "signed contract: \"contract\" must be an object");
    }
    doc_text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    if ((rc = gov_contract_parse(doc_text, strlen(doc_text), &out->c)) != 0)
        goto fail;
    if (json_object_object_get_ex(v, "signatures", &sigs)) {
        if (!json_object_is_type(sigs, json_type_object)) {
            rc = ccr_err_set(EINVAL, "signed contract: \"signatures\" must be an object {party: signature}");
            goto fail;
        }
        if ((rc = take_signatures(out, sigs)) != 0)
            goto fail;
    }
    if (json_object_object_get_ex(v, "registry", &reg) && (rc = take_registry(out, reg)) != 0)
        goto fail;
    if (json_object_object_get_ex(v, "revokedAt", &rev)) {
        const char *by = gov_json_str(v, "revokedBy");
        out->revoked = 1;
        snprintf(out->revoked_info, sizeof out->revoked_info, "at %.40s by %.100s",
                 json_object_is_type(rev, json_type_string) ? json_object_get_string(rev) : "?",
                 by ? by : "?");
    }
    json_object_put(v);
    return 0;
fail:
    json_object_put(v);
    gov_signed_contract_release(out);
    return rc;
}

int gov_signed_contract_load(const char *path, struct gov_signed_contract *out)
{
    uint8_t *data;
    size_t len;
    int rc = ccr_read_file(path, MAX_ENVELOPE_BYTES, &data, &len);

    memset(out, 0, sizeof *out);
    if (rc != 0)
        return rc;
    rc = gov_signed_contract_parse((const char *)data, len, out);
    free(data);
    return rc != 0 ? ccr_err_wrap(rc, "%s: ", path) : 0;
}

static void fmt_time(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int check_signatures(const struct gov_signed_contract *sc)
{
    const struct gov_contract *c = sc->c;
    char *bytes;
    size_t len;
    int rc;

    if ((rc = gov_contract_signed_bytes(c, &bytes, &len)) != 0)
        return rc;
    for (size_t i = 0; i < c->nparties && rc == 0; i++) {
        const char *party = c->parties[i].id, *sig = NULL;
        for (size_t j = 0; j < sc->nsigs; j++)
            if (strcmp(sc->parties[j], party) == 0)
                sig = sc->sigs[j];
        if (sig == NULL)
            rc = ccr_err_set(EACCES, "contract %s is not signed by party %s", c->id, party);
        else if (c->parties[i].public_key == NULL)
            rc = ccr_err_set(EACCES,
                             "contract %s: party %s has no registered key, so its signature cannot be "
                             "checked",
                             c->id, party);
        else if (gov_contract_check_sig(c, party, bytes, len, sig) != 0)
            rc = ccr_err_set(EACCES, "contract %s: the signature of party %s does not verify", c->id, party);
    }
    free(bytes);
    return rc;
}

/* The dataset the mount names by UUID: in the contract, registered, and pinned to the manifest's id. */
static int admit_uuid(const struct gov_contract *c, const struct gov_admission *req, const char *uuid)
{
    const struct gov_contract_dataset *d = gov_contract_dataset_by_uuid(c, uuid);

    if (d == NULL)
        return ccr_err_set(EACCES, "contract %s does not name dataset %s", c->id, uuid);
    if (d->id[0] == '\0')
        return ccr_err_set(EACCES, "contract %s: dataset %s is not registered (ccrfs gov dataset register)",
                           c->id, uuid);
    if (strcmp(d->id, req->dataset_id) != 0)
        return ccr_err_set(EACCES,
                           "contract %s: dataset %s is registered as %s, but the store's manifest is %s "
                           "(swapped or rolled back?)",
                           c->id, uuid, d->id, req->dataset_id);
    return 0;
}

int gov_admit(const struct gov_signed_contract *sc, const struct gov_admission *req,
              const struct gov_contract_dataset **dataset)
{
    const struct gov_contract *c = sc->c;
    const struct gov_contract_dataset *d;
    char t[32];
    int rc;

    if (dataset != NULL)
        *dataset = NULL;
    if (sc->revoked)
        return ccr_err_set(EACCES, "contract %s is revoked (%s)", c->id, sc->revoked_info);
    if ((rc = check_signatures(sc)) != 0)
        return rc;
    if (req->now_ms < c->start_ms) {
        fmt_time(c->start_ms, t, sizeof t);
        return ccr_err_set(EACCES, "contract %s is not valid yet: it starts at %s", c->id, t);
    }
    if (req->now_ms >= c->expiry_ms) {
        fmt_time(c->expiry_ms, t, sizeof t);
        return ccr_err_set(EACCES, "contract %s expired at %s", c->id, t);
    }
    if ((d = gov_contract_dataset(c, req->dataset_id)) == NULL && c->format == GOV_CONTRACT_DEPA)
        return ccr_err_set(EACCES,
                           "contract %s does not name dataset %s: no dataset of the contract is registered "
                           "with that id (swapped or rolled back?)",
                           c->id, req->dataset_id);
    if (d == NULL)
        return ccr_err_set(EACCES, "contract %s does not name dataset %s%s", c->id, req->dataset_id,
                           req->mode == GOV_MODE_SINK ? " (the recipient key's id)" : "");
    if (d->mode != req->mode)
        return ccr_err_set(EACCES, "contract %s gives dataset %s access mode %s; the mount asks for %s",
                           c->id, d->id, gov_access_mode_name(d->mode), gov_access_mode_name(req->mode));
    if (req->purpose == NULL)
        return ccr_err_set(EACCES, "contract %s is for purpose \"%s\"; the mount gives no --purpose", c->id,
                           c->purpose);
    if (strcmp(req->purpose, c->purpose) != 0)
        return ccr_err_set(EACCES, "contract %s is for purpose \"%s\"; the mount asks for \"%s\"", c->id,
                           c->purpose, req->purpose);
    if (dataset != NULL)
        *dataset = d;
    return 0;
}

int gov_admit_uuid(const struct gov_signed_contract *sc, const struct gov_admission *req, const char *uuid,
                   const struct gov_contract_dataset **dataset)
{
    int rc;
    if (dataset != NULL)
        *dataset = NULL;
    if ((rc = admit_uuid(sc->c, req, uuid)) != 0)
        return rc;
    return gov_admit(sc, req, dataset);
}

int gov_recipient_dataset_id(const char *pem_path, char out[GOV_DATASET_ID_LEN + 1])
{
    uint8_t *pem = NULL, *der = NULL, digest[FMT_SHA256_LEN];
    size_t len;
    BIO *bio;
    EVP_PKEY *pk = NULL;
    int rc, n;

    if ((rc = ccr_read_file(pem_path, 64 * 1024, &pem, &len)) != 0)
        return ccr_err_wrap(rc, "recipient key: ");
    if ((bio = BIO_new_mem_buf(pem, (int)len)) != NULL)
        pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    free(pem);
    if (pk == NULL)
        return ccr_err_set(EINVAL, "recipient key %s: not a PEM public key (-----BEGIN PUBLIC KEY-----)",
                           pem_path);
    n = i2d_PUBKEY(pk, &der);
    EVP_PKEY_free(pk);
    if (n <= 0)
        return ccr_err_set(EINVAL, "recipient key %s: cannot encode it as a SubjectPublicKeyInfo", pem_path);
    fmt_sha256(der, (size_t)n, digest);
    OPENSSL_free(der);
    memcpy(out, "sha256:", 7);
    ccr_hex_encode(digest, sizeof digest, out + 7);
    return 0;
}
