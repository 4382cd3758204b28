/* Azure vTPM evidence (az-snp-vtpm) as Trustee verifies it, with Trustee's own test evidence:
 * v0, v1, v2 (Milan) and Genoa verify with the report data Trustee's tests use; a flipped quote
 * byte, a wrong nonce, tampered HCL variable data, a wrong AK, a flipped PCR, a tampered SNP
 * report, untrusted roots and a wrong init-data hash are each refused with a reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/encoding.h"
#include "common/err.h"
#include "common/fileio.h"
#include "keys/attest/az_vtpm.h"
#include "keys/attest/roots.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PINNED ((time_t)1748736000) /* 2025-06-01T00:00:00Z: every vector's VCEK is valid */

static char vec_dir[512];
static struct keys_snp_roots *amd;

/* Report data Trustee's tests verify each vector with (deps/verifier/src/az_snp_vtpm/mod.rs). */
#define RD_CHALLENGE "6368616c6c656e6765" /* "challenge" */
#define RD_V2                                                                                                \
    "982f5c6e45df0ed3f10b6f60b02f0c8390e281300f3805e2279c16168cd6ae9aa398f647caa2338748cd0fd9f5f819ef"
#define RD_GENOA                                                                                             \
    "0218488bae25d2509232bf676f1a66a30d7372add909109b36016ef136f2938ca05475f8b46094de6b64270ea35d950f"

static const struct vector {
    const char *file, *report_data_hex, *pcr00;
    int version;
} vectors[] = {
    {"evidence-v0.json", RD_CHALLENGE, "e15c44796beabf46abcec7c57e590942041e47497e4ec27571c8b7664f48dced", 0},
    {"evidence-v1.json", RD_CHALLENGE, "e15c44796beabf46abcec7c57e590942041e47497e4ec27571c8b7664f48dced", 1},
    {"evidence-v2.json", RD_V2, "84275b2f4312cd4fc6cbe6b152ad3c3683e513d9f1e23c34fca160c8cca7a6a7", 2},
    {"evidence-genoa.json", RD_GENOA, "afd689d0bb1c5f36f023fbaf574135f555a28a10c1f6b938d2a25e70c7783338", 0},
};

static int have_vectors(void)
{
    struct stat st;
    snprintf(vec_dir, sizeof vec_dir, "%s/trustee/az-snp-vtpm", CCRFS_TESTVECTORS);
    return stat(vec_dir, &st) == 0 && S_ISDIR(st.st_mode);
}

static char *load(const char *file, size_t *len)
{
    char path[700];
    uint8_t *buf = NULL;
    snprintf(path, sizeof path, "%s/%s", vec_dir, file);
    assert_int_equal(ccr_read_file(path, 1 << 20, &buf, len), 0);
    buf = realloc(buf, *len + 1);
    buf[*len] = '\0';
    return (char *)buf;
}

static size_t report_data(const struct vector *v, uint8_t *out)
{
    size_t n = strlen(v->report_data_hex) / 2;
    assert_int_equal(ccr_hex_decode(v->report_data_hex, out, n), 0);
    return n;
}

static int verify_text(const char *text, const struct vector *v, const uint8_t *init_data,
                       struct json_object **c)
{
    uint8_t rd[64];
    size_t n = report_data(v, rd);
    int is_test = -1;
    int rc = keys_az_vtpm_verify(text, strlen(text), rd, n, init_data, amd, PINNED, c, &is_test);
    if (rc == 0)
        assert_int_equal(is_test, 0);
    return rc;
}

static const char *claim(struct json_object *c, const char *name)
{
    struct json_object *v;
    assert_true(json_object_object_get_ex(c, name, &v));
    return json_object_get_string(v);
}

