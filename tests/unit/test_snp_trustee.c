/* SEV-SNP evidence of every generation against upstream vectors: Trustee's own Genoa v3
 * evidence JSON (sev 6.0-6.2 form), evidence in the sev >= 6.3 form built from a real Genoa
 * v5 report, Trustee's Milan v2 and VLEK reports, verified against the embedded AMD roots
 * (ASK and ASVK) at pinned times; and each refusal with its reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/bytes.h"
#include "common/err.h"
#include "common/fileio.h"
#include "keys/attest/roots.h"
#include "keys/attest/snp.h"
#include "keys/kbs/snp_evidence.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Validity windows: the Milan VCEK and the VLEK (Dec 2024 - Dec 2025), the Genoa VCEKs (from
 * May and Aug 2025, seven years). */
#define PIN_MILAN ((time_t)1704067200) /* 2024-01-01 */
#define PIN_VLEK  ((time_t)1748736000) /* 2025-06-01 */
#define PIN_GENOA ((time_t)1756684800) /* 2025-09-01 */

static int vpath(char *out, size_t len, const char *rel)
{
    struct stat st;
    snprintf(out, len, "%s/%s", CCRFS_TESTVECTORS, rel);
    return stat(out, &st) == 0;
}

static struct json_object *load_json(const char *rel)
{
    char p[1024];
    uint8_t *buf;
    size_t len;
    struct json_object *o;
    if (!vpath(p, sizeof p, rel))
        return NULL;
    assert_int_equal(ccr_read_file(p, 1 << 20, &buf, &len), 0);
    o = json_tokener_parse((const char *)buf);
    free(buf);
    assert_non_null(o);
    return o;
}

static void load_bin(const char *rel, uint8_t **buf, size_t *len)
{
    char p[1024];
    assert_true(vpath(p, sizeof p, rel));
    assert_int_equal(ccr_read_file(p, 1 << 20, buf, len), 0);
}

static X509 *load_cert(const char *rel)
{
    char p[1024];
    X509 *x;
    assert_true(vpath(p, sizeof p, rel));
    assert_int_equal(keys_x509_load(p, &x), 0);
    return x;
}

/* Verifies against the embedded AMD roots as a broker does; returns the rc. */
static int verify_amd(const struct keys_snp_report *r, X509 *vek, time_t at,
                      const struct keys_snp_verify_opts *o, struct keys_snp_verdict *v)
{
    struct keys_snp_roots *roots;
    X509 *ask, *ark;
    int rc;
    assert_int_equal(keys_snp_roots_amd(&roots), 0);
    rc = keys_snp_roots_find(roots, vek, &ask, &ark, NULL, NULL);
    if (rc == 0)
        rc = keys_snp_verify_ex(r, vek, ask, ark, at, o, v);
    keys_snp_roots_free(roots);
    return rc;
}

static void expect_refusal(int rc, const char *words)
{
    if (rc == 0 || strstr(ccr_err_msg(rc), words) == NULL)
        fail_msg("expected a refusal naming '%s', got rc %d: '%s'", words, rc, rc ? ccr_err_msg(rc) : "");
}

/* Parses evidence; checks the report equals the binary vector and the VCEK is there. */
static void parse_evidence(struct json_object *ev, const char *bin_rel, struct keys_snp_report *r,
                           X509 **vcek)
{
    uint8_t *der, *bin;
    size_t len, bin_len;
    assert_int_equal(keys_kbs_snp_evidence_parse(ev, r, &der, &len), 0);
    assert_non_null(der);
    assert_int_equal(keys_x509_from_der(der, len, vcek), 0);
    free(der);
    load_bin(bin_rel, &bin, &bin_len);
    assert_int_equal(bin_len, KEYS_SNP_REPORT_LEN);
    assert_memory_equal(r->raw, bin, KEYS_SNP_REPORT_LEN);
    free(bin);
}

/* The report re-encoded is the sender's JSON, key for key and in order. */
static void assert_same_json(struct json_object *mine, struct json_object *theirs)
{
    const char *a = json_object_to_json_string_ext(mine, JSON_C_TO_STRING_PLAIN);
    const char *b = json_object_to_json_string_ext(theirs, JSON_C_TO_STRING_PLAIN);
    if (strcmp(a, b) != 0)
        fail_msg("re-encoded report differs:\n%.400s\n%.400s", a, b);
}

