/* Shared by the core files of fs/ only: the mount's state, the gate and the block read path.
 * No FUSE here: the adapters (fs/fuse_*.c) see the core through fs/core.h, and fs/mount.c,
 * which owns the FUSE session, adds fs/fuse_adapter.h. Headers of fs/, each including only
 * those above it: tree, window, cache, prefetch, ephemeral -> overlay -> mount -> core ->
 * internal (core files) and fuse_adapter (adapters, mount.c).
 *
 * Threads: libfuse's session workers run the request handlers; fs/prefetch.c's workers run
 * fetch-ahead jobs; fs_mount_revoke may come from any thread.
 *
 * Locks, in the order they may be taken (never the other way round):
 *   1. fs_open_file.lock   an open file's read-ahead window; never held across I/O
 *   2. fs_mount.key_lock   (rwlock) the file keys in the tree (fs_node.key) and the DEK.
 *                          Shared while a key is used (a block fetch and decrypt, and the
 *                          reply sent from the pinned blocks until fs_core_read_done),
 *                          exclusive to install a key or to wipe them all (revoke)
 *   2b. fs_mount.key_lru_lock  who holds which key, and the recently used keys nobody holds
 *                          (fs/core_keys.c); held briefly, never across I/O
 *   3. the cache's lock, the prefetch queue's lock: internal to those modules, held briefly
 *   fs_mount.open_lock     the list of open files; taken alone, never with another lock
 *   fs_mount.ahead_lock    fetch-ahead across files (fs/core_ahead.c): the table of folders
 *                          read in order and each file's fs_node.ahead (an atomic, so that an
 *                          eviction may clear it without this lock); taken alone, never with
 *                          another lock, never held across I/O
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

#include "fs/cache.h"
#include "fs/core.h"
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
#define FS_HEADER_BLOCK UINT64_MAX /* on_integrity_failure's block for a blob header */
/* A blob this small is fetched whole when its file is opened: one store request per small
 * file (on a cloud store a request's latency outweighs 128 KiB of transfer). */
#define FS_WHOLE_BLOB_MAX (128u << 10)
/* Fetch-ahead across files: folders followed at once (a small table, entries replaced when two
 * folders meet in one slot), how far ahead an open may land and still be "in order", and how
 * many in-order steps of one stride in a row start fetch-ahead. Three: with two, about one in
 * six shuffles of a 40-file folder would look in order somewhere; with three of one stride,
 * one in 500. */
#define FS_AHEAD_SLOTS 64
#define FS_AHEAD_GAP   3
#define FS_AHEAD_STEPS 3

struct fuse_session;

/* fs_node.ahead: changed under ahead_lock, except READY -> NONE (fs_ahead_forget). */
enum fs_ahead_state {
    FS_AHEAD_NONE = 0,
    FS_AHEAD_QUEUED,  /* a job is queued; an open that comes first takes it over */
    FS_AHEAD_RUNNING, /* a worker is opening the file: an open waits for it */
    FS_AHEAD_READY,   /* opened by fetch-ahead, not yet by anyone */
};

/* One folder a reader goes through in order: child positions in the folder's name order. */
struct fs_ahead_slot {
    uint32_t dir_plus1; /* the folder's node index + 1; 0 for an empty slot */
    uint32_t last;      /* position of the last file opened */
    uint32_t queued_to; /* positions up to here were considered for fetch-ahead */
    uint32_t steps;     /* in-order opens in a row (of one stride until FS_AHEAD_STEPS) */
    uint32_t stride;    /* the distance between those opens */
};

struct fs_open_file {
    struct fs_open_file *prev, *next; /* the mount's open files, guarded by open_lock */
    struct fs_node *node;             /* the dataset file (NULL: made on the mount) */
    uint64_t handle;                  /* from the on_open hook */
    struct fs_node *key_node;         /* the dataset file whose key this open holds, or NULL */
    pthread_mutex_t lock;
    struct fs_window win;      /* guarded by lock */
    atomic_int stalled;        /* the last read waited for a fetch */
    struct fs_ovl_node *onode; /* no-egress and sink: the overlay node, pinned; else NULL */
    int writable;              /* opened for writing */
    int keep_cache;            /* the kernel may keep its pages across opens */
};

