/* The governance service's HTTP side: routing, authentication, bounded bodies, JSON errors. */
#include "governance/service/service.h"
#include "common/array.h"
#include "common/clock.h"
#include "common/dynbuf.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/secmem.h"
#include "governance/canon.h"
#include "governance/contract.h"
#include "governance/cose.h"
#include "governance/event.h"
#include "governance/http.h"
#include "governance/service/registry.h"
#include "governance/service/auth.h"
#include "governance/service/options.h"
#include "governance/service/sidecar.h"
#include "governance/service/signed_events.h"
#include "governance/service/store.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <unistd.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BODY_MAX       (1024 * 1024)
#define EVENT_BODY_MAX (64 * 1024)
/* Routes other than PUT /events take small bodies: a contract (at most 256 KiB, its parser's
 * cap) or a signature. */
#define CONTRACT_BODY_MAX (260 * 1024)
#define SMALL_BODY_MAX    (16 * 1024)

/* Open connections from one client address. */
struct client_count {
    struct in_addr addr;
    unsigned n; /* 0: a free slot */
};

struct gov_service {
    struct MHD_Daemon *mhd;
    struct gov_store *store;
    struct gov_auth auth;
    struct gov_service_options opts;
    uint16_t port;
    /* Connection counts, kept apart from lock (which a slow request holds). */
    pthread_mutex_t conn_lock;
    unsigned nconn;
    struct client_count *clients;
    size_t nclients;
    /* A thread per connection (PUTs wait for their answer delay in parallel, as the sidecar's
     * do); requests still run one at a time against the store. */
    pthread_mutex_t lock;
    struct gov_sidecar sidecar;
};

struct req {
    struct ccr_dynbuf body; /* at most the route's cap */
    size_t cap;
    int too_big;
};

/* ---- replies ------------------------------------------------------------------------ */

