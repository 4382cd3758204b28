/* Azure vTPM (az-snp-vtpm) evidence verification. */
#include "keys/attest/az_vtpm.h"
#include "common/bytes.h"
#include "common/encoding.h"
#include "common/err.h"
#include "keys/attest/snp.h"

#include <errno.h>
#include <json-c/json.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* HCL report layout (az-cvm-vtpm hcl/mod.rs): header, the hardware report area (sized for the
 * larger of an SNP report and a TDX TD report), the IGVM request data, the variable data. */
#define HCL_HEADER_LEN      32
#define HCL_HW_REPORT_LEN   1184
#define HCL_IGVM_OFF        (HCL_HEADER_LEN + HCL_HW_REPORT_LEN)
#define HCL_VAR_DATA_OFF    (HCL_IGVM_OFF + 20)
#define HCL_REPORT_TYPE_SNP 2
#define HCL_HASH_SHA256     1
#define HCL_AK_KID          "HCLAkPub"

#define TPM_GENERATED_VALUE 0xff544347u
#define TPM_ST_ATTEST_QUOTE 0x8018u
#define VTPM_PCR_LEN        32
#define VTPM_MAX_PCRS       32
#define VTPM_INIT_DATA_PCR  8
#define VTPM_MAX_MESSAGE    4096
#define VTPM_MAX_SIGNATURE  1024

struct vtpm_evidence {
    int version;
    uint8_t *hcl, *vcek_der, *message, *signature;
    size_t hcl_len, vcek_der_len, message_len, signature_len;
    char *vcek_pem;
    uint8_t pcrs[VTPM_MAX_PCRS][VTPM_PCR_LEN];
    size_t n_pcrs;
};

static void evidence_free(struct vtpm_evidence *e)
{
    free(e->hcl);
    free(e->vcek_der);
    free(e->message);
    free(e->signature);
    free(e->vcek_pem);
}

static uint16_t get_be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* --- evidence JSON ------------------------------------------------------------------------ */

/* A JSON array of numbers 0-255 (serde's Vec<u8>). */
static int byte_array(struct json_object *o, const char *where, size_t max, uint8_t **out, size_t *len)
{
    size_t n;

    if (o == NULL || !json_object_is_type(o, json_type_array))
        return ccr_err_set(EINVAL, "az-snp-vtpm evidence: %s must be an array of bytes", where);
    n = json_object_array_length(o);
    if (n == 0 || n > max)
        return ccr_err_set(EINVAL, "az-snp-vtpm evidence: %s has %zu bytes (1 to %zu expected)", where, n,
                           max);
    *out = malloc(n);
    if (*out == NULL)
        return ENOMEM;
    for (size_t i = 0; i < n; i++) {
        struct json_object *v = json_object_array_get_idx(o, i);
        int64_t b = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : -1;
        if (b < 0 || b > 255) {
            free(*out);
            *out = NULL;
            return ccr_err_set(EINVAL, "az-snp-vtpm evidence: %s[%zu] is not a byte", where, i);
        }
        (*out)[i] = (uint8_t)b;
    }
    *len = n;
    return 0;
}

static int hex_member(struct json_object *o, const char *where, size_t max, uint8_t **out, size_t *len)
{
    const char *s;
    size_t n;

    if (o == NULL || !json_object_is_type(o, json_type_string))
        return ccr_err_set(EINVAL, "az-snp-vtpm evidence: %s must be a hex string", where);
    s = json_object_get_string(o);
    n = strlen(s);
    if (n == 0 || n % 2 != 0 || n / 2 > max)
        return ccr_err_set(EINVAL, "az-snp-vtpm evidence: %s is not hex of 1 to %zu bytes", where, max);
    *out = malloc(n / 2);
    if (*out == NULL)
        return ENOMEM;
    if (ccr_hex_decode(s, *out, n / 2) != 0) {
        free(*out);
        *out = NULL;
        return ccr_err_set(EINVAL, "az-snp-vtpm evidence: %s is not hex", where);
    }
    *len = n / 2;
    return 0;
}

static int b64url_member(struct json_object *o, const char *where, uint8_t **out, size_t *len)
{
    const char *s;

    if (o == NULL || !json_object_is_type(o, json_type_string))
        return ccr_err_set(EINVAL, "az-snp-vtpm evidence: %s must be a base64url string", where);
    s = json_object_get_string(o);
    if (s[0] == '\0' || ccr_b64_decode(s, strlen(s), out, len, CCR_B64_URL) != 0)
        return ccr_err_set(EINVAL, "az-snp-vtpm evidence: %s is not base64url", where);
    return 0;
}

