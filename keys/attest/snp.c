/* SEV-SNP report parsing and verification. */
#include "keys/attest/snp.h"
#include "common/bytes.h"
#include "common/encoding.h"
#include "common/err.h"
#include "common/fileio.h"

#include <ctype.h>
#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

void keys_snp_tcb_decode(uint64_t raw, struct keys_snp_tcb *out)
{
    keys_snp_tcb_decode_for(KEYS_SNP_PRODUCT_MILAN, raw, out);
}

uint64_t keys_snp_tcb_encode(const struct keys_snp_tcb *tcb)
{
    return keys_snp_tcb_encode_for(KEYS_SNP_PRODUCT_MILAN, tcb);
}

void keys_snp_tcb_decode_for(enum keys_snp_product p, uint64_t raw, struct keys_snp_tcb *out)
{
    memset(out, 0, sizeof *out);
    if (p == KEYS_SNP_PRODUCT_TURIN) {
        out->fmc = (uint8_t)raw;
        out->bootloader = (uint8_t)(raw >> 8);
        out->tee = (uint8_t)(raw >> 16);
        out->snp = (uint8_t)(raw >> 24);
    } else {
        out->bootloader = (uint8_t)raw;
        out->tee = (uint8_t)(raw >> 8);
        out->snp = (uint8_t)(raw >> 48);
    }
    out->microcode = (uint8_t)(raw >> 56);
}

uint64_t keys_snp_tcb_encode_for(enum keys_snp_product p, const struct keys_snp_tcb *tcb)
{
    if (p == KEYS_SNP_PRODUCT_TURIN)
        return (uint64_t)tcb->fmc | ((uint64_t)tcb->bootloader << 8) | ((uint64_t)tcb->tee << 16) |
               ((uint64_t)tcb->snp << 24) | ((uint64_t)tcb->microcode << 56);
    return (uint64_t)tcb->bootloader | ((uint64_t)tcb->tee << 8) | ((uint64_t)tcb->snp << 48) |
           ((uint64_t)tcb->microcode << 56);
}

enum keys_snp_product keys_snp_product_from_cpuid(uint8_t family, uint8_t model)
{
    /* The ranges of the sev crate's Generation::identify_cpu; Venice (family 0x1A, other
     * models) has no published roots yet and stays unknown. */
    if (family == 0x19 && model <= 0x0F)
        return KEYS_SNP_PRODUCT_MILAN;
    if (family == 0x19 && ((model >= 0x10 && model <= 0x1F) || (model >= 0xA0 && model <= 0xAF)))
        return KEYS_SNP_PRODUCT_GENOA;
    if (family == 0x1A && model <= 0x11)
        return KEYS_SNP_PRODUCT_TURIN;
    return KEYS_SNP_PRODUCT_UNKNOWN;
}

const char *keys_snp_product_name(enum keys_snp_product p)
{
    switch (p) {
    case KEYS_SNP_PRODUCT_MILAN:
        return "Milan";
    case KEYS_SNP_PRODUCT_GENOA:
        return "Genoa";
    case KEYS_SNP_PRODUCT_TURIN:
        return "Turin";
    default:
        return "unknown";
    }
}

enum keys_snp_product keys_snp_product_from_cert(X509 *cert)
{
    char cn[64] = "";
    const char *dash;

    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) <= 0)
        return KEYS_SNP_PRODUCT_UNKNOWN;
    dash = strrchr(cn, '-');
    if (dash == NULL || (strncmp(cn, "ARK-", 4) != 0 && strncmp(cn, "SEV-", 4) != 0))
        return KEYS_SNP_PRODUCT_UNKNOWN;
    for (int p = KEYS_SNP_PRODUCT_MILAN; p <= KEYS_SNP_PRODUCT_TURIN; p++)
        if (strcmp(dash + 1, keys_snp_product_name((enum keys_snp_product)p)) == 0)
            return (enum keys_snp_product)p;
    return KEYS_SNP_PRODUCT_UNKNOWN;
}

