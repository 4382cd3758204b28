/* dek.wrapped.json for an EC key-encryption key released by Azure SKR. RSA-OAEP has no EC
 * counterpart, so the DEK is a JWE (RFC 7516 flattened JSON, ECDH-ES+A256KW with A256GCM, the
 * 32-byte DEK as plaintext) that any JOSE library can write for the KEK's public half:
 *   {"version": 1, "alg": "ECDH-ES+A256KW", "kid": "<optional>", "jwe": {<flattened JWE>}} */
#ifndef CCRFS_KEYS_SKR_WRAP_EC_H
#define CCRFS_KEYS_SKR_WRAP_EC_H

#include "format/dek.h"

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#define KEYS_SKR_ALG_EC "ECDH-ES+A256KW"

/* Wraps a 32-byte DEK for an EC public key (P-256 or P-384); *doc is malloc'd. */
int keys_skr_wrap_ec(const uint8_t *dek, size_t dek_len, EVP_PKEY *kek_pub, const char *kid, char **doc);
/* Unwraps with the EC private key into locked memory. EINVAL naming the member for a malformed
 * document or a plaintext that is not 32 bytes, EBADMSG when it was not wrapped for this key. */
int keys_skr_unwrap_ec(const char *doc, size_t len, EVP_PKEY *kek, struct fmt_dek **dek);
/* The "alg" of a dek.wrapped.json document into alg (size >= 32), "" when it has none. */
void keys_skr_wrapped_alg(const char *doc, size_t len, char *alg, size_t alg_len);

#endif
