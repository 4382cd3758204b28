#include "format/blobsrc.h"
#include "common/err.h"
#include "common/secmem.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

static int blobsrc_read(const struct fetch_source *src, uint64_t offset, void *buf, size_t len)
{
    const struct fmt_blobsrc *bs = (const struct fmt_blobsrc *)src;
    const struct fmt_blob_header *h = &bs->key->header;
    size_t block = fmt_blob_block_size(h), stride = block + FMT_TAG_LEN;
    uint8_t *out = buf, *plain = NULL, *sealed = NULL;
    int rc = 0;

    if (offset > src->len || len > src->len - offset)
        return ccr_err_set(EINVAL, "blob range past its end");
    if (offset < FMT_BLOB_HEADER_LEN) {
        size_t n = FMT_BLOB_HEADER_LEN - offset < len ? (size_t)(FMT_BLOB_HEADER_LEN - offset) : len;
        memcpy(out, h->raw + offset, n);
        out += n;
        offset += n;
        len -= n;
    }
    if (len == 0)
        return 0;
    plain = ccr_secmem_alloc(block);
    sealed = malloc(stride);
    if (plain == NULL || sealed == NULL) {
        rc = ENOMEM;
        goto out;
    }
    while (len > 0) {
        uint64_t i = (offset - FMT_BLOB_HEADER_LEN) / stride;
        size_t in = (size_t)((offset - FMT_BLOB_HEADER_LEN) % stride);
        size_t plen = fmt_blob_block_plain_len(h, i), n;
        if ((rc = bs->read(bs->arg, plain, plen, i * block)) != 0)
            goto out;
        if ((rc = fmt_blob_encrypt_block(bs->key, i, plain, plen, sealed)) != 0)
            goto out;
        n = plen + FMT_TAG_LEN - in < len ? plen + FMT_TAG_LEN - in : len;
        memcpy(out, sealed + in, n);
        out += n;
        offset += n;
        len -= n;
    }
out:
    ccr_secmem_free(plain, block);
    free(sealed);
    return rc;
}

void fmt_blobsrc_init(struct fmt_blobsrc *bs, const struct fmt_blob_key *key, fmt_plain_reader read,
                      void *arg)
{
    memset(bs, 0, sizeof *bs);
    bs->src.len = fmt_blob_object_size(&key->header);
    bs->src.read = blobsrc_read;
    bs->src.fd = -1;
    bs->key = key;
    bs->read = read;
    bs->arg = arg;
}

int fmt_plain_sha256(fmt_plain_reader read, void *arg, uint64_t plain_len, uint8_t out[FMT_SHA256_LEN])
{
    size_t step = 1u << 20;
    uint8_t *buf = ccr_secmem_alloc(step);
    EVP_MD_CTX *sha = EVP_MD_CTX_new();
    int rc = 0;

    if (buf == NULL || sha == NULL || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1) {
        rc = ENOMEM;
        goto out;
    }
    for (uint64_t off = 0; off < plain_len; off += step) {
        size_t n = plain_len - off < step ? (size_t)(plain_len - off) : step;
        if ((rc = read(arg, buf, n, off)) != 0)
            goto out;
        EVP_DigestUpdate(sha, buf, n);
    }
    EVP_DigestFinal_ex(sha, out, NULL);
out:
    EVP_MD_CTX_free(sha);
    ccr_secmem_free(buf, step);
    return rc;
}
