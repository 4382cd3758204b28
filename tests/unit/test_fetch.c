/* The store layer without a network: URL parsing and scrubbing, Content-Range, ETag pins, the file store, the
 * fault-injecting store, the URL opener and options. */
#include "fetch/http.h"
#include "fetch/store.h"
#include "common/fileio.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static void test_http_url(void **state)
{
    struct fetch_http_url u;
    char *obj;
    (void)state;

    assert_int_equal(fetch_http_url_parse("https://host.example:8443/a/b/?sv=2024&sig=x%2By", &u), 0);
    assert_string_equal(u.origin, "https://host.example:8443");
    assert_string_equal(u.path, "/a/b");
    assert_string_equal(u.query, "sv=2024&sig=x%2By");
    obj = fetch_http_url_object(&u, "blobs/ab cd");
    assert_string_equal(obj, "https://host.example:8443/a/b/blobs/ab%20cd?sv=2024&sig=x%2By");
    free(obj);
    fetch_http_url_free(&u);

    assert_int_equal(fetch_http_url_parse("http://127.0.0.1", &u), 0);
    assert_string_equal(u.path, "");
    assert_null(u.query);
    obj = fetch_http_url_object(&u, "manifest.ccrfs");
    assert_string_equal(obj, "http://127.0.0.1/manifest.ccrfs");
    free(obj);
    fetch_http_url_free(&u);

    assert_int_equal(fetch_http_url_parse("http://[::1]:80/x?", &u), 0);
    assert_string_equal(u.origin, "http://[::1]:80");
    assert_null(u.query);
    fetch_http_url_free(&u);

    assert_int_equal(fetch_http_url_parse("ftp://host/x", &u), EINVAL);
    assert_int_equal(fetch_http_url_parse("http://", &u), EINVAL);
    assert_int_equal(fetch_http_url_parse("http:///path", &u), EINVAL);
    assert_int_equal(fetch_http_url_parse("http://user:pw@host/x", &u), EINVAL);
    assert_int_equal(fetch_http_url_parse("http://host:99999/x", &u), EINVAL);
    assert_int_equal(fetch_http_url_parse("http://host:0/x", &u), EINVAL);
    assert_int_equal(fetch_http_url_parse("http://host:/x", &u), EINVAL);
    assert_int_equal(fetch_http_url_parse("http://host:8a/x", &u), EINVAL);
    assert_int_equal(fetch_http_url_parse("http://[::1/x", &u), EINVAL);
    assert_int_equal(fetch_http_url_parse("http://host/a b", &u), EINVAL);
    assert_int_equal(fetch_http_url_parse("http://host/a#frag", &u), EINVAL);
    assert_int_equal(fetch_http_url_parse("http://host/a\nb", &u), EINVAL);
}

static void test_scrub_and_encode(void **state)
{
    char out[128];
    (void)state;

    fetch_url_scrub("https://acct.blob.core.windows.net/c/x?sv=1&sig=SECRET", out, sizeof out);
    assert_string_equal(out, "https://acct.blob.core.windows.net/c/x?<redacted>");
    assert_null(strstr(out, "SECRET"));
    fetch_url_scrub("http://h/x", out, sizeof out);
    assert_string_equal(out, "http://h/x");

    assert_int_equal(fetch_url_encode_path("a/b c/%~_.-", out, sizeof out), 0);
    assert_string_equal(out, "a/b%20c/%25~_.-");
    assert_int_equal(fetch_url_encode_query("ds/blobs/a=b&c", out, sizeof out), 0);
    assert_string_equal(out, "ds%2Fblobs%2Fa%3Db%26c");
    assert_int_equal(fetch_url_encode_path("\xC3\xA9", out, sizeof out), 0);
    assert_string_equal(out, "%C3%A9");
    assert_int_equal(fetch_url_encode_path("abcdef", out, 6), ENAMETOOLONG);
    assert_int_equal(fetch_url_encode_path("abcde", out, 6), 0);
    assert_int_equal(fetch_url_encode_path("abcd ", out, 6), ENAMETOOLONG);
}

static void test_key_check(void **state)
{
    (void)state;
    assert_int_equal(fetch_key_check("manifest.ccrfs"), 0);
    assert_int_equal(fetch_key_check("blobs/0123abcd"), 0);
    assert_int_equal(fetch_key_check("a/.b/c.."), 0);
    assert_int_equal(fetch_key_check(""), EINVAL);
    assert_int_equal(fetch_key_check("/etc/passwd"), EINVAL);
    assert_int_equal(fetch_key_check("blobs/../x"), EINVAL);
    assert_int_equal(fetch_key_check(".."), EINVAL);
    assert_int_equal(fetch_key_check("./x"), EINVAL);
    assert_int_equal(fetch_key_check("a//b"), EINVAL);
    assert_int_equal(fetch_key_check("a/"), EINVAL);
    assert_int_equal(fetch_key_check("a\nb"), EINVAL);
}

