/* A growable byte buffer (HTTP bodies, JSON and text being built), always NUL-terminated so
 * text can be used in place. A cap bounds how large it may grow (e.g. a reply size limit). */
#ifndef CCRFS_COMMON_DYNBUF_H
#define CCRFS_COMMON_DYNBUF_H

#include <stddef.h>

struct ccr_dynbuf {
    char *data; /* NULL until the first add; then data[len] == '\0' */
    size_t len, cap;
    size_t max; /* 0: no limit; otherwise adds beyond max fail with EFBIG */
};

void ccr_dynbuf_init(struct ccr_dynbuf *b, size_t max);
/* 0, ENOMEM or EFBIG; on failure the buffer keeps what it held. */
int ccr_dynbuf_add(struct ccr_dynbuf *b, const void *data, size_t len);
int ccr_dynbuf_addf(struct ccr_dynbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the bytes to the caller (free() them; never NULL on success: "" when empty). */
char *ccr_dynbuf_steal(struct ccr_dynbuf *b, size_t *len);
void ccr_dynbuf_reset(struct ccr_dynbuf *b);
/* Frees; wipes first, for buffers that held secrets. */
void ccr_dynbuf_free(struct ccr_dynbuf *b);
void ccr_dynbuf_free_wiped(struct ccr_dynbuf *b);

#endif
