/* The FUSE filesystem over a dataset: the tree from the manifest, files decrypted lazily
 * block by block through a plaintext cache, fetch-ahead for sequential readers.
 * opts->mode: read-only (every change EROFS); no-egress (a writable overlay kept encrypted
 * under an ephemeral key, never uploaded); sink (no dataset: files written are sealed for
 * opts->recipient and uploaded to sink_store when closed). docs/MOUNT.md.
 *
 *   fs_mount_create  -> fs_mount_start (mounts: the mount point is live when it returns)
 *   -> fs_mount_run (serves requests until unmounted or signalled) -> fs_mount_destroy
 *
 * fs_mount_revoke may be called from any thread at any time. */
#ifndef CCRFS_FS_MOUNT_H
#define CCRFS_FS_MOUNT_H

#include "fs/hooks.h"
#include "fs/options.h"
#include "format/dataset.h"

#include <stdint.h>

struct fs_mount;

struct fs_mount_config {
    struct fmt_dataset *ds;              /* not owned; outlives the mount; NULL for a sink mount */
    struct fmt_dek *dek;                 /* not owned; wiped in place by fs_mount_revoke; NULL for sink */
    const struct fs_access_hooks *hooks; /* NULL: nothing to ask */
    const struct fs_options *opts;       /* sizes, ownership, FUSE options */
    int debug;                           /* FUSE request tracing */
    const char *source;                  /* shown as the mount's source (the store URL) */
    struct fetch_store *sink_store;      /* sink mounts: where outputs are uploaded; not owned */
    /* Keep user.ccrfs.sha256 to itself: a file's plaintext hash confirms a guessed small file,
     * so under a contract it is offered only when the contract says so. */
    int hide_plaintext_hash;
};

int fs_mount_create(const struct fs_mount_config *conf, struct fs_mount **out);
/* Creates the FUSE session and mounts it at mountpoint; EBUSY / ENOTCONN etc. with a message
 * when the kernel refuses. */
int fs_mount_start(struct fs_mount *m, const char *mountpoint);
/* The checks fs_mount_start makes of the mount point (a folder, not busy, no dead mount). */
int fs_mount_check_point(const char *mountpoint);
/* Serves requests on several threads until the file system is unmounted or SIGINT, SIGTERM or
 * SIGHUP arrives; then unmounts. ready (may be NULL) is called once, from another thread, when
 * the mount answers requests (ok 1) or was found not to (ok 0). */
int fs_mount_run(struct fs_mount *m, void (*ready)(void *arg, int ok), void *ready_arg);
void fs_mount_destroy(struct fs_mount *m);

/* Consent withdrawn: every later open and read fails with EACCES, queued fetch-ahead is
 * dropped, the plaintext cache, the file keys and the DEK are wiped. Waits for reads that are
 * decrypting right now to finish. Idempotent. */
void fs_mount_revoke(struct fs_mount *m, const char *reason);
int fs_mount_revoked(struct fs_mount *m);

/* The counters of user.ccrfs.stats, as JSON. */
int fs_mount_stats_json(struct fs_mount *m, char *buf, size_t len);

#endif
