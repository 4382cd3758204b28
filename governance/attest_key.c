/* The attested checkpoint key and its evidence (see attest_key.h). The binding and the signed
 * body follow Azure/azure-cleanroom a2d263e00d2879f10b5dad71965727cc23ac6136:
 * src/governance/ccf-app/js/src/utils/utils.ts (verifyReportData, verifySignature),
 * src/internal/Attestation/Attestation.cs (PrepareSignedDataRequestContent). */
#include "governance/attest_key.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/err.h"
#include "common/secmem.h"
#include "governance/canon.h"
#include "governance/sign.h"
#include "keys/attest/evidence.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Atomic(struct gov_attested_key *) current_key;

void gov_attested_key_set_current(struct gov_attested_key *k)
{
    atomic_store(&current_key, k);
}

struct gov_attested_key *gov_attested_key_current(void)
{
    return atomic_load(&current_key);
}

void gov_attest_report_data(const char *pem, size_t len, uint8_t out[KEYS_SNP_REPORT_DATA_LEN])
{
    memset(out, 0, KEYS_SNP_REPORT_DATA_LEN);
    SHA256((const unsigned char *)pem, len, out);
}

static char *b64_of(const void *p, size_t n)
{
    char *s = malloc(ccr_b64_encoded_size(n, CCR_B64_STD));
    if (s != NULL)
        ccr_b64_encode(p, n, s, CCR_B64_STD);
    return s;
}

static int pem_add(BIO *bio, X509 *cert)
{
    return cert == NULL || PEM_write_bio_X509(bio, cert) == 1 ? 0 : EIO;
}

/* base64 of the PEM chain: the endorsement key, then its issuer and the ARK when a known
 * root (AMD's, or the simulator's for sim evidence) issued it. */
static int endorsements_b64(const char *attester, const struct keys_evidence *ev, char **out)
{
    struct keys_snp_roots *roots = NULL;
    X509 *vcek = NULL, *ask = NULL, *ark = NULL;
    BIO *bio = BIO_new(BIO_s_mem());
    char *data;
    long n;
    int rc;

    if (bio == NULL)
        return ENOMEM;
    if (ev->vcek_der == NULL) {
        BIO_free(bio);
        return ccr_err_set(EPROTO,
                           "the attester supplied no VCEK certificate: the evidence cannot be checked");
    }
    if ((rc = keys_x509_from_der(ev->vcek_der, ev->vcek_len, &vcek)) != 0) {
        BIO_free(bio);
        return rc;
    }
    if (keys_snp_roots_amd(&roots) == 0 &&
        (strncmp(attester, "sim:", 4) != 0 || keys_snp_roots_add_sim(roots, attester + 4) == 0) &&
        keys_snp_roots_find(roots, vcek, &ask, &ark, NULL, NULL) != 0) {
        ask = ark = NULL; /* the auditor has to bring the chain */
    }
    ccr_err_clear();
    rc = pem_add(bio, vcek);
    if (rc == 0)
        rc = pem_add(bio, ask);
    if (rc == 0)
        rc = pem_add(bio, ark);
    if (rc == 0 && (n = BIO_get_mem_data(bio, &data)) > 0)
        rc = (*out = b64_of(data, (size_t)n)) == NULL ? ENOMEM : 0;
    else if (rc == 0)
        rc = EIO;
    BIO_free(bio);
    X509_free(vcek);
    keys_snp_roots_free(roots);
    return rc;
}

int gov_attested_key_make(const char *attester, struct gov_attested_key **out)
{
    struct gov_attested_key *k = calloc(1, sizeof *k);
    struct keys_evidence ev;
    uint8_t rd[KEYS_SNP_REPORT_DATA_LEN];
    char *pem = NULL, *pem_b64 = NULL, *report_b64 = NULL, *endorse = NULL;
    size_t pem_len = 0;
    int rc;

    memset(&ev, 0, sizeof ev);
    if (k == NULL)
        return ENOMEM;
    /* The first locked allocation sets up OpenSSL's secure heap, where key generation then puts
     * the private numbers (locked, kept out of core dumps), whether or not the whole process
     * could be locked. */
    ccr_secmem_free(ccr_secmem_alloc(1), 1);
    if ((rc = gov_key_generate_rsa_pss(&k->key)) != 0 ||
        (rc = gov_key_public_pem(k->key, &pem, &pem_len)) != 0)
        goto out;
    gov_attest_report_data(pem, pem_len, rd);
    if ((rc = keys_evidence_get(attester, rd, &ev)) != 0) {
        rc = ccr_err_wrap(rc, "evidence for the audit signing key: ");
        goto out;
    }
    if ((rc = endorsements_b64(attester, &ev, &endorse)) != 0)
        goto out;
    if ((pem_b64 = b64_of(pem, pem_len)) == NULL ||
        (report_b64 = b64_of(ev.report, sizeof ev.report)) == NULL) {
        rc = ENOMEM;
        goto out;
    }
    k->attestation = json_object_new_object();
    json_object_object_add(k->attestation, "binding", json_object_new_string(GOV_ATTEST_BINDING));
    json_object_object_add(k->attestation, "source", json_object_new_string(ev.kind));
    json_object_object_add(k->attestation, "evidence", json_object_new_string(report_b64));
    json_object_object_add(k->attestation, "endorsements", json_object_new_string(endorse));
    json_object_object_add(k->attestation, "publicKey", json_object_new_string(pem_b64));
    k->attestation_json = strdup(json_object_to_json_string_ext(k->attestation, JSON_C_TO_STRING_PLAIN));
    rc = k->attestation_json == NULL ? ENOMEM : 0;
out:
    keys_evidence_clear(&ev);
    free(pem);
    free(pem_b64);
    free(report_b64);
    free(endorse);
    if (rc != 0)
        gov_attested_key_free(k);
    else
        *out = k;
    return rc;
}