static struct json_object *member(struct json_object *o, const char *name)
{
    struct json_object *v = NULL;
    return json_object_object_get_ex(o, name, &v) ? v : NULL;
}

static int parse_pcrs(struct json_object *arr, int hex, struct vtpm_evidence *e)
{
    size_t n;

    if (arr == NULL || !json_object_is_type(arr, json_type_array))
        return ccr_err_set(EINVAL, "az-snp-vtpm evidence: the quote's \"pcrs\" must be an array");
    n = json_object_array_length(arr);
    if (n == 0 || n > VTPM_MAX_PCRS)
        return ccr_err_set(EINVAL, "az-snp-vtpm evidence: %zu PCRs (1 to %d expected)", n, VTPM_MAX_PCRS);
    for (size_t i = 0; i < n; i++) {
        struct json_object *v = json_object_array_get_idx(arr, i);
        char where[32];
        uint8_t *b = NULL;
        size_t len = 0;
        int rc;
        snprintf(where, sizeof where, "pcrs[%zu]", i);
        rc =
            hex ? hex_member(v, where, VTPM_PCR_LEN, &b, &len) : byte_array(v, where, VTPM_PCR_LEN, &b, &len);
        if (rc != 0)
            return rc;
        if (len != VTPM_PCR_LEN) {
            free(b);
            return ccr_err_set(EINVAL, "az-snp-vtpm evidence: %s is %zu bytes, a SHA-256 PCR is 32", where,
                               len);
        }
        memcpy(e->pcrs[i], b, VTPM_PCR_LEN);
        free(b);
    }
    e->n_pcrs = n;
    return 0;
}

/* The three layouts Trustee accepts; a "version" other than 1 or 2 matches none of them. */
static int parse_evidence(const char *text, size_t len, struct vtpm_evidence *e)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object *o = tok ? json_tokener_parse_ex(tok, text, (int)len) : NULL, *v, *q;
    int rc;

    if (tok != NULL)
        json_tokener_free(tok);
    memset(e, 0, sizeof *e);
    if (o == NULL || !json_object_is_type(o, json_type_object)) {
        rc = ccr_err_set(EINVAL, "az-snp-vtpm evidence: not a JSON object");
        goto out;
    }
    if ((v = member(o, "version")) != NULL) {
        int64_t ver = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : -1;
        if (ver != 1 && ver != 2) {
            rc = ccr_err_set(EINVAL,
                             "az-snp-vtpm evidence: \"version\" %s is not supported (1, 2, or none for v0)",
                             json_object_to_json_string(v));
            goto out;
        }
        e->version = (int)ver;
        q = member(o, "tpm_quote");
        if (q == NULL || !json_object_is_type(q, json_type_object)) {
            rc = ccr_err_set(EINVAL, "az-snp-vtpm evidence: \"tpm_quote\" is missing");
            goto out;
        }
        if ((rc = hex_member(member(q, "signature"), "tpm_quote.signature", VTPM_MAX_SIGNATURE, &e->signature,
                             &e->signature_len)) != 0 ||
            (rc = hex_member(member(q, "message"), "tpm_quote.message", VTPM_MAX_MESSAGE, &e->message,
                             &e->message_len)) != 0 ||
            (rc = parse_pcrs(member(q, "pcrs"), 1, e)) != 0 ||
            (rc = b64url_member(member(o, "hcl_report"), "\"hcl_report\"", &e->hcl, &e->hcl_len)) != 0 ||
            (rc = b64url_member(member(o, "vcek"), "\"vcek\"", &e->vcek_der, &e->vcek_der_len)) != 0)
            goto out;
    } else {
        e->version = 0;
        q = member(o, "quote");
        if (q == NULL || !json_object_is_type(q, json_type_object)) {
            rc = ccr_err_set(EINVAL, "az-snp-vtpm evidence: neither \"version\" with \"tpm_quote\" nor a v0 "
                                     "\"quote\"");
            goto out;
        }
        if ((rc = byte_array(member(q, "signature"), "quote.signature", VTPM_MAX_SIGNATURE, &e->signature,
                             &e->signature_len)) != 0 ||
            (rc = byte_array(member(q, "message"), "quote.message", VTPM_MAX_MESSAGE, &e->message,
                             &e->message_len)) != 0 ||
            (rc = parse_pcrs(member(q, "pcrs"), 0, e)) != 0 ||
            (rc = byte_array(member(o, "report"), "\"report\"", 64 * 1024, &e->hcl, &e->hcl_len)) != 0)
            goto out;
        v = member(o, "vcek");
        if (v == NULL || !json_object_is_type(v, json_type_string)) {
            rc = ccr_err_set(EINVAL, "az-snp-vtpm evidence: \"vcek\" must be a PEM string");
            goto out;
        }
        if ((e->vcek_pem = strdup(json_object_get_string(v))) == NULL) {
            rc = ENOMEM;
            goto out;
        }
    }
    rc = 0;