static void test_vectors_verify(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        size_t len;
        char *text = load(vectors[i].file, &len);
        struct json_object *c = NULL, *tpm, *v;
        int rc = verify_text(text, &vectors[i], NULL, &c);
        if (rc != 0)
            fail_msg("%s: %s", vectors[i].file, ccr_err_msg(rc));
        assert_string_equal(claim(c, "report_data"), vectors[i].report_data_hex);
        assert_string_equal(claim(c, "tee"), "az-snp-vtpm");
        assert_true(json_object_object_get_ex(c, "evidence_version", &v));
        assert_int_equal(json_object_get_int(v), vectors[i].version);
        assert_true(json_object_object_get_ex(c, "tpm", &tpm));
        assert_int_equal(json_object_object_length(tpm), 24);
        assert_string_equal(claim(tpm, "pcr00"), vectors[i].pcr00);
        assert_string_equal(claim(c, "init_data"), claim(tpm, "pcr08"));
        /* The SNP claims, named as for plain SNP evidence. */
        assert_int_equal(strlen(claim(c, "measurement")), 96);
        assert_int_equal(strlen(claim(c, "snp_report_data")), 128);
        assert_true(json_object_object_get_ex(c, "vmpl", &v));
        assert_int_equal(json_object_get_int(v), 0);
        json_object_put(c);
        free(text);
    }
}

/* Reads a vector as JSON, lets edit change it, and expects a refusal naming `why`. */
static void expect_refused(const struct vector *v, void (*edit)(struct json_object *, int), int arg,
                           const uint8_t *init_data, int want, const char *why)
{
    size_t len;
    char *text = load(v->file, &len);
    struct json_object *o = json_tokener_parse(text), *c = NULL;
    int rc;
    assert_non_null(o);
    if (edit)
        edit(o, arg);
    rc = verify_text(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), v, init_data, &c);
    if (rc != want)
        fail_msg("%s: rc %d (%s), wanted %d", v->file, rc, rc ? ccr_err_msg(rc) : "accepted", want);
    assert_null(c);
    if (strstr(ccr_err_msg(rc), why) == NULL)
        fail_msg("%s: '%s' does not say '%s'", v->file, ccr_err_msg(rc), why);
    json_object_put(o);
    free(text);
}

/* Flips one bit of byte `at` of a hex member (v1/v2) or a byte-array member (v0). */
static void flip_in(struct json_object *parent, const char *name, size_t at)
{
    struct json_object *m;
    assert_true(json_object_object_get_ex(parent, name, &m));
    if (json_object_is_type(m, json_type_array)) {
        struct json_object *b = json_object_array_get_idx(m, at);
        json_object_array_put_idx(m, at, json_object_new_int(json_object_get_int(b) ^ 1));
    } else {
        char *s = strdup(json_object_get_string(m));
        s[2 * at + 1] = s[2 * at + 1] == '0' ? '1' : '0';
        json_object_object_add(parent, name, json_object_new_string(s));
        free(s);
    }
}

static struct json_object *quote_of(struct json_object *o)
{
    struct json_object *q;
    if (!json_object_object_get_ex(o, "tpm_quote", &q))
        assert_true(json_object_object_get_ex(o, "quote", &q));
    return q;
}

static void flip_signature(struct json_object *o, int at)
{
    flip_in(quote_of(o), "signature", (size_t)at);
}

static void flip_message(struct json_object *o, int at)
{
    flip_in(quote_of(o), "message", (size_t)at);
}

static void flip_pcr(struct json_object *o, int at)
{
    struct json_object *pcrs;
    assert_true(json_object_object_get_ex(quote_of(o), "pcrs", &pcrs));
    struct json_object *holder = json_object_new_object();
    json_object_object_add(holder, "p", json_object_get(json_object_array_get_idx(pcrs, (size_t)at)));
    flip_in(holder, "p", 0);
    json_object_array_put_idx(pcrs, (size_t)at, json_object_get(json_object_object_get(holder, "p")));
    json_object_put(holder);
}

/* The HCL report's bytes, edited by fn, written back in the vector's encoding. */
static void edit_hcl(struct json_object *o, void (*fn)(uint8_t *, size_t, int), int arg)
{
    struct json_object *m;
    if (json_object_object_get_ex(o, "hcl_report", &m)) {
        const char *s = json_object_get_string(m);
        uint8_t *b;
        size_t n;
        assert_int_equal(ccr_b64_decode(s, strlen(s), &b, &n, CCR_B64_URL), 0);
        fn(b, n, arg);
        char *enc = malloc(ccr_b64_encoded_size(n, CCR_B64_URL));
        ccr_b64_encode(b, n, enc, CCR_B64_URL);
        json_object_object_add(o, "hcl_report", json_object_new_string(enc));
        free(enc);
        free(b);
    } else {
        assert_true(json_object_object_get_ex(o, "report", &m));
        size_t n = json_object_array_length(m);
        uint8_t *b = malloc(n);
        for (size_t i = 0; i < n; i++)
            b[i] = (uint8_t)json_object_get_int(json_object_array_get_idx(m, i));
        fn(b, n, arg);
        for (size_t i = 0; i < n; i++)
            json_object_array_put_idx(m, i, json_object_new_int(b[i]));
        free(b);
    }
}

