/* page_cache=keep|drop: parsed, and governance under a contract asks for every open's reads. */
#include "common/err.h"
#include "common/fileio.h"
#include "fs/hooks.h"
#include "fs/options.h"
#include "governance/gov.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/support/scratch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    return tsup_scratch_make(tmpdir, sizeof tmpdir, "test_fs_page_cache") == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return tsup_scratch_remove(tmpdir) == 0 ? 0 : -1;
}

static void test_option_parsed(void **state)
{
    struct fs_options o;
    (void)state;

    fs_options_init(&o);
    assert_int_equal(o.page_cache, FS_PAGE_CACHE_DEFAULT);
    assert_int_equal(fs_options_parse(&o, "page_cache=drop"), 0);
    assert_int_equal(o.page_cache, FS_PAGE_CACHE_DROP);
    assert_int_equal(fs_options_parse(&o, "page_cache=keep"), 0);
    assert_int_equal(o.page_cache, FS_PAGE_CACHE_KEEP);
    /* Not passed on to FUSE. */
    assert_null(strstr(o.fuse_opts, "page_cache"));
    assert_int_equal(fs_options_parse(&o, "page_cache=sometimes"), EINVAL);
    assert_non_null(strstr(ccr_err_msg(EINVAL), "page_cache=sometimes: expected keep or drop"));
    assert_int_equal(fs_options_parse(&o, "page_cache"), EINVAL);
    assert_int_equal(o.page_cache, FS_PAGE_CACHE_KEEP);
    fs_options_free(&o);
}

static void hooks_of(const char *name, const char *contract, struct fs_access_hooks *hk)
{
    char *log = ccr_path_join(tmpdir, name), spool[300];
    struct gov_config cfg = {.audit_log = log, .contract_id = contract};
    struct gov *g;
    snprintf(spool, sizeof spool, "%s.spool", log);
    cfg.spool_dir = spool;
    assert_int_equal(gov_open(&cfg, &g), 0);
    gov_fs_hooks(g, hk);
    gov_close(g);
    free(log);
}

static void test_contract_asks_every_open(void **state)
{
    struct fs_access_hooks hk;
    (void)state;

    hooks_of("with.log", "c1", &hk);
    assert_int_equal(hk.reads_every_open, 1);
    hooks_of("without.log", NULL, &hk);
    assert_int_equal(hk.reads_every_open, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_option_parsed),
        cmocka_unit_test(test_contract_asks_every_open),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