void gov_svc_reply_json(struct gov_svc_reply *r, unsigned status, json_object *v)
{
    r->status = status;
    r->body =
        strdup(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(v);
}

void gov_svc_reply_error(struct gov_svc_reply *r, unsigned status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    json_object *v = json_object_new_object(), *e = json_object_new_object();
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_object_object_add(e, "code", json_object_new_string(code));
    json_object_object_add(e, "message", json_object_new_string(msg));
    json_object_object_add(v, "error", e);
    gov_svc_reply_json(r, status, v);
}

/* ---- contract state ----------------------------------------------------------------- */

static const char *contract_status(const struct gov_store_contract *sc, char *reason, size_t len)
{
    const struct gov_contract *c = sc->c;
    int64_t now = (int64_t)ccr_clock_wall_ms();
    if (sc->revoked) {
        snprintf(reason, len, "contract %s was revoked by %s at %s", c->id, sc->revoked_by, sc->revoked_at);
        return "revoked";
    }
    for (size_t i = 0; i < c->nparties; i++) {
        int found = 0;
        for (size_t j = 0; j < sc->nsigned; j++)
            found |= strcmp(sc->signed_parties[j], c->parties[i].id) == 0;
        if (!found) {
            snprintf(reason, len, "contract %s is not signed yet by party %s", c->id, c->parties[i].id);
            return "proposed";
        }
    }
    if (now < c->start_ms) {
        snprintf(reason, len, "contract %s is not valid before its startTime", c->id);
        return "pending";
    }
    if (now >= c->expiry_ms) {
        snprintf(reason, len, "contract %s expired", c->id);
        return "expired";
    }
    snprintf(reason, len, "contract %s is signed by every party and in force", c->id);
    return "active";
}

/* Loads a contract or answers 404. */
static int load_contract(struct gov_service *s, const char *id, struct gov_store_contract *sc,
                         struct gov_svc_reply *r)
{
    int rc = gov_store_contract_get(s->store, id, sc);
    if (rc == 0 && (rc = gov_registry_bind(s->store, sc->c)) != 0)
        gov_store_contract_release(sc);
    if (rc == ENOENT)
        gov_svc_reply_error(r, 404, "ContractNotFound", "no contract with id '%s'", id);
    else if (rc != 0)
        gov_svc_reply_error(r, 500, "StorageError", "%s", ccr_err_msg(rc));
    return rc;
}

/* ---- who may do what (rules: auth.c) -------------------------------------------------- */

/* Answers 403 with the rule's message when rc says the credential lacks something. */
static int forbidden(int rc, struct gov_svc_reply *r)
{
    if (rc != 0)
        gov_svc_reply_error(r, 403, "Forbidden", "%s", ccr_err_msg(rc));
    return rc;
}

/* Whether cred may append to chain_key (a registry chain id or a sidecar stream's key) of
 * contract_id; legacy: the chain has events from before chains were bound to parties. */
static int append_allowed(struct gov_service *s, const struct gov_credential *cred, const char *contract_id,
                          const char *chain_key, int legacy, struct gov_svc_reply *r)
{
    struct gov_store_contract sc = {0};
    char owner[160];
    const char *who = NULL;
    int rc, have = 0;

    if (cred->roles & GOV_ROLE_ADMIN) /* no contract to parse for each event */
        return 0;
    if (contract_id[0] != '\0') {
        rc = gov_store_contract_get(s->store, contract_id, &sc);
        if (rc != 0 && rc != ENOENT) {
            gov_svc_reply_error(r, 500, "StorageError", "%s", ccr_err_msg(rc));
            return rc;
        }
        have = rc == 0;
    }
    rc = gov_store_chain_owner(s->store, chain_key, owner, sizeof owner);
    if (rc == 0)
        who = owner;
    else if (rc == ENOENT && legacy)
        who = "unknown (begun before chains were bound to parties; only admin may go on)";
    else if (rc != ENOENT) {
        gov_svc_reply_error(r, 500, "StorageError", "%s", ccr_err_msg(rc));
        goto out;
    }
    rc = forbidden(gov_auth_may_append(cred, have ? sc.c : NULL, contract_id, chain_key, who), r);
out:
    if (have)
        gov_store_contract_release(&sc);
    return rc;
}

/* Whether cred may read the events of contract_id. */
static int read_events_allowed(struct gov_service *s, const struct gov_credential *cred,
                               const char *contract_id, struct gov_svc_reply *r)
{
    struct gov_store_contract sc;
    int rc;

    if (cred->roles & (GOV_ROLE_ADMIN | GOV_ROLE_AUDITOR))
        return 0;
    rc = gov_store_contract_get(s->store, contract_id, &sc);
    if (rc != 0 && rc != ENOENT) {
        gov_svc_reply_error(r, 500, "StorageError", "%s", ccr_err_msg(rc));
        return rc;
    }
    ccr_err_clear();
    rc = forbidden(gov_auth_may_read_events(cred, rc == 0 ? sc.c : NULL, contract_id), r);
    if (sc.c != NULL)
        gov_store_contract_release(&sc);
    return rc;
}

/* ---- handlers ----------------------------------------------------------------------- */

static void put_event(struct gov_service *s, const struct gov_credential *cred, struct MHD_Connection *conn,
                      const struct req *q, struct gov_svc_reply *r)
{
    const char *qid = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "id");
    const char *scope = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "scope");
    const char *id, *chain, *type, *time, *hash, *contract, *path;
    char calc[GOV_HASH_HEX + 1], *canon = NULL;
    json_object *ev = NULL;
    long long seq;
    size_t clen;
    int dup = 0, rc;

    if (qid == NULL || qid[0] == '\0' || scope == NULL)
        return gov_svc_reply_error(r, 400, "BadRequest",
                                   "PUT /events needs the query parameters id and scope");
    if (q->body.len > EVENT_BODY_MAX)
        return gov_svc_reply_error(r, 413, "TooLarge", "an event may have at most %d bytes", EVENT_BODY_MAX);
    if (gov_json_parse(q->body.data ? q->body.data : "", q->body.len, "event", &ev) != 0)
        return gov_svc_reply_error(r, 400, "BadRequest", "%s", ccr_err_msg(EINVAL));
    id = gov_json_str(ev, "id");
    chain = gov_json_str(ev, "chain");
    type = gov_json_str(ev, "type");
    time = gov_json_str(ev, "time");
    hash = gov_json_str(ev, "hash");
    contract = gov_json_str(ev, "contract");
    path = gov_json_str(ev, "path");
    if (!json_object_is_type(ev, json_type_object) || id == NULL || chain == NULL || type == NULL ||
        time == NULL || hash == NULL || gov_json_int(ev, "seq", &seq) != 0 || seq < 0) {
        gov_svc_reply_error(r, 400, "BadRequest", "an event needs id, chain, seq, type, time and hash");
        goto out;
    }
    if (strcmp(id, qid) != 0) {
        gov_svc_reply_error(r, 400, "BadRequest", "the id in the query (%s) differs from the event's id",
                            qid);
        goto out;
    }
    if (gov_event_hash(ev, calc) != 0 || strcmp(calc, hash) != 0) {
        gov_svc_reply_error(r, 400, "BadRequest", "event %s: hash does not match its content", id);
        goto out;
    }
    if (gov_canon_json(ev, NULL, &canon, &clen) != 0) {
        gov_svc_reply_error(r, 400, "BadRequest", "event %s: %s", id, ccr_err_msg(EINVAL));
        goto out;
    }
    {
        /* Only the party that began a chain appends to it: a forged next event from another
         * credential is refused here and stores nothing, so the real one still fits. */
        int legacy = 0;
        if ((rc = gov_store_chain_has_events(s->store, chain, &legacy)) != 0) {
            gov_svc_reply_error(r, 500, "StorageError", "%s", ccr_err_msg(rc));
            goto out;
        }
        if (append_allowed(s, cred, contract ? contract : "", chain, legacy, r) != 0)
            goto out;
    }
    rc = gov_store_put_event(s->store, id, chain, seq, contract ? contract : "", scope, type, time, path,
                             canon, clen, &dup);
    if (rc == 0)
        rc = gov_store_chain_bind(s->store, chain, cred->party);
    if (rc == EEXIST)
        gov_svc_reply_error(r, 409, "Conflict", "%s", ccr_err_msg(rc));
    else if (rc != 0)
        gov_svc_reply_error(r, 500, "StorageError", "%s", ccr_err_msg(rc));
    else {
        json_object *v = json_object_new_object();
        json_object_object_add(v, "id", json_object_new_string(id));
        json_object_object_add(v, "status", json_object_new_string(dup ? "duplicate" : "stored"));
        gov_svc_reply_json(r, 200, v);
    }
out:
    free(canon);
    json_object_put(ev);
}

