/* A mount's life: building the state from a dataset, mounting, the session loop, revocation,
 * counters, unmounting. */
#include "fs/internal.h"
#include "fs/fuse_adapter.h"
#include "common/err.h"
#include "common/log.h"

#include <openssl/pem.h>

#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

/* Sink: the store outputs go to and the recipient's public key. */
static int sink_setup(struct fs_mount *m, const struct fs_mount_config *conf)
{
    FILE *f;

    if (conf->sink_store == NULL)
        return ccr_err_set(EINVAL, "a sink mount needs a store to upload to");
    if (m->opts.recipient == NULL)
        return ccr_err_set(EINVAL, "a sink mount needs -o recipient=PUBLIC_KEY.pem");
    m->sink_store = conf->sink_store;
    if ((f = fopen(m->opts.recipient, "re")) == NULL)
        return ccr_err_set(errno, "recipient %s: %s", m->opts.recipient, strerror(errno));
    m->recipient = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    if (m->recipient == NULL || EVP_PKEY_base_id(m->recipient) != EVP_PKEY_RSA)
        return ccr_err_set(EINVAL, "recipient %s: not a PEM RSA public key", m->opts.recipient);
    if (EVP_PKEY_get_bits(m->recipient) < 2048)
        return ccr_err_set(EINVAL, "recipient %s: an RSA key of at least 2048 bits is needed",
                           m->opts.recipient);
    return 0;
}

/* No-egress and sink: the ephemeral store of written bytes and the mutable namespace. */
static int overlay_setup(struct fs_mount *m)
{
    struct fs_ovl_conf oc;
    const char *dir = m->opts.overlay_dir ? m->opts.overlay_dir : FS_DEFAULT_OVERLAY_DIR;
    int rc;

    if ((rc = fs_ephemeral_create(dir, m->opts.overlay_max, &m->eph)) != 0)
        return rc;
    memset(&oc, 0, sizeof oc);
    oc.tree = &m->tree;
    oc.eph = m->eph;
    oc.uid = m->uid;
    oc.gid = m->gid;
    oc.root_time = m->mount_time;
    oc.lower_read = fs_ovl_lower_read_cb;
    oc.lower_arg = m;
    return fs_ovl_create(&oc, &m->ovl);
}

/* Settles page_cache: reads under a contract must all reach governance, so pages kept from an
 * earlier open (which the kernel serves without asking) are not allowed there. */
static int page_cache_policy(struct fs_mount *m)
{
    int every_open = m->hooks != NULL && m->hooks->reads_every_open;
    if (every_open && m->opts.page_cache == FS_PAGE_CACHE_KEEP)
        return ccr_err_set(EINVAL,
                           "option page_cache=keep: under a contract every open's reads are recorded, "
                           "so the kernel may not serve them from pages kept across opens");
    if (m->opts.page_cache == FS_PAGE_CACHE_DEFAULT)
        m->opts.page_cache = every_open ? FS_PAGE_CACHE_DROP : FS_PAGE_CACHE_KEEP;
    return 0;
}

