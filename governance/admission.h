/* Whether a contract lets a mount happen: every party signed it, it is in force now, not
 * revoked, it names the dataset being mounted, and the mount asks for the access mode and
 * purpose the contract gives (docs/CONTRACTS.md, "Mounting under a contract").
 *
 * A signed contract travels as the view `ccrfs gov contract show` prints (GET /contracts/ID):
 * an object holding "contract" (the document) and "signatures" ({party: base64 signature});
 * its other fields are information and are not trusted, except that "revokedAt" makes the
 * contract count as revoked, and "registry" binds a DEPA contract's parties to their registered
 * keys and its dataset UUIDs to their pinned ids (as trusted as the service that answers).
 * A bare contract document is accepted too, and has no signatures. */
#ifndef CCRFS_GOVERNANCE_ADMISSION_H
#define CCRFS_GOVERNANCE_ADMISSION_H

#include "governance/contract.h"

#include <stddef.h>
#include <stdint.h>

struct gov_signed_contract {
    struct gov_contract *c;
    char **parties; /* parties with a signature, and their signatures (base64), same order */
    char **sigs;
    size_t nsigs;
    int revoked;
    char revoked_info[192]; /* "at TIME by PARTY" when revoked */
};

/* Parses a signed contract (or a bare contract); EINVAL naming the field on bad input. */
int gov_signed_contract_parse(const char *text, size_t len, struct gov_signed_contract *out);
int gov_signed_contract_load(const char *path, struct gov_signed_contract *out);
void gov_signed_contract_release(struct gov_signed_contract *sc);

struct gov_admission {
    const char *dataset_id;    /* "sha256:...": the manifest's id, or for a sink the recipient key's */
    enum gov_access_mode mode; /* what the mount asks for */
    const char *purpose;       /* what the mount says it is for; NULL: none given */
    int64_t now_ms;            /* wall clock, milliseconds since the epoch */
};

/* 0 when the contract allows the mount, with *dataset (may be NULL) set to the contract's
 * entry for it; else EACCES with a message naming the one reason: revoked, not signed by a
 * party (or a signature that does not verify, or a DEPA party without a registered key), not
 * yet valid, expired, the dataset not named (or its UUID not registered, or registered with
 * another id than the manifest's),
 * another access mode, another purpose. */
int gov_admit(const struct gov_signed_contract *sc, const struct gov_admission *req,
              const struct gov_contract_dataset **dataset);
/* gov_admit for a DEPA dataset named by its UUID: the contract names it, it is registered, and
 * its registered id is req->dataset_id (the manifest's); else EACCES with the reason. */
int gov_admit_uuid(const struct gov_signed_contract *sc, const struct gov_admission *req, const char *uuid,
                   const struct gov_contract_dataset **dataset);

/* The id a sink dataset has in a contract: "sha256:" + hex SHA-256 of the DER
 * SubjectPublicKeyInfo of the recipient's public key (a PEM file). */
int gov_recipient_dataset_id(const char *pem_path, char out[GOV_DATASET_ID_LEN + 1]);

#endif