static void consent_check(struct gov_service *s, struct MHD_Connection *conn, struct gov_svc_reply *r)
{
    const char *id = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "contract");
    char own[256];
    struct gov_store_contract sc;
    char reason[512];
    const char *st;
    json_object *v, *why;
    int rc;

    /* As the sidecar: its own contract (or the path prefix header's) when none is named, and
     * then the CCF application's reason codes; the registry API keeps its own. */
    int sidecar = id == NULL || id[0] == '\0';
    if (sidecar)
        id = gov_sidecar_contract(&s->sidecar, conn, own, sizeof own);
    if (id == NULL)
        return gov_svc_reply_error(r, 400, "BadRequest",
                                   "consent check needs ?contract=ID, the %s header, or a service started "
                                   "with --contract",
                                   GOV_ACR_PREFIX_HEADER);
    v = json_object_new_object();
    why = json_object_new_object();
    rc = gov_store_contract_get(s->store, id, &sc);
    if (rc == ENOENT) {
        json_object_object_add(v, "status", json_object_new_string("disabled"));
        json_object_object_add(why, "code",
                               json_object_new_string(sidecar ? "ContractNotAccepted" : "ContractNotFound"));
        snprintf(reason, sizeof reason, "no contract with id '%s'", id);
    } else if (rc != 0) {
        json_object_put(v);
        json_object_put(why);
        return gov_svc_reply_error(r, 500, "StorageError", "%s", ccr_err_msg(rc));
    } else {
        st = contract_status(&sc, reason, sizeof reason);
        json_object_object_add(v, "status",
                               json_object_new_string(strcmp(st, "active") == 0 ? "enabled" : "disabled"));
        /* The CCF application's codes where it has one: not (yet) accepted, disabled. */
        json_object_object_add(why, "code",
                               json_object_new_string(!sidecar                      ? st
                                                      : strcmp(st, "proposed") == 0 ? "ContractNotAccepted"
                                                      : strcmp(st, "revoked") == 0  ? "ContractDisabled"
                                                                                    : st));
        gov_store_contract_release(&sc);
    }
    json_object_object_add(why, "message", json_object_new_string(reason));
    json_object_object_add(v, "reason", why);
    gov_svc_reply_json(r, 200, v);
}

static void propose(struct gov_service *s, const struct gov_credential *cred, const struct req *q,
                    struct gov_svc_reply *r)
{
    struct gov_contract *c;
    json_object *v;
    int existed = 0, rc;

    if (gov_contract_parse(q->body.data ? q->body.data : "", q->body.len, &c) != 0)
        return gov_svc_reply_error(r, 400, "InvalidContract", "%s", ccr_err_msg(EINVAL));
    if (forbidden(gov_auth_may_propose(cred, c), r) != 0) {
        gov_contract_free(c);
        return;
    }
    if ((rc = gov_registry_check(s->store, c)) != 0) {
        gov_svc_reply_error(r, rc == EACCES ? 403 : 500, rc == EACCES ? "RegistryMismatch" : "StorageError",
                            "%s", ccr_err_msg(rc));
        gov_contract_free(c);
        return;
    }
    rc = gov_store_contract_add(s->store, c, &existed);
    if (rc == EEXIST) {
        gov_svc_reply_error(r, 409, "Conflict", "%s", ccr_err_msg(rc));
    } else if (rc != 0) {
        gov_svc_reply_error(r, 500, "StorageError", "%s", ccr_err_msg(rc));
    } else {
        v = json_object_new_object();
        json_object_object_add(v, "id", json_object_new_string(c->id));
        json_object_object_add(v, "digest", json_object_new_string(c->digest));
        json_object_object_add(v, "status", json_object_new_string(existed ? "exists" : "proposed"));
        gov_svc_reply_json(r, existed ? 200 : 201, v);
    }
    gov_contract_free(c);
}

static json_object *contract_view(struct gov_service *s, const struct gov_store_contract *sc, int full)
{
    json_object *v = json_object_new_object(), *signed_by = json_object_new_array(),
                *pending = json_object_new_array();
    char reason[512];
    const struct gov_contract *c = sc->c;

    json_object_object_add(v, "id", json_object_new_string(c->id));
    json_object_object_add(v, "status", json_object_new_string(contract_status(sc, reason, sizeof reason)));
    json_object_object_add(v, "reason", json_object_new_string(reason));
    json_object_object_add(v, "digest", json_object_new_string(c->digest));
    json_object_object_add(v, "proposedAt", json_object_new_string(sc->proposed_at));
    for (size_t i = 0; i < c->nparties; i++) {
        int found = 0;
        for (size_t j = 0; j < sc->nsigned; j++)
            found |= strcmp(sc->signed_parties[j], c->parties[i].id) == 0;
        json_object_array_add(found ? signed_by : pending, json_object_new_string(c->parties[i].id));
    }
    json_object_object_add(v, "signedBy", signed_by);
    json_object_object_add(v, "awaiting", pending);
    if (sc->revoked) {
        json_object_object_add(v, "revokedAt", json_object_new_string(sc->revoked_at));
        json_object_object_add(v, "revokedBy", json_object_new_string(sc->revoked_by));
    }
    if (full) {
        json_object *uses = json_object_new_array(), *sigs = json_object_new_object();
        /* The signatures travel with the contract, so a copy of this view can be checked
         * offline (ccrfs mount --contract-file). */
        for (size_t j = 0; j < sc->nsigned; j++)
            json_object_object_add(sigs, sc->signed_parties[j], json_object_new_string(sc->signatures[j]));
        json_object_object_add(v, "signatures", sigs);
        for (size_t i = 0; i < c->ndatasets; i++) {
            json_object *u = json_object_new_object();
            uint64_t used = 0;
            gov_store_uses(s->store, c->id, c->datasets[i].id, &used);
            json_object_object_add(u, "dataset", json_object_new_string(c->datasets[i].id));
            json_object_object_add(u, "used", json_object_new_int64((int64_t)used));
            json_object_object_add(u, "maxMounts", json_object_new_int64((int64_t)c->datasets[i].max_mounts));
            json_object_array_add(uses, u);
        }
        json_object_object_add(v, "uses", uses);
        json_object_object_add(v, "contract", json_object_get(c->json));
        json_object_object_add(v, "format", json_object_new_string(gov_contract_format_name(c->format)));
        json_object_object_add(v, "registry", gov_registry_view(s->store, c));
    }
    return v;
}

