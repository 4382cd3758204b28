/* The fs core without FUSE: a mount built from a small dataset, its files opened and read
 * through fs/core.h with the fault-injecting store underneath (store errors, short reads,
 * delays), a tampered block, a revoke that lands while a read is fetching, many readers of one
 * block, and the gate in front of every change of a no-egress overlay. No /dev/fuse needed. */
#include "tests/support/dataset.h"
#include "common/encoding.h"
#include "common/err.h"
#include "common/fileio.h"
#include "fetch/store.h"
#include "format/blob.h"
#include "format/crypto.h"
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
#include <unistd.h>

#include <cmocka.h>

#define FILE_LEN 300000
#define LOG2_BLK 12
#define BLK      (1u << LOG2_BLK)
#define DATA_INO 2 /* data.bin: manifest entry 0 (sorted), node 1 */
#define NREADERS 8

struct hook_log {
    atomic_int opens, reads, releases, integrity;
    atomic_int deny_reads;
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
    return atomic_load(&h->deny_reads) ? EACCES : 0;
}

static void hk_release(void *arg, uint64_t handle)
{
    struct hook_log *h = arg;
    (void)handle;
    atomic_fetch_add(&h->releases, 1);
}

static void hk_integrity(void *arg, const char *path, uint64_t block)
{
    struct hook_log *h = arg;
    (void)path, (void)block;
    atomic_fetch_add(&h->integrity, 1);
}

struct fixture {
    char dir[64], store_dir[96], blob_path[256];
    uint8_t plain[FILE_LEN];
    struct hook_log log;
    struct fs_access_hooks hooks;
    struct fs_options opts;
    struct fmt_dek *dek;
    struct fetch_store *store;  /* what the dataset was opened with */
    struct fetch_store *faulty; /* swapped in under the dataset by a test; NULL otherwise */
    struct fmt_dataset *ds;
    struct fs_mount *m;
    struct fs_caller who;
};

static void add_file(struct fixture *f, struct fmt_manifest *man, const char *path, const uint8_t *data,
                     size_t len)
{
    int is_data = strcmp(path, "data.bin") == 0;
    assert_int_equal(tsup_dataset_add_file(f->store_dir, f->dek, man, path, data, len, LOG2_BLK,
                                           is_data ? f->blob_path : NULL, is_data ? sizeof f->blob_path : 0),
                     0);
}

static struct fixture *make_fixture(enum fs_access_mode mode)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct fmt_manifest man = {0};
    char path[160], blobs[128];

    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ccrfs-test-core-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->store_dir, sizeof f->store_dir, "%s/store", f->dir);
    snprintf(blobs, sizeof blobs, "%s/blobs", f->store_dir);
    assert_int_equal(mkdir(f->store_dir, 0755), 0);
    assert_int_equal(mkdir(blobs, 0755), 0);
    snprintf(path, sizeof path, "%s/key", f->dir);
    assert_int_equal(fmt_dek_generate_file(path), 0);
    assert_int_equal(fmt_dek_load_file(path, &f->dek), 0);
    for (size_t i = 0; i < FILE_LEN; i++)
        f->plain[i] = (uint8_t)(i * 31 + i / 4096);
    add_file(f, &man, "data.bin", f->plain, FILE_LEN);
    add_file(f, &man, "small.txt", (const uint8_t *)"hello\n", 6);
    assert_int_equal(tsup_dataset_seal(f->store_dir, f->dek, &man, NULL), 0);
    fmt_manifest_free(&man);

    assert_int_equal(fetch_file_create(f->store_dir, &f->store), 0);
    assert_int_equal(fmt_dataset_open(f->store, f->dek, NULL, &f->ds), 0);
    f->hooks = (struct fs_access_hooks){.arg = &f->log,
                                        .on_open = hk_open,
                                        .on_read = hk_read,
                                        .on_release = hk_release,
                                        .on_integrity_failure = hk_integrity};
    fs_options_init(&f->opts);
    f->opts.mode = mode;
    f->opts.cache_size = 1u << 20;
    f->opts.overlay_dir = f->dir;
    struct fs_mount_config conf = {f->ds, f->dek, &f->hooks, &f->opts, 0, "test", NULL, 0};
    assert_int_equal(fs_mount_create(&conf, &f->m), 0);
    f->who = (struct fs_caller){getpid(), getuid(), getgid()};
    return f;
}

