/* AMD SEV-SNP attestation reports: the 1184-byte ATTESTATION_REPORT of the SEV-SNP firmware
 * ABI (report versions 2 to 5, Milan, Genoa and Turin), its claims, and its verification: the
 * ECDSA P-384 signature over bytes 0x000-0x29F with the VCEK or VLEK, the VCEK -> ASK -> ARK
 * or VLEK -> ASVK -> ARK chain (RSA-PSS), and the reported TCB and chip id against the
 * endorsement key's AMD extensions. */
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

/* TCB_VERSION. Milan and Genoa: byte 0 boot loader, 1 TEE, 6 SNP, 7 microcode. Turin: byte 0
 * FMC, 1 boot loader, 2 TEE, 3 SNP, 7 microcode. fmc is 0 where the product has none. */
struct keys_snp_tcb {
    uint8_t bootloader, tee, snp, microcode, fmc;
};

/* The processor generation, which decides the TCB layout and the root that must sign. */
enum keys_snp_product {
    KEYS_SNP_PRODUCT_UNKNOWN = 0, /* a version 2 report: taken from the endorsement key's chain */
    KEYS_SNP_PRODUCT_MILAN,
    KEYS_SNP_PRODUCT_GENOA,
    KEYS_SNP_PRODUCT_TURIN,
};

/* Which key signed the report (KEY_INFO bits 4:2). */
enum keys_snp_signing_key {
    KEYS_SNP_KEY_VCEK = 0,
    KEYS_SNP_KEY_VLEK = 1,
    KEYS_SNP_KEY_NONE = 7,
};

/* KEY_INFO bits. */
#define KEYS_SNP_KEY_INFO_AUTHOR_KEY_EN (1U << 0)
#define KEYS_SNP_KEY_INFO_MASK_CHIP_KEY (1U << 1)

/* The product a report's CPUID family and model name (as AMD and the sev crate assign them),
 * or UNKNOWN. */
enum keys_snp_product keys_snp_product_from_cpuid(uint8_t family, uint8_t model);
/* "Milan", "Genoa", "Turin" or "unknown". */
const char *keys_snp_product_name(enum keys_snp_product p);
/* The product named by an AMD certificate's common name ("ARK-Genoa", "SEV-Genoa",
 * "SEV-VLEK-Genoa"), or UNKNOWN (a test root). */
enum keys_snp_product keys_snp_product_from_cert(X509 *cert);

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
    /* Version 3 and later; zero in version 2. */
    uint32_t key_info; /* KEY_INFO (0x048) */
    uint8_t cpuid_fam_id, cpuid_mod_id, cpuid_step;
    enum keys_snp_product product; /* from the CPUID fields; UNKNOWN for version 2 */
    enum keys_snp_signing_key signing_key;
    struct {
        uint8_t major, minor, build;
    } current, committed;                           /* firmware versions */
    uint64_t launch_mit_vector, current_mit_vector; /* version 5 only */
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
    KEYS_SNP_OFF_KEY_INFO = 0x048,
    KEYS_SNP_OFF_REPORT_DATA = 0x050,
    KEYS_SNP_OFF_MEASUREMENT = 0x090,
    KEYS_SNP_OFF_HOST_DATA = 0x0C0,
    KEYS_SNP_OFF_ID_KEY_DIGEST = 0x0E0,
    KEYS_SNP_OFF_AUTHOR_KEY_DIGEST = 0x110,
    KEYS_SNP_OFF_REPORT_ID = 0x140,
    KEYS_SNP_OFF_REPORT_ID_MA = 0x160,
    KEYS_SNP_OFF_REPORTED_TCB = 0x180,
    KEYS_SNP_OFF_CPUID_FAM_ID = 0x188,
    KEYS_SNP_OFF_CPUID_MOD_ID = 0x189,
    KEYS_SNP_OFF_CPUID_STEP = 0x18A,
    KEYS_SNP_OFF_CHIP_ID = 0x1A0,
    KEYS_SNP_OFF_COMMITTED_TCB = 0x1E0,
    KEYS_SNP_OFF_CURRENT_VERSION = 0x1E8, /* build, minor, major */
    KEYS_SNP_OFF_COMMITTED_VERSION = 0x1EC,
    KEYS_SNP_OFF_LAUNCH_TCB = 0x1F0,
    KEYS_SNP_OFF_LAUNCH_MIT_VECTOR = 0x1F8,
    KEYS_SNP_OFF_CURRENT_MIT_VECTOR = 0x200,
};

/* Parses a report. EINVAL naming the problem for a wrong length, an unknown version (2 to 5
 * are accepted), an unknown signature algorithm (only 1, ECDSA P-384 with SHA-384), a VMPL
 * above 3, or (version 3 and later) CPUID fields of no SEV-SNP product. The TCB fields are
 * decoded in the product's layout; a version 2 report is read in the Milan/Genoa layout
 * until the verification learns its product from the chain. Checks nothing cryptographic. */
