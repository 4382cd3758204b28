/* Fetch-ahead across the small files of a folder, without FUSE: a reader that opens the files
 * of a folder in order finds them fetched by the prefetch workers (its own opens make no store
 * request), a shuffled reader triggers nothing, fetch_ahead_files=0 turns it off, a tampered
 * blob fetched ahead is reported and its open still fails, a revoke or a teardown with jobs
 * queued leaves no keys, the key LRU bound holds, and files the caller could not open are not
 * fetched. Store requests are counted per thread by a store wrapped around the file store. */
#include "tests/support/dataset.h"
#include "common/err.h"
#include "fetch/store.h"
#include "format/blob.h"
#include "format/dataset.h"
#include "format/manifest.h"
#include "fs/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define NFILES   40
#define LOG2_BLK 12

/* ---- a store that counts requests by the thread that makes them ---- */

struct count_store {
    struct fetch_store pub;
    struct fetch_store *inner;
    pthread_t main_thread;
    atomic_uint main_reads, worker_reads, main_stats, worker_stats;
    atomic_uint delay_ms;
};

static void count_request(struct count_store *c, int is_read)
{
    int on_main = pthread_equal(pthread_self(), c->main_thread);
    unsigned delay = atomic_load(&c->delay_ms);

    if (is_read)
        atomic_fetch_add(on_main ? &c->main_reads : &c->worker_reads, 1);
    else
        atomic_fetch_add(on_main ? &c->main_stats : &c->worker_stats, 1);
    if (delay > 0) {
        struct timespec ts = {0, (long)delay * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static int cs_read_range(struct fetch_store *s, const char *key, uint64_t offset, size_t len, void *buf)
{
    struct count_store *c = s->priv;
    count_request(c, 1);
    return fetch_read_range(c->inner, key, offset, len, buf);
}

static int cs_read_many(struct fetch_store *s, struct fetch_range *ranges, size_t n)
{
    struct count_store *c = s->priv;
    for (size_t i = 0; i < n; i++)
        count_request(c, 1);
    return fetch_read_many(c->inner, ranges, n);
}

static int cs_stat(struct fetch_store *s, const char *key, struct fetch_object_info *info)
{
    struct count_store *c = s->priv;
    count_request(c, 0);
    return fetch_stat(c->inner, key, info);
}

static int cs_list(struct fetch_store *s, const char *prefix, fetch_list_cb cb, void *arg)
{
    struct count_store *c = s->priv;
    return fetch_list(c->inner, prefix, cb, arg);
}

static void cs_get_stats(struct fetch_store *s, struct fetch_stats *out)
{
    struct count_store *c = s->priv;
    memset(out, 0, sizeof *out);
    out->requests = atomic_load(&c->main_reads) + atomic_load(&c->worker_reads) +
                    atomic_load(&c->main_stats) + atomic_load(&c->worker_stats);
}

static void cs_destroy(struct fetch_store *s)
{
    struct count_store *c = s->priv;
    fetch_store_destroy(c->inner);
    free(c);
}

static struct count_store *count_store_new(const char *dir)
{
    struct count_store *c = calloc(1, sizeof *c);

    assert_non_null(c);
    assert_int_equal(fetch_file_create(dir, &c->inner), 0);
    c->main_thread = pthread_self();
    c->pub.kind = "counting";
    c->pub.read_range = cs_read_range;
    c->pub.read_many = cs_read_many;
    c->pub.stat = cs_stat;
    c->pub.list = cs_list;
    c->pub.get_stats = cs_get_stats;
    c->pub.destroy = cs_destroy;
    c->pub.priv = c;
    return c;
}

/* ---- the fixture: NFILES small files in folder d, then a big file and a subfolder ---- */

struct hook_log {
    atomic_int opens, reads, integrity;
};

static int hk_open(void *arg, const struct fs_open_info *info, uint64_t *handle)
{
    struct hook_log *h = arg;
    (void)info;
    *handle = 1000 + (uint64_t)atomic_fetch_add(&h->opens, 1);
    return 0;
}

static int hk_read(void *arg, uint64_t handle, uint64_t offset, uint64_t len)
{
    struct hook_log *h = arg;
    (void)handle, (void)offset, (void)len;
    atomic_fetch_add(&h->reads, 1);
    return 0;
}

static void hk_integrity(void *arg, const char *path, uint64_t block)
{
    struct hook_log *h = arg;
    (void)path, (void)block;
    atomic_fetch_add(&h->integrity, 1);
}

struct fixture {
    char dir[64], store_dir[96];
    char blob_path[NFILES][256];
    struct hook_log log;
    struct fs_access_hooks hooks;
    struct fs_options opts;
    struct fmt_dek *dek;
    struct fetch_store *store;
    struct count_store *counter;
    struct fmt_dataset *ds;
    struct fs_mount *m;
    struct fs_caller who;
    uint64_t ino[NFILES];
};

static size_t file_len(unsigned i)
{
    return 200 + i * 97; /* 200 B to about 4 KiB: one or two blocks */
}

static uint8_t file_byte(unsigned i, size_t j)
{
    return (uint8_t)(i * 13 + j * 7 + j / 4096);
}

/* The mode of the files from make_fixture's mode_from on. */
static unsigned private_mode = 0600;

/* mode_from: files from that index on get private_mode (0600: readable by the owner only). */
static struct fixture *make_fixture(unsigned ahead_files, unsigned key_cache, unsigned mode_from)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct fmt_manifest man = {0};
    struct fmt_manifest_entry d = {0};
    static uint8_t data[1 << 17];
    char path[160], blobs[128];
    struct stat st;
    uint64_t dir_ino;

    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ccrfs-test-ahead-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->store_dir, sizeof f->store_dir, "%s/store", f->dir);
    snprintf(blobs, sizeof blobs, "%s/blobs", f->store_dir);
    assert_int_equal(mkdir(f->store_dir, 0755), 0);
    assert_int_equal(mkdir(blobs, 0755), 0);
    snprintf(path, sizeof path, "%s/key", f->dir);
    assert_int_equal(fmt_dek_generate_file(path), 0);
    assert_int_equal(fmt_dek_load_file(path, &f->dek), 0);
    d.path = "d";
    d.type = FMT_ENTRY_DIR;
    d.mode = 0755;
    assert_int_equal(fmt_manifest_add(&man, &d), 0);
    d.path = "d/sub";
    assert_int_equal(fmt_manifest_add(&man, &d), 0);
    for (unsigned i = 0; i < NFILES; i++) {
        snprintf(path, sizeof path, "d/f%02u", i);
        for (size_t j = 0; j < file_len(i); j++)
            data[j] = file_byte(i, j);
        assert_int_equal(tsup_dataset_add_file(f->store_dir, f->dek, &man, path, data, file_len(i), LOG2_BLK,
                                               f->blob_path[i], sizeof f->blob_path[i]),
                         0);
        if (i >= mode_from)
            man.entries[man.count - 1].mode = private_mode;
    }
    /* Not small: never fetched ahead (sorted after the f files). */
    memset(data, 0x5a, sizeof data);
    assert_int_equal(
        tsup_dataset_add_file(f->store_dir, f->dek, &man, "d/large", data, sizeof data, LOG2_BLK, NULL, 0),
        0);
    assert_int_equal(tsup_dataset_seal(f->store_dir, f->dek, &man, NULL), 0);
    fmt_manifest_free(&man);

    assert_int_equal(fetch_file_create(f->store_dir, &f->store), 0);
    assert_int_equal(fmt_dataset_open(f->store, f->dek, NULL, &f->ds), 0);
    f->hooks = (struct fs_access_hooks){.arg = &f->log,
                                        .reads_every_open = 1,
                                        .on_open = hk_open,
                                        .on_read = hk_read,
                                        .on_integrity_failure = hk_integrity};
    fs_options_init(&f->opts);
    f->opts.cache_size = 4u << 20;
    f->opts.ahead_files = ahead_files;
    f->opts.key_cache = key_cache;
    struct fs_mount_config conf = {f->ds, f->dek, &f->hooks, &f->opts, 0, "test", NULL, 0};
    assert_int_equal(fs_mount_create(&conf, &f->m), 0);
    f->who = (struct fs_caller){getpid(), getuid(), getgid()};
    /* Requests from here on are counted. */
    f->counter = count_store_new(f->store_dir);
    f->ds->store = &f->counter->pub;
    assert_int_equal(fs_core_lookup(f->m, 1, "d", &st), 0);
    dir_ino = st.st_ino;
    for (unsigned i = 0; i < NFILES; i++) {
        snprintf(path, sizeof path, "f%02u", i);
        assert_int_equal(fs_core_lookup(f->m, dir_ino, path, &st), 0);
        assert_int_not_equal(st.st_ino, 0);
        f->ino[i] = st.st_ino;
    }
    return f;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[256];

    fs_mount_destroy(f->m);
    f->ds->store = f->store;
    fmt_dataset_close(f->ds);
    fetch_store_destroy(&f->counter->pub);
    fetch_store_destroy(f->store);
    fmt_dek_free(f->dek);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    free(f);
    return 0;
}

static int setup_default(void **state)
{
    *state = make_fixture(FS_DEFAULT_AHEAD_FILES, FS_DEFAULT_KEY_CACHE, NFILES);
    return 0;
}

static int setup_off(void **state)
{
    *state = make_fixture(0, FS_DEFAULT_KEY_CACHE, NFILES);
    return 0;
}

static int setup_small_lru(void **state)
{
    *state = make_fixture(FS_DEFAULT_AHEAD_FILES, 4, NFILES);
    return 0;
}

static int setup_private_half(void **state)
{
    private_mode = 0600;
    *state = make_fixture(FS_DEFAULT_AHEAD_FILES, FS_DEFAULT_KEY_CACHE, NFILES / 2);
    return 0;
}

/* 0604: readable by others but not by the group, which a caller may belong to without it being
 * its primary group (the kernel then checks the group bits and refuses). */
static int setup_others_not_group(void **state)
{
    private_mode = 0604;
    *state = make_fixture(FS_DEFAULT_AHEAD_FILES, FS_DEFAULT_KEY_CACHE, NFILES / 2);
    private_mode = 0600;
    return 0;
}

static unsigned main_requests(struct fixture *f)
{
    return atomic_load(&f->counter->main_reads) + atomic_load(&f->counter->main_stats);
}

static unsigned reads_total(struct fixture *f)
{
    return atomic_load(&f->counter->main_reads) + atomic_load(&f->counter->worker_reads);
}

static uint64_t jobs_done(struct fixture *f)
{
    uint64_t pending, jobs;
    fs_prefetch_get_stats(f->m->pf, &pending, &jobs);
    return jobs;
}

/* Opens file i, reads it whole, checks every byte, closes it. Returns the open's result. */
static int open_read_close(struct fixture *f, unsigned i)
{
    struct fs_open_file *of;
    struct fs_read_reply r;
    size_t len = file_len(i), at = 0;
    int rc = fs_core_open(f->m, f->ino[i], O_RDONLY, &f->who, &of);

    if (rc != 0)
        return rc;
    assert_int_equal(fs_core_read(f->m, of, 0, 65536, &r), 0);
    assert_int_equal(r.bytes, len);
    for (int k = 0; k < r.iovcnt; k++) {
        const uint8_t *p = r.iov[k].iov_base;
        for (size_t j = 0; j < r.iov[k].iov_len; j++, at++)
            assert_int_equal(p[j], file_byte(i, at));
    }
    assert_int_equal(at, len);
    fs_core_read_done(f->m, &r);
    fs_core_release(f->m, of);
    return 0;
}

/* In order, waiting for the workers before each open: after the opens that show the order, no open or read
 * makes a store request of its own, and every file is fetched once. Under a contract-like hook set
 * (reads_every_open): every open and read is still asked. */
static void test_in_order_opens_make_no_requests(void **state)
{
    struct fixture *f = *state;
    unsigned before;

    for (unsigned i = 0; i < NFILES; i++) {
        fs_prefetch_wait_idle(f->m->pf);
        before = main_requests(f);
        assert_int_equal(open_read_close(f, i), 0);
        if (i >= FS_AHEAD_STEPS + 1)
            assert_int_equal(main_requests(f), before);
    }
    fs_prefetch_wait_idle(f->m->pf);
    print_message("in order: %u opens' own requests, %u reads by workers, %llu queued, %llu used\n",
                  main_requests(f), atomic_load(&f->counter->worker_reads),
                  (unsigned long long)atomic_load(&f->m->ahead_files_queued),
                  (unsigned long long)atomic_load(&f->m->ahead_files_used));
    assert_int_equal(atomic_load(&f->counter->main_reads), FS_AHEAD_STEPS + 1);
    assert_int_equal(reads_total(f), NFILES); /* nothing fetched twice, the large file never */
    assert_int_equal(atomic_load(&f->m->ahead_files_queued), NFILES - FS_AHEAD_STEPS - 1);
    assert_int_equal(atomic_load(&f->m->ahead_files_used), NFILES - FS_AHEAD_STEPS - 1);
    assert_int_equal(atomic_load(&f->log.opens), NFILES);
    assert_int_equal(atomic_load(&f->log.reads), NFILES);
    assert_int_equal(atomic_load(&f->m->integrity_failures), 0);
}

/* In order without waiting: the reader races the workers; still every file fetched exactly
 * once (an open waits for a fetch-ahead of its file under way, or takes a queued one over). */
static void test_in_order_racing_fetches_once(void **state)
{
    struct fixture *f = *state;

    atomic_store(&f->counter->delay_ms, 2);
    for (unsigned i = 0; i < NFILES; i++)
        assert_int_equal(open_read_close(f, i), 0);
    fs_prefetch_wait_idle(f->m->pf);
    print_message("racing: %u opens' own reads, %u by workers, %llu used\n",
                  atomic_load(&f->counter->main_reads), atomic_load(&f->counter->worker_reads),
                  (unsigned long long)atomic_load(&f->m->ahead_files_used));
    assert_int_equal(reads_total(f), NFILES);
    assert_true(atomic_load(&f->counter->worker_reads) > 0);
    assert_true(atomic_load(&f->m->ahead_files_used) > 0);
}

/* A shuffled reader: nothing is queued, one read request per file, all by the opens. */
static void test_shuffled_triggers_nothing(void **state)
{
    struct fixture *f = *state;
    unsigned order[NFILES], seed = 20261201;

    for (unsigned i = 0; i < NFILES; i++)
        order[i] = i;
    for (unsigned i = NFILES - 1; i > 0; i--) {
        unsigned j, t;
        seed = seed * 1103515245u + 12345u;
        j = (seed >> 8) % (i + 1);
        t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (unsigned i = 0; i < NFILES; i++)
        assert_int_equal(open_read_close(f, order[i]), 0);
    fs_prefetch_wait_idle(f->m->pf);
    assert_int_equal(atomic_load(&f->m->ahead_files_queued), 0);
    assert_int_equal(jobs_done(f), 0);
    assert_int_equal(atomic_load(&f->counter->worker_reads), 0);
    assert_int_equal(atomic_load(&f->counter->main_reads), NFILES);
}

/* A reader of every second file gets those fetched ahead, not the ones between. */
static void test_stride_two_fetches_what_is_read(void **state)
{
    struct fixture *f = *state;

    for (unsigned i = 0; i < NFILES; i += 2) {
        fs_prefetch_wait_idle(f->m->pf);
        assert_int_equal(open_read_close(f, i), 0);
    }
    fs_prefetch_wait_idle(f->m->pf);
    assert_int_equal(atomic_load(&f->counter->main_reads), FS_AHEAD_STEPS + 1);
    assert_int_equal(reads_total(f), NFILES / 2);
    assert_int_equal(atomic_load(&f->m->ahead_files_used), NFILES / 2 - FS_AHEAD_STEPS - 1);
}

/* Once the order breaks, nothing more is queued until the reader goes in order again. */
static void test_order_break_backs_off(void **state)
{
    struct fixture *f = *state;
    static const unsigned jumps[] = {30, 5, 22, 14, 37, 1, 26};
    uint64_t queued;

    for (unsigned i = 0; i < 8; i++) {
        fs_prefetch_wait_idle(f->m->pf);
        assert_int_equal(open_read_close(f, i), 0);
    }
    queued = atomic_load(&f->m->ahead_files_queued);
    assert_true(queued > 0);
    for (size_t i = 0; i < sizeof jumps / sizeof jumps[0]; i++)
        assert_int_equal(open_read_close(f, jumps[i]), 0);
    fs_prefetch_wait_idle(f->m->pf);
    assert_int_equal(atomic_load(&f->m->ahead_files_queued), queued);
}

/* fetch_ahead_files=0: in order, and still no job. */
static void test_off_queues_nothing(void **state)
{
    struct fixture *f = *state;

    for (unsigned i = 0; i < NFILES; i++)
        assert_int_equal(open_read_close(f, i), 0);
    fs_prefetch_wait_idle(f->m->pf);
    assert_int_equal(atomic_load(&f->m->ahead_files_queued), 0);
    assert_int_equal(jobs_done(f), 0);
    assert_int_equal(atomic_load(&f->counter->main_reads), NFILES);
}

static void tamper_header(struct fixture *f, unsigned i)
{
    uint8_t byte;
    int fd = open(f->blob_path[i], O_RDWR);

    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &byte, 1, FMT_BLOB_HEADER_LEN - 1), 1);
    byte ^= 0x01;
    assert_int_equal(pwrite(fd, &byte, 1, FMT_BLOB_HEADER_LEN - 1), 1);
    close(fd);
}