static int setup_ro(void **state)
{
    *state = make_fixture(FS_MODE_READ_ONLY);
    return 0;
}

static int setup_rw(void **state)
{
    *state = make_fixture(FS_MODE_NO_EGRESS);
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[256];

    fs_mount_destroy(f->m);
    f->ds->store = f->store;
    fmt_dataset_close(f->ds);
    fetch_store_destroy(f->faulty);
    fetch_store_destroy(f->store);
    fmt_dek_free(f->dek);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    free(f);
    return 0;
}

/* Puts a fault-injecting store under the dataset (the file store stays the fixture's). */
static void use_faults(struct fixture *f, const struct fetch_faulty_conf *conf)
{
    struct fetch_store *inner;

    fetch_store_destroy(f->faulty);
    assert_int_equal(fetch_file_create(f->store_dir, &inner), 0);
    assert_int_equal(fetch_faulty_create(conf, inner, &f->faulty), 0);
    f->ds->store = f->faulty;
}

static uint64_t store_requests(struct fixture *f)
{
    struct fetch_stats st;
    memset(&st, 0, sizeof st);
    fetch_get_stats(f->ds->store, &st);
    return st.requests;
}

/* Reads through the core into out; returns the core's result and the bytes in *got. */
static int read_into(struct fixture *f, struct fs_open_file *of, uint64_t off, size_t len, uint8_t *out,
                     size_t *got)
{
    struct fs_read_reply r;
    int rc = fs_core_read(f->m, of, off, len, &r);

    *got = 0;
    if (rc != 0) {
        assert_null(r.pins); /* nothing to send, nothing left pinned */
        assert_int_equal(r.iovcnt, 0);
        return rc;
    }
    for (int i = 0; i < r.iovcnt; i++) {
        memcpy(out + *got, r.iov[i].iov_base, r.iov[i].iov_len);
        *got += r.iov[i].iov_len;
    }
    assert_int_equal(*got, r.bytes);
    fs_core_read_done(f->m, &r);
    return 0;
}

static struct fs_open_file *open_data(struct fixture *f)
{
    struct fs_open_file *of = NULL;
    assert_int_equal(fs_core_open(f->m, DATA_INO, O_RDONLY, &f->who, &of), 0);
    assert_non_null(of);
    return of;
}

static void test_read_ranges(void **state)
{
    struct fixture *f = *state;
    struct fs_open_file *of = open_data(f);
    static uint8_t buf[FILE_LEN];
    size_t got;

    /* Inside one block, across blocks, again from the cache, short at the end, past it. */
    assert_int_equal(read_into(f, of, 100, 200, buf, &got), 0);
    assert_int_equal(got, 200);
    assert_memory_equal(buf, f->plain + 100, 200);
    assert_int_equal(read_into(f, of, BLK - 10, 3 * BLK, buf, &got), 0);
    assert_int_equal(got, 3 * BLK);
    assert_memory_equal(buf, f->plain + BLK - 10, 3 * BLK);
    assert_int_equal(read_into(f, of, BLK - 10, 3 * BLK, buf, &got), 0);
    assert_memory_equal(buf, f->plain + BLK - 10, 3 * BLK);
    assert_int_equal(read_into(f, of, FILE_LEN - 1000, 65536, buf, &got), 0);
    assert_int_equal(got, 1000);
    assert_memory_equal(buf, f->plain + FILE_LEN - 1000, 1000);
    assert_int_equal(read_into(f, of, FILE_LEN + 5, 4096, buf, &got), 0);
    assert_int_equal(got, 0);
    assert_int_equal(read_into(f, of, 0, FILE_LEN, buf, &got), 0);
    assert_int_equal(got, FILE_LEN);
    assert_memory_equal(buf, f->plain, FILE_LEN);
    fs_core_release(f->m, of);
    assert_int_equal(atomic_load(&f->log.opens), 1);
    assert_int_equal(atomic_load(&f->log.releases), 1);
}