out:
    json_object_put(o);
    if (rc != 0) {
        evidence_free(e);
        memset(e, 0, sizeof *e);
    }
    return rc;
}

/* --- HCL report --------------------------------------------------------------------------- */

struct hcl_view {
    const uint8_t *snp;      /* HCL_HW_REPORT_LEN bytes */
    const uint8_t *var_data; /* the variable data */
    size_t var_data_len;
    uint32_t hash_type;
};

static int hcl_parse(const uint8_t *hcl, size_t len, struct hcl_view *v)
{
    uint32_t report_type, var_len;

    if (len < HCL_VAR_DATA_OFF)
        return ccr_err_set(EINVAL, "HCL report: %zu bytes, shorter than its fixed part (%d)", len,
                           HCL_VAR_DATA_OFF);
    report_type = ccr_get_le32(hcl + HCL_IGVM_OFF + 8);
    v->hash_type = ccr_get_le32(hcl + HCL_IGVM_OFF + 12);
    var_len = ccr_get_le32(hcl + HCL_IGVM_OFF + 16);
    if (var_len > len - HCL_VAR_DATA_OFF)
        return ccr_err_set(EINVAL, "HCL report: variable data of %u bytes runs past the report's %zu bytes",
                           var_len, len);
    if (report_type != HCL_REPORT_TYPE_SNP)
        return ccr_err_set(EINVAL, "HCL report: report type %u is not SEV-SNP (%d)%s", report_type,
                           HCL_REPORT_TYPE_SNP, report_type == 4 ? ": a TDX report" : "");
    v->snp = hcl + HCL_HEADER_LEN;
    v->var_data = hcl + HCL_VAR_DATA_OFF;
    v->var_data_len = var_len;
    return 0;
}

static BIGNUM *b64url_bn(struct json_object *o, const char *name)
{
    struct json_object *v = member(o, name);
    uint8_t *b = NULL;
    size_t len = 0;
    BIGNUM *bn;

    if (v == NULL || !json_object_is_type(v, json_type_string) ||
        ccr_b64_decode(json_object_get_string(v), strlen(json_object_get_string(v)), &b, &len, CCR_B64_URL) !=
            0 ||
        len == 0) {
        free(b);
        return NULL;
    }
    bn = BN_bin2bn(b, (int)len, NULL);
    free(b);
    return bn;
}

/* The AK: the RSA JWK with kid "HCLAkPub" in the variable data's "keys". */
static int hcl_ak_pub(struct json_object *var, EVP_PKEY **out)
{
    struct json_object *keys = member(var, "keys"), *ak = NULL, *kty;
    BIGNUM *n = NULL, *e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    int rc = 0;

    if (keys == NULL || !json_object_is_type(keys, json_type_array))
        return ccr_err_set(EBADMSG, "HCL variable data: no \"keys\" array, so no attestation key");
    for (size_t i = 0; i < json_object_array_length(keys); i++) {
        struct json_object *k = json_object_array_get_idx(keys, i), *kid = member(k, "kid");
        if (kid && json_object_is_type(kid, json_type_string) &&
            strcmp(json_object_get_string(kid), HCL_AK_KID) == 0) {
            ak = k;
            break;
        }
    }
    if (ak == NULL)
        return ccr_err_set(EBADMSG, "HCL variable data: no key with kid \"" HCL_AK_KID "\" (the vTPM's AK)");
    kty = member(ak, "kty");
    if (kty == NULL || !json_object_is_type(kty, json_type_string) ||
        strcmp(json_object_get_string(kty), "RSA") != 0)
        return ccr_err_set(EBADMSG, "HCL variable data: the AK is not an RSA key");
    if ((n = b64url_bn(ak, "n")) == NULL || (e = b64url_bn(ak, "e")) == NULL) {
        rc = ccr_err_set(EBADMSG, "HCL variable data: the AK's \"n\" or \"e\" is missing or not base64url");
        goto out;
    }
    bld = OSSL_PARAM_BLD_new();
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (bld == NULL || ctx == NULL || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1 ||
        (params = OSSL_PARAM_BLD_to_param(bld)) == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        rc = ccr_err_set(EBADMSG, "HCL variable data: the AK is not a valid RSA public key");
        goto out;
    }
out:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    BN_free(n);
    BN_free(e);
    return rc;
}

