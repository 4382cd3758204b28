#include "format/dataset.h"
#include "format/hashpipe.h"
#include "common/err.h"
#include "common/secmem.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fmt_dataset_open(struct fetch_store *store, const struct fmt_dek *dek, const char *expect_id,
                     struct fmt_dataset **out)
{
    struct fmt_dataset *ds = calloc(1, sizeof *ds);
    uint8_t *obj = NULL;
    size_t len;
    int rc;

    if (ds == NULL)
        return ENOMEM;
    ds->store = store;
    ds->dek = dek;
    rc = fetch_read_object(store, FMT_MANIFEST_NAME, FMT_MANIFEST_MAX, &obj, &len);
    if (rc != 0) {
        if (rc == ENOENT)
            ccr_err_set(ENOENT, "not a dataset: no %s", FMT_MANIFEST_NAME);
        goto fail;
    }
    fmt_dataset_id(obj, len, ds->id);
    if (expect_id != NULL && strcmp(expect_id, ds->id) != 0) {
        rc = ccr_err_set(EPERM, "dataset id mismatch: expected %s, the manifest is %s", expect_id, ds->id);
        goto fail;
    }
    rc = fmt_manifest_open(dek, obj, len, &ds->manifest);
    if (rc != 0) {
        if (rc == EINVAL && strncmp(ccr_err_msg(rc), "manifest:", 9) != 0)
            ccr_err_wrap(rc, "%s: ", FMT_MANIFEST_NAME);
        goto fail;
    }
    free(obj);
    *out = ds;
    return 0;
fail:
    free(obj);
    free(ds);
    return rc;
}

void fmt_dataset_close(struct fmt_dataset *ds)
{
    if (ds == NULL)
        return;
    fmt_manifest_free(&ds->manifest);
    free(ds);
}

void fmt_dataset_blob_key(const struct fmt_manifest_entry *e, char *out, size_t out_len)
{
    snprintf(out, out_len, "blobs/%s", e->blob);
}

uint64_t fmt_dataset_file_object_size(const struct fmt_manifest_entry *e)
{
    struct fmt_blob_header h = {.log2_block = e->log2_block, .plain_len = e->size};
    return fmt_blob_object_size(&h);
}

int fmt_dataset_open_file(struct fmt_dataset *ds, const struct fmt_manifest_entry *e,
                          struct fmt_blob_key **out)
{
    uint8_t raw[FMT_BLOB_HEADER_LEN];
    return fmt_dataset_open_file_read(ds, e, raw, sizeof raw, out);
}

int fmt_dataset_open_file_read(struct fmt_dataset *ds, const struct fmt_manifest_entry *e, uint8_t *buf,
                               size_t len, struct fmt_blob_key **out)
{
    char key[FMT_BLOB_NAME_MAX + 8];
    const uint8_t *raw = buf;
    struct fetch_object_info info = {0};
    struct fetch_range header;
    struct fmt_blob_header h;
    int rc;

    if (e->type != FMT_ENTRY_FILE)
        return ccr_err_set(EISDIR, "%s: not a file", e->path);
    if (len != FMT_BLOB_HEADER_LEN && len != fmt_dataset_file_object_size(e))
        return ccr_err_set(EINVAL, "%s: a blob is read as its header or whole, not %zu bytes", e->path, len);
    fmt_dataset_blob_key(e, key, sizeof key);
    /* One request where the store can: the header's ranged read (or the whole small blob's)
     * also tells the object's size (Content-Range), which is checked below; a separate stat
     * only where it cannot, or to explain a failed read. */
    header = (struct fetch_range){key, 0, len, buf, 0, 0};
    rc = fetch_read_many(ds->store, &header, 1);
    if (rc == 0 && header.object_size != 0) {
        info.size = header.object_size;
    } else {
        int stat_rc = fetch_stat(ds->store, key, &info);
        if (stat_rc == 0 && info.size < FMT_BLOB_HEADER_LEN)
            return ccr_err_set(EBADMSG, "%s: blob %s is %llu bytes, too short for a header (truncated)",
                               e->path, e->blob, (unsigned long long)info.size);
        if (rc == 0)
            rc = stat_rc;
        if (rc != 0)
            return ccr_err_wrap(rc, "%s: blob %s: ", e->path, e->blob);
    }
    if ((rc = fmt_blob_header_parse(raw, FMT_BLOB_HEADER_LEN, &h)) != 0)
        return ccr_err_wrap(EBADMSG, "%s: blob %s: ", e->path, e->blob);
    /* The manifest pins each blob: a blob swapped in from another file, another dataset or
     * an older version has another salt and tag. */
    if (CRYPTO_memcmp(h.salt, e->salt, FMT_SALT_LEN) != 0 ||
        CRYPTO_memcmp(h.tag, e->header_tag, FMT_TAG_LEN) != 0)
        return ccr_err_set(EBADMSG,
                           "%s: blob %s is not the blob the manifest names (header salt or tag differs)",
                           e->path, e->blob);
    if (h.plain_len != e->size || h.log2_block != e->log2_block)
        return ccr_err_set(EBADMSG, "%s: blob %s header disagrees with the manifest on length or block size",
                           e->path, e->blob);
    if (info.size != fmt_blob_object_size(&h))
        return ccr_err_set(EBADMSG, "%s: blob %s is %llu bytes but its header implies %llu (%s)", e->path,
                           e->blob, (unsigned long long)info.size,
                           (unsigned long long)fmt_blob_object_size(&h),
                           info.size < fmt_blob_object_size(&h) ? "truncated" : "bytes appended");
    if ((rc = fmt_blob_key_open(ds->dek, &h, out)) != 0)
        return ccr_err_wrap(rc, "%s: ", e->path);
    return 0;
}

