/* The mount as governance uses it, through the library: a real FUSE mount of a small dataset
 * built here, with access hooks (open and read seen, refused when the hook says so, release
 * reported) and fs_mount_revoke (every later open and read fails with EACCES, the cache is
 * wiped). Skipped when FUSE cannot be used (not root, no /dev/fuse). */
#include "tests/support/dataset.h"
#include "common/err.h"
#include "common/fileio.h"
#include "fetch/store.h"
#include "fs/mount.h"
#include "format/blob.h"
#include "format/dataset.h"
#include "format/manifest.h"

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
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define FILE_LEN 300000

struct hook_log {
    atomic_int opens, reads, releases, integrity;
    atomic_int deny_reads;
    pthread_mutex_t path_lock; /* last_path: written on a FUSE thread, read by the test */
    char last_path[256];
};

static int hk_open(void *arg, const struct fs_open_info *info, uint64_t *handle)
{
    struct hook_log *h = arg;
    if (strcmp(info->path, "secret.txt") == 0)
        return EACCES; /* policy says no */
    pthread_mutex_lock(&h->path_lock);
    snprintf(h->last_path, sizeof h->last_path, "%s", info->path);
    pthread_mutex_unlock(&h->path_lock);
    *handle = 1000 + (uint64_t)atomic_fetch_add(&h->opens, 1);
    return 0;
}

static int hk_read(void *arg, uint64_t handle, uint64_t offset, uint64_t len)
{
    struct hook_log *h = arg;
    (void)offset;
    (void)len;
    if (handle < 1000)
        return EINVAL;
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
    (void)path;
    (void)block;
    atomic_fetch_add(&h->integrity, 1);
}

struct fixture {
    char dir[64], store_dir[96], mnt[96];
    uint8_t plain[FILE_LEN];
    struct hook_log log;
    struct fs_access_hooks hooks;
    struct fs_options opts;
    struct fmt_dek *dek;
    struct fetch_store *store;
    struct fmt_dataset *ds;
    struct fs_mount *m;
    pthread_t loop;
    int loop_rc;
};

/* Encrypts one file into the store and adds its entry, as ccrfs pack does. */
static void add_file(struct fixture *f, struct fmt_manifest *man, const char *path, const uint8_t *data,
                     size_t len)
{
    assert_int_equal(tsup_dataset_add_file(f->store_dir, f->dek, man, path, data, len, 12, NULL, 0), 0);
}

static void *loop_thread(void *arg)
{
    struct fixture *f = arg;
    f->loop_rc = fs_mount_run(f->m, NULL, NULL);
    return NULL;
}

