/* Real SEV-SNP evidence: configfs-tsm (Linux 6.7+) or the /dev/sev-guest ioctls. */
#include "keys/attest/evidence.h"
#include "common/bytes.h"
#include "common/err.h"
#include "common/fileio.h"

#include <fcntl.h>
#include <linux/sev-guest.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define TSM_REPORT_DIR "/sys/kernel/config/tsm/report"
#define SEV_GUEST_DEV  "/dev/sev-guest"
#define CERTS_BUF_LEN  (4 * 4096)

/* Certificate GUIDs of the GHCB specification, in their byte order on the wire:
 * VCEK 63da758d-e664-4564-adc5-f4b93be8accd, VLEK a8074bc2-a25a-483e-aae6-39c045a0b8a1. */
static const uint8_t vcek_guid[16] = {0x8d, 0x75, 0xda, 0x63, 0x64, 0xe6, 0x64, 0x45,
                                      0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd};
static const uint8_t vlek_guid[16] = {0xc2, 0x4b, 0x07, 0xa8, 0x5a, 0xa2, 0x3e, 0x48,
                                      0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, 0xb8, 0xa1};

static int cert_table_find(const uint8_t *table, size_t len, const uint8_t guid[16], const char *name,
                           const uint8_t **cert, size_t *cert_len)
{
    static const uint8_t zero[24];

    for (size_t off = 0;; off += 24) {
        uint32_t eoff, elen;
        if (off + 24 > len)
            return ccr_err_set(EINVAL, "SNP certificate table: no terminating entry within %zu bytes", len);
        if (memcmp(table + off, zero, 24) == 0)
            return ccr_err_set(ENOENT, "SNP certificate table: no %s entry", name);
        eoff = ccr_get_le32(table + off + 16);
        elen = ccr_get_le32(table + off + 20);
        if ((uint64_t)eoff + elen > len || elen == 0)
            return ccr_err_set(EINVAL, "SNP certificate table: entry %zu points outside the table", off / 24);
        if (memcmp(table + off, guid, 16) == 0) {
            *cert = table + eoff;
            *cert_len = elen;
            return 0;
        }
    }
}

int keys_snp_cert_table_vcek(const uint8_t *table, size_t len, const uint8_t **vcek, size_t *vcek_len)
{
    return cert_table_find(table, len, vcek_guid, "VCEK", vcek, vcek_len);
}

int keys_snp_cert_table_vlek(const uint8_t *table, size_t len, const uint8_t **vlek, size_t *vlek_len)
{
    return cert_table_find(table, len, vlek_guid, "VLEK", vlek, vlek_len);
}

/* The certificate of the key that signed the report (KEY_INFO), or none: a host that loads
 * no certificates leaves the verifier to fetch the VCEK (as guest-components does, sending
 * cert_chain null). */
static int copy_vek(const uint8_t *table, size_t len, const uint8_t report[KEYS_SNP_REPORT_LEN],
                    uint8_t **der, size_t *der_len)
{
    const uint8_t *v;
    size_t vlen;
    int vlek = ((ccr_get_le32(report + KEYS_SNP_OFF_KEY_INFO) >> 2) & 7) == KEYS_SNP_KEY_VLEK;
    int rc = vlek ? keys_snp_cert_table_vlek(table, len, &v, &vlen)
                  : keys_snp_cert_table_vcek(table, len, &v, &vlen);

    *der = NULL;
    *der_len = 0;
    if (rc == ENOENT)
        return 0;
    if (rc != 0)
        return rc;
    if ((*der = malloc(vlen)) == NULL)
        return ENOMEM;
    memcpy(*der, v, vlen);
    *der_len = vlen;
    return 0;
}

