/* Dispatches an evidence request to its provider. */
#include "keys/attest/evidence.h"
#include "common/err.h"
#include "keys/attest/sim.h"

#include <stdlib.h>
#include <string.h>

int keys_evidence_get(const char *spec, const uint8_t report_data[KEYS_SNP_REPORT_DATA_LEN],
                      struct keys_evidence *ev)
{
    int rc;

    memset(ev, 0, sizeof *ev);
    if (strncmp(spec, "sim:", 4) == 0 && spec[4] != '\0') {
        snprintf(ev->kind, sizeof ev->kind, "sim");
        rc = keys_sim_report(spec + 4, report_data, ev->report, &ev->vcek_der, &ev->vcek_len);
    } else if (strcmp(spec, "snp") == 0) {
        snprintf(ev->kind, sizeof ev->kind, "snp");
        rc = keys_snp_dev_report(report_data, ev->report, &ev->vcek_der, &ev->vcek_len);
    } else if (strncmp(spec, "aa:", 3) == 0 && spec[3] != '\0') {
        snprintf(ev->kind, sizeof ev->kind, "aa");
        rc = keys_aa_evidence(spec + 3, report_data, ev->report, &ev->vcek_der, &ev->vcek_len);
    } else {
        return ccr_err_set(EINVAL, "evidence provider '%s': expected sim:DIR, snp or aa:URL", spec);
    }
    if (rc != 0)
        keys_evidence_clear(ev);
    return rc;
}

void keys_evidence_clear(struct keys_evidence *ev)
{
    free(ev->vcek_der);
    memset(ev, 0, sizeof *ev);
}
