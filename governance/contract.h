/* Contracts in two formats (docs/CONTRACTS.md): ccrfs's own, whose parties carry their keys
 * and whose datasets are pinned ids, and DEPA training contracts as written (parties and
 * dataset owners by DID or name, datasets by UUID; governance/depa.h), whose keys and pinned
 * ids come from the party and dataset registry. The parser is strict: unknown fields, wrong
 * types, bad ids, times or keys are refused with a message naming the field. Each party signs
 * the contract's canonical bytes. */
#ifndef CCRFS_GOVERNANCE_CONTRACT_H
#define CCRFS_GOVERNANCE_CONTRACT_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#define GOV_CONTRACT_MAX_BYTES (256 * 1024)
#define GOV_DATASET_ID_LEN     71 /* "sha256:" + 64 hex */
#define GOV_UUID_LEN           36

enum gov_contract_format { GOV_CONTRACT_CCRFS, GOV_CONTRACT_DEPA };

enum gov_access_mode { GOV_MODE_READ_ONLY, GOV_MODE_NO_EGRESS, GOV_MODE_SINK };

struct gov_contract_party {
    char *id, *role;
    char *public_key; /* base64 DER SubjectPublicKeyInfo, Ed25519 or ECDSA P-256; NULL: a DEPA
                         party whose key is not bound from the registry (yet) */
};

struct gov_contract_dataset {
    char id[GOV_DATASET_ID_LEN + 1];
    char *name;     /* optional, "" when absent */
    char *provider; /* a party id */
    enum gov_access_mode mode;
    uint64_t max_mounts;          /* use budget: mounts allowed in all, >= 1 */
    uint64_t max_bytes_per_mount; /* 0: no byte budget */
    char *recipient;              /* sink only: the party id outputs are encrypted for */
    int plaintext_hash;           /* the mount may show each file's plaintext SHA-256 */
    /* DEPA only (NULL or "" otherwise); id stays "" until bound from the dataset registry. */
    char uuid[GOV_UUID_LEN + 1];
    char *url;                                               /* where the encrypted dataset is stored */
    char *key_type, *key_kid, *key_authority, *key_endpoint; /* "key": type azure, SKR kid, MAA */
};

struct gov_contract {
    enum gov_contract_format format;
    char *id;
    struct gov_contract_party *parties;
    size_t nparties;
    int64_t start_ms, expiry_ms;
    char *purpose;
    struct gov_contract_dataset *datasets;
    size_t ndatasets;
    json_object *json;        /* the parsed document */
    json_object *constraints; /* DEPA "constraints" and "terms" (borrowed from json; NULL: none) */
    json_object *terms;
    char *canonical; /* canonical JSON of the document */
    size_t canonical_len;
    char digest[65]; /* hex SHA-256 of the signed bytes */
};

int gov_contract_parse(const char *text, size_t len, struct gov_contract **out);
int gov_contract_load_file(const char *path, struct gov_contract **out);
void gov_contract_free(struct gov_contract *c);

/* The bytes each party signs: "ccrfs-contract-v1\n" followed by the canonical JSON. */
int gov_contract_signed_bytes(const struct gov_contract *c, char **out, size_t *out_len);
/* The bytes a party signs to revoke: "ccrfs-contract-revoke-v1\n<id>\n<digest>". */
int gov_contract_revoke_bytes(const struct gov_contract *c, char **out, size_t *out_len);
/* Checks sig_b64 against the named party's key over msg; ENOENT unknown party, EBADMSG bad. */
int gov_contract_check_sig(const struct gov_contract *c, const char *party, const void *msg, size_t len,
                           const char *sig_b64);

const struct gov_contract_party *gov_contract_party(const struct gov_contract *c, const char *id);
const struct gov_contract_dataset *gov_contract_dataset(const struct gov_contract *c, const char *dataset_id);
const struct gov_contract_dataset *gov_contract_dataset_by_uuid(const struct gov_contract *c,
                                                                const char *uuid);
const char *gov_contract_format_name(enum gov_contract_format f);

/* Registry bindings of a DEPA contract: a party's registered key (base64 DER SPKI, checked) and
 * a dataset UUID's pinned id. ENOENT when the contract has no such party or dataset; EEXIST
 * when it is bound already to another value; EINVAL on a malformed key or id. */
int gov_contract_bind_key(struct gov_contract *c, const char *party, const char *public_key_b64);
int gov_contract_bind_dataset(struct gov_contract *c, const char *uuid, const char *dataset_id);
/* 1 when s is "sha256:" and 64 lowercase hex digits; a UUID (8-4-4-4-12 hex digits). */
int gov_dataset_id_valid(const char *s);
int gov_uuid_valid(const char *s);
const char *gov_access_mode_name(enum gov_access_mode m);

#endif
