/* Test datasets written straight into a store folder, as `ccrfs pack` would: one encrypted blob
 * per file under blobs/, then a sealed manifest. Returns 0 or a positive errno, so any test can
 * use it with its own assertions. The plaintext never touches the disk (a memfd). */
#ifndef CCRFS_TESTS_SUPPORT_DATASET_H
#define CCRFS_TESTS_SUPPORT_DATASET_H

#include "format/dek.h"
#include "format/manifest.h"

#include <stddef.h>
#include <stdint.h>

/* Encrypts len bytes of data as the file path into STORE_DIR/blobs/ (the folder must exist) with
 * blocks of 2^log2_block bytes, and adds its entry to man. The blob's path goes into blob_path
 * when that is not NULL. */
int tsup_dataset_add_file(const char *store_dir, const struct fmt_dek *dek, struct fmt_manifest *man,
                          const char *path, const uint8_t *data, size_t len, unsigned log2_block,
                          char *blob_path, size_t blob_path_len);

/* Sorts and seals man into STORE_DIR/manifest.ccrfs; the dataset id goes into id when that is
 * not NULL. man is left as it was (the caller frees it). */
int tsup_dataset_seal(const char *store_dir, const struct fmt_dek *dek, struct fmt_manifest *man,
                      char id[FMT_DATASET_ID_LEN + 1]);

#endif
