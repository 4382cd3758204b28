/* `ccrfs gov serve`: event bodies signed as Azure Clean Room's governance sidecar signs what it
 * forwards to the ledger (Azure/azure-cleanroom src/governance/ccf-app/js/src/endpoints/events.ts,
 * putEvent): {"data": base64 of the event bytes, "timestamp": "<ms>", "sign": {"signature":
 * base64 RSA-PSS (SHA-256, salt 32) over those bytes, "publicKey": base64 PEM}, "attestation":
 * {"evidence", "endorsements"}}, and who may append to a chain.
 *
 * A chain whose events first arrive signed by a key that attestation evidence binds (report_data
 * = SHA-256 of the PEM and 32 zeros, the report consistent with the VCEK -> ASK -> ARK chain it
 * carries) belongs to that key from then on: anything for that chain not signed by it is refused
 * (403 NotChainOwner) and nothing is stored. A new key takes the chain over only with evidence
 * of the same guest: same ARK, measurement and host_data (a remount of the same attested daemon,
 * whose key lives only in its memory). Owners are kept in the store, so a restart keeps them. */
#ifndef CCRFS_GOVERNANCE_SERVICE_SIGNED_EVENTS_H
#define CCRFS_GOVERNANCE_SERVICE_SIGNED_EVENTS_H

#include "governance/service/sidecar.h"

#include <stddef.h>

struct gov_store;

/* Decides a PUT /events body. 0: go on storing *plain (the signed body's data, malloc'd), or,
 * when *plain is NULL, the body as it came (unsigned, for a chain nobody owns). Otherwise r is
 * the refusal (400 for a malformed or badly signed body, 403 for a chain owned by another key)
 * and nothing may be stored. */
int gov_signed_events_admit(struct gov_store *st, const char *body, size_t len, char **plain,
                            size_t *plain_len, struct gov_svc_reply *r);

#endif
