/* The v1 manifest: the encrypted list of a dataset's files. docs/FORMAT.md gives the bytes.
 * The dataset id is the SHA-256 of the manifest object as stored. */
#ifndef CCRFS_FORMAT_MANIFEST_H
#define CCRFS_FORMAT_MANIFEST_H

#include "format/crypto.h"
#include "format/dek.h"

#include <stddef.h>
#include <stdint.h>

#define FMT_MANIFEST_MAGIC      "CCRFSMAN"
#define FMT_MANIFEST_VERSION    1
#define FMT_MANIFEST_HEADER_LEN 56
#define FMT_MANIFEST_HKDF_INFO  "ccrfs/v1/manifest"
#define FMT_MANIFEST_NAME       "manifest.ccrfs"
#define FMT_MANIFEST_MAX        (256u << 20) /* largest manifest object accepted */
#define FMT_PATH_MAX            4096
#define FMT_BLOB_NAME_MAX       64
#define FMT_DATASET_ID_LEN      71 /* "sha256:" + 64 hex digits */

enum fmt_entry_type { FMT_ENTRY_FILE = 1, FMT_ENTRY_DIR = 2 };

struct fmt_manifest_entry {
    char *path;    /* relative, '/'-separated, no "." or ".." components */
    uint8_t type;  /* enum fmt_entry_type */
    uint32_t mode; /* permission bits (07777) */
    uint64_t size; /* plaintext bytes; 0 for folders */
    int64_t mtime_sec;
    uint32_t mtime_nsec;
    /* files only: */
    uint8_t log2_block;
    char blob[FMT_BLOB_NAME_MAX + 1];
    uint8_t salt[FMT_SALT_LEN];
    uint8_t header_tag[FMT_TAG_LEN];
    uint8_t sha256[FMT_SHA256_LEN];
};

struct fmt_manifest {
    struct fmt_manifest_entry *entries; /* sorted by path, bytewise */
    size_t count, cap;
};

/* Appends a copy of e (the path is copied). */
int fmt_manifest_add(struct fmt_manifest *m, const struct fmt_manifest_entry *e);
/* Sorts by path; call before encoding. */
void fmt_manifest_sort(struct fmt_manifest *m);
/* Checks every rule the decoder enforces (valid paths, sorted, no duplicates, parents present). */
int fmt_manifest_validate(const struct fmt_manifest *m);
/* The plaintext payload. */
int fmt_manifest_encode(const struct fmt_manifest *m, uint8_t **out, size_t *out_len);
/* Strict decoder for untrusted bytes: names the entry and the rule it breaks. */
int fmt_manifest_decode(const uint8_t *buf, size_t len, struct fmt_manifest *m);
/* The manifest object: header, encrypted payload, tag. salt_or_null fixes the salt (tests). */
int fmt_manifest_seal(const struct fmt_dek *dek, const struct fmt_manifest *m, const uint8_t *salt_or_null,
                      uint8_t **out, size_t *out_len);
/* Checks the header, authenticates and decodes; EBADMSG for a wrong key or an altered manifest. */
int fmt_manifest_open(const struct fmt_dek *dek, const uint8_t *obj, size_t len, struct fmt_manifest *m);
/* What the header says, without a key. */
int fmt_manifest_peek(const uint8_t *obj, size_t len, uint64_t *payload_len);
void fmt_manifest_free(struct fmt_manifest *m);

/* Binary search by path; NULL when absent. "" is the root and is never an entry. */
const struct fmt_manifest_entry *fmt_manifest_find(const struct fmt_manifest *m, const char *path);

/* "sha256:<64 hex>" of the object bytes, NUL-terminated (out holds FMT_DATASET_ID_LEN + 1). */
void fmt_dataset_id(const uint8_t *obj, size_t len, char out[FMT_DATASET_ID_LEN + 1]);
/* Checks the shape of a dataset id given by a person; normalizes hex to lowercase in out. */
int fmt_dataset_id_parse(const char *text, char out[FMT_DATASET_ID_LEN + 1]);
/* Checks one manifest path against the rules; returns a static reason or NULL when valid. */
const char *fmt_manifest_path_problem(const char *path, size_t len);

#endif