/* A tampered blob among those fetched ahead: reported when fetch-ahead finds it (counted, the
 * hook told), nothing of it kept, and its open still fails with EIO; the others read fine. */
static void test_tampered_blob_fetched_ahead(void **state)
{
    struct fixture *f = *state;
    const unsigned bad = 6;
    struct fs_node *n = fs_tree_node(&f->m->tree, f->ino[bad]);

    tamper_header(f, bad);
    for (unsigned i = 0; i < bad; i++) {
        fs_prefetch_wait_idle(f->m->pf);
        assert_int_equal(open_read_close(f, i), 0);
    }
    fs_prefetch_wait_idle(f->m->pf);
    /* Fetched ahead (it was queued after the third open) and found bad. */
    assert_int_equal(atomic_load(&f->m->integrity_failures), 1);
    assert_int_equal(atomic_load(&f->log.integrity), 1);
    assert_null(n->key);
    assert_int_equal(n->ahead, 0);
    assert_int_equal(open_read_close(f, bad), EIO);
    assert_int_equal(atomic_load(&f->m->integrity_failures), 2);
    assert_null(n->key);
    for (unsigned i = bad + 1; i < NFILES; i++) {
        fs_prefetch_wait_idle(f->m->pf);
        assert_int_equal(open_read_close(f, i), 0);
    }
    assert_int_equal(atomic_load(&f->m->ahead_files_used), NFILES - FS_AHEAD_STEPS - 2);
}