#define VAR_DATA 1236

/* Replaces the first occurrence of `from` in the variable data by `to` (same length). */
static const char *replace_from, *replace_to;
static void replace_in_var_data(uint8_t *b, size_t n, int arg)
{
    size_t fl = strlen(replace_from);
    (void)arg;
    for (size_t i = VAR_DATA; i + fl <= n; i++)
        if (memcmp(b + i, replace_from, fl) == 0) {
            memcpy(b + i, replace_to, fl);
            return;
        }
    fail_msg("'%s' not in the variable data", replace_from);
}

static void tamper_var_data(struct json_object *o, int arg)
{
    edit_hcl(o, replace_in_var_data, arg);
}

static void flip_hcl_byte(uint8_t *b, size_t n, int at)
{
    assert_true((size_t)at < n);
    b[at] ^= 1;
}

static void tamper_hcl_byte(struct json_object *o, int at)
{
    edit_hcl(o, flip_hcl_byte, at);
}

static void test_refusals(void **state)
{
    uint8_t init_data[32] = {1};
    (void)state;
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        const struct vector *v = &vectors[i];
        struct vector wrong_nonce = *v;
        /* A flipped quote byte: in the signature, and in the signed message. */
        expect_refused(v, flip_signature, 7, NULL, EBADMSG, "not signed by the AK");
        expect_refused(v, flip_message, 40, NULL, EBADMSG, "not signed by the AK");
        /* A wrong nonce: the report data the verifier expects differs. */
        wrong_nonce.report_data_hex =
            strcmp(v->report_data_hex, RD_CHALLENGE) == 0 ? "6368616c6c656e6766" : RD_CHALLENGE;
        expect_refused(&wrong_nonce, NULL, 0, NULL, EBADMSG, "nonce doesn't match");
        /* A flipped PCR value no longer matches the quoted digest. */
        expect_refused(v, flip_pcr, 3, NULL, EBADMSG, "digest of the PCRs");
        /* A wrong AK: the kid renamed (no AK), or another key's modulus. */
        replace_from = "\"kid\":\"HCLAkPub\"";
        replace_to = "\"kid\":\"HCLAkPuX\"";
        expect_refused(v, tamper_var_data, 0, NULL, EBADMSG, "no key with kid \"HCLAkPub\"");
        replace_from = "\"n\":\"";
        replace_to = "\"x\":\"";
        expect_refused(v, tamper_var_data, 0, NULL, EBADMSG, "\"n\" or \"e\"");
        /* Tampered variable data outside the AK: the SNP report no longer binds it. */
        replace_from = "\"vm-configuration\":{";
        replace_to = "\"vm-configuratioN\":{";
        expect_refused(v, tamper_var_data, 0, NULL, EBADMSG,
                       "HCL variable data digest doesn't match SNP report data");
        /* The SNP report's reported TCB (HCL offset 32 + 0x186): no longer the VCEK's. */
        expect_refused(v, tamper_hcl_byte, 32 + 0x186, NULL, EBADMSG, "TCB");
        /* Its measurement: the signature fails. */
        expect_refused(v, tamper_hcl_byte, 32 + 0x90, NULL, EBADMSG, "signature");
        /* An init-data hash that PCR8 does not hold. */
        expect_refused(v, NULL, 0, init_data, EBADMSG, "PCR8");
    }
}

static void test_wrong_ak_modulus(void **state)
{
    /* The AK's modulus from the v2 vector put into the v1 HCL report: the quote's signature does
     * not verify with it (and the variable data no longer matches the SNP report either). */
    (void)state;
    replace_from = "\"n\":\"mHSRbgAA";
    replace_to = "\"n\":\"mUK7fQAA";
    expect_refused(&vectors[1], tamper_var_data, 0, NULL, EBADMSG, "not signed by the AK");
}