static int setup(void **state)
{
    struct fixture *f;
    struct fmt_manifest man = {0};
    char path[160], blobs[128];
    struct stat st;

    if (geteuid() != 0 || access("/dev/fuse", R_OK | W_OK) != 0)
        return 0; /* the tests skip */
    f = calloc(1, sizeof *f);
    if (f != NULL)
        pthread_mutex_init(&f->log.path_lock, NULL);
    snprintf(f->dir, sizeof f->dir, "/tmp/ccrfs-test-fs-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->store_dir, sizeof f->store_dir, "%s/store", f->dir);
    snprintf(f->mnt, sizeof f->mnt, "%s/mnt", f->dir);
    snprintf(blobs, sizeof blobs, "%s/blobs", f->store_dir);
    assert_int_equal(mkdir(f->store_dir, 0755), 0);
    assert_int_equal(mkdir(blobs, 0755), 0);
    assert_int_equal(mkdir(f->mnt, 0755), 0);
    snprintf(path, sizeof path, "%s/key", f->dir);
    assert_int_equal(fmt_dek_generate_file(path), 0);
    assert_int_equal(fmt_dek_load_file(path, &f->dek), 0);
    for (size_t i = 0; i < FILE_LEN; i++)
        f->plain[i] = (uint8_t)(i * 31 + i / 4096);
    add_file(f, &man, "data.bin", f->plain, FILE_LEN);
    add_file(f, &man, "secret.txt", (const uint8_t *)"no\n", 3);
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
    f->opts.cache_size = 1u << 20;
    f->opts.readahead_kb = 0;
    struct fs_mount_config conf = {f->ds, f->dek, &f->hooks, &f->opts, 0, "test", NULL, 0};
    assert_int_equal(fs_mount_create(&conf, &f->m), 0);
    assert_int_equal(fs_mount_start(f->m, f->mnt), 0);
    assert_int_equal(pthread_create(&f->loop, NULL, loop_thread, f), 0);
    /* Wait until the mount answers. */
    for (int i = 0; i < 100 && stat(f->mnt, &st) == 0 && st.st_ino != 1; i++)
        usleep(20000);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[256];
    if (f == NULL)
        return 0;
    (void)umount2(f->mnt, MNT_DETACH);
    pthread_join(f->loop, NULL);
    fs_mount_destroy(f->m);
    fmt_dataset_close(f->ds);
    fetch_store_destroy(f->store);
    fmt_dek_free(f->dek);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    free(f);
    return 0;
}

static int open_file(struct fixture *f, const char *name, int flags)
{
    char path[160];
    snprintf(path, sizeof path, "%s/%s", f->mnt, name);
    return open(path, flags);
}

static void test_hooks_and_revoke(void **state)
{
    struct fixture *f = *state;
    uint8_t buf[8192];
    char stats[2048], seen[256];
    int fd, fd2;

    if (f == NULL) {
        skip();
        return;
    }
    /* Reads pass through on_read and return the right bytes. */
    fd = open_file(f, "data.bin", O_RDONLY | O_DIRECT);
    assert_true(fd >= 0);
    pthread_mutex_lock(&f->log.path_lock);
    snprintf(seen, sizeof seen, "%s", f->log.last_path);
    pthread_mutex_unlock(&f->log.path_lock);
    assert_string_equal(seen, "data.bin");
    assert_int_equal(pread(fd, buf, 4096, 4096 * 10), 4096);
    assert_memory_equal(buf, f->plain + 4096 * 10, 4096);
    assert_true(atomic_load(&f->log.reads) >= 1);

    /* The open hook refuses a file: EACCES, and no release for it. */
    errno = 0;
    assert_int_equal(open_file(f, "secret.txt", O_RDONLY), -1);
    assert_int_equal(errno, EACCES);

    /* The read hook refuses: EACCES, the bytes never leave. */
    atomic_store(&f->log.deny_reads, 1);
    errno = 0;
    assert_int_equal(pread(fd, buf, 4096, 4096 * 20), -1);
    assert_int_equal(errno, EACCES);
    atomic_store(&f->log.deny_reads, 0);
    assert_int_equal(pread(fd, buf, 4096, 4096 * 20), 4096);

    /* Writes are refused by the read-only mount. */
    assert_int_equal(open_file(f, "data.bin", O_WRONLY), -1);
    assert_int_equal(errno, EROFS);

    /* Revoked: the open file's next read and every new open fail with EACCES; the cache and
     * the counters say so. */
    fd2 = open_file(f, "data.bin", O_RDONLY);
    assert_true(fd2 >= 0);
    assert_int_equal(pread(fd2, buf, 4096, 0), 4096); /* into the kernel's page cache too */
    fs_mount_revoke(f->m, "consent withdrawn by the data provider");
    assert_true(fs_mount_revoked(f->m));
    errno = 0;
    assert_int_equal(pread(fd, buf, 4096, 4096 * 10), -1);
    assert_int_equal(errno, EACCES);
    errno = 0;
    assert_int_equal(open_file(f, "data.bin", O_RDONLY), -1);
    assert_int_equal(errno, EACCES);
    /* The page the kernel had kept is dropped as well (asynchronously). */
    int denied = 0;
    for (int i = 0; i < 100 && !denied; i++) {
        denied = pread(fd2, buf, 4096, 0) == -1 && errno == EACCES;
        if (!denied)
            usleep(20000);
    }
    assert_true(denied);
    assert_int_equal(fs_mount_stats_json(f->m, stats, sizeof stats), 0);
    assert_non_null(strstr(stats, "\"revoked\":true"));
    assert_non_null(strstr(stats, "\"cache_blocks\":0"));
    fs_mount_revoke(f->m, "twice is harmless");

    close(fd);
    close(fd2);
    for (int i = 0; i < 100 && atomic_load(&f->log.releases) < 2; i++)
        usleep(20000);
    assert_int_equal(atomic_load(&f->log.releases), 2);
    assert_int_equal(atomic_load(&f->log.opens), 2);
    assert_int_equal(atomic_load(&f->log.integrity), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hooks_and_revoke, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
