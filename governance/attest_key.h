/* The checkpoint signing key of an attested mount, and the evidence that binds it.
 *
 * The daemon makes a fresh RSA-2048 key at start (in memory only; never written anywhere),
 * asks its attester for a SEV-SNP report whose report_data is SHA-256 of the key's PEM text
 * followed by 32 zero bytes (the binding Azure Clean Room's governance checks), and records
 * the result as an "attestation" object:
 *   {"binding": "sha256(publicKey)||zeros", "source": "sim"|"snp"|"aa",
 *    "evidence": base64 of the 1184-byte report,
 *    "endorsements": base64 of PEM certificates: VCEK (or VLEK), then ASK (or ASVK) and ARK
 *                    when known,
 *    "publicKey": base64 of the PEM public key (as Azure's sign.publicKey)}
 * The mount event and every checkpoint carry it; an auditor checks report -> chain -> key ->
 * checkpoints (gov_attestation_verify). Batches sent to governance are signed with the key the
 * way Azure Clean Room's governance sidecar signs them (gov_attested_sign_body). */
#ifndef CCRFS_GOVERNANCE_ATTEST_KEY_H
#define CCRFS_GOVERNANCE_ATTEST_KEY_H

#include "governance/sign.h"
#include "keys/attest/roots.h"
#include "keys/attest/snp.h"

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#define GOV_ATTEST_BINDING "sha256(publicKey)||zeros"

struct gov_attested_key {
    struct gov_key *key;      /* RSA-PSS, private half in locked memory */
    char *attestation_json;   /* the attestation object's text (gov_config.signing_key_attestation) */
    json_object *attestation; /* the same, parsed */
};

/* report_data binding a PEM public key: SHA-256 of its bytes, then 32 zero bytes. */
void gov_attest_report_data(const char *pem, size_t len, uint8_t out[KEYS_SNP_REPORT_DATA_LEN]);

/* Makes the key and gets evidence for it from attester ("sim:DIR", "snp", "aa:URL"). */
int gov_attested_key_make(const char *attester, struct gov_attested_key **out);
void gov_attested_key_free(struct gov_attested_key *k);

/* The process's attested key, once the mount code made it: the governance sinks sign what they
 * send with it. The evidence is the process's, so there is one. NULL: none (not attested). */
void gov_attested_key_set_current(struct gov_attested_key *k);
struct gov_attested_key *gov_attested_key_current(void);

/* A body signed as Azure Clean Room's governance sidecar signs events for its ledger:
 * {"data": base64(bytes), "timestamp": "<ms since the epoch>",
 *  "sign": {"signature": base64(RSA-PSS over bytes), "publicKey": base64(PEM)},
 *  "attestation": {"evidence", "endorsements"}, "platform": "snp-caci"}. */
int gov_attested_sign_body(const struct gov_attested_key *k, const char *bytes, size_t len, char **body,
                           size_t *body_len);

/* What an attestation object proves. */
struct gov_attest_claims {
    char measurement[2 * KEYS_SNP_MEASUREMENT_LEN + 1];
    char host_data[2 * KEYS_SNP_HOST_DATA_LEN + 1];
    char chip_id[2 * KEYS_SNP_CHIP_ID_LEN + 1];
    char key_fingerprint[65]; /* SHA-256 of the key's DER SubjectPublicKeyInfo, hex */
    char ark_fingerprint[65]; /* SHA-256 of the DER ARK that anchored the chain, hex */
    char root[64];            /* the ARK's common name */
    int test_root;            /* a simulator's root */
    int debug;                /* the guest policy allows debugging */
    uint32_t version, vmpl;
    struct keys_snp_tcb tcb; /* reported TCB */
    char product[16];
    char *key_b64; /* the key as base64 DER SPKI (malloc'd; gov_attest_claims_clear) */
};
void gov_attest_claims_clear(struct gov_attest_claims *c);

/* Checks an attestation object: its public key parses; the report's report_data is SHA-256 of
 * the key's PEM text and 32 zeros (constant-time); the report's signature, its VCEK (or VLEK)
 * and chain (keys_snp_verify_ex), with the ASK and ARK found in roots, or, with roots NULL,
 * those the endorsements carry (which then prove only that the report is consistent; the
 * caller pins the ARK fingerprint). EBADMSG naming what failed; EINVAL for a malformed object. */
int gov_attestation_verify(json_object *att, struct keys_snp_roots *roots, struct gov_attest_claims *out);

/* The same for the attestation of an Azure-style signed body, whose sign.publicKey is the key:
 * att holds "evidence" and "endorsements"; key_pem_b64 is sign.publicKey. */
int gov_attestation_verify_parts(json_object *att, const char *key_pem_b64, struct keys_snp_roots *roots,
                                 struct gov_attest_claims *out);

#endif
