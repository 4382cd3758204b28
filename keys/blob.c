#include "keys/blob.h"
#include "keys/hashpipe.h"
#include "common/bytes.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/secmem.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void blob_nonce(uint8_t nonce[KEYS_NONCE_LEN], uint8_t flag, uint64_t index)
{
    memset(nonce, 0, KEYS_NONCE_LEN);
    nonce[0] = flag;
    ccr_put_be64(nonce + 4, index);
}

int keys_blob_header_parse(const uint8_t *raw, size_t len, struct keys_blob_header *h)
{
    if (len < KEYS_BLOB_HEADER_LEN)
        return ccr_err_set(EINVAL, "too short for a ccrfs blob header (%zu of %d bytes)", len, KEYS_BLOB_HEADER_LEN);
    if (memcmp(raw, KEYS_BLOB_MAGIC, 8) != 0)
        return ccr_err_set(EINVAL, "not a ccrfs blob (bad magic)");
    if (ccr_get_le16(raw + 8) != KEYS_BLOB_VERSION)
        return ccr_err_set(EINVAL, "unsupported blob format version %u", ccr_get_le16(raw + 8));
    if (raw[10] != KEYS_ALG_AES256GCM)
        return ccr_err_set(EINVAL, "unknown algorithm id %u", raw[10]);
    if (raw[11] < KEYS_LOG2_BLOCK_MIN || raw[11] > KEYS_LOG2_BLOCK_MAX)
        return ccr_err_set(EINVAL, "block size 2^%u outside 2^%d..2^%d", raw[11], KEYS_LOG2_BLOCK_MIN,
                           KEYS_LOG2_BLOCK_MAX);
    if (ccr_get_le32(raw + 12) != 0)
        return ccr_err_set(EINVAL, "reserved header bytes are not zero");
    memcpy(h->raw, raw, KEYS_BLOB_HEADER_LEN);
    h->log2_block = raw[11];
    h->plain_len = ccr_get_le64(raw + 16);
    memcpy(h->salt, raw + 24, KEYS_SALT_LEN);
    memcpy(h->tag, raw + 56, KEYS_TAG_LEN);
    /* Refuse lengths whose object size would overflow 64 bits (2^62 is far beyond any file). */
    if (h->plain_len > (UINT64_C(1) << 62))
        return ccr_err_set(EINVAL, "plaintext length %llu is implausible", (unsigned long long)h->plain_len);
    return 0;
}

uint64_t keys_blob_block_count(const struct keys_blob_header *h)
{
    return (h->plain_len + keys_blob_block_size(h) - 1) >> h->log2_block;
}

uint64_t keys_blob_object_size(const struct keys_blob_header *h)
{
    return KEYS_BLOB_HEADER_LEN + h->plain_len + keys_blob_block_count(h) * KEYS_TAG_LEN;
}

uint64_t keys_blob_block_offset(const struct keys_blob_header *h, uint64_t i)
{
    return KEYS_BLOB_HEADER_LEN + i * (keys_blob_block_size(h) + KEYS_TAG_LEN);
}

size_t keys_blob_block_plain_len(const struct keys_blob_header *h, uint64_t i)
{
    uint64_t start = i << h->log2_block;
    uint64_t left = h->plain_len > start ? h->plain_len - start : 0;
    return left < keys_blob_block_size(h) ? (size_t)left : keys_blob_block_size(h);
}

static int blob_key_alloc(const struct keys_dek *dek, const struct keys_blob_header *h, struct keys_blob_key **out)
{
    struct keys_blob_key *k = calloc(1, sizeof *k);
    int rc;

    if (k == NULL)
        return ENOMEM;
    k->key = ccr_secmem_alloc(KEYS_KEY_LEN);
    if (k->key == NULL) {
        free(k);
        return ENOMEM;
    }
    k->header = *h;
    rc = keys_hkdf_sha256(dek->bytes, KEYS_DEK_LEN, h->salt, KEYS_SALT_LEN, KEYS_BLOB_HKDF_INFO, k->key,
                          KEYS_KEY_LEN);
    if (rc != 0) {
        keys_blob_key_free(k);
        return rc;
    }
    *out = k;
    return 0;
}

