/* The simulated SEV-SNP guest. */
#include "keys/attest/sim.h"
#include "common/random.h"
#include "common/bytes.h"
#include "common/encoding.h"
#include "common/err.h"
#include "common/fileio.h"
#include "format/crypto.h"

#include <fcntl.h>
#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SIM_DEFAULT_POLICY (KEYS_SNP_POLICY_SMT | KEYS_SNP_POLICY_RESERVED1)

static const struct keys_snp_tcb sim_tcb = {.bootloader = 3, .tee = 0, .snp = 8, .microcode = 115, .fmc = 1};

#define SIM_DEFAULT_VERSION 3

/* CPUID family, model and stepping of a part of each product. */
static const struct {
    enum keys_snp_product product;
    uint8_t family, model, step;
} sim_cpuid[] = {
    {KEYS_SNP_PRODUCT_MILAN, 0x19, 0x01, 0x01},
    {KEYS_SNP_PRODUCT_GENOA, 0x19, 0x11, 0x01},
    {KEYS_SNP_PRODUCT_TURIN, 0x1A, 0x02, 0x00},
};

static char *sim_path(const char *dir, const char *name)
{
    return ccr_path_join(dir, name);
}

static EVP_PKEY *gen_rsa4096(void)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
}

static EVP_PKEY *gen_p384(void)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
}

static X509_NAME *amd_name(const char *cn)
{
    X509_NAME *n = X509_NAME_new();
    X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_ASC, (const unsigned char *)"Engineering", -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "C", MBSTRING_ASC, (const unsigned char *)"US", -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "L", MBSTRING_ASC, (const unsigned char *)"Santa Clara", -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "ST", MBSTRING_ASC, (const unsigned char *)"CA", -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC,
                               (const unsigned char *)"ccrfs simulated SEV-SNP (TEST ONLY)", -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    return n;
}

static int add_ext_nid(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *e;
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (e == NULL)
        return EINVAL;
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    return 0;
}

/* An AMD extension whose extnValue holds the given DER. */
static int add_ext_der(X509 *x, const char *oid, const unsigned char *der, int len)
{
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    X509_EXTENSION *e = NULL;
    int rc = EINVAL;

    if (obj && os && ASN1_OCTET_STRING_set(os, der, len) == 1 &&
        (e = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os)) != NULL && X509_add_ext(x, e, -1) == 1)
        rc = 0;
    X509_EXTENSION_free(e);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(obj);
    return rc;
}

static int add_ext_int(X509 *x, const char *oid, long v)
{
    ASN1_INTEGER *ai = ASN1_INTEGER_new();
    unsigned char *der = NULL;
    int len, rc = EINVAL;
    if (ai && ASN1_INTEGER_set(ai, v) == 1 && (len = i2d_ASN1_INTEGER(ai, &der)) > 0)
        rc = add_ext_der(x, oid, der, len);
    OPENSSL_free(der);
    ASN1_INTEGER_free(ai);
    return rc;
}

static int sign_pss(X509 *x, EVP_PKEY *key)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok = md != NULL && EVP_DigestSignInit(md, &pctx, EVP_sha384(), NULL, key) == 1 &&
             EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 48) == 1 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha384()) == 1 && X509_sign_ctx(x, md) > 0;
    EVP_MD_CTX_free(md);
    return ok ? 0 : ccr_err_set(EIO, "cannot sign a simulated certificate with RSA-PSS");
}

static X509 *new_cert(long serial, const char *cn, X509 *issuer, EVP_PKEY *pub, long days)
{
    X509 *x = X509_new();
    X509_NAME *subj = amd_name(cn);
    if (x == NULL || subj == NULL) {
        X509_free(x);
        X509_NAME_free(subj);
        return NULL;
    }
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), -86400);
    X509_gmtime_adj(X509_getm_notAfter(x), days * 86400L);
    X509_set_subject_name(x, subj);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subj);
    X509_set_pubkey(x, pub);
    X509_NAME_free(subj);
    return x;
}

static int write_key(const char *dir, const char *name, EVP_PKEY *key)
{
    char *path = sim_path(dir, name);
    BIO *bio = BIO_new(BIO_s_mem());
    BUF_MEM *mem;
    int rc = EIO;

    if (path && bio && PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1) {
        BIO_get_mem_ptr(bio, &mem);
        rc = ccr_write_file_atomic(path, mem->data, mem->length, 0600);
    }
    BIO_free_all(bio); /* memory BIO: the buffer is wiped by BIO_free only as plain free */
    free(path);
    return rc;
}

