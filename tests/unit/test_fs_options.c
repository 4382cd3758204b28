/* Mount option parsing: ccrfs's own options, key sources for mount(8), what goes on to FUSE,
 * what mount(8) adds and means nothing here, and bad values. */
#include "common/err.h"
#include "fs/options.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void test_defaults(void **state)
{
    struct fs_options o;
    (void)state;
    fs_options_init(&o);
    assert_int_equal(fs_options_parse(&o, ""), 0);
    assert_int_equal(o.cache_size, FS_DEFAULT_CACHE_SIZE);
    assert_int_equal(o.prefetch_max, FS_DEFAULT_PREFETCH_MAX);
    assert_int_equal(o.workers, FS_DEFAULT_WORKERS);
    assert_false(o.uid_set);
    assert_int_equal(o.allow_other, -1);
    assert_false(o.allow_unlocked_memory); /* the daemon's memory must be locked */
    assert_string_equal(o.fuse_opts, "");
    fs_options_free(&o);
}

static void test_own_options(void **state)
{
    struct fs_options o;
    (void)state;
    fs_options_init(&o);
    assert_int_equal(fs_options_parse(&o, "cache_size=64M,prefetch_max=2GiB,uid=1000,gid=1001"), 0);
    assert_int_equal(fs_options_parse(&o, "fetch_workers=8,readahead_kb=0,noallow_other"), 0);
    assert_int_equal(fs_options_parse(&o, "allow_unlocked_memory"), 0);
    assert_true(o.allow_unlocked_memory);
    assert_int_equal(o.cache_size, 64ull << 20);
    assert_int_equal(o.prefetch_max, 2ull << 30);
    assert_true(o.uid_set && o.gid_set);
    assert_int_equal(o.uid, 1000);
    assert_int_equal(o.gid, 1001);
    assert_int_equal(o.workers, 8);
    assert_int_equal(o.readahead_kb, 0);
    assert_int_equal(o.allow_other, 0);
    assert_string_equal(o.fuse_opts, "");
    fs_options_free(&o);
}

static void test_key_source_and_fstab(void **state)
{
    struct fs_options o;
    (void)state;
    fs_options_init(&o);
    /* What mount(8) passes for an fstab line "... fuse.ccrfs defaults,_netdev,key_file=/k 0 0". */
    assert_int_equal(fs_options_parse(&o,
                                      "rw,nosuid,nodev,relatime,_netdev,x-systemd.automount,key_file=/etc/k,"
                                      "dataset_id=sha256:ab"),
                     0);
    assert_string_equal(o.key_file, "/etc/k");
    assert_string_equal(o.dataset_id, "sha256:ab");
    assert_string_equal(o.fuse_opts, "");
    assert_int_equal(fs_options_parse(&o, "kbs=http://127.0.0.1:8080,resource=a/b/c,attest=sim:/x"), 0);
    assert_string_equal(o.kbs, "http://127.0.0.1:8080");
    assert_string_equal(o.resource, "a/b/c");
    assert_string_equal(o.attest, "sim:/x");
    fs_options_free(&o);
}

static void test_passed_to_fuse(void **state)
{
    struct fs_options o;
    (void)state;
    fs_options_init(&o);
    assert_int_equal(fs_options_parse(&o, "fsname=data,cache_size=8M,max_background=20"), 0);
    assert_int_equal(fs_options_parse(&o, "kernel_cache"), 0);
    assert_string_equal(o.fuse_opts, "fsname=data,max_background=20,kernel_cache");
    fs_options_free(&o);
}

static void test_bad_values(void **state)
{
    static const char *const bad[] = {"cache_size=",
                                      "cache_size=lots",
                                      "cache_size=12Q",
                                      "cache_size=100",
                                      "cache_size=99999999999999999999",
                                      "uid=-1",
                                      "uid=abc",
                                      "gid=",
                                      "fetch_workers=1000",
                                      "key_file=",
                                      "max_read=4096",
                                      "readahead_kb=x",
                                      "overlay_dir=",
                                      "overlay_max=big",
                                      "mode=writable"};
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct fs_options o;
        fs_options_init(&o);
        assert_int_equal(fs_options_parse(&o, bad[i]), EINVAL);
        /* The message names the option. */
        char name[32];
        size_t n = strcspn(bad[i], "=");
        memcpy(name, bad[i], n);
        name[n] = '\0';
        assert_non_null(strstr(ccr_err_msg(EINVAL), name));
        fs_options_free(&o);
    }
}

static void test_mode_options(void **state)
{
    struct fs_options o;
    (void)state;
    fs_options_init(&o);
    assert_int_equal(o.mode, FS_MODE_READ_ONLY);
    assert_null(o.overlay_dir);
    assert_int_equal(o.overlay_max, 0);
    assert_int_equal(fs_options_parse(&o, "mode=no-egress,overlay_dir=/var/tmp/x,overlay_max=2G"), 0);
    assert_int_equal(o.mode, FS_MODE_NO_EGRESS);
    assert_string_equal(o.overlay_dir, "/var/tmp/x");
    assert_int_equal(o.overlay_max, 2ull << 30);
    assert_int_equal(fs_options_parse(&o, "mode=sink,recipient=pub.pem"), 0);
    assert_int_equal(o.mode, FS_MODE_SINK);
    assert_string_equal(o.recipient, "pub.pem");
    assert_string_equal(o.fuse_opts ? o.fuse_opts : "", "");
    fs_options_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_own_options),
        cmocka_unit_test(test_key_source_and_fstab),
        cmocka_unit_test(test_passed_to_fuse),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_mode_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
