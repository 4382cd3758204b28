/* `ccrfs gov serve` as a stand-in of Azure Clean Room's governance sidecar (container-facing
 * API, Azure/azure-cleanroom src/governance/sidecar) and of the CCF application's events
 * history behind it (src/governance/ccf-app/js/src/endpoints/events.ts):
 *   PUT /events[?id=&scope=]   any JSON object; one write of key id (default: the contract id)
 *                              in the map of (contract, scope), numbered by an increasing seqno;
 *                              answered 200 with an empty body after put_delay_ms (the ledger
 *                              commit); 413 when the body the sidecar would forward (base64 with
 *                              its attestation) passes CCF's 1 MB cap
 *   GET /contracts/C/events?id=&scope=&from_seqno=&to_seqno=&max_seqno_per_page=
 *                              without a range the latest write only; with one, pages of
 *                              max_seqno_per_page seqnos (default 2000) and a nextLink; a page
 *                              whose state was not fetched yet answers 202 with retry-after: 1
 * The contract is the one in the x-ms-ccr-governance-api-path-prefix header
 * ("app/contracts/<id>"), else the one the service was started with. */
#ifndef CCRFS_GOVERNANCE_SERVICE_SIDECAR_H
#define CCRFS_GOVERNANCE_SERVICE_SIDECAR_H

#include <json-c/json.h>
#include <microhttpd.h>
#include <stddef.h>

struct gov_store;

/* A reply of the service (service.c builds and sends it). */
struct gov_svc_reply {
    unsigned status;
    char *body;             /* malloc'd JSON; NULL with empty set */
    int empty;              /* no body (the sidecar's 200 to a PUT) */
    unsigned retry_after_s; /* 0: no retry-after header */
    unsigned delay_ms;      /* wait this long before answering, holding no lock */
};
void gov_svc_reply_json(struct gov_svc_reply *r, unsigned status, json_object *v);
void gov_svc_reply_error(struct gov_svc_reply *r, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define GOV_SIDECAR_LOADED 64

struct gov_sidecar {
    char *contract;        /* the sidecar's own contract (its ccrgovApiPathPrefix); NULL: none */
    unsigned put_delay_ms; /* before each PUT answer */
    /* History ranges whose state is "loaded" (served, or prefetched for a nextLink). */
    char *loaded[GOV_SIDECAR_LOADED];
    size_t loaded_next;
};

/* The contract a request is for (header, else configured) into buf; NULL when neither. */
const char *gov_sidecar_contract(const struct gov_sidecar *sc, struct MHD_Connection *conn, char *buf,
                                 size_t len);
/* 1 when a PUT /events body is one ccrfs event for the registry API: id= and scope= given and
 * the body an event (chain, hash) whose id is id=. */
int gov_sidecar_is_registry_event(struct MHD_Connection *conn, const char *body, size_t len);
void gov_sidecar_put(struct gov_sidecar *sc, struct gov_store *st, struct MHD_Connection *conn,
                     const char *body, size_t len, struct gov_svc_reply *r);
void gov_sidecar_history(struct gov_sidecar *sc, struct gov_store *st, struct MHD_Connection *conn,
                         const char *contract, struct gov_svc_reply *r);
void gov_sidecar_free(struct gov_sidecar *sc);

#endif
