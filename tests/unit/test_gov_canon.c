/* Canonical JSON (known answers, escapes, refusals), event sealing and hashing, times, and
 * the governance mount options. */
#include "common/err.h"
#include "governance/audit.h"
#include "governance/canon.h"
#include "governance/event.h"
#include "governance/gov.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

static char *canon_of(const char *text)
{
    json_object *v;
    char *out;
    assert_int_equal(gov_json_parse(text, strlen(text), "test", &v), 0);
    assert_int_equal(gov_canon_json(v, NULL, &out, NULL), 0);
    json_object_put(v);
    return out;
}

static void test_canonical_known_answers(void **state)
{
    static const struct {
        const char *in, *out;
    } kat[] = {
        {"{ \"b\" : 1, \"a\" : [ true, false, null ], \"A\": {} }",
         "{\"A\":{},\"a\":[true,false,null],\"b\":1}"},
        {"\"a/b\\u00e9\\n\\t\\\"\\\\\\u0001\\u001f\\u007f\"",
         "\"a/b\xc3\xa9\\n\\t\\\"\\\\\\u0001\\u001f\x7f\""},
        {"[-12, 0, 9007199254740993]", "[-12,0,9007199254740993]"},
        {"{\"z\":{\"y\":[{\"b\":\"\",\"a\":\"\\b\\f\\r\"}]}}",
         "{\"z\":{\"y\":[{\"a\":\"\\b\\f\\r\",\"b\":\"\"}]}}"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
        char *out = canon_of(kat[i].in);
        assert_string_equal(out, kat[i].out);
        free(out);
    }
}

static void test_canonical_refusals(void **state)
{
    json_object *v;
    char *out;
    static const char *const skip[] = {"b", NULL};
    (void)state;
    assert_int_equal(gov_json_parse("{\"x\": 1.5}", 10, "t", &v), 0);
    assert_int_equal(gov_canon_json(v, NULL, &out, NULL), EINVAL);
    assert_non_null(strstr(ccr_err_msg(EINVAL), "\"x\""));
    json_object_put(v);
    assert_int_equal(gov_json_parse("{\"a\":1,\"b\":2}", 13, "t", &v), 0);
    assert_int_equal(gov_canon_json(v, skip, &out, NULL), 0);
    assert_string_equal(out, "{\"a\":1}");
    free(out);
    json_object_put(v);
    assert_int_equal(gov_json_parse("{} x", 4, "t", &v), EINVAL);
    assert_int_equal(gov_json_parse("{\"a\":", 5, "t", &v), EINVAL);
    assert_non_null(strstr(ccr_err_msg(EINVAL), "ends early"));
    assert_int_equal(gov_json_parse("\"\0\"", 3, "t", &v), EINVAL);
    assert_int_equal(gov_json_parse("\"\xc3\"", 3, "t", &v), EINVAL);
}

static void test_event_chain(void **state)
{
    struct gov_chain c;
    json_object *ev, *back;
    char *l1, *l2, h[GOV_HASH_HEX + 1];
    size_t n1, n2;
    (void)state;

    assert_int_equal(gov_chain_init(&c), 0);
    assert_int_equal(strlen(c.id), GOV_CHAIN_ID_HEX);
    ev = gov_event_new("open");
    json_object_object_add(ev, "path", json_object_new_string("a"));
    assert_int_equal(gov_event_seal(&c, ev, &l1, &n1), 0);
    json_object_put(ev);
    ev = gov_event_new("release");
    assert_int_equal(gov_event_seal(&c, ev, &l2, &n2), 0);
    json_object_put(ev);
    assert_int_equal(c.next_seq, 2);
    assert_int_equal(gov_json_parse(l1, n1, "l1", &back), 0);
    assert_string_equal(gov_json_str(back, "prev"),
                        "0000000000000000000000000000000000000000000000000000000000000000");
    assert_int_equal(gov_event_hash(back, h), 0);
    assert_string_equal(h, gov_json_str(back, "hash"));
    json_object_put(back);
    /* The second links to the first, and the head is the second's hash. */
    assert_int_equal(gov_json_parse(l2, n2, "l2", &back), 0);
    assert_non_null(strstr(l1, gov_json_str(back, "prev")));
    assert_string_equal(c.head, gov_json_str(back, "hash"));
    json_object_put(back);
    free(l1);
    free(l2);
}

static void test_event_hash_known_answer(void **state)
{
    /* SHA-256 of {"chain":"00","seq":0,"type":"open"}, computed independently. */
    const char *text = "{\"type\":\"open\",\"seq\":0,\"chain\":\"00\",\"hash\":\"x\"}";
    json_object *v;
    char h[GOV_HASH_HEX + 1];
    (void)state;
    assert_int_equal(gov_json_parse(text, strlen(text), "t", &v), 0);
    assert_int_equal(gov_event_hash(v, h), 0);
    assert_string_equal(h, "a683d716b8494fd8b4a68bf5d07f20affb73fc1c0cb68e1fc0db24c621002844");
    json_object_put(v);
}

static void test_times(void **state)
{
    int64_t ms;
    (void)state;
    assert_int_equal(gov_time_parse_ms("1970-01-01T00:00:00Z", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(gov_time_parse_ms("2026-11-21T07:36:11.123Z", &ms), 0);
    assert_int_equal(ms, 1795246571123LL);
    assert_int_equal(gov_time_parse_ms("2024-02-29T00:00:00Z", &ms), 0);
    assert_int_equal(gov_time_parse_ms("2023-02-29T00:00:00Z", &ms), EINVAL);
    assert_int_equal(gov_time_parse_ms("2026-11-21 07:36:11Z", &ms), EINVAL);
    assert_int_equal(gov_time_parse_ms("2026-11-21T07:36:11+01:00", &ms), EINVAL);
    assert_int_equal(gov_time_parse_ms("2026-13-01T00:00:00Z", &ms), EINVAL);
    assert_int_equal(gov_time_parse_ms("2026-1a-01T00:00:00Z", &ms), EINVAL);
    assert_int_equal(gov_time_parse_ms("", &ms), EINVAL);
}

static void test_mount_options(void **state)
{
    struct gov_config cfg = {0};
    (void)state;
    assert_int_equal(gov_config_option(&cfg, "consent_interval", "3"), 0);
    assert_int_equal(cfg.consent_interval_s, 3);
    assert_int_equal(gov_config_option(&cfg, "spool_max", "8M"), 0);
    assert_int_equal(cfg.spool_max_bytes, 8 << 20);
    assert_int_equal(gov_config_option(&cfg, "governance", "http://127.0.0.1:1"), 0);
    assert_string_equal(cfg.governance_url, "http://127.0.0.1:1");
    assert_int_equal(gov_config_option(&cfg, "governance_optional", NULL), 0);
    assert_int_equal(cfg.governance_optional, 1);
    assert_int_equal(gov_config_option(&cfg, "grace", "0"), EINVAL);
    assert_non_null(strstr(ccr_err_msg(EINVAL), "grace"));
    assert_int_equal(gov_config_option(&cfg, "spool_max", "1K"), EINVAL);
    assert_int_equal(gov_config_option(&cfg, "spool_max", "12X"), EINVAL);
    assert_int_equal(gov_config_option(&cfg, "consent_interval", "-1"), EINVAL);
    assert_int_equal(gov_config_option(&cfg, "contract", ""), EINVAL);
    assert_int_equal(gov_config_option(&cfg, "governance_optional", "1"), EINVAL);
    assert_int_equal(gov_config_option(&cfg, "allow_other", NULL), ENOENT);
}

/* Random edits of a sealed event line fed to the audit verifier: never a crash; an edit is
 * either refused with a message or leaves the line's content intact (e.g. an edit inside
 * whitespace-free canonical text can only break it). */
static void test_audit_mutations(void **state)
{
    struct gov_chain c;
    json_object *ev;
    char *line, *buf;
    size_t n;
    uint64_t x = 0x2545f4914f6cdd1dULL;
    (void)state;

    assert_int_equal(gov_chain_init(&c), 0);
    ev = gov_event_new("read");
    json_object_object_add(ev, "path", json_object_new_string("dir/file \"q\""));
    json_object_object_add(ev, "ranges", json_object_new_array());
    assert_int_equal(gov_event_seal(&c, ev, &line, &n), 0);
    json_object_put(ev);
    buf = malloc(n + 1);
    for (int round = 0; round < 3000; round++) {
        struct gov_audit *a;
        size_t len = n, at;
        int rc;
        memcpy(buf, line, n);
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        at = (size_t)(x >> 8) % n;
        if (x % 3 == 0)
            len = at;
        else
            buf[at] = (char)(x >> 40);
        assert_int_equal(gov_audit_new(NULL, &a), 0);
        rc = gov_audit_add(a, buf, len, "line 1");
        if (len == n && memcmp(buf, line, n) == 0)
            assert_int_equal(rc, 0);
        else
            assert_int_equal(rc, EBADMSG);
        gov_audit_free(a);
    }
    free(buf);
    free(line);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_known_answers),
        cmocka_unit_test(test_canonical_refusals),
        cmocka_unit_test(test_event_chain),
        cmocka_unit_test(test_event_hash_known_answer),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_mount_options),
        cmocka_unit_test(test_audit_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