int fmt_dataset_file_key_again(struct fmt_dataset *ds, const struct fmt_manifest_entry *e,
                               struct fmt_blob_key **out)
{
    int rc;

    if (e->type != FMT_ENTRY_FILE)
        return ccr_err_set(EISDIR, "%s: not a file", e->path);
    if ((rc = fmt_blob_key_reopen(ds->dek, e->log2_block, e->size, e->salt, e->header_tag, out)) != 0)
        return ccr_err_wrap(rc, "%s: ", e->path);
    return 0;
}

int fmt_dataset_read_blocks(struct fmt_dataset *ds, const struct fmt_manifest_entry *e,
                            const struct fmt_blob_key *k, uint64_t first, uint64_t count, uint8_t *scratch,
                            uint8_t *out)
{
    const struct fmt_blob_header *h = &k->header;
    size_t bs = fmt_blob_block_size(h), enc_len = 0;
    char key[FMT_BLOB_NAME_MAX + 8];
    int rc;

    if (count == 0)
        return 0;
    if (first + count > fmt_blob_block_count(h))
        return ccr_err_set(EINVAL, "%s: blocks %llu..%llu past the end", e->path, (unsigned long long)first,
                           (unsigned long long)(first + count - 1));
    for (uint64_t i = first; i < first + count; i++)
        enc_len += fmt_blob_block_plain_len(h, i) + FMT_TAG_LEN;
    fmt_dataset_blob_key(e, key, sizeof key);
    if ((rc = fetch_read_range(ds->store, key, fmt_blob_block_offset(h, first), enc_len, scratch)) != 0)
        return ccr_err_wrap(rc, "%s: blob %s: ", e->path, e->blob);
    for (uint64_t i = first, in_off = 0; i < first + count; i++) {
        size_t plain = fmt_blob_block_plain_len(h, i);
        rc = fmt_blob_decrypt_block(k, i, scratch + in_off, plain + FMT_TAG_LEN, out + (i - first) * bs);
        if (rc != 0) {
            /* Nothing of this batch may be used: wipe what did authenticate too. */
            OPENSSL_cleanse(out, (i - first) * bs);
            return ccr_err_wrap(EBADMSG, "%s: ", e->path);
        }
        in_off += plain + FMT_TAG_LEN;
    }
    return 0;
}

#define STREAM_BLOCKS_BYTES (4u << 20) /* plaintext fetched per round trip */
#define STREAM_SLOTS        2          /* one slot hashed while the next is fetched and decrypted */

int fmt_dataset_stream_file(struct fmt_dataset *ds, const struct fmt_manifest_entry *e, fmt_dataset_sink cb,
                            void *arg)
{
    struct fmt_blob_key *k = NULL;
    struct fmt_hashpipe *hash = NULL;
    uint8_t *plain = NULL, *scratch = NULL, digest[FMT_SHA256_LEN];
    uint64_t blocks, per, tickets[STREAM_SLOTS] = {0};
    size_t bs, slot_len = 0;
    int rc;

    if ((rc = fmt_dataset_open_file(ds, e, &k)) != 0)
        return rc;
    bs = fmt_blob_block_size(&k->header);
    blocks = fmt_blob_block_count(&k->header);
    per = STREAM_BLOCKS_BYTES / bs ? STREAM_BLOCKS_BYTES / bs : 1;
    if (per > blocks)
        per = blocks ? blocks : 1;
    slot_len = per * bs;
    plain = ccr_secmem_alloc(STREAM_SLOTS * slot_len);
    scratch = malloc(per * (bs + FMT_TAG_LEN));
    if (plain == NULL || scratch == NULL) {
        rc = ENOMEM;
        goto out;
    }
    if ((rc = fmt_hashpipe_start(&hash)) != 0)
        goto out;
    for (uint64_t i = 0, round = 0; i < blocks; i += per, round++) {
        uint64_t n = blocks - i < per ? blocks - i : per;
        size_t got = (size_t)((n - 1) * bs + fmt_blob_block_plain_len(&k->header, i + n - 1));
        uint8_t *p = plain + (round % STREAM_SLOTS) * slot_len;
        if (round >= STREAM_SLOTS)
            fmt_hashpipe_wait(hash, tickets[round % STREAM_SLOTS]);
        if ((rc = fmt_dataset_read_blocks(ds, e, k, i, n, scratch, p)) != 0)
            goto out;
        tickets[round % STREAM_SLOTS] = fmt_hashpipe_push(hash, p, got);
        if ((rc = cb(arg, p, got, i * bs)) != 0)
            goto out;
    }
    fmt_hashpipe_finish(hash, digest);
    hash = NULL;
    if (CRYPTO_memcmp(digest, e->sha256, sizeof digest) != 0)
        rc = ccr_err_set(EBADMSG, "%s: plaintext SHA-256 differs from the manifest", e->path);
out:
    if (hash != NULL)
        fmt_hashpipe_finish(hash, NULL);
    ccr_secmem_free(plain, STREAM_SLOTS * slot_len);
    free(scratch);
    fmt_blob_key_free(k);
    return rc;
}