/* --- TPM quote ---------------------------------------------------------------------------- */

struct tpm_quote_view {
    const uint8_t *extra_data; /* the nonce */
    size_t extra_len;
    const uint8_t *pcr_digest;
    size_t pcr_digest_len;
};

/* TPMS_ATTEST (TPM 2.0 Part 2, 10.12.12), big-endian: magic, type, qualifiedSigner (TPM2B),
 * extraData (TPM2B), clockInfo (17 bytes), firmwareVersion (8), then for a quote
 * TPMS_QUOTE_INFO: pcrSelect (TPML_PCR_SELECTION) and pcrDigest (TPM2B). */
static int tpm_quote_parse(const uint8_t *m, size_t len, struct tpm_quote_view *q)
{
    size_t off = 0;
    uint16_t type, n;
    uint32_t count;

#define NEED(k)                                                                                              \
    do {                                                                                                     \
        if ((k) > len - off)                                                                                 \
            return ccr_err_set(EINVAL, "TPM quote: the message ends inside %s (offset %zu)", what, off);     \
    } while (0)
    const char *what = "the header";
    NEED(6);
    if (get_be32(m) != TPM_GENERATED_VALUE)
        return ccr_err_set(EINVAL, "TPM quote: magic 0x%08x is not TPM_GENERATED_VALUE", get_be32(m));
    type = get_be16(m + 4);
    off = 6;
    what = "qualifiedSigner";
    NEED(2);
    n = get_be16(m + off);
    off += 2;
    NEED(n);
    off += n;
    what = "extraData";
    NEED(2);
    n = get_be16(m + off);
    off += 2;
    NEED(n);
    if (n > 64)
        return ccr_err_set(EINVAL, "TPM quote: extraData of %u bytes (at most 64)", n);
    q->extra_data = m + off;
    q->extra_len = n;
    off += n;
    what = "clockInfo and firmwareVersion";
    NEED(17 + 8);
    off += 17 + 8;
    if (type != TPM_ST_ATTEST_QUOTE)
        return ccr_err_set(EBADMSG, "TPM attestation is not a quote (type 0x%04x)", type);
    what = "pcrSelect";
    NEED(4);
    count = get_be32(m + off);
    off += 4;
    if (count > 16)
        return ccr_err_set(EINVAL, "TPM quote: %u PCR selections", count);
    for (uint32_t i = 0; i < count; i++) {
        NEED(3);
        n = m[off + 2];
        off += 3;
        NEED(n);
        off += n;
    }
    what = "pcrDigest";
    NEED(2);
    n = get_be16(m + off);
    off += 2;
    NEED(n);
    q->pcr_digest = m + off;
    q->pcr_digest_len = n;
#undef NEED
    return 0;
}

static int verify_quote_signature(const struct vtpm_evidence *e, EVP_PKEY *ak)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md != NULL && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, ak) == 1 &&
             EVP_DigestVerify(md, e->signature, e->signature_len, e->message, e->message_len) == 1;

    EVP_MD_CTX_free(md);
    return ok ? 0 : ccr_err_set(EBADMSG, "vTPM quote is not signed by the AK in the HCL report");
}

static int verify_pcr_digest(const struct vtpm_evidence *e, const struct tpm_quote_view *q)
{
    uint8_t digest[SHA256_DIGEST_LENGTH];

    /* The PCRs are contiguous: one digest over all of them. */
    SHA256(&e->pcrs[0][0], e->n_pcrs * VTPM_PCR_LEN, digest);
    if (q->pcr_digest_len != sizeof digest || CRYPTO_memcmp(digest, q->pcr_digest, sizeof digest) != 0)
        return ccr_err_set(EBADMSG,
                           "TPM quote: the digest of the PCRs sent does not match the quote's PCR digest");
    return 0;
}

