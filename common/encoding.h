/* Hex and base64 (standard and URL-safe) encoders and strict decoders. */
#ifndef CCRFS_COMMON_ENCODING_H
#define CCRFS_COMMON_ENCODING_H

#include <stddef.h>
#include <stdint.h>

/* Writes 2*len lowercase hex digits and a NUL to out (size >= 2*len+1). */
void ccr_hex_encode(const uint8_t *in, size_t len, char *out);
/* Decodes exactly out_len bytes from hex (either case); EINVAL on any other length or digit. */
int ccr_hex_decode(const char *hex, uint8_t *out, size_t out_len);
/* The value of one hex digit (either case), or -1. */
int ccr_hex_digit(char c);

enum ccr_b64_variant { CCR_B64_STD, CCR_B64_URL };

/* Encoded length plus NUL; STD pads with '=', URL does not (as JOSE wants). */
size_t ccr_b64_encoded_size(size_t len, enum ccr_b64_variant v);
void ccr_b64_encode(const uint8_t *in, size_t len, char *out, enum ccr_b64_variant v);
/* Decodes into a malloc'd buffer; EINVAL on a character outside the alphabet or bad padding.
 * URL accepts input with or without padding. */
int ccr_b64_decode(const char *in, size_t in_len, uint8_t **out, size_t *out_len, enum ccr_b64_variant v);

#endif
