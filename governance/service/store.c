/* SQLite storage of the governance service (see store.h). */
#include "governance/service/store.h"
#include "common/array.h"
#include "common/err.h"
#include "governance/contract.h"
#include "governance/event.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gov_store {
    sqlite3 *db;
    char *path;
};

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS contracts(id TEXT PRIMARY KEY, body TEXT NOT NULL, digest TEXT NOT NULL,"
    " proposed_at TEXT NOT NULL, revoked_at TEXT, revoked_by TEXT, revoke_sig TEXT);"
    "CREATE TABLE IF NOT EXISTS signatures(contract TEXT NOT NULL, party TEXT NOT NULL, sig TEXT NOT NULL,"
    " signed_at TEXT NOT NULL, PRIMARY KEY(contract, party));"
    "CREATE TABLE IF NOT EXISTS uses(contract TEXT NOT NULL, dataset TEXT NOT NULL, used INTEGER NOT NULL,"
    " PRIMARY KEY(contract, dataset));"
    "CREATE TABLE IF NOT EXISTS events(id TEXT PRIMARY KEY, chain TEXT NOT NULL, seq INTEGER NOT NULL,"
    " contract TEXT NOT NULL, scope TEXT NOT NULL, type TEXT NOT NULL, time TEXT NOT NULL, path TEXT,"
    " body TEXT NOT NULL, received_at TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS events_by_contract ON events(contract, chain, seq);"
    /* The sidecar's events: one write of key id per PUT, as the ledger keeps them. */
    "CREATE TABLE IF NOT EXISTS stream(seqno INTEGER PRIMARY KEY AUTOINCREMENT, contract TEXT NOT NULL,"
    " scope TEXT NOT NULL, id TEXT NOT NULL, timestamp TEXT NOT NULL, data TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS stream_by_key ON stream(contract, scope, id, seqno);"
    /* Who began each chain (a registry chain id, or a sidecar stream's key): only that party
     * may append to it. */
    "CREATE TABLE IF NOT EXISTS chain_owners(chain TEXT PRIMARY KEY, party TEXT NOT NULL,"
    " bound_at TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS events_by_chain ON events(chain, seq);";

static int db_fail(struct gov_store *s, const char *what)
{
    return ccr_err_set(EIO, "database %s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

int gov_store_open(const char *path, struct gov_store **out)
{
    struct gov_store *s = calloc(1, sizeof *s);
    char *err = NULL;
    int rc;

    if (s == NULL)
        return ENOMEM;
    s->path = strdup(path);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        rc = db_fail(s, "cannot open");
        gov_store_close(s);
        return rc;
    }
    sqlite3_busy_timeout(s->db, 5000);
    if (sqlite3_exec(s->db, schema, NULL, NULL, &err) != SQLITE_OK) {
        rc = ccr_err_set(EIO, "database %s: %s", path, err ? err : "cannot create the schema");
        sqlite3_free(err);
        gov_store_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void gov_store_close(struct gov_store *s)
{
    if (s == NULL)
        return;
    sqlite3_close(s->db);
    free(s->path);
    free(s);
}

struct sqlite3 *gov_store_db(struct gov_store *s)
{
    return s->db;
}

static int prepare(struct gov_store *s, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
        return db_fail(s, "prepare");
    return 0;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v == NULL)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

int gov_store_put_event(struct gov_store *s, const char *id, const char *chain, int64_t seq,
                        const char *contract, const char *scope, const char *type, const char *time,
                        const char *path, const char *body, size_t len, int *duplicate)
{
    sqlite3_stmt *st;
    char now[32];
    int rc, step;

    *duplicate = 0;
    if ((rc = prepare(s,
                      "INSERT OR IGNORE INTO events(id, chain, seq, contract, scope, type, time, path, body,"
                      " received_at) VALUES(?,?,?,?,?,?,?,?,?,?)",
                      &st)) != 0)
        return rc;
    gov_time_now(now);
    bind_text(st, 1, id);
    bind_text(st, 2, chain);
    sqlite3_bind_int64(st, 3, seq);
    bind_text(st, 4, contract);
    bind_text(st, 5, scope);
    bind_text(st, 6, type);
    bind_text(st, 7, time);
    bind_text(st, 8, path);
    sqlite3_bind_text(st, 9, body, (int)len, SQLITE_TRANSIENT);
    bind_text(st, 10, now);
    step = sqlite3_step(st);
    sqlite3_finalize(st);
    if (step != SQLITE_DONE)
        return db_fail(s, "storing an event");
    if (sqlite3_changes(s->db) == 1)
        return 0;
    /* Already there: harmless when it is the same event (a replay), a conflict otherwise. */
    if ((rc = prepare(s, "SELECT body FROM events WHERE id = ?", &st)) != 0)
        return rc;
    bind_text(st, 1, id);
    rc = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *old = (const char *)sqlite3_column_text(st, 0);
        size_t olen = (size_t)sqlite3_column_bytes(st, 0);
        if (old != NULL && olen == len && memcmp(old, body, len) == 0)
            *duplicate = 1;
        else
            rc = ccr_err_set(EEXIST, "event %s is stored already with different content", id);
    }
    sqlite3_finalize(st);
    return rc;
}

int gov_store_events(struct gov_store *s, const char *contract, const char *from, const char *to,
                     const char *path, const char *after_chain, int64_t after_seq, unsigned limit,
                     int (*fn)(void *arg, const char *chain, int64_t seq, const char *body, size_t len),
                     void *arg)
{
    sqlite3_stmt *st;
    int rc, step;

    if ((rc = prepare(s,
                      "SELECT chain, seq, body FROM events WHERE contract = ?1 AND (?2 IS NULL OR time >= ?2)"
                      " AND (?3 IS NULL OR time <= ?3) AND (?4 IS NULL OR path = ?4)"
                      " AND (?5 IS NULL OR chain > ?5 OR (chain = ?5 AND seq > ?6))"
                      " ORDER BY chain, seq LIMIT ?7",
                      &st)) != 0)
        return rc;
    bind_text(st, 1, contract);
    bind_text(st, 2, from);
    bind_text(st, 3, to);
    bind_text(st, 4, path);
    bind_text(st, 5, after_chain);
    sqlite3_bind_int64(st, 6, after_seq);
    sqlite3_bind_int64(st, 7, limit);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        rc = fn(arg, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1),
                (const char *)sqlite3_column_text(st, 2), (size_t)sqlite3_column_bytes(st, 2));
        if (rc != 0)
            break;
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = db_fail(s, "reading events");
    sqlite3_finalize(st);
    return rc;
}

int gov_store_contract_add(struct gov_store *s, const struct gov_contract *c, int *existed)
{
    sqlite3_stmt *st;
    char now[32];
    int rc, step;

    *existed = 0;
    if ((rc = prepare(s, "SELECT digest FROM contracts WHERE id = ?", &st)) != 0)
        return rc;
    bind_text(st, 1, c->id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(st, 0);
        rc = d != NULL && strcmp(d, c->digest) == 0
                 ? 0
                 : ccr_err_set(EEXIST, "contract %s exists with different content", c->id);
        sqlite3_finalize(st);
        *existed = rc == 0;
        return rc;
    }
    sqlite3_finalize(st);
    if ((rc = prepare(s, "INSERT INTO contracts(id, body, digest, proposed_at) VALUES(?,?,?,?)", &st)) != 0)
        return rc;
    gov_time_now(now);
    bind_text(st, 1, c->id);
    sqlite3_bind_text(st, 2, c->canonical, (int)c->canonical_len, SQLITE_TRANSIENT);
    bind_text(st, 3, c->digest);
    bind_text(st, 4, now);
    step = sqlite3_step(st);
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? 0 : db_fail(s, "storing a contract");
}

int gov_store_contract_get(struct gov_store *s, const char *id, struct gov_store_contract *out)
{
    struct ccr_array parties = CCR_ARRAY_INIT(char *), sigs = CCR_ARRAY_INIT(char *);
    sqlite3_stmt *st;
    int rc;

    memset(out, 0, sizeof *out);
    if ((rc = prepare(s, "SELECT body, proposed_at, revoked_at, revoked_by FROM contracts WHERE id = ?",
                      &st)) != 0)
        return rc;
    bind_text(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return ccr_err_set(ENOENT, "no contract %s", id);
    }
    rc = gov_contract_parse((const char *)sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0),
                            &out->c);
    snprintf(out->proposed_at, sizeof out->proposed_at, "%s", (const char *)sqlite3_column_text(st, 1));
    if (sqlite3_column_type(st, 2) != SQLITE_NULL) {
        out->revoked = 1;
        snprintf(out->revoked_at, sizeof out->revoked_at, "%s", (const char *)sqlite3_column_text(st, 2));
        snprintf(out->revoked_by, sizeof out->revoked_by, "%s", (const char *)sqlite3_column_text(st, 3));
    }
    sqlite3_finalize(st);
    if (rc != 0)
        return ccr_err_wrap(EIO, "stored contract %s: ", id);
    if ((rc = prepare(s, "SELECT party, sig FROM signatures WHERE contract = ? ORDER BY party", &st)) != 0) {
        gov_store_contract_release(out);
        return rc;
    }
    bind_text(st, 1, id);
    /* Out of memory part way: the signatures read so far (as before). */
    while (sqlite3_step(st) == SQLITE_ROW) {
        char *party = strdup((const char *)sqlite3_column_text(st, 0));
        char *sig = strdup((const char *)sqlite3_column_text(st, 1));
        if (party == NULL || sig == NULL || ccr_array_reserve(&parties, parties.len + 1) != 0 ||
            ccr_array_reserve(&sigs, sigs.len + 1) != 0) {
            free(party);
            free(sig);
            break;
        }
        ccr_array_append(&parties, &party);
        ccr_array_append(&sigs, &sig);
    }
    sqlite3_finalize(st);
    out->signed_parties = ccr_array_steal(&parties, &out->nsigned);
    out->signatures = ccr_array_steal(&sigs, NULL);
    return 0;
}

void gov_store_contract_release(struct gov_store_contract *sc)
{
    gov_contract_free(sc->c);
    for (size_t i = 0; i < sc->nsigned; i++) {
        free(sc->signed_parties[i]);
        free(sc->signatures[i]);
    }
    free(sc->signed_parties);
    free(sc->signatures);
    memset(sc, 0, sizeof *sc);
}

int gov_store_contract_ids(struct gov_store *s, char ***ids, size_t *count)
{
    struct ccr_array list = CCR_ARRAY_INIT(char *);
    sqlite3_stmt *st;
    int rc;
    *ids = NULL;
    *count = 0;
    if ((rc = prepare(s, "SELECT id FROM contracts ORDER BY id", &st)) != 0)
        return rc;
    while (sqlite3_step(st) == SQLITE_ROW) {
        char *copy = strdup((const char *)sqlite3_column_text(st, 0));
        if (copy == NULL || ccr_array_append(&list, &copy) != 0) {
            free(copy);
            rc = ENOMEM;
            break;
        }
    }
    sqlite3_finalize(st);
    *ids = ccr_array_steal(&list, count);
    return rc;
}

static int exec_simple(struct gov_store *s, const char *sql)
{
    return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : db_fail(s, sql);
}

int gov_store_sign(struct gov_store *s, const char *contract, const char *party, const char *sig)
{
    sqlite3_stmt *st;
    char now[32];
    int rc, step;
    if ((rc = prepare(s, "INSERT OR REPLACE INTO signatures(contract, party, sig, signed_at) VALUES(?,?,?,?)",
                      &st)) != 0)
        return rc;
    gov_time_now(now);
    bind_text(st, 1, contract);
    bind_text(st, 2, party);
    bind_text(st, 3, sig);
    bind_text(st, 4, now);
    step = sqlite3_step(st);
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? 0 : db_fail(s, "storing a signature");
}

int gov_store_revoke(struct gov_store *s, const char *contract, const char *party, const char *sig)
{
    sqlite3_stmt *st;
    char now[32];
    int rc, step;
    if ((rc = prepare(s,
                      "UPDATE contracts SET revoked_at = ?, revoked_by = ?, revoke_sig = ? WHERE id = ? AND"
                      " revoked_at IS NULL",
                      &st)) != 0)
        return rc;
    gov_time_now(now);
    bind_text(st, 1, now);
    bind_text(st, 2, party);
    bind_text(st, 3, sig);
    bind_text(st, 4, contract);
    step = sqlite3_step(st);
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? 0 : db_fail(s, "revoking");
}

int gov_store_uses(struct gov_store *s, const char *contract, const char *dataset, uint64_t *used)
{
    sqlite3_stmt *st;
    int rc;
    *used = 0;
    if ((rc = prepare(s, "SELECT used FROM uses WHERE contract = ? AND dataset = ?", &st)) != 0)
        return rc;
    bind_text(st, 1, contract);
    bind_text(st, 2, dataset);
    if (sqlite3_step(st) == SQLITE_ROW)
        *used = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return 0;
}

int gov_store_use(struct gov_store *s, const char *contract, const char *dataset, uint64_t max,
                  uint64_t *used)
{
    sqlite3_stmt *st;
    int rc, step;

    /* One transaction: read, check, count; two callers can never both take the last use. */
    if ((rc = exec_simple(s, "BEGIN IMMEDIATE")) != 0)
        return rc;
    if ((rc = gov_store_uses(s, contract, dataset, used)) != 0)
        goto rollback;
    if (*used >= max) {
        exec_simple(s, "ROLLBACK");
        return ccr_err_set(ENOSPC,
                           "the use budget of dataset %s under contract %s is spent (%llu of %llu mounts)",
                           dataset, contract, (unsigned long long)*used, (unsigned long long)max);
    }
    if ((rc = prepare(s,
                      "INSERT INTO uses(contract, dataset, used) VALUES(?,?,1) ON CONFLICT(contract, dataset)"
                      " DO UPDATE SET used = used + 1",
                      &st)) != 0)
        goto rollback;
    bind_text(st, 1, contract);
    bind_text(st, 2, dataset);
    step = sqlite3_step(st);
    sqlite3_finalize(st);
    if (step != SQLITE_DONE) {
        rc = db_fail(s, "counting a use");
        goto rollback;
    }
    if ((rc = exec_simple(s, "COMMIT")) != 0)
        goto rollback;
    (*used)++;
    return 0;
rollback:
    exec_simple(s, "ROLLBACK");
    return rc;
}

int gov_store_stream_put(struct gov_store *s, const char *contract, const char *scope, const char *id,
                         const char *timestamp, const char *data, size_t len, int64_t *seqno)
{
    sqlite3_stmt *st;
    int rc, step;

    if ((rc = prepare(s, "INSERT INTO stream(contract, scope, id, timestamp, data) VALUES(?,?,?,?,?)",
                      &st)) != 0)
        return rc;
    bind_text(st, 1, contract);
    bind_text(st, 2, scope);
    bind_text(st, 3, id);
    bind_text(st, 4, timestamp);
    sqlite3_bind_text(st, 5, data, (int)len, SQLITE_TRANSIENT);
    step = sqlite3_step(st);
    sqlite3_finalize(st);
    if (step != SQLITE_DONE)
        return db_fail(s, "storing a stream event");
    *seqno = sqlite3_last_insert_rowid(s->db);
    return 0;
}

int gov_store_stream_last(struct gov_store *s, const char *contract, const char *scope, const char *id,
                          int64_t *seqno)
{
    sqlite3_stmt *st;
    int rc;

    *seqno = 0;
    if (contract == NULL)
        rc = prepare(s, "SELECT COALESCE(MAX(seqno), 0) FROM stream", &st);
    else
        rc = prepare(
            s, "SELECT COALESCE(MAX(seqno), 0) FROM stream WHERE contract = ? AND scope = ? AND id = ?", &st);
    if (rc != 0)
        return rc;
    if (contract != NULL) {
        bind_text(st, 1, contract);
        bind_text(st, 2, scope);
        bind_text(st, 3, id);
    }
    if (sqlite3_step(st) == SQLITE_ROW)
        *seqno = sqlite3_column_int64(st, 0);
    else
        rc = db_fail(s, "reading a stream");
    sqlite3_finalize(st);
    return rc;
}

int gov_store_stream_range(
    struct gov_store *s, const char *contract, const char *scope, const char *id, int64_t from, int64_t to,
    int (*fn)(void *arg, int64_t seqno, const char *timestamp, const char *data, size_t len), void *arg)
{
    sqlite3_stmt *st;
    int rc, step;

    if ((rc = prepare(s,
                      "SELECT seqno, timestamp, data FROM stream WHERE contract = ? AND scope = ? AND id = ?"
                      " AND seqno >= ? AND seqno <= ? ORDER BY seqno",
                      &st)) != 0)
        return rc;
    bind_text(st, 1, contract);
    bind_text(st, 2, scope);
    bind_text(st, 3, id);
    sqlite3_bind_int64(st, 4, from);
    sqlite3_bind_int64(st, 5, to);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        rc = fn(arg, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
                (const char *)sqlite3_column_text(st, 2), (size_t)sqlite3_column_bytes(st, 2));
        if (rc != 0)
            break;
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = db_fail(s, "reading a stream");
    sqlite3_finalize(st);
    return rc;
}

/* ---- chain ownership ------------------------------------------------------------------ */

int gov_store_chain_owner(struct gov_store *s, const char *chain, char *owner, size_t len)
{
    sqlite3_stmt *st;
    int rc;

    if ((rc = prepare(s, "SELECT party FROM chain_owners WHERE chain = ?", &st)) != 0)
        return rc;
    bind_text(st, 1, chain);
    rc = ENOENT;
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(owner, len, "%s", (const char *)sqlite3_column_text(st, 0));
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

int gov_store_chain_bind(struct gov_store *s, const char *chain, const char *party)
{
    sqlite3_stmt *st;
    char now[32];
    int rc, step;

    if ((rc = prepare(s, "INSERT OR IGNORE INTO chain_owners(chain, party, bound_at) VALUES(?,?,?)", &st)) !=
        0)
        return rc;
    gov_time_now(now);
    bind_text(st, 1, chain);
    bind_text(st, 2, party);
    bind_text(st, 3, now);
    step = sqlite3_step(st);
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? 0 : db_fail(s, "binding a chain to its party");
}

int gov_store_chain_has_events(struct gov_store *s, const char *chain, int *yes)
{
    sqlite3_stmt *st;
    int rc;

    *yes = 0;
    if ((rc = prepare(s, "SELECT 1 FROM events WHERE chain = ? LIMIT 1", &st)) != 0)
        return rc;
    bind_text(st, 1, chain);
    *yes = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return 0;
}
