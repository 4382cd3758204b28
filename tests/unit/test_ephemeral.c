/* The no-egress overlay's encrypted storage, checked against a plain in-memory model under
 * random writes, truncates and reads, over a lower file and without one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fs/ephemeral.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MODEL_MAX (256 * 1024)

struct lower {
    const uint8_t *data;
    size_t len;
    int reads;
};

static int lower_read(void *arg, void *buf, size_t len, uint64_t off)
{
    struct lower *l = arg;
    assert_true(off + len <= l->len);
    memcpy(buf, l->data + off, len);
    l->reads++;
    return 0;
}

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void check_equal(struct fs_ephemeral_file *f, const uint8_t *model, size_t size)
{
    uint8_t *buf = malloc(MODEL_MAX + 10);
    size_t got;
    assert_int_equal(fs_ephemeral_file_size(f), size);
    assert_int_equal(fs_ephemeral_file_read(f, buf, MODEL_MAX + 10, 0, &got), 0);
    assert_int_equal(got, size);
    assert_memory_equal(buf, model, size);
    /* A few unaligned reads, some past the end. */
    for (int i = 0; i < 20; i++) {
        uint64_t off = rnd() % (size + 100), len = rnd() % 9000;
        size_t expect = off >= size ? 0 : (len > size - off ? size - off : len);
        assert_int_equal(fs_ephemeral_file_read(f, buf, len, off, &got), 0);
        assert_int_equal(got, expect);
        if (expect)
            assert_memory_equal(buf, model + off, expect);
    }
    free(buf);
}

static void random_workout(struct fs_ephemeral *e, struct lower *l)
{
    uint8_t *model = calloc(1, MODEL_MAX), *data = malloc(MODEL_MAX);
    size_t size = l ? l->len : 0;
    struct fs_ephemeral_file *f;

    if (l)
        memcpy(model, l->data, l->len);
    assert_int_equal(fs_ephemeral_file_new(e, size, l ? lower_read : NULL, l, &f), 0);
    assert_true(fs_ephemeral_file_untouched(f)); /* nothing written yet */
    check_equal(f, model, size);
    for (int step = 0; step < 300; step++) {
        int op = (int)(rnd() % 10);
        if (op < 7) {
            uint64_t off = rnd() % (MODEL_MAX - 20000), len = rnd() % 20000;
            for (size_t i = 0; i < len; i++)
                data[i] = (uint8_t)rnd();
            assert_int_equal(fs_ephemeral_file_write(f, data, len, off), 0);
            if (off > size)
                memset(model + size, 0, off - size);
            memcpy(model + off, data, len);
            if (off + len > size)
                size = off + len;
        } else {
            uint64_t ns = rnd() % MODEL_MAX;
            assert_int_equal(fs_ephemeral_file_truncate(f, ns), 0);
            if (ns > size)
                memset(model + size, 0, ns - size);
            size = ns;
        }
        if (step % 25 == 0)
            check_equal(f, model, size);
    }
    check_equal(f, model, size);
    fs_ephemeral_file_free(f);
    free(model);
    free(data);
}

static void test_random_without_lower(void **state)
{
    struct fs_ephemeral *e;
    struct fs_ephemeral_stats st;
    (void)state;
    assert_int_equal(fs_ephemeral_create("/tmp", 0, &e), 0);
    random_workout(e, NULL);
    fs_ephemeral_get_stats(e, &st);
    assert_int_equal(st.files, 0);
    assert_int_equal(st.blocks_used, 0); /* every block given back */
    fs_ephemeral_destroy(e);
}

static void test_random_over_lower(void **state)
{
    struct fs_ephemeral *e;
    uint8_t *base = malloc(100000);
    struct lower l = {base, 100000, 0};
    (void)state;
    for (size_t i = 0; i < l.len; i++)
        base[i] = (uint8_t)(i * 31 + 7);
    assert_int_equal(fs_ephemeral_create("/tmp", 0, &e), 0);
    random_workout(e, &l);
    fs_ephemeral_destroy(e);
    free(base);
}

/* Opening read-write copies nothing: only touched blocks are stored. */
static void test_lazy_copy_up(void **state)
{
    struct fs_ephemeral *e;
    struct fs_ephemeral_file *f;
    struct fs_ephemeral_stats st;
    uint8_t *base = malloc(1 << 20), buf[10];
    struct lower l = {base, 1 << 20, 0};
    size_t got;
    (void)state;
    memset(base, 'L', l.len);
    assert_int_equal(fs_ephemeral_create("/tmp", 0, &e), 0);
    assert_int_equal(fs_ephemeral_file_new(e, l.len, lower_read, &l, &f), 0);
    assert_int_equal(fs_ephemeral_file_write(f, "xyz", 3, 500000), 0);
    fs_ephemeral_get_stats(e, &st);
    assert_int_equal(st.blocks_used, 1);
    assert_int_equal(fs_ephemeral_file_read(f, buf, 5, 499999, &got), 0);
    assert_memory_equal(buf, "LxyzL", 5);
    assert_false(fs_ephemeral_file_untouched(f));
    fs_ephemeral_file_free(f);
    fs_ephemeral_destroy(e);
    free(base);
}

