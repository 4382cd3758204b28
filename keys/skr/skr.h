/* Azure Secure Key Release: the SKR sidecar's POST /key/release ({"maa_endpoint",
 * "akv_endpoint", "kid"}) answers {"key": "<JWK>"}: the key-encryption key, an RSA private
 * key, released by Azure Key Vault after Microsoft Azure Attestation. The DEK is stored beside
 * the dataset as dek.wrapped.json, wrapped with RSA-OAEP-256 under that key's public half,
 * and unwrapped with format/wrapped.h. */
#ifndef CCRFS_KEYS_SKR_SKR_H
#define CCRFS_KEYS_SKR_SKR_H

#include "format/wrapped.h"
#include "keys/release.h"

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

/* The whole release: call the sidecar, read and unwrap dek.wrapped.json. */
int keys_skr_release(const struct keys_release_request *req, struct fmt_dek **dek,
                     struct keys_release_info *info);

/* An RSA private key from a JWK (kty RSA with n, e, d, p, q, dp, dq, qi). */
int keys_skr_jwk_private(const char *jwk_text, size_t len, EVP_PKEY **out);

#endif
