/* The SNP evidence JSON of the KBS protocol (the sev crate's serde layout that Trustee and
 * guest-components use) both ways, with malformed variants. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/bytes.h"
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
    mutate_and_expect("current.build", "300", "current: \"build\" is 300, above 255");
    mutate_and_expect("committed", NULL, "\"committed\" is missing");
    mutate_and_expect("key_info", NULL, "\"key_info\" is missing");
    mutate_and_expect("launch_mit_vector", "\"1\"", "\"launch_mit_vector\" is missing or not a number");
    mutate_and_expect("current_tcb.fmc", "3", "current_tcb: \"fmc\" is set, but only a Turin TCB has one");
}

/* A sev 6.0-6.2 rendering (no mitigation vector keys) and the newest one decode to the same
 * bytes; an old sev <= 5 rendering is refused naming the first key it lacks. */
static void test_report_layouts(void **state)
{
    uint8_t raw[KEYS_SNP_REPORT_LEN] = {0}, back[KEYS_SNP_REPORT_LEN];
    struct json_object *o, *v;
    (void)state;
    raw[0] = 3;
    raw[KEYS_SNP_OFF_SIG_ALGO] = 1;
    raw[KEYS_SNP_OFF_CPUID_FAM_ID] = 0x19;
    raw[KEYS_SNP_OFF_CPUID_MOD_ID] = 0x11;
    raw[KEYS_SNP_OFF_CPUID_STEP] = 1;
    raw[KEYS_SNP_OFF_CURRENT_VERSION] = 40; /* build */
    raw[KEYS_SNP_OFF_CURRENT_VERSION + 2] = 1;
    raw[KEYS_SNP_OFF_REPORTED_TCB + 6] = 23;
    o = keys_kbs_snp_report_json(raw);
    assert_true(json_object_object_get_ex(o, "current", &v));
    assert_non_null(strstr(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN),
                           "{\"major\":1,\"minor\":0,\"build\":40}"));
    assert_true(json_object_object_get_ex(o, "reported_tcb", &v));
    assert_string_equal(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN),
                        "{\"fmc\":null,\"bootloader\":0,\"tee\":0,\"snp\":23,\"microcode\":0}");
    assert_true(json_object_object_get_ex(o, "cpuid_mod_id", &v));
    assert_int_equal(json_object_get_int(v), 0x11);
    assert_int_equal(keys_kbs_snp_report_from_json(o, back), 0);
    assert_memory_equal(back, raw, sizeof raw);
    json_object_object_del(o, "launch_mit_vector");
    json_object_object_del(o, "current_mit_vector");
    assert_int_equal(keys_kbs_snp_report_from_json(o, back), 0);
    assert_memory_equal(back, raw, sizeof raw);
    /* a Turin report needs fmc */
    raw[KEYS_SNP_OFF_CPUID_FAM_ID] = 0x1A;
    raw[KEYS_SNP_OFF_CPUID_MOD_ID] = 0x02;
    raw[KEYS_SNP_OFF_REPORTED_TCB + 6] = 0;
    raw[KEYS_SNP_OFF_REPORTED_TCB] = 1;
    json_object_put(o);
    o = keys_kbs_snp_report_json(raw);
    assert_int_equal(keys_kbs_snp_report_from_json(o, back), 0);
    assert_memory_equal(back, raw, sizeof raw);
    assert_true(json_object_object_get_ex(o, "reported_tcb", &v));
    json_object_object_add(v, "fmc", NULL);
    assert_int_equal(keys_kbs_snp_report_from_json(o, back), EINVAL);
    assert_non_null(strstr(ccr_err_msg(EINVAL), "\"fmc\" is null, but a Turin TCB has one"));
    json_object_put(o);
    /* u64 fields above 2^63 survive the text */
    ccr_put_le64(raw + KEYS_SNP_OFF_POLICY, UINT64_MAX);
    o = keys_kbs_snp_report_json(raw);
    struct json_object *again = json_tokener_parse(json_object_to_json_string(o));
    assert_int_equal(keys_kbs_snp_report_from_json(again, back), 0);
    assert_memory_equal(back, raw, sizeof raw);
    json_object_put(again);
    json_object_put(o);
    ccr_put_le64(raw + KEYS_SNP_OFF_POLICY, 0);
    /* version 5: the mitigation vectors are numbers */
    raw[0] = 5;
    raw[KEYS_SNP_OFF_LAUNCH_MIT_VECTOR] = 1;
    raw[KEYS_SNP_OFF_CURRENT_MIT_VECTOR] = 3;
    o = keys_kbs_snp_report_json(raw);
    assert_true(json_object_object_get_ex(o, "current_mit_vector", &v));
    assert_int_equal(json_object_get_int(v), 3);
    assert_int_equal(keys_kbs_snp_report_from_json(o, back), 0);
    assert_memory_equal(back, raw, sizeof raw);
    json_object_put(o);
    /* sev <= 5.x: _author_key_en, current_build..., no key_info */
    o = json_tokener_parse("{\"version\":2,\"guest_svn\":0,\"policy\":0,\"_author_key_en\":0}");
    assert_int_equal(keys_kbs_snp_report_from_json(o, back), EINVAL);
    assert_non_null(strstr(ccr_err_msg(EINVAL), "\"family_id\" is missing"));
    json_object_put(o);
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
    /* an {"OTHER": uuid} entry before it is skipped */
    json_object_object_get_ex(o, "cert_chain", &chain);
    json_object_array_put_idx(chain, 1, json_object_get(json_object_array_get_idx(chain, 0)));
    json_object_array_put_idx(
        chain, 0,
        json_tokener_parse(
            "{\"cert_type\":{\"OTHER\":\"00000000-0000-0000-0000-000000000000\"},\"data\":[1]}"));
    assert_int_equal(keys_kbs_snp_evidence_parse(o, &r, &der, &len), 0);
    assert_int_equal(len, 3);
    free(der);
    json_object_array_del_idx(chain, 0, 1);
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
    /* no certificate: cert_chain is null (Trustee fetches the VCEK from a KDS then) */
    json_object_put(o);
    ev.vcek_der = NULL;
    o = keys_kbs_snp_evidence(&ev);
    assert_true(json_object_object_get_ex(o, "cert_chain", &chain));
    assert_null(chain);
    ev.vcek_der = cert;
    /* a report that is not version 2 to 5 */
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
        cmocka_unit_test(test_report_layouts),
        cmocka_unit_test(test_evidence),
        cmocka_unit_test(test_evidence_random_corruption),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
