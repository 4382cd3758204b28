/* A blob as an upload source: the store's put() asks for byte ranges of the blob and gets
 * them encrypted on the fly from a plaintext reader, so a file can be sealed into a store
 * with no temporary copy, clear or encrypted. Block nonces are deterministic, so any range
 * can be produced in any order, and again on a retry. */
#ifndef CCRFS_FORMAT_BLOBSRC_H
#define CCRFS_FORMAT_BLOBSRC_H

#include "fetch/store.h"
#include "format/blob.h"

/* Reads exactly len plaintext bytes at off. */
typedef int (*fmt_plain_reader)(void *arg, void *buf, size_t len, uint64_t off);

struct fmt_blobsrc {
    struct fetch_source src; /* hand &src to fetch_put; it must stay first */
    const struct fmt_blob_key *key;
    fmt_plain_reader read;
    void *arg;
};

/* Prepares bs so that bs->src yields the whole blob (header, blocks, tags) of key's file. */
void fmt_blobsrc_init(struct fmt_blobsrc *bs, const struct fmt_blob_key *key, fmt_plain_reader read,
                      void *arg);

/* SHA-256 of plain_len bytes read through read, in 1 MiB steps. */
int fmt_plain_sha256(fmt_plain_reader read, void *arg, uint64_t plain_len, uint8_t out[FMT_SHA256_LEN]);

#endif
