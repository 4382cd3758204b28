/* Shared by the files of fs/ only: the mount's state and the block read path.
 *
 * Threads: libfuse's session workers run the request handlers; fs/prefetch.c's workers run
 * fetch-ahead jobs; fs_mount_revoke may come from any thread.
 *
 * Locks, in the order they may be taken (never the other way round):
 *   1. fs_open_file.lock   an open file's read-ahead window; never held across I/O
 *   2. fs_mount.key_lock   (rwlock) the file keys in the tree (fs_node.key) and the DEK.
 *                          Shared while a key is used (a block fetch and decrypt), exclusive
 *                          to install a key or to wipe them all (revoke)
 *   3. the cache's lock, the prefetch queue's lock: internal to those modules, held briefly
 *   fs_mount.open_lock     the list of open files; taken alone, never with another lock
 * The tree itself never changes after fs_mount_create, so it needs no lock. Counters are
 * atomics. */
#ifndef CCRFS_FS_INTERNAL_H
#define CCRFS_FS_INTERNAL_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include "fs/cache.h"
#include "fs/mount.h"
#include "fs/prefetch.h"
#include "fs/tree.h"
#include "fs/window.h"

#include <pthread.h>
#include <stdatomic.h>

#define FS_RANGE_MAX    (1u << 20) /* ciphertext bytes per ranged request */
#define FS_JOB_BYTES    (4u << 20) /* plaintext bytes per fetch-ahead job */
#define FS_WINDOW_MIN   (1u << 20)
#define FS_TIMEOUT      86400.0    /* the tree never changes: the kernel may cache names and attributes */
#define FS_HEADER_BLOCK UINT64_MAX /* on_integrity_failure's block for a blob header */

struct fs_open_file {
    struct fs_open_file *prev, *next; /* the mount's open files, guarded by open_lock */
    struct fs_node *node;
    uint64_t handle; /* from the on_open hook */
    pthread_mutex_t lock;
    struct fs_window win; /* guarded by lock */
    int stalled;          /* guarded by lock: the last read waited for a fetch */
};

struct fs_mount {
    struct keys_dataset *ds;
    struct keys_dek *dek;
    const struct fs_access_hooks *hooks;
    struct fs_options opts; /* strings not owned */
    int debug;
    const char *source;
    uid_t uid;
    gid_t gid;
    time_t mount_time;
    struct fs_tree tree;
    struct cache *cache;
    struct fs_prefetch *pf;
    uint64_t window_max;
    pthread_rwlock_t key_lock;
    /* Files opened and not yet released: the kernel may drop releases at unmount, and those
     * still get on_release and are freed when the mount ends. */
    pthread_mutex_t open_lock;
    struct fs_open_file *open_files;
    atomic_int revoked;
    atomic_int inval_running; /* the revoke's page-cache invalidation is under way */
    atomic_uint_least64_t bytes_fetched, bytes_served, reads, opens, integrity_failures, store_errors,
        denials;
    struct fuse_session *se;
    char *mountpoint;
    int mounted, signals_set;
};

extern const struct fuse_lowlevel_ops fs_ops;

/* One block to fetch: dst receives its plaintext (len bytes); rc is set per block. */
struct fs_fetch_item {
    uint64_t block;
    uint8_t *dst;
    size_t len;
    int rc;
};

/* Fetches and decrypts the given blocks (sorted, of one file) with runs of adjacent blocks
 * merged into ranged requests, all in flight together. Counts, logs and reports (hook) every
 * block that fails authentication. Returns the first failure. key_lock must be held shared. */
int fs_fetch_blocks(struct fs_mount *m, struct fs_node *n, const struct keys_blob_key *k,
                    struct fs_fetch_item *it, size_t count);
/* The file's key, opening its blob (header checks against the manifest) the first time. */
int fs_node_open_key(struct fs_mount *m, struct fs_node *n);
void fs_prefetch_runner(void *arg, const struct fs_prefetch_job *job);
void fs_open_file_free(struct fs_mount *m, struct fs_open_file *of);
void fs_report_integrity(struct fs_mount *m, struct fs_node *n, uint64_t block, const char *why);

#endif