/* Opens the first files in order with a slow store, so fetch-ahead jobs are queued and running
 * when the test goes on. */
static void start_ahead_slowly(struct fixture *f)
{
    for (unsigned i = 0; i <= FS_AHEAD_STEPS; i++)
        assert_int_equal(open_read_close(f, i), 0);
    atomic_store(&f->counter->delay_ms, 100);
    assert_true(atomic_load(&f->m->ahead_files_queued) > 0);
}

/* A revoke while jobs are queued and running: no key and no cached block stays, later opens
 * are refused, nothing crashes. */
static void test_revoke_with_jobs_queued(void **state)
{
    struct fixture *f = *state;
    struct cache_stats cs;

    start_ahead_slowly(f);
    fs_mount_revoke(f->m, "test");
    fs_prefetch_wait_idle(f->m->pf);
    assert_int_equal(fs_keys_live(f->m), 0);
    for (uint32_t i = 0; i < f->m->tree.count; i++)
        assert_null(f->m->tree.nodes[i].key);
    cache_get_stats(f->m->cache, &cs);
    assert_int_equal(cs.slots_used, 0);
    assert_int_equal(open_read_close(f, FS_AHEAD_STEPS + 1), EACCES);
}

/* The mount ends with jobs queued and running (the teardown destroys it right away). */
static void test_teardown_with_jobs_queued(void **state)
{
    start_ahead_slowly(*state);
}

