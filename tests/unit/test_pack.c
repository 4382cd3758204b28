/* The parallel pack (format/pack.h): many small files come back byte for byte, the manifest
 * is the same whatever the number of threads, and a file that vanishes or changes mid-pack
 * fails the pack with its name and leaves no manifest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "common/fileio.h"
#include "fetch/store.h"
#include "format/blob.h"
#include "format/dataset.h"
#include "format/dek.h"
#include "format/pack.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define TREE_DIRS  10
#define TREE_FILES 30 /* per folder */

struct fixture {
    char root[64];
    char src[96];
    struct fmt_dek *dek;
};

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)((i * 131u + seed * 7u + (i >> 8)) ^ seed);
}

static size_t file_size(unsigned d, unsigned f)
{
    /* Mostly 0-600 bytes; a few across block and small-path boundaries. */
    if (d == 0 && f == 0)
        return 0;
    if (d == 1 && f == 1)
        return FMT_BLOB_SMALL_MAX;
    if (d == 2 && f == 2)
        return FMT_BLOB_SMALL_MAX + 4097; /* the streaming path */
    if (d == 3 && f == 3)
        return 65537;
    return (size_t)((d * 977u + f * 131u) % 601u);
}

static void write_tree(const char *src)
{
    uint8_t *buf = malloc(FMT_BLOB_SMALL_MAX + 8192);
    char path[256];

    assert_non_null(buf);
    assert_int_equal(mkdir(src, 0755), 0);
    for (unsigned d = 0; d < TREE_DIRS; d++) {
        snprintf(path, sizeof path, "%s/d%02u", src, d);
        assert_int_equal(mkdir(path, 0750), 0);
        for (unsigned f = 0; f < TREE_FILES; f++) {
            size_t n = file_size(d, f);
            snprintf(path, sizeof path, "%s/d%02u/f%03u", src, d, f);
            int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0640); /* no fsync: a test tree */
            fill(buf, n, d * 1000 + f);
            assert_true(fd >= 0);
            assert_int_equal(ccr_write_all(fd, buf, n), 0);
            assert_int_equal(close(fd), 0);
        }
    }
    free(buf);
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    uint8_t key[32];

    if (fx == NULL)
        return -1;
    snprintf(fx->root, sizeof fx->root, "/tmp/ccrfs-test-pack-XXXXXX");
    if (mkdtemp(fx->root) == NULL)
        return -1;
    snprintf(fx->src, sizeof fx->src, "%s/src", fx->root);
    memset(key, 0x5a, sizeof key);
    if (fmt_dek_from_bytes(key, sizeof key, &fx->dek) != 0)
        return -1;
    write_tree(fx->src);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    char cmd[128];

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->root);
    if (system(cmd) != 0)
        return -1;
    fmt_dek_free(fx->dek);
    free(fx);
    return 0;
}

static char *out_dir(const struct fixture *fx, const char *name)
{
    char *p = ccr_path_join(fx->root, name);
    assert_non_null(p);
    assert_int_equal(mkdir(p, 0755), 0);
    return p;
}

static int has_manifest(const char *dir)
{
    char *p = ccr_path_join(dir, FMT_MANIFEST_NAME);
    struct stat st;
    int there = stat(p, &st) == 0;
    free(p);
    return there;
}

static int pack(const struct fixture *fx, const struct fmt_pack_list *l, const char *out, unsigned jobs,
                struct fmt_manifest *m)
{
    struct fmt_pack_options opt = {.log2_block = 12, .jobs = jobs};
    uint8_t *obj = NULL;
    size_t len = 0;
    int rc = fmt_pack_run(fx->dek, fx->src, l, out, &opt, m, &obj, &len);
    if (rc == 0)
        assert_true(len > 0);
    else
        assert_null(obj);
    free(obj);
    return rc;
}

struct collect {
    uint8_t *buf;
    size_t len;
};

static int collect_cb(void *arg, const uint8_t *plain, size_t len, uint64_t offset)
{
    struct collect *c = arg;
    assert_int_equal(offset, c->len);
    memcpy(c->buf + c->len, plain, len);
    c->len += len;
    return 0;
}