void gov_attested_key_free(struct gov_attested_key *k)
{
    if (k == NULL)
        return;
    if (gov_attested_key_current() == k)
        gov_attested_key_set_current(NULL);
    gov_key_free(k->key); /* OpenSSL clears the private numbers as it frees them */
    free(k->attestation_json);
    json_object_put(k->attestation);
    free(k);
}

int gov_attested_sign_body(const struct gov_attested_key *k, const char *bytes, size_t len, char **body,
                           size_t *body_len)
{
    json_object *o, *sign, *att;
    char *data_b64 = b64_of(bytes, len), *sig = NULL, ts[24];
    const char *text;
    int rc;

    if (data_b64 == NULL)
        return ENOMEM;
    /* Upstream signs the bytes the data field carries, base64-decoded. */
    if ((rc = gov_key_sign_b64(k->key, bytes, len, &sig)) != 0) {
        free(data_b64);
        return rc;
    }
    snprintf(ts, sizeof ts, "%llu", (unsigned long long)ccr_clock_wall_ms());
    o = json_object_new_object();
    sign = json_object_new_object();
    att = json_object_new_object();
    json_object_object_add(o, "data", json_object_new_string(data_b64));
    json_object_object_add(o, "timestamp", json_object_new_string(ts));
    json_object_object_add(sign, "signature", json_object_new_string(sig));
    json_object_object_add(sign, "publicKey",
                           json_object_get(json_object_object_get(k->attestation, "publicKey")));
    json_object_object_add(o, "sign", sign);
    json_object_object_add(att, "evidence",
                           json_object_get(json_object_object_get(k->attestation, "evidence")));
    json_object_object_add(att, "endorsements",
                           json_object_get(json_object_object_get(k->attestation, "endorsements")));
    json_object_object_add(o, "attestation", att);
    json_object_object_add(o, "platform", json_object_new_string("snp-caci"));
    text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    *body = strdup(text);
    *body_len = strlen(text);
    json_object_put(o);
    free(data_b64);
    free(sig);
    return *body == NULL ? ENOMEM : 0;
}

void gov_attest_claims_clear(struct gov_attest_claims *c)
{
    free(c->key_b64);
    memset(c, 0, sizeof *c);
}

/* A failure of a check below, as EBADMSG keeping its message. */
static int as_bad(int rc, const char *what)
{
    char msg[CCR_ERR_MSG_MAX];
    snprintf(msg, sizeof msg, "%s", ccr_err_msg(rc));
    return ccr_err_set(EBADMSG, "%s: %s", what, msg);
}

static int decode_field(json_object *o, const char *name, uint8_t **out, size_t *len)
{
    const char *v = gov_json_str(o, name);
    if (v == NULL || ccr_b64_decode(v, strlen(v), out, len, CCR_B64_STD) != 0)
        return ccr_err_set(EINVAL, "attestation: \"%s\" is missing or not base64", name);
    return 0;
}

static void fingerprint_der(const unsigned char *der, size_t len, char out[65])
{
    uint8_t md[SHA256_DIGEST_LENGTH];
    SHA256(der, len, md);
    ccr_hex_encode(md, sizeof md, out);
}

