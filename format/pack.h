/* Packing a folder tree into a dataset folder: every regular file encrypted into its own blob
 * by a pool of worker threads, one sync of the output at the end, and the manifest written
 * last, so an interrupted or failed pack never leaves a folder that looks like a dataset. */
#ifndef CCRFS_FORMAT_PACK_H
#define CCRFS_FORMAT_PACK_H

#include "common/array.h"
#include "format/dek.h"
#include "format/manifest.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

struct fmt_pack_item {
    char *rel; /* path inside the source folder */
    struct stat st;
};

/* What a walk of the source found, in walk order. */
struct fmt_pack_list {
    struct ccr_array items; /* struct fmt_pack_item */
    uint64_t total_bytes;   /* regular files */
    unsigned skipped;       /* neither a regular file nor a folder */
};

/* Walks src without following symbolic links; a path the manifest cannot hold fails with a
 * message naming it. Anything not a regular file or folder is counted in skipped and warned about. */
int fmt_pack_scan(const char *src, struct fmt_pack_list *out);
void fmt_pack_list_free(struct fmt_pack_list *l);

struct fmt_pack_options {
    unsigned log2_block;
    unsigned jobs; /* worker threads; 0: one per online processor */
    /* Called with the plaintext bytes just done, from one thread at a time (may be NULL). */
    void (*progress)(void *arg, uint64_t bytes);
    void *progress_arg;
};

/* Encrypts every file of l (found under src) into out_dir/blobs/, which must not exist yet
 * while out_dir does; then syncs the blobs and writes out_dir/manifest.ccrfs atomically.
 * A file that vanished, is no longer a regular file or changed since the scan fails the pack
 * with a message naming it, and no manifest is written (the blobs written so far stay for the
 * caller to remove). On success *obj holds the manifest object (malloc'd) and m its entries. */
int fmt_pack_run(const struct fmt_dek *dek, const char *src, const struct fmt_pack_list *l,
                 const char *out_dir, const struct fmt_pack_options *opt, struct fmt_manifest *m,
                 uint8_t **obj, size_t *obj_len);

#endif