static void test_content_range(void **state)
{
    uint64_t f, l, t;
    (void)state;

    assert_int_equal(fetch_parse_content_range("bytes 0-1023/4096", &f, &l, &t), 0);
    assert_true(f == 0 && l == 1023 && t == 4096);
    assert_int_equal(fetch_parse_content_range("bytes 5-5/6", &f, &l, &t), 0);
    assert_true(f == 5 && l == 5 && t == 6);
    assert_int_equal(fetch_parse_content_range("bytes 100-199/*", &f, &l, &t), 0);
    assert_true(t == UINT64_MAX);
    assert_int_equal(
        fetch_parse_content_range("bytes 0-18446744073709551614/18446744073709551615", &f, &l, &t), 0);

    assert_int_equal(fetch_parse_content_range("bytes */4096", &f, &l, &t), EINVAL);
    assert_int_equal(fetch_parse_content_range("bytes 10-5/100", &f, &l, &t), EINVAL);  /* first > last */
    assert_int_equal(fetch_parse_content_range("bytes 0-100/100", &f, &l, &t), EINVAL); /* last >= total */
    assert_int_equal(fetch_parse_content_range("bytes=0-1/2", &f, &l, &t), EINVAL);
    assert_int_equal(fetch_parse_content_range("items 0-1/2", &f, &l, &t), EINVAL);
    assert_int_equal(fetch_parse_content_range("bytes 0-1/2 ", &f, &l, &t), EINVAL);
    assert_int_equal(fetch_parse_content_range("bytes -1-2/3", &f, &l, &t), EINVAL);
    assert_int_equal(fetch_parse_content_range("bytes 0-1/", &f, &l, &t), EINVAL);
    assert_int_equal(fetch_parse_content_range("bytes 0-18446744073709551616/*", &f, &l, &t), EINVAL);
    assert_int_equal(fetch_parse_content_range("", &f, &l, &t), EINVAL);
}

static void test_pins(void **state)
{
    struct fetch_pins *p = fetch_pins_create();
    char out[FETCH_ETAG_MAX];
    (void)state;

    assert_non_null(p);
    assert_int_equal(fetch_pins_get(p, "a", out), ENOENT);
    assert_int_equal(fetch_pins_check(p, "a", "\"1\""), 0);
    assert_int_equal(fetch_pins_check(p, "a", "\"1\""), 0);
    assert_int_equal(fetch_pins_get(p, "a", out), 0);
    assert_string_equal(out, "\"1\"");
    assert_int_equal(fetch_pins_check(p, "a", "\"2\""), ESTALE);
    assert_int_equal(fetch_pins_check(p, "b", ""), 0); /* no ETag: nothing pinned */
    assert_int_equal(fetch_pins_get(p, "b", out), ENOENT);
    fetch_pins_forget(p, "a");
    assert_int_equal(fetch_pins_check(p, "a", "\"2\""), 0);
    for (int i = 0; i < 5000; i++) {
        char key[32];
        snprintf(key, sizeof key, "blobs/%d", i);
        assert_int_equal(fetch_pins_check(p, key, "\"x\""), 0);
    }
    assert_int_equal(fetch_pins_check(p, "blobs/4999", "\"y\""), ESTALE);
    fetch_pins_destroy(p);
}

static char *make_root(void)
{
    char tmpl[] = "/tmp/ccrfs-test-fetch.XXXXXX";
    char *dir = mkdtemp(tmpl);
    assert_non_null(dir);
    return strdup(dir);
}

static void remove_root(const char *root)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

static int count_cb(void *arg, const char *key, const struct fetch_object_info *info)
{
    int *n = arg;
    (void)key;
    (void)info;
    (*n)++;
    return 0;
}