int fs_mount_create(const struct fs_mount_config *conf, struct fs_mount **out)
{
    struct fs_mount *m = calloc(1, sizeof *m);
    uint64_t slot, nslots, budget;
    int rc;

    if (m == NULL)
        return ENOMEM;
    m->ds = conf->ds;
    m->dek = conf->dek;
    m->hooks = conf->hooks;
    m->hide_plaintext_hash = conf->hide_plaintext_hash;
    m->opts = *conf->opts;
    m->debug = conf->debug;
    m->source = conf->source;
    m->mount_time = time(NULL);
    m->uid = m->opts.uid_set ? m->opts.uid : getuid();
    m->gid = m->opts.gid_set ? m->opts.gid : getgid();
    pthread_rwlock_init(&m->key_lock, NULL);
    pthread_mutex_init(&m->open_lock, NULL);
    pthread_mutex_init(&m->key_lru_lock, NULL);
    pthread_mutex_init(&m->ahead_lock, NULL);
    pthread_cond_init(&m->ahead_done, NULL);
    m->key_lru_max = m->opts.key_cache;
    if ((rc = page_cache_policy(m)) != 0)
        goto fail;
    if (m->opts.mode == FS_MODE_SINK) {
        /* An output mount starts empty: a tree of only the root. */
        static const struct fmt_manifest empty;
        if ((rc = fs_tree_build(&empty, &m->tree)) != 0 || (rc = sink_setup(m, conf)) != 0)
            goto fail;
    } else if (m->ds == NULL) {
        rc = ccr_err_set(EINVAL, "a %s mount needs a dataset", fs_access_mode_name(m->opts.mode));
        goto fail;
    } else if ((rc = fs_tree_build(&m->ds->manifest, &m->tree)) != 0) {
        goto fail;
    }
    if (m->opts.mode != FS_MODE_READ_ONLY && (rc = overlay_setup(m)) != 0)
        goto fail;
    /* One slot per block of the largest block size in the dataset. */
    slot = (uint64_t)1 << (m->tree.max_log2_block ? m->tree.max_log2_block : FMT_LOG2_BLOCK_DEFAULT);
    nslots = m->opts.cache_size / slot;
    if (nslots < 64)
        nslots = 64; /* room for a few 1 MiB reads at once whatever was asked */
    /* The window may not outgrow what the cache can hold, or fetched blocks would be evicted
     * before they are read. */
    budget = m->opts.prefetch_max;
    if (budget > nslots * slot / 2)
        budget = nslots * slot / 2;
    m->window_max = budget < FS_WINDOW_MIN ? FS_WINDOW_MIN : budget;
    if ((rc = cache_create((size_t)slot, (size_t)nslots, &m->cache)) != 0)
        goto fail;
    if (m->opts.workers > 0 && budget > 0 &&
        (rc = fs_prefetch_create(m->opts.workers, budget, fs_prefetch_runner, m, &m->pf)) != 0)
        goto fail;
    /* Files fetched ahead wait in the key LRU for their open, beside the keys of files just
     * closed: at most half of it (for one reader and for all), or they would be evicted
     * before they are opened. */
    m->ahead_max = m->key_lru_max / 2;
    atomic_store(&m->ahead_allowed, m->ahead_max);
    if (m->pf != NULL)
        m->ahead_files = m->opts.ahead_files < m->ahead_max ? m->opts.ahead_files : m->ahead_max;
    ccr_log_info("dataset %s (%s): %u entries, %llu bytes; cache %llu MiB in %llu KiB blocks, fetch-ahead up "
                 "to %llu MiB",
                 m->ds ? m->ds->id : "none", fs_access_mode_name(m->opts.mode), m->tree.count - 1,
                 (unsigned long long)m->tree.total_bytes, (unsigned long long)(nslots * slot >> 20),
                 (unsigned long long)(slot >> 10), (unsigned long long)(budget >> 20));
    *out = m;
    return 0;
fail:
    fs_mount_destroy(m);
    return rc;
}

/* Escapes commas and backslashes for a FUSE -o value. */
static void opt_escape(const char *in, char *out, size_t len)
{
    size_t o = 0;
    for (; *in != '\0' && o + 2 < len; in++) {
        if (*in == ',' || *in == '\\')
            out[o++] = '\\';
        out[o++] = *in;
    }
    out[o] = '\0';
}

