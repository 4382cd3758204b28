/* The SNP evidence of the Trustee KBS protocol (tee "snp") as JSON, both ways. */
#ifndef CCRFS_KEYS_KBS_SNP_EVIDENCE_H
#define CCRFS_KEYS_KBS_SNP_EVIDENCE_H

#include "keys/attest/evidence.h"

#include <stddef.h>
#include <stdint.h>

struct json_object;

/* The SNP evidence object as Trustee's attester sends it: {"attestation_report": <the report
 * as the sev crate's serde renders it: every field by name, byte arrays as arrays of
 * numbers, TCB versions as {"bootloader","tee","_reserved","snp","microcode"}, the signature
 * as {"r","s","_reserved"}>, "cert_chain": [{"cert_type": "VCEK", "data": [DER bytes]}]}. */
struct json_object *keys_kbs_snp_evidence(const struct keys_evidence *ev);
/* Parses it back; *vcek_der is malloc'd, or NULL when cert_chain is null, absent or holds no
 * VCEK. EINVAL naming the member at fault. */
int keys_kbs_snp_evidence_parse(struct json_object *o, struct keys_snp_report *r, uint8_t **vcek_der,
                                size_t *vcek_len);
/* The report alone, both ways; decoding rebuilds all 1184 bytes exactly. */
struct json_object *keys_kbs_snp_report_json(const uint8_t report[KEYS_SNP_REPORT_LEN]);
int keys_kbs_snp_report_from_json(struct json_object *o, uint8_t report[KEYS_SNP_REPORT_LEN]);

#endif