static void test_trustee_genoa_v3(void **state)
{
    struct json_object *ev = load_json("trustee/snp/snp_evidence_genoa_v3_with_vcek.json"), *mine, *rep, *c,
                       *v;
    struct keys_snp_report r;
    struct keys_snp_verdict verdict;
    X509 *vcek;
    (void)state;
    if (ev == NULL)
        skip();
    parse_evidence(ev, "snp-newer/genoa-v3/report.bin", &r, &vcek);
    assert_int_equal(r.version, 3);
    assert_int_equal(r.product, KEYS_SNP_PRODUCT_GENOA);
    assert_int_equal(r.reported_tcb.snp, 23);
    assert_int_equal(r.reported_tcb.microcode, 25);
    assert_int_equal(r.current.minor, 55);
    assert_int_equal(verify_amd(&r, vcek, PIN_GENOA, NULL, &verdict), 0);
    assert_string_equal(verdict.ark_cn, "ARK-Genoa");
    assert_int_equal(verdict.signing_key, KEYS_SNP_KEY_VCEK);
    /* Trustee's minimum (3) holds */
    struct keys_snp_verify_opts o = {.min_version = 3, .key = KEYS_SNP_KEY_ONLY_VCEK};
    assert_int_equal(verify_amd(&r, vcek, PIN_GENOA, &o, &verdict), 0);
    c = keys_snp_claims(&r);
    assert_true(json_object_object_get_ex(c, "product", &v));
    assert_string_equal(json_object_get_string(v), "Genoa");
    assert_true(json_object_object_get_ex(c, "signing_key", &v));
    assert_string_equal(json_object_get_string(v), "VCEK");
    assert_true(json_object_object_get_ex(c, "reported_tcb_fmc", &v));
    assert_int_equal(json_object_get_int(v), 0);
    assert_true(json_object_object_get_ex(c, "current_firmware", &v));
    assert_string_equal(json_object_get_string(v), "1.55.40");
    json_object_put(c);
    /* Re-encoded in the newest layout: the sender's JSON plus null mitigation vectors. */
    mine = keys_kbs_snp_report_json(r.raw);
    assert_true(json_object_object_get_ex(mine, "launch_mit_vector", &v));
    assert_true(json_object_is_type(v, json_type_null));
    json_object_object_del(mine, "launch_mit_vector");
    json_object_object_del(mine, "current_mit_vector");
    json_object_object_get_ex(ev, "attestation_report", &rep);
    assert_same_json(mine, rep);
    json_object_put(mine);
    X509_free(vcek);
    json_object_put(ev);
}

static void test_constructed_genoa_v5(void **state)
{
    struct json_object *ev = load_json("trustee/snp/constructed/snp_evidence_genoa_v5_from_oak.json"), *mine,
                       *rep;
    struct json_object *out;
    struct keys_snp_report r;
    struct keys_snp_verdict verdict;
    struct keys_evidence e = {0};
    X509 *vcek;
    uint8_t *der;
    size_t len;
    (void)state;
    if (ev == NULL)
        skip();
    parse_evidence(ev, "snp-newer/genoa-v5/report.bin", &r, &vcek);
    assert_int_equal(r.version, 5);
    assert_int_equal(r.product, KEYS_SNP_PRODUCT_GENOA);
    assert_int_equal(r.launch_mit_vector, 1);
    assert_int_equal(r.current_mit_vector, 1);
    assert_int_equal(verify_amd(&r, vcek, PIN_GENOA, NULL, &verdict), 0);
    assert_int_equal(verdict.product, KEYS_SNP_PRODUCT_GENOA);
    /* The whole evidence re-encodes to the sender's JSON (sev >= 6.3 form). */
    memcpy(e.report, r.raw, KEYS_SNP_REPORT_LEN);
    assert_int_equal(keys_x509_to_der(vcek, &der, &len), 0);
    e.vcek_der = der;
    e.vcek_len = len;
    out = keys_kbs_snp_evidence(&e);
    assert_same_json(out, ev);
    json_object_put(out);
    free(der);
    mine = keys_kbs_snp_report_json(r.raw);
    json_object_object_get_ex(ev, "attestation_report", &rep);
    assert_same_json(mine, rep);
    json_object_put(mine);
    X509_free(vcek);
    json_object_put(ev);
}

