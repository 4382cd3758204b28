/* The v1 manifest: the encrypted list of a dataset's files. docs/FORMAT.md gives the bytes.
 * The dataset id is the SHA-256 of the manifest object as stored. */
#ifndef CCRFS_KEYS_MANIFEST_H
#define CCRFS_KEYS_MANIFEST_H

#include "keys/crypto.h"
#include "keys/dek.h"

#include <stddef.h>
#include <stdint.h>

#define KEYS_MANIFEST_MAGIC      "CCRFSMAN"
#define KEYS_MANIFEST_VERSION    1
#define KEYS_MANIFEST_HEADER_LEN 56
#define KEYS_MANIFEST_HKDF_INFO  "ccrfs/v1/manifest"
#define KEYS_MANIFEST_NAME       "manifest.ccrfs"
#define KEYS_MANIFEST_MAX        (256u << 20) /* largest manifest object accepted */
#define KEYS_PATH_MAX            4096
#define KEYS_BLOB_NAME_MAX       64
#define KEYS_DATASET_ID_LEN      71 /* "sha256:" + 64 hex digits */

enum keys_entry_type { KEYS_ENTRY_FILE = 1, KEYS_ENTRY_DIR = 2 };

struct keys_manifest_entry {
    char *path;            /* relative, '/'-separated, no "." or ".." components */
    uint8_t type;          /* enum keys_entry_type */
    uint32_t mode;         /* permission bits (07777) */
    uint64_t size;         /* plaintext bytes; 0 for folders */
    int64_t mtime_sec;
    uint32_t mtime_nsec;
    /* files only: */
    uint8_t log2_block;
    char blob[KEYS_BLOB_NAME_MAX + 1];
    uint8_t salt[KEYS_SALT_LEN];
    uint8_t header_tag[KEYS_TAG_LEN];
    uint8_t sha256[KEYS_SHA256_LEN];
};

struct keys_manifest {
    struct keys_manifest_entry *entries; /* sorted by path, bytewise */
    size_t count, cap;
};

/* Appends a copy of e (the path is copied). */
int keys_manifest_add(struct keys_manifest *m, const struct keys_manifest_entry *e);
/* Sorts by path; call before encoding. */
void keys_manifest_sort(struct keys_manifest *m);
/* Checks every rule the decoder enforces (valid paths, sorted, no duplicates, parents present). */
int keys_manifest_validate(const struct keys_manifest *m);
/* The plaintext payload. */
int keys_manifest_encode(const struct keys_manifest *m, uint8_t **out, size_t *out_len);
/* Strict decoder for untrusted bytes: names the entry and the rule it breaks. */
int keys_manifest_decode(const uint8_t *buf, size_t len, struct keys_manifest *m);
/* The manifest object: header, encrypted payload, tag. salt_or_null fixes the salt (tests). */
int keys_manifest_seal(const struct keys_dek *dek, const struct keys_manifest *m, const uint8_t *salt_or_null,
                       uint8_t **out, size_t *out_len);
/* Checks the header, authenticates and decodes; EBADMSG for a wrong key or an altered manifest. */
int keys_manifest_open(const struct keys_dek *dek, const uint8_t *obj, size_t len, struct keys_manifest *m);
/* What the header says, without a key. */
int keys_manifest_peek(const uint8_t *obj, size_t len, uint64_t *payload_len);
void keys_manifest_free(struct keys_manifest *m);

/* Binary search by path; NULL when absent. "" is the root and is never an entry. */
const struct keys_manifest_entry *keys_manifest_find(const struct keys_manifest *m, const char *path);

/* "sha256:<64 hex>" of the object bytes, NUL-terminated (out holds KEYS_DATASET_ID_LEN + 1). */
void keys_dataset_id(const uint8_t *obj, size_t len, char out[KEYS_DATASET_ID_LEN + 1]);
/* Checks the shape of a dataset id given by a person; normalizes hex to lowercase in out. */
int keys_dataset_id_parse(const char *text, char out[KEYS_DATASET_ID_LEN + 1]);
/* Checks one manifest path against the rules; returns a static reason or NULL when valid. */
const char *keys_manifest_path_problem(const char *path, size_t len);

#endif