/* A key LRU of 4 with fetch_ahead_files=8: fetch-ahead goes no further than half the LRU, and
 * keys in memory never exceed the open files plus the LRU, also with files held open. */
static void test_key_bound_holds(void **state)
{
    struct fixture *f = *state;
    struct fs_open_file *held[3];

    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(fs_core_open(f->m, f->ino[NFILES - 1 - i], O_RDONLY, &f->who, &held[i]), 0);
    for (unsigned i = 0; i < NFILES - 3; i++) {
        assert_int_equal(open_read_close(f, i), 0);
        /* A close that finds key_lock held by a worker leaves its key over the bound until the
         * worker lets go of key_lock (fs/core_keys.c): at most that one, and only while a trim
         * is pending. */
        assert_true(fs_keys_live(f->m) <= 3 + 4 + (atomic_load(&f->m->key_trim_pending) ? 1 : 0));
        if (i % 5 == 0) {
            fs_prefetch_wait_idle(f->m->pf);
            assert_int_equal(atomic_load(&f->m->key_trim_pending), 0);
            assert_true(fs_keys_live(f->m) <= 3 + 4);
        }
    }
    fs_prefetch_wait_idle(f->m->pf);
    assert_true(fs_keys_live(f->m) <= 3 + 4);
    assert_true(atomic_load(&f->m->ahead_files_used) > 0);
    for (unsigned i = 0; i < 3; i++)
        fs_core_release(f->m, held[i]);
    assert_true(fs_keys_live(f->m) <= 4);
}