static void show(struct gov_service *s, const char *id, struct gov_svc_reply *r)
{
    struct gov_store_contract sc;
    if (load_contract(s, id, &sc, r) != 0)
        return;
    gov_svc_reply_json(r, 200, contract_view(s, &sc, 1));
    gov_store_contract_release(&sc);
}

static void list(struct gov_service *s, struct MHD_Connection *conn, struct gov_svc_reply *r)
{
    const char *party = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "party");
    json_object *v = json_object_new_object(), *arr = json_object_new_array();
    char **ids;
    size_t n;
    int rc = gov_store_contract_ids(s->store, &ids, &n);

    for (size_t i = 0; i < n; i++) {
        struct gov_store_contract sc;
        if (rc == 0 && gov_store_contract_get(s->store, ids[i], &sc) == 0) {
            if (party == NULL || gov_contract_party(sc.c, party) != NULL)
                json_object_array_add(arr, contract_view(s, &sc, 0));
            gov_store_contract_release(&sc);
        }
        free(ids[i]);
    }
    free(ids);
    json_object_object_add(v, "contracts", arr);
    if (rc != 0) {
        json_object_put(v);
        return gov_svc_reply_error(r, 500, "StorageError", "%s", ccr_err_msg(rc));
    }
    gov_svc_reply_json(r, 200, v);
}

/* POST /contracts/ID/sign and /revoke: {"party": "...", "signature": "<base64>"}, or
 * {"party": "...", "cose": "<base64 COSE_Sign1>"}, stored as "cose:<base64>". */
static void sign_or_revoke(struct gov_service *s, const struct gov_credential *cred, const char *id,
                           int revoke, const struct req *q, struct gov_svc_reply *r)
{
    struct gov_store_contract sc;
    json_object *body = NULL;
    const char *party, *sig, *cose;
    char *bytes = NULL, *cose_sig = NULL;
    size_t len;
    int rc;

    if (gov_json_parse(q->body.data ? q->body.data : "", q->body.len, "request", &body) != 0)
        return gov_svc_reply_error(r, 400, "BadRequest", "%s", ccr_err_msg(EINVAL));
    party = gov_json_str(body, "party");
    sig = gov_json_str(body, "signature");
    cose = gov_json_str(body, "cose");
    if (party == NULL || (sig == NULL) == (cose == NULL) || json_object_object_length(body) != 2) {
        json_object_put(body);
        return gov_svc_reply_error(r, 400, "BadRequest",
                                   "expected {\"party\": ID, \"signature\": BASE64} or {\"party\": ID, "
                                   "\"cose\": BASE64} and nothing else");
    }
    if (cose != NULL) {
        if (asprintf(&cose_sig, "%s%s", GOV_COSE_SIG_PREFIX, cose) < 0) {
            json_object_put(body);
            return gov_svc_reply_error(r, 500, "InternalError", "out of memory");
        }
        sig = cose_sig;
    }
    if (load_contract(s, id, &sc, r) != 0) {
        json_object_put(body);
        return;
    }
    if (forbidden(gov_auth_may_sign(cred, sc.c, party, revoke), r) != 0)
        goto out;
    if (sc.revoked) {
        gov_svc_reply_error(r, 409, "Revoked", "contract %s is revoked already", id);
        goto out;
    }
    rc = revoke ? gov_contract_revoke_bytes(sc.c, &bytes, &len)
                : gov_contract_signed_bytes(sc.c, &bytes, &len);
    if (rc == 0)
        rc = gov_contract_check_sig(sc.c, party, bytes, len, sig);
    if (rc == ENOENT) {
        gov_svc_reply_error(r, 403, "NotAParty", "%s", ccr_err_msg(rc));
        goto out;
    }
    if (rc != 0) {
        gov_svc_reply_error(r, 403, "BadSignature", "%s", ccr_err_msg(rc));
        goto out;
    }
    rc = revoke ? gov_store_revoke(s->store, id, party, sig) : gov_store_sign(s->store, id, party, sig);
    if (rc != 0) {
        gov_svc_reply_error(r, 500, "StorageError", "%s", ccr_err_msg(rc));
        goto out;
    }
    gov_store_contract_release(&sc);
    if (load_contract(s, id, &sc, r) == 0)
        gov_svc_reply_json(r, 200, contract_view(s, &sc, 0));
out:
    free(bytes);
    free(cose_sig);
    json_object_put(body);
    gov_store_contract_release(&sc);
}