struct fs_mount {
    struct fmt_dataset *ds;
    struct fmt_dek *dek;
    const struct fs_access_hooks *hooks;
    int hide_plaintext_hash; /* fs_mount_config */
    struct fs_options opts;  /* strings not owned */
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
    /* File keys live while their file is open, plus at most key_lru_max recently closed ones
     * (fs/core_keys.c); evicted keys are wiped. */
    pthread_mutex_t key_lru_lock;
    uint32_t lru_head, lru_tail, lru_count, key_lru_max;
    atomic_uint_least64_t keys_live, key_evictions;
    atomic_int key_trim_pending; /* a close left more than key_lru_max keys: trim when free */
    /* Fetch-ahead across the files of a folder read in order (fs/core_ahead.c). ahead_lock
     * guards ahead_slots and every fs_node.ahead; ahead_done is signalled when a fetch-ahead of
     * a file ends. ahead_files is the number of files fetched ahead of a reader (0: off). */
    pthread_mutex_t ahead_lock;
    pthread_cond_t ahead_done;
    struct fs_ahead_slot ahead_slots[FS_AHEAD_SLOTS];
    unsigned ahead_files;
    /* Files queued, being fetched or fetched and not yet opened, for the whole mount: at most
     * ahead_allowed, which starts at ahead_max (half the key LRU, where their keys wait), drops
     * by one whenever a key fetched ahead is evicted before its open (readers of many folders
     * at once outrun the LRU) and grows by one with each open that finds its key there. */
    atomic_uint ahead_outstanding, ahead_allowed;
    unsigned ahead_max;
    atomic_uint_least64_t ahead_files_queued, ahead_files_used;
    /* Files opened and not yet released: the kernel may drop releases at unmount, and those
     * still get on_release and are freed when the mount ends. */
    pthread_mutex_t open_lock;
    struct fs_open_file *open_files;
    atomic_int revoked;
    atomic_int inval_running; /* the revoke's page-cache invalidation is under way */
    atomic_uint_least64_t bytes_fetched, bytes_served, reads, opens, integrity_failures, store_errors,
        denials, memory_errors;
    /* No-egress and sink mounts (NULL for read-only): the mutable namespace and the store of
     * written bytes under a key that lives only in memory. */
    struct fs_ovl *ovl;
    struct fs_ephemeral *eph;
    /* Sink mounts: where sealed outputs go, and whom they are sealed for. */
    struct fetch_store *sink_store;
    EVP_PKEY *recipient;
    atomic_uint_least64_t uploads, upload_failures, upload_refusals, bytes_written;
    struct fuse_session *se; /* fs/mount.c's; the core never uses it */
    char *mountpoint;
    int mounted, signals_set;
};

/* ---- the gate (fs/core_gate.c) ---- */

/* What is about to happen. */
enum fs_gate_op {
    FS_GATE_ACCESS, /* revocation only: a change of the namespace or of attributes, or an open
                     * before it does store I/O */
    FS_GATE_OPEN,   /* an open: asks on_open, sets *handle */
    FS_GATE_READ,   /* bytes of an open file are about to be returned: asks on_read */
    FS_GATE_WRITE,  /* bytes are about to be written (no hook asks about writes: revocation) */
};

struct fs_gate_req {
    enum fs_gate_op op;
    /* FS_GATE_OPEN */
    const char *path;
    int flags;
    const struct fs_caller *who;
    uint64_t *handle;
    /* FS_GATE_READ */
    const struct fs_open_file *of;
    uint64_t off, len;
};

/* The one check every operation touching file bytes or the namespace goes through: EACCES
 * once access was revoked, the hook's errno when governance refuses; every refusal is
 * counted as a denial. 0 lets the operation go on. */
int fs_gate(struct fs_mount *m, const struct fs_gate_req *r);
/* The end of an open the gate allowed (its last close, or an open that failed after it). */
void fs_gate_release(struct fs_mount *m, uint64_t handle);

/* ---- the block read path (fs/core_read.c, fs/blocks.c) ---- */

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
/* ---- file keys (fs/core_keys.c) ---- */

/* The file's key, opening its blob (header checks against the manifest) when it is not in
 * memory. It may be evicted again once nobody holds it: users of the key take key_lock shared
 * and open it again when it is gone. */
int fs_node_open_key(struct fs_mount *m, struct fs_node *n);
/* An open file's hold on its key: opened if needed, never evicted while held. */
int fs_key_hold(struct fs_mount *m, struct fs_node *n);
void fs_key_drop(struct fs_mount *m, struct fs_node *n);
/* Revocation: wipes every key. key_lock must be held exclusively. */
void fs_keys_wipe_locked(struct fs_mount *m);
/* Trims the recently used keys back to key_lru_max when a close could not (reads held key_lock);
 * takes key_lock only if it is free. Called with key_lock not held. */
void fs_keys_trim_pending(struct fs_mount *m);
/* Keys in memory now (held and recently used). */
uint64_t fs_keys_live(struct fs_mount *m);
void fs_report_integrity(struct fs_mount *m, struct fs_node *n, uint64_t block, const char *why);

