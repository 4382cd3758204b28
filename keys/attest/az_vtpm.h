/* Azure confidential VMs' vTPM evidence (KBS tee "az-snp-vtpm"), verified as Trustee's
 * az-snp-vtpm verifier does:
 *   - the HCL report: a 32-byte header, the 1184-byte SNP report, the IGVM request data
 *     (report type 2 = SNP, hash type 1 = SHA-256, variable data size) and the variable data, a
 *     JSON document holding the vTPM's attestation key (keys[] with kid "HCLAkPub") and, from
 *     evidence version 2, "user-data" (hex);
 *   - the vTPM quote (a TPMS_ATTEST message) signed by that AK (RSASSA-PKCS1-v1_5, SHA-256); its
 *     extraData is the expected report data; SHA-256 over the PCR values sent equals its PCR digest;
 *   - the AK bound to the hardware: SHA-256 of the variable data equals the first 32 bytes of
 *     the SNP report_data; from version 2, "user-data" begins with the expected report data;
 *   - the SNP report verified with the VCEK against the AMD roots (keys_snp_verify), VMPL 0;
 *   - optionally the init-data hash bound in PCR8: PCR8 = SHA-256(32 zero bytes || hash).
 * Evidence JSON, as Trustee deserializes it (deps/verifier/src/az_snp_vtpm/compat.rs):
 *   v0: {"quote": {"signature": [bytes], "message": [bytes], "pcrs": [[32 bytes], ...]},
 *        "report": [HCL bytes], "vcek": "<PEM>"}
 *   v1, v2: {"version": 1|2, "tpm_quote": {"signature": "<hex>", "message": "<hex>",
 *        "pcrs": ["<hex>", ...]}, "hcl_report": "<base64url>", "vcek": "<base64url DER>"} */
#ifndef CCRFS_KEYS_ATTEST_AZ_VTPM_H
#define CCRFS_KEYS_ATTEST_AZ_VTPM_H

#include "keys/attest/roots.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define KEYS_AZ_VTPM_TEE "az-snp-vtpm"

struct json_object;

/* Verifies the evidence against the report data the verifier expects (the TPM quote's nonce,
 * any length up to 64 bytes) and, when init_data_hash is not NULL, a 32-byte init-data hash in
 * PCR8. roots says which AMD roots are trusted (keys_snp_roots_amd); `at` is the time the
 * certificates must be valid at (0 = now). On success *claims is a new JSON object: the SNP
 * report's claims as keys_snp_claims names them, except that "report_data" is the quote's nonce
 * (hex, as Trustee reports it) and the SNP report_data moves to "snp_report_data"; plus
 * "tee": "az-snp-vtpm", "evidence_version", "tpm": {"pcr00": "<hex>", ...} and "init_data" (PCR8,
 * hex). *is_test is set when the root is a test root. EINVAL naming the member for malformed
 * evidence, EBADMSG naming the failed check. */
int keys_az_vtpm_verify(const char *evidence_json, size_t len, const uint8_t *report_data,
                        size_t report_data_len, const uint8_t *init_data_hash, struct keys_snp_roots *roots,
                        time_t at, struct json_object **claims, int *is_test);

#endif
