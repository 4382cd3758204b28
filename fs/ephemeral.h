/* Ephemeral encrypted storage for what an app writes on a no-egress or sink mount.
 *
 * Bytes never reach disk in the clear: every 4 KiB block is sealed with AES-256-GCM under a
 * key made at creation, held only in locked memory and wiped by fs_ephemeral_destroy. The
 * sealed blocks live in an unlinked temporary file (O_TMPFILE), so nothing is left behind even
 * if the daemon is killed, and what is left on the device is unreadable once the key is gone.
 *
 * A file may sit on a read-only lower file (a dataset file being modified): blocks it has not
 * written are read from the lower file, lazily, so opening a large database read-write
 * copies nothing. */
#ifndef CCRFS_FS_EPHEMERAL_H
#define CCRFS_FS_EPHEMERAL_H

#include <stddef.h>
#include <stdint.h>

#define FS_EPHEMERAL_BLOCK 4096

struct fs_ephemeral;
struct fs_ephemeral_file;

/* Reads len bytes of the lower file at off into buf (all of them: the caller never asks past
 * the lower size it gave). */
typedef int (*fs_ephemeral_lower_read)(void *arg, void *buf, size_t len, uint64_t off);

struct fs_ephemeral_stats {
    uint64_t files;        /* files alive */
    uint64_t blocks_used;  /* sealed blocks holding data */
    uint64_t bytes_stored; /* blocks_used * block size */
    uint64_t max_bytes;    /* the limit given at creation, 0 for none */
};

/* dir: where the unlinked backing file is made (e.g. /var/tmp). max_bytes bounds the sealed
 * data (ENOSPC past it), 0 for no bound. */
int fs_ephemeral_create(const char *dir, uint64_t max_bytes, struct fs_ephemeral **out);
/* Wipes the key, closes the backing file. Every file must have been freed. */
void fs_ephemeral_destroy(struct fs_ephemeral *e);
void fs_ephemeral_get_stats(struct fs_ephemeral *e, struct fs_ephemeral_stats *out);
/* Consent withdrawn: wipes the key now, so nothing stored can be read again; every later read
 * of a stored block and every write fails with EACCES. Safe from any thread. */
void fs_ephemeral_wipe(struct fs_ephemeral *e);

/* A new empty file, or one over a lower file of lower_size bytes read through lower. */
int fs_ephemeral_file_new(struct fs_ephemeral *e, uint64_t lower_size, fs_ephemeral_lower_read lower,
                          void *lower_arg, struct fs_ephemeral_file **out);
void fs_ephemeral_file_free(struct fs_ephemeral_file *f);

uint64_t fs_ephemeral_file_size(struct fs_ephemeral_file *f);
/* Reads up to len bytes at off; *got is short at the end of the file. EBADMSG if a sealed
 * block does not authenticate (the backing file was tampered with). */
int fs_ephemeral_file_read(struct fs_ephemeral_file *f, void *buf, size_t len, uint64_t off, size_t *got);
int fs_ephemeral_file_write(struct fs_ephemeral_file *f, const void *buf, size_t len, uint64_t off);
int fs_ephemeral_file_truncate(struct fs_ephemeral_file *f, uint64_t size);
/* Whether the file reads only through to its lower file (nothing written, same size). */
int fs_ephemeral_file_untouched(struct fs_ephemeral_file *f);

#endif
