/* JSON Web Keys and JSON Web Encryption as the KBS protocol uses them (RFC 7516/7517/7518):
 * key management RSA-OAEP-256 or ECDH-ES+A256KW (P-256), content encryption A256GCM, the
 * flattened JSON serialization. The broker encrypts to the TEE's ephemeral public key; the
 * client decrypts with the private half, which never leaves its memory. */
#ifndef CCRFS_KEYS_KBS_JWE_H
#define CCRFS_KEYS_KBS_JWE_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

#define KEYS_JWE_ALG_RSA  "RSA-OAEP-256"
#define KEYS_JWE_ALG_ECDH "ECDH-ES+A256KW"

/* A fresh key pair for alg: P-256 for ECDH-ES+A256KW, RSA-3072 for RSA-OAEP-256. */
int keys_jwk_generate(const char *alg, EVP_PKEY **out);
/* The public JWK: {"alg","crv","kty":"EC","x","y"} or {"alg","e","kty":"RSA","n"}.
 * alg may be NULL (left out, as for an "epk"). */
struct json_object *keys_jwk_public(EVP_PKEY *key, const char *alg);
/* Parses a public JWK (EC P-256/P-384 or RSA); alg_out gets its "alg" ("" when absent). */
int keys_jwk_parse_public(struct json_object *jwk, EVP_PKEY **out, char *alg_out, size_t alg_len);

/* Encrypts plaintext to recipient; alg is RSA-OAEP-256 or ECDH-ES+A256KW. *out is a
 * malloc'd flattened-JSON JWE. */
int keys_jwe_encrypt(EVP_PKEY *recipient, const char *alg, const uint8_t *pt, size_t len, char **out);
/* Decrypts a flattened-JSON JWE with the private key. *pt is locked memory of *pt_len
 * bytes (free with ccr_secmem_free(*pt, *pt_len)). EBADMSG when anything fails to
 * authenticate, EINVAL naming the member for a malformed JWE or an unsupported alg/enc. */
int keys_jwe_decrypt(const char *json, size_t json_len, EVP_PKEY *priv, uint8_t **pt, size_t *pt_len);

/* The Concat KDF of RFC 7518 section 4.6.2 (SHA-256): AlgorithmID, PartyUInfo, PartyVInfo
 * (each length-prefixed) and SuppPubInfo = keybits. Exposed for known-answer tests. */
int keys_jwe_concat_kdf(const uint8_t *z, size_t z_len, const char *alg, const uint8_t *apu, size_t apu_len,
                        const uint8_t *apv, size_t apv_len, size_t keybits, uint8_t *out);

/* RFC 3394 AES key wrap/unwrap with a 256-bit KEK (A256KW); EBADMSG when the unwrap
 * integrity check fails. out_len is len+8 for wrap and len-8 for unwrap. */
int keys_aes_kw_wrap(const uint8_t kek[32], const uint8_t *in, size_t len, uint8_t *out);
int keys_aes_kw_unwrap(const uint8_t kek[32], const uint8_t *in, size_t len, uint8_t *out);

/* The A256GCM content layer: AAD is the ASCII of the protected header as sent. */
int keys_jwe_gcm_open(const uint8_t cek[32], const uint8_t *iv, size_t iv_len, const char *aad,
                      const uint8_t *ct, size_t ct_len, const uint8_t *tag, size_t tag_len, uint8_t *out);

#endif