static void parse_tcbs(struct keys_snp_report *r)
{
    const uint8_t *p = r->raw;
    keys_snp_tcb_decode_for(r->product, ccr_get_le64(p + KEYS_SNP_OFF_CURRENT_TCB), &r->current_tcb);
    keys_snp_tcb_decode_for(r->product, ccr_get_le64(p + KEYS_SNP_OFF_REPORTED_TCB), &r->reported_tcb);
    keys_snp_tcb_decode_for(r->product, ccr_get_le64(p + KEYS_SNP_OFF_COMMITTED_TCB), &r->committed_tcb);
    keys_snp_tcb_decode_for(r->product, ccr_get_le64(p + KEYS_SNP_OFF_LAUNCH_TCB), &r->launch_tcb);
}

int keys_snp_report_parse(const uint8_t *buf, size_t len, struct keys_snp_report *r)
{
    const uint8_t *p = buf;

    if (len != KEYS_SNP_REPORT_LEN)
        return ccr_err_set(EINVAL, "SNP report: %zu bytes, expected %d", len, KEYS_SNP_REPORT_LEN);
    memset(r, 0, sizeof *r);
    memcpy(r->raw, buf, KEYS_SNP_REPORT_LEN);
    r->version = ccr_get_le32(p + KEYS_SNP_OFF_VERSION);
    if (r->version < 2 || r->version > 5)
        return ccr_err_set(EINVAL, "SNP report: version %u is not supported (2 to 5)", r->version);
    r->guest_svn = ccr_get_le32(p + KEYS_SNP_OFF_GUEST_SVN);
    r->policy = ccr_get_le64(p + KEYS_SNP_OFF_POLICY);
    memcpy(r->family_id, p + KEYS_SNP_OFF_FAMILY_ID, 16);
    memcpy(r->image_id, p + KEYS_SNP_OFF_IMAGE_ID, 16);
    r->vmpl = ccr_get_le32(p + KEYS_SNP_OFF_VMPL);
    if (r->vmpl > 3)
        return ccr_err_set(EINVAL, "SNP report: VMPL %u at offset 0x30 is out of range (0-3)", r->vmpl);
    r->sig_algo = ccr_get_le32(p + KEYS_SNP_OFF_SIG_ALGO);
    if (r->sig_algo != 1)
        return ccr_err_set(EINVAL, "SNP report: signature algorithm %u is not ECDSA P-384 with SHA-384 (1)",
                           r->sig_algo);
    r->platform_info = ccr_get_le64(p + KEYS_SNP_OFF_PLATFORM_INFO);
    r->key_info = ccr_get_le32(p + KEYS_SNP_OFF_KEY_INFO);
    r->signing_key = (enum keys_snp_signing_key)((r->key_info >> 2) & 7);
    if (r->signing_key != KEYS_SNP_KEY_VCEK && r->signing_key != KEYS_SNP_KEY_VLEK)
        return ccr_err_set(EINVAL,
                           "SNP report: KEY_INFO at 0x48 names signing key %u (neither VCEK 0 nor VLEK 1): "
                           "the report is unsigned or signed by an unknown key",
                           (unsigned)r->signing_key);
    memcpy(r->report_data, p + KEYS_SNP_OFF_REPORT_DATA, KEYS_SNP_REPORT_DATA_LEN);
    memcpy(r->measurement, p + KEYS_SNP_OFF_MEASUREMENT, KEYS_SNP_MEASUREMENT_LEN);
    memcpy(r->host_data, p + KEYS_SNP_OFF_HOST_DATA, KEYS_SNP_HOST_DATA_LEN);
    memcpy(r->id_key_digest, p + KEYS_SNP_OFF_ID_KEY_DIGEST, 48);
    memcpy(r->author_key_digest, p + KEYS_SNP_OFF_AUTHOR_KEY_DIGEST, 48);
    memcpy(r->report_id, p + KEYS_SNP_OFF_REPORT_ID, 32);
    memcpy(r->report_id_ma, p + KEYS_SNP_OFF_REPORT_ID_MA, 32);
    if (r->version >= 3) {
        r->cpuid_fam_id = p[KEYS_SNP_OFF_CPUID_FAM_ID];
        r->cpuid_mod_id = p[KEYS_SNP_OFF_CPUID_MOD_ID];
        r->cpuid_step = p[KEYS_SNP_OFF_CPUID_STEP];
        r->product = keys_snp_product_from_cpuid(r->cpuid_fam_id, r->cpuid_mod_id);
        if (r->product == KEYS_SNP_PRODUCT_UNKNOWN)
            return ccr_err_set(EINVAL,
                               "SNP report: CPUID family 0x%02x model 0x%02x at 0x188 is no known SEV-SNP "
                               "product (Milan, Genoa, Turin)",
                               r->cpuid_fam_id, r->cpuid_mod_id);
    }
    memcpy(r->chip_id, p + KEYS_SNP_OFF_CHIP_ID, KEYS_SNP_CHIP_ID_LEN);
    r->current.build = p[KEYS_SNP_OFF_CURRENT_VERSION];
    r->current.minor = p[KEYS_SNP_OFF_CURRENT_VERSION + 1];
    r->current.major = p[KEYS_SNP_OFF_CURRENT_VERSION + 2];
    r->committed.build = p[KEYS_SNP_OFF_COMMITTED_VERSION];
    r->committed.minor = p[KEYS_SNP_OFF_COMMITTED_VERSION + 1];
    r->committed.major = p[KEYS_SNP_OFF_COMMITTED_VERSION + 2];
    if (r->version >= 5) {
        r->launch_mit_vector = ccr_get_le64(p + KEYS_SNP_OFF_LAUNCH_MIT_VECTOR);
        r->current_mit_vector = ccr_get_le64(p + KEYS_SNP_OFF_CURRENT_MIT_VECTOR);
    }
    parse_tcbs(r);
    return 0;
}

