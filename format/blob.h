/* The v1 blob: one encrypted file. docs/FORMAT.md gives the exact bytes.
 *
 *   header (72 bytes, authenticated) | block 0 ciphertext | tag 0 | block 1 ... | tag n-1
 *
 * The file key is HKDF-SHA256(DEK, salt, "ccrfs/v1/blob"); block i is sealed under a nonce
 * made of a last-block flag and i, with the whole header as associated data. */
#ifndef CCRFS_FORMAT_BLOB_H
#define CCRFS_FORMAT_BLOB_H

#include "format/crypto.h"
#include "format/dek.h"

#include <stddef.h>
#include <stdint.h>

#define FMT_BLOB_MAGIC         "CCRFSBLB"
#define FMT_BLOB_VERSION       1
#define FMT_ALG_AES256GCM      1
#define FMT_BLOB_HEADER_LEN    72
#define FMT_BLOB_AUTH_LEN      56 /* header bytes covered by the header tag */
#define FMT_LOG2_BLOCK_MIN     12
#define FMT_LOG2_BLOCK_MAX     20
#define FMT_LOG2_BLOCK_DEFAULT 16
#define FMT_BLOB_HKDF_INFO     "ccrfs/v1/blob"

#define FMT_NONCE_FLAG_BLOCK  0x00
#define FMT_NONCE_FLAG_LAST   0x01
#define FMT_NONCE_FLAG_HEADER 0x02

struct fmt_blob_header {
    uint8_t raw[FMT_BLOB_HEADER_LEN];
    unsigned log2_block;
    uint64_t plain_len;
    uint8_t salt[FMT_SALT_LEN];
    uint8_t tag[FMT_TAG_LEN];
};

/* Checks the structure (magic, version, algorithm, block size, reserved bytes, a length whose
 * object size fits in 64 bits). Says what is wrong. Does not authenticate: see fmt_blob_key_open. */
int fmt_blob_header_parse(const uint8_t *raw, size_t len, struct fmt_blob_header *h);

static inline size_t fmt_blob_block_size(const struct fmt_blob_header *h)
{
    return (size_t)1 << h->log2_block;
}
uint64_t fmt_blob_block_count(const struct fmt_blob_header *h);
uint64_t fmt_blob_object_size(const struct fmt_blob_header *h);
/* Offset of block i's ciphertext in the object. */
uint64_t fmt_blob_block_offset(const struct fmt_blob_header *h, uint64_t i);
/* Plaintext length of block i (the last one may be shorter). */
size_t fmt_blob_block_plain_len(const struct fmt_blob_header *h, uint64_t i);

/* A file's key with its header; safe to use from many threads at once. */
struct fmt_blob_key {
    struct fmt_blob_header header;
    uint8_t *key; /* FMT_KEY_LEN bytes of locked memory */
};

/* Derives the file key and authenticates the header; EBADMSG when the tag fails (wrong key,
 * or a tampered header). */
int fmt_blob_key_open(const struct fmt_dek *dek, const struct fmt_blob_header *h, struct fmt_blob_key **out);
/* The key of a blob whose header is the one this version writes for these values and tag (the
 * manifest holds all of them), with no read of the blob: the tag is authenticated as
 * fmt_blob_key_open does. EBADMSG when it fails (then read the header itself). */
int fmt_blob_key_reopen(const struct fmt_dek *dek, unsigned log2_block, uint64_t plain_len,
                        const uint8_t salt[FMT_SALT_LEN], const uint8_t tag[FMT_TAG_LEN],
                        struct fmt_blob_key **out);
/* Starts a new blob: random salt (or the given one, for known-answer tests), header and tag. */
int fmt_blob_key_create(const struct fmt_dek *dek, unsigned log2_block, uint64_t plain_len,
                        const uint8_t *salt_or_null, struct fmt_blob_key **out);
void fmt_blob_key_free(struct fmt_blob_key *k);

/* Authenticates and decrypts block i: in is ciphertext then tag (plain_len(i) + 16 bytes).
 * EBADMSG, with out wiped, when it does not authenticate. */
int fmt_blob_decrypt_block(const struct fmt_blob_key *k, uint64_t i, const uint8_t *in, size_t in_len,
                           uint8_t *out);
/* Encrypts block i (len must be plain_len(i)); writes len + 16 bytes to out. */
int fmt_blob_encrypt_block(const struct fmt_blob_key *k, uint64_t i, const uint8_t *in, size_t len,
                           uint8_t *out);

/* Streams a whole file through the cipher in constant memory: reads plain_len bytes from
 * in_fd (from its current position), writes the complete blob to out_fd, and returns the
 * plaintext SHA-256. progress (may be NULL) is called after every block with the bytes done.
 * EIO with a message when the input is shorter or longer than plain_len (it changed). */
int fmt_blob_encrypt_fd(struct fmt_blob_key *k, int in_fd, int out_fd, uint8_t sha256_out[FMT_SHA256_LEN],
                        void (*progress)(void *arg, uint64_t bytes), void *progress_arg);

/* Buffers one thread reuses to encrypt many small files without allocating per file: the
 * plaintext in locked memory, the blob under construction in ordinary memory. */
#define FMT_BLOB_SMALL_MAX (1u << 20) /* files up to this size go through one read and one write */
struct fmt_blob_scratch {
    uint8_t *plain;  /* FMT_BLOB_SMALL_MAX bytes of locked memory */
    uint8_t *cipher; /* the largest small blob */
};
int fmt_blob_scratch_init(struct fmt_blob_scratch *s);
void fmt_blob_scratch_free(struct fmt_blob_scratch *s);

/* As fmt_blob_encrypt_fd, for a file of at most FMT_BLOB_SMALL_MAX bytes: reads it whole,
 * hashes it on this thread and writes the blob with one write. Same bytes as the streaming
 * path; EIO with a message when the input is shorter than plain_len. It does not read past
 * plain_len (one system call fewer per file): a caller whose input may grow checks its size
 * again afterwards (fstat). */
int fmt_blob_encrypt_small_fd(struct fmt_blob_key *k, int in_fd, int out_fd,
                              uint8_t sha256_out[FMT_SHA256_LEN], struct fmt_blob_scratch *s);

#endif
