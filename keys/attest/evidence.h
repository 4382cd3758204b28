/* Evidence providers: a signed SEV-SNP report binding caller-chosen report_data, with the
 * VCEK (or VLEK) that signed it. "sim:DIR" is the simulated guest (keys/attest/sim.h); "snp"
 * is real SEV-SNP hardware through configfs-tsm or /dev/sev-guest; "aa:URL" is the CoCo
 * attestation agent's REST API inside a confidential pod (guest-components api-server-rest,
 * usually aa:http://127.0.0.1:8006). */
#ifndef CCRFS_KEYS_ATTEST_EVIDENCE_H
#define CCRFS_KEYS_ATTEST_EVIDENCE_H

#include "keys/attest/snp.h"

struct keys_evidence {
    char kind[8]; /* "sim", "snp" or "aa" */
    uint8_t report[KEYS_SNP_REPORT_LEN];
    uint8_t *vcek_der; /* malloc'd; NULL when the platform did not supply it */
    size_t vcek_len;
};

/* Gets evidence from the provider the spec names. EINVAL for an unknown spec; ENODEV with a
 * clear message where no SEV-SNP device exists. */
int keys_evidence_get(const char *spec, const uint8_t report_data[KEYS_SNP_REPORT_DATA_LEN],
                      struct keys_evidence *ev);
void keys_evidence_clear(struct keys_evidence *ev);

/* Real hardware. *vcek_der is the certificate of the key that signed (VCEK or VLEK) from the
 * host's certificate table, or NULL when the host supplied none. */
int keys_snp_dev_report(const uint8_t report_data[KEYS_SNP_REPORT_DATA_LEN],
                        uint8_t report[KEYS_SNP_REPORT_LEN], uint8_t **vcek_der, size_t *vcek_len);

/* The attestation agent's REST API at base_url. *vcek_der is NULL when the host supplied no
 * certificate (cert_chain null). EINVAL for a URL that is not http(s); EACCES when the API
 * refuses (403/404: not enabled for this container); EPROTO for evidence that is not SEV-SNP
 * or not bound to report_data; transport errors as net/http.h maps them. */
int keys_aa_evidence(const char *base_url, const uint8_t report_data[KEYS_SNP_REPORT_DATA_LEN],
                     uint8_t report[KEYS_SNP_REPORT_LEN], uint8_t **vcek_der, size_t *vcek_len);

/* Finds the VCEK in a certificate table as the host supplies it (configfs-tsm auxblob or the
 * extended report): entries of a 16-byte GUID, a u32 offset and a u32 length, ended by an
 * all-zero entry. ENOENT when the table holds no VCEK; EINVAL when it is malformed. */
int keys_snp_cert_table_vcek(const uint8_t *table, size_t len, const uint8_t **vcek, size_t *vcek_len);
/* The same for the VLEK a cloud provider's host loads. */
int keys_snp_cert_table_vlek(const uint8_t *table, size_t len, const uint8_t **vlek, size_t *vlek_len);

#endif
