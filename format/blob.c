#include "format/blob.h"
#include "format/hashpipe.h"
#include "common/random.h"
#include "common/bytes.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/secmem.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void blob_nonce(uint8_t nonce[FMT_NONCE_LEN], uint8_t flag, uint64_t index)
{
    memset(nonce, 0, FMT_NONCE_LEN);
    nonce[0] = flag;
    ccr_put_be64(nonce + 4, index);
}

int fmt_blob_header_parse(const uint8_t *raw, size_t len, struct fmt_blob_header *h)
{
    if (len < FMT_BLOB_HEADER_LEN)
        return ccr_err_set(EINVAL, "too short for a ccrfs blob header (%zu of %d bytes)", len,
                           FMT_BLOB_HEADER_LEN);
    if (memcmp(raw, FMT_BLOB_MAGIC, 8) != 0)
        return ccr_err_set(EINVAL, "not a ccrfs blob (bad magic)");
    if (ccr_get_le16(raw + 8) != FMT_BLOB_VERSION)
        return ccr_err_set(EINVAL, "unsupported blob format version %u", ccr_get_le16(raw + 8));
    if (raw[10] != FMT_ALG_AES256GCM)
        return ccr_err_set(EINVAL, "unknown algorithm id %u", raw[10]);
    if (raw[11] < FMT_LOG2_BLOCK_MIN || raw[11] > FMT_LOG2_BLOCK_MAX)
        return ccr_err_set(EINVAL, "block size 2^%u outside 2^%d..2^%d", raw[11], FMT_LOG2_BLOCK_MIN,
                           FMT_LOG2_BLOCK_MAX);
    if (ccr_get_le32(raw + 12) != 0)
        return ccr_err_set(EINVAL, "reserved header bytes are not zero");
    memcpy(h->raw, raw, FMT_BLOB_HEADER_LEN);
    h->log2_block = raw[11];
    h->plain_len = ccr_get_le64(raw + 16);
    memcpy(h->salt, raw + 24, FMT_SALT_LEN);
    memcpy(h->tag, raw + 56, FMT_TAG_LEN);
    /* Refuse lengths whose object size would overflow 64 bits (2^62 is far beyond any file). */
    if (h->plain_len > (UINT64_C(1) << 62))
        return ccr_err_set(EINVAL, "plaintext length %llu is implausible", (unsigned long long)h->plain_len);
    return 0;
}

uint64_t fmt_blob_block_count(const struct fmt_blob_header *h)
{
    return (h->plain_len + fmt_blob_block_size(h) - 1) >> h->log2_block;
}

uint64_t fmt_blob_object_size(const struct fmt_blob_header *h)
{
    return FMT_BLOB_HEADER_LEN + h->plain_len + fmt_blob_block_count(h) * FMT_TAG_LEN;
}

uint64_t fmt_blob_block_offset(const struct fmt_blob_header *h, uint64_t i)
{
    return FMT_BLOB_HEADER_LEN + i * (fmt_blob_block_size(h) + FMT_TAG_LEN);
}

size_t fmt_blob_block_plain_len(const struct fmt_blob_header *h, uint64_t i)
{
    uint64_t start = i << h->log2_block;
    uint64_t left = h->plain_len > start ? h->plain_len - start : 0;
    return left < fmt_blob_block_size(h) ? (size_t)left : fmt_blob_block_size(h);
}

static int blob_key_alloc(const struct fmt_dek *dek, const struct fmt_blob_header *h,
                          struct fmt_blob_key **out)
{
    struct fmt_blob_key *k = calloc(1, sizeof *k);
    int rc;

    if (k == NULL)
        return ENOMEM;
    k->key = ccr_secmem_alloc(FMT_KEY_LEN);
    if (k->key == NULL) {
        free(k);
        return ENOMEM;
    }
    k->header = *h;
    rc = fmt_hkdf_sha256(dek->bytes, FMT_DEK_LEN, h->salt, FMT_SALT_LEN, FMT_BLOB_HKDF_INFO, k->key,
                         FMT_KEY_LEN);
    if (rc != 0) {
        fmt_blob_key_free(k);
        return rc;
    }
    *out = k;
    return 0;
}

