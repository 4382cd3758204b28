/* VCEKs from AMD's Key Distribution Service, cached on disk. */
#include "keys/broker/kds.h"
#include "common/encoding.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/log.h"
#include "net/http.h"

#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define KDS_MAX_CERT (64 * 1024)

/* Report fields this module reads (SEV-SNP ABI, ATTESTATION_REPORT). */
enum {
    OFF_VERSION = 0x000,
    OFF_KEY_INFO = 0x048, /* bits 4:2 SIGNING_KEY: 0 VCEK, 1 VLEK, 7 none */
    OFF_REPORTED_TCB = 0x180,
    OFF_CPUID_FAM = 0x188, /* version 3 and later */
    OFF_CPUID_MOD = 0x189,
    OFF_CHIP_ID = 0x1A0,
};

struct keys_kds {
    char *base_url;
    char *cache_dir;
    char *ca_file;
};

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The product name KDS files the chip under, as Trustee's verifier derives it from CPUID. */
static const char *product_of(const uint8_t *report, unsigned index)
{
    uint8_t fam = report[OFF_CPUID_FAM], mod = report[OFF_CPUID_MOD];

    if (le32(report + OFF_VERSION) < 3 || (fam == 0 && mod == 0))
        return index == 0 ? "Milan" : index == 1 ? "Genoa" : NULL;
    if (index != 0)
        return NULL;
    if (fam == 0x19 && mod <= 0x0F)
        return "Milan";
    if (fam == 0x19 && ((mod >= 0x10 && mod <= 0x1F) || (mod >= 0xA0 && mod <= 0xAF)))
        return "Genoa";
    if (fam == 0x1A && mod <= 0x11)
        return "Turin";
    return "";
}

int keys_kds_vcek_path(const uint8_t report[KEYS_SNP_REPORT_LEN], unsigned index, char *path, size_t path_len)
{
    static const uint8_t zero[KEYS_SNP_CHIP_ID_LEN];
    const uint8_t *tcb = report + OFF_REPORTED_TCB;
    const char *product = product_of(report, index);
    char hwid[2 * KEYS_SNP_CHIP_ID_LEN + 1];
    unsigned signing_key = (le32(report + OFF_KEY_INFO) >> 2) & 7;

    if (product == NULL)
        return ENOENT;
    if (product[0] == '\0')
        return ccr_err_set(EINVAL,
                           "the report's CPU (family 0x%02x, model 0x%02x) is no SEV-SNP product KDS knows",
                           report[OFF_CPUID_FAM], report[OFF_CPUID_MOD]);
    if (signing_key == 1)
        return ccr_err_set(EINVAL,
                           "the report is signed with a VLEK, which KDS does not hand out by chip: the "
                           "evidence must carry it in cert_chain");
    if (signing_key != 0)
        return ccr_err_set(EINVAL, "the report names signing key %u, not a VCEK", signing_key);
    if (memcmp(report + OFF_CHIP_ID, zero, sizeof zero) == 0)
        return ccr_err_set(EINVAL, "the report's chip id is masked (all zeros; MASK_CHIP_ID set): KDS cannot "
                                   "be asked for its VCEK");
    if (strcmp(product, "Turin") == 0) {
        ccr_hex_encode(report + OFF_CHIP_ID, 8, hwid);
        snprintf(path, path_len,
                 "/vcek/v1/Turin/%s?fmcSPL=%02u&blSPL=%02u&teeSPL=%02u&snpSPL=%02u&ucodeSPL=%02u", hwid,
                 tcb[0], tcb[1], tcb[2], tcb[3], tcb[7]);
    } else {
        ccr_hex_encode(report + OFF_CHIP_ID, KEYS_SNP_CHIP_ID_LEN, hwid);
        snprintf(path, path_len, "/vcek/v1/%s/%s?blSPL=%02u&teeSPL=%02u&snpSPL=%02u&ucodeSPL=%02u", product,
                 hwid, tcb[0], tcb[1], tcb[6], tcb[7]);
    }
    return 0;
}

int keys_kds_new(const char *base_url, const char *cache_dir, const char *ca_file, struct keys_kds **out)
{
    struct keys_kds *k = calloc(1, sizeof *k);
    const char *base = base_url ? base_url : KEYS_KDS_DEFAULT_URL;
    int rc;

    if (k == NULL)
        return ENOMEM;
    if (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0) {
        free(k);
        return ccr_err_set(EINVAL, "--kds-url '%s': expected an http:// or https:// URL", base);
    }
    k->base_url = strdup(base);
    k->cache_dir = cache_dir ? strdup(cache_dir) : NULL;
    k->ca_file = ca_file ? strdup(ca_file) : NULL;
    if (k->base_url == NULL || (cache_dir && k->cache_dir == NULL) || (ca_file && k->ca_file == NULL)) {
        keys_kds_free(k);
        return ENOMEM;
    }
    if (k->cache_dir != NULL && (rc = ccr_mkdirs(k->cache_dir, 0700)) != 0) {
        keys_kds_free(k);
        return ccr_err_wrap(rc, "KDS cache %s: ", cache_dir);
    }
    *out = k;
    return 0;
}