static void test_pack_many_small_files_roundtrip(void **state)
{
    struct fixture *fx = *state;
    struct fmt_pack_list l;
    struct fmt_manifest m;
    struct fetch_store *store = NULL;
    struct fmt_dataset *ds = NULL;
    char *out = out_dir(fx, "out");
    uint8_t *want = malloc(FMT_BLOB_SMALL_MAX + 8192);
    struct collect got = {malloc(FMT_BLOB_SMALL_MAX + 8192), 0};
    size_t files = 0;

    assert_int_equal(fmt_pack_scan(fx->src, &l), 0);
    assert_int_equal(l.items.len, TREE_DIRS * (TREE_FILES + 1));
    assert_int_equal(pack(fx, &l, out, 4, &m), 0);
    assert_int_equal(m.count, TREE_DIRS * (TREE_FILES + 1));
    assert_true(has_manifest(out));

    assert_int_equal(fetch_file_create(out, &store), 0);
    assert_int_equal(fmt_dataset_open(store, fx->dek, NULL, &ds), 0);
    assert_int_equal(ds->manifest.count, m.count);
    for (size_t i = 0; i < ds->manifest.count; i++) {
        const struct fmt_manifest_entry *e = &ds->manifest.entries[i];
        unsigned d, f;
        if (e->type == FMT_ENTRY_DIR) {
            assert_int_equal(e->mode, 0750);
            continue;
        }
        assert_int_equal(sscanf(e->path, "d%02u/f%03u", &d, &f), 2);
        assert_int_equal(e->size, file_size(d, f));
        assert_int_equal(e->mode, 0640);
        fill(want, e->size, d * 1000 + f);
        got.len = 0;
        assert_int_equal(fmt_dataset_stream_file(ds, e, collect_cb, &got), 0);
        assert_int_equal(got.len, e->size);
        if (e->size > 0)
            assert_memory_equal(got.buf, want, e->size);
        files++;
    }
    assert_int_equal(files, TREE_DIRS * TREE_FILES);
    fmt_dataset_close(ds);
    fetch_store_destroy(store);
    fmt_manifest_free(&m);
    fmt_pack_list_free(&l);
    free(want);
    free(got.buf);
    free(out);
}

/* Blob names and salts are random, so compare everything else, in order. */
static void test_pack_manifest_order_independent_of_threads(void **state)
{
    struct fixture *fx = *state;
    static const unsigned jobs[] = {1, 3, 16};
    struct fmt_manifest ms[3];
    struct fmt_pack_list l;

    assert_int_equal(fmt_pack_scan(fx->src, &l), 0);
    for (size_t j = 0; j < 3; j++) {
        char name[16];
        snprintf(name, sizeof name, "out%zu", j);
        char *out = out_dir(fx, name);
        assert_int_equal(pack(fx, &l, out, jobs[j], &ms[j]), 0);
        assert_int_equal(fmt_manifest_validate(&ms[j]), 0);
        free(out);
    }
    for (size_t j = 1; j < 3; j++) {
        assert_int_equal(ms[j].count, ms[0].count);
        for (size_t i = 0; i < ms[0].count; i++) {
            const struct fmt_manifest_entry *a = &ms[0].entries[i], *b = &ms[j].entries[i];
            assert_string_equal(a->path, b->path);
            assert_int_equal(a->type, b->type);
            assert_int_equal(a->size, b->size);
            assert_int_equal(a->mode, b->mode);
            assert_int_equal(a->mtime_sec, b->mtime_sec);
            assert_int_equal(a->mtime_nsec, b->mtime_nsec);
            assert_memory_equal(a->sha256, b->sha256, FMT_SHA256_LEN);
            if (i > 0)
                assert_true(strcmp(ms[j].entries[i - 1].path, b->path) < 0);
        }
    }
    for (size_t j = 0; j < 3; j++)
        fmt_manifest_free(&ms[j]);
    fmt_pack_list_free(&l);
}

static void expect_failure_naming(const struct fixture *fx, const struct fmt_pack_list *l, const char *out,
                                  int expect_rc, const char *path_part, const char *reason)
{
    struct fmt_manifest m;
    int rc = pack(fx, l, out, 4, &m);

    assert_int_equal(rc, expect_rc);
    assert_non_null(strstr(ccr_err_msg(rc), path_part));
    assert_non_null(strstr(ccr_err_msg(rc), reason));
    assert_false(has_manifest(out));
    assert_int_equal(m.count, 0);
}

static void test_pack_file_vanished(void **state)
{
    struct fixture *fx = *state;
    struct fmt_pack_list l;
    char path[256], *out = out_dir(fx, "vanished");

    assert_int_equal(fmt_pack_scan(fx->src, &l), 0);
    snprintf(path, sizeof path, "%s/d07/f021", fx->src);
    assert_int_equal(unlink(path), 0);
    expect_failure_naming(fx, &l, out, ENOENT, "d07/f021", "vanished while packing");
    fmt_pack_list_free(&l);
    free(out);
}