int keys_blob_key_open(const struct keys_dek *dek, const struct keys_blob_header *h, struct keys_blob_key **out)
{
    uint8_t nonce[KEYS_NONCE_LEN];
    struct keys_blob_key *k;
    int rc = blob_key_alloc(dek, h, &k);

    if (rc != 0)
        return rc;
    blob_nonce(nonce, KEYS_NONCE_FLAG_HEADER, 0);
    rc = keys_gcm_open(k->key, nonce, h->raw, KEYS_BLOB_AUTH_LEN, NULL, 0, h->tag, NULL);
    if (rc != 0) {
        keys_blob_key_free(k);
        return ccr_err_set(EBADMSG, "blob header does not authenticate (wrong key, or the header was altered)");
    }
    *out = k;
    return 0;
}

int keys_blob_key_create(const struct keys_dek *dek, unsigned log2_block, uint64_t plain_len,
                         const uint8_t *salt_or_null, struct keys_blob_key **out)
{
    struct keys_blob_header h;
    uint8_t nonce[KEYS_NONCE_LEN];
    struct keys_blob_key *k;
    int rc;

    if (log2_block < KEYS_LOG2_BLOCK_MIN || log2_block > KEYS_LOG2_BLOCK_MAX)
        return ccr_err_set(EINVAL, "block size 2^%u outside 4 KiB..1 MiB", log2_block);
    memset(&h, 0, sizeof h);
    memcpy(h.raw, KEYS_BLOB_MAGIC, 8);
    ccr_put_le16(h.raw + 8, KEYS_BLOB_VERSION);
    h.raw[10] = KEYS_ALG_AES256GCM;
    h.raw[11] = (uint8_t)log2_block;
    ccr_put_le64(h.raw + 16, plain_len);
    if (salt_or_null != NULL)
        memcpy(h.raw + 24, salt_or_null, KEYS_SALT_LEN);
    else if ((rc = keys_random(h.raw + 24, KEYS_SALT_LEN)) != 0)
        return rc;
    h.log2_block = log2_block;
    h.plain_len = plain_len;
    memcpy(h.salt, h.raw + 24, KEYS_SALT_LEN);
    if ((rc = blob_key_alloc(dek, &h, &k)) != 0)
        return rc;
    blob_nonce(nonce, KEYS_NONCE_FLAG_HEADER, 0);
    rc = keys_gcm_seal(k->key, nonce, h.raw, KEYS_BLOB_AUTH_LEN, NULL, 0, NULL, k->header.tag);
    if (rc != 0) {
        keys_blob_key_free(k);
        return rc;
    }
    memcpy(k->header.raw + KEYS_BLOB_AUTH_LEN, k->header.tag, KEYS_TAG_LEN);
    *out = k;
    return 0;
}

void keys_blob_key_free(struct keys_blob_key *k)
{
    if (k == NULL)
        return;
    ccr_secmem_free(k->key, KEYS_KEY_LEN);
    free(k);
}

static void blob_block_nonce(const struct keys_blob_header *h, uint64_t i, uint8_t nonce[KEYS_NONCE_LEN])
{
    uint64_t n = keys_blob_block_count(h);
    blob_nonce(nonce, i + 1 == n ? KEYS_NONCE_FLAG_LAST : KEYS_NONCE_FLAG_BLOCK, i);
}