static void test_binary_vectors_verify(void **state)
{
    static const struct {
        const char *report, *vek;
        time_t at;
        enum keys_snp_product product;
        uint32_t version;
    } vecs[] = {
        {"snp-newer/genoa-v3/report.bin", "snp-newer/genoa-v3/vcek.der", PIN_GENOA, KEYS_SNP_PRODUCT_GENOA,
         3},
        {"snp-newer/genoa-v5/report.bin", "snp-newer/genoa-v5/vcek.der", PIN_GENOA, KEYS_SNP_PRODUCT_GENOA,
         5},
        {"trustee/snp/test-report.bin", "trustee/snp/test-vcek.der", PIN_MILAN, KEYS_SNP_PRODUCT_MILAN, 2},
    };
    char p[1024];
    (void)state;
    if (!vpath(p, sizeof p, "snp-newer"))
        skip();
    for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++) {
        struct keys_snp_report r;
        struct keys_snp_verdict v;
        X509 *vek = load_cert(vecs[i].vek);
        struct json_object *j, *c, *x;
        uint8_t back[KEYS_SNP_REPORT_LEN];
        assert_true(vpath(p, sizeof p, vecs[i].report));
        assert_int_equal(keys_snp_report_load(p, &r), 0);
        assert_int_equal(r.version, vecs[i].version);
        if (verify_amd(&r, vek, vecs[i].at, NULL, &v) != 0)
            fail_msg("%s: %s", vecs[i].report, ccr_err_msg(EBADMSG));
        assert_int_equal(v.product, vecs[i].product);
        /* a version 2 report learns its product from the chain */
        c = keys_snp_claims_verified(&r, &v);
        assert_true(json_object_object_get_ex(c, "product", &x));
        assert_string_equal(json_object_get_string(x), keys_snp_product_name(vecs[i].product));
        json_object_put(c);
        /* JSON both ways gives the same bytes */
        j = keys_kbs_snp_report_json(r.raw);
        assert_int_equal(keys_kbs_snp_report_from_json(j, back), 0);
        assert_memory_equal(back, r.raw, sizeof back);
        json_object_put(j);
        X509_free(vek);
    }
}

/* The SNP reports inside Azure vTPM evidence (at offset 32 of the HCL report): a Genoa v3 and
 * a Milan v2, verified with the VCEKs beside them and the built-in roots. */
static void test_azure_hcl_reports(void **state)
{
    struct json_object *ev = load_json("trustee/az-snp-vtpm/evidence-genoa.json"), *arr;
    struct keys_snp_report r;
    struct keys_snp_verdict v;
    uint8_t raw[KEYS_SNP_REPORT_LEN], *buf;
    size_t len;
    X509 *vcek;
    (void)state;
    if (ev == NULL)
        skip();
    assert_true(json_object_object_get_ex(ev, "report", &arr));
    assert_true(json_object_array_length(arr) >= 32 + KEYS_SNP_REPORT_LEN);
    for (size_t i = 0; i < KEYS_SNP_REPORT_LEN; i++)
        raw[i] = (uint8_t)json_object_get_int(json_object_array_get_idx(arr, 32 + i));
    json_object_put(ev);
    assert_int_equal(keys_snp_report_parse(raw, sizeof raw, &r), 0);
    assert_int_equal(r.version, 3);
    assert_int_equal(r.product, KEYS_SNP_PRODUCT_GENOA);
    vcek = load_cert("trustee/az-snp-vtpm/vcek-genoa.pem");
    assert_int_equal(verify_amd(&r, vcek, PIN_GENOA, NULL, &v), 0);
    X509_free(vcek);
    load_bin("trustee/az-snp-vtpm/hcl-report.bin", &buf, &len);
    assert_true(len >= 32 + KEYS_SNP_REPORT_LEN);
    assert_int_equal(keys_snp_report_parse(buf + 32, KEYS_SNP_REPORT_LEN, &r), 0);
    free(buf);
    assert_int_equal(r.version, 2);
    vcek = load_cert("trustee/az-snp-vtpm/vcek.pem"); /* the first of the PEM chain */
    assert_int_equal(verify_amd(&r, vcek, PIN_GENOA, NULL, &v), 0);
    assert_int_equal(v.product, KEYS_SNP_PRODUCT_MILAN);
    X509_free(vcek);
}