static int write_cert(const char *dir, const char *name, X509 *x)
{
    char *path = sim_path(dir, name);
    BIO *bio = BIO_new(BIO_s_mem());
    BUF_MEM *mem;
    int rc = EIO;

    if (path && bio && PEM_write_bio_X509(bio, x) == 1) {
        BIO_get_mem_ptr(bio, &mem);
        rc = ccr_write_file_atomic(path, mem->data, mem->length, 0644);
    }
    BIO_free_all(bio);
    free(path);
    return rc;
}

static EVP_PKEY *read_key(const char *dir, const char *name)
{
    char *path = sim_path(dir, name);
    FILE *f = path ? fopen(path, "re") : NULL;
    EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    if (k == NULL)
        ccr_err_set(ENOENT, "%s: cannot read the simulator key (run 'ccrfs attest sim-init %s')",
                    path ? path : name, dir);
    free(path);
    return k;
}

int keys_sim_init(const char *dir, const struct keys_sim_config *cfg)
{
    EVP_PKEY *ark_key = NULL, *ask_key = NULL, *vcek_key = NULL;
    X509 *ark = NULL, *ask = NULL, *vcek = NULL;
    uint8_t chip_id[KEYS_SNP_CHIP_ID_LEN], hwid_der[2 + KEYS_SNP_CHIP_ID_LEN], tmp[KEYS_SNP_MEASUREMENT_LEN];
    char chip_hex[2 * KEYS_SNP_CHIP_ID_LEN + 1];
    struct json_object *conf = NULL;
    char *conf_path = NULL;
    const char *text;
    uint32_t version;
    enum keys_snp_product product;
    int rc, hwid_len;

    if (cfg->host_data_hex && ccr_hex_decode(cfg->host_data_hex, tmp, KEYS_SNP_HOST_DATA_LEN) != 0)
        return ccr_err_set(EINVAL, "host data: expected 64 hex digits (32 bytes)");
    if (cfg->measurement_hex && ccr_hex_decode(cfg->measurement_hex, tmp, KEYS_SNP_MEASUREMENT_LEN) != 0)
        return ccr_err_set(EINVAL, "measurement: expected 96 hex digits (48 bytes)");
    if (cfg->vmpl > 3)
        return ccr_err_set(EINVAL, "vmpl: %u is out of range (0-3)", cfg->vmpl);
    version = cfg->version ? cfg->version : SIM_DEFAULT_VERSION;
    product = cfg->product != KEYS_SNP_PRODUCT_UNKNOWN ? cfg->product : KEYS_SNP_PRODUCT_MILAN;
    if (version != 2 && version != 3 && version != 5)
        return ccr_err_set(EINVAL, "report version %u: the simulator makes versions 2, 3 and 5", version);
    if (version == 2 && product == KEYS_SNP_PRODUCT_TURIN)
        return ccr_err_set(EINVAL,
                           "a Turin report is version 3 or later (a version 2 report has no CPUID fields)");
    if ((rc = ccr_mkdirs(dir, 0700)) != 0)
        return rc;
    chmod(dir, 0700);
    rc = EIO;
    if ((ark_key = gen_rsa4096()) == NULL || (ask_key = gen_rsa4096()) == NULL ||
        (vcek_key = gen_p384()) == NULL) {
        rc = ccr_err_set(EIO, "cannot generate the simulator's keys");
        goto out;
    }
    /* ARK: self-signed CA; ASK: CA with path length 0, issued by the ARK; VCEK: leaf. */
    if ((ark = new_cert(1, "ARK-Sim", NULL, ark_key, 25 * 365)) == NULL ||
        add_ext_nid(ark, ark, NID_basic_constraints, "critical,CA:TRUE") != 0 ||
        add_ext_nid(ark, ark, NID_key_usage, "critical,keyCertSign,cRLSign") != 0 ||
        add_ext_nid(ark, ark, NID_subject_key_identifier, "hash") != 0 || (rc = sign_pss(ark, ark_key)) != 0)
        goto fail;
    if ((ask = new_cert(2, "SEV-Sim", ark, ask_key, 25 * 365)) == NULL ||
        add_ext_nid(ask, ark, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") != 0 ||
        add_ext_nid(ask, ark, NID_key_usage, "critical,keyCertSign,cRLSign") != 0 ||
        add_ext_nid(ask, ark, NID_subject_key_identifier, "hash") != 0 ||
        add_ext_nid(ask, ark, NID_authority_key_identifier, "keyid:always") != 0 ||
        (rc = sign_pss(ask, ark_key)) != 0)
        goto fail;
    if ((rc = ccr_random(chip_id, sizeof chip_id)) != 0)
        goto out;
    /* Turin's chip id is 8 bytes, the rest of the report's field zero */
    hwid_len = product == KEYS_SNP_PRODUCT_TURIN ? 8 : KEYS_SNP_CHIP_ID_LEN;
    memset(chip_id + hwid_len, 0, sizeof chip_id - (size_t)hwid_len);
    hwid_der[0] = 0x04;
    hwid_der[1] = (uint8_t)hwid_len;
    memcpy(hwid_der + 2, chip_id, (size_t)hwid_len);
    if ((vcek = new_cert(3, "SEV-VCEK", ask, vcek_key, 7 * 365)) == NULL ||
        add_ext_int(vcek, "1.3.6.1.4.1.3704.1.1", 1) != 0 ||
        add_ext_int(vcek, "1.3.6.1.4.1.3704.1.3.1", sim_tcb.bootloader) != 0 ||
        add_ext_int(vcek, "1.3.6.1.4.1.3704.1.3.2", sim_tcb.tee) != 0 ||
        add_ext_int(vcek, "1.3.6.1.4.1.3704.1.3.3", sim_tcb.snp) != 0 ||
        add_ext_int(vcek, "1.3.6.1.4.1.3704.1.3.4", 0) != 0 ||
        add_ext_int(vcek, "1.3.6.1.4.1.3704.1.3.5", 0) != 0 ||
        add_ext_int(vcek, "1.3.6.1.4.1.3704.1.3.6", 0) != 0 ||
        add_ext_int(vcek, "1.3.6.1.4.1.3704.1.3.7", 0) != 0 ||
        add_ext_int(vcek, "1.3.6.1.4.1.3704.1.3.8", sim_tcb.microcode) != 0 ||
        (product == KEYS_SNP_PRODUCT_TURIN &&
         add_ext_int(vcek, "1.3.6.1.4.1.3704.1.3.9", sim_tcb.fmc) != 0) ||
        add_ext_der(vcek, "1.3.6.1.4.1.3704.1.4", hwid_der, 2 + hwid_len) != 0 ||
        (rc = sign_pss(vcek, ask_key)) != 0)
        goto fail;
    if ((rc = write_key(dir, "ark.key", ark_key)) != 0 || (rc = write_key(dir, "ask.key", ask_key)) != 0 ||
        (rc = write_key(dir, "vcek.key", vcek_key)) != 0 || (rc = write_cert(dir, "ark.pem", ark)) != 0 ||
        (rc = write_cert(dir, "ask.pem", ask)) != 0 || (rc = write_cert(dir, "vcek.pem", vcek)) != 0)
        goto out;
    ccr_hex_encode(chip_id, sizeof chip_id, chip_hex);
    conf = json_object_new_object();
    json_object_object_add(conf, "policy",
                           json_object_new_int64((int64_t)(cfg->policy ? cfg->policy : SIM_DEFAULT_POLICY)));
    json_object_object_add(conf, "vmpl", json_object_new_int64(cfg->vmpl));
    json_object_object_add(conf, "chip_id", json_object_new_string(chip_hex));
    json_object_object_add(conf, "version", json_object_new_int64(version));
    json_object_object_add(conf, "product", json_object_new_string(keys_snp_product_name(product)));
    if (cfg->host_data_hex)
        json_object_object_add(conf, "host_data", json_object_new_string(cfg->host_data_hex));
    if (cfg->measurement_hex)
        json_object_object_add(conf, "measurement", json_object_new_string(cfg->measurement_hex));
    text = json_object_to_json_string_ext(conf, JSON_C_TO_STRING_PRETTY);
    conf_path = sim_path(dir, "sim.json");
    rc = conf_path ? ccr_write_file_atomic(conf_path, text, strlen(text), 0600) : ENOMEM;
    if (rc == 0) {
        /* A host_data file left by an earlier guest would override the new machine's settings. */
        char *hd_path = sim_path(dir, "host_data");
        if (hd_path == NULL || (unlink(hd_path) != 0 && errno != ENOENT))
            rc = hd_path == NULL ? ENOMEM : ccr_err_set(errno, "%s: %s", hd_path, strerror(errno));
        free(hd_path);
    }
    goto out;
fail:
    if (rc == 0 || rc == EIO)
        rc = ccr_err_set(EIO, "cannot build the simulator's certificates");
out:
    json_object_put(conf);
    free(conf_path);
    X509_free(ark);
    X509_free(ask);
    X509_free(vcek);
    EVP_PKEY_free(ark_key);
    EVP_PKEY_free(ask_key);
    EVP_PKEY_free(vcek_key);
    return rc;
}

int keys_sim_relaunch(const char *dir, const char *host_data_hex)
{
    uint8_t tmp[KEYS_SNP_HOST_DATA_LEN];
    char *conf_path = sim_path(dir, "sim.json"), *key_path = sim_path(dir, "vcek.key"),
         *hd_path = sim_path(dir, "host_data");
    int rc;

    if (conf_path == NULL || key_path == NULL || hd_path == NULL)
        rc = ENOMEM;
    else if (host_data_hex == NULL || strlen(host_data_hex) != 2 * KEYS_SNP_HOST_DATA_LEN ||
             ccr_hex_decode(host_data_hex, tmp, KEYS_SNP_HOST_DATA_LEN) != 0)
        rc = ccr_err_set(EINVAL, "host data: expected 64 hex digits (32 bytes)");
    else if (access(conf_path, R_OK) != 0 || access(key_path, R_OK) != 0)
        rc = ccr_err_set(
            ENOENT, "%s holds no simulated machine to launch a guest on (run sim-init without --relaunch)",
            dir);
    else
        rc = ccr_write_file_atomic(hd_path, host_data_hex, strlen(host_data_hex), 0600);
    free(conf_path);
    free(key_path);
    free(hd_path);
    return rc;
}

int keys_sim_self_measurement(uint8_t out[KEYS_SNP_MEASUREMENT_LEN])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t buf[65536];
    unsigned int len = 0;
    ssize_t n;
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC), ok;

    if (fd < 0 || md == NULL) {
        if (fd >= 0)
            close(fd);
        EVP_MD_CTX_free(md);
        return ccr_err_set(EIO, "cannot read /proc/self/exe to measure this program");
    }
    ok = EVP_DigestInit_ex(md, EVP_sha384(), NULL) == 1;
    while (ok && (n = read(fd, buf, sizeof buf)) > 0)
        ok = EVP_DigestUpdate(md, buf, (size_t)n) == 1;
    ok = ok && EVP_DigestFinal_ex(md, out, &len) == 1 && len == KEYS_SNP_MEASUREMENT_LEN;
    close(fd);
    EVP_MD_CTX_free(md);
    return ok ? 0 : ccr_err_set(EIO, "cannot hash /proc/self/exe");
}

