/* Random bytes from the operating system's generator (through OpenSSL's DRBG), for keys,
 * salts, nonces, ids and retry jitter alike. */
#ifndef CCRFS_COMMON_RANDOM_H
#define CCRFS_COMMON_RANDOM_H

#include <stddef.h>
#include <stdint.h>

/* Fills out with len random bytes; EIO when the generator fails (never partial output). */
int ccr_random(uint8_t *out, size_t len);

/* A uniformly random value in [0, bound) (0 when bound is 0); falls back to a clock-derived
 * value if the generator fails, so callers such as retry jitter never have to handle an error.
 * Not for secrets. */
uint64_t ccr_random_below(uint64_t bound);

#endif
