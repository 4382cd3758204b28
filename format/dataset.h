/* A dataset as read through a store: the manifest authenticated and pinned to its id, and
 * each file's blob checked against its manifest entry before a byte of it is trusted. */
#ifndef CCRFS_FORMAT_DATASET_H
#define CCRFS_FORMAT_DATASET_H

#include "fetch/store.h"
#include "format/blob.h"
#include "format/dek.h"
#include "format/manifest.h"

struct fmt_dataset {
    struct fetch_store *store; /* not owned */
    const struct fmt_dek *dek; /* not owned */
    struct fmt_manifest manifest;
    char id[FMT_DATASET_ID_LEN + 1];
};

/* Reads manifest.ccrfs, computes the dataset id, compares it with expect_id when given
 * (EPERM "dataset id mismatch" otherwise), and authenticates and decodes the manifest. */
int fmt_dataset_open(struct fetch_store *store, const struct fmt_dek *dek, const char *expect_id,
                     struct fmt_dataset **out);
void fmt_dataset_close(struct fmt_dataset *ds);

/* The blob object key of an entry: "blobs/<name>". */
void fmt_dataset_blob_key(const struct fmt_manifest_entry *e, char *out, size_t out_len);

/* The key of file e again, from the manifest alone (no store request), for a file whose blob
 * this reader already checked with fmt_dataset_open_file_read: its blocks are still
 * authenticated one by one as they are read. EBADMSG when the manifest's header does not
 * authenticate. */
int fmt_dataset_file_key_again(struct fmt_dataset *ds, const struct fmt_manifest_entry *e,
                               struct fmt_blob_key **out);

/* Reads a file's blob header and checks it against the manifest entry (salt, tag, length,
 * block size) and the object size the store reports; then derives the file key and
 * authenticates the header. EBADMSG with a message naming the file on any mismatch. */
int fmt_dataset_open_file(struct fmt_dataset *ds, const struct fmt_manifest_entry *e,
                          struct fmt_blob_key **out);
/* The same, reading len bytes from the blob's start into buf in the same request: the header
 * alone (FMT_BLOB_HEADER_LEN) or the whole object (fmt_dataset_file_object_size), so a small
 * file costs one store request. The blocks in buf are not yet authenticated: decrypt them with
 * the key. */
int fmt_dataset_open_file_read(struct fmt_dataset *ds, const struct fmt_manifest_entry *e, uint8_t *buf,
                               size_t len, struct fmt_blob_key **out);
/* The size of an entry's blob object, from the manifest alone. */
uint64_t fmt_dataset_file_object_size(const struct fmt_manifest_entry *e);

/* Fetches and decrypts blocks [first, first+count) of an open file into out (which holds
 * count << log2_block bytes); EBADMSG naming the first block that fails. scratch holds the
 * ciphertext and must be count * (block + 16) bytes. */
int fmt_dataset_read_blocks(struct fmt_dataset *ds, const struct fmt_manifest_entry *e,
                            const struct fmt_blob_key *k, uint64_t first, uint64_t count, uint8_t *scratch,
                            uint8_t *out);

/* Streams a whole file's plaintext through cb in order, authenticating every block and,
 * at the end, the plaintext SHA-256 against the manifest. Nothing reaches cb before its
 * block authenticated; the final hash check fails with EBADMSG after the last cb. */
typedef int (*fmt_dataset_sink)(void *arg, const uint8_t *plain, size_t len, uint64_t offset);
int fmt_dataset_stream_file(struct fmt_dataset *ds, const struct fmt_manifest_entry *e, fmt_dataset_sink cb,
                            void *arg);

#endif