static void test_roots_and_malformed(void **state)
{
    struct keys_snp_roots *none;
    struct json_object *c = NULL;
    uint8_t rd[9] = {'c', 'h', 'a', 'l', 'l', 'e', 'n', 'g', 'e'};
    int is_test;
    size_t len;
    char *text = load("evidence-v1.json", &len);
    static const char *bad[] = {
        "",
        "[]",
        "{\"version\":3,\"tpm_quote\":{}}",
        "{\"version\":\"1\"}",
        "{\"version\":1}",
        "{\"version\":1,\"tpm_quote\":{\"signature\":\"zz\",\"message\":\"00\",\"pcrs\":[]},\"hcl_report\":"
        "\"\","
        "\"vcek\":\"\"}",
        "{\"quote\":{\"signature\":[1,2,300],\"message\":[1],\"pcrs\":[]},\"report\":[],\"vcek\":\"\"}",
        "{\"report\":[1,2],\"vcek\":\"x\"}",
    };
    (void)state;
    assert_int_equal(keys_snp_roots_new(&none), 0);
    assert_int_equal(keys_az_vtpm_verify(text, len, rd, sizeof rd, NULL, none, PINNED, &c, &is_test),
                     EBADMSG);
    assert_non_null(strstr(ccr_err_msg(EBADMSG), "VCEK"));
    assert_null(c);
    keys_snp_roots_free(none);
    /* Certificates checked at a time they are not valid. */
    assert_int_equal(
        keys_az_vtpm_verify(text, len, rd, sizeof rd, NULL, amd, (time_t)4102444800, &c, &is_test), EBADMSG);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = keys_az_vtpm_verify(bad[i], strlen(bad[i]), rd, sizeof rd, NULL, amd, PINNED, &c, &is_test);
        if (rc != EINVAL)
            fail_msg("%s: rc %d", bad[i], rc);
        assert_non_null(strstr(ccr_err_msg(EINVAL), "az-snp-vtpm evidence"));
    }
    /* The expected report data must be given. */
    assert_int_equal(keys_az_vtpm_verify(text, len, rd, 0, NULL, amd, PINNED, &c, &is_test), EINVAL);
    free(text);
}

static void set_tdx(uint8_t *b, size_t n, int arg)
{
    (void)n;
    (void)arg;
    b[1216 + 8] = 4;
}

static void truncate_var_size(uint8_t *b, size_t n, int arg)
{
    (void)arg;
    b[1216 + 16] = 0xff;
    b[1216 + 17] = 0xff;
    (void)n;
}

static void grow_var_size(uint8_t *b, size_t n, int arg)
{
    (void)n;
    (void)arg;
    b[1216 + 16]++; /* one byte past the JSON: a zero byte, not whitespace */
}

static void trailing_var_data(struct json_object *o, int arg)
{
    edit_hcl(o, grow_var_size, arg);
}

static void tdx_report(struct json_object *o, int arg)
{
    edit_hcl(o, set_tdx, arg);
}

static void oversized_var_data(struct json_object *o, int arg)
{
    edit_hcl(o, truncate_var_size, arg);
}

static void test_hcl_layout(void **state)
{
    (void)state;
    expect_refused(&vectors[1], tdx_report, 0, NULL, EINVAL, "a TDX report");
    expect_refused(&vectors[1], oversized_var_data, 0, NULL, EINVAL, "runs past");
    expect_refused(&vectors[1], trailing_var_data, 0, NULL, EBADMSG, "variable data: not a JSON object");
}

static int setup(void **state)
{
    (void)state;
    return keys_snp_roots_amd(&amd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    keys_snp_roots_free(amd);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_verify),   cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_wrong_ak_modulus), cmocka_unit_test(test_roots_and_malformed),
        cmocka_unit_test(test_hcl_layout),
    };
    if (!have_vectors()) {
        printf("SKIPPED: %s is absent\n", vec_dir);
        return 0;
    }
    return cmocka_run_group_tests(tests, setup, teardown);
}
