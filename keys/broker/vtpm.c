/* Azure vTPM evidence as the broker checks it. */
#include "keys/broker/vtpm.h"
#include "common/err.h"
#include "keys/attest/az_vtpm.h"

#include <errno.h>
#include <json-c/json.h>
#include <string.h>

int keys_broker_vtpm_check(struct json_object *evidence, const uint8_t *report_data, size_t report_data_len,
                           const uint8_t *init_data_hash, struct keys_snp_roots *roots,
                           const struct keys_broker_vtpm_opts *opts, struct json_object **claims,
                           int *is_test)
{
    unsigned min_version = opts->min_report_version ? opts->min_report_version : 2;
    struct json_object *v = NULL;
    const char *text;
    int rc;

    *claims = NULL;
    *is_test = 0;
    if (evidence == NULL || !json_object_is_type(evidence, json_type_object))
        return ccr_err_set(EINVAL, "Failed to deserialize Azure vTPM SEV-SNP evidence: not a JSON object");
    /* The verifier reads JSON text: byte arrays and strings come through unchanged. */
    text = json_object_to_json_string_ext(evidence, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    if ((rc = keys_az_vtpm_verify(text, strlen(text), report_data, report_data_len, init_data_hash, roots,
                                  opts->at, claims, is_test)) != 0)
        return rc;
    if (!json_object_object_get_ex(*claims, "version", &v) ||
        (uint64_t)json_object_get_int64(v) < (uint64_t)min_version)
        return ccr_err_set(EACCES,
                           "the SNP report inside the HCL report is version %lld; this broker demands %u or "
                           "later (--min-report-version)",
                           v ? (long long)json_object_get_int64(v) : -1LL, min_version);
    if (!opts->allow_debug &&
        (!json_object_object_get_ex(*claims, "debug", &v) || json_object_get_boolean(v)))
        return ccr_err_set(EACCES, "the guest policy allows debugging (DEBUG bit 19 set): its memory is not "
                                   "confidential");
    return 0;
}
