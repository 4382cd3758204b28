/* Settings of `ccrfs gov serve` beyond its address and database: who may count uses, and the
 * bounds that keep it answering under abuse (connections overall and per client address,
 * idle time). docs/GOVERNANCE.md "Limits". */
#ifndef CCRFS_GOVERNANCE_SERVICE_OPTIONS_H
#define CCRFS_GOVERNANCE_SERVICE_OPTIONS_H

#include "governance/service/service.h"

#define GOV_SERVICE_MAX_CONNECTIONS 256 /* open connections, all clients */
#define GOV_SERVICE_MAX_PER_CLIENT  32  /* open connections from one IP address */
#define GOV_SERVICE_IDLE_TIMEOUT_S  30  /* a connection silent this long is closed */

struct gov_service_options {
    unsigned max_connections; /* 0: GOV_SERVICE_MAX_CONNECTIONS */
    unsigned max_per_client;  /* 0: GOV_SERVICE_MAX_PER_CLIENT */
    unsigned idle_timeout_s;  /* 0: GOV_SERVICE_IDLE_TIMEOUT_S */
    /* A clean room party of a contract may count its uses itself (local tests, mounts with a
     * local key); otherwise only the broker, after it verified an attestation. */
    int allow_unattested_use;
};

/* gov_service_start with these options (NULL: the defaults). */
int gov_service_start_opts(const struct gov_service_config *cfg, const struct gov_service_options *opts,
                           struct gov_service **out);

#endif