static void use(struct gov_service *s, const struct gov_credential *cred, struct MHD_Connection *conn,
                const char *id, struct gov_svc_reply *r)
{
    const char *dataset = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "dataset");
    const struct gov_contract_dataset *d;
    struct gov_store_contract sc;
    char reason[512];
    uint64_t used = 0;
    json_object *v;
    int rc;

    if (dataset == NULL)
        return gov_svc_reply_error(r, 400, "BadRequest", "use needs ?dataset=sha256:...");
    if (load_contract(s, id, &sc, r) != 0)
        return;
    d = gov_contract_dataset(sc.c, dataset);
    /* A sink mount releases no key, so no broker sees it: its clean room counts its own use.
     * Burning that budget only limits the clean room's own outputs. */
    if (forbidden(gov_auth_may_use(cred, sc.c,
                                   s->opts.allow_unattested_use || (d != NULL && d->mode == GOV_MODE_SINK)),
                  r) != 0)
        goto out;
    if (strcmp(contract_status(&sc, reason, sizeof reason), "active") != 0) {
        gov_svc_reply_error(r, 403, "ConsentDisabled", "%s", reason);
        goto out;
    }
    if (d == NULL) {
        gov_svc_reply_error(r, 404, "DatasetNotInContract", "contract %s does not name dataset %s", id,
                            dataset);
        goto out;
    }
    rc = gov_store_use(s->store, id, dataset, d->max_mounts, &used);
    if (rc == ENOSPC) {
        gov_svc_reply_error(r, 409, "BudgetSpent", "%s", ccr_err_msg(rc));
        goto out;
    }
    if (rc != 0) {
        gov_svc_reply_error(r, 500, "StorageError", "%s", ccr_err_msg(rc));
        goto out;
    }
    v = json_object_new_object();
    json_object_object_add(v, "dataset", json_object_new_string(dataset));
    json_object_object_add(v, "used", json_object_new_int64((int64_t)used));
    json_object_object_add(v, "maxMounts", json_object_new_int64((int64_t)d->max_mounts));
    json_object_object_add(v, "remaining", json_object_new_int64((int64_t)(d->max_mounts - used)));
    json_object_object_add(v, "accessMode", json_object_new_string(gov_access_mode_name(d->mode)));
    json_object_object_add(v, "maxBytesPerMount", json_object_new_int64((int64_t)d->max_bytes_per_mount));
    gov_svc_reply_json(r, 200, v);
out:
    gov_store_contract_release(&sc);
}

struct event_list {
    struct ccr_dynbuf json; /* the reply, being built */
    unsigned n;
    char last_chain[GOV_CHAIN_ID_HEX + 1];
    int64_t last_seq;
};

static int list_add(void *arg, const char *chain, int64_t seq, const char *body, size_t len)
{
    struct event_list *l = arg;
    snprintf(l->last_chain, sizeof l->last_chain, "%s", chain ? chain : "");
    l->last_seq = seq;
    if (l->n++ > 0 && ccr_dynbuf_add(&l->json, ",", 1) != 0)
        return ENOMEM;
    return ccr_dynbuf_add(&l->json, body, len);
}

#define EVENTS_PAGE_DEFAULT 10000
#define EVENTS_PAGE_MAX     100000

static void events_query(struct gov_service *s, const struct gov_credential *cred,
                         struct MHD_Connection *conn, struct gov_svc_reply *r)
{
    const char *contract = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "contract");
    const char *from = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "from");
    const char *to = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "to");
    const char *path = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "path");
    const char *after = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "after");
    const char *limit_text = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit");
    struct event_list l = {0};
    char after_chain[GOV_CHAIN_ID_HEX + 1];
    long long after_seq = -1, limit = EVENTS_PAGE_DEFAULT;
    int rc, n = 0;

    if (contract == NULL)
        return gov_svc_reply_error(r, 400, "BadRequest",
                                   "GET /events needs ?contract=ID (optional from, to, path, after, limit)");
    if (read_events_allowed(s, cred, contract, r) != 0)
        return;
    {
        int64_t ms;
        if ((from != NULL && gov_time_parse_ms(from, &ms) != 0) ||
            (to != NULL && gov_time_parse_ms(to, &ms) != 0))
            return gov_svc_reply_error(r, 400, "BadRequest", "%s", ccr_err_msg(EINVAL));
    }
    if (after != NULL &&
        (sscanf(after, "%32[0-9a-f]-%lld%n", after_chain, &after_seq, &n) != 2 ||
         (size_t)n != strlen(after) || strlen(after_chain) != GOV_CHAIN_ID_HEX || after_seq < 0))
        return gov_svc_reply_error(r, 400, "BadRequest", "after must be an event id (<chain>-<seq>)");
    if (limit_text != NULL && (sscanf(limit_text, "%lld%n", &limit, &n) != 1 ||
                               (size_t)n != strlen(limit_text) || limit < 1 || limit > EVENTS_PAGE_MAX))
        return gov_svc_reply_error(r, 400, "BadRequest", "limit must be a number from 1 to %d",
                                   EVENTS_PAGE_MAX);
    ccr_dynbuf_init(&l.json, 0);
    rc = ccr_dynbuf_add(&l.json, "{\"events\":[", 11);
    if (rc == 0)
        rc = gov_store_events(s->store, contract, from, to, path, after ? after_chain : NULL, after_seq,
                              (unsigned)limit, list_add, &l);
    if (rc == 0)
        rc = ccr_dynbuf_add(&l.json, "]", 1);
    /* A full page may have more after it: say where to go on. */
    if (rc == 0 && l.n == (unsigned)limit)
        rc = ccr_dynbuf_addf(&l.json, ",\"next\":\"%s-%lld\"", l.last_chain, (long long)l.last_seq);
    if (rc == 0)
        rc = ccr_dynbuf_add(&l.json, "}", 1);
    if (rc != 0) {
        ccr_dynbuf_free(&l.json);
        return gov_svc_reply_error(r, 500, "StorageError", "%s", ccr_err_msg(rc));
    }
    r->status = 200;
    r->body = ccr_dynbuf_steal(&l.json, NULL);
}

