/* AMD SEV-SNP attestation reports: the 1184-byte ATTESTATION_REPORT of the SEV-SNP firmware
 * ABI (report versions 2 and 3), its claims, and its verification: the ECDSA P-384 signature
 * over bytes 0x000-0x29F with the VCEK, the VCEK -> ASK -> ARK chain (RSA-PSS), and the
 * reported TCB and chip id against the VCEK's AMD extensions. */
#ifndef CCRFS_KEYS_ATTEST_SNP_H
#define CCRFS_KEYS_ATTEST_SNP_H

#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define KEYS_SNP_REPORT_LEN      1184
#define KEYS_SNP_SIGNED_LEN      0x2A0
#define KEYS_SNP_SIG_OFFSET      0x2A0
#define KEYS_SNP_SIG_COMPONENT   72
#define KEYS_SNP_REPORT_DATA_LEN 64
#define KEYS_SNP_MEASUREMENT_LEN 48
#define KEYS_SNP_HOST_DATA_LEN   32
#define KEYS_SNP_CHIP_ID_LEN     64

/* Guest policy bits (SEV-SNP ABI, GUEST_POLICY). */
#define KEYS_SNP_POLICY_SMT           (1ULL << 16)
#define KEYS_SNP_POLICY_RESERVED1     (1ULL << 17)
#define KEYS_SNP_POLICY_MIGRATE_MA    (1ULL << 18)
#define KEYS_SNP_POLICY_DEBUG         (1ULL << 19)
#define KEYS_SNP_POLICY_SINGLE_SOCKET (1ULL << 20)

/* TCB_VERSION as laid out on Milan and Genoa: byte 0 boot loader, 1 TEE, 6 SNP, 7 microcode. */
struct keys_snp_tcb {
    uint8_t bootloader, tee, snp, microcode;
};

struct keys_snp_report {
    uint32_t version, guest_svn, vmpl, sig_algo;
    uint64_t policy, platform_info;
    uint8_t family_id[16], image_id[16];
    struct keys_snp_tcb current_tcb, reported_tcb, committed_tcb, launch_tcb;
    uint8_t report_data[KEYS_SNP_REPORT_DATA_LEN];
    uint8_t measurement[KEYS_SNP_MEASUREMENT_LEN];
    uint8_t host_data[KEYS_SNP_HOST_DATA_LEN];
    uint8_t id_key_digest[48], author_key_digest[48];
    uint8_t report_id[32], report_id_ma[32];
    uint8_t chip_id[KEYS_SNP_CHIP_ID_LEN];
    uint8_t raw[KEYS_SNP_REPORT_LEN]; /* the bytes as received */
};

/* Field offsets the simulator also writes. */
enum {
    KEYS_SNP_OFF_VERSION = 0x000,
    KEYS_SNP_OFF_GUEST_SVN = 0x004,
    KEYS_SNP_OFF_POLICY = 0x008,
    KEYS_SNP_OFF_FAMILY_ID = 0x010,
    KEYS_SNP_OFF_IMAGE_ID = 0x020,
    KEYS_SNP_OFF_VMPL = 0x030,
    KEYS_SNP_OFF_SIG_ALGO = 0x034,
    KEYS_SNP_OFF_CURRENT_TCB = 0x038,
    KEYS_SNP_OFF_PLATFORM_INFO = 0x040,
    KEYS_SNP_OFF_REPORT_DATA = 0x050,
    KEYS_SNP_OFF_MEASUREMENT = 0x090,
    KEYS_SNP_OFF_HOST_DATA = 0x0C0,
    KEYS_SNP_OFF_ID_KEY_DIGEST = 0x0E0,
    KEYS_SNP_OFF_AUTHOR_KEY_DIGEST = 0x110,
    KEYS_SNP_OFF_REPORT_ID = 0x140,
    KEYS_SNP_OFF_REPORT_ID_MA = 0x160,
    KEYS_SNP_OFF_REPORTED_TCB = 0x180,
    KEYS_SNP_OFF_CHIP_ID = 0x1A0,
    KEYS_SNP_OFF_COMMITTED_TCB = 0x1E0,
    KEYS_SNP_OFF_LAUNCH_TCB = 0x1F0,
};

/* Parses a report. EINVAL naming the problem for a wrong length, an unknown version (only 2
 * and 3 are accepted), an unknown signature algorithm (only 1, ECDSA P-384 with SHA-384), or
 * a VMPL above 3. Checks nothing cryptographic. */
int keys_snp_report_parse(const uint8_t *buf, size_t len, struct keys_snp_report *out);

/* Reads a report file: 1184 raw bytes, or the same as hex text (whitespace ignored). */
int keys_snp_report_load(const char *path, struct keys_snp_report *out);

void keys_snp_tcb_decode(uint64_t raw, struct keys_snp_tcb *out);
uint64_t keys_snp_tcb_encode(const struct keys_snp_tcb *tcb);

/* What a verification found, besides success or failure. */
struct keys_snp_verdict {
    int debug;       /* the guest policy allows debugging: its memory is readable by the host */
    int migrate_ma;  /* a migration agent is allowed */
    char ark_cn[64]; /* the root's common name, e.g. "ARK-Milan" */
};

/* Verifies the report with the VCEK, the ASK and the ARK:
 *   ARK self-signed, ASK signed by ARK, VCEK signed by ASK (RSA-PSS SHA-384), each valid at
 *   `at` (0 = now); the VCEK's TCB extensions equal the reported TCB and its hwID equals the
 *   chip id; the ECDSA P-384 signature over bytes 0x000-0x29F.
 * Whether the ARK is trusted is the caller's decision (see keys_snp_roots_*).
 * EBADMSG with a message naming the failed check. */
int keys_snp_verify(const struct keys_snp_report *r, X509 *vcek, X509 *ask, X509 *ark, time_t at,
                    struct keys_snp_verdict *verdict);

/* Checks only the report signature with a VCEK public key (no chain). */
int keys_snp_verify_signature(const struct keys_snp_report *r, X509 *vcek);

/* Loads one certificate (PEM or DER) from a file, or all certificates of a PEM file. */
int keys_x509_load(const char *path, X509 **out);
int keys_x509_load_all(const char *path, STACK_OF(X509) * *out);
int keys_x509_from_der(const uint8_t *der, size_t len, X509 **out);
int keys_x509_to_der(X509 *cert, uint8_t **der, size_t *len);

/* The report's claims as a new JSON object: measurement, host_data, report_data,
 * chip_id, family_id, image_id (lowercase hex), debug, migrate_ma, smt (booleans), vmpl,
 * version, guest_svn, policy, reported_tcb_{bootloader,tee,snp,microcode} (numbers). */
struct json_object;
struct json_object *keys_snp_claims(const struct keys_snp_report *r);

#endif