int fmt_blob_key_open(const struct fmt_dek *dek, const struct fmt_blob_header *h, struct fmt_blob_key **out)
{
    uint8_t nonce[FMT_NONCE_LEN];
    struct fmt_blob_key *k;
    int rc = blob_key_alloc(dek, h, &k);

    if (rc != 0)
        return rc;
    blob_nonce(nonce, FMT_NONCE_FLAG_HEADER, 0);
    rc = fmt_gcm_open(k->key, nonce, h->raw, FMT_BLOB_AUTH_LEN, NULL, 0, h->tag, NULL);
    if (rc != 0) {
        fmt_blob_key_free(k);
        return ccr_err_set(EBADMSG,
                           "blob header does not authenticate (wrong key, or the header was altered)");
    }
    *out = k;
    return 0;
}

/* The authenticated part of a header as this version writes it (the tag not yet set). */
static int header_build(unsigned log2_block, uint64_t plain_len, const uint8_t *salt_or_null,
                        struct fmt_blob_header *h)
{
    int rc;

    if (log2_block < FMT_LOG2_BLOCK_MIN || log2_block > FMT_LOG2_BLOCK_MAX)
        return ccr_err_set(EINVAL, "block size 2^%u outside 4 KiB..1 MiB", log2_block);
    memset(h, 0, sizeof *h);
    memcpy(h->raw, FMT_BLOB_MAGIC, 8);
    ccr_put_le16(h->raw + 8, FMT_BLOB_VERSION);
    h->raw[10] = FMT_ALG_AES256GCM;
    h->raw[11] = (uint8_t)log2_block;
    ccr_put_le64(h->raw + 16, plain_len);
    if (salt_or_null != NULL)
        memcpy(h->raw + 24, salt_or_null, FMT_SALT_LEN);
    else if ((rc = ccr_random(h->raw + 24, FMT_SALT_LEN)) != 0)
        return rc;
    h->log2_block = log2_block;
    h->plain_len = plain_len;
    memcpy(h->salt, h->raw + 24, FMT_SALT_LEN);
    return 0;
}

int fmt_blob_key_reopen(const struct fmt_dek *dek, unsigned log2_block, uint64_t plain_len,
                        const uint8_t salt[FMT_SALT_LEN], const uint8_t tag[FMT_TAG_LEN],
                        struct fmt_blob_key **out)
{
    struct fmt_blob_header h;
    int rc;

    if ((rc = header_build(log2_block, plain_len, salt, &h)) != 0)
        return rc;
    memcpy(h.tag, tag, FMT_TAG_LEN);
    memcpy(h.raw + FMT_BLOB_AUTH_LEN, tag, FMT_TAG_LEN);
    return fmt_blob_key_open(dek, &h, out);
}

int fmt_blob_key_create(const struct fmt_dek *dek, unsigned log2_block, uint64_t plain_len,
                        const uint8_t *salt_or_null, struct fmt_blob_key **out)
{
    struct fmt_blob_header h;
    uint8_t nonce[FMT_NONCE_LEN];
    struct fmt_blob_key *k;
    int rc;

    if ((rc = header_build(log2_block, plain_len, salt_or_null, &h)) != 0)
        return rc;
    if ((rc = blob_key_alloc(dek, &h, &k)) != 0)
        return rc;
    blob_nonce(nonce, FMT_NONCE_FLAG_HEADER, 0);
    rc = fmt_gcm_seal(k->key, nonce, h.raw, FMT_BLOB_AUTH_LEN, NULL, 0, NULL, k->header.tag);
    if (rc != 0) {
        fmt_blob_key_free(k);
        return rc;
    }
    memcpy(k->header.raw + FMT_BLOB_AUTH_LEN, k->header.tag, FMT_TAG_LEN);
    *out = k;
    return 0;
}

void fmt_blob_key_free(struct fmt_blob_key *k)
{
    if (k == NULL)
        return;
    ccr_secmem_free(k->key, FMT_KEY_LEN);
    free(k);
}

static void blob_block_nonce(const struct fmt_blob_header *h, uint64_t i, uint8_t nonce[FMT_NONCE_LEN])
{
    uint64_t n = fmt_blob_block_count(h);
    blob_nonce(nonce, i + 1 == n ? FMT_NONCE_FLAG_LAST : FMT_NONCE_FLAG_BLOCK, i);
}

