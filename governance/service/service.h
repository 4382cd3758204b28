/* `ccrfs gov serve`: a local governance service (libmicrohttpd + SQLite). The Azure Clean
 * Room governance sidecar API (PUT /events, POST /consentcheck/execution), a contract
 * registry (propose, sign, revoke, show, list, use budget) and event queries for auditors.
 * Every call but GET /health needs a bearer token; signing and revoking also need the
 * party's signature. API reference: docs/GOVERNANCE.md. */
#ifndef CCRFS_GOVERNANCE_SERVICE_SERVICE_H
#define CCRFS_GOVERNANCE_SERVICE_SERVICE_H

#include <stddef.h>
#include <stdint.h>

struct gov_service;

struct gov_service_config {
    const char *db_path;
    const char *address;    /* IPv4 address to listen on; NULL: 127.0.0.1 */
    uint16_t port;          /* 0: an ephemeral port */
    const char *token_file; /* accepted tokens, one per line; NULL: $CCRFS_GOV_TOKEN */
};

int gov_service_start(const struct gov_service_config *cfg, struct gov_service **out);
/* The sidecar stand-in's settings: its own contract (for PUT /events and consent checks that
 * name none; copied) and a delay before each PUT /events answer (the ledger commit). */
int gov_service_sidecar(struct gov_service *s, const char *contract, unsigned put_delay_ms);
uint16_t gov_service_port(const struct gov_service *s);
void gov_service_stop(struct gov_service *s);

#endif