/* Files the caller could not open (mode 0600, another user) are not fetched ahead for it. */
static void test_unreadable_files_not_fetched(void **state)
{
    struct fixture *f = *state;

    f->who.uid = 4242;
    f->who.gid = 4242;
    for (unsigned i = 0; i < NFILES / 2; i++) {
        fs_prefetch_wait_idle(f->m->pf);
        assert_int_equal(open_read_close(f, i), 0);
    }
    fs_prefetch_wait_idle(f->m->pf);
    for (unsigned i = NFILES / 2; i < NFILES; i++) {
        struct fs_node *n = fs_tree_node(&f->m->tree, f->ino[i]);
        assert_null(n->key);
        assert_int_equal(n->ahead, 0);
    }
    assert_int_equal(reads_total(f), NFILES / 2);
    assert_true(atomic_load(&f->m->ahead_files_used) > 0);
}

static int setup_off_tiny_lru(void **state)
{
    *state = make_fixture(0, 2, NFILES);
    return 0;
}

/* A second pass over more files than key_cache: every key was evicted, but each blob was
 * checked once, so the keys come back from the manifest and the blocks from the cache, with no
 * store request (before, every open fetched its blob again). */
static void test_reopen_after_eviction_makes_no_request(void **state)
{
    struct fixture *f = *state;
    unsigned after_first;

    for (unsigned i = 0; i < NFILES; i++)
        assert_int_equal(open_read_close(f, i), 0);
    after_first = main_requests(f);
    assert_true(atomic_load(&f->m->key_evictions) >= NFILES - 2);
    for (unsigned i = 0; i < NFILES; i++)
        assert_int_equal(open_read_close(f, i), 0);
    assert_int_equal(main_requests(f), after_first);
    assert_true(fs_keys_live(f->m) <= 2);
}

