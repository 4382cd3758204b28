/* The fs core at dataset scale, without FUSE: memory stays flat over many distinct opens
 * (file keys bounded by the open files plus the LRU; no mapping or locked page per open),
 * random 4 KiB reads fetch about what they ask for, and failures are counted under their
 * real cause (memory_errors, not store_errors). */
#include "tests/support/dataset.h"
#include "fetch/store.h"
#include "format/dataset.h"
#include "format/manifest.h"
#include "fs/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define NFILES    20000
#define NFOLDERS  50
#define KEY_CACHE 256
#define BIG_LEN   (32u << 20)
#define BIG_LOG2  12

struct fixture {
    char dir[64], store_dir[96];
    struct fs_options opts;
    struct fmt_dek *dek;
    struct fetch_store *store, *faulty;
    struct fmt_dataset *ds;
    struct fs_mount *m;
    struct fs_caller who;
    uint64_t first_ino, nfiles;
};

static void fixture_dirs(struct fixture *f)
{
    char path[160], blobs[128];

    snprintf(f->dir, sizeof f->dir, "/tmp/ccrfs-test-scale-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->store_dir, sizeof f->store_dir, "%s/store", f->dir);
    snprintf(blobs, sizeof blobs, "%s/blobs", f->store_dir);
    assert_int_equal(mkdir(f->store_dir, 0755), 0);
    assert_int_equal(mkdir(blobs, 0755), 0);
    snprintf(path, sizeof path, "%s/key", f->dir);
    assert_int_equal(fmt_dek_generate_file(path), 0);
    assert_int_equal(fmt_dek_load_file(path, &f->dek), 0);
}

static void fixture_mount(struct fixture *f, uint64_t cache_size)
{
    assert_int_equal(fetch_file_create(f->store_dir, &f->store), 0);
    assert_int_equal(fmt_dataset_open(f->store, f->dek, NULL, &f->ds), 0);
    fs_options_init(&f->opts);
    f->opts.cache_size = cache_size;
    f->opts.key_cache = KEY_CACHE;
    struct fs_mount_config conf = {f->ds, f->dek, NULL, &f->opts, 0, "test", NULL, 0};
    assert_int_equal(fs_mount_create(&conf, &f->m), 0);
    f->who = (struct fs_caller){getpid(), getuid(), getgid()};
}

#define NBLOBS 300 /* files i and i + NBLOBS share a blob: writing 20,000 blobs would be slow */

static void file_path(unsigned i, char *out, size_t len)
{
    snprintf(out, len, "d%03u/f%05u", i % NFOLDERS, i);
}

static size_t file_len(unsigned i)
{
    return 100 + i % NBLOBS;
}

/* NFILES small files in NFOLDERS folders: d000/f00000 ... Each has its own entry, so its own
 * key; every NBLOBS-th shares a blob (the manifest may name a blob twice). */
static int setup_many(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct fmt_manifest man = {0};
    uint8_t data[400];

    assert_non_null(f);
    fixture_dirs(f);
    for (unsigned i = 0; i < NFOLDERS; i++) {
        struct fmt_manifest_entry d = {0};
        char path[16];
        snprintf(path, sizeof path, "d%03u", i);
        d.path = path;
        d.type = FMT_ENTRY_DIR;
        d.mode = 0755;
        assert_int_equal(fmt_manifest_add(&man, &d), 0);
    }
    for (unsigned i = 0; i < NFILES; i++) {
        char path[64];
        file_path(i, path, sizeof path);
        if (i < NBLOBS) {
            for (size_t j = 0; j < file_len(i); j++)
                data[j] = (uint8_t)(i + j);
            memcpy(data, &i, sizeof i);
            assert_int_equal(
                tsup_dataset_add_file(f->store_dir, f->dek, &man, path, data, file_len(i), 12, NULL, 0), 0);
        } else {
            struct fmt_manifest_entry e = man.entries[NFOLDERS + i % NBLOBS];
            e.path = path;
            assert_int_equal(fmt_manifest_add(&man, &e), 0);
        }
    }
    assert_int_equal(tsup_dataset_seal(f->store_dir, f->dek, &man, NULL), 0);
    fmt_manifest_free(&man);
    fixture_mount(f, 1u << 20);
    *state = f;
    return 0;
}

/* One file of BIG_LEN bytes in 4 KiB blocks. */
static int setup_big(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct fmt_manifest man = {0};
    uint8_t *data = malloc(BIG_LEN);

    assert_non_null(f);
    assert_non_null(data);
    fixture_dirs(f);
    for (size_t j = 0; j < BIG_LEN; j++)
        data[j] = (uint8_t)(j * 7 + j / 4096);
    assert_int_equal(
        tsup_dataset_add_file(f->store_dir, f->dek, &man, "big.bin", data, BIG_LEN, BIG_LOG2, NULL, 0), 0);
    free(data);
    assert_int_equal(tsup_dataset_seal(f->store_dir, f->dek, &man, NULL), 0);
    fmt_manifest_free(&man);
    fixture_mount(f, 16u << 20);
    *state = f;
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

static unsigned maps_count(void)
{
    FILE *fp = fopen("/proc/self/maps", "re");
    unsigned n = 0;
    int c;

    assert_non_null(fp);
    while ((c = fgetc(fp)) != EOF)
        n += c == '\n';
    fclose(fp);
    return n;
}

static unsigned long vm_lck_kb(void)
{
    FILE *fp = fopen("/proc/self/status", "re");
    char line[256];
    unsigned long kb = 0;

    assert_non_null(fp);
    while (fgets(line, sizeof line, fp) != NULL)
        if (sscanf(line, "VmLck: %lu kB", &kb) == 1)
            break;
    fclose(fp);
    return kb;
}

static uint64_t ino_of(struct fixture *f, unsigned i)
{
    char path[64];
    struct stat st;

    file_path(i, path, sizeof path);
    path[4] = '\0';
    const char *dir = path, *name = path + 5;
    assert_int_equal(fs_core_lookup(f->m, 1, dir, &st), 0);
    assert_int_not_equal(st.st_ino, 0);
    assert_int_equal(fs_core_lookup(f->m, st.st_ino, name, &st), 0);
    assert_int_not_equal(st.st_ino, 0);
    return st.st_ino;
}

static void open_read_close(struct fixture *f, unsigned i)
{
    struct fs_open_file *of;
    struct fs_read_reply r;
    size_t len = file_len(i);
    unsigned blob = i % NBLOBS;

    assert_int_equal(fs_core_open(f->m, ino_of(f, i), O_RDONLY, &f->who, &of), 0);
    assert_int_equal(fs_core_read(f->m, of, 0, 4096, &r), 0);
    assert_int_equal(r.bytes, len);
    assert_int_equal(((uint8_t *)r.iov[0].iov_base)[len - 1], (uint8_t)(blob + len - 1));
    assert_memory_equal(r.iov[0].iov_base, &blob, sizeof blob);
    fs_core_read_done(f->m, &r);
    fs_core_release(f->m, of);
}

/* Every distinct file opened once: keys stay within the LRU bound, and neither the number
 * of mappings nor the locked memory grows with the number of files. */
static void test_distinct_opens_keep_memory_flat(void **state)
{
    struct fixture *f = *state;
    unsigned maps0, maps1;
    unsigned long lck0, lck1;

    for (unsigned i = 0; i < 1000; i++) /* warm up: arena, cache slots, thread buffers */
        open_read_close(f, i);
    maps0 = maps_count();
    lck0 = vm_lck_kb();
    for (unsigned i = 1000; i < NFILES; i++) {
        open_read_close(f, i);
        assert_true(fs_keys_live(f->m) <= KEY_CACHE + 1);
    }
    maps1 = maps_count();
    lck1 = vm_lck_kb();
    print_message("keys live %llu (evicted %llu), maps %u -> %u, VmLck %lu -> %lu kB\n",
                  (unsigned long long)fs_keys_live(f->m),
                  (unsigned long long)atomic_load(&f->m->key_evictions), maps0, maps1, lck0, lck1);
    assert_true(fs_keys_live(f->m) <= KEY_CACHE);
    assert_true(atomic_load(&f->m->key_evictions) >= NFILES - KEY_CACHE - 1);
    assert_true(maps1 <= maps0 + 4);
    assert_true(lck1 <= lck0 + 64);
}

/* Keys of open files are never evicted, however many other files come and go; an evicted
 * key is opened again on the next open. */
static void test_open_files_keep_their_keys(void **state)
{
    struct fixture *f = *state;
    struct fs_open_file *held;
    struct fs_read_reply r;

    assert_int_equal(fs_core_open(f->m, ino_of(f, 7), O_RDONLY, &f->who, &held), 0);
    for (unsigned i = 100; i < 100 + 3 * KEY_CACHE; i++)
        open_read_close(f, i);
    assert_non_null(held->node->key);
    assert_int_equal(fs_core_read(f->m, held, 0, 4096, &r), 0);
    assert_int_equal(r.bytes, 107);
    fs_core_read_done(f->m, &r);
    fs_core_release(f->m, held);
    open_read_close(f, 100); /* evicted long ago: opened again */
    assert_true(fs_keys_live(f->m) <= KEY_CACHE);
}

/* An open refused because memory ran out is a memory error, not a store error. */
static void test_memory_failure_counted_as_memory(void **state)
{
    struct fixture *f = *state;
    struct fetch_faulty_conf conf = {.error_permille = 1000, .error_code = ENOMEM, .seed = 1};
    struct fetch_store *inner;
    struct fs_open_file *of;
    char stats[2048];

    assert_int_equal(fetch_file_create(f->store_dir, &inner), 0);
    assert_int_equal(fetch_faulty_create(&conf, inner, &f->faulty), 0);
    f->ds->store = f->faulty;
    assert_int_equal(fs_core_open(f->m, ino_of(f, 3), O_RDONLY, &f->who, &of), ENOMEM);
    assert_int_equal(atomic_load(&f->m->memory_errors), 1);
    assert_int_equal(atomic_load(&f->m->store_errors), 0);
    assert_int_equal(fs_mount_stats_json(f->m, stats, sizeof stats), 0);
    assert_non_null(strstr(stats, "\"memory_errors\":1"));
    assert_non_null(strstr(stats, "\"store_errors\":0"));
}

/* Random 4 KiB reads of a 32 MiB file: the fetch-ahead stays out of the way, so the bytes
 * fetched (ciphertext, tags included) stay within 4x the bytes asked for. */
static void test_random_reads_fetch_what_they_ask(void **state)
{
    struct fixture *f = *state;
    struct fs_open_file *of;
    struct stat st;
    uint64_t asked = 0, fetched;
    unsigned seed = 12345;

    assert_int_equal(fs_core_lookup(f->m, 1, "big.bin", &st), 0);
    assert_int_equal(fs_core_open(f->m, st.st_ino, O_RDONLY, &f->who, &of), 0);
    for (int i = 0; i < 2000; i++) {
        struct fs_read_reply r;
        uint64_t off;
        seed = seed * 1103515245u + 12345u;
        off = ((uint64_t)(seed >> 8) % (BIG_LEN / 4096)) * 4096;
        assert_int_equal(fs_core_read(f->m, of, off, 4096, &r), 0);
        assert_int_equal(((uint8_t *)r.iov[0].iov_base)[0], (uint8_t)(off * 7 + off / 4096));
        asked += r.bytes;
        fs_core_read_done(f->m, &r);
    }
    /* Whatever fetch-ahead was queued has finished once the workers are gone. */
    fs_prefetch_destroy(f->m->pf);
    f->m->pf = NULL;
    fetched = atomic_load(&f->m->bytes_fetched);
    print_message("random 4 KiB reads: asked %llu, fetched %llu (%.2fx)\n", (unsigned long long)asked,
                  (unsigned long long)fetched, (double)fetched / (double)asked);
    assert_true(fetched <= 4 * asked);
    fs_core_release(f->m, of);
}

/* Sequential reads still fetch ahead of the reader. */
static void test_sequential_reads_fetch_ahead(void **state)
{
    struct fixture *f = *state;
    struct fs_open_file *of;
    struct stat st;
    uint64_t asked = 0;

    assert_int_equal(fs_core_lookup(f->m, 1, "big.bin", &st), 0);
    assert_int_equal(fs_core_open(f->m, st.st_ino, O_RDONLY, &f->who, &of), 0);
    for (uint64_t off = 0; off < (4u << 20); off += 128 * 1024) {
        struct fs_read_reply r;
        assert_int_equal(fs_core_read(f->m, of, off, 128 * 1024, &r), 0);
        asked += r.bytes;
        fs_core_read_done(f->m, &r);
    }
    fs_prefetch_destroy(f->m->pf);
    f->m->pf = NULL;
    assert_true(atomic_load(&f->m->bytes_fetched) > asked + (512u << 10));
    fs_core_release(f->m, of);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_distinct_opens_keep_memory_flat, setup_many, teardown),
        cmocka_unit_test_setup_teardown(test_open_files_keep_their_keys, setup_many, teardown),
        cmocka_unit_test_setup_teardown(test_memory_failure_counted_as_memory, setup_many, teardown),
        cmocka_unit_test_setup_teardown(test_random_reads_fetch_what_they_ask, setup_big, teardown),
        cmocka_unit_test_setup_teardown(test_sequential_reads_fetch_ahead, setup_big, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