static int conf_hex(struct json_object *conf, const char *name, uint8_t *out, size_t len, int *present)
{
    struct json_object *v;
    *present = 0;
    if (!json_object_object_get_ex(conf, name, &v))
        return 0;
    if (!json_object_is_type(v, json_type_string) || ccr_hex_decode(json_object_get_string(v), out, len) != 0)
        return ccr_err_set(EINVAL, "sim.json: \"%s\" must be %zu hex digits", name, 2 * len);
    *present = 1;
    return 0;
}

/* The report version and product of sim.json; without them (an older folder), 3 and Milan. */
static int conf_version(struct json_object *conf, uint32_t *version, enum keys_snp_product *product)
{
    struct json_object *v;
    *version = SIM_DEFAULT_VERSION;
    *product = KEYS_SNP_PRODUCT_MILAN;
    if (json_object_object_get_ex(conf, "version", &v)) {
        int64_t n = json_object_get_int64(v);
        if (!json_object_is_type(v, json_type_int) || (n != 2 && n != 3 && n != 5))
            return ccr_err_set(EINVAL, "sim.json: \"version\" must be 2, 3 or 5");
        *version = (uint32_t)n;
    }
    if (json_object_object_get_ex(conf, "product", &v)) {
        const char *name = json_object_get_string(v);
        *product = KEYS_SNP_PRODUCT_UNKNOWN;
        for (int p = KEYS_SNP_PRODUCT_MILAN; p <= KEYS_SNP_PRODUCT_TURIN; p++)
            if (name && strcmp(name, keys_snp_product_name((enum keys_snp_product)p)) == 0)
                *product = (enum keys_snp_product)p;
        if (*product == KEYS_SNP_PRODUCT_UNKNOWN)
            return ccr_err_set(EINVAL, "sim.json: \"product\" must be Milan, Genoa or Turin");
    }
    if (*version == 2 && *product == KEYS_SNP_PRODUCT_TURIN)
        return ccr_err_set(EINVAL, "sim.json: a Turin report is version 3 or later");
    return 0;
}