static void test_store_error_then_retry(void **state)
{
    struct fixture *f = *state;
    struct fs_open_file *of = open_data(f);
    struct fetch_faulty_conf conf = {.error_permille = 1000, .seed = 1};
    static uint8_t buf[3 * BLK];
    size_t got;

    use_faults(f, &conf);
    assert_int_equal(read_into(f, of, 5 * BLK, 2 * BLK, buf, &got), EIO);
    assert_true(atomic_load(&f->m->store_errors) >= 1);
    /* The failed blocks were dropped, not cached: the next read fetches them again. */
    conf.error_permille = 0;
    use_faults(f, &conf);
    assert_int_equal(read_into(f, of, 5 * BLK, 2 * BLK, buf, &got), 0);
    assert_int_equal(got, 2 * BLK);
    assert_memory_equal(buf, f->plain + 5 * BLK, 2 * BLK);
    fs_core_release(f->m, of);
}

static void test_store_short_read(void **state)
{
    struct fixture *f = *state;
    struct fs_open_file *of = open_data(f);
    struct fetch_faulty_conf conf = {.short_read_permille = 1000, .seed = 7};
    static uint8_t buf[4 * BLK];
    size_t got;

    use_faults(f, &conf);
    /* A short read is a store error, never bytes to decrypt (and no integrity report). */
    assert_int_equal(read_into(f, of, 10 * BLK, 4 * BLK, buf, &got), EIO);
    assert_int_equal(atomic_load(&f->log.integrity), 0);
    fs_core_release(f->m, of);
}

static void test_store_delay(void **state)
{
    struct fixture *f = *state;
    struct fs_open_file *of = open_data(f);
    struct fetch_faulty_conf conf = {.delay_ms = 50, .seed = 3};
    static uint8_t buf[8 * BLK];
    size_t got;

    use_faults(f, &conf);
    assert_int_equal(read_into(f, of, 20 * BLK + 7, 8 * BLK, buf, &got), 0);
    assert_int_equal(got, 8 * BLK);
    assert_memory_equal(buf, f->plain + 20 * BLK + 7, 8 * BLK);
    fs_core_release(f->m, of);
}

static void test_tampered_block(void **state)
{
    struct fixture *f = *state;
    struct fs_open_file *of = open_data(f);
    static uint8_t buf[4 * BLK];
    uint64_t at = fmt_blob_block_offset(&of->node->key->header, 3) + 17;
    size_t got;
    uint8_t byte;
    int fd = open(f->blob_path, O_RDWR);

    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &byte, 1, (off_t)at), 1);
    byte ^= 0x01;
    assert_int_equal(pwrite(fd, &byte, 1, (off_t)at), 1);
    close(fd);
    /* Blocks 2..5 requested: block 3 fails, so nothing of the read is returned. */
    assert_int_equal(read_into(f, of, 2 * BLK, 4 * BLK, buf, &got), EBADMSG);
    assert_int_equal(got, 0);
    assert_int_equal(atomic_load(&f->log.integrity), 1);
    assert_int_equal(atomic_load(&f->m->integrity_failures), 1);
    /* Again: still refused (the bad block was not cached). */
    assert_int_equal(read_into(f, of, 3 * BLK, 10, buf, &got), EBADMSG);
    /* Other blocks read fine. */
    assert_int_equal(read_into(f, of, 4 * BLK, BLK, buf, &got), 0);
    assert_memory_equal(buf, f->plain + 4 * BLK, BLK);
    fs_core_release(f->m, of);
}

/* A small file's blob comes whole with its open: the read after it needs no store request. */
static void test_small_file_one_request(void **state)
{
    struct fixture *f = *state;
    struct fetch_faulty_conf conf = {.seed = 2};
    const uint64_t small_ino = 3; /* small.txt: manifest entry 1 */
    struct fs_open_file *of = NULL;
    uint64_t opened;
    uint8_t buf[16];
    size_t got;

    use_faults(f, &conf);
    assert_int_equal(fs_core_open(f->m, small_ino, O_RDONLY, &f->who, &of), 0);
    opened = store_requests(f);
    assert_true(opened >= 1);
    assert_int_equal(read_into(f, of, 0, sizeof buf, buf, &got), 0);
    assert_int_equal(got, 6);
    assert_memory_equal(buf, "hello\n", 6);
    assert_int_equal(store_requests(f), opened);
    fs_core_release(f->m, of);
}

