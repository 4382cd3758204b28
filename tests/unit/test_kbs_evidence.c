/* The SNP evidence JSON of the KBS protocol (Trustee's shape) both ways, with malformed
 * variants. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "keys/attest/snp.h"
#include "keys/kbs/snp_evidence.h"

#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void test_report_roundtrip(void **state)
{
    char path[600];
    struct keys_snp_report r;
    struct stat st;
    uint8_t back[KEYS_SNP_REPORT_LEN];
    struct json_object *o, *tcb, *v;
    (void)state;
    snprintf(path, sizeof path, "%s/snp/aci-milan/snp_report.bin", CCRFS_TESTVECTORS);
    if (stat(path, &st) != 0)
        skip();
    assert_int_equal(keys_snp_report_load(path, &r), 0);
    o = keys_kbs_snp_report_json(r.raw);
    assert_true(json_object_object_get_ex(o, "reported_tcb", &tcb));
    assert_true(json_object_object_get_ex(tcb, "microcode", &v));
    assert_int_equal(json_object_get_int(v), r.reported_tcb.microcode);
    assert_true(json_object_object_get_ex(o, "policy", &v));
    assert_int_equal(json_object_get_int64(v), 0x3001f);
    /* Through text and back: every one of the 1184 bytes comes back. */
    struct json_object *again = json_tokener_parse(json_object_to_json_string(o));
    assert_int_equal(keys_kbs_snp_report_from_json(again, back), 0);
    assert_memory_equal(back, r.raw, sizeof back);
    json_object_put(again);
    json_object_put(o);
}

static void mutate_and_expect(const char *jq_path, const char *new_json, const char *words)
{
    uint8_t raw[KEYS_SNP_REPORT_LEN] = {0}, back[KEYS_SNP_REPORT_LEN];
    struct json_object *o, *parent;
    char name[64];
    const char *dot;

    raw[0] = 2;
    raw[KEYS_SNP_OFF_SIG_ALGO] = 1;
    o = keys_kbs_snp_report_json(raw);
    parent = o;
    dot = strchr(jq_path, '.');
    if (dot != NULL) {
        snprintf(name, sizeof name, "%.*s", (int)(dot - jq_path), jq_path);
        json_object_object_get_ex(o, name, &parent);
        jq_path = dot + 1;
    }
    if (new_json == NULL)
        json_object_object_del(parent, jq_path);
    else
        json_object_object_add(parent, jq_path, json_tokener_parse(new_json));
    if (keys_kbs_snp_report_from_json(o, back) != EINVAL || strstr(ccr_err_msg(EINVAL), words) == NULL)
        fail_msg("mutating %s: expected EINVAL with '%s', got '%s'", jq_path, words, ccr_err_msg(EINVAL));
    json_object_put(o);
}

static void test_report_malformed(void **state)
{
    (void)state;
    mutate_and_expect("chip_id", NULL, "\"chip_id\" is missing");
    mutate_and_expect("measurement", "[1,2,3]", "\"measurement\" holds 3 bytes, expected 48");
    mutate_and_expect("host_data", "[256,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]",
                      "\"host_data\"[0] is not a byte");
    mutate_and_expect("vmpl", "-1", "\"vmpl\" is negative");
    mutate_and_expect("vmpl", "4294967296", "above");
    mutate_and_expect("guest_svn", "\"1\"", "not a number");
    mutate_and_expect("reported_tcb.snp", NULL, "reported_tcb: \"snp\" is missing");
    mutate_and_expect("signature.s", NULL, "signature: \"s\" is missing");
    mutate_and_expect("current_build", "300", "above 255");
}

static void test_evidence(void **state)
{
    struct keys_evidence ev = {0};
    struct keys_snp_report r;
    uint8_t *der;
    size_t len;
    struct json_object *o, *chain;
    uint8_t cert[3] = {0x30, 0x01, 0x00};
    (void)state;
    ev.report[0] = 2;
    ev.report[KEYS_SNP_OFF_SIG_ALGO] = 1;
    ev.report[KEYS_SNP_OFF_MEASUREMENT] = 0xab;
    ev.vcek_der = cert;
    ev.vcek_len = sizeof cert;
    o = keys_kbs_snp_evidence(&ev);
    assert_int_equal(keys_kbs_snp_evidence_parse(o, &r, &der, &len), 0);
    assert_int_equal(r.measurement[0], 0xab);
    assert_int_equal(len, 3);
    assert_memory_equal(der, cert, 3);
    free(der);
    /* cert_chain without a VCEK, null (as guest-components sends it) or absent: no VCEK, not an
     * error; anything else is */
    json_object_object_get_ex(o, "cert_chain", &chain);
    json_object_object_add(json_object_array_get_idx(chain, 0), "cert_type", json_object_new_string("ASK"));
    assert_int_equal(keys_kbs_snp_evidence_parse(o, &r, &der, &len), 0);
    assert_null(der);
    json_object_object_add(o, "cert_chain", NULL);
    assert_int_equal(keys_kbs_snp_evidence_parse(o, &r, &der, &len), 0);
    assert_null(der);
    json_object_object_del(o, "cert_chain");
    assert_int_equal(keys_kbs_snp_evidence_parse(o, &r, &der, &len), 0);
    assert_null(der);
    json_object_object_add(o, "cert_chain", json_object_new_string("VCEK"));
    assert_int_equal(keys_kbs_snp_evidence_parse(o, &r, &der, &len), EINVAL);
    assert_non_null(strstr(ccr_err_msg(EINVAL), "cert_chain"));
    /* a report that is not version 2/3 */
    ev.report[0] = 9;
    json_object_put(o);
    o = keys_kbs_snp_evidence(&ev);
    assert_int_equal(keys_kbs_snp_evidence_parse(o, &r, &der, &len), EINVAL);
    assert_non_null(strstr(ccr_err_msg(EINVAL), "version 9"));
    json_object_put(o);
}

/* Random corruption of serialized evidence: refused or parsed, never a crash. */
static void test_evidence_random_corruption(void **state)
{
    struct keys_evidence ev = {0};
    uint8_t cert[64];
    struct json_object *o, *p;
    struct keys_snp_report r;
    uint8_t *der;
    size_t len, n;
    char *text, *bad;
    (void)state;
    ev.report[0] = 2;
    ev.report[KEYS_SNP_OFF_SIG_ALGO] = 1;
    memset(cert, 0x30, sizeof cert);
    ev.vcek_der = cert;
    ev.vcek_len = sizeof cert;
    o = keys_kbs_snp_evidence(&ev);
    text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    n = strlen(text);
    bad = malloc(n + 1);
    srand(3);
    for (int i = 0; i < 2000; i++) {
        memcpy(bad, text, n + 1);
        for (int k = 0; k < 1 + rand() % 4; k++)
            bad[(size_t)rand() % n] = "0123456789[]{},:\"-abc"[rand() % 22];
        p = json_tokener_parse(bad);
        if (p != NULL && keys_kbs_snp_evidence_parse(p, &r, &der, &len) == 0)
            free(der);
        json_object_put(p);
    }
    free(bad);
    free(text);
    json_object_put(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_roundtrip),
        cmocka_unit_test(test_report_malformed),
        cmocka_unit_test(test_evidence),
        cmocka_unit_test(test_evidence_random_corruption),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
