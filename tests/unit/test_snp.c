/* SEV-SNP report parsing and verification: real public reports, malformed input, the
 * simulator, the trusted roots and the host certificate table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/bytes.h"
#include "common/err.h"
#include "common/fileio.h"
#include "keys/attest/evidence.h"
#include "keys/attest/roots.h"
#include "keys/attest/sim.h"
#include "keys/attest/snp.h"

#include <json-c/json.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PINNED ((time_t)1704067200) /* 2024-01-01T00:00:00Z: every vector's certificates are valid */

static char vec_dir[512];

static int have_vectors(void)
{
    struct stat st;
    snprintf(vec_dir, sizeof vec_dir, "%s/snp", CCRFS_TESTVECTORS);
    return stat(vec_dir, &st) == 0 && S_ISDIR(st.st_mode);
}

static void vpath(char *out, size_t len, const char *rel)
{
    snprintf(out, len, "%s/%s", vec_dir, rel);
}

struct vec {
    struct keys_snp_report r;
    X509 *vcek, *ask, *ark;
};

static void vec_free(struct vec *v)
{
    X509_free(v->vcek);
    X509_free(v->ask);
    X509_free(v->ark);
}

/* Loads a folder's report and certificates, whatever shape the folder keeps them in. */
static void load_vec(const char *name, struct vec *v)
{
    char p[1024];
    STACK_OF(X509) *sk = NULL;

    memset(v, 0, sizeof *v);
    if (strcmp(name, "aci-milan") == 0) {
        vpath(p, sizeof p, "aci-milan/snp_report.bin");
        assert_int_equal(keys_snp_report_load(p, &v->r), 0);
        vpath(p, sizeof p, "aci-milan/uvm_host_amd_certificate.pem");
        assert_int_equal(keys_x509_load_all(p, &sk), 0);
        assert_int_equal(sk_X509_num(sk), 3);
        v->vcek = sk_X509_shift(sk);
    } else if (strcmp(name, "virtee-milan") == 0) {
        vpath(p, sizeof p, "virtee-milan/report_milan.hex");
        assert_int_equal(keys_snp_report_load(p, &v->r), 0);
        vpath(p, sizeof p, "virtee-milan/vcek_milan.der");
        assert_int_equal(keys_x509_load(p, &v->vcek), 0);
        vpath(p, sizeof p, "virtee-milan/cert_chain_milan");
        assert_int_equal(keys_x509_load_all(p, &sk), 0);
    } else {
        vpath(p, sizeof p, "gosevguest-milan-debug/attestation.bin");
        assert_int_equal(keys_snp_report_load(p, &v->r), 0);
        vpath(p, sizeof p, "gosevguest-milan-debug/vcek.der");
        assert_int_equal(keys_x509_load(p, &v->vcek), 0);
        vpath(p, sizeof p, "gosevguest-milan-debug/ask_ark_milan.pem");
        assert_int_equal(keys_x509_load_all(p, &sk), 0);
    }
    assert_int_equal(sk_X509_num(sk), 2);
    v->ask = sk_X509_shift(sk);
    v->ark = sk_X509_shift(sk);
    sk_X509_free(sk);
}

static void test_vectors_verify(void **state)
{
    static const char *names[] = {"aci-milan", "virtee-milan", "gosevguest-milan-debug"};
    (void)state;
    if (!have_vectors())
        skip();
    for (size_t i = 0; i < 3; i++) {
        struct vec v;
        struct keys_snp_verdict verdict;
        load_vec(names[i], &v);
        assert_int_equal(keys_snp_verify(&v.r, v.vcek, v.ask, v.ark, PINNED, &verdict), 0);
        assert_string_equal(verdict.ark_cn, "ARK-Milan");
        /* Only the go-sev-guest report comes from a debuggable guest. */
        assert_int_equal(verdict.debug, i == 2);
        vec_free(&v);
    }
}

static void test_aci_host_data(void **state)
{
    struct vec v;
    (void)state;
    if (!have_vectors())
        skip();
    load_vec("aci-milan", &v);
    /* README: host_data is the SHA-256 of the security policy, cadd74f7...031c. */
    assert_int_equal(v.r.host_data[0], 0xca);
    assert_int_equal(v.r.host_data[1], 0xdd);
    assert_int_equal(v.r.host_data[30], 0x03);
    assert_int_equal(v.r.host_data[31], 0x1c);
    assert_int_equal(v.r.policy, 0x3001f);
    vec_free(&v);
}