/* A tampered block in a small blob fetched whole is refused as any other: never served. */
static void test_small_file_tampered(void **state)
{
    struct fixture *f = *state;
    const uint64_t small_ino = 3;
    struct fs_open_file *of = NULL;
    char path[PATH_MAX];
    uint8_t buf[16], byte;
    size_t got;
    int fd;

    snprintf(path, sizeof path, "%s/blobs/%s", f->store_dir, f->m->tree.nodes[small_ino - 1].e->blob);
    fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &byte, 1, FMT_BLOB_HEADER_LEN + 2), 1);
    byte ^= 0x40;
    assert_int_equal(pwrite(fd, &byte, 1, FMT_BLOB_HEADER_LEN + 2), 1);
    close(fd);
    assert_int_equal(fs_core_open(f->m, small_ino, O_RDONLY, &f->who, &of), 0);
    assert_int_equal(read_into(f, of, 0, sizeof buf, buf, &got), EBADMSG);
    assert_int_equal(got, 0);
    assert_true(atomic_load(&f->m->integrity_failures) >= 1);
    fs_core_release(f->m, of);
}

struct reader {
    struct fixture *f;
    struct fs_open_file *of;
    uint64_t off;
    size_t len;
    uint8_t buf[2 * BLK];
    int rc;
    size_t got;
};

static void *reader_thread(void *arg)
{
    struct reader *r = arg;
    struct fs_read_reply rep;

    /* No cmocka asserts off the main thread: the result is checked there. */
    r->got = 0;
    r->rc = fs_core_read(r->f->m, r->of, r->off, r->len, &rep);
    if (r->rc == 0) {
        for (int i = 0; i < rep.iovcnt; i++) {
            memcpy(r->buf + r->got, rep.iov[i].iov_base, rep.iov[i].iov_len);
            r->got += rep.iov[i].iov_len;
        }
        fs_core_read_done(r->f->m, &rep);
    }
    return NULL;
}

static void test_revoke_mid_read(void **state)
{
    struct fixture *f = *state;
    struct fetch_faulty_conf conf = {.delay_ms = 300, .seed = 5};
    struct reader r = {.f = f, .off = 30 * BLK, .len = 2 * BLK};
    struct cache_stats cs;
    struct fs_open_file *of2;
    pthread_t tid;
    uint64_t before;
    static const uint8_t zero[FMT_DEK_LEN];
    uint64_t denials;
    size_t got;

    r.of = open_data(f);
    /* Something in the cache already, to see the wipe. */
    assert_int_equal(read_into(f, r.of, 0, 2 * BLK, r.buf, &got), 0);
    use_faults(f, &conf);
    before = store_requests(f);
    assert_int_equal(pthread_create(&tid, NULL, reader_thread, &r), 0);
    /* Wait until the reader's fetch is under way (inside the store's delay). */
    for (int i = 0; i < 500 && store_requests(f) == before; i++)
        usleep(1000);
    assert_true(store_requests(f) > before);
    denials = atomic_load(&f->m->denials);
    fs_mount_revoke(f->m, "test");
    pthread_join(tid, NULL);
    assert_int_equal(r.rc, EACCES);
    assert_int_equal(r.got, 0);
    /* Cache and keys wiped. */
    cache_get_stats(f->m->cache, &cs);
    assert_int_equal(cs.slots_used, 0);
    for (uint32_t i = 0; i < f->m->tree.count; i++)
        assert_null(f->m->tree.nodes[i].key);
    assert_memory_equal(f->dek->bytes, zero, FMT_DEK_LEN);
    /* Every later read and open refused, and counted. */
    assert_int_equal(read_into(f, r.of, 0, 10, r.buf, &got), EACCES);
    assert_int_equal(fs_core_open(f->m, DATA_INO, O_RDONLY, &f->who, &of2), EACCES);
    assert_true(atomic_load(&f->m->denials) >= denials + 2);
    fs_core_release(f->m, r.of);
}