static void test_file_store(void **state)
{
    char *root = make_root();
    struct fetch_store *s;
    struct fetch_source src;
    struct fetch_object_info info;
    struct fetch_stats st;
    uint8_t data[10000], buf[10000];
    int n = 0;
    (void)state;

    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7);
    assert_int_equal(fetch_store_open(root, NULL, &s), 0);
    assert_string_equal(s->kind, "file");
    fetch_source_memory(&src, data, sizeof data);
    assert_int_equal(fetch_put(s, "blobs/one", &src), 0);
    assert_int_equal(fetch_put(s, "manifest.ccrfs", &src), 0);
    assert_int_equal(fetch_stat(s, "blobs/one", &info), 0);
    assert_int_equal(info.size, sizeof data);
    assert_true(info.etag[0] != '\0');
    assert_int_equal(fetch_read_range(s, "blobs/one", 1000, 500, buf), 0);
    assert_memory_equal(buf, data + 1000, 500);
    assert_int_equal(fetch_read_range(s, "blobs/one", 9990, 20, buf), EIO); /* past the end */
    assert_int_equal(fetch_read_range(s, "blobs/none", 0, 1, buf), ENOENT);
    assert_int_equal(fetch_read_range(s, "../x", 0, 1, buf), EINVAL);
    assert_int_equal(fetch_list(s, "blobs/", count_cb, &n), 0);
    assert_int_equal(n, 1);
    n = 0;
    assert_int_equal(fetch_list(s, "", count_cb, &n), 0);
    assert_int_equal(n, 2);
    {
        /* read_many falls back to one read at a time and reports each result. */
        uint8_t a[100], b[100];
        struct fetch_range r[3] = {{"blobs/one", 0, 100, a, -1, 0},
                                   {"blobs/missing", 0, 100, b, -1, 0},
                                   {"blobs/one", 9900, 100, b, -1, 0}};
        assert_int_equal(fetch_read_many(s, r, 3), ENOENT);
        assert_int_equal(r[0].result, 0);
        assert_int_equal(r[1].result, ENOENT);
        assert_int_equal(r[2].result, 0);
        assert_memory_equal(a, data, 100);
        assert_memory_equal(b, data + 9900, 100);
    }
    fetch_get_stats(s, &st);
    assert_true(st.requests >= 8);
    assert_true(st.bytes_read >= 700);
    assert_int_equal(st.bytes_written, 2 * sizeof data);
    assert_true(st.errors >= 3);
    fetch_store_destroy(s);
    {
        char url[300];
        snprintf(url, sizeof url, "file://%s", root);
        assert_int_equal(fetch_store_open(url, NULL, &s), 0);
        assert_int_equal(fetch_read_range(s, "manifest.ccrfs", 0, 10, buf), 0);
        fetch_store_destroy(s);
    }
    remove_root(root);
    free(root);
}

static void test_faulty_store(void **state)
{
    char *root = make_root();
    struct fetch_store *inner, *s;
    struct fetch_faulty_conf conf = {0};
    struct fetch_source src;
    struct fetch_object_info info;
    struct fetch_stats st;
    uint8_t data[4096], buf[4096];
    unsigned errors = 0, shorts = 0, good = 0;
    (void)state;

    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i ^ 0x5a);
    assert_int_equal(fetch_file_create(root, &inner), 0);
    fetch_source_memory(&src, data, sizeof data);
    assert_int_equal(fetch_put(inner, "obj", &src), 0);

    conf.error_permille = 1001;
    assert_int_equal(fetch_faulty_create(&conf, inner, &s), EINVAL);

    conf.error_permille = 200;
    conf.short_read_permille = 300;
    conf.fail_first = 2;
    conf.error_code = ECONNRESET;
    conf.seed = 42;
    assert_int_equal(fetch_faulty_create(&conf, inner, &s), 0);
    assert_int_equal(fetch_stat(s, "obj", &info), ECONNRESET); /* first two calls fail */
    assert_int_equal(fetch_read_range(s, "obj", 0, 10, buf), ECONNRESET);
    for (int i = 0; i < 400; i++) {
        int rc;
        memset(buf, 0, sizeof buf);
        rc = fetch_read_range(s, "obj", 100, 1000, buf);
        if (rc == 0) {
            /* Success always means the right bytes. */
            assert_memory_equal(buf, data + 100, 1000);
            good++;
        } else if (rc == ECONNRESET) {
            errors++;
        } else {
            assert_int_equal(rc, EIO);
            shorts++;
        }
    }
    /* The rates hold roughly: 20% errors, then 30% of the rest short. */
    assert_in_range(errors, 40, 130);
    assert_in_range(shorts, 50, 150);
    assert_in_range(good, 150, 300);
    fetch_get_stats(s, &st);
    assert_int_equal(st.requests, 402);
    assert_int_equal(st.errors, errors + shorts + 2);
    assert_int_equal(st.bytes_read, (uint64_t)good * 1000);
    fetch_store_destroy(s); /* destroys inner too */

    /* The same seed gives the same faults. */
    {
        unsigned first[2] = {0, 0};
        for (int round = 0; round < 2; round++) {
            assert_int_equal(fetch_file_create(root, &inner), 0);
            conf.fail_first = 0;
            assert_int_equal(fetch_faulty_create(&conf, inner, &s), 0);
            for (int i = 0; i < 50; i++)
                if (fetch_read_range(s, "obj", 0, 100, buf) != 0)
                    first[round] = first[round] * 31 + (unsigned)i;
            fetch_store_destroy(s);
        }
        assert_int_equal(first[0], first[1]);
    }
    /* Delays, and no faults at rate 0. */
    assert_int_equal(fetch_file_create(root, &inner), 0);
    memset(&conf, 0, sizeof conf);
    conf.delay_ms = 5;
    assert_int_equal(fetch_faulty_create(&conf, inner, &s), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(fetch_read_range(s, "obj", 0, sizeof buf, buf), 0);
    assert_memory_equal(buf, data, sizeof data);
    assert_int_equal(fetch_put(s, "obj2", &src), 0);
    fetch_store_destroy(s);
    remove_root(root);
    free(root);
}