static void test_vlek(void **state)
{
    char p[1024];
    struct keys_snp_report r;
    struct keys_snp_verdict v;
    struct keys_snp_verify_opts only_vcek = {.key = KEYS_SNP_KEY_ONLY_VCEK};
    struct keys_snp_verify_opts only_vlek = {.key = KEYS_SNP_KEY_ONLY_VLEK};
    struct keys_snp_roots *roots;
    struct keys_evidence e = {0};
    struct json_object *ev, *c, *x;
    X509 *vlek, *vcek, *ask, *ark;
    uint8_t *der;
    size_t len;
    (void)state;
    if (!vpath(p, sizeof p, "trustee/snp/test-vlek-report.bin"))
        skip();
    assert_int_equal(keys_snp_report_load(p, &r), 0);
    assert_int_equal(r.signing_key, KEYS_SNP_KEY_VLEK);
    assert_int_equal(r.product, KEYS_SNP_PRODUCT_MILAN);
    vlek = load_cert("trustee/snp/test-vlek.der");
    vcek = load_cert("trustee/snp/test-vcek.der");
    /* VLEK -> ASVK (SEV-VLEK-Milan) -> ARK-Milan; no chip id to compare */
    assert_int_equal(keys_snp_roots_amd(&roots), 0);
    assert_int_equal(keys_snp_roots_find(roots, vlek, &ask, &ark, NULL, NULL), 0);
    assert_int_equal(keys_snp_product_from_cert(ask), KEYS_SNP_PRODUCT_MILAN);
    keys_snp_roots_free(roots);
    assert_int_equal(verify_amd(&r, vlek, PIN_VLEK, NULL, &v), 0);
    assert_int_equal(v.signing_key, KEYS_SNP_KEY_VLEK);
    assert_int_equal(verify_amd(&r, vlek, PIN_VLEK, &only_vlek, &v), 0);
    c = keys_snp_claims(&r);
    assert_true(json_object_object_get_ex(c, "signing_key", &x));
    assert_string_equal(json_object_get_string(x), "VLEK");
    json_object_put(c);
    /* checked as VCEK: refused, whether demanded or by the certificate given */
    expect_refusal(verify_amd(&r, vlek, PIN_VLEK, &only_vcek, &v), "a VCEK is demanded");
    expect_refusal(verify_amd(&r, vcek, PIN_VLEK, NULL, &v), "KEY_INFO says a VLEK signed it");
    /* the evidence names the certificate VLEK, and it parses back */
    memcpy(e.report, r.raw, sizeof e.report);
    assert_int_equal(keys_x509_to_der(vlek, &der, &len), 0);
    e.vcek_der = der;
    e.vcek_len = len;
    ev = keys_kbs_snp_evidence(&e);
    assert_non_null(
        strstr(json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN), "\"cert_type\":\"VLEK\""));
    free(der);
    assert_int_equal(keys_kbs_snp_evidence_parse(ev, &r, &der, &len), 0);
    assert_non_null(der);
    free(der);
    json_object_put(ev);
    X509_free(vlek);
    X509_free(vcek);
}

static void test_refusals(void **state)
{
    char p[1024];
    struct keys_snp_report r, bad;
    struct keys_snp_verdict v;
    struct keys_snp_verify_opts v3 = {.min_version = 3};
    struct keys_snp_roots *roots;
    X509 *genoa_vcek, *milan_vcek, *ask, *ark, *inv;
    (void)state;
    if (!vpath(p, sizeof p, "snp-newer/genoa-v3/report.bin"))
        skip();
    assert_int_equal(keys_snp_report_load(p, &r), 0);
    genoa_vcek = load_cert("snp-newer/genoa-v3/vcek.der");
    milan_vcek = load_cert("trustee/snp/test-vcek.der");
    /* a flipped byte in the measurement */
    bad = r;
    bad.raw[KEYS_SNP_OFF_MEASUREMENT + 3] ^= 1;
    expect_refusal(verify_amd(&bad, genoa_vcek, PIN_GENOA, NULL, &v), "signature");
    /* a flipped byte in the signature */
    bad = r;
    bad.raw[KEYS_SNP_SIG_OFFSET + 5] ^= 0x80;
    expect_refusal(verify_amd(&bad, genoa_vcek, PIN_GENOA, NULL, &v), "signature");
    /* a report whose KEY_INFO says the chip key was masked (unsigned) */
    bad = r;
    bad.key_info |= KEYS_SNP_KEY_INFO_MASK_CHIP_KEY;
    expect_refusal(verify_amd(&bad, genoa_vcek, PIN_GENOA, NULL, &v), "MASK_CHIP_KEY");
    /* wrong roots: the Genoa VCEK under Milan's ASK and ARK */
    assert_int_equal(keys_snp_roots_amd(&roots), 0);
    assert_int_equal(keys_snp_roots_find(roots, milan_vcek, &ask, &ark, NULL, NULL), 0);
    expect_refusal(keys_snp_verify(&r, genoa_vcek, ask, ark, PIN_GENOA, &v), "not issued by the ASK");
    keys_snp_roots_free(roots);
    /* an empty root set */
    assert_int_equal(keys_snp_roots_new(&roots), 0);
    expect_refusal(keys_snp_roots_find(roots, genoa_vcek, &ask, &ark, NULL, NULL),
                   "not issued by any trusted root");
    keys_snp_roots_free(roots);
    /* another chip's VCEK (Milan) for the Genoa report */
    expect_refusal(verify_amd(&r, milan_vcek, PIN_GENOA, NULL, &v), "");
    /* a certificate outside its validity */
    expect_refusal(verify_amd(&r, genoa_vcek, PIN_MILAN, NULL, &v), "not yet valid");
    /* a version 2 report where version 3 is demanded */
    assert_true(vpath(p, sizeof p, "trustee/snp/test-report.bin"));
    assert_int_equal(keys_snp_report_load(p, &bad), 0);
    expect_refusal(verify_amd(&bad, milan_vcek, PIN_MILAN, &v3, &v), "version 2 is below the minimum of 3");
    /* Trustee's invalid VCEKs (other chips, both hwID encodings) do not sign its report */
    inv = load_cert("trustee/snp/test-vcek-invalid-legacy.der");
    expect_refusal(verify_amd(&bad, inv, PIN_MILAN, NULL, &v), "");
    X509_free(inv);
    inv = load_cert("trustee/snp/test-vcek-invalid-new.der");
    expect_refusal(verify_amd(&bad, inv, PIN_MILAN, NULL, &v), "");
    X509_free(inv);
    X509_free(genoa_vcek);
    X509_free(milan_vcek);
}

