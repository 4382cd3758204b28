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
 * atomics.
 *
 * No-egress and sink mounts add a mutable namespace (fs/overlay.h) and written bytes
 * (fs/ephemeral.h). Their locks come before all of the above:
 *   0a. the overlay's namespace rwlock  (may be held while a copied-up file reads its dataset
 *                                        file through 0b, 2 and 3: a truncate, a copy-up)
 *   0b. an ephemeral file's lock, then the ephemeral store's lock (fs/ephemeral.c); a read
 *       through to the dataset file takes 2 and 3 below while holding them
 * Nothing under 1-3 ever takes 0a or 0b. File bytes are read and written with only 0b held:
 * an open file pins its overlay node, so its ephemeral file lives until the last close. A
 * sink upload runs in the last release, outside 0a, reading through 0b. */
#ifndef CCRFS_FS_INTERNAL_H
#define CCRFS_FS_INTERNAL_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include "fs/cache.h"
#include "fs/ephemeral.h"
#include "fs/mount.h"
#include "fs/overlay.h"
#include "fs/prefetch.h"
#include "fs/tree.h"
#include "fs/window.h"

#include <openssl/evp.h>
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
    struct fs_window win;      /* guarded by lock */
    int stalled;               /* guarded by lock: the last read waited for a fetch */
    struct fs_ovl_node *onode; /* no-egress and sink: the overlay node, pinned; else NULL */
    int writable;              /* opened for writing */
};

struct fs_mount {
    struct fmt_dataset *ds;
    struct fmt_dek *dek;
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
    /* No-egress and sink mounts (NULL for read-only): the mutable namespace and the store of
     * written bytes under a key that lives only in memory. */
    struct fs_ovl *ovl;
    struct fs_ephemeral *eph;
    /* Sink mounts: where sealed outputs go, and whom they are sealed for. */
    struct fetch_store *sink_store;
    EVP_PKEY *recipient;
    atomic_uint_least64_t uploads, upload_failures, upload_refusals, bytes_written;
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
int fs_fetch_blocks(struct fs_mount *m, struct fs_node *n, const struct fmt_blob_key *k,
                    struct fs_fetch_item *it, size_t count);
/* The file's key, opening its blob (header checks against the manifest) the first time. */
int fs_node_open_key(struct fs_mount *m, struct fs_node *n);
void fs_prefetch_runner(void *arg, const struct fs_prefetch_job *job);
/* Sets up an open file's lock and read-ahead window and adds it to the mount's list (so a
 * release the kernel drops at unmount still frees it). */
void fs_open_file_link(struct fs_mount *m, struct fs_open_file *of);
void fs_open_file_free(struct fs_mount *m, struct fs_open_file *of);
/* The process name from /proc/PID/comm, "" when unknown. */
void fs_process_name(pid_t pid, char *out, size_t len);
void fs_report_integrity(struct fs_mount *m, struct fs_node *n, uint64_t block, const char *why);

/* The handlers of the mutable modes (fs/ops_ovl.c); fs/ops.c dispatches to them when m->ovl. */
void fs_ovl_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_ovl_op_getattr(fuse_req_t req, fuse_ino_t ino);
void fs_ovl_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set);
void fs_ovl_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void fs_ovl_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void fs_ovl_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_ovl_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_ovl_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags);
void fs_ovl_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void fs_ovl_op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets);
void fs_ovl_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_ovl_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi);
/* A read of an open file whose bytes are in the overlay; 0 when it answered the request, 1
 * when the file still reads straight from its dataset file (the caller goes on). */
int fs_ovl_op_read(fuse_req_t req, struct fs_open_file *of, size_t size, off_t off);
void fs_ovl_op_write(fuse_req_t req, struct fs_open_file *of, const char *buf, size_t size, off_t off);
/* Before the release of an open file of a sink mount: uploads it when this is its last
 * close after a write. */
void fs_ovl_op_released(struct fs_mount *m, struct fs_open_file *of);
void fs_ovl_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_ovl_op_readdir(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi);
void fs_ovl_op_releasedir(fuse_req_t req, struct fuse_file_info *fi);
/* Reads plaintext of a dataset file for a copied-up file (fs_ovl_lower_read). */
int fs_ovl_lower_read_cb(void *arg, struct fs_node *n, void *buf, size_t len, uint64_t off);

/* Sink mounts: seals a closed output file for the recipient and uploads it as a one-file
 * dataset at <path>/ (fs/sink.c). Asks on_upload first; logs and counts the outcome. */
int fs_sink_upload(struct fs_mount *m, const char *path, struct fs_ephemeral_file *f, mode_t mode,
                   const struct timespec *mtime);

#endif
