/* The broker's use of the SEV-SNP checks: release policies naming product, signing_key,
 * reported_tcb_fmc and current_firmware (parsed strictly, evaluated over what the chain
 * established); a version 2 report gets the product its AMD chain names; the broker's minimum
 * report version (default 2) refuses older reports as a Trustee AttestationError. The broker is
 * driven over loopback with a simulated guest whose report version is switched between 2 and 3. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/secmem.h"
#include "keys/attest/roots.h"
#include "keys/attest/sim.h"
#include "keys/attest/snp.h"
#include "keys/broker/broker.h"
#include "keys/broker/policy.h"
#include "keys/broker/store.h"
#include "keys/kbs/client.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TOKEN  "test-admin-token-0123456789"
#define PINNED ((time_t)1748736000) /* 2025-06-01: Trustee's Milan test VCEK is valid */

static char dir[] = "/tmp/ccrfs-test-broker-claims-XXXXXX";
static char sim[300], state[300], state_strict[300], url[64], url_strict[64], spec[320];
static struct keys_broker *broker, *strict;
static const uint8_t secret[32] = {0xc1, 0xa1, 0x35, 1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13,
                                   14,   15,   16,   17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29};

#define POL_MILAN                                                                                            \
    "{\"allOf\":[{\"claim\":\"product\",\"equals\":\"Milan\"},{\"claim\":\"signing_key\",\"equals\":"        \
    "\"VCEK\"},"                                                                                             \
    "{\"claim\":\"reported_tcb_fmc\",\"equals\":0},{\"claim\":\"current_firmware\",\"equals\":\"1.55.40\"}]" \
    "}"
#define POL_GENOA "{\"allOf\":[{\"claim\":\"product\",\"equals\":\"Genoa\"}]}"
#define POL_ANY   "{\"allOf\":[{\"claim\":\"debug\",\"equals\":false}]}"

static int start(const char *st, unsigned min_version, struct keys_broker **b, char *u, size_t ulen)
{
    struct keys_broker_conf conf = {0};
    conf.state_dir = st;
    conf.admin_token = TOKEN;
    conf.sim_root = sim;
    conf.no_kds = 1;
    conf.min_report_version = min_version;
    if (keys_broker_start(&conf, b) != 0)
        return -1;
    snprintf(u, ulen, "http://127.0.0.1:%u", keys_broker_port(*b));
    return 0;
}

static int setup(void **state_)
{
    struct keys_sim_config cfg = {0}; /* version 3 Milan reports */
    struct keys_rstore *rs;
    (void)state_;

    ccr_log_set_level(CCR_LOG_ERROR);
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(sim, sizeof sim, "%s/sim", dir);
    snprintf(state, sizeof state, "%s/state", dir);
    snprintf(state_strict, sizeof state_strict, "%s/state-strict", dir);
    snprintf(spec, sizeof spec, "sim:%s", sim);
    if (keys_sim_init(sim, &cfg) != 0)
        return -1;
    if (keys_rstore_open(state, &rs) != 0 ||
        keys_rstore_put(rs, "ccrfs/dek/milan", POL_MILAN, secret, 32) != 0 ||
        keys_rstore_put(rs, "ccrfs/dek/genoa", POL_GENOA, secret, 32) != 0 ||
        keys_rstore_put(rs, "ccrfs/dek/any", POL_ANY, secret, 32) != 0)
        return -1;
    keys_rstore_close(rs);
    if (keys_rstore_open(state_strict, &rs) != 0 ||
        keys_rstore_put(rs, "ccrfs/dek/any", POL_ANY, secret, 32) != 0)
        return -1;
    keys_rstore_close(rs);
    if (start(state, 0, &broker, url, sizeof url) != 0 ||
        start(state_strict, 3, &strict, url_strict, sizeof url_strict) != 0)
        return -1;
    return 0;
}

