/* net/ without a network: the retry policy, the errno mapping, Retry-After, which methods
 * may be retried, and URL scrubbing. */
#include "net/http.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static void test_retry_policy(void **state)
{
    const struct net_retry_policy p = {100, 5000, 60000};
    (void)state;

    /* Doubling from base, jittered into [d/2, d], capped. */
    assert_int_equal(net_retry_delay_ms(&p, 1, 0), 50);
    assert_int_equal(net_retry_delay_ms(&p, 1, 50), 100);
    assert_int_equal(net_retry_delay_ms(&p, 2, 0), 100);
    assert_int_equal(net_retry_delay_ms(&p, 3, 100), 300);
    assert_int_equal(net_retry_delay_ms(&p, 3, 200), 400);
    assert_int_equal(net_retry_delay_ms(&p, 7, 0), 2500);
    assert_int_equal(net_retry_delay_ms(&p, 7, 2500), 5000);
    assert_int_equal(net_retry_delay_ms(&p, 1000, 0xFFFFFFFFu) <= 5000, 1);
    for (unsigned a = 1; a < 40; a++) {
        for (uint32_t r = 0; r < 2000; r += 97) {
            unsigned d = net_retry_delay_ms(&p, a, r * 2654435761u);
            assert_true(d >= 50 && d <= 5000);
        }
    }

    assert_true(net_retry_status(500));
    assert_true(net_retry_status(502));
    assert_true(net_retry_status(503));
    assert_true(net_retry_status(429));
    assert_true(net_retry_status(408));
    assert_false(net_retry_status(501));
    assert_false(net_retry_status(505));
    assert_false(net_retry_status(404));
    assert_false(net_retry_status(412));
    assert_false(net_retry_status(200));

    assert_int_equal(net_status_errno(404), ENOENT);
    assert_int_equal(net_status_errno(401), EACCES);
    assert_int_equal(net_status_errno(403), EACCES);
    assert_int_equal(net_status_errno(412), ESTALE);
    assert_int_equal(net_status_errno(416), EIO);
    assert_int_equal(net_status_errno(500), EIO);

    assert_int_equal(net_parse_retry_after("3"), 3000);
    assert_int_equal(net_parse_retry_after("0"), 0);
    assert_int_equal(net_parse_retry_after("99999"), 3600000);
    {
        static const char line[] = "retry-after:  7\r\nX-Next: 1"; /* not terminated where the line ends */
        unsigned ms = 1;
        assert_int_equal(net_header_retry_after(line, 17, &ms), 1);
        assert_int_equal(ms, 7000);
        assert_int_equal(net_header_retry_after("ETag: \"x\"\r\n", 11, &ms), 0);
        assert_int_equal(net_header_retry_after("Retry-After:", 12, &ms), 0);
    }
    assert_int_equal(net_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), 0);
    assert_int_equal(net_parse_retry_after("-1"), 0);
    assert_int_equal(net_parse_retry_after(""), 0);
}

static void test_mapping(void **state)
{
    (void)state;
    assert_int_equal(net_curl_errno(CURLE_COULDNT_CONNECT), ECONNREFUSED);
    assert_int_equal(net_curl_errno(CURLE_OPERATION_TIMEDOUT), ETIMEDOUT);
    assert_int_equal(net_curl_errno(CURLE_COULDNT_RESOLVE_HOST), EHOSTUNREACH);
    assert_int_equal(net_curl_errno(CURLE_OUT_OF_MEMORY), ENOMEM);
    assert_int_equal(net_curl_errno(CURLE_PEER_FAILED_VERIFICATION), EIO);
    assert_true(net_retry_curl(CURLE_COULDNT_CONNECT));
    assert_true(net_retry_curl(CURLE_RECV_ERROR));
    assert_true(net_retry_curl(CURLE_GOT_NOTHING));
    assert_false(net_retry_curl(CURLE_PEER_FAILED_VERIFICATION));
    assert_false(net_retry_curl(CURLE_COULDNT_RESOLVE_HOST));
    assert_false(net_retry_curl(CURLE_WRITE_ERROR));
    assert_true(net_method_idempotent("GET"));
    assert_true(net_method_idempotent("put"));
    assert_true(net_method_idempotent("DELETE"));
    assert_false(net_method_idempotent("POST"));
    assert_false(net_method_idempotent("PATCH"));
}

static void test_scrub(void **state)
{
    char out[128];
    (void)state;
    net_url_scrub("https://u:pw@acct.blob.core.windows.net/c/x?sv=1&sig=SECRET#f", out, sizeof out);
    assert_string_equal(out, "https://acct.blob.core.windows.net/c/x?<redacted>");
    net_url_public("https://u:pw@acct.blob.core.windows.net/c/x?sv=1&sig=SECRET", out, sizeof out);
    assert_string_equal(out, "https://acct.blob.core.windows.net/c/x");
    net_url_scrub("http://h/x", out, sizeof out);
    assert_string_equal(out, "http://h/x");
    /* Truncation never lets the query through. */
    net_url_scrub("https://h/p?sig=SECRETSECRET", out, 12);
    assert_null(strstr(out, "SECRET"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_policy),
        cmocka_unit_test(test_mapping),
        cmocka_unit_test(test_scrub),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
