/* Mount options given as -o a,b=c (the command line, mount(8) and fstab): ccrfs's own are
 * taken out, the key-source ones kept for the caller, the rest passed on to FUSE. */
#ifndef CCRFS_FS_OPTIONS_H
#define CCRFS_FS_OPTIONS_H

#include <stdint.h>
#include <sys/types.h>

#define FS_DEFAULT_CACHE_SIZE   (256ull << 20)
#define FS_DEFAULT_PREFETCH_MAX (64ull << 20)
#define FS_DEFAULT_WORKERS      4
/* Modest: the kernel reads this much around every page fault of an mmap, so random access
 * would pull it per 4 KiB touched; ccrfs's own fetch-ahead serves sequential readers. */
#define FS_DEFAULT_READAHEAD_KB 128
#define FS_DEFAULT_KEY_CACHE    4096
#define FS_DEFAULT_AHEAD_FILES  8
#define FS_AHEAD_FILES_MAX      64
#define FS_DEFAULT_OVERLAY_DIR  "/var/tmp"
#define FS_MAX_READ             (1u << 20)

/* What the app may do on the mount (docs/CONTRACTS.md): read only; write into an overlay that
 * never leaves the clean room; or write outputs that are sealed for a recipient and uploaded. */
enum fs_access_mode { FS_MODE_READ_ONLY = 0, FS_MODE_NO_EGRESS, FS_MODE_SINK };

/* Whether the kernel keeps a dataset file's pages across opens (docs/MOUNT.md). Default: keep,
 * except under a contract, where every open's reads must reach governance (and keep is refused). */
enum fs_page_cache { FS_PAGE_CACHE_DEFAULT = 0, FS_PAGE_CACHE_KEEP, FS_PAGE_CACHE_DROP };

struct fs_options {
    enum fs_access_mode mode; /* mode=read-only|no-egress|sink (default read-only) */
    char *recipient;          /* recipient=FILE: sink outputs are sealed for this public key (PEM) */
    char *
        overlay_dir; /* overlay_dir=DIR: where no-egress and sink written bytes are kept, sealed (/var/tmp) */
    uint64_t overlay_max;  /* overlay_max=SIZE: bound on those bytes, 0 for none */
    uint64_t cache_size;   /* cache_size=SIZE: plaintext block cache */
    uint64_t prefetch_max; /* prefetch_max=SIZE: fetch-ahead bytes in flight, per mount */
    unsigned workers;      /* fetch_workers=N */
    unsigned readahead_kb; /* readahead_kb=N (or read_ahead_kb): the kernel's read-ahead for the mount,
                            * 0 leaves it */
    unsigned key_cache;    /* key_cache=N: file keys kept after their last close (LRU) */
    unsigned ahead_files;  /* fetch_ahead_files=N: small files of a folder read in order fetched
                            * before their open (0: off) */
    enum fs_page_cache page_cache; /* page_cache=keep|drop */
    int uid_set, gid_set;
    uid_t uid;                 /* uid=N: owner shown for every file */
    gid_t gid;                 /* gid=N */
    int allow_other;           /* allow_other (default when mounted by root); noallow_other */
    int allow_unlocked_memory; /* allow_unlocked_memory: serve although the memory cannot be locked */
    char *dataset_id;          /* dataset_id=sha256:... */
    /* Key source, for mount(8) and fstab, where there are no long options. */
    char *key_file, *kbs, *resource, *attest, *skr, *skr_maa, *skr_akv, *skr_kid, *broker_ca;
    char *fuse_opts; /* what is left, comma-separated, for FUSE ("" when nothing) */
};

void fs_options_init(struct fs_options *o);
/* Takes one -o argument; may be called for several. EINVAL with a message naming the option
 * on a bad value; o keeps what was parsed before. */
int fs_options_parse(struct fs_options *o, const char *optstr);
void fs_options_free(struct fs_options *o);
/* "read-only", "no-egress", "sink". */
const char *fs_access_mode_name(enum fs_access_mode m);

#endif
