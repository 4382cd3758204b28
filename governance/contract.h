/* Contracts: a documented superset of the DEPA contract fields (docs/CONTRACTS.md).
 * The parser is strict: unknown fields, wrong types, bad ids, times or keys are refused
 * with a message naming the field. Each party signs the contract's canonical bytes. */
#ifndef CCRFS_GOVERNANCE_CONTRACT_H
#define CCRFS_GOVERNANCE_CONTRACT_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#define GOV_CONTRACT_MAX_BYTES (256 * 1024)
#define GOV_DATASET_ID_LEN     71 /* "sha256:" + 64 hex */

enum gov_access_mode { GOV_MODE_READ_ONLY, GOV_MODE_NO_EGRESS, GOV_MODE_SINK };

struct gov_contract_party {
    char *id, *role;
    char *public_key; /* base64 DER SubjectPublicKeyInfo, Ed25519 or ECDSA P-256 */
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
};

struct gov_contract {
    char *id;
    struct gov_contract_party *parties;
    size_t nparties;
    int64_t start_ms, expiry_ms;
    char *purpose;
    struct gov_contract_dataset *datasets;
    size_t ndatasets;
    json_object *json; /* the parsed document */
    char *canonical;   /* canonical JSON of the document */
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
const char *gov_access_mode_name(enum gov_access_mode m);

#endif
