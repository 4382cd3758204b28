/* launch/lifecycle: a new mount waits for the previous daemon of its spool (bounded, naming the
 * process), and cleans a mount point left dead by a killed ccrfs while leaving a live mount and
 * another file system's dead mount alone. Dead mounts are made for real: a FUSE mount whose
 * /dev/fuse descriptor is closed answers ENOTCONN, as after a SIGKILL of its daemon. */
#include "common/err.h"
#include "common/fileio.h"
#include "launch/lifecycle.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static char dir[] = "/tmp/ccrfs-test-lifecycle-XXXXXX";

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A child that holds the spool's lock for hold_ms, as a daemon still finishing would. */
static pid_t hold_lock(const char *spool, unsigned hold_ms)
{
    char *lock = ccr_path_join(spool, "lock");
    int ready[2];
    char c;
    pid_t pid;

    assert_int_equal(pipe(ready), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(lock, O_RDWR | O_CREAT, 0600);
        struct timespec ts = {hold_ms / 1000, (long)(hold_ms % 1000) * 1000000};
        if (fd < 0 || flock(fd, LOCK_EX) != 0)
            _exit(1);
        if (write(ready[1], "x", 1) != 1)
            _exit(1);
        nanosleep(&ts, NULL);
        _exit(0);
    }
    close(ready[1]);
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    free(lock);
    return pid;
}

static void test_wait_spool_unused(void **state)
{
    char *spool = ccr_path_join(dir, "never");
    (void)state;
    assert_int_equal(launch_wait_spool(spool, 1000), 0);
    free(spool);
}

static void test_wait_spool_until_previous_exits(void **state)
{
    char *spool = ccr_path_join(dir, "spool1");
    uint64_t t0;
    pid_t pid;
    int ws;
    (void)state;

    assert_int_equal(ccr_mkdirs(spool, 0700), 0);
    pid = hold_lock(spool, 600);
    t0 = now_ms();
    assert_int_equal(launch_wait_spool(spool, 10000), 0);
    assert_true(now_ms() - t0 >= 300);
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    /* The lock is free again for the spool to take. */
    {
        char *lock = ccr_path_join(spool, "lock");
        int fd = open(lock, O_RDWR);
        assert_true(fd >= 0);
        assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
        close(fd);
        free(lock);
    }
    free(spool);
}

static void test_wait_spool_bounded(void **state)
{
    char *spool = ccr_path_join(dir, "spool2"), want[64];
    uint64_t t0;
    pid_t pid;
    (void)state;

    assert_int_equal(ccr_mkdirs(spool, 0700), 0);
    pid = hold_lock(spool, 5000);
    t0 = now_ms();
    assert_int_equal(launch_wait_spool(spool, 400), EBUSY);
    assert_true(now_ms() - t0 >= 400);
    assert_true(now_ms() - t0 < 3000);
    snprintf(want, sizeof want, "(pid %ld)", (long)pid);
    assert_non_null(strstr(ccr_err_msg(EBUSY), "is still in use by another ccrfs process"));
    assert_non_null(strstr(ccr_err_msg(EBUSY), want));
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    assert_int_equal(launch_wait_spool(spool, 1000), 0);
    free(spool);
}

static void test_live_folder_untouched(void **state)
{
    char *plain = ccr_path_join(dir, "plain"), *missing = ccr_path_join(dir, "missing");
    struct stat st;
    (void)state;

    assert_int_equal(mkdir(plain, 0700), 0);
    assert_int_equal(launch_clean_dead_mount(plain), 0);
    assert_int_equal(stat(plain, &st), 0);
    assert_int_equal(launch_clean_dead_mount(missing), 0); /* the mount point check reports it */
    free(plain);
    free(missing);
}

/* Mounts a FUSE file system of the given type at mp and closes its device: the daemon "died". */
static int dead_fuse_mount(const char *mp, const char *type)
{
    char opts[128];
    int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);

    if (fd < 0)
        return -1;
    snprintf(opts, sizeof opts, "fd=%d,rootmode=40000,user_id=0,group_id=0", fd);
    if (mount("test", mp, type, MS_NOSUID | MS_NODEV, opts) != 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

static void test_dead_mounts(void **state)
{
    char *ccr = ccr_path_join(dir, "dead-ccrfs"), *other = ccr_path_join(dir, "dead-other");
    struct stat st;
    (void)state;

    assert_int_equal(mkdir(ccr, 0700), 0);
    assert_int_equal(mkdir(other, 0700), 0);
    if (geteuid() != 0 || dead_fuse_mount(ccr, "fuse.ccrfs") != 0) {
        fprintf(stderr, "no FUSE mount possible here (needs root and /dev/fuse): %s\n", strerror(errno));
        free(ccr);
        free(other);
        skip();
    }
    assert_int_equal(dead_fuse_mount(other, "fuse.other"), 0);
    assert_int_not_equal(stat(ccr, &st), 0);
    assert_int_equal(errno, ENOTCONN);

    /* A dead ccrfs mount is detached: the folder is usable again. A relative path and a
     * trailing slash name the same mount point. */
    {
        char *rel = ccr_path_join(dir, "dead-ccrfs/");
        assert_int_equal(launch_clean_dead_mount(rel), 0);
        free(rel);
    }
    assert_int_equal(stat(ccr, &st), 0);
    assert_true(S_ISDIR(st.st_mode));

    /* Another file system's dead mount is left for the mount point check to refuse. */
    assert_int_equal(launch_clean_dead_mount(other), 0);
    assert_int_not_equal(stat(other, &st), 0);
    assert_int_equal(errno, ENOTCONN);
    assert_int_equal(umount2(other, MNT_DETACH), 0);
    free(ccr);
    free(other);
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
        cmocka_unit_test(test_wait_spool_unused),  cmocka_unit_test(test_wait_spool_until_previous_exits),
        cmocka_unit_test(test_wait_spool_bounded), cmocka_unit_test(test_live_folder_untouched),
        cmocka_unit_test(test_dead_mounts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