/* ---- routing ------------------------------------------------------------------------ */

/* The caller's credential, or NULL with a 401 naming what was wrong. */
static const struct gov_credential *authenticate(struct gov_service *s, struct MHD_Connection *conn,
                                                 struct gov_svc_reply *r)
{
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const struct gov_credential *c = gov_auth_find(&s->auth, h);
    if (c == NULL && r != NULL)
        gov_svc_reply_error(r, 401, "Unauthorized", "%s",
                            h == NULL || strncmp(h, "Bearer ", 7) != 0
                                ? "no credential: send \"Authorization: Bearer TOKEN\" with a party's token"
                                : "the bearer token is not the credential of any party of this service");
    return c;
}

/* The sidecar stand-in's PUT /events, appended only by the party that began that stream. */
static void sidecar_put(struct gov_service *s, const struct gov_credential *cred, struct MHD_Connection *conn,
                        const struct req *q, struct gov_svc_reply *r)
{
    const char *qid = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "id");
    const char *scope = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "scope");
    char contract[256], key[1024];
    const char *c = gov_sidecar_contract(&s->sidecar, conn, contract, sizeof contract);
    int64_t last = 0;

    if (c != NULL) {
        const char *id = qid != NULL && qid[0] ? qid : c;
        snprintf(key, sizeof key, "acr:%s\n%s\n%s", c, scope != NULL ? scope : "", id);
        if (gov_store_stream_last(s->store, c, scope != NULL ? scope : "", id, &last) != 0) {
            gov_svc_reply_error(r, 500, "StorageError", "%s", ccr_err_msg(EIO));
            return;
        }
        if (append_allowed(s, cred, c, key, last > 0, r) != 0)
            return;
    }
    gov_sidecar_put(&s->sidecar, s->store, conn, q->body.data, q->body.len, r);
    if (c != NULL && r->status == 200 && gov_store_chain_bind(s->store, key, cred->party) != 0)
        ccr_log_warn("governance: cannot record who began stream %s: %s", key, ccr_err_msg(EIO));
}

/* Splits "/contracts/ID[/ACTION]"; returns 0 on a match. */
static int contract_path(const char *url, char *id, size_t id_len, const char **action)
{
    const char *p = url + strlen("/contracts/"), *slash;
    size_t n;
    if (strncmp(url, "/contracts/", 11) != 0)
        return -1;
    slash = strchr(p, '/');
    n = slash ? (size_t)(slash - p) : strlen(p);
    if (n == 0 || n >= id_len)
        return -1;
    memcpy(id, p, n);
    id[n] = '\0';
    *action = slash ? slash + 1 : "";
    return 0;
}

/* PUT /events: a signed body is checked and unwrapped, and a chain with an attested owner
 * takes nothing else (signed_events.h); then the registry or the sidecar stand-in stores it. */
static void put_events(struct gov_service *s, const struct gov_credential *cred, struct MHD_Connection *conn,
                       const struct req *q, struct gov_svc_reply *r)
{
    struct req plain = {0};

    if (gov_signed_events_admit(s->store, q->body.data, q->body.len, &plain.body.data, &plain.body.len, r) !=
        0)
        return;
    if (plain.body.data != NULL)
        q = &plain;
    if (gov_sidecar_is_registry_event(conn, q->body.data, q->body.len))
        put_event(s, cred, conn, q, r);
    else
        sidecar_put(s, cred, conn, q, r);
    free(plain.body.data);
}

static void route(struct gov_service *s, struct MHD_Connection *conn, const char *url, const char *method,
                  const struct req *q, struct gov_svc_reply *r)
{
    char id[256];
    const char *action;
    const struct gov_credential *cred;

    if (strcmp(url, "/health") == 0 && strcmp(method, "GET") == 0) {
        json_object *v = json_object_new_object();
        json_object_object_add(v, "status", json_object_new_string("ok"));
        return gov_svc_reply_json(r, 200, v);
    }
    if ((cred = authenticate(s, conn, r)) == NULL)
        return;
    if (q->too_big)
        return gov_svc_reply_error(r, 413, strcmp(url, "/events") == 0 ? "RequestBodyTooLarge" : "TooLarge",
                                   "%s %s takes a body of at most %zu bytes", method, url, q->cap);
    if (gov_registry_route(s->store, cred, conn, url, method, q->body.data, q->body.len, r))
        return;
    if (strcmp(url, "/events") == 0 && strcmp(method, "PUT") == 0)
        return put_events(s, cred, conn, q, r);
    if (strcmp(url, "/events") == 0) {
        if (strcmp(method, "GET") == 0)
            return events_query(s, cred, conn, r);
        return gov_svc_reply_error(r, 405, "MethodNotAllowed", "/events takes PUT or GET");
    }
    if (strcmp(url, "/consentcheck/execution") == 0) {
        if (strcmp(method, "POST") != 0)
            return gov_svc_reply_error(r, 405, "MethodNotAllowed", "/consentcheck/execution takes POST");
        return consent_check(s, conn, r);
    }
    if (strcmp(url, "/contracts") == 0) {
        if (strcmp(method, "POST") == 0)
            return propose(s, cred, q, r);
        if (strcmp(method, "GET") == 0)
            return list(s, conn, r);
        return gov_svc_reply_error(r, 405, "MethodNotAllowed", "/contracts takes POST or GET");
    }
    if (contract_path(url, id, sizeof id, &action) == 0) {
        if (action[0] == '\0' && strcmp(method, "GET") == 0)
            return show(s, id, r);
        if (strcmp(method, "POST") == 0 && strcmp(action, "sign") == 0)
            return sign_or_revoke(s, cred, id, 0, q, r);
        if (strcmp(method, "POST") == 0 && strcmp(action, "revoke") == 0)
            return sign_or_revoke(s, cred, id, 1, q, r);
        if (strcmp(method, "POST") == 0 && strcmp(action, "use") == 0)
            return use(s, cred, conn, id, r);
        if (strcmp(method, "GET") == 0 && strcmp(action, "events") == 0) {
            if (read_events_allowed(s, cred, id, r) != 0)
                return;
            return gov_sidecar_history(&s->sidecar, s->store, conn, id, r);
        }
    }
    gov_svc_reply_error(r, 404, "NotFound", "no such endpoint: %s %s", method, url);
}