static void test_store_open(void **state)
{
    struct fetch_store *s = NULL;
    struct fetch_options opt = {0};
    (void)state;

    assert_int_equal(fetch_store_open("gopher://x/y", NULL, &s), EINVAL);
    assert_int_equal(fetch_store_open("/nonexistent/ccrfs-store", NULL, &s), ENOENT);
    assert_int_equal(fetch_store_open("http://host:70000/x", NULL, &s), EINVAL);
    assert_int_equal(fetch_store_open("az://UPPER/data", NULL, &s), EINVAL);
    opt.endpoint = "ftp://127.0.0.1/x";
    assert_int_equal(fetch_store_open("az://acct1/data", &opt, &s), EINVAL);
    opt.endpoint = "http://127.0.0.1:1/devstoreaccount1";
    opt.az_key_file = "/nonexistent/key";
    assert_int_equal(fetch_store_open("az://acct1/data", &opt, &s), ENOENT);
    opt.az_key_file = NULL;
    assert_int_equal(fetch_store_open("az://acct1/data/pre", &opt, &s), 0);
    assert_string_equal(s->kind, "az");
    fetch_store_destroy(s);
    assert_int_equal(fetch_store_open("https://127.0.0.1:1/p?sig=x", NULL, &s), 0);
    assert_string_equal(s->kind, "https");
    /* Listing over plain HTTP is not possible, and says so. */
    assert_int_equal(fetch_list(s, "", count_cb, NULL), ENOTSUP);
    fetch_store_destroy(s);
}

static void test_options_env(void **state)
{
    struct fetch_options opt = {0};
    (void)state;

    setenv("CCRFS_STORE_CA_FILE", "/x/ca.pem", 1);
    setenv("CCRFS_STORE_RETRY_BUDGET_MS", "1500", 1);
    setenv("CCRFS_STORE_MAX_IN_FLIGHT", "8", 1);
    setenv("CCRFS_AZURE_MANAGED_IDENTITY", "1", 1);
    assert_int_equal(fetch_options_from_env(&opt), 0);
    assert_string_equal(opt.ca_file, "/x/ca.pem");
    assert_int_equal(opt.retry_budget_ms, 1500);
    assert_int_equal(opt.max_in_flight, 8);
    assert_int_equal(opt.az_managed_identity, 1);
    /* Values already set win over the environment. */
    opt.max_in_flight = 3;
    opt.ca_file = "/y";
    assert_int_equal(fetch_options_from_env(&opt), 0);
    assert_int_equal(opt.max_in_flight, 3);
    assert_string_equal(opt.ca_file, "/y");
    setenv("CCRFS_STORE_MAX_IN_FLIGHT", "8x", 1);
    assert_int_equal(fetch_options_from_env(&opt), EINVAL);
    setenv("CCRFS_STORE_MAX_IN_FLIGHT", "-1", 1);
    assert_int_equal(fetch_options_from_env(&opt), EINVAL);
    setenv("CCRFS_STORE_MAX_IN_FLIGHT", "99999999999", 1);
    assert_int_equal(fetch_options_from_env(&opt), EINVAL);
    unsetenv("CCRFS_STORE_MAX_IN_FLIGHT");
    setenv("CCRFS_AZURE_MANAGED_IDENTITY", "yes", 1);
    assert_int_equal(fetch_options_from_env(&opt), EINVAL);
    unsetenv("CCRFS_AZURE_MANAGED_IDENTITY");
    unsetenv("CCRFS_STORE_CA_FILE");
    unsetenv("CCRFS_STORE_RETRY_BUDGET_MS");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_url),     cmocka_unit_test(test_scrub_and_encode),
        cmocka_unit_test(test_key_check),    cmocka_unit_test(test_content_range),
        cmocka_unit_test(test_pins),         cmocka_unit_test(test_file_store),
        cmocka_unit_test(test_faulty_store), cmocka_unit_test(test_store_open),
        cmocka_unit_test(test_options_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