/* --- claims ------------------------------------------------------------------------------- */

static void add_hex(struct json_object *o, const char *name, const uint8_t *b, size_t len)
{
    char hex[2 * 64 + 1];
    ccr_hex_encode(b, len, hex);
    json_object_object_add(o, name, json_object_new_string(hex));
}

static struct json_object *make_claims(const struct keys_snp_report *r, const struct vtpm_evidence *e,
                                       const struct tpm_quote_view *q)
{
    struct json_object *c = keys_snp_claims(r), *tpm, *snp_rd = NULL;

    if (c == NULL)
        return NULL;
    if (json_object_object_get_ex(c, "report_data", &snp_rd))
        json_object_object_add(c, "snp_report_data", json_object_get(snp_rd));
    add_hex(c, "report_data", q->extra_data, q->extra_len);
    json_object_object_add(c, "tee", json_object_new_string(KEYS_AZ_VTPM_TEE));
    json_object_object_add(c, "evidence_version", json_object_new_int(e->version));
    tpm = json_object_new_object();
    for (size_t i = 0; i < e->n_pcrs; i++) {
        char name[24];
        snprintf(name, sizeof name, "pcr%02zu", i);
        add_hex(tpm, name, e->pcrs[i], VTPM_PCR_LEN);
    }
    json_object_object_add(c, "tpm", tpm);
    if (e->n_pcrs > VTPM_INIT_DATA_PCR)
        add_hex(c, "init_data", e->pcrs[VTPM_INIT_DATA_PCR], VTPM_PCR_LEN);
    return c;
}

/* --- the verification ---------------------------------------------------------------------- */

static int load_vcek(const struct vtpm_evidence *e, X509 **vcek)
{
    if (e->vcek_pem != NULL) {
        BIO *bio = BIO_new_mem_buf(e->vcek_pem, -1);
        *vcek = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
        return *vcek ? 0 : ccr_err_set(EINVAL, "az-snp-vtpm evidence: \"vcek\" is not a PEM certificate");
    }
    if (keys_x509_from_der(e->vcek_der, e->vcek_der_len, vcek) != 0)
        return ccr_err_set(EINVAL, "az-snp-vtpm evidence: \"vcek\" is not a DER certificate");
    return 0;
}

/* From version 2 the variable data's "user-data" (hex) begins with the expected report data. */
static int verify_user_data(struct json_object *var, const uint8_t *report_data, size_t report_data_len)
{
    struct json_object *v = member(var, "user-data");
    const char *s;
    uint8_t ud[256];
    size_t n;

    if (v == NULL || !json_object_is_type(v, json_type_string))
        return ccr_err_set(EBADMSG, "HCL variable data: no \"user-data\" (evidence version 2 carries it)");
    s = json_object_get_string(v);
    n = strlen(s);
    if (n % 2 != 0 || n / 2 > sizeof ud || ccr_hex_decode(s, ud, n / 2) != 0)
        return ccr_err_set(EBADMSG, "HCL variable data: \"user-data\" is not hex");
    if (n / 2 < report_data_len || CRYPTO_memcmp(ud, report_data, report_data_len) != 0)
        return ccr_err_set(EBADMSG, "User-data in HCL variable data doesn't match report_data");
    return 0;
}

