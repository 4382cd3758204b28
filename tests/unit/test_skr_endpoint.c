/* The SKR sidecar's maa_endpoint / akv_endpoint: host names kept, URLs reduced to their host,
 * empty or junk values refused with a message naming the option. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "keys/skr/endpoint.h"

#include <errno.h>
#include <string.h>

static void test_accepted(void **state)
{
    static const struct {
        const char *in, *host;
        int reduced;
    } table[] = {
        {"sharedeus.eus.attest.azure.net", "sharedeus.eus.attest.azure.net", 0},
        {"SharedEUS.eus.Attest.Azure.NET", "sharedeus.eus.attest.azure.net", 0},
        {"myvault.vault.azure.net", "myvault.vault.azure.net", 0},
        {"myhsm.managedhsm.azure.net:443", "myhsm.managedhsm.azure.net:443", 0},
        {"127.0.0.1:8443", "127.0.0.1:8443", 0},
        {"v", "v", 0},
        {"https://sharedeus.eus.attest.azure.net", "sharedeus.eus.attest.azure.net", 1},
        {"https://sharedeus.eus.attest.azure.net/", "sharedeus.eus.attest.azure.net", 1},
        {"HTTPS://myvault.vault.azure.net/keys/kek/0123?api-version=7.4", "myvault.vault.azure.net", 1},
        {"http://localhost:8080#x", "localhost:8080", 1},
        {"https://a-b.c-d.example?x=1", "a-b.c-d.example", 1},
    };
    char out[KEYS_SKR_HOST_MAX];
    int reduced;
    (void)state;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        int rc = keys_skr_endpoint_host(table[i].in, "--skr-akv", out, sizeof out, &reduced);
        if (rc != 0)
            fail_msg("%s: %s", table[i].in, ccr_err_msg(rc));
        assert_string_equal(out, table[i].host);
        assert_int_equal(reduced, table[i].reduced);
    }
}

static void test_refused(void **state)
{
    static const struct {
        const char *in, *why;
    } table[] = {
        {NULL, "needs --skr-maa HOST"},
        {"", "needs --skr-maa HOST"},
        {"https://", "is not a host name"},
        {"https:///path", "is not a host name"},
        {"ftp://host.example", "only a host name or an https:// URL"},
        {"file:///etc/passwd", "only a host name or an https:// URL"},
        {"host.example/attest", "without a scheme"},
        {"https://user:secret@host.example", "credentials"},
        {"my_vault.vault.azure.net", "is not a host name"},
        {"-lead.example", "is not a host name"},
        {"trail-.example", "is not a host name"},
        {"a..b", "is not a host name"},
        {".example", "is not a host name"},
        {"example.", "is not a host name"},
        {"host name", "is not a host name"},
        {"host.example:0", "port"},
        {"host.example:65536", "port"},
        {"host.example:", "port"},
        {"host.example:44a", "port"},
        {"[::1]:443", "is not a host name"},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example", "is not a host name"},
    };
    char out[KEYS_SKR_HOST_MAX];
    int reduced;
    (void)state;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        int rc = keys_skr_endpoint_host(table[i].in, "--skr-maa", out, sizeof out, &reduced);
        if (rc != EINVAL)
            fail_msg("%s: accepted as %s", table[i].in ? table[i].in : "(null)", out);
        assert_non_null(strstr(ccr_err_msg(EINVAL), "--skr-maa"));
        if (strstr(ccr_err_msg(EINVAL), table[i].why) == NULL)
            fail_msg("%s: '%s' does not say '%s'", table[i].in ? table[i].in : "(null)", ccr_err_msg(EINVAL),
                     table[i].why);
    }
}

static void test_names_the_option(void **state)
{
    char out[KEYS_SKR_HOST_MAX];
    int reduced;
    (void)state;
    assert_int_equal(keys_skr_endpoint_host("", "--skr-akv", out, sizeof out, &reduced), EINVAL);
    assert_non_null(strstr(ccr_err_msg(EINVAL), "needs --skr-akv HOST"));
    assert_non_null(strstr(ccr_err_msg(EINVAL), "vault.azure.net"));
    /* A 254-character name is one too many. */
    char longname[300];
    size_t n = 0;
    while (n + 64 < 254) {
        memset(longname + n, 'a', 63);
        longname[n + 63] = '.';
        n += 64;
    }
    memset(longname + n, 'b', 254 - n);
    longname[254] = '\0';
    assert_int_equal(keys_skr_endpoint_host(longname, "--skr-akv", out, sizeof out, &reduced), EINVAL);
    longname[253] = '\0';
    assert_int_equal(keys_skr_endpoint_host(longname, "--skr-akv", out, sizeof out, &reduced), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_names_the_option),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
