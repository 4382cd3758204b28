/* Whole-file writes: atomic replacement of regular files, and devices written into, never
 * replaced by a regular file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/fileio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_atomic_and_new(void **state)
{
    char dir[] = "/tmp/ccrfs-fileio-XXXXXX", path[64];
    uint8_t *buf;
    size_t len;
    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/f", dir);
    assert_int_equal(ccr_write_file_new(path, "one", 3, 0600), 0);
    assert_int_equal(ccr_write_file_new(path, "two", 3, 0600), EEXIST);
    assert_int_equal(ccr_write_file_atomic(path, "three", 5, 0600), 0);
    assert_int_equal(ccr_read_file(path, 100, &buf, &len), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(buf, "three", 5);
    free(buf);
    assert_int_equal(ccr_read_file(path, 4, &buf, &len), EFBIG);
    /* A folder is never replaced. */
    assert_int_equal(ccr_write_file_atomic(dir, "x", 1, 0600), EISDIR);
    unlink(path);
    rmdir(dir);
}

static void test_device_is_written_into(void **state)
{
    struct stat st;
    (void)state;
    assert_int_equal(ccr_write_file_atomic("/dev/null", "discard", 7, 0644), 0);
    assert_int_equal(stat("/dev/null", &st), 0);
    assert_true(S_ISCHR(st.st_mode));
    assert_int_equal(ccr_write_file_new("/dev/null", "x", 1, 0644), EEXIST);
    assert_true(S_ISCHR(st.st_mode));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_atomic_and_new),
        cmocka_unit_test(test_device_is_written_into),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
