/* Sink mounts: a closed output file is sealed for the recipient and uploaded as a one-file
 * dataset at <path>/ in the sink store: blobs/<name> (encrypted on the fly from the ephemeral
 * file, no temporary copy), dek.wrapped.json (a fresh DEK wrapped with RSA-OAEP-256 for the
 * recipient, as `ccrfs wrap` writes it), and manifest.ccrfs last, so a reader never finds a
 * manifest whose blob is missing. */
#include "fs/internal.h"
#include "common/random.h"
#include "common/encoding.h"
#include "common/err.h"
#include "common/log.h"
#include "common/secmem.h"
#include "format/blobsrc.h"
#include "format/dataset.h"
#include "format/wrapped.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SINK_BLOB_NAME_BYTES 16

static int eph_reader(void *arg, void *buf, size_t len, uint64_t off)
{
    size_t got = 0;
    int rc = fs_ephemeral_file_read(arg, buf, len, off, &got);
    if (rc == 0 && got != len)
        rc = ccr_err_set(EIO, "the output file shrank while it was being uploaded");
    return rc;
}

/* A fresh random DEK in locked memory. */
static int fresh_dek(struct fmt_dek **out)
{
    uint8_t *raw = ccr_secmem_alloc(FMT_DEK_LEN);
    int rc;
    if (raw == NULL)
        return ENOMEM;
    if ((rc = ccr_random(raw, FMT_DEK_LEN)) == 0)
        rc = fmt_dek_from_bytes(raw, FMT_DEK_LEN, out);
    ccr_secmem_free(raw, FMT_DEK_LEN);
    return rc;
}

static int put_named(struct fetch_store *s, const char *prefix, const char *name,
                     const struct fetch_source *src)
{
    char key[FMT_PATH_MAX + 128];
    int n = snprintf(key, sizeof key, "%s/%s", prefix, name);
    if (n < 0 || (size_t)n >= sizeof key)
        return ccr_err_set(ENAMETOOLONG, "object key too long for %s", prefix);
    return fetch_put(s, key, src);
}

static int seal_and_put(struct fs_mount *m, const char *path, struct fs_ephemeral_file *f, uint64_t size,
                        const uint8_t sha[FMT_SHA256_LEN], mode_t mode, const struct timespec *mtime)
{
    struct fmt_dek *dek = NULL;
    struct fmt_blob_key *k = NULL;
    struct fmt_manifest man = {0};
    struct fmt_manifest_entry e;
    struct fmt_blobsrc bs;
    struct fetch_source src;
    uint8_t name_bytes[SINK_BLOB_NAME_BYTES], *obj = NULL;
    size_t obj_len = 0;
    char *doc = NULL, blobkey[FMT_BLOB_NAME_MAX + 8];
    const char *base = strrchr(path, '/');
    int rc;

    memset(&e, 0, sizeof e);
    if ((rc = fresh_dek(&dek)) != 0 || (rc = ccr_random(name_bytes, sizeof name_bytes)) != 0 ||
        (rc = fmt_blob_key_create(dek, FMT_LOG2_BLOCK_DEFAULT, size, NULL, &k)) != 0)
        goto out;
    ccr_hex_encode(name_bytes, sizeof name_bytes, e.blob);
    e.path = (char *)(base != NULL ? base + 1 : path);
    e.type = FMT_ENTRY_FILE;
    e.mode = mode & 07777;
    e.size = size;
    e.mtime_sec = mtime->tv_sec;
    e.mtime_nsec = (uint32_t)mtime->tv_nsec;
    e.log2_block = (uint8_t)k->header.log2_block;
    memcpy(e.salt, k->header.salt, sizeof e.salt);
    memcpy(e.header_tag, k->header.tag, sizeof e.header_tag);
    memcpy(e.sha256, sha, FMT_SHA256_LEN);
    fmt_blobsrc_init(&bs, k, eph_reader, f);
    fmt_dataset_blob_key(&e, blobkey, sizeof blobkey);
    if ((rc = put_named(m->sink_store, path, blobkey, &bs.src)) != 0)
        goto out;
    if ((rc = fmt_dek_wrap(dek->bytes, FMT_DEK_LEN, m->recipient, NULL, &doc)) != 0)
        goto out;
    fetch_source_memory(&src, doc, strlen(doc));
    if ((rc = put_named(m->sink_store, path, FMT_WRAPPED_DEK_OBJECT, &src)) != 0)
        goto out;
    if ((rc = fmt_manifest_add(&man, &e)) != 0 ||
        (rc = fmt_manifest_seal(dek, &man, NULL, &obj, &obj_len)) != 0)
        goto out;
    fetch_source_memory(&src, obj, obj_len);
    rc = put_named(m->sink_store, path, FMT_MANIFEST_NAME, &src);
out:
    fmt_manifest_free(&man);
    fmt_blob_key_free(k);
    fmt_dek_free(dek);
    free(doc);
    free(obj);
    return rc;
}

int fs_sink_upload(struct fs_mount *m, const char *path, struct fs_ephemeral_file *f, mode_t mode,
                   const struct timespec *mtime)
{
    uint8_t sha[FMT_SHA256_LEN];
    char object[FMT_PATH_MAX + 2], hex[2 * FMT_SHA256_LEN + 1];
    uint64_t size = fs_ephemeral_file_size(f);
    int rc;

    ccr_err_clear();
    if ((rc = fetch_key_check(path)) != 0) {
        atomic_fetch_add(&m->upload_failures, 1);
        ccr_log_error("sink: %s cannot be an object name (%s); not uploaded", path, ccr_err_msg(rc));
        return rc;
    }
    if ((rc = fmt_plain_sha256(eph_reader, f, size, sha)) != 0) {
        atomic_fetch_add(&m->upload_failures, 1);
        ccr_log_error("sink: %s: reading the written bytes failed: %s; not uploaded", path, ccr_err_msg(rc));
        return rc;
    }
    snprintf(object, sizeof object, "%s/", path);
    if (m->hooks != NULL && m->hooks->on_upload != NULL &&
        (rc = m->hooks->on_upload(m->hooks->arg, path, size, sha, object)) != 0) {
        atomic_fetch_add(&m->upload_refusals, 1);
        atomic_fetch_add(&m->denials, 1);
        ccr_log_warn("sink: upload of %s refused by policy (%s); the file stays on the mount, not uploaded",
                     path, strerror(rc));
        return rc;
    }
    if ((rc = seal_and_put(m, path, f, size, sha, mode, mtime)) != 0) {
        atomic_fetch_add(&m->upload_failures, 1);
        ccr_log_error("sink: upload of %s (%llu bytes) to %s FAILED: %s", path, (unsigned long long)size,
                      object, ccr_err_msg(rc));
        return rc;
    }
    atomic_fetch_add(&m->uploads, 1);
    ccr_hex_encode(sha, FMT_SHA256_LEN, hex);
    ccr_log_info("sink: uploaded %s (%llu bytes, sha256 %s) to %s, sealed for the recipient", path,
                 (unsigned long long)size, hex, object);
    return 0;
}