/* The plaintext of bytes [off, off+len) of dataset file n, as pinned blocks. The one routine
 * every read of dataset bytes goes through (dataset reads, the overlay's copy-ups and reads
 * through): cache hits pinned, misses fetched together and decrypted straight into their
 * slots, blocks another thread is fetching waited for (and fetched again here when that fetch
 * failed on the store), private locked buffers when every slot is pinned. Holds key_lock
 * shared until fs_read_unpin. EACCES when revoked (also when revoked while fetching: no
 * plaintext is handed out after a revoke began); *stalled set when it waited for a fetch. */
int fs_read_pin(struct fs_mount *m, struct fs_node *n, uint64_t off, size_t len, struct fs_read_pins **out,
                int *stalled);
/* The pinned bytes as an iovec (valid until fs_read_unpin). */
struct iovec *fs_read_pins_iov(struct fs_read_pins *p, int *count);
void fs_read_unpin(struct fs_mount *m, struct fs_read_pins *p);
/* A private locked buffer of len bytes in place of pinned blocks (bytes from the overlay),
 * freed by fs_read_unpin; trim shortens what the iovec holds. */
int fs_read_pins_buffer(size_t len, struct fs_read_pins **out, uint8_t **buf);
void fs_read_pins_trim(struct fs_read_pins *p, size_t len);
/* Copies len bytes at off of dataset file n into buf (overlay copy-up and read through). */
int fs_read_copy(struct fs_mount *m, struct fs_node *n, void *buf, size_t len, uint64_t off);
/* Queues fetch-ahead for a sequential reader of of after its read of [off, off+len). */
void fs_read_ahead(struct fs_mount *m, struct fs_open_file *of, uint64_t off, uint64_t len);
/* This thread's ciphertext buffer of at least len bytes, reused by its next call (ciphertext
 * is not secret); NULL when out of memory. */
uint8_t *fs_scratch_get(size_t len);

/* The prefetch workers' job: fills missing blocks of a run into the cache. */
void fs_prefetch_runner(void *arg, const struct fs_prefetch_job *job);

/* The object size of file e's blob when its open fetches it whole (small enough: see
 * FS_WHOLE_BLOB_MAX), else 0. */
static inline uint64_t fs_whole_blob_len(const struct fmt_manifest_entry *e)
{
    uint64_t len = fmt_dataset_file_object_size(e);
    return len > FMT_BLOB_HEADER_LEN && len <= FS_WHOLE_BLOB_MAX ? len : 0;
}

/* ---- fetch-ahead across the files of a folder (fs/core_ahead.c) ---- */

/* Before an open takes its key: waits for a fetch-ahead of n under way, takes a queued one over
 * (the open fetches it itself), and counts an open that finds its key put there by fetch-ahead. */
void fs_ahead_claim(struct fs_mount *m, struct fs_node *n);
/* After an open of dataset file n succeeded: follows the caller through n's folder and, once it
 * reads in order, queues the next small files the caller may read for fetch-ahead. */
void fs_ahead_on_open(struct fs_mount *m, struct fs_node *n, const struct fs_caller *who);
/* A key fetch-ahead put there is evicted before its file was opened: no longer counted as
 * outstanding. Atomics only: called under key_lock and key_lru_lock. */
void fs_ahead_forget(struct fs_mount *m, struct fs_node *n);
/* The prefetch workers' FS_PREFETCH_OPEN_AHEAD job: opens file node as an open would. */
void fs_ahead_run(struct fs_mount *m, uint32_t node);

/* ---- open files (fs/core_files.c) ---- */

/* Sets up an open file's lock and read-ahead window and adds it to the mount's list (so a
 * release the kernel drops at unmount still frees it). */
void fs_open_file_link(struct fs_mount *m, struct fs_open_file *of);
void fs_open_file_free(struct fs_mount *m, struct fs_open_file *of);
/* The process name from /proc/PID/comm, "" when unknown. */
void fs_process_name(pid_t pid, char *out, size_t len);
/* Reads plaintext of a dataset file for a copied-up file (fs_ovl_lower_read). */
int fs_ovl_lower_read_cb(void *arg, struct fs_node *n, void *buf, size_t len, uint64_t off);

/* Sink mounts: seals a closed output file for the recipient and uploads it as a one-file
 * dataset at <path>/ (fs/sink.c). Asks on_upload first; logs and counts the outcome. */
int fs_sink_upload(struct fs_mount *m, const char *path, struct fs_ephemeral_file *f, mode_t mode,
                   const struct timespec *mtime);

#endif