int keys_snp_report_load(const char *path, struct keys_snp_report *out)
{
    uint8_t *buf, *bin = NULL;
    size_t len, n = 0;
    int rc;

    if ((rc = ccr_read_file(path, 1 << 16, &buf, &len)) != 0)
        return rc;
    if (len != KEYS_SNP_REPORT_LEN) {
        /* Hex text: keep only the digits, then decode. */
        char *hex = malloc(len + 1);
        if (hex == NULL) {
            free(buf);
            return ENOMEM;
        }
        for (size_t i = 0; i < len; i++)
            if (!isspace(buf[i]))
                hex[n++] = (char)buf[i];
        hex[n] = '\0';
        if (n != 2 * KEYS_SNP_REPORT_LEN) {
            free(hex);
            free(buf);
            return ccr_err_set(EINVAL, "%s: %zu bytes: neither a 1184-byte report nor its hex text", path,
                               len);
        }
        bin = malloc(KEYS_SNP_REPORT_LEN);
        if (bin == NULL || ccr_hex_decode(hex, bin, KEYS_SNP_REPORT_LEN) != 0) {
            free(hex);
            free(bin);
            free(buf);
            return ccr_err_set(EINVAL, "%s: not valid hex text", path);
        }
        free(hex);
        rc = keys_snp_report_parse(bin, KEYS_SNP_REPORT_LEN, out);
        free(bin);
    } else {
        rc = keys_snp_report_parse(buf, len, out);
    }
    free(buf);
    if (rc != 0)
        return ccr_err_wrap(rc, "%s: ", path);
    return 0;
}

int keys_x509_from_der(const uint8_t *der, size_t len, X509 **out)
{
    const uint8_t *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    if (x == NULL || p != der + len) {
        X509_free(x);
        return ccr_err_set(EINVAL, "not a DER certificate");
    }
    *out = x;
    return 0;
}

int keys_x509_to_der(X509 *cert, uint8_t **der, size_t *len)
{
    unsigned char *buf, *p;
    int n = i2d_X509(cert, NULL);
    if (n <= 0)
        return ccr_err_set(EINVAL, "cannot encode a certificate");
    if ((buf = malloc((size_t)n)) == NULL)
        return ENOMEM;
    p = buf;
    i2d_X509(cert, &p);
    *der = buf;
    *len = (size_t)n;
    return 0;
}