static void test_flipped_byte_fails(void **state)
{
    struct vec v;
    struct keys_snp_verdict verdict;
    struct keys_snp_report bad;
    (void)state;
    if (!have_vectors())
        skip();
    load_vec("virtee-milan", &v);
    /* A flip inside the signed range, one inside the signature, one in the ignored tail. */
    size_t offs[] = {21, KEYS_SNP_OFF_MEASUREMENT + 5, KEYS_SNP_SIG_OFFSET + 3};
    for (size_t i = 0; i < 3; i++) {
        uint8_t raw[KEYS_SNP_REPORT_LEN];
        memcpy(raw, v.r.raw, sizeof raw);
        raw[offs[i]] ^= 0x01;
        assert_int_equal(keys_snp_report_parse(raw, sizeof raw, &bad), 0);
        assert_int_equal(keys_snp_verify(&bad, v.vcek, v.ask, v.ark, PINNED, &verdict), EBADMSG);
    }
    vec_free(&v);
}

static void test_wrong_vcek_fails(void **state)
{
    struct vec a, b;
    struct keys_snp_verdict verdict;
    (void)state;
    if (!have_vectors())
        skip();
    load_vec("virtee-milan", &a);
    load_vec("gosevguest-milan-debug", &b);
    assert_int_equal(keys_snp_verify(&a.r, b.vcek, a.ask, a.ark, PINNED, &verdict), EBADMSG);
    assert_int_equal(keys_snp_verify(&b.r, a.vcek, b.ask, b.ark, PINNED, &verdict), EBADMSG);
    vec_free(&a);
    vec_free(&b);
}

static void test_wrong_ark_fails(void **state)
{
    struct vec v;
    struct keys_snp_verdict verdict;
    BIO *bio = BIO_new_mem_buf(keys_amd_genoa_ask_ark_pem, -1);
    X509 *genoa_ask = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    X509 *genoa_ark = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    (void)state;
    BIO_free(bio);
    if (!have_vectors()) {
        X509_free(genoa_ask);
        X509_free(genoa_ark);
        skip();
    }
    load_vec("aci-milan", &v);
    assert_int_equal(keys_snp_verify(&v.r, v.vcek, v.ask, genoa_ark, PINNED, &verdict), EBADMSG);
    assert_int_equal(keys_snp_verify(&v.r, v.vcek, genoa_ask, genoa_ark, PINNED, &verdict), EBADMSG);
    /* The VCEK's certificates expire: far in the future the chain is refused. */
    assert_int_equal(keys_snp_verify(&v.r, v.vcek, v.ask, v.ark, (time_t)4102444800, &verdict), EBADMSG);
    vec_free(&v);
    X509_free(genoa_ask);
    X509_free(genoa_ark);
}

static void test_roots_amd(void **state)
{
    struct keys_snp_roots *roots;
    X509 *ask, *ark;
    const char *name;
    int is_test;
    (void)state;
    assert_int_equal(keys_snp_roots_amd(&roots), 0);
    if (have_vectors()) {
        struct vec v;
        load_vec("virtee-milan", &v);
        assert_int_equal(keys_snp_roots_find(roots, v.vcek, &ask, &ark, &name, &is_test), 0);
        assert_string_equal(name, "AMD Milan");
        assert_int_equal(is_test, 0);
        /* The embedded Milan root is the same certificate the vectors carry. */
        assert_int_equal(X509_cmp(ark, v.ark), 0);
        vec_free(&v);
    }
    keys_snp_roots_free(roots);
}