int fmt_blob_decrypt_block(const struct fmt_blob_key *k, uint64_t i, const uint8_t *in, size_t in_len,
                           uint8_t *out)
{
    const struct fmt_blob_header *h = &k->header;
    uint8_t nonce[FMT_NONCE_LEN];
    size_t plain;

    if (i >= fmt_blob_block_count(h))
        return ccr_err_set(EINVAL, "block %llu is past the end of the file", (unsigned long long)i);
    plain = fmt_blob_block_plain_len(h, i);
    if (in_len != plain + FMT_TAG_LEN)
        return ccr_err_set(EBADMSG, "block %llu: %zu bytes where %zu belong", (unsigned long long)i, in_len,
                           plain + FMT_TAG_LEN);
    blob_block_nonce(h, i, nonce);
    if (fmt_gcm_open(k->key, nonce, h->raw, FMT_BLOB_HEADER_LEN, in, plain, in + plain, out) != 0)
        return ccr_err_set(EBADMSG, "block %llu: authentication failed", (unsigned long long)i);
    return 0;
}

int fmt_blob_encrypt_block(const struct fmt_blob_key *k, uint64_t i, const uint8_t *in, size_t len,
                           uint8_t *out)
{
    const struct fmt_blob_header *h = &k->header;
    uint8_t nonce[FMT_NONCE_LEN];

    if (i >= fmt_blob_block_count(h) || len != fmt_blob_block_plain_len(h, i))
        return ccr_err_set(EINVAL, "block %llu: wrong length %zu", (unsigned long long)i, len);
    blob_block_nonce(h, i, nonce);
    return fmt_gcm_seal(k->key, nonce, h->raw, FMT_BLOB_HEADER_LEN, in, len, out, out + len);
}

