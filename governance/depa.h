/* DEPA training contracts as iSPIRT/depa-training writes them (docs/CONTRACTS.md, "DEPA
 * contracts"): parties by DID or name ("tdc", "tdps", "ccrp", and each dataset's "owner"),
 * datasets by UUID with "owner", "url" and "key" (type azure: an SKR "kid" and the MAA
 * "authority"), "constraints" and "terms" kept as written. Parsed onto struct gov_contract:
 * parties have no key and datasets no pinned id until the registry binds them. */
#ifndef CCRFS_GOVERNANCE_DEPA_H
#define CCRFS_GOVERNANCE_DEPA_H

#include "governance/contract.h"

#include <json-c/json.h>

/* 1 when a contract document is in DEPA's format: it has "tdc", "tdps" or "ccrp". */
int gov_depa_detect(json_object *doc);
/* Fills c (format DEPA) from c->json; EINVAL naming the DEPA field on bad input. */
int gov_depa_parse(struct gov_contract *c);

/* The bytes a dataset's owner signs to register it: "ccrfs-dataset-v1\n" and the canonical JSON
 * of {"uuid", "id", "owner", "name", "store", "keySource"} (absent optional fields as ""). */
int gov_dataset_record_bytes(const char *uuid, const char *id, const char *owner, const char *name,
                             const char *store, const char *key_source, char **out, size_t *out_len);

/* The public key in a DID document (did:web's did.json, registered offline: nothing is fetched):
 * the document's "id" must be did; the key is the first "verificationMethod" entry with a
 * "publicKeyJwk" (OKP Ed25519, or EC P-256), written as base64 DER SubjectPublicKeyInfo. EINVAL
 * naming what is wrong. */
int gov_did_document_key(const char *text, size_t len, const char *did, char **public_key_b64);

/* What a mount naming a DEPA dataset by UUID takes from the contract and the registry
 * (`ccrfs mount --governance URL --contract ID --dataset UUID`). */
struct gov_depa_mount {
    char dataset_id[GOV_DATASET_ID_LEN + 1]; /* the registered, pinned id */
    char *store;                             /* the registry's store, else the contract's "url" */
    char *key_kid, *key_authority, *key_akv; /* the contract's azure key (SKR) */
    char *key_source;                        /* the registry's key source, "" when none */
};
/* Fetches contract id from the service and the dataset's registration; ENOENT when the
 * contract does not name the UUID or it is not registered, EINVAL for a contract not in DEPA's
 * format. */
int gov_depa_mount_resolve(const char *url, const char *token_file, const char *contract_id, const char *uuid,
                           struct gov_depa_mount *out);
void gov_depa_mount_release(struct gov_depa_mount *m);

/* 1 when s is a party id: a DID (did:web:host[:path], percent-encoded) or a plain name. */
int gov_party_id_valid(const char *s);

#endif