static void test_parse_malformed(void **state)
{
    uint8_t raw[KEYS_SNP_REPORT_LEN + 1];
    struct keys_snp_report r;
    (void)state;
    memset(raw, 0, sizeof raw);
    ccr_put_le32(raw, 2);
    ccr_put_le32(raw + KEYS_SNP_OFF_SIG_ALGO, 1);
    assert_int_equal(keys_snp_report_parse(raw, KEYS_SNP_REPORT_LEN, &r), 0);
    assert_int_equal(keys_snp_report_parse(raw, KEYS_SNP_REPORT_LEN - 1, &r), EINVAL);
    assert_int_equal(keys_snp_report_parse(raw, KEYS_SNP_REPORT_LEN + 1, &r), EINVAL);
    assert_int_equal(keys_snp_report_parse(raw, 0, &r), EINVAL);
    assert_non_null(strstr(ccr_err_msg(EINVAL), "expected 1184"));
    ccr_put_le32(raw, 1);
    assert_int_equal(keys_snp_report_parse(raw, KEYS_SNP_REPORT_LEN, &r), EINVAL);
    assert_non_null(strstr(ccr_err_msg(EINVAL), "version"));
    ccr_put_le32(raw, 2);
    ccr_put_le32(raw + KEYS_SNP_OFF_SIG_ALGO, 2);
    assert_int_equal(keys_snp_report_parse(raw, KEYS_SNP_REPORT_LEN, &r), EINVAL);
    ccr_put_le32(raw + KEYS_SNP_OFF_SIG_ALGO, 1);
    ccr_put_le32(raw + KEYS_SNP_OFF_VMPL, 4);
    assert_int_equal(keys_snp_report_parse(raw, KEYS_SNP_REPORT_LEN, &r), EINVAL);
    ccr_put_le32(raw + KEYS_SNP_OFF_VMPL, 0);
    /* versions 3 to 5 need CPUID fields of a known product */
    ccr_put_le32(raw, 4);
    assert_int_equal(keys_snp_report_parse(raw, KEYS_SNP_REPORT_LEN, &r), EINVAL);
    assert_non_null(strstr(ccr_err_msg(EINVAL), "CPUID family 0x00"));
    raw[KEYS_SNP_OFF_CPUID_FAM_ID] = 0x19;
    raw[KEYS_SNP_OFF_CPUID_MOD_ID] = 0xA1;
    assert_int_equal(keys_snp_report_parse(raw, KEYS_SNP_REPORT_LEN, &r), 0);
    assert_int_equal(r.product, KEYS_SNP_PRODUCT_GENOA);
    ccr_put_le32(raw, 6);
    assert_int_equal(keys_snp_report_parse(raw, KEYS_SNP_REPORT_LEN, &r), EINVAL);
    assert_non_null(strstr(ccr_err_msg(EINVAL), "version 6 is not supported (2 to 5)"));
    /* a report signed by no key (KEY_INFO signing key 7) */
    ccr_put_le32(raw, 5);
    ccr_put_le32(raw + KEYS_SNP_OFF_KEY_INFO, 7 << 2);
    assert_int_equal(keys_snp_report_parse(raw, KEYS_SNP_REPORT_LEN, &r), EINVAL);
    assert_non_null(strstr(ccr_err_msg(EINVAL), "neither VCEK 0 nor VLEK 1"));
}

static void test_products(void **state)
{
    (void)state;
    assert_int_equal(keys_snp_product_from_cpuid(0x19, 0x01), KEYS_SNP_PRODUCT_MILAN);
    assert_int_equal(keys_snp_product_from_cpuid(0x19, 0x0F), KEYS_SNP_PRODUCT_MILAN);
    assert_int_equal(keys_snp_product_from_cpuid(0x19, 0x11), KEYS_SNP_PRODUCT_GENOA);
    assert_int_equal(keys_snp_product_from_cpuid(0x19, 0xAF), KEYS_SNP_PRODUCT_GENOA);
    assert_int_equal(keys_snp_product_from_cpuid(0x19, 0x20), KEYS_SNP_PRODUCT_UNKNOWN);
    assert_int_equal(keys_snp_product_from_cpuid(0x1A, 0x11), KEYS_SNP_PRODUCT_TURIN);
    assert_int_equal(keys_snp_product_from_cpuid(0x1A, 0x50), KEYS_SNP_PRODUCT_UNKNOWN); /* Venice */
    assert_int_equal(keys_snp_product_from_cpuid(0x17, 0x01), KEYS_SNP_PRODUCT_UNKNOWN);
}

static void test_tcb_layout(void **state)
{
    struct keys_snp_tcb t = {.bootloader = 3, .tee = 0, .snp = 8, .microcode = 115}, u;
    (void)state;
    assert_int_equal(keys_snp_tcb_encode(&t), 0x7308000000000003ULL);
    keys_snp_tcb_decode(0x7308000000000003ULL, &u);
    assert_memory_equal(&t, &u, sizeof t);
    /* Turin: FMC, boot loader, TEE, SNP in bytes 0-3, microcode in byte 7 */
    t.fmc = 1;
    assert_int_equal(keys_snp_tcb_encode_for(KEYS_SNP_PRODUCT_TURIN, &t), 0x7300000008000301ULL);
    keys_snp_tcb_decode_for(KEYS_SNP_PRODUCT_TURIN, 0x7300000008000301ULL, &u);
    assert_memory_equal(&t, &u, sizeof t);
    keys_snp_tcb_decode_for(KEYS_SNP_PRODUCT_GENOA, 0x7300000008000301ULL, &u);
    assert_int_equal(u.fmc, 0);
    assert_int_equal(u.bootloader, 1);
}

