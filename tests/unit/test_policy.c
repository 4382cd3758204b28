/* Release policies: the Azure Key Vault grammar, malformed policies refused with a reason,
 * and evaluation over report claims. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "keys/broker/policy.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#define M1 "a6249f713744758d22a64d85a8d4209802ce6a61a95d4b6de506bdc8471cc047f369b05ca53589e29bb8209f570babd2"
#define M2 "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000beef"

static struct json_object *claims(const char *measurement, int debug, int vmpl)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "measurement", json_object_new_string(measurement));
    json_object_object_add(o, "host_data", json_object_new_string("00"));
    json_object_object_add(o, "debug", json_object_new_boolean(debug));
    json_object_object_add(o, "vmpl", json_object_new_int(vmpl));
    json_object_object_add(o, "reported_tcb_snp", json_object_new_int(8));
    return o;
}

static int parse(const char *text, struct keys_policy **p)
{
    return keys_policy_parse(text, strlen(text), p);
}

static void test_valid_and_eval(void **state)
{
    static const char text[] = "{\"version\":\"1.0.0\",\"anyOf\":[{\"authority\":\"local\",\"allOf\":["
                               "{\"claim\":\"measurement\",\"equals\":\"" M1 "\"},"
                               "{\"claim\":\"debug\",\"equals\":false},{\"claim\":\"vmpl\",\"equals\":0}]}]}";
    struct keys_policy *p;
    struct json_object *c;
    char reason[512];
    (void)state;
    assert_int_equal(parse(text, &p), 0);
    assert_non_null(strstr(keys_policy_text(p), "anyOf"));

    c = claims(M1, 0, 0);
    assert_int_equal(keys_policy_eval(p, c, reason, sizeof reason), 0);
    json_object_put(c);

    c = claims(M2, 0, 0);
    assert_int_equal(keys_policy_eval(p, c, reason, sizeof reason), EACCES);
    assert_non_null(strstr(reason, "claim measurement is " M2));
    json_object_put(c);

    c = claims(M1, 1, 0);
    assert_int_equal(keys_policy_eval(p, c, reason, sizeof reason), EACCES);
    assert_non_null(strstr(reason, "debug is true"));
    json_object_put(c);

    c = claims(M1, 0, 2);
    assert_int_equal(keys_policy_eval(p, c, reason, sizeof reason), EACCES);
    assert_non_null(strstr(reason, "vmpl is 2"));
    json_object_put(c);

    /* Hex compares without regard to case. */
    {
        char upper[sizeof M1];
        for (size_t i = 0; i < sizeof M1; i++)
            upper[i] = (char)(M1[i] >= 'a' && M1[i] <= 'f' ? M1[i] - 32 : M1[i]);
        c = claims(upper, 0, 0);
        assert_int_equal(keys_policy_eval(p, c, reason, sizeof reason), 0);
        json_object_put(c);
    }
    keys_policy_free(p);
}

static void test_any_of(void **state)
{
    static const char text[] = "{\"anyOf\":[{\"claim\":\"measurement\",\"equals\":\"" M1 "\"},"
                               "{\"allOf\":[{\"claim\":\"measurement\",\"equals\":\"" M2 "\"},"
                               "{\"claim\":\"reported_tcb_snp\",\"equals\":8}]}]}";
    struct keys_policy *p;
    struct json_object *c;
    char reason[512];
    (void)state;
    assert_int_equal(parse(text, &p), 0);
    c = claims(M2, 0, 0);
    assert_int_equal(keys_policy_eval(p, c, reason, sizeof reason), 0);
    json_object_put(c);
    c = claims("ff", 0, 0);
    assert_int_equal(keys_policy_eval(p, c, reason, sizeof reason), EACCES);
    assert_non_null(strstr(reason, "none of 2 alternatives"));
    json_object_put(c);
    keys_policy_free(p);
}

static void test_absent_claim(void **state)
{
    struct keys_policy *p;
    struct json_object *c = claims(M1, 0, 0);
    char reason[512];
    (void)state;
    assert_int_equal(parse("{\"allOf\":[{\"claim\":\"chip_id\",\"equals\":\"ab\"}]}", &p), 0);
    assert_int_equal(keys_policy_eval(p, c, reason, sizeof reason), EACCES);
    assert_non_null(strstr(reason, "absent"));
    keys_policy_free(p);
    json_object_put(c);
}