static int check_mountpoint(const char *mp)
{
    struct stat st, parent;
    char *up;
    int rc = 0;

    if (stat(mp, &st) != 0) {
        if (errno == ENOTCONN)
            return ccr_err_set(EBUSY,
                               "%s: a FUSE file system whose daemon has gone is mounted there "
                               "(fusermount3 -u %s first)",
                               mp, mp);
        return ccr_err_set(errno, "%s: %s", mp, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return ccr_err_set(ENOTDIR, "%s: not a folder", mp);
    if ((up = malloc(strlen(mp) + 4)) == NULL)
        return ENOMEM;
    snprintf(up, strlen(mp) + 4, "%s/..", mp);
    if (stat(up, &parent) == 0 && (parent.st_dev != st.st_dev || parent.st_ino == st.st_ino) &&
        strcmp(mp, "/") != 0)
        rc = ccr_err_set(EBUSY, "%s: mount point busy (something is already mounted there)", mp);
    free(up);
    return rc;
}

int fs_mount_check_point(const char *mountpoint)
{
    return check_mountpoint(mountpoint);
}

int fs_mount_start(struct fs_mount *m, const char *mountpoint)
{
    char fsname[512], opts[2048];
    char *argv[4];
    int argc = 0, rc;
    struct fuse_args args;
    const struct fuse_lowlevel_ops *ops;
    int allow_other = m->opts.allow_other >= 0 ? m->opts.allow_other : geteuid() == 0;

    if ((rc = check_mountpoint(mountpoint)) != 0)
        return rc;
    if ((m->mountpoint = realpath(mountpoint, NULL)) == NULL)
        return ccr_err_set(errno, "%s: %s", mountpoint, strerror(errno));
    opt_escape(m->source ? m->source : "ccrfs", fsname, sizeof fsname);
    /* ro (read-only mode): the kernel itself refuses writes; default_permissions: the kernel checks modes
     * against -o uid/gid; allow_other: the clean-room app runs as another user. */
    rc = snprintf(opts, sizeof opts, "%sdefault_permissions,fsname=%s,subtype=ccrfs,max_read=%u%s%s%s",
                  m->ovl == NULL ? "ro," : "", fsname, FS_MAX_READ, allow_other ? ",allow_other" : "",
                  m->opts.fuse_opts && m->opts.fuse_opts[0] ? "," : "",
                  m->opts.fuse_opts ? m->opts.fuse_opts : "");
    if (rc < 0 || (size_t)rc >= sizeof opts)
        return ccr_err_set(EINVAL, "mount options too long");
    argv[argc++] = "ccrfs";
    argv[argc++] = "-o";
    argv[argc++] = opts;
    if (m->debug)
        argv[argc++] = "-d";
    args.argc = argc;
    args.argv = argv;
    args.allocated = 0;
    /* The mode decides the table: read-only mounts never reach a handler that changes anything. */
    ops = m->ovl == NULL ? &fs_fuse_ro_ops : &fs_fuse_rw_ops;
    m->se = fuse_session_new(&args, ops, sizeof *ops, m);
    fuse_opt_free_args(&args);
    if (m->se == NULL)
        return ccr_err_set(EINVAL, "FUSE refused the mount options (%s); see the message above", opts);
    if (fuse_set_signal_handlers(m->se) != 0)
        return ccr_err_set(EIO, "cannot install signal handlers");
    m->signals_set = 1;
    if (fuse_session_mount(m->se, m->mountpoint) != 0)
        return ccr_err_set(EIO, "%s: the kernel refused the mount (see the message above)", m->mountpoint);
    m->mounted = 1;
    return 0;
}

struct tune_arg {
    struct fs_mount *m;
    void (*ready)(void *arg, int ok);
    void *ready_arg;
};

/* Waits until the mount answers (the kernel has our INIT reply), raises its read-ahead, then
 * says the mount is ready. Runs beside the session loop: a stat before then would wait for
 * the loop. */
static void *tune_thread(void *argp)
{
    struct tune_arg *t = argp;
    struct fs_mount *m = t->m;
    struct stat st;
    int ok = stat(m->mountpoint, &st) == 0;

    if (ok) {
        if (m->opts.readahead_kb > 0) {
            char path[96], val[32];
            int fd, n;
            snprintf(path, sizeof path, "/sys/class/bdi/%u:%u/read_ahead_kb", major(st.st_dev),
                     minor(st.st_dev));
            n = snprintf(val, sizeof val, "%u\n", m->opts.readahead_kb);
            fd = open(path, O_WRONLY | O_CLOEXEC);
            if (fd < 0 || write(fd, val, (size_t)n) != n)
                ccr_log_debug("cannot raise read-ahead (%s): %s", path, strerror(errno));
            if (fd >= 0)
                close(fd);
        }
        ccr_log_info("mounted %s at %s (%s)", m->ds ? m->ds->id : "an empty sink", m->mountpoint,
                     fs_access_mode_name(m->opts.mode));
    } else {
        ccr_log_error("%s: the mount does not answer: %s", m->mountpoint, strerror(errno));
    }
    if (t->ready != NULL)
        t->ready(t->ready_arg, ok);
    free(t);
    return NULL;
}

int fs_mount_run(struct fs_mount *m, void (*ready)(void *arg, int ok), void *ready_arg)
{
    struct fuse_loop_config *cfg;
    struct tune_arg *t = malloc(sizeof *t);
    pthread_t tid;
    int rc, tuned = 0;

    if (t == NULL)
        return ENOMEM;
    t->m = m;
    t->ready = ready;
    t->ready_arg = ready_arg;
    /* Joined when the loop ends: the caller reads what ready() wrote, and the thread logs about
     * the mount, so it must be done before the mount is destroyed. */
    if (pthread_create(&tid, NULL, tune_thread, t) != 0) {
        free(t);
        if (ready != NULL)
            ready(ready_arg, 1);
    } else {
        tuned = 1;
    }
    if ((cfg = fuse_loop_cfg_create()) == NULL) {
        if (tuned)
            pthread_join(tid, NULL);
        return ENOMEM;
    }
    fuse_loop_cfg_set_clone_fd(cfg, 0);
    fuse_loop_cfg_set_idle_threads(cfg, 8);
    fuse_loop_cfg_set_max_threads(cfg, 16);
    rc = fuse_session_loop_mt(m->se, cfg);
    fuse_loop_cfg_destroy(cfg);
    fuse_session_unmount(m->se);
    m->mounted = 0;
    if (tuned)
        pthread_join(tid, NULL);
    ccr_log_info("unmounted %s", m->mountpoint);
    /* A signal ends the loop with the signal number; that is a clean stop. */
    return rc < 0 ? ccr_err_set(-rc, "FUSE session: %s", strerror(-rc)) : 0;
}

void fs_mount_destroy(struct fs_mount *m)
{
    if (m == NULL)
        return;
    while (atomic_load(&m->inval_running))
        usleep(1000);
    fs_prefetch_destroy(m->pf);
    if (m->se != NULL) {
        if (m->mounted)
            fuse_session_unmount(m->se);
        if (m->signals_set)
            fuse_remove_signal_handlers(m->se);
        fuse_session_destroy(m->se);
    }
    while (m->open_files != NULL)
        fs_open_file_free(m, m->open_files);
    /* The overlay's bytes become unreadable once the ephemeral key is wiped. */
    fs_ovl_destroy(m->ovl);
    fs_ephemeral_destroy(m->eph);
    EVP_PKEY_free(m->recipient);
    cache_destroy(m->cache);
    fs_tree_free(&m->tree);
    pthread_rwlock_destroy(&m->key_lock);
    pthread_mutex_destroy(&m->key_lru_lock);
    pthread_mutex_destroy(&m->open_lock);
    pthread_mutex_destroy(&m->ahead_lock);
    pthread_cond_destroy(&m->ahead_done);
    free(m->mountpoint);
    free(m);
}

/* Drops the kernel's cached pages of every file. On its own thread: a revoke may come from
 * inside a request handler, and invalidating a page that request holds would deadlock. */
static void *inval_thread(void *argp)
{
    struct fs_mount *m = argp;
    for (uint32_t i = 1; i < m->tree.count; i++)
        if (m->tree.nodes[i].e->type == FMT_ENTRY_FILE)
            (void)fuse_lowlevel_notify_inval_inode(m->se, fs_tree_ino(&m->tree, &m->tree.nodes[i]), 0, 0);
    atomic_store(&m->inval_running, 0);
    return NULL;
}

void fs_mount_revoke(struct fs_mount *m, const char *reason)
{
    pthread_t tid;

    /* New opens and reads fail from here on. */
    if (atomic_exchange(&m->revoked, 1))
        return;
    ccr_log_warn("access revoked (%s): wiping keys and plaintext cache; every open and read now fails",
                 reason ? reason : "no reason given");
    if (m->pf != NULL)
        fs_prefetch_drop(m->pf);
    /* Once we hold key_lock exclusively no read is decrypting, and none will start. */
    pthread_rwlock_wrlock(&m->key_lock);
    fs_keys_wipe_locked(m);
    if (m->dek != NULL && m->dek->bytes != NULL)
        OPENSSL_cleanse(m->dek->bytes, FMT_DEK_LEN);
    pthread_rwlock_unlock(&m->key_lock);
    cache_wipe(m->cache);
    /* What the app wrote on a no-egress or sink mount may hold dataset bytes (copied-up
     * blocks): its key goes too. */
    if (m->eph != NULL)
        fs_ephemeral_wipe(m->eph);
    /* Pages the kernel kept (keep_cache) must not outlive consent either. */
    if (m->se != NULL && m->mounted) {
        atomic_store(&m->inval_running, 1);
        if (pthread_create(&tid, NULL, inval_thread, m) == 0)
            pthread_detach(tid);
        else
            atomic_store(&m->inval_running, 0);
    }
}

int fs_mount_revoked(struct fs_mount *m)
{
    return atomic_load(&m->revoked);
}

int fs_mount_stats_json(struct fs_mount *m, char *buf, size_t len)
{
    struct cache_stats cs;
    struct fetch_stats fst;
    uint64_t pf_pending = 0, pf_jobs = 0;
    int n;

    cache_get_stats(m->cache, &cs);
    memset(&fst, 0, sizeof fst);
    if (m->ds != NULL)
        fetch_get_stats(m->ds->store, &fst);
    else if (m->sink_store != NULL)
        fetch_get_stats(m->sink_store, &fst);
    if (m->pf != NULL)
        fs_prefetch_get_stats(m->pf, &pf_pending, &pf_jobs);
    n = snprintf(
        buf, len,
        "{\"dataset_id\":\"%s\",\"bytes_fetched\":%llu,\"bytes_served\":%llu,\"reads\":%llu,"
        "\"opens\":%llu,\"cache_hits\":%llu,\"cache_misses\":%llu,\"cache_evictions\":%llu,"
        "\"cache_blocks\":%llu,\"cache_capacity_blocks\":%llu,\"cache_block_size\":%llu,"
        "\"integrity_failures\":%llu,\"store_errors\":%llu,\"memory_errors\":%llu,\"denials\":%llu,"
        "\"keys_live\":%llu,\"key_evictions\":%llu,\"ahead_files_queued\":%llu,\"ahead_files_used\":%llu,"
        "\"requests_in_flight\":%llu,\"store_requests\":%llu,\"store_retries\":%llu,"
        "\"prefetch_pending_bytes\":%llu,\"prefetch_jobs\":%llu,\"revoked\":%s,\"mode\":\"%s\","
        "\"bytes_written\":%llu,\"uploads\":%llu,\"upload_failures\":%llu,\"upload_refusals\":%llu}",
        m->ds ? m->ds->id : "", (unsigned long long)atomic_load(&m->bytes_fetched),
        (unsigned long long)atomic_load(&m->bytes_served), (unsigned long long)atomic_load(&m->reads),
        (unsigned long long)atomic_load(&m->opens), (unsigned long long)cs.hits,
        (unsigned long long)cs.misses, (unsigned long long)cs.evictions, (unsigned long long)cs.slots_used,
        (unsigned long long)cs.slots, (unsigned long long)cs.slot_size,
        (unsigned long long)atomic_load(&m->integrity_failures),
        (unsigned long long)atomic_load(&m->store_errors), (unsigned long long)atomic_load(&m->memory_errors),
        (unsigned long long)atomic_load(&m->denials), (unsigned long long)atomic_load(&m->keys_live),
        (unsigned long long)atomic_load(&m->key_evictions),
        (unsigned long long)atomic_load(&m->ahead_files_queued),
        (unsigned long long)atomic_load(&m->ahead_files_used), (unsigned long long)fst.in_flight,
        (unsigned long long)fst.requests, (unsigned long long)fst.retries, (unsigned long long)pf_pending,
        (unsigned long long)pf_jobs, atomic_load(&m->revoked) ? "true" : "false",
        fs_access_mode_name(m->opts.mode), (unsigned long long)atomic_load(&m->bytes_written),
        (unsigned long long)atomic_load(&m->uploads), (unsigned long long)atomic_load(&m->upload_failures),
        (unsigned long long)atomic_load(&m->upload_refusals));
    return n < 0 || (size_t)n >= len ? ENOSPC : 0;
}
