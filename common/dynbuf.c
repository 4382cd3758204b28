#include "common/dynbuf.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ccr_dynbuf_init(struct ccr_dynbuf *b, size_t max)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

static int dynbuf_grow(struct ccr_dynbuf *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (extra > SIZE_MAX - b->len - 1)
        return ENOMEM;
    need = b->len + extra + 1;
    if (b->max != 0 && b->len + extra > b->max)
        return EFBIG;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    p = realloc(b->data, cap);
    if (p == NULL)
        return ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int ccr_dynbuf_add(struct ccr_dynbuf *b, const void *data, size_t len)
{
    int rc = dynbuf_grow(b, len);
    if (rc != 0)
        return rc;
    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int ccr_dynbuf_addf(struct ccr_dynbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n, rc;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return EINVAL;
    if ((rc = dynbuf_grow(b, (size_t)n)) != 0)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

char *ccr_dynbuf_steal(struct ccr_dynbuf *b, size_t *len)
{
    char *data = b->data;

    if (data == NULL)
        data = calloc(1, 1);
    if (data != NULL && len != NULL)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return data;
}

void ccr_dynbuf_reset(struct ccr_dynbuf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

void ccr_dynbuf_free(struct ccr_dynbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void ccr_dynbuf_free_wiped(struct ccr_dynbuf *b)
{
    if (b->data != NULL)
        OPENSSL_cleanse(b->data, b->cap);
    ccr_dynbuf_free(b);
}
