/* A simulated SEV-SNP guest, for local use and tests. sim-init creates, in a folder, a test
 * ARK (RSA-4096, self-signed) -> ASK (RSA-4096) -> VCEK (ECDSA P-384) chain in the shapes AMD
 * uses (RSA-PSS SHA-384 signatures; the VCEK carries the AMD TCB and hwID extensions), and
 * the guest's settings. Reports use the real 1184-byte layout and signature placement.
 * Nothing trusts this chain unless told to (a broker's --trust-sim-root). Private keys are
 * files of mode 0600 in the folder.
 *
 * Folder: ark.pem ask.pem vcek.pem (certificates), ark.key ask.key vcek.key (PKCS#8 PEM),
 * sim.json (policy, vmpl, chip_id, report version, product, optional measurement and
 * host_data), and optionally host_data (hex text; overrides sim.json).
 * Reports are version 3 by default (2 and 5 on request), with the CPUID fields and TCB layout
 * of the chosen product (Milan by default; Turin's VCEK carries an FMC extension and an
 * 8-byte hwID, as AMD's do). A sim.json without "version" (made before versions could be
 * chosen) gives version 3 Milan reports. */
#ifndef CCRFS_KEYS_ATTEST_SIM_H
#define CCRFS_KEYS_ATTEST_SIM_H

#include "keys/attest/snp.h"

struct keys_sim_config {
    uint64_t policy; /* 0: the default, SMT allowed, no debug, no migration agent */
    uint32_t vmpl;
    const char *host_data_hex;     /* NULL: zeros */
    const char *measurement_hex;   /* NULL: SHA-384 of the running executable at report time */
    uint32_t version;              /* report version 2, 3 or 5; 0: 3 */
    enum keys_snp_product product; /* UNKNOWN: Milan; Turin needs version 3 or later */
};

int keys_sim_init(const char *dir, const struct keys_sim_config *cfg);

/* A new guest on the simulated machine in dir: its chain, chip id and settings stay (a broker
 * may already trust its root), only HOST_DATA changes, as when a platform launches another
 * guest with other launch data. Writes dir/host_data. ENOENT when dir holds no simulated machine. */
int keys_sim_relaunch(const char *dir, const char *host_data_hex);

/* Produces a signed report with report_data; *vcek_der (malloc'd) is the VCEK certificate. */
int keys_sim_report(const char *dir, const uint8_t report_data[KEYS_SNP_REPORT_DATA_LEN],
                    uint8_t report[KEYS_SNP_REPORT_LEN], uint8_t **vcek_der, size_t *vcek_len);

/* SHA-384 of /proc/self/exe: the measurement a simulated guest reports by default. */
int keys_sim_self_measurement(uint8_t out[KEYS_SNP_MEASUREMENT_LEN]);

#endif