static void test_pack_file_changed(void **state)
{
    struct fixture *fx = *state;
    struct fmt_pack_list l;
    char path[256], *out = out_dir(fx, "changed");
    int fd;

    assert_int_equal(fmt_pack_scan(fx->src, &l), 0);
    snprintf(path, sizeof path, "%s/d05/f010", fx->src);
    fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "more", 4), 4);
    close(fd);
    expect_failure_naming(fx, &l, out, EIO, "d05/f010", "changed while packing");
    fmt_pack_list_free(&l);
    free(out);
}

/* Root reads through any permission bits, so "unreadable" is a file turned into a folder. */
static void test_pack_file_unreadable(void **state)
{
    struct fixture *fx = *state;
    struct fmt_pack_list l;
    char path[256], *out = out_dir(fx, "unreadable");

    assert_int_equal(fmt_pack_scan(fx->src, &l), 0);
    snprintf(path, sizeof path, "%s/d09/f023", fx->src);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkdir(path, 0700), 0);
    expect_failure_naming(fx, &l, out, EIO, "d09/f023", "changed while packing");
    fmt_pack_list_free(&l);
    free(out);
}

/* The one-read path writes the same bytes as the streaming path for the same key and salt. */
static void test_small_path_same_bytes_as_stream(void **state)
{
    struct fixture *fx = *state;
    static const size_t sizes[] = {0, 1, 4095, 4096, 4097, 65536, 100000, FMT_BLOB_SMALL_MAX};
    static const unsigned logs[] = {12, 16, 20};
    struct fmt_blob_scratch scratch;
    uint8_t salt[FMT_SALT_LEN], *plain = malloc(FMT_BLOB_SMALL_MAX);
    size_t cap = FMT_BLOB_SMALL_MAX + 8192;
    uint8_t *a = malloc(cap), *b = malloc(cap);

    assert_int_equal(fmt_blob_scratch_init(&scratch), 0);
    memset(salt, 0x11, sizeof salt);
    for (size_t li = 0; li < 3; li++) {
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            uint8_t sha_a[FMT_SHA256_LEN], sha_b[FMT_SHA256_LEN];
            struct fmt_blob_key *k = NULL;
            int in = memfd_create("plain", 0), out_a = memfd_create("a", 0), out_b = memfd_create("b", 0);
            off_t la, lb;
            fill(plain, sizes[si], (unsigned)si);
            assert_true(in >= 0 && out_a >= 0 && out_b >= 0);
            assert_int_equal(ccr_write_all(in, plain, sizes[si]), 0);
            assert_int_equal(fmt_blob_key_create(fx->dek, logs[li], sizes[si], salt, &k), 0);
            assert_int_equal(lseek(in, 0, SEEK_SET), 0);
            assert_int_equal(fmt_blob_encrypt_fd(k, in, out_a, sha_a, NULL, NULL), 0);
            assert_int_equal(lseek(in, 0, SEEK_SET), 0);
            assert_int_equal(fmt_blob_encrypt_small_fd(k, in, out_b, sha_b, &scratch), 0);
            la = lseek(out_a, 0, SEEK_END);
            lb = lseek(out_b, 0, SEEK_END);
            assert_int_equal(la, lb);
            assert_int_equal(la, fmt_blob_object_size(&k->header));
            assert_int_equal(ccr_pread_all(out_a, a, (size_t)la, 0), 0);
            assert_int_equal(ccr_pread_all(out_b, b, (size_t)lb, 0), 0);
            assert_memory_equal(a, b, (size_t)la);
            assert_memory_equal(sha_a, sha_b, FMT_SHA256_LEN);
            /* A file shorter than its length says is refused. */
            assert_int_equal(ftruncate(in, (off_t)(sizes[si] / 2)), 0);
            assert_int_equal(lseek(in, 0, SEEK_SET), 0);
            if (sizes[si] / 2 != sizes[si])
                assert_int_equal(fmt_blob_encrypt_small_fd(k, in, out_b, sha_b, &scratch), EIO);
            fmt_blob_key_free(k);
            close(in);
            close(out_a);
            close(out_b);
        }
    }
    fmt_blob_scratch_free(&scratch);
    free(plain);
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pack_many_small_files_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pack_manifest_order_independent_of_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pack_file_vanished, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pack_file_changed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pack_file_unreadable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_path_same_bytes_as_stream, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
