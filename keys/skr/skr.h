/* Azure Secure Key Release: the SKR sidecar's POST /key/release ({"maa_endpoint",
 * "akv_endpoint", "kid"}) answers {"key": "<JWK>"}: the key-encryption key, an RSA private
 * key, released by Azure Key Vault after Microsoft Azure Attestation. The DEK is stored beside
 * the dataset as dek.wrapped.json, wrapped with RSA-OAEP-256 under that key's public half,
 * and unwrapped here. dek.wrapped.json:
 *   {"version": 1, "alg": "RSA-OAEP-256", "kid": "<optional>", "wrapped_key": "<base64url>"} */
#ifndef CCRFS_KEYS_SKR_SKR_H
#define CCRFS_KEYS_SKR_SKR_H

#include "keys/release.h"

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#define KEYS_SKR_WRAPPED_OBJECT "dek.wrapped.json"

/* The whole release: call the sidecar, read and unwrap dek.wrapped.json. */
int keys_skr_release(const struct keys_release_request *req, struct keys_dek **dek,
                     struct keys_release_info *info);

/* An RSA private key from a JWK (kty RSA with n, e, d, p, q, dp, dq, qi). */
int keys_skr_jwk_private(const char *jwk_text, size_t len, EVP_PKEY **out);
/* Unwraps a dek.wrapped.json document with the KEK; *dek_out locked memory of 32 bytes. */
int keys_skr_unwrap(const char *doc, size_t len, EVP_PKEY *kek, struct keys_dek **dek);
/* Wraps a 32-byte DEK under an RSA public key into a dek.wrapped.json document (malloc'd). */
int keys_skr_wrap(const uint8_t *dek, size_t dek_len, EVP_PKEY *kek_pub, const char *kid, char **doc);

#endif