/* A Genoa report claiming to be Turin (CPUID edited) is read in Turin's TCB layout and its
 * JSON carries fmc; the chain then refuses it. */
static void test_wrong_product(void **state)
{
    char p[1024];
    uint8_t raw[KEYS_SNP_REPORT_LEN], back[KEYS_SNP_REPORT_LEN];
    uint8_t *buf;
    size_t len;
    struct keys_snp_report r;
    struct keys_snp_verdict v;
    struct json_object *j, *t, *x;
    X509 *vcek;
    (void)state;
    if (!vpath(p, sizeof p, "snp-newer/genoa-v3/report.bin"))
        skip();
    load_bin("snp-newer/genoa-v3/report.bin", &buf, &len);
    memcpy(raw, buf, sizeof raw);
    free(buf);
    raw[KEYS_SNP_OFF_CPUID_FAM_ID] = 0x1A;
    raw[KEYS_SNP_OFF_CPUID_MOD_ID] = 0x02;
    /* Turin's layout: FMC 1, boot loader 2, TEE 3, SNP 4 in bytes 0-3, microcode in byte 7 */
    static const size_t tcbs[] = {KEYS_SNP_OFF_CURRENT_TCB, KEYS_SNP_OFF_REPORTED_TCB,
                                  KEYS_SNP_OFF_COMMITTED_TCB, KEYS_SNP_OFF_LAUNCH_TCB};
    for (size_t i = 0; i < 4; i++)
        ccr_put_le64(raw + tcbs[i], 0x0500000004030201ULL);
    assert_int_equal(keys_snp_report_parse(raw, sizeof raw, &r), 0);
    assert_int_equal(r.product, KEYS_SNP_PRODUCT_TURIN);
    assert_int_equal(r.reported_tcb.fmc, 1);
    assert_int_equal(r.reported_tcb.bootloader, 2);
    assert_int_equal(r.reported_tcb.tee, 3);
    assert_int_equal(r.reported_tcb.snp, 4);
    assert_int_equal(r.reported_tcb.microcode, 5);
    j = keys_kbs_snp_report_json(raw);
    assert_true(json_object_object_get_ex(j, "reported_tcb", &t));
    assert_true(json_object_object_get_ex(t, "fmc", &x));
    assert_int_equal(json_object_get_int(x), 1);
    assert_int_equal(keys_kbs_snp_report_from_json(j, back), 0);
    assert_memory_equal(back, raw, sizeof raw);
    json_object_put(j);
    vcek = load_cert("snp-newer/genoa-v3/vcek.der");
    expect_refusal(verify_amd(&r, vcek, PIN_GENOA, NULL, &v),
                   "CPUID says Turin but the chain ends at ARK-Genoa");
    X509_free(vcek);
    /* an unknown CPUID */
    raw[KEYS_SNP_OFF_CPUID_FAM_ID] = 0x17;
    assert_int_equal(keys_snp_report_parse(raw, sizeof raw, &r), EINVAL);
    assert_non_null(strstr(ccr_err_msg(EINVAL), "no known SEV-SNP product"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trustee_genoa_v3),
        cmocka_unit_test(test_constructed_genoa_v5),
        cmocka_unit_test(test_binary_vectors_verify),
        cmocka_unit_test(test_azure_hcl_reports),
        cmocka_unit_test(test_vlek),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_wrong_product),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
