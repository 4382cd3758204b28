/* The broker's check of Azure vTPM evidence (KBS tee "az-snp-vtpm"), as Trustee's KBS hands it
 * to its az-snp-vtpm verifier: the expected report data is the runtime-data hash (SHA-384 of
 * the canonical {additional-evidence, nonce, tee-pubkey}, 48 bytes, not padded), the init-data
 * hash is the TOML body's SHA-256 digest bound in PCR8. On top of keys_az_vtpm_verify the
 * broker's own demands: a minimum version of the SNP report inside the HCL report, and no
 * debuggable guest unless allowed. Kept apart from the HTTP layer so that Trustee's fixed-nonce
 * test evidence can be checked through exactly the step the broker runs. */
#ifndef CCRFS_KEYS_BROKER_VTPM_H
#define CCRFS_KEYS_BROKER_VTPM_H

#include "keys/attest/roots.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct json_object;

struct keys_broker_vtpm_opts {
    unsigned min_report_version; /* 0: 2 */
    int allow_debug;
    time_t at; /* certificates valid at (0: now) */
};

/* evidence: the primary_evidence object as received. On success *claims is the verifier's
 * claims object (keys/attest/az_vtpm.h). EINVAL naming the member for malformed evidence,
 * EBADMSG naming the failed check, EACCES for a demand refused (report version, debug); in the
 * last case *claims is set too, for the log (the caller frees it). */
int keys_broker_vtpm_check(struct json_object *evidence, const uint8_t *report_data, size_t report_data_len,
                           const uint8_t *init_data_hash, struct keys_snp_roots *roots,
                           const struct keys_broker_vtpm_opts *opts, struct json_object **claims,
                           int *is_test);

#endif
