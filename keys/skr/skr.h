/* Azure Secure Key Release: the SKR sidecar's POST /key/release ({"maa_endpoint",
 * "akv_endpoint", "kid"}, the endpoints bare host names) answers {"key": "<JWK>"}: the key Azure
 * Key Vault released after Microsoft Azure Attestation, as a private JWK of kty RSA, EC or oct
 * (the sidecar writes Key Vault's RSA-HSM / EC-HSM / oct-HSM keys with the plain kty).
 *   RSA: a key-encryption key; the DEK is dek.wrapped.json beside the dataset, RSA-OAEP-256.
 *   EC:  a key-encryption key; dek.wrapped.json with alg ECDH-ES+A256KW (keys/skr/wrap_ec.h).
 *   oct: the DEK itself (32 bytes), as DEPA imports a dataset key into Key Vault; there is no
 *        dek.wrapped.json. */
#ifndef CCRFS_KEYS_SKR_SKR_H
#define CCRFS_KEYS_SKR_SKR_H

#include "format/wrapped.h"
#include "keys/release.h"

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

/* The whole release: normalize the endpoints, call the sidecar, turn the key into the DEK. */
int keys_skr_release(const struct keys_release_request *req, struct fmt_dek **dek,
                     struct keys_release_info *info);

enum keys_skr_kty { KEYS_SKR_KTY_RSA = 1, KEYS_SKR_KTY_EC, KEYS_SKR_KTY_OCT };

/* A released key. */
struct keys_skr_key {
    enum keys_skr_kty kty;
    EVP_PKEY *pkey;    /* RSA or EC: the private key */
    uint8_t *secret;   /* oct: the key bytes, locked memory */
    size_t secret_len; /* oct: their length */
    char crv[8];       /* EC: "P-256", "P-384" */
};

/* Parses a released private JWK: kty RSA or RSA-HSM (n e d p q dp dq qi), EC or EC-HSM (crv
 * P-256 or P-384, x y d), oct or oct-HSM (k). Other members (kid, key_ops) are ignored. EINVAL
 * naming the member that is missing or wrong. Clear with keys_skr_key_clear. */
int keys_skr_key_parse(const char *jwk_text, size_t len, struct keys_skr_key *out);
void keys_skr_key_clear(struct keys_skr_key *key);

/* An RSA private key from a JWK (kty RSA with n, e, d, p, q, dp, dq, qi). */
int keys_skr_jwk_private(const char *jwk_text, size_t len, EVP_PKEY **out);

#endif