/* The body cap of a route: event batches up to the ledger's 1 MiB, everything else small. */
static size_t body_cap(const char *url, const char *method)
{
    if (strcmp(url, "/events") == 0 && strcmp(method, "PUT") == 0)
        return BODY_MAX;
    if (strcmp(url, "/contracts") == 0 && strcmp(method, "POST") == 0)
        return CONTRACT_BODY_MAX;
    return SMALL_BODY_MAX;
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, struct gov_svc_reply *r, int close)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    char num[16];

    if (r->empty) {
        resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    } else {
        if (r->body == NULL) {
            r->status = 500;
            r->body = strdup("{\"error\":{\"code\":\"NoMemory\",\"message\":\"out of memory\"}}");
            if (r->body == NULL)
                return MHD_NO;
        }
        resp = MHD_create_response_from_buffer(strlen(r->body), r->body, MHD_RESPMEM_MUST_FREE);
        if (resp == NULL)
            free(r->body);
        else
            MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    }
    if (resp == NULL)
        return MHD_NO;
    if (r->retry_after_s > 0) {
        snprintf(num, sizeof num, "%u", r->retry_after_s);
        MHD_add_response_header(resp, "retry-after", num);
    }
    if (close) /* refused before its body was read, or over a limit: do not keep the connection */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    ret = MHD_queue_response(conn, r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Refuses a request before reading its body when its client is over a connection limit, its
 * credential is missing or wrong, or its declared body is over the route's cap. 1 when a reply
 * was made. */
static int refuse_early(struct gov_service *s, struct MHD_Connection *conn, const char *url,
                        const char *method, size_t cap, struct gov_svc_reply *r)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    const struct client_count *cc = ci != NULL ? ci->socket_context : NULL;
    const char *length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned total, mine;

    pthread_mutex_lock(&s->conn_lock);
    total = s->nconn;
    mine = cc != NULL ? cc->n : 0;
    pthread_mutex_unlock(&s->conn_lock);
    if (mine > s->opts.max_per_client) {
        r->retry_after_s = 1;
        gov_svc_reply_error(r, 429, "TooManyRequests",
                            "this client has %u connections open; the service allows %u per client address",
                            mine, s->opts.max_per_client);
        return 1;
    }
    if (total > s->opts.max_connections) {
        r->retry_after_s = 1;
        gov_svc_reply_error(r, 503, "ServiceUnavailable",
                            "the service has %u connections open (at most %u); try again shortly", total,
                            s->opts.max_connections);
        return 1;
    }
    if (strcmp(url, "/health") == 0 && strcmp(method, "GET") == 0)
        return 0;
    if (authenticate(s, conn, r) == NULL)
        return 1;
    if (length != NULL && (strlen(length) > 12 || strtoull(length, NULL, 10) > cap)) {
        gov_svc_reply_error(r, 413, strcmp(url, "/events") == 0 ? "RequestBodyTooLarge" : "TooLarge",
                            "%s %s takes a body of at most %zu bytes", method, url, cap);
        return 1;
    }
    return 0;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    struct gov_service *s = cls;
    struct req *q = *con_cls;
    struct gov_svc_reply r = {0};

    (void)version;
    if (q == NULL) {
        q = calloc(1, sizeof *q);
        if (q == NULL)
            return MHD_NO;
        q->cap = body_cap(url, method);
        ccr_dynbuf_init(&q->body, q->cap);
        *con_cls = q;
        if (refuse_early(s, conn, url, method, q->cap, &r)) {
            ccr_err_clear();
            return send_reply(conn, &r, 1);
        }
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (!q->too_big) {
            int rc = ccr_dynbuf_add(&q->body, upload, *upload_size);
            if (rc == ENOMEM)
                return MHD_NO;
            q->too_big = rc == EFBIG; /* keep reading, answer 413 at the end */
        }
        *upload_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&s->lock);
    route(s, conn, url, method, q, &r);
    pthread_mutex_unlock(&s->lock);
    ccr_err_clear();
    if (r.delay_ms > 0) /* the ledger commit the sidecar waits for; other requests go on */
        usleep(r.delay_ms * 1000u);
    return send_reply(conn, &r, 0);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct req *q = *con_cls;
    (void)cls;
    (void)conn;
    (void)toe;
    if (q != NULL) {
        ccr_dynbuf_free(&q->body);
        free(q);
        *con_cls = NULL;
    }
}

