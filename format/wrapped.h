/* dek.wrapped.json: the DEK stored beside a dataset, wrapped with RSA-OAEP-256 (SHA-256, MGF1
 * SHA-256) under a key-encryption key's public half. The KEK is released by Azure SKR
 * (keys/skr) or held by the recipient of a sink mount's outputs (--unwrap-key).
 *   {"version": 1, "alg": "RSA-OAEP-256", "kid": "<optional>", "wrapped_key": "<base64url>"} */
#ifndef CCRFS_FORMAT_WRAPPED_H
#define CCRFS_FORMAT_WRAPPED_H

#include "format/dek.h"

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#define FMT_WRAPPED_DEK_OBJECT "dek.wrapped.json"

/* Unwraps a dek.wrapped.json document with the KEK; *dek locked memory of 32 bytes. */
int fmt_dek_unwrap(const char *doc, size_t len, EVP_PKEY *kek, struct fmt_dek **dek);
/* Wraps a 32-byte DEK under an RSA public key (>= 2048 bits) into a dek.wrapped.json document
 * (malloc'd). */
int fmt_dek_wrap(const uint8_t *dek, size_t dek_len, EVP_PKEY *kek_pub, const char *kid, char **doc);

#endif