static void test_limit(void **state)
{
    struct fs_ephemeral *e;
    struct fs_ephemeral_file *f;
    uint8_t data[3 * FS_EPHEMERAL_BLOCK] = {1};
    (void)state;
    assert_int_equal(fs_ephemeral_create("/tmp", 2 * FS_EPHEMERAL_BLOCK, &e), 0);
    assert_int_equal(fs_ephemeral_file_new(e, 0, NULL, NULL, &f), 0);
    assert_int_equal(fs_ephemeral_file_write(f, data, 2 * FS_EPHEMERAL_BLOCK, 0), 0);
    assert_int_equal(fs_ephemeral_file_write(f, data, 1, 2 * FS_EPHEMERAL_BLOCK), ENOSPC);
    /* Space comes back when the data goes. */
    assert_int_equal(fs_ephemeral_file_truncate(f, 0), 0);
    assert_int_equal(fs_ephemeral_file_write(f, data, 2 * FS_EPHEMERAL_BLOCK, 0), 0);
    fs_ephemeral_file_free(f);
    fs_ephemeral_destroy(e);
}

/* The store's unlinked backing file, found among this process's descriptors by its folder. */
static int backing_fd(const char *dir)
{
    for (int fd = 3; fd < 1024; fd++) {
        char link[64], target[512];
        ssize_t n;
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        n = readlink(link, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        if (strncmp(target, dir, strlen(dir)) == 0)
            return fd;
    }
    return -1;
}

/* Nothing in the backing file is plaintext, and altered sealed bytes are refused, not served. */
static void test_sealed_on_disk(void **state)
{
    struct fs_ephemeral *e;
    struct fs_ephemeral_file *f;
    char dir[] = "/tmp/ccrfs-eph-XXXXXX";
    uint8_t plain[FS_EPHEMERAL_BLOCK], buf[FS_EPHEMERAL_BLOCK];
    size_t got;
    int fd;
    (void)state;
    assert_non_null(mkdtemp(dir));
    memset(plain, 'P', sizeof plain);
    assert_int_equal(fs_ephemeral_create(dir, 0, &e), 0);
    assert_int_equal(fs_ephemeral_file_new(e, 0, NULL, NULL, &f), 0);
    assert_int_equal(fs_ephemeral_file_write(f, plain, sizeof plain, 0), 0);
    fd = backing_fd(dir);
    assert_true(fd >= 0);
    /* The backing file is unlinked: the folder stays empty. */
    assert_int_equal(rmdir(dir), 0);
    assert_int_equal(pread(fd, buf, sizeof buf, 0), (ssize_t)sizeof buf);
    assert_true(memchr(buf, 'P', 64) == NULL || memcmp(buf, plain, 64) != 0);
    buf[10] ^= 1;
    assert_int_equal(pwrite(fd, buf, sizeof buf, 0), (ssize_t)sizeof buf);
    memset(buf, 0x55, sizeof buf);
    assert_int_equal(fs_ephemeral_file_read(f, buf, sizeof buf, 0, &got), EBADMSG);
    for (size_t i = 0; i < sizeof buf; i++)
        assert_true(buf[i] != 'P');
    fs_ephemeral_file_free(f);
    fs_ephemeral_destroy(e);
}

/* After a wipe (revocation) nothing stored can be read back, and nothing more is written. */
static void test_wipe(void **state)
{
    struct fs_ephemeral *e;
    struct fs_ephemeral_file *f;
    uint8_t buf[16];
    size_t got;
    (void)state;
    assert_int_equal(fs_ephemeral_create("/tmp", 0, &e), 0);
    assert_int_equal(fs_ephemeral_file_new(e, 0, NULL, NULL, &f), 0);
    assert_int_equal(fs_ephemeral_file_write(f, "secret bytes", 12, 0), 0);
    fs_ephemeral_wipe(e);
    memset(buf, 0, sizeof buf);
    assert_int_equal(fs_ephemeral_file_read(f, buf, 12, 0, &got), EACCES);
    assert_true(memcmp(buf, "secret", 6) != 0);
    assert_int_equal(fs_ephemeral_file_write(f, "more", 4, 0), EACCES);
    fs_ephemeral_wipe(e); /* idempotent */
    fs_ephemeral_file_free(f);
    fs_ephemeral_destroy(e);
}

static void test_bad_folder(void **state)
{
    struct fs_ephemeral *e;
    (void)state;
    assert_int_equal(fs_ephemeral_create("/nonexistent/ccrfs", 0, &e), ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_without_lower),
        cmocka_unit_test(test_random_over_lower),
        cmocka_unit_test(test_lazy_copy_up),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_sealed_on_disk),
        cmocka_unit_test(test_bad_folder),
        cmocka_unit_test(test_wipe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