/* A blob whose header does not match the manifest is still caught at its first open, and its
 * key is never derived from the manifest afterwards (it was never checked). */
static void test_unchecked_blob_still_fetched(void **state)
{
    struct fixture *f = *state;
    struct fs_node *n = fs_tree_node(&f->m->tree, f->ino[5]);

    tamper_header(f, 5);
    assert_int_equal(open_read_close(f, 5), EIO);
    assert_int_equal(n->blob_checked, 0);
    assert_int_equal(open_read_close(f, 5), EIO);
    assert_int_equal(atomic_load(&f->m->integrity_failures), 2);
}

/* The option and the stats. */
static void test_option_and_stats(void **state)
{
    struct fixture *f = *state;
    struct fs_options o;
    char stats[2048];

    fs_options_init(&o);
    assert_int_equal(o.ahead_files, 8);
    assert_int_equal(fs_options_parse(&o, "fetch_ahead_files=0"), 0);
    assert_int_equal(o.ahead_files, 0);
    assert_int_equal(fs_options_parse(&o, "fetch_ahead_files=64"), 0);
    assert_int_equal(o.ahead_files, 64);
    assert_int_equal(fs_options_parse(&o, "fetch_ahead_files=65"), EINVAL);
    assert_int_equal(fs_options_parse(&o, "fetch_ahead_files=many"), EINVAL);
    assert_int_equal(fs_options_parse(&o, "fetch_ahead_files"), EINVAL);
    assert_int_equal(o.ahead_files, 64);
    fs_options_free(&o);

    for (unsigned i = 0; i < 10; i++) {
        fs_prefetch_wait_idle(f->m->pf);
        assert_int_equal(open_read_close(f, i), 0);
    }
    assert_int_equal(fs_mount_stats_json(f->m, stats, sizeof stats), 0);
    assert_non_null(strstr(stats, "\"ahead_files_queued\":14,"));
    assert_non_null(strstr(stats, "\"ahead_files_used\":6,"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_in_order_opens_make_no_requests, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_in_order_racing_fetches_once, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_shuffled_triggers_nothing, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_stride_two_fetches_what_is_read, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_order_break_backs_off, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_off_queues_nothing, setup_off, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_blob_fetched_ahead, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_revoke_with_jobs_queued, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_teardown_with_jobs_queued, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_key_bound_holds, setup_small_lru, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_files_not_fetched, setup_private_half, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_files_not_fetched, setup_others_not_group, teardown),
        cmocka_unit_test_setup_teardown(test_option_and_stats, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_after_eviction_makes_no_request, setup_off_tiny_lru,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unchecked_blob_still_fetched, setup_off_tiny_lru, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
