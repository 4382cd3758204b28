/* The SNP evidence of the Trustee KBS protocol (tee "snp") as JSON, both ways. */
#ifndef CCRFS_KEYS_KBS_SNP_EVIDENCE_H
#define CCRFS_KEYS_KBS_SNP_EVIDENCE_H

#include "keys/attest/evidence.h"

#include <stddef.h>
#include <stdint.h>

struct json_object;

/* The SNP evidence object as guest-components' attester sends it and Trustee's verifier
 * (KBS protocol 0.4.0) reads it: {"attestation_report": <the report as the sev crate >= 6.3
 * renders it: fields by name in declaration order, byte arrays as arrays of numbers,
 * key_info, cpuid_fam_id/cpuid_mod_id/cpuid_step (null in version 2), TCB versions as
 * {"fmc","bootloader","tee","snp","microcode"} (fmc null before Turin), current/committed as
 * {"major","minor","build"}, launch/current_mit_vector (null before version 5), the
 * signature as {"r","s"}; reserved bytes left out>, "cert_chain": [{"cert_type": "VCEK" or
 * "VLEK" (as the report's KEY_INFO says), "data": [DER bytes]}] or null without one}. */
struct json_object *keys_kbs_snp_evidence(const struct keys_evidence *ev);
/* Parses it back, as sev 6.0-6.2 wrote it (no mitigation vector keys) or 6.3 and later;
 * *vcek_der is the first VCEK or VLEK of cert_chain (malloc'd), or NULL when cert_chain is
 * null, absent or holds neither. EINVAL naming the member at fault. */
int keys_kbs_snp_evidence_parse(struct json_object *o, struct keys_snp_report *r, uint8_t **vcek_der,
                                size_t *vcek_len);
/* The report alone, both ways; decoding rebuilds all 1184 bytes, reserved bytes as zeros
 * (as the firmware writes them, so the signature verifies). */
struct json_object *keys_kbs_snp_report_json(const uint8_t report[KEYS_SNP_REPORT_LEN]);
int keys_kbs_snp_report_from_json(struct json_object *o, uint8_t report[KEYS_SNP_REPORT_LEN]);

#endif