/* Counts open connections overall and per client address (the limits refuse_early applies;
 * MHD itself closes connections a few beyond them at accept). */
static void connection_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                              enum MHD_ConnectionNotificationCode code)
{
    struct gov_service *s = cls;
    struct client_count *cc = *socket_context;

    pthread_mutex_lock(&s->conn_lock);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        struct in_addr addr = {0};
        struct client_count *free_slot = NULL;
        if (ci != NULL && ci->client_addr != NULL && ci->client_addr->sa_family == AF_INET)
            addr = ((const struct sockaddr_in *)(const void *)ci->client_addr)->sin_addr;
        s->nconn++;
        for (size_t i = 0; i < s->nclients && cc == NULL; i++) {
            if (s->clients[i].n > 0 && s->clients[i].addr.s_addr == addr.s_addr)
                cc = &s->clients[i];
            else if (s->clients[i].n == 0 && free_slot == NULL)
                free_slot = &s->clients[i];
        }
        if (cc == NULL && free_slot != NULL) {
            cc = free_slot;
            cc->addr = addr;
        }
        if (cc != NULL)
            cc->n++;
        *socket_context = cc;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        if (s->nconn > 0)
            s->nconn--;
        if (cc != NULL && cc->n > 0)
            cc->n--;
        *socket_context = NULL;
    }
    pthread_mutex_unlock(&s->conn_lock);
}

int gov_service_start(const struct gov_service_config *cfg, struct gov_service **out)
{
    return gov_service_start_opts(cfg, NULL, out);
}

int gov_service_start_opts(const struct gov_service_config *cfg, const struct gov_service_options *opts,
                           struct gov_service **out)
{
    struct gov_service *s = calloc(1, sizeof *s);
    struct sockaddr_in addr = {0};
    const union MHD_DaemonInfo *info;
    int rc;

    if (s == NULL)
        return ENOMEM;
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->conn_lock, NULL);
    ccr_array_init(&s->auth.creds, sizeof(struct gov_credential));
    if (opts != NULL)
        s->opts = *opts;
    if (s->opts.max_connections == 0)
        s->opts.max_connections = GOV_SERVICE_MAX_CONNECTIONS;
    if (s->opts.max_per_client == 0)
        s->opts.max_per_client = GOV_SERVICE_MAX_PER_CLIENT;
    if (s->opts.idle_timeout_s == 0)
        s->opts.idle_timeout_s = GOV_SERVICE_IDLE_TIMEOUT_S;
    if (s->opts.max_per_client > s->opts.max_connections)
        s->opts.max_per_client = s->opts.max_connections;
    /* MHD closes connections at accept a few beyond the limits answered with 429/503, so a
     * flood of idle sockets holds at most that many threads. */
    s->nclients = (size_t)s->opts.max_connections + 8;
    s->clients = calloc(s->nclients, sizeof *s->clients);
    if (s->clients == NULL) {
        gov_service_stop(s);
        return ENOMEM;
    }
    addr.sin_family = AF_INET;
    addr.sin_port = htons(cfg->port);
    if (inet_pton(AF_INET, cfg->address ? cfg->address : "127.0.0.1", &addr.sin_addr) != 1) {
        gov_service_stop(s);
        return ccr_err_set(EINVAL, "'%s' is not an IPv4 address", cfg->address);
    }
    if ((rc = gov_auth_load(&s->auth, cfg->token_file)) != 0 ||
        (rc = gov_store_open(cfg->db_path, &s->store)) != 0 || (rc = gov_registry_open(s->store)) != 0) {
        gov_service_stop(s);
        return rc;
    }
    /* A thread per connection, so answers delayed like the sidecar's overlap; every request
     * still runs alone against the one database connection (s->lock). */
    s->mhd = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
        handler, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, connection_notify, s, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)s->opts.idle_timeout_s, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)s->nclients,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)(s->opts.max_per_client + 2), MHD_OPTION_END);
    if (s->mhd == NULL) {
        gov_service_stop(s);
        return ccr_err_set(EADDRINUSE, "cannot listen on %s:%u", cfg->address ? cfg->address : "127.0.0.1",
                           cfg->port);
    }
    info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info != NULL ? info->port : cfg->port;
    *out = s;
    return 0;
}

int gov_service_sidecar(struct gov_service *s, const char *contract, unsigned put_delay_ms)
{
    char *copy = contract != NULL ? strdup(contract) : NULL;
    if (contract != NULL && copy == NULL)
        return ENOMEM;
    pthread_mutex_lock(&s->lock);
    free(s->sidecar.contract);
    s->sidecar.contract = copy;
    s->sidecar.put_delay_ms = put_delay_ms;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

uint16_t gov_service_port(const struct gov_service *s)
{
    return s->port;
}

void gov_service_stop(struct gov_service *s)
{
    if (s == NULL)
        return;
    if (s->mhd != NULL)
        MHD_stop_daemon(s->mhd);
    gov_store_close(s->store);
    gov_sidecar_free(&s->sidecar);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->conn_lock);
    gov_auth_free(&s->auth);
    free(s->clients);
    free(s);
}
