/* Whole-file reads and crash-safe writes. */
#ifndef CCRFS_COMMON_FILEIO_H
#define CCRFS_COMMON_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Reads a whole file of at most max_len bytes into a malloc'd buffer (NUL-terminated for
 * convenience, the NUL not counted). EFBIG when larger. Sets a message naming the path. */
int ccr_read_file(const char *path, size_t max_len, uint8_t **out, size_t *out_len);

/* Writes data to path through a temporary file in the same folder, fsync and rename, so a
 * reader sees the old file or the new one, never half of it. */
int ccr_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Like ccr_write_file_atomic but fails with EEXIST when path exists (O_EXCL semantics). */
int ccr_write_file_new(const char *path, const void *data, size_t len, mode_t mode);

/* Writes all of len bytes, retrying on short writes and EINTR. */
int ccr_write_all(int fd, const void *data, size_t len);
/* Reads exactly len bytes at offset; EIO with a message on a short file. */
int ccr_pread_all(int fd, void *buf, size_t len, uint64_t offset);

/* mkdir -p. */
int ccr_mkdirs(const char *path, mode_t mode);

/* Joins a and b with one '/', into a malloc'd string; NULL on allocation failure. */
char *ccr_path_join(const char *a, const char *b);

/* fsyncs the folder holding path so a rename or create in it is durable. */
int ccr_fsync_parent(const char *path);

#endif
