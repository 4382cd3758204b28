/* Calls the mount code makes to the governance service besides events and consent:
 * fetching a contract (checked with the strict parser) and counting a use of a dataset
 * against the contract's use budget before its key is requested. */
#ifndef CCRFS_GOVERNANCE_CLIENT_H
#define CCRFS_GOVERNANCE_CLIENT_H

#include <stdint.h>

struct gov_contract;
struct gov_signed_contract;

struct gov_use {
    uint64_t used, max_mounts, remaining;
    uint64_t max_bytes_per_mount; /* 0: no byte budget */
    char access_mode[16];
};

/* GET /contracts/ID, then the strict parser. token_file NULL: $CCRFS_GOV_TOKEN. */
int gov_client_contract(const char *url, const char *token_file, const char *id, struct gov_contract **out);
/* GET /contracts/ID with its signatures and revocation (governance/admission.h), for a mount
 * to check the contract itself rather than trust the service's status. */
int gov_client_signed_contract(const char *url, const char *token_file, const char *id,
                               struct gov_signed_contract *out);
/* POST /contracts/ID/use?dataset=. ENOSPC: budget spent; EACCES: consent not enabled;
 * ENOENT: the contract does not name the dataset (or no such contract); EPROTO: bad reply. */
int gov_client_use(const char *url, const char *token_file, const char *id, const char *dataset,
                   struct gov_use *out);

#endif