static int tsm_report(const uint8_t report_data[64], uint8_t report[KEYS_SNP_REPORT_LEN], uint8_t **vcek_der,
                      size_t *vcek_len)
{
    char dir[128], path[192];
    uint8_t *buf = NULL;
    size_t len;
    int rc, fd;

    snprintf(dir, sizeof dir, TSM_REPORT_DIR "/ccrfs-%ld", (long)getpid());
    if (mkdir(dir, 0700) != 0)
        return ccr_err_set(errno, "%s: %s", dir, strerror(errno));
    snprintf(path, sizeof path, "%s/provider", dir);
    if ((rc = ccr_read_file(path, 64, &buf, &len)) != 0)
        goto out;
    if (strncmp((const char *)buf, "sev_guest", 9) != 0) {
        rc = ccr_err_set(ENODEV, "configfs-tsm provider is '%.*s', not SEV-SNP (sev_guest)",
                         (int)strcspn((char *)buf, "\n"), (char *)buf);
        goto out;
    }
    free(buf);
    buf = NULL;
    snprintf(path, sizeof path, "%s/inblob", dir);
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ccr_write_all(fd, report_data, 64) != 0) {
        rc = ccr_err_set(EIO, "%s: cannot write the report data", path);
        if (fd >= 0)
            close(fd);
        goto out;
    }
    close(fd);
    snprintf(path, sizeof path, "%s/outblob", dir);
    if ((rc = ccr_read_file(path, 1 << 16, &buf, &len)) != 0)
        goto out;
    if (len < KEYS_SNP_REPORT_LEN) {
        rc = ccr_err_set(EIO, "%s: %zu bytes, shorter than a report", path, len);
        goto out;
    }
    memcpy(report, buf, KEYS_SNP_REPORT_LEN);
    free(buf);
    buf = NULL;
    snprintf(path, sizeof path, "%s/auxblob", dir);
    /* an empty or absent auxblob: the host supplied no certificates */
    if (ccr_read_file(path, 1 << 20, &buf, &len) != 0 || len == 0) {
        rc = 0;
        goto out;
    }
    rc = copy_vek(buf, len, report, vcek_der, vcek_len);
out:
    free(buf);
    rmdir(dir);
    return rc;
}

static int ioctl_report(const uint8_t report_data[64], uint8_t report[KEYS_SNP_REPORT_LEN],
                        uint8_t **vcek_der, size_t *vcek_len)
{
    struct snp_ext_report_req req;
    struct snp_report_resp resp;
    struct snp_guest_request_ioctl io;
    uint8_t *certs = calloc(1, CERTS_BUF_LEN);
    int fd, rc;

    if (certs == NULL)
        return ENOMEM;
    fd = open(SEV_GUEST_DEV, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        free(certs);
        return ccr_err_set(ENODEV,
                           "no SEV-SNP device: neither " TSM_REPORT_DIR " nor " SEV_GUEST_DEV
                           " exists (%s); this is not an SEV-SNP guest. For local tests use --attest sim:DIR",
                           strerror(errno));
    }
    memset(&req, 0, sizeof req);
    memset(&resp, 0, sizeof resp);
    memset(&io, 0, sizeof io);
    memcpy(req.data.user_data, report_data, 64);
    req.certs_address = (uint64_t)(uintptr_t)certs;
    req.certs_len = CERTS_BUF_LEN;
    io.msg_version = 1;
    io.req_data = (uint64_t)(uintptr_t)&req;
    io.resp_data = (uint64_t)(uintptr_t)&resp;
    if (ioctl(fd, SNP_GET_EXT_REPORT, &io) != 0) {
        rc = ccr_err_set(
            EIO, SEV_GUEST_DEV ": SNP_GET_EXT_REPORT failed: %s (firmware error 0x%x, VMM error 0x%x)",
            strerror(errno), io.fw_error, io.vmm_error);
        goto out;
    }
    /* MSG_REPORT_RSP: status (u32), report size (u32), 24 reserved bytes, then the report. */
    if (ccr_get_le32(resp.data) != 0 || ccr_get_le32(resp.data + 4) < KEYS_SNP_REPORT_LEN) {
        rc = ccr_err_set(EIO, SEV_GUEST_DEV ": report request failed with status 0x%x",
                         ccr_get_le32(resp.data));
        goto out;
    }
    memcpy(report, resp.data + 32, KEYS_SNP_REPORT_LEN);
    rc = copy_vek(certs, CERTS_BUF_LEN, report, vcek_der, vcek_len);
out:
    close(fd);
    free(certs);
    return rc;
}

int keys_snp_dev_report(const uint8_t report_data[KEYS_SNP_REPORT_DATA_LEN],
                        uint8_t report[KEYS_SNP_REPORT_LEN], uint8_t **vcek_der, size_t *vcek_len)
{
    struct stat st;
    if (stat(TSM_REPORT_DIR, &st) == 0 && S_ISDIR(st.st_mode) && access(SEV_GUEST_DEV, F_OK) != 0)
        return tsm_report(report_data, report, vcek_der, vcek_len);
    if (stat(TSM_REPORT_DIR, &st) == 0 && S_ISDIR(st.st_mode)) {
        int rc = tsm_report(report_data, report, vcek_der, vcek_len);
        if (rc == 0)
            return 0;
    }
    return ioctl_report(report_data, report, vcek_der, vcek_len);
}