int keys_snp_report_parse(const uint8_t *buf, size_t len, struct keys_snp_report *out);

/* Reads a report file: 1184 raw bytes, or the same as hex text (whitespace ignored). */
int keys_snp_report_load(const char *path, struct keys_snp_report *out);

/* The Milan/Genoa TCB layout. */
void keys_snp_tcb_decode(uint64_t raw, struct keys_snp_tcb *out);
uint64_t keys_snp_tcb_encode(const struct keys_snp_tcb *tcb);
/* The layout of the given product (Turin's carries FMC; UNKNOWN reads as Milan/Genoa). */
void keys_snp_tcb_decode_for(enum keys_snp_product p, uint64_t raw, struct keys_snp_tcb *out);
uint64_t keys_snp_tcb_encode_for(enum keys_snp_product p, const struct keys_snp_tcb *tcb);

/* What a verification found, besides success or failure. */
struct keys_snp_verdict {
    int debug;                     /* the guest policy allows debugging: its memory is readable by the host */
    int migrate_ma;                /* a migration agent is allowed */
    char ark_cn[64];               /* the root's common name, e.g. "ARK-Milan" */
    enum keys_snp_product product; /* from the report, else from the chain */
    enum keys_snp_signing_key signing_key; /* VCEK or VLEK */
};

/* What a caller may demand beyond the defaults. */
enum keys_snp_key_demand {
    KEYS_SNP_KEY_ANY = 0, /* VCEK or VLEK, as the report's KEY_INFO says */
    KEYS_SNP_KEY_ONLY_VCEK,
    KEYS_SNP_KEY_ONLY_VLEK,
};
struct keys_snp_verify_opts {
    uint32_t min_version; /* 0: 2 (Trustee demands 3) */
    enum keys_snp_key_demand key;
};

/* Verifies the report with its endorsement key (VCEK or VLEK, in `vcek`), the key that
 * issued it (ASK for a VCEK, ASVK for a VLEK, in `ask`) and the ARK:
 *   ARK self-signed, ASK/ASVK signed by ARK, VCEK/VLEK signed by it (RSA-PSS SHA-384), each
 *   valid at `at` (0 = now); the key type the report's KEY_INFO names is the certificate's
 *   (CN SEV-VCEK or SEV-VLEK); an AMD root of the report's product; the TCB extensions equal
 *   the reported TCB (FMC too on Turin); for a VCEK the hwID equals the chip id (64 bytes,
 *   8 on Turin; a VLEK carries none); the ECDSA P-384 signature over bytes 0x000-0x29F.
 * Whether the ARK is trusted is the caller's decision (see keys_snp_roots_*).
 * EBADMSG with a message naming the failed check. */
int keys_snp_verify(const struct keys_snp_report *r, X509 *vcek, X509 *ask, X509 *ark, time_t at,
                    struct keys_snp_verdict *verdict);
/* The same with demands (opts may be NULL): a report version below opts->min_version, or a
 * key other than the one demanded, is refused (EBADMSG naming it). */
int keys_snp_verify_ex(const struct keys_snp_report *r, X509 *vcek, X509 *ask, X509 *ark, time_t at,
                       const struct keys_snp_verify_opts *opts, struct keys_snp_verdict *verdict);

/* Checks only the report signature with a VCEK public key (no chain). */
int keys_snp_verify_signature(const struct keys_snp_report *r, X509 *vcek);

/* Loads one certificate (PEM or DER) from a file, or all certificates of a PEM file. */
int keys_x509_load(const char *path, X509 **out);
int keys_x509_load_all(const char *path, STACK_OF(X509) * *out);
int keys_x509_from_der(const uint8_t *der, size_t len, X509 **out);
int keys_x509_to_der(X509 *cert, uint8_t **der, size_t *len);

/* The report's claims as a new JSON object: measurement, host_data, report_data,
 * chip_id, family_id, image_id (lowercase hex), debug, migrate_ma, smt (booleans), vmpl,
 * version, guest_svn, policy, reported_tcb_{bootloader,tee,snp,microcode,fmc} (numbers; fmc
 * 0 before Turin), product ("Milan", "Genoa", "Turin", "unknown" for a version 2 report
 * not yet verified), signing_key ("VCEK", "VLEK"), current_firmware ("major.minor.build"). */
struct json_object;
struct json_object *keys_snp_claims(const struct keys_snp_report *r);
/* The same after a verification: a version 2 report's product (and TCB layout) as the chain
 * established it. */
struct json_object *keys_snp_claims_verified(const struct keys_snp_report *r,
                                             const struct keys_snp_verdict *verdict);

#endif