static void test_concurrent_readers_one_fetch(void **state)
{
    struct fixture *f = *state;
    struct fetch_faulty_conf conf = {.delay_ms = 200, .seed = 9};
    static struct reader rd[NREADERS];
    pthread_t tid[NREADERS];
    uint64_t before;

    for (int i = 0; i < NREADERS; i++) {
        rd[i] =
            (struct reader){.f = f, .of = open_data(f), .off = 40 * BLK + 100 * (uint64_t)i, .len = BLK / 2};
    }
    use_faults(f, &conf);
    before = store_requests(f);
    for (int i = 0; i < NREADERS; i++)
        assert_int_equal(pthread_create(&tid[i], NULL, reader_thread, &rd[i]), 0);
    for (int i = 0; i < NREADERS; i++)
        pthread_join(tid[i], NULL);
    for (int i = 0; i < NREADERS; i++) {
        assert_int_equal(rd[i].rc, 0);
        assert_int_equal(rd[i].got, BLK / 2);
        assert_memory_equal(rd[i].buf, f->plain + rd[i].off, BLK / 2);
        fs_core_release(f->m, rd[i].of);
    }
    /* Block 40 was fetched once, whoever got there first; the others waited for it. */
    assert_int_equal(store_requests(f) - before, 1);
}

static void test_read_hook_refusal_counted(void **state)
{
    struct fixture *f = *state;
    struct fs_open_file *of = open_data(f);
    uint8_t buf[64];
    size_t got;

    atomic_store(&f->log.deny_reads, 1);
    assert_int_equal(read_into(f, of, 0, 64, buf, &got), EACCES);
    assert_int_equal(atomic_load(&f->m->denials), 1);
    atomic_store(&f->log.deny_reads, 0);
    assert_int_equal(read_into(f, of, 0, 64, buf, &got), 0);
    assert_memory_equal(buf, f->plain, 64);
    fs_core_release(f->m, of);
}

/* A no-egress overlay: a folder and a file made, then access revoked. */
static void prepare_overlay(struct fixture *f, struct stat *dir, struct stat *file)
{
    struct fs_open_file *of;

    assert_int_equal(fs_core_ovl_mkdir(f->m, 1, "out", 0755, &f->who, dir), 0);
    assert_int_equal(fs_core_ovl_create(f->m, dir->st_ino, "a.txt", 0644, O_WRONLY, &f->who, file, &of), 0);
    assert_int_equal(fs_core_write(f->m, of, "abc", 3, 0), 0);
    fs_core_release(f->m, of);
    fs_mount_revoke(f->m, "test");
}

static void expect_refused(struct fixture *f, int rc, uint64_t *denials)
{
    assert_int_equal(rc, EACCES);
    assert_int_equal(atomic_load(&f->m->denials), *denials + 1);
    *denials += 1;
}

struct plus_seen {
    int n;
    off_t data_size, small_size;
    int full_after; /* say "full" after this many entries */
};

static int plus_emit(void *arg, const char *name, const struct stat *st, uint64_t next)
{
    struct plus_seen *p = arg;
    (void)next;
    if (p->full_after > 0 && p->n == p->full_after)
        return 1;
    p->n++;
    if (strcmp(name, "data.bin") == 0)
        p->data_size = st->st_size;
    if (strcmp(name, "small.txt") == 0)
        p->small_size = st->st_size;
    return 0;
}

/* readdirplus of a no-egress overlay gives every entry's current attributes (so the kernel
 * fills its caches without a lookup per name); a name removed after opendir goes without, and
 * an entry the buffer had no room for is not counted as a lookup (the node goes at unlink). */
static void test_overlay_readdirplus_attributes(void **state)
{
    struct fixture *f = *state;
    struct fs_ovl_dir *d;
    struct plus_seen p = {0};
    struct stat st;

    assert_int_equal(fs_core_ovl_opendir(f->m, 1, &d), 0);
    assert_int_equal(fs_core_ovl_readdirplus(f->m, d, 0, plus_emit, &p), 0);
    assert_int_equal(p.n, 4);
    assert_int_equal(p.data_size, FILE_LEN);
    assert_int_equal(p.small_size, 6);
    fs_core_ovl_releasedir(d);

    /* Removed after the snapshot: listed without attributes, nothing counted. */
    assert_int_equal(fs_core_ovl_opendir(f->m, 1, &d), 0);
    assert_int_equal(fs_core_ovl_unlink(f->m, 1, "small.txt"), 0);
    memset(&p, 0, sizeof p);
    assert_int_equal(fs_core_ovl_readdirplus(f->m, d, 0, plus_emit, &p), 0);
    assert_int_equal(p.n, 4);
    assert_int_equal(p.small_size, 0);
    assert_int_equal(p.data_size, FILE_LEN);
    /* The buffer full at data.bin (the third entry): no lookup of it is left counted. */
    memset(&p, 0, sizeof p);
    p.full_after = 2;
    assert_int_equal(fs_core_ovl_readdirplus(f->m, d, 0, plus_emit, &p), 0);
    assert_int_equal(p.n, 2);
    fs_core_ovl_releasedir(d);
    assert_int_equal(fs_core_ovl_lookup(f->m, 1, "data.bin", &st), 0);
    assert_int_equal(st.st_size, FILE_LEN);
}