static int teardown(void **state_)
{
    char cmd[400];
    (void)state_;
    keys_broker_stop(broker);
    keys_broker_stop(strict);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void expect_refusal(int rc, int code, const char *words)
{
    if (rc != code || strstr(ccr_err_msg(rc), words) == NULL)
        fail_msg("expected error %d with '%s', got %d: %s", code, words, rc, ccr_err_msg(rc));
}

static int fetch(const char *u, const char *resource)
{
    uint8_t *v = NULL;
    size_t len = 0;
    int rc = keys_kbs_fetch(u, NULL, resource, spec, &v, &len, NULL, 0);
    if (rc == 0) {
        assert_int_equal(len, 32);
        assert_memory_equal(v, secret, 32);
        ccr_secmem_free(v, len);
    }
    return rc;
}

/* The simulated guest's report version, as its sim.json says. */
static void sim_version(int version)
{
    char path[400];
    struct json_object *o;
    const char *text;
    snprintf(path, sizeof path, "%s/sim.json", sim);
    o = json_object_from_file(path);
    assert_non_null(o);
    json_object_object_add(o, "version", json_object_new_int(version));
    text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
    assert_int_equal(ccr_write_file_atomic(path, text, strlen(text), 0600), 0);
    json_object_put(o);
}

static void test_policy_new_claims_parse(void **state_)
{
    static const struct {
        const char *text, *words;
    } bad[] = {
        {"{\"allOf\":[{\"claim\":\"product\",\"equals\":\"genoa\"}]}",
         "allOf[0]: 'product' cannot be \"genoa\" (one of Milan, Genoa, Turin)"},
        {"{\"allOf\":[{\"claim\":\"signing_key\",\"equals\":\"VEK\"}]}", "(one of VCEK, VLEK)"},
        {"{\"allOf\":[{\"claim\":\"signing_key\",\"equals\":1}]}", "'signing_key' must equal a string"},
        {"{\"allOf\":[{\"claim\":\"reported_tcb_fmc\",\"equals\":\"1\"}]}",
         "'reported_tcb_fmc' must equal a number"},
        {"{\"allOf\":[{\"claim\":\"current_firmware\",\"equals\":\"1.55\"}]}",
         "'current_firmware' must be \"major.minor.build\""},
        {"{\"allOf\":[{\"claim\":\"current_firmware\",\"equals\":\"1.256.0\"}]}", "numbers 0-255"},
        {"{\"allOf\":[{\"claim\":\"current_firmware\",\"equals\":\"1.01.0\"}]}", "major.minor.build"},
        {"{\"allOf\":[{\"claim\":\"current_firmware\",\"equals\":\"1.5.3 \"}]}", "major.minor.build"},
        {"{\"allOf\":[{\"claim\":\"fmc\",\"equals\":1}]}",
         "reported_tcb_bootloader|tee|snp|microcode|fmc, product"},
    };
    struct keys_policy *p = NULL;
    (void)state_;
    assert_int_equal(keys_policy_parse(POL_MILAN, strlen(POL_MILAN), &p), 0);
    keys_policy_free(p);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = keys_policy_parse(bad[i].text, strlen(bad[i].text), &p);
        if (rc != EINVAL || strstr(ccr_err_msg(rc), bad[i].words) == NULL)
            fail_msg("policy %s: expected '%s', got %d: %s", bad[i].text, bad[i].words, rc, ccr_err_msg(rc));
        assert_null(p);
    }
}

static int read_vec(const char *rel, uint8_t **buf, size_t *len)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", CCRFS_TESTVECTORS, rel);
    return ccr_read_file(path, 1 << 20, buf, len);
}

/* Trustee's version 2 Milan report names no product; the claims the broker decides with are
 * those of the verified chain, so a policy on product holds. */