/* Loads the PEM certificates of the endorsements. */
static int load_endorsements(const uint8_t *pem, size_t len, STACK_OF(X509) * *out)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    STACK_OF(X509) *certs = sk_X509_new_null();
    X509 *c;

    if (bio == NULL || certs == NULL) {
        BIO_free(bio);
        sk_X509_free(certs);
        return ENOMEM;
    }
    while ((c = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
        sk_X509_push(certs, c);
    ERR_clear_error();
    BIO_free(bio);
    if (sk_X509_num(certs) == 0) {
        sk_X509_free(certs);
        return ccr_err_set(EINVAL, "attestation: \"endorsements\" holds no PEM certificate");
    }
    *out = certs;
    return 0;
}

int gov_attestation_verify_parts(json_object *att, const char *key_pem_b64, struct keys_snp_roots *roots,
                                 struct gov_attest_claims *out)
{
    uint8_t *pem = NULL, *report = NULL, *endorse = NULL, rd[KEYS_SNP_REPORT_DATA_LEN];
    size_t pem_len = 0, report_len = 0, endorse_len = 0;
    struct keys_snp_report r;
    struct keys_snp_verdict verdict;
    STACK_OF(X509) *certs = NULL;
    X509 *vcek, *ask = NULL, *ark = NULL;
    EVP_PKEY *key = NULL;
    BIO *bio;
    const char *root_name = NULL;
    unsigned char *der = NULL;
    int der_len, is_test = 0, rc;

    memset(out, 0, sizeof *out);
    if (!json_object_is_type(att, json_type_object))
        return ccr_err_set(EINVAL, "attestation: not an object");
    if (key_pem_b64 == NULL ||
        ccr_b64_decode(key_pem_b64, strlen(key_pem_b64), &pem, &pem_len, CCR_B64_STD) != 0)
        return ccr_err_set(EINVAL, "attestation: \"publicKey\" is missing or not base64");
    /* Any key type: the binding is checked whatever signs (upstream's samples bind P-384 keys). */
    if ((bio = BIO_new_mem_buf(pem, (int)pem_len)) != NULL) {
        key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
        BIO_free(bio);
    }
    if (key == NULL) {
        ERR_clear_error();
        rc = ccr_err_set(EINVAL, "attestation: \"publicKey\" is not a PEM public key");
        goto out;
    }
    if ((rc = decode_field(att, "evidence", &report, &report_len)) != 0 ||
        (rc = decode_field(att, "endorsements", &endorse, &endorse_len)) != 0)
        goto out;
    if ((rc = keys_snp_report_parse(report, report_len, &r)) != 0) {
        rc = as_bad(rc, "attestation report");
        goto out;
    }
    /* The key first: a report that binds another key proves nothing about this one. */
    gov_attest_report_data((const char *)pem, pem_len, rd);
    if (CRYPTO_memcmp(rd, r.report_data, sizeof rd) != 0) {
        rc = ccr_err_set(EBADMSG, "the report's report_data is not SHA-256 of the signing key's PEM and 32 "
                                  "zero bytes: the evidence does not bind this key");
        goto out;
    }
    if ((rc = load_endorsements(endorse, endorse_len, &certs)) != 0)
        goto out;
    vcek = sk_X509_value(certs, 0);
    if (roots != NULL) {
        if ((rc = keys_snp_roots_find(roots, vcek, &ask, &ark, &root_name, &is_test)) != 0) {
            rc = as_bad(rc, "attestation chain (no trusted root issued its VCEK)");
            goto out;
        }
    } else if (sk_X509_num(certs) >= 3) {
        ask = sk_X509_value(certs, 1);
        ark = sk_X509_value(certs, 2);
    } else {
        rc = ccr_err_set(EBADMSG, "the endorsements carry no ASK and ARK");
        goto out;
    }
    if ((rc = keys_snp_verify_ex(&r, vcek, ask, ark, 0, NULL, &verdict)) != 0) {
        rc = as_bad(rc, "attestation report");
        goto out;
    }
    ccr_hex_encode(r.measurement, sizeof r.measurement, out->measurement);
    ccr_hex_encode(r.host_data, sizeof r.host_data, out->host_data);
    ccr_hex_encode(r.chip_id, sizeof r.chip_id, out->chip_id);
    if ((der_len = i2d_X509(ark, &der)) <= 0) {
        rc = EIO;
        goto out;
    }
    fingerprint_der(der, (size_t)der_len, out->ark_fingerprint);
    OPENSSL_free(der);
    der = NULL;
    if ((der_len = i2d_PUBKEY(key, &der)) <= 0) {
        rc = EIO;
        goto out;
    }
    fingerprint_der(der, (size_t)der_len, out->key_fingerprint);
    if ((out->key_b64 = b64_of(der, (size_t)der_len)) == NULL) {
        rc = ENOMEM;
        goto out;
    }
    snprintf(out->root, sizeof out->root, "%s", verdict.ark_cn);
    snprintf(out->product, sizeof out->product, "%s", keys_snp_product_name(verdict.product));
    out->test_root = is_test;
    out->debug = verdict.debug;
    out->version = r.version;
    out->vmpl = r.vmpl;
    out->tcb = r.reported_tcb;
    (void)root_name;
out:
    OPENSSL_free(der);
    sk_X509_pop_free(certs, X509_free);
    EVP_PKEY_free(key);
    free(pem);
    free(report);
    free(endorse);
    if (rc != 0)
        gov_attest_claims_clear(out);
    return rc;
}

int gov_attestation_verify(json_object *att, struct keys_snp_roots *roots, struct gov_attest_claims *out)
{
    const char *binding = gov_json_str(att, "binding");
    if (binding != NULL && strcmp(binding, GOV_ATTEST_BINDING) != 0)
        return ccr_err_set(EINVAL, "attestation: unknown binding \"%s\"", binding);
    return gov_attestation_verify_parts(att, gov_json_str(att, "publicKey"), roots, out);
}