static void test_malformed(void **state)
{
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"", "not valid JSON"},
        {"{", "not valid JSON"},
        {"{\"anyOf\":[]} trailing", "not valid JSON"},
        {"[]", "expected an object"},
        {"{}", "needs \"anyOf\" or \"allOf\""},
        {"{\"version\":\"2.0\",\"anyOf\":[{\"claim\":\"debug\",\"equals\":false}]}", "version"},
        {"{\"anyOf\":[]}", "non-empty array"},
        {"{\"anyOf\":{}}", "non-empty array"},
        {"{\"anyOf\":[{\"claim\":\"debug\",\"equals\":false}],\"allOf\":[{\"claim\":\"debug\",\"equals\":"
         "false}]}",
         "both anyOf and allOf"},
        {"{\"anyOf\":[{\"claim\":\"measurment\",\"equals\":\"ab\"}]}", "unknown claim 'measurment'"},
        {"{\"anyOf\":[{\"claim\":\"debug\"}]}", "no \"equals\""},
        {"{\"anyOf\":[{\"equals\":true}]}", "without \"claim\""},
        {"{\"anyOf\":[{\"claim\":\"debug\",\"equals\":\"false\"}]}", "must equal a boolean"},
        {"{\"anyOf\":[{\"claim\":\"vmpl\",\"equals\":\"0\"}]}", "must equal a number"},
        {"{\"anyOf\":[{\"claim\":\"measurement\",\"equals\":1}]}", "must equal a hex string"},
        {"{\"anyOf\":[{\"claim\":7,\"equals\":1}]}", "must be a string"},
        {"{\"anyOf\":[{\"claim\":\"debug\",\"equals\":false,\"allOf\":[]}]}", "cannot also hold"},
        {"{\"anyOf\":[{\"allOf\":[{\"claim\":\"debug\",\"equals\":false,\"x\":1}]}]}",
         "anyOf[0].allOf[0]: unknown member"},
        {"{\"claim\":\"debug\",\"equals\":false}", "root"},
        {"{\"anyOf\":[{\"authority\":3,\"allOf\":[{\"claim\":\"debug\",\"equals\":false}]}]}", "authority"},
        {"{\"anyOf\":[{\"anyOf\":[{\"anyOf\":[{\"anyOf\":[{\"anyOf\":[{\"anyOf\":[{\"anyOf\":[{\"anyOf\":[{"
         "\"anyOf\":"
         "[{\"claim\":\"debug\",\"equals\":false}]}]}]}]}]}]}]}]}]}",
         "deeper"},
    };
    struct keys_policy *p;
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p = (struct keys_policy *)1;
        int rc = parse(bad[i].text, &p);
        if (rc != EINVAL || strstr(ccr_err_msg(rc), bad[i].why) == NULL)
            fail_msg("policy %zu (%s): rc %d, message '%s', wanted '%s'", i, bad[i].text, rc, ccr_err_msg(rc),
                     bad[i].why);
        assert_null(p);
    }
}

/* Random bytes and random corruption of a valid policy: refused or parsed, never a crash;
 * whatever parses evaluates without error. */
static void test_random_corruption(void **state)
{
    static const char text[] =
        "{\"version\":\"1.0.0\",\"anyOf\":[{\"allOf\":[{\"claim\":\"debug\",\"equals\":false},"
        "{\"claim\":\"vmpl\",\"equals\":0}]},{\"claim\":\"measurement\",\"equals\":\"ab\"}]}";
    char buf[sizeof text];
    struct keys_policy *p;
    struct json_object *c = claims(M1, 0, 0);
    char reason[512];
    (void)state;
    srand(11);
    for (int i = 0; i < 5000; i++) {
        memcpy(buf, text, sizeof text);
        for (int k = 0; k < 1 + rand() % 4; k++)
            buf[(size_t)rand() % (sizeof text - 1)] = (char)(32 + rand() % 95);
        if (keys_policy_parse(buf, strlen(buf), &p) == 0) {
            int rc = keys_policy_eval(p, c, reason, sizeof reason);
            assert_true(rc == 0 || rc == EACCES);
            keys_policy_free(p);
        }
    }
    json_object_put(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_and_eval),    cmocka_unit_test(test_any_of),
        cmocka_unit_test(test_absent_claim),      cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_random_corruption),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
