/* Scrubbing store URLs for messages, logs and /proc/mounts: no query (SAS, pre-signed
 * signatures) and no userinfo ever shown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fetch/http.h"

#include <string.h>

static void test_scrub(void **state)
{
    static const char *const in[][3] = {
        {"az://acct/cont/prefix?sv=2024&sig=SECRETSIG", "az://acct/cont/prefix?<redacted>",
         "az://acct/cont/prefix"},
        {"https://user:pw@host:8080/a/b?X-Amz-Signature=abc#frag", "https://host:8080/a/b?<redacted>",
         "https://host:8080/a/b"},
        {"https://token@host/x", "https://host/x", "https://host/x"},
        {"http://127.0.0.1:8080/data", "http://127.0.0.1:8080/data", "http://127.0.0.1:8080/data"},
        {"http://h/p#sig=x", "http://h/p", "http://h/p"},
        {"http://h?sig=x", "http://h?<redacted>", "http://h"},
        {"/srv/data/set1", "/srv/data/set1", "/srv/data/set1"},
        {"file:///srv/a@b/c", "file:///srv/a@b/c", "file:///srv/a@b/c"},
    };
    char out[256];
    (void)state;
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        fetch_url_scrub(in[i][0], out, sizeof out);
        assert_string_equal(out, in[i][1]);
        assert_null(strstr(out, "SECRET"));
        fetch_url_public(in[i][0], out, sizeof out);
        assert_string_equal(out, in[i][2]);
    }
    /* truncation never leaves a partial secret: the query is cut before copying */
    fetch_url_scrub("https://h/p?sig=SECRETSECRET", out, 12);
    assert_null(strstr(out, "SECRET"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scrub),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