int keys_x509_load_all(const char *path, STACK_OF(X509) * *out)
{
    uint8_t *buf;
    size_t len;
    STACK_OF(X509) * sk;
    BIO *bio;
    X509 *x;
    int rc;

    if ((rc = ccr_read_file(path, 1 << 20, &buf, &len)) != 0)
        return rc;
    sk = sk_X509_new_null();
    if (sk == NULL) {
        free(buf);
        return ENOMEM;
    }
    if (len > 0 && buf[0] == 0x30) {
        if (keys_x509_from_der(buf, len, &x) == 0)
            sk_X509_push(sk, x);
    } else {
        bio = BIO_new_mem_buf(buf, (int)len);
        while (bio != NULL && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
            sk_X509_push(sk, x);
        BIO_free(bio);
    }
    free(buf);
    if (sk_X509_num(sk) == 0) {
        sk_X509_free(sk);
        return ccr_err_set(EINVAL, "%s: no certificate (PEM or DER) in it", path);
    }
    *out = sk;
    return 0;
}

int keys_x509_load(const char *path, X509 **out)
{
    STACK_OF(X509) * sk;
    int rc = keys_x509_load_all(path, &sk);
    if (rc != 0)
        return rc;
    *out = sk_X509_shift(sk);
    sk_X509_pop_free(sk, X509_free);
    return 0;
}

static const char *key_name(enum keys_snp_signing_key k)
{
    return k == KEYS_SNP_KEY_VLEK ? "VLEK" : "VCEK";
}

int keys_snp_verify_signature(const struct keys_snp_report *r, X509 *vcek)
{
    EVP_PKEY *pub = X509_get0_pubkey(vcek);
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *br = BN_lebin2bn(r->raw + KEYS_SNP_SIG_OFFSET, KEYS_SNP_SIG_COMPONENT, NULL);
    BIGNUM *bs =
        BN_lebin2bn(r->raw + KEYS_SNP_SIG_OFFSET + KEYS_SNP_SIG_COMPONENT, KEYS_SNP_SIG_COMPONENT, NULL);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char *der = NULL;
    int der_len, ok = 0;

    if (pub == NULL || EVP_PKEY_get_base_id(pub) != EVP_PKEY_EC || EVP_PKEY_get_bits(pub) != 384) {
        BN_free(br);
        BN_free(bs);
        ECDSA_SIG_free(sig);
        EVP_MD_CTX_free(md);
        return ccr_err_set(EBADMSG, "SNP report: the VCEK/VLEK does not hold an ECDSA P-384 key");
    }
    if (sig != NULL && br != NULL && bs != NULL && ECDSA_SIG_set0(sig, br, bs) == 1) {
        br = bs = NULL;
        der_len = i2d_ECDSA_SIG(sig, &der);
        if (der_len > 0 && md != NULL && EVP_DigestVerifyInit(md, NULL, EVP_sha384(), NULL, pub) == 1 &&
            EVP_DigestVerify(md, der, (size_t)der_len, r->raw, KEYS_SNP_SIGNED_LEN) == 1)
            ok = 1;
    }
    BN_free(br);
    BN_free(bs);
    ECDSA_SIG_free(sig);
    OPENSSL_free(der);
    EVP_MD_CTX_free(md);
    if (!ok)
        return ccr_err_set(EBADMSG,
                           "SNP report: the signature over bytes 0x000-0x29F does not verify with the %s",
                           key_name(r->signing_key));
    return 0;
}

/* The value of an AMD extension, unwrapped from the extension's OCTET STRING. */
static const ASN1_OCTET_STRING *amd_ext(X509 *cert, const char *oid)
{
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
    int idx = obj ? X509_get_ext_by_OBJ(cert, obj, -1) : -1;
    ASN1_OBJECT_free(obj);
    if (idx < 0)
        return NULL;
    return X509_EXTENSION_get_data(X509_get_ext(cert, idx));
}

static int amd_ext_int(X509 *cert, const char *oid, const char *name, long *out)
{
    const ASN1_OCTET_STRING *os = amd_ext(cert, oid);
    const unsigned char *p;
    ASN1_INTEGER *ai;

    if (os == NULL)
        return ccr_err_set(EBADMSG, "no %s extension (%s)", name, oid);
    p = ASN1_STRING_get0_data(os);
    ai = d2i_ASN1_INTEGER(NULL, &p, ASN1_STRING_length(os));
    if (ai == NULL || ASN1_INTEGER_get_int64((int64_t *)out, ai) != 1) {
        ASN1_INTEGER_free(ai);
        return ccr_err_set(EBADMSG, "the %s extension is not an INTEGER", name);
    }
    ASN1_INTEGER_free(ai);
    return 0;
}

static int check_validity(X509 *cert, const char *name, time_t at)
{
    time_t t = at ? at : time(NULL);
    if (X509_cmp_time(X509_get0_notBefore(cert), &t) > 0)
        return ccr_err_set(EBADMSG, "%s certificate is not yet valid at the verification time", name);
    if (X509_cmp_time(X509_get0_notAfter(cert), &t) < 0)
        return ccr_err_set(EBADMSG, "%s certificate has expired at the verification time", name);
    return 0;
}

static int check_signed_by(X509 *cert, X509 *issuer, const char *name, const char *issuer_name)
{
    EVP_PKEY *k = X509_get0_pubkey(issuer);
    if (k == NULL || (EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA && EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA_PSS))
        return ccr_err_set(EBADMSG, "%s: the %s does not hold an RSA key", name, issuer_name);
    if (X509_get_signature_nid(cert) != NID_rsassaPss)
        return ccr_err_set(EBADMSG, "%s is not signed with RSA-PSS", name);
    if (X509_check_issued(issuer, cert) != X509_V_OK)
        return ccr_err_set(EBADMSG, "%s was not issued by the %s (names differ)", name, issuer_name);
    if (X509_verify(cert, k) != 1)
        return ccr_err_set(EBADMSG, "%s signature does not verify with the %s key", name, issuer_name);
    return 0;
}

/* The TCB extensions of the endorsement key against the reported TCB. */
static int check_tcb(X509 *vek, const struct keys_snp_tcb *reported, enum keys_snp_product product,
                     const char *kname)
{
    const struct {
        const char *oid, *name;
        uint8_t value;
    } ext[] = {
        {"1.3.6.1.4.1.3704.1.3.1", "blSPL", reported->bootloader},
        {"1.3.6.1.4.1.3704.1.3.2", "teeSPL", reported->tee},
        {"1.3.6.1.4.1.3704.1.3.3", "snpSPL", reported->snp},
        {"1.3.6.1.4.1.3704.1.3.8", "ucodeSPL", reported->microcode},
        {"1.3.6.1.4.1.3704.1.3.9", "fmcSPL", reported->fmc}, /* Turin and later only */
    };
    size_t n = product == KEYS_SNP_PRODUCT_TURIN ? 5 : 4;
    int rc;

    for (size_t i = 0; i < n; i++) {
        long val;
        if ((rc = amd_ext_int(vek, ext[i].oid, ext[i].name, &val)) != 0)
            return ccr_err_wrap(rc, "%s: ", kname);
        if (val != ext[i].value)
            return ccr_err_set(EBADMSG, "SNP report: reported TCB %s is %u but the %s is for %ld",
                               ext[i].name, ext[i].value, kname, val);
    }
    return 0;
}

/* A VCEK's hwID against the chip id: 64 bytes, or 8 on Turin (the rest of the chip id zero);
 * some VCEKs wrap it in a DER OCTET STRING. */
static int check_chip_id(X509 *vcek, const struct keys_snp_report *r, enum keys_snp_product product)
{
    const ASN1_OCTET_STRING *hw = amd_ext(vcek, "1.3.6.1.4.1.3704.1.4");
    const unsigned char *hwp;
    int hwlen, want = product == KEYS_SNP_PRODUCT_TURIN ? 8 : KEYS_SNP_CHIP_ID_LEN;
    static const uint8_t zeros[KEYS_SNP_CHIP_ID_LEN];

    if (hw == NULL)
        return ccr_err_set(EBADMSG, "VCEK: no hwID extension (1.3.6.1.4.1.3704.1.4)");
    hwp = ASN1_STRING_get0_data(hw);
    hwlen = ASN1_STRING_length(hw);
    if (hwlen == want + 2 && hwp[0] == 0x04 && hwp[1] == want) {
        hwp += 2;
        hwlen -= 2;
    }
    if (hwlen != want)
        return ccr_err_set(EBADMSG, "VCEK: hwID extension is %d bytes, expected %d for %s", hwlen, want,
                           keys_snp_product_name(product));
    if (memcmp(r->chip_id, zeros, sizeof zeros) == 0)
        return ccr_err_set(EBADMSG, "SNP report: the chip id is zero (masked), so the report cannot be "
                                    "bound to the VCEK's chip");
    if (memcmp(hwp, r->chip_id, (size_t)want) != 0 ||
        memcmp(r->chip_id + want, zeros, (size_t)(KEYS_SNP_CHIP_ID_LEN - want)) != 0)
        return ccr_err_set(EBADMSG,
                           "SNP report: chip id differs from the VCEK's hwID: the VCEK is for another chip");
    return 0;
}

int keys_snp_verify_ex(const struct keys_snp_report *r, X509 *vcek, X509 *ask, X509 *ark, time_t at,
                       const struct keys_snp_verify_opts *opts, struct keys_snp_verdict *v)
{
    uint32_t min_version = opts && opts->min_version ? opts->min_version : 2;
    enum keys_snp_key_demand demand = opts ? opts->key : KEYS_SNP_KEY_ANY;
    enum keys_snp_product product = r->product, root_product;
    const char *kname = key_name(r->signing_key),
               *iname = r->signing_key == KEYS_SNP_KEY_VLEK ? "ASVK" : "ASK";
    struct keys_snp_tcb reported = r->reported_tcb;
    char cn[64] = "";
    int rc;

    memset(v, 0, sizeof *v);
    X509_NAME_get_text_by_NID(X509_get_subject_name(ark), NID_commonName, v->ark_cn, sizeof v->ark_cn);
    if (r->version < min_version)
        return ccr_err_set(EBADMSG, "SNP report: version %u is below the minimum of %u this verifier demands",
                           r->version, min_version);
    if (demand == KEYS_SNP_KEY_ONLY_VCEK && r->signing_key != KEYS_SNP_KEY_VCEK)
        return ccr_err_set(EBADMSG, "SNP report: signed by a %s (KEY_INFO), but a VCEK is demanded", kname);
    if (demand == KEYS_SNP_KEY_ONLY_VLEK && r->signing_key != KEYS_SNP_KEY_VLEK)
        return ccr_err_set(EBADMSG, "SNP report: signed by a %s (KEY_INFO), but a VLEK is demanded", kname);
    if (r->key_info & KEYS_SNP_KEY_INFO_MASK_CHIP_KEY)
        return ccr_err_set(EBADMSG,
                           "SNP report: KEY_INFO has MASK_CHIP_KEY set: the firmware did not sign it");
    /* The certificate must be the kind of key the report says signed it: a VLEK report
     * checked against a VCEK (or the reverse) is refused, not tried. */
    X509_NAME_get_text_by_NID(X509_get_subject_name(vcek), NID_commonName, cn, sizeof cn);
    if (strcmp(cn, r->signing_key == KEYS_SNP_KEY_VLEK ? "SEV-VLEK" : "SEV-VCEK") != 0)
        return ccr_err_set(EBADMSG,
                           "SNP report: KEY_INFO says a %s signed it, but the certificate given is '%s' "
                           "(expected SEV-%s)",
                           kname, cn, kname);
    if ((rc = check_signed_by(ark, ark, "ARK", "ARK itself")) != 0 ||
        (rc = check_signed_by(ask, ark, iname, "ARK")) != 0 ||
        (rc = check_signed_by(vcek, ask, kname, iname)) != 0)
        return rc;
    if ((rc = check_validity(ark, "ARK", at)) != 0 || (rc = check_validity(ask, iname, at)) != 0 ||
        (rc = check_validity(vcek, kname, at)) != 0)
        return rc;
    /* An AMD root names its product; it must be the report's. Test roots name none. */
    root_product = keys_snp_product_from_cert(ark);
    if (root_product != KEYS_SNP_PRODUCT_UNKNOWN) {
        if (product != KEYS_SNP_PRODUCT_UNKNOWN && product != root_product)
            return ccr_err_set(EBADMSG,
                               "SNP report: CPUID says %s but the chain ends at %s: the wrong product's root",
                               keys_snp_product_name(product), v->ark_cn);
        if (product == KEYS_SNP_PRODUCT_UNKNOWN) {
            /* version 2: the chain says which product, and so which TCB layout */
            product = root_product;
            keys_snp_tcb_decode_for(product, ccr_get_le64(r->raw + KEYS_SNP_OFF_REPORTED_TCB), &reported);
        }
    }
    if ((rc = check_tcb(vcek, &reported, product, kname)) != 0)
        return rc;
    if (r->signing_key == KEYS_SNP_KEY_VCEK && (rc = check_chip_id(vcek, r, product)) != 0)
        return rc;
    if ((rc = keys_snp_verify_signature(r, vcek)) != 0)
        return rc;
    v->debug = (r->policy & KEYS_SNP_POLICY_DEBUG) != 0;
    v->migrate_ma = (r->policy & KEYS_SNP_POLICY_MIGRATE_MA) != 0;
    v->product = product;
    v->signing_key = r->signing_key;
    return 0;
}

int keys_snp_verify(const struct keys_snp_report *r, X509 *vcek, X509 *ask, X509 *ark, time_t at,
                    struct keys_snp_verdict *v)
{
    return keys_snp_verify_ex(r, vcek, ask, ark, at, NULL, v);
}

static void add_hex(struct json_object *o, const char *name, const uint8_t *p, size_t len)
{
    char hex[2 * 64 + 1];
    ccr_hex_encode(p, len, hex);
    json_object_object_add(o, name, json_object_new_string(hex));
}

static struct json_object *claims_for(const struct keys_snp_report *r, enum keys_snp_product product)
{
    struct json_object *o = json_object_new_object();
    struct keys_snp_tcb tcb = r->reported_tcb;
    char fw[16];

    if (o == NULL)
        return NULL;
    if (product != r->product)
        keys_snp_tcb_decode_for(product, ccr_get_le64(r->raw + KEYS_SNP_OFF_REPORTED_TCB), &tcb);
    add_hex(o, "measurement", r->measurement, sizeof r->measurement);
    add_hex(o, "host_data", r->host_data, sizeof r->host_data);
    add_hex(o, "report_data", r->report_data, sizeof r->report_data);
    add_hex(o, "chip_id", r->chip_id, sizeof r->chip_id);
    add_hex(o, "family_id", r->family_id, sizeof r->family_id);
    add_hex(o, "image_id", r->image_id, sizeof r->image_id);
    json_object_object_add(o, "debug", json_object_new_boolean((r->policy & KEYS_SNP_POLICY_DEBUG) != 0));
    json_object_object_add(o, "migrate_ma",
                           json_object_new_boolean((r->policy & KEYS_SNP_POLICY_MIGRATE_MA) != 0));
    json_object_object_add(o, "smt", json_object_new_boolean((r->policy & KEYS_SNP_POLICY_SMT) != 0));
    json_object_object_add(o, "vmpl", json_object_new_int64(r->vmpl));
    json_object_object_add(o, "version", json_object_new_int64(r->version));
    json_object_object_add(o, "guest_svn", json_object_new_int64(r->guest_svn));
    json_object_object_add(o, "policy", json_object_new_int64((int64_t)r->policy));
    json_object_object_add(o, "reported_tcb_bootloader", json_object_new_int64(tcb.bootloader));
    json_object_object_add(o, "reported_tcb_tee", json_object_new_int64(tcb.tee));
    json_object_object_add(o, "reported_tcb_snp", json_object_new_int64(tcb.snp));
    json_object_object_add(o, "reported_tcb_microcode", json_object_new_int64(tcb.microcode));
    json_object_object_add(o, "reported_tcb_fmc", json_object_new_int64(tcb.fmc));
    json_object_object_add(o, "product", json_object_new_string(keys_snp_product_name(product)));
    json_object_object_add(o, "signing_key", json_object_new_string(key_name(r->signing_key)));
    snprintf(fw, sizeof fw, "%u.%u.%u", r->current.major, r->current.minor, r->current.build);
    json_object_object_add(o, "current_firmware", json_object_new_string(fw));
    return o;
}

struct json_object *keys_snp_claims(const struct keys_snp_report *r)
{
    return claims_for(r, r->product);
}

struct json_object *keys_snp_claims_verified(const struct keys_snp_report *r,
                                             const struct keys_snp_verdict *verdict)
{
    return claims_for(r, verdict->product != KEYS_SNP_PRODUCT_UNKNOWN ? verdict->product : r->product);
}