static void test_overlay_unlink_after_revoke(void **state)
{
    struct fixture *f = *state;
    struct stat dir, file, st;
    uint64_t denials;

    prepare_overlay(f, &dir, &file);
    denials = atomic_load(&f->m->denials);
    expect_refused(f, fs_core_ovl_unlink(f->m, dir.st_ino, "a.txt"), &denials);
    expect_refused(f, fs_core_ovl_unlink(f->m, 1, "data.bin"), &denials);
    assert_int_equal(fs_core_ovl_lookup(f->m, dir.st_ino, "a.txt", &st), 0); /* still there */
}

static void test_overlay_rename_after_revoke(void **state)
{
    struct fixture *f = *state;
    struct stat dir, file, st;
    uint64_t denials;

    prepare_overlay(f, &dir, &file);
    denials = atomic_load(&f->m->denials);
    expect_refused(f, fs_core_ovl_rename(f->m, dir.st_ino, "a.txt", 1, "b.txt", 0), &denials);
    expect_refused(f, fs_core_ovl_rename(f->m, 1, "data.bin", 1, "moved.bin", 0), &denials);
    assert_int_equal(fs_core_ovl_lookup(f->m, 1, "b.txt", &st), ENOENT);
}

static void test_overlay_setattr_after_revoke(void **state)
{
    struct fixture *f = *state;
    struct stat dir, file, attr, st;
    uint64_t denials;

    prepare_overlay(f, &dir, &file);
    denials = atomic_load(&f->m->denials);
    memset(&attr, 0, sizeof attr);
    attr.st_size = 0;
    attr.st_mode = 0600;
    expect_refused(f, fs_core_ovl_setattr(f->m, file.st_ino, &attr, FS_OVL_SET_SIZE, &st), &denials);
    expect_refused(f, fs_core_ovl_setattr(f->m, DATA_INO, &attr, FS_OVL_SET_MODE, &st), &denials);
    assert_int_equal(fs_core_ovl_getattr(f->m, file.st_ino, &st), 0);
    assert_int_equal(st.st_size, 3);
}

static void test_overlay_other_changes_after_revoke(void **state)
{
    struct fixture *f = *state;
    struct stat dir, file, st;
    struct fs_open_file *of;
    uint64_t denials;

    prepare_overlay(f, &dir, &file);
    denials = atomic_load(&f->m->denials);
    /* mkdir and mknod used to refuse without counting. */
    expect_refused(f, fs_core_ovl_mkdir(f->m, 1, "new", 0755, &f->who, &st), &denials);
    expect_refused(f, fs_core_ovl_mknod(f->m, 1, "n", S_IFREG | 0644, &f->who, &st), &denials);
    expect_refused(f, fs_core_ovl_rmdir(f->m, 1, "out"), &denials);
    expect_refused(f, fs_core_ovl_create(f->m, 1, "c", 0644, O_WRONLY, &f->who, &st, &of), &denials);
    expect_refused(f, fs_core_ovl_open(f->m, file.st_ino, O_RDONLY, &f->who, &of), &denials);
}

static void test_overlay_write_and_read_after_revoke(void **state)
{
    struct fixture *f = *state;
    struct fs_open_file *of;
    struct stat st;
    uint8_t buf[8];
    size_t got;
    uint64_t denials;

    assert_int_equal(fs_core_ovl_create(f->m, 1, "w.txt", 0644, O_RDWR, &f->who, &st, &of), 0);
    assert_int_equal(fs_core_write(f->m, of, "abc", 3, 0), 0);
    assert_int_equal(read_into(f, of, 0, sizeof buf, buf, &got), 0);
    assert_int_equal(got, 3);
    assert_memory_equal(buf, "abc", 3);
    fs_mount_revoke(f->m, "test");
    denials = atomic_load(&f->m->denials);
    expect_refused(f, fs_core_write(f->m, of, "def", 3, 3), &denials);
    expect_refused(f, read_into(f, of, 0, sizeof buf, buf, &got), &denials);
    fs_core_release(f->m, of);
    assert_int_equal(atomic_load(&f->log.releases), 1);
}

