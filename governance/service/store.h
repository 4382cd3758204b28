/* The governance service's storage: SQLite in WAL mode, synchronous=FULL (an acknowledged
 * event or signature survives a crash). Contracts, their signatures and revocation, use
 * counters, and events. One connection, used from the service's one thread. */
#ifndef CCRFS_GOVERNANCE_SERVICE_STORE_H
#define CCRFS_GOVERNANCE_SERVICE_STORE_H

#include <stddef.h>
#include <stdint.h>

struct gov_store;
struct gov_contract;

struct gov_store_contract {
    struct gov_contract *c; /* parsed from the stored body */
    char **signed_parties;  /* parties whose signature is stored */
    char **signatures;      /* their signatures (base64), same order */
    size_t nsigned;
    int revoked;
    char revoked_at[32], revoked_by[130], proposed_at[32];
};

int gov_store_open(const char *path, struct gov_store **out);
void gov_store_close(struct gov_store *s);
/* The connection, for the registry's own tables (registry.c). */
struct sqlite3 *gov_store_db(struct gov_store *s);

/* Stores an event; *duplicate = 1 when the same id with the same body was there already.
 * EEXIST when the id is there with a different body. */
int gov_store_put_event(struct gov_store *s, const char *id, const char *chain, int64_t seq,
                        const char *contract, const char *scope, const char *type, const char *time,
                        const char *path, const char *body, size_t len, int *duplicate);
/* Calls fn with each stored event of a contract, ordered by chain and sequence, filtered by
 * time range (inclusive, NULL: open) and path (NULL: all), starting after (after_chain,
 * after_seq) when after_chain is set, at most limit events. */
int gov_store_events(struct gov_store *s, const char *contract, const char *from, const char *to,
                     const char *path, const char *after_chain, int64_t after_seq, unsigned limit,
                     int (*fn)(void *arg, const char *chain, int64_t seq, const char *body, size_t len),
                     void *arg);

/* The sidecar stand-in's events (PUT /events): each PUT is one write of key id in the map of
 * (contract, scope), numbered like ledger transactions (*seqno, increasing over all maps). */
int gov_store_stream_put(struct gov_store *s, const char *contract, const char *scope, const char *id,
                         const char *timestamp, const char *data, size_t len, int64_t *seqno);
/* The seqno of the last write of id (0: never written), or with contract NULL the last seqno
 * of all (the "committed" end). */
int gov_store_stream_last(struct gov_store *s, const char *contract, const char *scope, const char *id,
                          int64_t *seqno);
/* Calls fn with each write of id with from <= seqno <= to, in seqno order. */
int gov_store_stream_range(
    struct gov_store *s, const char *contract, const char *scope, const char *id, int64_t from, int64_t to,
    int (*fn)(void *arg, int64_t seqno, const char *timestamp, const char *data, size_t len), void *arg);

/* Adds a proposed contract; *existed = 1 when the same contract (same digest) was there.
 * EEXIST when the id is taken by a different contract. */
int gov_store_contract_add(struct gov_store *s, const struct gov_contract *c, int *existed);
/* ENOENT when unknown. */
int gov_store_contract_get(struct gov_store *s, const char *id, struct gov_store_contract *out);
void gov_store_contract_release(struct gov_store_contract *sc);
int gov_store_contract_ids(struct gov_store *s, char ***ids, size_t *count);
int gov_store_sign(struct gov_store *s, const char *contract, const char *party, const char *sig);
int gov_store_revoke(struct gov_store *s, const char *contract, const char *party, const char *sig);
/* Counts one use of dataset; ENOSPC (nothing changed) when max uses are spent. */
int gov_store_use(struct gov_store *s, const char *contract, const char *dataset, uint64_t max,
                  uint64_t *used);
int gov_store_uses(struct gov_store *s, const char *contract, const char *dataset, uint64_t *used);

/* The party that began a chain (a registry chain id, or a sidecar stream's key): ENOENT when
 * nobody has yet. Binding keeps the first party bound. */
int gov_store_chain_owner(struct gov_store *s, const char *chain, char *owner, size_t len);
int gov_store_chain_bind(struct gov_store *s, const char *chain, const char *party);
/* Whether registry events of chain are stored (a chain begun before owners were recorded). */
int gov_store_chain_has_events(struct gov_store *s, const char *chain, int *yes);

#endif
