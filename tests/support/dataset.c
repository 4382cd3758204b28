#include "tests/support/dataset.h"
#include "common/fileio.h"
#include "common/hash.h"
#include "format/blob.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int write_all(int fd, const uint8_t *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return EIO;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

int tsup_dataset_add_file(const char *store_dir, const struct fmt_dek *dek, struct fmt_manifest *man,
                          const char *path, const uint8_t *data, size_t len, unsigned log2_block,
                          char *blob_path, size_t blob_path_len)
{
    char out_path[512];
    struct fmt_manifest_entry e;
    struct fmt_blob_key *k = NULL;
    int in_fd = -1, out_fd = -1, rc;

    memset(&e, 0, sizeof e);
    e.path = (char *)path;
    e.type = FMT_ENTRY_FILE;
    e.mode = 0644;
    e.size = len;
    e.log2_block = (uint8_t)log2_block;
    /* A blob name unique per path (its FNV-1a hash) and size; the tests need no randomness. */
    snprintf(e.blob, sizeof e.blob, "%016" PRIx64 "%016zx", ccr_hash_str(path), len);
    snprintf(out_path, sizeof out_path, "%s/blobs/%s", store_dir, e.blob);
    if (blob_path != NULL)
        snprintf(blob_path, blob_path_len, "%s", out_path);
    in_fd = memfd_create("plain", MFD_CLOEXEC);
    out_fd = open(out_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (in_fd < 0 || out_fd < 0) {
        rc = errno ? errno : EIO;
        goto out;
    }
    if ((rc = write_all(in_fd, data, len)) != 0 || (rc = lseek(in_fd, 0, SEEK_SET) == 0 ? 0 : EIO) != 0)
        goto out;
    if ((rc = fmt_blob_key_create(dek, log2_block, len, NULL, &k)) != 0 ||
        (rc = fmt_blob_encrypt_fd(k, in_fd, out_fd, e.sha256, NULL, NULL)) != 0)
        goto out;
    memcpy(e.salt, k->header.salt, FMT_SALT_LEN);
    memcpy(e.header_tag, k->header.tag, FMT_TAG_LEN);
    rc = fmt_manifest_add(man, &e);
out:
    fmt_blob_key_free(k);
    if (in_fd >= 0)
        close(in_fd);
    if (out_fd >= 0)
        close(out_fd);
    return rc;
}

int tsup_dataset_seal(const char *store_dir, const struct fmt_dek *dek, struct fmt_manifest *man,
                      char id[FMT_DATASET_ID_LEN + 1])
{
    char path[512];
    uint8_t *obj = NULL;
    size_t obj_len = 0;
    int rc;

    fmt_manifest_sort(man);
    if ((rc = fmt_manifest_seal(dek, man, NULL, &obj, &obj_len)) != 0)
        return rc;
    snprintf(path, sizeof path, "%s/%s", store_dir, FMT_MANIFEST_NAME);
    rc = ccr_write_file_atomic(path, obj, obj_len, 0644);
    if (rc == 0 && id != NULL)
        fmt_dataset_id(obj, obj_len, id);
    free(obj);
    return rc;
}
