/* Pieces of the Trustee KBS attestation protocol (RCAR, version 0.4.0) that the client and
 * the broker must compute identically. */
#ifndef CCRFS_KEYS_KBS_PROTOCOL_H
#define CCRFS_KEYS_KBS_PROTOCOL_H

#include "keys/attest/evidence.h"

#include <stddef.h>
#include <stdint.h>

#define KEYS_KBS_PROTOCOL_VERSION "0.4.0"
#define KEYS_KBS_COOKIE           "kbs-session-id"
#define KEYS_KBS_TEE              "snp"

struct json_object;

/* Canonical JSON text (RFC 8785 for the strings, numbers and booleans the protocol uses):
 * object keys sorted, no whitespace, minimal escapes. Trustee's attestation service hashes
 * structured runtime data in this form (serialize_canon_json). malloc'd. */
char *keys_kbs_canonical_json(struct json_object *v);

/* runtime-data = {"nonce": NONCE, "tee-pubkey": JWK}; report_data = SHA-384 of its canonical
 * text, zero-padded to 64 bytes (Trustee's default hash for SNP). */
struct json_object *keys_kbs_runtime_data(const char *nonce, struct json_object *tee_pubkey);
int keys_kbs_report_data(struct json_object *runtime_data, uint8_t out[KEYS_SNP_REPORT_DATA_LEN]);

/* Resource paths REPO/TYPE/TAG: three non-empty parts of [A-Za-z0-9._-], none "." or "..". */
int keys_kbs_resource_check(const char *path);

#endif