int keys_sim_report(const char *dir, const uint8_t report_data[KEYS_SNP_REPORT_DATA_LEN],
                    uint8_t report[KEYS_SNP_REPORT_LEN], uint8_t **vcek_der, size_t *vcek_len)
{
    char *conf_path = sim_path(dir, "sim.json"), *vcek_path = sim_path(dir, "vcek.pem"),
         *hd_path = sim_path(dir, "host_data");
    struct json_object *conf = NULL, *v;
    EVP_PKEY *key = NULL;
    EVP_MD_CTX *md = NULL;
    X509 *vcek = NULL;
    uint8_t *buf = NULL, *sig = NULL;
    size_t len, sig_len = 0;
    ECDSA_SIG *es = NULL;
    uint32_t version;
    enum keys_snp_product product;
    int rc, present;

    memset(report, 0, KEYS_SNP_REPORT_LEN);
    if (conf_path == NULL || vcek_path == NULL || hd_path == NULL) {
        rc = ENOMEM;
        goto out;
    }
    if ((rc = ccr_read_file(conf_path, 1 << 16, &buf, &len)) != 0)
        goto out;
    conf = json_tokener_parse((const char *)buf);
    free(buf);
    buf = NULL;
    if (conf == NULL || !json_object_is_type(conf, json_type_object)) {
        rc = ccr_err_set(EINVAL, "%s: not a JSON object", conf_path);
        goto out;
    }
    if ((rc = conf_version(conf, &version, &product)) != 0)
        goto out;
    ccr_put_le32(report + KEYS_SNP_OFF_VERSION, version);
    ccr_put_le32(report + KEYS_SNP_OFF_GUEST_SVN, 1);
    ccr_put_le64(report + KEYS_SNP_OFF_POLICY, json_object_object_get_ex(conf, "policy", &v)
                                                   ? (uint64_t)json_object_get_int64(v)
                                                   : SIM_DEFAULT_POLICY);
    ccr_put_le32(report + KEYS_SNP_OFF_VMPL,
                 json_object_object_get_ex(conf, "vmpl", &v) ? (uint32_t)json_object_get_int64(v) : 0);
    ccr_put_le32(report + KEYS_SNP_OFF_SIG_ALGO, 1);
    ccr_put_le64(report + KEYS_SNP_OFF_CURRENT_TCB, keys_snp_tcb_encode_for(product, &sim_tcb));
    ccr_put_le64(report + KEYS_SNP_OFF_REPORTED_TCB, keys_snp_tcb_encode_for(product, &sim_tcb));
    ccr_put_le64(report + KEYS_SNP_OFF_COMMITTED_TCB, keys_snp_tcb_encode_for(product, &sim_tcb));
    ccr_put_le64(report + KEYS_SNP_OFF_LAUNCH_TCB, keys_snp_tcb_encode_for(product, &sim_tcb));
    if (version >= 3) {
        for (size_t i = 0; i < sizeof sim_cpuid / sizeof sim_cpuid[0]; i++)
            if (sim_cpuid[i].product == product) {
                report[KEYS_SNP_OFF_CPUID_FAM_ID] = sim_cpuid[i].family;
                report[KEYS_SNP_OFF_CPUID_MOD_ID] = sim_cpuid[i].model;
                report[KEYS_SNP_OFF_CPUID_STEP] = sim_cpuid[i].step;
            }
    }
    /* firmware 1.55.40 current and committed (stored build, minor, major) */
    report[KEYS_SNP_OFF_CURRENT_VERSION] = report[KEYS_SNP_OFF_COMMITTED_VERSION] = 40;
    report[KEYS_SNP_OFF_CURRENT_VERSION + 1] = report[KEYS_SNP_OFF_COMMITTED_VERSION + 1] = 55;
    report[KEYS_SNP_OFF_CURRENT_VERSION + 2] = report[KEYS_SNP_OFF_COMMITTED_VERSION + 2] = 1;
    ccr_put_le64(report + KEYS_SNP_OFF_PLATFORM_INFO, 1); /* SMT enabled */
    memcpy(report + KEYS_SNP_OFF_REPORT_DATA, report_data, KEYS_SNP_REPORT_DATA_LEN);
    if ((rc = conf_hex(conf, "measurement", report + KEYS_SNP_OFF_MEASUREMENT, KEYS_SNP_MEASUREMENT_LEN,
                       &present)) != 0)
        goto out;
    if (!present && (rc = keys_sim_self_measurement(report + KEYS_SNP_OFF_MEASUREMENT)) != 0)
        goto out;
    if ((rc = conf_hex(conf, "host_data", report + KEYS_SNP_OFF_HOST_DATA, KEYS_SNP_HOST_DATA_LEN,
                       &present)) != 0)
        goto out;
    if (access(hd_path, F_OK) == 0) {
        char hex[2 * KEYS_SNP_HOST_DATA_LEN + 1];
        size_t n = 0;
        if ((rc = ccr_read_file(hd_path, 4096, &buf, &len)) != 0)
            goto out;
        for (size_t i = 0; i < len && n < sizeof hex - 1; i++)
            if (buf[i] != '\n' && buf[i] != ' ' && buf[i] != '\r')
                hex[n++] = (char)buf[i];
        hex[n] = '\0';
        if (ccr_hex_decode(hex, report + KEYS_SNP_OFF_HOST_DATA, KEYS_SNP_HOST_DATA_LEN) != 0) {
            rc = ccr_err_set(EINVAL, "%s: expected 64 hex digits", hd_path);
            goto out;
        }
    }
    if ((rc = conf_hex(conf, "chip_id", report + KEYS_SNP_OFF_CHIP_ID, KEYS_SNP_CHIP_ID_LEN, &present)) != 0)
        goto out;
    if ((rc = ccr_random(report + KEYS_SNP_OFF_REPORT_ID, 32)) != 0)
        goto out;
    if ((key = read_key(dir, "vcek.key")) == NULL) {
        rc = ENOENT;
        goto out;
    }
    /* Sign bytes 0x000-0x29F; store R and S little-endian, 72 bytes each, at 0x2A0. */
    md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestSignInit(md, NULL, EVP_sha384(), NULL, key) != 1 ||
        EVP_DigestSign(md, NULL, &sig_len, report, KEYS_SNP_SIGNED_LEN) != 1 ||
        (sig = malloc(sig_len)) == NULL ||
        EVP_DigestSign(md, sig, &sig_len, report, KEYS_SNP_SIGNED_LEN) != 1) {
        rc = ccr_err_set(EIO, "cannot sign the simulated report");
        goto out;
    }
    {
        const unsigned char *p = sig;
        const BIGNUM *r, *s;
        es = d2i_ECDSA_SIG(NULL, &p, (long)sig_len);
        if (es == NULL) {
            rc = ccr_err_set(EIO, "cannot decode the report signature");
            goto out;
        }
        ECDSA_SIG_get0(es, &r, &s);
        if (BN_bn2lebinpad(r, report + KEYS_SNP_SIG_OFFSET, KEYS_SNP_SIG_COMPONENT) < 0 ||
            BN_bn2lebinpad(s, report + KEYS_SNP_SIG_OFFSET + KEYS_SNP_SIG_COMPONENT, KEYS_SNP_SIG_COMPONENT) <
                0) {
            rc = ccr_err_set(EIO, "cannot encode the report signature");
            goto out;
        }
    }
    if (vcek_der != NULL) {
        if ((rc = keys_x509_load(vcek_path, &vcek)) != 0 ||
            (rc = keys_x509_to_der(vcek, vcek_der, vcek_len)) != 0)
            goto out;
    }
    rc = 0;
out:
    json_object_put(conf);
    free(buf);
    free(sig);
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    X509_free(vcek);
    free(conf_path);
    free(vcek_path);
    free(hd_path);
    return rc;
}