static void test_cert_table(void **state)
{
    static const uint8_t vcek_guid[16] = {0x8d, 0x75, 0xda, 0x63, 0x64, 0xe6, 0x64, 0x45,
                                          0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd};
    uint8_t t[24 * 3 + 8];
    const uint8_t *v;
    size_t vlen;
    (void)state;
    memset(t, 0, sizeof t);
    memset(t, 0x11, 16); /* some other certificate first */
    ccr_put_le32(t + 16, 72);
    ccr_put_le32(t + 20, 4);
    memcpy(t + 24, vcek_guid, 16);
    ccr_put_le32(t + 40, 76);
    ccr_put_le32(t + 44, 4);
    memcpy(t + 76, "VCEK", 4);
    assert_int_equal(keys_snp_cert_table_vcek(t, sizeof t, &v, &vlen), 0);
    assert_int_equal(vlen, 4);
    assert_memory_equal(v, "VCEK", 4);
    assert_int_equal(keys_snp_cert_table_vlek(t, sizeof t, &v, &vlen), ENOENT);
    assert_non_null(strstr(ccr_err_msg(ENOENT), "no VLEK entry"));
    /* the VLEK GUID a8074bc2-a25a-483e-aae6-39c045a0b8a1 in place of the first entry */
    static const uint8_t vlek_guid[16] = {0xc2, 0x4b, 0x07, 0xa8, 0x5a, 0xa2, 0x3e, 0x48,
                                          0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, 0xb8, 0xa1};
    memcpy(t, vlek_guid, 16);
    memcpy(t + 72, "VLEK", 4);
    assert_int_equal(keys_snp_cert_table_vlek(t, sizeof t, &v, &vlen), 0);
    assert_memory_equal(v, "VLEK", 4);
    ccr_put_le32(t + 44, 400); /* outside the table */
    assert_int_equal(keys_snp_cert_table_vcek(t, sizeof t, &v, &vlen), EINVAL);
    assert_int_equal(keys_snp_cert_table_vcek(t, 30, &v, &vlen), EINVAL); /* no terminator */
    memset(t + 24, 0, 24);
    assert_int_equal(keys_snp_cert_table_vcek(t, sizeof t, &v, &vlen), ENOENT);
}

static void test_sim_roundtrip(void **state)
{
    char dir[] = "/tmp/ccrfs-test-sim-XXXXXX", p[256];
    struct keys_sim_config cfg = {0};
    uint8_t rd[64], me[48];
    struct keys_evidence ev;
    struct keys_snp_report r;
    struct keys_snp_roots *roots;
    struct keys_snp_verdict verdict;
    X509 *vcek, *ask, *ark;
    struct stat st;
    int is_test;
    (void)state;

    assert_non_null(mkdtemp(dir));
    cfg.host_data_hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    assert_int_equal(keys_sim_init(dir, &cfg), 0);
    snprintf(p, sizeof p, "%s/vcek.key", dir);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    for (int i = 0; i < 64; i++)
        rd[i] = (uint8_t)i;
    assert_int_equal(keys_evidence_get(dir, rd, &ev), EINVAL); /* not a spec */
    snprintf(p, sizeof p, "sim:%s", dir);
    assert_int_equal(keys_evidence_get(p, rd, &ev), 0);
    assert_int_equal(keys_snp_report_parse(ev.report, sizeof ev.report, &r), 0);
    assert_memory_equal(r.report_data, rd, 64);
    assert_int_equal(r.host_data[1], 0x11);
    /* version 3 by default, with a Milan part's CPUID fields */
    assert_int_equal(r.version, 3);
    assert_int_equal(r.product, KEYS_SNP_PRODUCT_MILAN);
    assert_int_equal(keys_sim_self_measurement(me), 0);
    assert_memory_equal(r.measurement, me, 48);
    assert_int_equal(keys_x509_from_der(ev.vcek_der, ev.vcek_len, &vcek), 0);

    /* AMD's roots do not know the simulator; a set told to trust it does. */
    assert_int_equal(keys_snp_roots_amd(&roots), 0);
    assert_int_equal(keys_snp_roots_find(roots, vcek, &ask, &ark, NULL, &is_test), ENOENT);
    assert_int_equal(keys_snp_roots_add_sim(roots, dir), 0);
    assert_int_equal(keys_snp_roots_find(roots, vcek, &ask, &ark, NULL, &is_test), 0);
    assert_int_equal(is_test, 1);
    assert_int_equal(keys_snp_verify(&r, vcek, ask, ark, 0, &verdict), 0);
    assert_int_equal(verdict.debug, 0);
    assert_int_equal(verdict.product, KEYS_SNP_PRODUCT_MILAN);
    struct keys_snp_verify_opts v3 = {.min_version = 3};
    assert_int_equal(keys_snp_verify_ex(&r, vcek, ask, ark, 0, &v3, &verdict), 0);
    r.raw[KEYS_SNP_OFF_REPORT_DATA] ^= 1;
    assert_int_equal(keys_snp_verify(&r, vcek, ask, ark, 0, &verdict), EBADMSG);
    keys_snp_roots_free(roots);
    X509_free(vcek);
    keys_evidence_clear(&ev);

    /* No SEV-SNP device here: a clear error, not a crash. */
    if (access("/dev/sev-guest", F_OK) != 0 && access("/sys/kernel/config/tsm/report", F_OK) != 0) {
        assert_int_equal(keys_evidence_get("snp", rd, &ev), ENODEV);
        assert_non_null(strstr(ccr_err_msg(ENODEV), "no SEV-SNP device"));
    }
    snprintf(p, sizeof p, "rm -rf '%s'", dir);
    assert_int_equal(system(p), 0);
}