int keys_az_vtpm_verify(const char *evidence_json, size_t len, const uint8_t *report_data,
                        size_t report_data_len, const uint8_t *init_data_hash, struct keys_snp_roots *roots,
                        time_t at, struct json_object **claims, int *is_test)
{
    struct vtpm_evidence e;
    struct hcl_view hcl = {0};
    struct tpm_quote_view q = {0};
    struct json_object *var = NULL;
    struct json_tokener *tok = NULL;
    struct keys_snp_report *r = NULL;
    struct keys_snp_verdict verdict;
    EVP_PKEY *ak = NULL;
    X509 *vcek = NULL, *ask, *ark;
    uint8_t digest[SHA256_DIGEST_LENGTH];
    int rc;

    *claims = NULL;
    *is_test = 0;
    if (report_data == NULL || report_data_len == 0 || report_data_len > 64)
        return ccr_err_set(EINVAL, "az-snp-vtpm: the expected report data must be 1 to 64 bytes");
    if ((rc = parse_evidence(evidence_json, len, &e)) != 0)
        return rc;
    if ((rc = hcl_parse(e.hcl, e.hcl_len, &hcl)) != 0 ||
        (rc = tpm_quote_parse(e.message, e.message_len, &q)) != 0)
        goto out;
    tok = json_tokener_new();
    var = tok ? json_tokener_parse_ex(tok, (const char *)hcl.var_data, (int)hcl.var_data_len) : NULL;
    /* Like serde_json::from_slice: one object, nothing but whitespace after it. */
    for (size_t i = var ? json_tokener_get_parse_end(tok) : 0; var != NULL && i < hcl.var_data_len; i++)
        if (strchr(" \t\r\n", hcl.var_data[i]) == NULL || hcl.var_data[i] == '\0') {
            json_object_put(var);
            var = NULL;
        }
    if (var == NULL || !json_object_is_type(var, json_type_object)) {
        rc = ccr_err_set(EBADMSG, "HCL variable data: not a JSON object");
        goto out;
    }
    /* 1. The quote is signed by the AK of the HCL report. */
    if ((rc = hcl_ak_pub(var, &ak)) != 0 || (rc = verify_quote_signature(&e, ak)) != 0)
        goto out;
    /* 2. Its nonce is the report data this verifier expects. */
    if (q.extra_len != report_data_len || CRYPTO_memcmp(q.extra_data, report_data, report_data_len) != 0) {
        rc = ccr_err_set(EBADMSG, "TPM quote nonce doesn't match expected report_data");
        goto out;
    }
    /* 3. The PCR values sent are the ones quoted. */
    if ((rc = verify_pcr_digest(&e, &q)) != 0)
        goto out;
    /* 4. The variable data (the AK) is what the SNP report binds. */
    if (hcl.hash_type != HCL_HASH_SHA256) {
        rc = ccr_err_set(EBADMSG, "HCL report: report data hash type %u is not SHA-256 (1)", hcl.hash_type);
        goto out;
    }
    SHA256(hcl.var_data, hcl.var_data_len, digest);
    if (CRYPTO_memcmp(digest, hcl.snp + KEYS_SNP_OFF_REPORT_DATA, sizeof digest) != 0) {
        rc = ccr_err_set(EBADMSG, "HCL variable data digest doesn't match SNP report data");
        goto out;
    }
    /* 5. From version 2, the variable data carries the report data too. */
    if (e.version >= 2 && (rc = verify_user_data(var, report_data, report_data_len)) != 0)
        goto out;
    /* 6. The SNP report is genuine; 7. it was made at VMPL 0 (by the HCL, not the guest OS). */
    if ((r = malloc(sizeof *r)) == NULL) {
        rc = ENOMEM;
        goto out;
    }
    if ((rc = keys_snp_report_parse(hcl.snp, HCL_HW_REPORT_LEN, r)) != 0 || (rc = load_vcek(&e, &vcek)) != 0)
        goto out;
    if ((rc = keys_snp_roots_find(roots, vcek, &ask, &ark, NULL, is_test)) != 0) {
        rc = ccr_err_wrap(EBADMSG, "az-snp-vtpm: the VCEK: ");
        goto out;
    }
    if ((rc = keys_snp_verify(r, vcek, ask, ark, at, &verdict)) != 0)
        goto out;
    if (r->vmpl != 0) {
        rc = ccr_err_set(EBADMSG, "VMPL of SNP report is not 0 (it is %u)", r->vmpl);
        goto out;
    }
    /* 8. The init data, when one is expected, is measured in PCR8. */
    if (init_data_hash != NULL) {
        uint8_t in[64] = {0};
        memcpy(in + 32, init_data_hash, 32);
        SHA256(in, sizeof in, digest);
        if (e.n_pcrs <= VTPM_INIT_DATA_PCR ||
            CRYPTO_memcmp(digest, e.pcrs[VTPM_INIT_DATA_PCR], sizeof digest) != 0) {
            rc = ccr_err_set(EBADMSG, "Expected init_data digest is different from the content of PCR8");
            goto out;
        }
    }
    if ((*claims = make_claims(r, &e, &q)) == NULL)
        rc = ccr_err_set(ENOMEM, "az-snp-vtpm: out of memory for the claims");
out:
    if (tok != NULL) /* json-c's free does not take NULL */
        json_tokener_free(tok);
    json_object_put(var);
    EVP_PKEY_free(ak);
    X509_free(vcek);
    free(r);
    evidence_free(&e);
    return rc;
}