static int read_full(int fd, uint8_t *buf, size_t len, size_t *got)
{
    *got = 0;
    while (*got < len) {
        ssize_t n = read(fd, buf + *got, len - *got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno;
        if (n == 0)
            break;
        *got += (size_t)n;
    }
    return 0;
}

/* Plaintext is read in chunks of whole blocks into a ring of slots; the hashing thread works
 * on one slot while this thread encrypts and writes another. */
#define ENCRYPT_CHUNK (1u << 20)
#define ENCRYPT_SLOTS 4

int fmt_blob_encrypt_fd(struct fmt_blob_key *k, int in_fd, int out_fd, uint8_t sha256_out[FMT_SHA256_LEN],
                        void (*progress)(void *arg, uint64_t bytes), void *progress_arg)
{
    const struct fmt_blob_header *h = &k->header;
    size_t bs = fmt_blob_block_size(h);
    size_t per_chunk = ENCRYPT_CHUNK > bs ? ENCRYPT_CHUNK / bs : 1;
    size_t chunk = per_chunk * bs;
    uint64_t blocks = fmt_blob_block_count(h), done = 0, tickets[ENCRYPT_SLOTS] = {0};
    uint8_t *plain = ccr_secmem_alloc(ENCRYPT_SLOTS * chunk + 1);
    uint8_t *cipher = malloc(per_chunk * (bs + FMT_TAG_LEN));
    struct fmt_hashpipe *hash = NULL;
    size_t got;
    int rc;

    if (plain == NULL || cipher == NULL) {
        rc = ENOMEM;
        goto out;
    }
    if ((rc = fmt_hashpipe_start(&hash)) != 0)
        goto out;
    if ((rc = ccr_write_all(out_fd, h->raw, FMT_BLOB_HEADER_LEN)) != 0)
        goto out;
    for (uint64_t i = 0, round = 0; i < blocks; i += per_chunk, round++) {
        size_t slot = round % ENCRYPT_SLOTS, want, out_len = 0;
        uint64_t n = blocks - i < per_chunk ? blocks - i : per_chunk;
        uint8_t *p = plain + slot * chunk;

        if (round >= ENCRYPT_SLOTS)
            fmt_hashpipe_wait(hash, tickets[slot]); /* the slot is free once hashed */
        want = (size_t)((n - 1) * bs + fmt_blob_block_plain_len(h, i + n - 1));
        if ((rc = read_full(in_fd, p, want, &got)) != 0)
            goto out;
        if (got != want) {
            rc = ccr_err_set(EIO, "input ended at %llu of %llu bytes (did it change while being read?)",
                             (unsigned long long)(done + got), (unsigned long long)h->plain_len);
            goto out;
        }
        tickets[slot] = fmt_hashpipe_push(hash, p, want);
        for (uint64_t b = 0; b < n; b++) {
            size_t len = fmt_blob_block_plain_len(h, i + b);
            if ((rc = fmt_blob_encrypt_block(k, i + b, p + b * bs, len, cipher + out_len)) != 0)
                goto out;
            out_len += len + FMT_TAG_LEN;
        }
        if ((rc = ccr_write_all(out_fd, cipher, out_len)) != 0)
            goto out;
        done += want;
        if (progress != NULL)
            progress(progress_arg, done);
    }
    /* The file must end exactly where its length said. */
    if ((rc = read_full(in_fd, plain + ENCRYPT_SLOTS * chunk, 1, &got)) != 0)
        goto out;
    if (got != 0)
        rc = ccr_err_set(EIO, "input is longer than %llu bytes (did it change while being read?)",
                         (unsigned long long)h->plain_len);
out:
    if (hash != NULL)
        fmt_hashpipe_finish(hash, rc == 0 ? sha256_out : NULL);
    ccr_secmem_free(plain, ENCRYPT_SLOTS * chunk + 1);
    free(cipher);
    return rc;
}

static size_t small_blob_max(void)
{
    size_t blocks = FMT_BLOB_SMALL_MAX >> FMT_LOG2_BLOCK_MIN;
    return FMT_BLOB_HEADER_LEN + FMT_BLOB_SMALL_MAX + blocks * FMT_TAG_LEN;
}

int fmt_blob_scratch_init(struct fmt_blob_scratch *s)
{
    s->plain = ccr_secmem_alloc(FMT_BLOB_SMALL_MAX);
    s->cipher = malloc(small_blob_max());
    if (s->plain == NULL || s->cipher == NULL) {
        fmt_blob_scratch_free(s);
        return ENOMEM;
    }
    return 0;
}

void fmt_blob_scratch_free(struct fmt_blob_scratch *s)
{
    ccr_secmem_free(s->plain, FMT_BLOB_SMALL_MAX);
    free(s->cipher);
    s->plain = NULL;
    s->cipher = NULL;
}

int fmt_blob_encrypt_small_fd(struct fmt_blob_key *k, int in_fd, int out_fd,
                              uint8_t sha256_out[FMT_SHA256_LEN], struct fmt_blob_scratch *s)
{
    const struct fmt_blob_header *h = &k->header;
    size_t bs = fmt_blob_block_size(h), want = (size_t)h->plain_len, got, out_len = FMT_BLOB_HEADER_LEN;
    uint64_t blocks = fmt_blob_block_count(h);
    int rc;

    if (h->plain_len > FMT_BLOB_SMALL_MAX)
        return ccr_err_set(EINVAL, "%llu bytes is too large for the small-file path",
                           (unsigned long long)h->plain_len);
    if ((rc = read_full(in_fd, s->plain, want, &got)) != 0)
        goto out;
    if (got != want) {
        rc = ccr_err_set(EIO, "input ended at %zu of %zu bytes (did it change while being read?)", got, want);
        goto out;
    }
    memcpy(s->cipher, h->raw, FMT_BLOB_HEADER_LEN);
    for (uint64_t i = 0; i < blocks; i++) {
        size_t len = fmt_blob_block_plain_len(h, i);
        if ((rc = fmt_blob_encrypt_block(k, i, s->plain + i * bs, len, s->cipher + out_len)) != 0)
            goto out;
        out_len += len + FMT_TAG_LEN;
    }
    if ((rc = ccr_write_all(out_fd, s->cipher, out_len)) != 0)
        goto out;
    fmt_sha256(s->plain, want, sha256_out);
out:
    OPENSSL_cleanse(s->plain, got);
    return rc;
}