/* CACHE/vcek/PRODUCT/HWID/fmcNN-blNN-...der: one file per chip and TCB, named from the path. */
static char *cache_file(const struct keys_kds *k, const char *path)
{
    char name[600];
    size_t j = 0;

    if (k->cache_dir == NULL)
        return NULL;
    for (const char *p = path + 1; *p && j < sizeof name - 5; p++) {
        char c = *p;
        if (c == '?')
            c = '/';
        else if (c == '&')
            c = '-';
        else if (c == '=')
            continue;
        name[j++] = c;
    }
    memcpy(name + j, ".der", 5);
    return ccr_path_join(k->cache_dir, name);
}

static int cache_store(const char *file, const uint8_t *der, size_t len)
{
    char *dir = strdup(file), *slash;
    int rc;

    if (dir == NULL)
        return ENOMEM;
    slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
    rc = ccr_mkdirs(dir, 0700);
    free(dir);
    return rc ? rc : ccr_write_file_atomic(file, der, len, 0600);
}

static int valid_cert(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    int ok = x != NULL && p == der + len;
    X509_free(x);
    return ok;
}

static int fetch(struct keys_kds *k, const char *path, uint8_t **der, size_t *len)
{
    struct net_http_client_opts o = {0};
    struct net_http_client *c = NULL;
    struct net_http_request rq = {.method = "GET", .path = path, .accept = "application/octet-stream"};
    struct net_http_reply r = {0};
    char url[300];
    int rc;

    o.base_url = k->base_url;
    o.who = "KDS";
    o.transport.ca_file = k->ca_file;
    o.transport.connect_timeout_ms = 5000;
    o.transport.timeout_ms = 15000;
    o.retry.base_ms = 200;
    o.retry.cap_ms = 2000;
    o.retry.budget_ms = 5000; /* KDS answers 429 when asked too often */
    o.reply_max = KDS_MAX_CERT;
    net_url_scrub(k->base_url, url, sizeof url);
    if ((rc = net_http_client_new(&o, &c)) != 0)
        return rc;
    rc = net_http_client_do(c, &rq, &r);
    net_http_client_free(c);
    if (rc != 0)
        return ccr_err_wrap(rc, "fetching the VCEK from the KDS at %s: ", url);
    if (r.status != 200) {
        rc = ccr_err_set(r.status == 404 ? ENOENT : EIO,
                         "the KDS at %s has no VCEK for this chip and TCB (HTTP %ld)", url, r.status);
    } else if (!valid_cert((const uint8_t *)r.body, r.len)) {
        rc = ccr_err_set(EIO, "the KDS at %s answered with something that is not a DER certificate", url);
    } else {
        *der = malloc(r.len);
        if (*der == NULL)
            rc = ENOMEM;
        else {
            memcpy(*der, r.body, r.len);
            *len = r.len;
        }
    }
    net_http_reply_free(&r);
    return rc;
}

int keys_kds_vcek(struct keys_kds *k, const uint8_t report[KEYS_SNP_REPORT_LEN], uint8_t **der, size_t *len,
                  int *from_cache)
{
    char path[400], why[CCR_ERR_MSG_MAX] = "";
    int rc = ENOENT, first = 0;

    *der = NULL;
    *len = 0;
    *from_cache = 0;
    for (unsigned i = 0;; i++) {
        char *file;
        int r = keys_kds_vcek_path(report, i, path, sizeof path);
        if (r == ENOENT)
            break;
        if (r != 0)
            return r;
        file = cache_file(k, path);
        if (file != NULL && ccr_read_file(file, KDS_MAX_CERT, der, len) == 0) {
            if (valid_cert(*der, *len)) {
                free(file);
                *from_cache = 1;
                return 0;
            }
            ccr_log_warn("KDS cache: %s is not a DER certificate; asking the KDS again", file);
            free(*der);
            *der = NULL;
        }
        r = fetch(k, path, der, len);
        if (r == 0) {
            if (file != NULL && (r = cache_store(file, *der, *len)) != 0)
                ccr_log_warn("KDS cache: cannot keep %s: %s", file, ccr_err_msg(r));
            free(file);
            return 0;
        }
        free(file);
        if (!first) { /* the first product's answer explains best why none was found */
            rc = r;
            snprintf(why, sizeof why, "%s", ccr_err_msg(r));
            first = 1;
        }
        if (r != ENOENT)
            break;
    }
    return ccr_err_set(rc, "no VCEK in the evidence, and %s",
                       why[0] ? why : "the KDS has none for this chip");
}

void keys_kds_free(struct keys_kds *k)
{
    if (k == NULL)
        return;
    free(k->base_url);
    free(k->cache_dir);
    free(k->ca_file);
    free(k);
}