int keys_blob_decrypt_block(const struct keys_blob_key *k, uint64_t i, const uint8_t *in, size_t in_len,
                            uint8_t *out)
{
    const struct keys_blob_header *h = &k->header;
    uint8_t nonce[KEYS_NONCE_LEN];
    size_t plain;

    if (i >= keys_blob_block_count(h))
        return ccr_err_set(EINVAL, "block %llu is past the end of the file", (unsigned long long)i);
    plain = keys_blob_block_plain_len(h, i);
    if (in_len != plain + KEYS_TAG_LEN)
        return ccr_err_set(EBADMSG, "block %llu: %zu bytes where %zu belong", (unsigned long long)i, in_len,
                           plain + KEYS_TAG_LEN);
    blob_block_nonce(h, i, nonce);
    if (keys_gcm_open(k->key, nonce, h->raw, KEYS_BLOB_HEADER_LEN, in, plain, in + plain, out) != 0)
        return ccr_err_set(EBADMSG, "block %llu: authentication failed", (unsigned long long)i);
    return 0;
}

int keys_blob_encrypt_block(const struct keys_blob_key *k, uint64_t i, const uint8_t *in, size_t len, uint8_t *out)
{
    const struct keys_blob_header *h = &k->header;
    uint8_t nonce[KEYS_NONCE_LEN];

    if (i >= keys_blob_block_count(h) || len != keys_blob_block_plain_len(h, i))
        return ccr_err_set(EINVAL, "block %llu: wrong length %zu", (unsigned long long)i, len);
    blob_block_nonce(h, i, nonce);
    return keys_gcm_seal(k->key, nonce, h->raw, KEYS_BLOB_HEADER_LEN, in, len, out, out + len);
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

int keys_blob_encrypt_fd(struct keys_blob_key *k, int in_fd, int out_fd, uint8_t sha256_out[KEYS_SHA256_LEN],
                         void (*progress)(void *arg, uint64_t bytes), void *progress_arg)
{
    const struct keys_blob_header *h = &k->header;
    size_t bs = keys_blob_block_size(h);
    size_t per_chunk = ENCRYPT_CHUNK > bs ? ENCRYPT_CHUNK / bs : 1;
    size_t chunk = per_chunk * bs;
    uint64_t blocks = keys_blob_block_count(h), done = 0, tickets[ENCRYPT_SLOTS] = {0};
    uint8_t *plain = ccr_secmem_alloc(ENCRYPT_SLOTS * chunk + 1);
    uint8_t *cipher = malloc(per_chunk * (bs + KEYS_TAG_LEN));
    struct keys_hashpipe *hash = NULL;
    size_t got;
    int rc;

    if (plain == NULL || cipher == NULL) {
        rc = ENOMEM;
        goto out;
    }
    if ((rc = keys_hashpipe_start(&hash)) != 0)
        goto out;
    if ((rc = ccr_write_all(out_fd, h->raw, KEYS_BLOB_HEADER_LEN)) != 0)
        goto out;
    for (uint64_t i = 0, round = 0; i < blocks; i += per_chunk, round++) {
        size_t slot = round % ENCRYPT_SLOTS, want, out_len = 0;
        uint64_t n = blocks - i < per_chunk ? blocks - i : per_chunk;
        uint8_t *p = plain + slot * chunk;

        if (round >= ENCRYPT_SLOTS)
            keys_hashpipe_wait(hash, tickets[slot]); /* the slot is free once hashed */
        want = (size_t)((n - 1) * bs + keys_blob_block_plain_len(h, i + n - 1));
        if ((rc = read_full(in_fd, p, want, &got)) != 0)
            goto out;
        if (got != want) {
            rc = ccr_err_set(EIO, "input ended at %llu of %llu bytes (did it change while being read?)",
                             (unsigned long long)(done + got), (unsigned long long)h->plain_len);
            goto out;
        }
        tickets[slot] = keys_hashpipe_push(hash, p, want);
        for (uint64_t b = 0; b < n; b++) {
            size_t len = keys_blob_block_plain_len(h, i + b);
            if ((rc = keys_blob_encrypt_block(k, i + b, p + b * bs, len, cipher + out_len)) != 0)
                goto out;
            out_len += len + KEYS_TAG_LEN;
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
        keys_hashpipe_finish(hash, rc == 0 ? sha256_out : NULL);
    ccr_secmem_free(plain, ENCRYPT_SLOTS * chunk + 1);
    free(cipher);
    return rc;
}
