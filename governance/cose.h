/* COSE_Sign1 (RFC 9052 section 4.2): a signature by one key over a payload, in CBOR. Used for
 * contract signatures made with COSE tooling (docs/CONTRACTS.md, "COSE_Sign1 signatures").
 *
 * Accepted: an optional tag 18 around [protected bstr, unprotected map, payload bstr or nil
 * (detached), signature bstr]. The protected header must hold the algorithm (1); a key id (4)
 * and content type (3) are read from either header. Algorithms: ES256 (-7), ES384 (-35),
 * EdDSA (-8, Ed25519 only), PS256 (-37, salt length 32). ECDSA signatures are r || s.
 *
 * Refused, with a message naming what is wrong: input over GOV_COSE_MAX_BYTES, trailing
 * bytes, indefinite lengths, integers or lengths not in their shortest form, nesting deeper
 * than 16, duplicate map keys, a tag other than 18, an algorithm outside the protected header
 * or not one of the four, a key that cannot make that algorithm, a "crit" (2) header naming a
 * label this code does not understand, a label present in both headers. */
#ifndef CCRFS_GOVERNANCE_COSE_H
#define CCRFS_GOVERNANCE_COSE_H

#include <stddef.h>
#include <stdint.h>

#define GOV_COSE_MAX_BYTES (512 * 1024)

#define GOV_COSE_ES256 (-7)
#define GOV_COSE_ES384 (-35)
#define GOV_COSE_EDDSA (-8)
#define GOV_COSE_PS256 (-37)

struct evp_pkey_st;

struct gov_cose_sign1 {
    int64_t alg;
    uint8_t *protected_hdr; /* the protected header's bytes as they were signed */
    size_t protected_len;
    uint8_t *kid; /* NUL-terminated copy; NULL when absent */
    size_t kid_len;
    char *content_type; /* a text content type, or a CoAP number as decimal; NULL when absent */
    uint8_t *payload;   /* NULL when detached */
    size_t payload_len;
    int detached;
    uint8_t *signature;
    size_t signature_len;
};

/* Parses and checks the structure (not the signature). EINVAL naming the fault; EFBIG oversized. */
int gov_cose_sign1_parse(const void *msg, size_t len, struct gov_cose_sign1 *out);
void gov_cose_sign1_release(struct gov_cose_sign1 *m);

/* The bytes signed: the CBOR of ["Signature1", protected, external_aad, payload]. */
int gov_cose_sig_structure(const void *protected_hdr, size_t protected_len, const void *aad, size_t aad_len,
                           const void *payload, size_t payload_len, uint8_t **out, size_t *out_len);

/* Checks a raw COSE signature (ECDSA as r || s) of tbs by key with alg: 0, EBADMSG when it
 * does not verify, EINVAL when the key cannot make alg or alg is not supported. */
int gov_cose_verify_raw(struct evp_pkey_st *key, int64_t alg, const void *tbs, size_t tbs_len,
                        const void *sig, size_t sig_len);

/* Checks a parsed message's signature with external_aad; detached_payload is required when
 * the message's payload is detached and must be NULL otherwise. */
int gov_cose_verify_parsed(const struct gov_cose_sign1 *m, struct evp_pkey_st *key, const void *aad,
                           size_t aad_len, const void *detached_payload, size_t detached_len);

/* What contract code calls: 0 when msg is a COSE_Sign1 by key over exactly payload (attached
 * and equal, or detached), with empty external_aad. *kid (may be NULL) receives a malloc'd,
 * NUL-terminated copy of the key id or NULL when the message has none. EBADMSG: the signature
 * or payload does not match; EINVAL: malformed or an algorithm the key cannot make. */
int gov_cose_verify(const void *msg, size_t len, struct evp_pkey_st *key, const void *payload,
                    size_t payload_len, char **kid);
/* The same with the key as DER SubjectPublicKeyInfo. */
int gov_cose_verify_spki(const void *msg, size_t len, const void *spki, size_t spki_len, const void *payload,
                         size_t payload_len, char **kid);

/* Makes a COSE_Sign1 (tag 18, deterministic encoding): protected {1: alg[, 3: content_type]
 * [, 4: kid]}, empty unprotected map, payload attached unless detached. kid and content_type
 * may be NULL. */
int gov_cose_sign(struct evp_pkey_st *key, int64_t alg, const char *kid, const char *content_type,
                  const void *payload, size_t payload_len, int detached, uint8_t **out, size_t *out_len);

/* Contract signatures (docs/CONTRACTS.md): a COSE_Sign1 travels where a plain signature
 * does, as this prefix followed by the message's standard base64. */
#define GOV_COSE_SIG_PREFIX "cose:"

/* gov_cose_verify_spki with both in standard base64: a COSE_Sign1 and a DER SPKI. */
int gov_cose_verify_b64(const char *cose_b64, const char *spki_b64, const void *payload, size_t payload_len,
                        char **kid);
/* Signs payload with the PEM private key in key_path (any key cose.h supports), as alg_name
 * (NULL: the key's default), detached or attached; writes a malloc'd base64 COSE_Sign1. */
int gov_cose_sign_file_b64(const char *key_path, const char *alg_name, const char *kid, const void *payload,
                           size_t payload_len, int detached, char **cose_b64);

/* "ES256", "ES384", "EdDSA", "PS256" to and from their COSE numbers. */
int gov_cose_alg_from_name(const char *name, int64_t *alg);
const char *gov_cose_alg_name(int64_t alg);
/* The algorithm a key makes by default: Ed25519 EdDSA, P-256 ES256, P-384 ES384, RSA PS256. */
int gov_cose_alg_for_key(struct evp_pkey_st *key, int64_t *alg);

#endif