static void test_v2_product_from_chain(void **state_)
{
    struct keys_snp_roots *roots;
    struct keys_snp_report r;
    struct keys_snp_verdict verdict, refused;
    struct keys_snp_verify_opts opts = {0};
    struct json_object *claims, *raw;
    struct keys_policy *milan, *genoa;
    uint8_t *rep, *der;
    size_t rep_len, der_len;
    X509 *vcek, *ask, *ark;
    char reason[300];
    int is_test = -1;
    (void)state_;

    if (read_vec("trustee/snp/test-report.bin", &rep, &rep_len) != 0) {
        printf("SKIPPED: the shared SEV-SNP vectors are absent\n");
        skip();
    }
    assert_int_equal(read_vec("trustee/snp/test-vcek.der", &der, &der_len), 0);
    assert_int_equal(keys_snp_report_parse(rep, rep_len, &r), 0);
    assert_int_equal(r.version, 2);
    assert_int_equal(keys_x509_from_der(der, der_len, &vcek), 0);
    assert_int_equal(keys_snp_roots_amd(&roots), 0);
    assert_int_equal(keys_snp_roots_find(roots, vcek, &ask, &ark, NULL, &is_test), 0);
    assert_int_equal(is_test, 0);
    assert_int_equal(keys_snp_verify_ex(&r, vcek, ask, ark, PINNED, &opts, &verdict), 0);
    /* a broker demanding version 3, as Trustee does, refuses it */
    opts.min_version = 3;
    expect_refusal(keys_snp_verify_ex(&r, vcek, ask, ark, PINNED, &opts, &refused), EBADMSG,
                   "version 2 is below the minimum of 3");
    assert_int_equal(keys_policy_parse(POL_MILAN, strlen(POL_MILAN), &milan), 0);
    assert_int_equal(keys_policy_parse(POL_GENOA, strlen(POL_GENOA), &genoa), 0);
    claims = keys_snp_claims_verified(&r, &verdict);
    raw = keys_snp_claims(&r);
    assert_int_equal(keys_policy_eval(genoa, claims, reason, sizeof reason), EACCES);
    assert_string_equal(reason, "claim product is Milan, the policy requires Genoa");
    /* the report alone says "unknown": only the chain's product satisfies a product policy */
    assert_int_equal(keys_policy_eval(genoa, raw, reason, sizeof reason), EACCES);
    assert_non_null(strstr(reason, "claim product is unknown"));
    {
        static const char pol[] = "{\"allOf\":[{\"claim\":\"product\",\"equals\":\"Milan\"},"
                                  "{\"claim\":\"signing_key\",\"equals\":\"VCEK\"},"
                                  "{\"claim\":\"reported_tcb_fmc\",\"equals\":0}]}";
        struct keys_policy *p;
        assert_int_equal(keys_policy_parse(pol, strlen(pol), &p), 0);
        assert_int_equal(keys_policy_eval(p, claims, reason, sizeof reason), 0);
        assert_int_equal(keys_policy_eval(p, raw, reason, sizeof reason), EACCES);
        keys_policy_free(p);
    }
    json_object_put(claims);
    json_object_put(raw);
    keys_policy_free(milan);
    keys_policy_free(genoa);
    keys_snp_roots_free(roots);
    X509_free(vcek);
    free(rep);
    free(der);
}

static void test_release_by_new_claims(void **state_)
{
    (void)state_;
    sim_version(3);
    assert_int_equal(fetch(url, "ccrfs/dek/milan"), 0);
    expect_refusal(
        fetch(url, "ccrfs/dek/genoa"), EACCES,
        "PolicyDeny: Access denied by policy: the release policy of ccrfs/dek/genoa refused: claim "
        "product is Milan, the policy requires Genoa");
}

static void test_min_report_version(void **state_)
{
    (void)state_;
    /* version 2: the default broker takes it, the one demanding 3 refuses it as Trustee does */
    sim_version(2);
    assert_int_equal(fetch(url, "ccrfs/dek/any"), 0);
    expect_refusal(fetch(url_strict, "ccrfs/dek/any"), EACCES,
                   "AttestationError: Attestation error: RCAR handshake Attest failed: evidence: SNP report: "
                   "version 2 is below the minimum of 3");
    sim_version(3);
    assert_int_equal(fetch(url_strict, "ccrfs/dek/any"), 0);
}

static void test_min_report_version_bounds(void **state_)
{
    struct keys_broker_conf conf = {0};
    struct keys_broker *b = NULL;
    char st[400];
    int rc;
    (void)state_;
    snprintf(st, sizeof st, "%s/state-bounds", dir);
    conf.state_dir = st;
    conf.admin_token = TOKEN;
    conf.no_kds = 1;
    conf.min_report_version = 6;
    rc = keys_broker_start(&conf, &b);
    expect_refusal(rc, EINVAL, "minimum report version 6: SEV-SNP reports are versions 2 to 5");
    assert_null(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_new_claims_parse),   cmocka_unit_test(test_v2_product_from_chain),
        cmocka_unit_test(test_release_by_new_claims),     cmocka_unit_test(test_min_report_version),
        cmocka_unit_test(test_min_report_version_bounds),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
