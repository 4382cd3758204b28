/* The party and dataset registry of `ccrfs gov serve` (docs/CONTRACTS.md, "Registry"):
 *   POST /parties {"id", "publicKey", "name"?}       participant registration (DEPA's workflows);
 *                                                    a party id keeps its first key (409 otherwise)
 *   GET  /parties, GET /parties/ID
 *   POST /datasets {"uuid", "id", "owner", "name"?, "store"?, "keySource"?, "signature"}
 *                                                    dataset registration, signed by the owner's
 *                                                    registered key over gov_dataset_record_bytes
 *   GET  /datasets[?owner=ID], GET /datasets/UUID    dataset discovery
 * Contracts use it: a DEPA contract's parties get their registered keys and its dataset UUIDs
 * their pinned ids; any contract naming a registered party with another key, or a registered
 * dataset with another provider than its owner, is refused at propose. */
#ifndef CCRFS_GOVERNANCE_SERVICE_REGISTRY_H
#define CCRFS_GOVERNANCE_SERVICE_REGISTRY_H

#include "governance/service/sidecar.h"

#include <json-c/json.h>
#include <microhttpd.h>
#include <stddef.h>

struct gov_store;
struct gov_contract;
struct gov_credential;

/* Creates the registry's tables. */
int gov_registry_open(struct gov_store *st);
/* Answers a registry request; 0 when url is not the registry's (nothing answered), 1 when it is. */
int gov_registry_route(struct gov_store *st, const struct gov_credential *cred, struct MHD_Connection *conn,
                       const char *url, const char *method, const char *body, size_t len,
                       struct gov_svc_reply *r);
/* Binds a DEPA contract's parties to their registered keys and its datasets to their pinned
 * ids (where registered; the rest stay unbound). */
int gov_registry_bind(struct gov_store *st, struct gov_contract *c);
/* EACCES with the reason when a proposed contract contradicts the registry. */
int gov_registry_check(struct gov_store *st, const struct gov_contract *c);
/* {"parties": {ID: {...}}, "datasets": {UUID: {...}}}: the registry entries a contract uses. */
json_object *gov_registry_view(struct gov_store *st, const struct gov_contract *c);

#endif
