/* Evidence from the CoCo attestation agent through guest-components' api-server-rest:
 *   GET <base>/aa/evidence?runtime_data=<URL-safe base64, unpadded>&encoding=base64
 * answers the attester's evidence as its JSON text; for SEV-SNP that is the SnpEvidence
 * object {"attestation_report", "cert_chain"} the KBS protocol carries. The agent pads
 * runtime data of up to 64 bytes with zeros into report_data, so the 64 bytes given here
 * come back unchanged in the report, which is checked. */
#include "common/encoding.h"
#include "common/err.h"
#include "keys/attest/evidence.h"
#include "keys/kbs/snp_evidence.h"
#include "net/http.h"

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AA_REPLY_MAX (256 * 1024) /* a report and a few certificates as JSON numbers */

int keys_aa_evidence(const char *base_url, const uint8_t report_data[KEYS_SNP_REPORT_DATA_LEN],
                     uint8_t report[KEYS_SNP_REPORT_LEN], uint8_t **vcek_der, size_t *vcek_len)
{
    struct net_http_client_opts o = {0};
    struct net_http_client *client = NULL;
    struct net_http_reply reply = {0};
    struct json_object *ev = NULL;
    struct keys_snp_report r;
    char rd[128], path[256], scrubbed[512];
    int rc;

    *vcek_der = NULL;
    *vcek_len = 0;
    if (strncmp(base_url, "http://", 7) != 0 && strncmp(base_url, "https://", 8) != 0)
        return ccr_err_set(EINVAL,
                           "aa:%s: expected the attestation agent's REST API as an http:// or https:// URL",
                           base_url);
    net_url_scrub(base_url, scrubbed, sizeof scrubbed);
    o.base_url = base_url;
    o.who = "attestation agent";
    o.transport.connect_timeout_ms = 5000;
    o.transport.timeout_ms = 60000; /* the agent asks the firmware, and may fetch certificates */
    o.retry.base_ms = 100;
    o.retry.cap_ms = 1000;
    o.retry.budget_ms = 3000;
    o.reply_max = AA_REPLY_MAX;
    ccr_b64_encode(report_data, KEYS_SNP_REPORT_DATA_LEN, rd, CCR_B64_URL);
    snprintf(path, sizeof path, "/aa/evidence?runtime_data=%s&encoding=base64", rd);
    if ((rc = net_http_client_new(&o, &client)) != 0)
        return rc;
    struct net_http_request rq = {
        .method = "GET", .path = path, .accept = "application/octet-stream, application/json"};
    if ((rc = net_http_client_do(client, &rq, &reply)) != 0)
        goto out;
    if (reply.status != 200) {
        /* 400: a bad parameter (an api-server-rest too old for encoding=base64 answers so);
         * 403: the API is not open to this container; 404: the attestation feature is off. */
        rc = ccr_err_set(reply.status == 404 || reply.status == 403 ? EACCES : EIO,
                         "attestation agent %s: GET /aa/evidence answered %ld%s%.200s", scrubbed,
                         reply.status, reply.len ? ": " : "", reply.len ? reply.body : "");
        goto out;
    }
    ev = json_tokener_parse(reply.body);
    if (ev == NULL || !json_object_is_type(ev, json_type_object) ||
        !json_object_object_get_ex(ev, "attestation_report", NULL)) {
        rc = ccr_err_set(
            EPROTO,
            "attestation agent %s: the evidence is not SEV-SNP evidence (no \"attestation_report\"): "
            "this guest is not an SEV-SNP guest, or the agent runs another attester",
            scrubbed);
        goto out;
    }
    if ((rc = keys_kbs_snp_evidence_parse(ev, &r, vcek_der, vcek_len)) != 0) {
        rc = ccr_err_wrap(rc, "attestation agent %s: ", scrubbed);
        goto out;
    }
    /* Fail closed on evidence not bound to what was asked (a stale or replayed answer). */
    if (CRYPTO_memcmp(r.report_data, report_data, KEYS_SNP_REPORT_DATA_LEN) != 0) {
        rc = ccr_err_set(
            EPROTO, "attestation agent %s: the report's report_data is not the runtime data sent", scrubbed);
        goto out;
    }
    memcpy(report, r.raw, KEYS_SNP_REPORT_LEN);
out:
    if (rc != 0) {
        free(*vcek_der);
        *vcek_der = NULL;
        *vcek_len = 0;
    }
    json_object_put(ev);
    net_http_reply_free(&reply);
    net_http_client_free(client);
    return rc;
}
