/* Pieces of the Trustee KBS attestation protocol (RCAR, version 0.4.0) that the client and
 * the broker must compute identically, and Trustee's error vocabulary. */
#ifndef CCRFS_KEYS_KBS_PROTOCOL_H
#define CCRFS_KEYS_KBS_PROTOCOL_H

#include "keys/attest/evidence.h"

#include <stddef.h>
#include <stdint.h>

#define KEYS_KBS_PROTOCOL_VERSION "0.4.0"
#define KEYS_KBS_COOKIE           "kbs-session-id"
#define KEYS_KBS_TEE              "snp"
/* Trustee's ErrorInformation "type" is this prefix, '/', and the error variant's name. */
#define KEYS_KBS_ERROR_PREFIX "https://github.com/confidential-containers/kbs/errors/"

struct json_object;

/* Canonical JSON text per RFC 8785 (JCS), as serde_json_canonicalizer writes it: object
 * members sorted by their UTF-16 code units, no whitespace, strings with only the escapes
 * JCS allows (\" \\ \b \f \n \r \t, other controls as \u00xx), numbers in ECMAScript
 * Number-to-string form (integers beyond 2^53 rounded as a double would be). malloc'd; NULL
 * with EINVAL recorded for text that is not UTF-8 or a number that is not finite. */
char *keys_kbs_canonical_json(struct json_object *v);

/* The tee-pubkey as Trustee's typed TeePubKey rebuilds it: {"kty":"EC","crv","alg","x","y"},
 * {"kty":"RSA","alg","n","e"} or {"kty":"AKP","alg","pub"}, every member a string, any other
 * member dropped. NULL with EINVAL naming the problem. */
struct json_object *keys_kbs_tee_pubkey_typed(struct json_object *jwk);

/* runtime-data of the Attestation message: {"nonce": NONCE, "tee-pubkey": typed JWK}. */
struct json_object *keys_kbs_runtime_data(const char *nonce, struct json_object *tee_pubkey);

/* report_data as guest-components binds it and Trustee checks it for SNP: the digest of the
 * canonical JSON of {"additional-evidence": ADDITIONAL (a string, "" without devices),
 * "nonce": NONCE, "tee-pubkey": the typed JWK}, zero-padded to 64 bytes. hash is "sha384"
 * (NULL; what Trustee always checks for SNP), "sha256" or "sha512". */
int keys_kbs_report_data(const char *hash, const char *nonce, struct json_object *tee_pubkey,
                         const char *additional_evidence, uint8_t out[KEYS_SNP_REPORT_DATA_LEN]);
/* The hash algorithms this client can bind report_data with, as the Request's
 * extra-params."supported-hash-algorithms" lists them. */
extern const char *const keys_kbs_hash_algorithms[];

/* Resource paths REPO/TYPE/TAG: three non-empty parts of [A-Za-z0-9._-], none "." or "..". */
int keys_kbs_resource_check(const char *path);

/* Trustee's error body {"type": KEYS_KBS_ERROR_PREFIX VARIANT, "detail": DETAIL} as compact
 * JSON text, malloc'd. */
char *keys_kbs_error_json(const char *variant, const char *detail);
/* The variant of a Trustee error body ("PolicyDeny", ...), copied into out; ENOENT when the
 * body is not one. *detail (may be NULL) gets the detail text, malloc'd. */
int keys_kbs_error_parse(const char *body, char *variant, size_t variant_len, char **detail);

#endif
