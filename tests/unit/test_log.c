/* common/log with a file target: every level at or above the threshold reaches the file as one
 * timestamped line, stderr can be turned off while the file keeps receiving, the file is
 * rotated to PATH.1 past its cap (the newest lines survive), and a path that cannot be a log
 * file is refused. */
#include "common/fileio.h"
#include "common/log.h"

#include <errno.h>
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

static char dir[] = "/tmp/ccrfs-test-log-XXXXXX";

static char *slurp(const char *path)
{
    uint8_t *data = NULL;
    size_t len = 0;
    if (ccr_read_file(path, 1 << 24, &data, &len) != 0)
        return NULL;
    return (char *)data;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_file_receives_lines(void **state)
{
    char *path = ccr_path_join(dir, "a.log"), *text;
    struct stat st;
    (void)state;

    assert_int_equal(ccr_log_use_file(path, 0), 0);
    ccr_log_stderr_off();
    ccr_log_set_level(CCR_LOG_INFO);
    ccr_log_info("serving dataset %s", "sha256:00");
    ccr_log_warn("a warning %d", 7);
    ccr_log_debug("not at this level");
    ccr_log_close_file();
    text = slurp(path);
    assert_non_null(text);
    assert_int_equal(count_lines(text), 2);
    assert_non_null(strstr(text, ": info: serving dataset sha256:00\n"));
    assert_non_null(strstr(text, ": warning: a warning 7\n"));
    assert_null(strstr(text, "not at this level"));
    /* 2026-12-01T10:55:22.123Z ccrfs[PID]: ... */
    assert_true(text[4] == '-' && text[10] == 'T');
    assert_non_null(strstr(text, "ccrfs["));
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* After close, further lines do not reach the file. */
    ccr_log_info("after close");
    free(text);
    text = slurp(path);
    assert_null(strstr(text, "after close"));
    free(text);
    /* Reopened, the file is appended to, not truncated. */
    assert_int_equal(ccr_log_use_file(path, 0), 0);
    ccr_log_error("third");
    ccr_log_close_file();
    text = slurp(path);
    assert_int_equal(count_lines(text), 3);
    assert_non_null(strstr(text, ": error: third\n"));
    free(text);
    free(path);
}

static void test_file_rotates_past_cap(void **state)
{
    char *path = ccr_path_join(dir, "r.log"), old[512], *text, *older;
    struct stat st;
    (void)state;

    snprintf(old, sizeof old, "%s.1", path);
    assert_int_equal(ccr_log_use_file(path, 4096), 0);
    for (int i = 0; i < 200; i++)
        ccr_log_info("line %03d with some padding to make it longer than a few bytes", i);
    ccr_log_close_file();
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size <= 4096);
    assert_int_equal(stat(old, &st), 0);
    assert_true(st.st_size <= 4096);
    text = slurp(path);
    older = slurp(old);
    assert_non_null(strstr(text, "line 199 "));
    assert_null(strstr(text, "line 000 "));
    assert_non_null(older);
    assert_null(strstr(older, "line 199 "));
    free(text);
    free(older);
    free(path);
}

static void test_bad_path_refused(void **state)
{
    char *sub = ccr_path_join(dir, "sub"), *missing = ccr_path_join(dir, "no/such/x.log");
    char *link = ccr_path_join(dir, "link.log");
    (void)state;

    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_not_equal(ccr_log_use_file(sub, 0), 0);      /* a folder */
    assert_int_equal(ccr_log_use_file(missing, 0), ENOENT); /* no folder for it */
    assert_int_equal(symlink("/etc/passwd", link), 0);
    assert_int_not_equal(ccr_log_use_file(link, 0), 0); /* never follows a link */
    ccr_log_info("still works without a file");
    free(sub);
    free(missing);
    free(link);
}

static void test_syslog_probe(void **state)
{
    struct stat st;
    (void)state;
    assert_int_equal(ccr_log_syslog_available(), stat("/dev/log", &st) == 0 && S_ISSOCK(st.st_mode));
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_receives_lines),
        cmocka_unit_test(test_file_rotates_past_cap),
        cmocka_unit_test(test_bad_path_refused),
        cmocka_unit_test(test_syslog_probe),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
