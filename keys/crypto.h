/* Primitives for the v1 format: HKDF-SHA256, AES-256-GCM, SHA-256, random bytes.
 * GCM uses one EVP context per thread, so callers on many threads never share state. */
#ifndef CCRFS_KEYS_CRYPTO_H
#define CCRFS_KEYS_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define KEYS_KEY_LEN   32
#define KEYS_NONCE_LEN 12
#define KEYS_TAG_LEN   16
#define KEYS_SALT_LEN  32
#define KEYS_SHA256_LEN 32

int keys_hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt, size_t salt_len, const char *info,
                     uint8_t *out, size_t out_len);

/* Encrypts len bytes (out may equal in) and writes the tag. */
int keys_gcm_seal(const uint8_t key[KEYS_KEY_LEN], const uint8_t nonce[KEYS_NONCE_LEN], const uint8_t *aad,
                  size_t aad_len, const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[KEYS_TAG_LEN]);
/* Decrypts and authenticates; EBADMSG when the tag does not match, in which case out is wiped:
 * plaintext that failed authentication never leaves this function. */
int keys_gcm_open(const uint8_t key[KEYS_KEY_LEN], const uint8_t nonce[KEYS_NONCE_LEN], const uint8_t *aad,
                  size_t aad_len, const uint8_t *in, size_t len, const uint8_t tag[KEYS_TAG_LEN], uint8_t *out);

int keys_random(uint8_t *out, size_t len);
void keys_sha256(const void *data, size_t len, uint8_t out[KEYS_SHA256_LEN]);

#endif
