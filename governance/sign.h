/* Signing keys for audit checkpoints and contracts: Ed25519 or ECDSA P-256 (SHA-256),
 * through OpenSSL; and, for a key bound into attestation evidence, RSA (at least 2048 bits)
 * signing RSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt, as Azure Clean Room's
 * governance verifies. Public keys travel as base64 of their DER SubjectPublicKeyInfo;
 * signatures as base64 (Ed25519: 64 raw bytes; ECDSA: DER; RSA-PSS: the modulus' size). */
#ifndef CCRFS_GOVERNANCE_SIGN_H
#define CCRFS_GOVERNANCE_SIGN_H

#include <stddef.h>
#include <stdint.h>

struct gov_key;

/* Creates a new private key file (PEM, PKCS#8, mode 0600); alg is "ed25519" or "p256".
 * EEXIST when path exists. */
int gov_key_generate_file(const char *path, const char *alg);
int gov_key_load_private(const char *path, struct gov_key **out);
/* A public key from base64 DER SPKI (as gov_key_public_b64 writes it). */
int gov_key_from_public_b64(const char *b64, struct gov_key **out);
/* The same, also accepting an RSA key (checkpoints of an attested key). */
int gov_key_from_public_b64_any(const char *b64, struct gov_key **out);
/* A public key (any of the three kinds) from PEM text ("-----BEGIN PUBLIC KEY-----"). */
int gov_key_from_public_pem(const char *pem, size_t len, struct gov_key **out);
/* A new RSA-2048 key in memory only (RSA-PSS signatures). */
int gov_key_generate_rsa_pss(struct gov_key **out);
/* The public key as PEM text (malloc'd, NUL-terminated; *len without the NUL). */
int gov_key_public_pem(const struct gov_key *k, char **out, size_t *len);
/* A public key from a PEM file holding either a public or a private key. */
int gov_key_load_public(const char *path, struct gov_key **out);
/* Wraps an OpenSSL EVP_PKEY (taking a reference of its own). */
struct evp_pkey_st;
int gov_key_from_evp(struct evp_pkey_st *pkey, struct gov_key **out);
void gov_key_free(struct gov_key *k);
/* The key's OpenSSL object, still owned by k. */
struct evp_pkey_st *gov_key_evp(const struct gov_key *k);

/* "ed25519", "p256" or "rsa-pss". */
const char *gov_key_alg(const struct gov_key *k);
/* base64 DER SPKI, malloc'd. */
int gov_key_public_b64(const struct gov_key *k, char **out);

/* Signs msg; writes a malloc'd base64 signature. */
int gov_key_sign_b64(const struct gov_key *k, const void *msg, size_t len, char **sig_b64);
/* 0 when sig_b64 is a valid signature of msg by k; EBADMSG when not; EINVAL when malformed. */
int gov_key_verify_b64(const struct gov_key *k, const void *msg, size_t len, const char *sig_b64);

#endif
