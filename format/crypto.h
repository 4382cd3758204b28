/* Primitives for the v1 format: HKDF-SHA256, AES-256-GCM, SHA-256 (random bytes: common/random.h).
 * GCM uses one EVP context per thread, so callers on many threads never share state. */
#ifndef CCRFS_FORMAT_CRYPTO_H
#define CCRFS_FORMAT_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define FMT_KEY_LEN    32
#define FMT_NONCE_LEN  12
#define FMT_TAG_LEN    16
#define FMT_SALT_LEN   32
#define FMT_SHA256_LEN 32

int fmt_hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt, size_t salt_len,
                    const char *info, uint8_t *out, size_t out_len);

/* Encrypts len bytes (out may equal in) and writes the tag. */
int fmt_gcm_seal(const uint8_t key[FMT_KEY_LEN], const uint8_t nonce[FMT_NONCE_LEN], const uint8_t *aad,
                 size_t aad_len, const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[FMT_TAG_LEN]);
/* Decrypts and authenticates; EBADMSG when the tag does not match, in which case out is wiped:
 * plaintext that failed authentication never leaves this function. */
int fmt_gcm_open(const uint8_t key[FMT_KEY_LEN], const uint8_t nonce[FMT_NONCE_LEN], const uint8_t *aad,
                 size_t aad_len, const uint8_t *in, size_t len, const uint8_t tag[FMT_TAG_LEN], uint8_t *out);

void fmt_sha256(const void *data, size_t len, uint8_t out[FMT_SHA256_LEN]);

#endif