/* A simulated Turin part, version 5: FMC in the TCB and the VCEK, an 8-byte chip id. */
static void test_sim_turin_v5(void **state)
{
    char dir[] = "/tmp/ccrfs-test-sim-XXXXXX", p[256];
    struct keys_sim_config cfg = {.version = 5, .product = KEYS_SNP_PRODUCT_TURIN};
    uint8_t rd[64] = {7};
    struct keys_evidence ev;
    struct keys_snp_report r;
    struct keys_snp_roots *roots;
    struct keys_snp_verdict verdict;
    struct json_object *claims, *v;
    X509 *vcek, *ask, *ark;
    (void)state;

    assert_non_null(mkdtemp(dir));
    assert_int_equal(keys_sim_init(dir, &cfg), 0);
    snprintf(p, sizeof p, "sim:%s", dir);
    assert_int_equal(keys_evidence_get(p, rd, &ev), 0);
    assert_int_equal(keys_snp_report_parse(ev.report, sizeof ev.report, &r), 0);
    assert_int_equal(r.version, 5);
    assert_int_equal(r.product, KEYS_SNP_PRODUCT_TURIN);
    assert_int_equal(r.reported_tcb.fmc, 1);
    assert_int_equal(r.reported_tcb.microcode, 115);
    for (int i = 8; i < 64; i++)
        assert_int_equal(r.chip_id[i], 0);
    assert_int_equal(keys_x509_from_der(ev.vcek_der, ev.vcek_len, &vcek), 0);
    assert_int_equal(keys_snp_roots_new(&roots), 0);
    assert_int_equal(keys_snp_roots_add_sim(roots, dir), 0);
    assert_int_equal(keys_snp_roots_find(roots, vcek, &ask, &ark, NULL, NULL), 0);
    assert_int_equal(keys_snp_verify(&r, vcek, ask, ark, 0, &verdict), 0);
    assert_int_equal(verdict.product, KEYS_SNP_PRODUCT_TURIN);
    claims = keys_snp_claims(&r);
    assert_true(json_object_object_get_ex(claims, "reported_tcb_fmc", &v));
    assert_int_equal(json_object_get_int(v), 1);
    json_object_put(claims);
    /* the FMC is checked against the VCEK */
    r.reported_tcb.fmc = 2;
    assert_int_equal(keys_snp_verify(&r, vcek, ask, ark, 0, &verdict), EBADMSG);
    assert_non_null(strstr(ccr_err_msg(EBADMSG), "fmcSPL is 2"));
    keys_snp_roots_free(roots);
    X509_free(vcek);
    keys_evidence_clear(&ev);
    /* a Turin report of version 2 cannot exist */
    cfg.version = 2;
    assert_int_equal(keys_sim_init(dir, &cfg), EINVAL);
    snprintf(p, sizeof p, "rm -rf '%s'", dir);
    assert_int_equal(system(p), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_verify),     cmocka_unit_test(test_aci_host_data),
        cmocka_unit_test(test_flipped_byte_fails), cmocka_unit_test(test_wrong_vcek_fails),
        cmocka_unit_test(test_wrong_ark_fails),    cmocka_unit_test(test_roots_amd),
        cmocka_unit_test(test_parse_malformed),    cmocka_unit_test(test_tcb_layout),
        cmocka_unit_test(test_cert_table),         cmocka_unit_test(test_sim_roundtrip),
        cmocka_unit_test(test_sim_turin_v5),       cmocka_unit_test(test_products),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