/* user.ccrfs.sha256 confirms a guessed file: reading it passes the gate and is recorded as an
 * open; a mount told to hide it (a contract that does not offer it) neither shows nor lists it;
 * after a revocation it is refused like an open. */
static void test_plaintext_hash_gated(void **state)
{
    struct fixture *f = *state;
    char value[128], list[256], hex[2 * FMT_SHA256_LEN + 1];
    uint8_t digest[FMT_SHA256_LEN];
    size_t len = 0;
    const uint64_t small_ino = 3; /* small.txt: manifest entry 1 */

    fmt_sha256(f->plain, FILE_LEN, digest);
    ccr_hex_encode(digest, sizeof digest, hex);
    assert_int_equal(
        fs_core_getxattr(f->m, DATA_INO, "user.ccrfs.sha256", &f->who, value, sizeof value, &len), 0);
    assert_int_equal(len, 2 * FMT_SHA256_LEN);
    assert_memory_equal(value, hex, len);
    assert_int_equal(atomic_load(&f->log.opens), 1);
    assert_int_equal(atomic_load(&f->log.releases), 1);
    /* the size query is recorded too: it is the same question */
    assert_int_equal(fs_core_getxattr(f->m, small_ino, "user.ccrfs.sha256", &f->who, NULL, 0, &len), 0);
    assert_int_equal(atomic_load(&f->log.opens), 2);

    {
        struct fs_mount_config conf = {f->ds, f->dek, &f->hooks, &f->opts, 0, "test", NULL, 1};
        struct fs_mount *hidden;
        assert_int_equal(fs_mount_create(&conf, &hidden), 0);
        assert_int_equal(
            fs_core_getxattr(hidden, DATA_INO, "user.ccrfs.sha256", &f->who, value, sizeof value, &len),
            ENODATA);
        assert_int_equal(fs_core_listxattr(hidden, DATA_INO, list, sizeof list, &len), 0);
        assert_null(memmem(list, len, "user.ccrfs.sha256", 17));
        assert_non_null(memmem(list, len, "user.ccrfs.blob", 15));
        assert_int_equal(atomic_load(&f->log.opens), 2); /* nothing shown, nothing recorded */
        fs_mount_destroy(hidden);
    }

    fs_mount_revoke(f->m, "test");
    assert_int_equal(
        fs_core_getxattr(f->m, DATA_INO, "user.ccrfs.sha256", &f->who, value, sizeof value, &len), EACCES);
    assert_int_equal(atomic_load(&f->log.opens), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read_ranges, setup_ro, teardown),
        cmocka_unit_test_setup_teardown(test_store_error_then_retry, setup_ro, teardown),
        cmocka_unit_test_setup_teardown(test_store_short_read, setup_ro, teardown),
        cmocka_unit_test_setup_teardown(test_store_delay, setup_ro, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_block, setup_ro, teardown),
        cmocka_unit_test_setup_teardown(test_small_file_one_request, setup_ro, teardown),
        cmocka_unit_test_setup_teardown(test_small_file_tampered, setup_ro, teardown),
        cmocka_unit_test_setup_teardown(test_revoke_mid_read, setup_ro, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_readers_one_fetch, setup_ro, teardown),
        cmocka_unit_test_setup_teardown(test_read_hook_refusal_counted, setup_ro, teardown),
        cmocka_unit_test_setup_teardown(test_plaintext_hash_gated, setup_ro, teardown),
        cmocka_unit_test_setup_teardown(test_overlay_readdirplus_attributes, setup_rw, teardown),
        cmocka_unit_test_setup_teardown(test_overlay_unlink_after_revoke, setup_rw, teardown),
        cmocka_unit_test_setup_teardown(test_overlay_rename_after_revoke, setup_rw, teardown),
        cmocka_unit_test_setup_teardown(test_overlay_setattr_after_revoke, setup_rw, teardown),
        cmocka_unit_test_setup_teardown(test_overlay_other_changes_after_revoke, setup_rw, teardown),
        cmocka_unit_test_setup_teardown(test_overlay_write_and_read_after_revoke, setup_rw, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
