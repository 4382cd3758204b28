/* The party and dataset registry of the governance service (see registry.h). */
#include "governance/service/registry.h"
#include "common/err.h"
#include "governance/canon.h"
#include "governance/contract.h"
#include "governance/depa.h"
#include "governance/event.h"
#include "governance/service/auth.h"
#include "governance/service/store.h"
#include "governance/sign.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char registry_schema[] =
    "CREATE TABLE IF NOT EXISTS parties(id TEXT PRIMARY KEY, name TEXT NOT NULL, public_key TEXT NOT NULL,"
    " registered_at TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS datasets(uuid TEXT PRIMARY KEY, id TEXT NOT NULL UNIQUE, owner TEXT NOT NULL,"
    " name TEXT NOT NULL, store TEXT NOT NULL, key_source TEXT NOT NULL, signature TEXT NOT NULL,"
    " registered_at TEXT NOT NULL);";

struct party_row {
    char id[257], name[257], public_key[4097], registered_at[32];
};

struct dataset_row {
    char uuid[GOV_UUID_LEN + 1], id[GOV_DATASET_ID_LEN + 1], owner[257], name[257], store[2049],
        key_source[2049], signature[1025], registered_at[32];
};

static int db_fail(sqlite3 *db, const char *what)
{
    return ccr_err_set(EIO, "registry: %s: %s", what, sqlite3_errmsg(db));
}

int gov_registry_open(struct gov_store *st)
{
    char *err = NULL;
    int rc = 0;
    if (sqlite3_exec(gov_store_db(st), registry_schema, NULL, NULL, &err) != SQLITE_OK)
        rc = ccr_err_set(EIO, "registry: %s", err ? err : "cannot create its tables");
    sqlite3_free(err);
    return rc;
}

static void col(sqlite3_stmt *s, int i, char *out, size_t len)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    snprintf(out, len, "%s", t ? t : "");
}

/* ENOENT when not registered. */
static int party_get(struct gov_store *st, const char *id, struct party_row *p)
{
    sqlite3 *db = gov_store_db(st);
    sqlite3_stmt *s;
    int rc;
    if (sqlite3_prepare_v2(db, "SELECT id, name, public_key, registered_at FROM parties WHERE id = ?", -1, &s,
                           NULL) != SQLITE_OK)
        return db_fail(db, "reading a party");
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        col(s, 0, p->id, sizeof p->id);
        col(s, 1, p->name, sizeof p->name);
        col(s, 2, p->public_key, sizeof p->public_key);
        col(s, 3, p->registered_at, sizeof p->registered_at);
    }
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? ENOENT : db_fail(db, "reading a party");
}

static void dataset_cols(sqlite3_stmt *s, struct dataset_row *d)
{
    col(s, 0, d->uuid, sizeof d->uuid);
    col(s, 1, d->id, sizeof d->id);
    col(s, 2, d->owner, sizeof d->owner);
    col(s, 3, d->name, sizeof d->name);
    col(s, 4, d->store, sizeof d->store);
    col(s, 5, d->key_source, sizeof d->key_source);
    col(s, 6, d->signature, sizeof d->signature);
    col(s, 7, d->registered_at, sizeof d->registered_at);
}

#define DATASET_COLS "uuid, id, owner, name, store, key_source, signature, registered_at"

/* By UUID (key "uuid") or by pinned id (key "id"); ENOENT when not registered. */
static int dataset_get(struct gov_store *st, const char *key, const char *value, struct dataset_row *d)
{
    sqlite3 *db = gov_store_db(st);
    sqlite3_stmt *s;
    char sql[160];
    int rc;
    snprintf(sql, sizeof sql, "SELECT " DATASET_COLS " FROM datasets WHERE %s = ? COLLATE NOCASE",
             strcmp(key, "id") == 0 ? "id" : "uuid");
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        return db_fail(db, "reading a dataset");
    sqlite3_bind_text(s, 1, value, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        dataset_cols(s, d);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? ENOENT : db_fail(db, "reading a dataset");
}

static json_object *party_json(const struct party_row *p)
{
    json_object *v = json_object_new_object();
    json_object_object_add(v, "id", json_object_new_string(p->id));
    json_object_object_add(v, "name", json_object_new_string(p->name));
    json_object_object_add(v, "publicKey", json_object_new_string(p->public_key));
    json_object_object_add(v, "registeredAt", json_object_new_string(p->registered_at));
    return v;
}

static json_object *dataset_json(const struct dataset_row *d)
{
    json_object *v = json_object_new_object();
    json_object_object_add(v, "uuid", json_object_new_string(d->uuid));
    json_object_object_add(v, "id", json_object_new_string(d->id));
    json_object_object_add(v, "owner", json_object_new_string(d->owner));
    json_object_object_add(v, "name", json_object_new_string(d->name));
    json_object_object_add(v, "store", json_object_new_string(d->store));
    json_object_object_add(v, "keySource", json_object_new_string(d->key_source));
    json_object_object_add(v, "signature", json_object_new_string(d->signature));
    json_object_object_add(v, "registeredAt", json_object_new_string(d->registered_at));
    return v;
}

/* Refuses fields other than the allowed ones, naming the first. */
static const char *unknown_field(json_object *v, const char *const *allowed)
{
    json_object_object_foreach(v, key, val)
    {
        int ok = 0;
        (void)val;
        for (size_t i = 0; allowed[i] != NULL; i++)
            ok |= strcmp(key, allowed[i]) == 0;
        if (!ok)
            return key;
    }
    return NULL;
}

static void register_party(struct gov_store *st, const struct gov_credential *cred, const char *body,
                           size_t len, struct gov_svc_reply *r)
{
    static const char *const allowed[] = {"id", "publicKey", "name", NULL};
    sqlite3 *db = gov_store_db(st);
    json_object *v = NULL;
    const char *id, *key, *name, *bad;
    struct party_row p;
    struct gov_key *k = NULL;
    sqlite3_stmt *s;
    char now[32];
    int rc;

    if (gov_json_parse(body ? body : "", len, "party", &v) != 0)
        return gov_svc_reply_error(r, 400, "BadRequest", "%s", ccr_err_msg(EINVAL));
    id = gov_json_str(v, "id");
    key = gov_json_str(v, "publicKey");
    name = gov_json_str(v, "name");
    if (!json_object_is_type(v, json_type_object) || id == NULL || key == NULL) {
        gov_svc_reply_error(r, 400, "BadRequest",
                            "a party needs \"id\" and \"publicKey\" (\"name\" optional)");
        goto out;
    }
    if ((bad = unknown_field(v, allowed)) != NULL) {
        gov_svc_reply_error(r, 400, "BadRequest", "party: unknown field \"%s\"", bad);
        goto out;
    }
    if (gov_auth_may_register(cred, id) != 0) {
        gov_svc_reply_error(r, 403, "Forbidden", "%s", ccr_err_msg(EACCES));
        goto out;
    }
    if (!gov_party_id_valid(id)) {
        gov_svc_reply_error(
            r, 400, "BadRequest",
            "party id \"%s\" is not a DID or name (letters, digits, '-', '_', '.', ':', '%%')", id);
        goto out;
    }
    if (name != NULL && strlen(name) > 256) {
        gov_svc_reply_error(r, 400, "BadRequest", "party %s: \"name\" has more than 256 characters", id);
        goto out;
    }
    if (strlen(key) > 4096 || gov_key_from_public_b64(key, &k) != 0) {
        gov_svc_reply_error(r, 400, "BadRequest",
                            "party %s: \"publicKey\" is not a base64 Ed25519 or P-256 key", id);
        goto out;
    }
    gov_key_free(k);
    rc = party_get(st, id, &p);
    if (rc == 0) {
        /* First registration wins: a party's key is not replaced through this API. */
        if (strcmp(p.public_key, key) != 0)
            gov_svc_reply_error(r, 409, "Conflict", "party %s is registered already with another key", id);
        else
            gov_svc_reply_json(r, 200, party_json(&p));
        goto out;
    }
    if (rc != ENOENT) {
        gov_svc_reply_error(r, 500, "StorageError", "%s", ccr_err_msg(rc));
        goto out;
    }
    if (sqlite3_prepare_v2(db, "INSERT INTO parties(id, name, public_key, registered_at) VALUES(?,?,?,?)", -1,
                           &s, NULL) != SQLITE_OK) {
        gov_svc_reply_error(r, 500, "StorageError", "%s", ccr_err_msg(db_fail(db, "registering a party")));
        goto out;
    }
    gov_time_now(now);
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, name ? name : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 4, now, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE || party_get(st, id, &p) != 0) {
        gov_svc_reply_error(r, 500, "StorageError", "%s", ccr_err_msg(db_fail(db, "registering a party")));
        goto out;
    }
    gov_svc_reply_json(r, 201, party_json(&p));
out:
    json_object_put(v);
}

static void register_dataset(struct gov_store *st, const struct gov_credential *cred, const char *body,
                             size_t len, struct gov_svc_reply *r)
{
    static const char *const allowed[] = {"uuid",  "id",        "owner",     "name",
                                          "store", "keySource", "signature", NULL};
    sqlite3 *db = gov_store_db(st);
    json_object *v = NULL;
    const char *uuid, *id, *owner, *name, *store, *ksrc, *sig, *bad;
    struct party_row p;
    struct dataset_row d;
    struct gov_key *k = NULL;
    char *bytes = NULL, now[32];
    size_t blen;
    sqlite3_stmt *s;
    int rc;

    if (gov_json_parse(body ? body : "", len, "dataset", &v) != 0)
        return gov_svc_reply_error(r, 400, "BadRequest", "%s", ccr_err_msg(EINVAL));
    uuid = gov_json_str(v, "uuid");
    id = gov_json_str(v, "id");
    owner = gov_json_str(v, "owner");
    name = gov_json_str(v, "name");
    store = gov_json_str(v, "store");
    ksrc = gov_json_str(v, "keySource");
    sig = gov_json_str(v, "signature");
    if (!json_object_is_type(v, json_type_object) || uuid == NULL || id == NULL || owner == NULL ||
        sig == NULL) {
        gov_svc_reply_error(
            r, 400, "BadRequest",
            "a dataset needs \"uuid\", \"id\", \"owner\" and \"signature\" (\"name\", \"store\", "
            "\"keySource\" optional)");
        goto out;
    }
    if ((bad = unknown_field(v, allowed)) != NULL) {
        gov_svc_reply_error(r, 400, "BadRequest", "dataset: unknown field \"%s\"", bad);
        goto out;
    }
    if (gov_auth_may_register(cred, owner) != 0) {
        gov_svc_reply_error(r, 403, "Forbidden", "%s", ccr_err_msg(EACCES));
        goto out;
    }
    if (!gov_uuid_valid(uuid)) {
        gov_svc_reply_error(r, 400, "BadRequest", "dataset: \"uuid\" \"%s\" is not a UUID", uuid);
        goto out;
    }
    if (!gov_dataset_id_valid(id)) {
        gov_svc_reply_error(r, 400, "BadRequest",
                            "dataset %s: \"id\" must be \"sha256:\" and 64 lowercase hex digits", uuid);
        goto out;
    }
    if ((name && strlen(name) > 256) || (store && strlen(store) > 2048) || (ksrc && strlen(ksrc) > 2048) ||
        strlen(sig) > 1024) {
        gov_svc_reply_error(r, 400, "BadRequest", "dataset %s: a field is too long", uuid);
        goto out;
    }
    if ((rc = party_get(st, owner, &p)) == ENOENT) {
        gov_svc_reply_error(r, 403, "OwnerNotRegistered", "dataset %s: owner %s is not a registered party",
                            uuid, owner);
        goto out;
    }
    if (rc != 0) {
        gov_svc_reply_error(r, 500, "StorageError", "%s", ccr_err_msg(rc));
        goto out;
    }
    if ((rc = gov_dataset_record_bytes(uuid, id, owner, name, store, ksrc, &bytes, &blen)) != 0 ||
        (rc = gov_key_from_public_b64(p.public_key, &k)) != 0) {
        gov_svc_reply_error(r, 500, "InternalError", "%s", ccr_err_msg(rc));
        goto out;
    }
    rc = gov_key_verify_b64(k, bytes, blen, sig);
    gov_key_free(k);
    if (rc != 0) {
        gov_svc_reply_error(r, 403, "BadSignature",
                            "dataset %s: the signature does not verify with the registered key of owner %s",
                            uuid, owner);
        goto out;
    }
    if ((rc = dataset_get(st, "uuid", uuid, &d)) == 0) {
        if (strcmp(d.id, id) != 0 || strcmp(d.owner, owner) != 0)
            gov_svc_reply_error(r, 409, "Conflict", "dataset %s is registered already as %s by %s", uuid,
                                d.id, d.owner);
        else
            gov_svc_reply_json(r, 200, dataset_json(&d));
        goto out;
    }
    if (dataset_get(st, "id", id, &d) == 0) {
        gov_svc_reply_error(r, 409, "Conflict", "dataset id %s is registered already as %s", id, d.uuid);
        goto out;
    }
    if (sqlite3_prepare_v2(db, "INSERT INTO datasets(" DATASET_COLS ") VALUES(?,?,?,?,?,?,?,?)", -1, &s,
                           NULL) != SQLITE_OK) {
        gov_svc_reply_error(r, 500, "StorageError", "%s", ccr_err_msg(db_fail(db, "registering a dataset")));
        goto out;
    }
    gov_time_now(now);
    sqlite3_bind_text(s, 1, uuid, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, owner, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 4, name ? name : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 5, store ? store : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 6, ksrc ? ksrc : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 7, sig, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 8, now, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE || dataset_get(st, "uuid", uuid, &d) != 0) {
        gov_svc_reply_error(r, 500, "StorageError", "%s", ccr_err_msg(db_fail(db, "registering a dataset")));
        goto out;
    }
    gov_svc_reply_json(r, 201, dataset_json(&d));
out:
    free(bytes);
    json_object_put(v);
}

static void list_rows(struct gov_store *st, int datasets, const char *owner, struct gov_svc_reply *r)
{
    sqlite3 *db = gov_store_db(st);
    json_object *v = json_object_new_object(), *arr = json_object_new_array();
    sqlite3_stmt *s;
    const char *sql = !datasets ? "SELECT id, name, public_key, registered_at FROM parties ORDER BY id"
                      : owner   ? "SELECT " DATASET_COLS " FROM datasets WHERE owner = ? ORDER BY uuid"
                                : "SELECT " DATASET_COLS " FROM datasets ORDER BY uuid";
    int rc;

    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        json_object_put(v);
        json_object_put(arr);
        return gov_svc_reply_error(r, 500, "StorageError", "%s", ccr_err_msg(db_fail(db, "listing")));
    }
    if (datasets && owner)
        sqlite3_bind_text(s, 1, owner, -1, SQLITE_TRANSIENT);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (datasets) {
            struct dataset_row d;
            dataset_cols(s, &d);
            json_object_array_add(arr, dataset_json(&d));
        } else {
            struct party_row p;
            col(s, 0, p.id, sizeof p.id);
            col(s, 1, p.name, sizeof p.name);
            col(s, 2, p.public_key, sizeof p.public_key);
            col(s, 3, p.registered_at, sizeof p.registered_at);
            json_object_array_add(arr, party_json(&p));
        }
    }
    sqlite3_finalize(s);
    json_object_object_add(v, datasets ? "datasets" : "parties", arr);
    if (rc != SQLITE_DONE) {
        json_object_put(v);
        return gov_svc_reply_error(r, 500, "StorageError", "%s", ccr_err_msg(db_fail(db, "listing")));
    }
    gov_svc_reply_json(r, 200, v);
}

static void show_one(struct gov_store *st, int datasets, const char *key, struct gov_svc_reply *r)
{
    struct party_row p;
    struct dataset_row d;
    int rc = datasets ? dataset_get(st, "uuid", key, &d) : party_get(st, key, &p);
    if (rc == ENOENT)
        return gov_svc_reply_error(r, 404, datasets ? "DatasetNotFound" : "PartyNotFound",
                                   "no %s '%s' is registered", datasets ? "dataset" : "party", key);
    if (rc != 0)
        return gov_svc_reply_error(r, 500, "StorageError", "%s", ccr_err_msg(rc));
    gov_svc_reply_json(r, 200, datasets ? dataset_json(&d) : party_json(&p));
}

int gov_registry_route(struct gov_store *st, const struct gov_credential *cred, struct MHD_Connection *conn,
                       const char *url, const char *method, const char *body, size_t len,
                       struct gov_svc_reply *r)
{
    int datasets;
    const char *rest;

    if (strncmp(url, "/parties", 8) == 0 && (url[8] == '\0' || url[8] == '/')) {
        datasets = 0;
        rest = url + 8;
    } else if (strncmp(url, "/datasets", 9) == 0 && (url[9] == '\0' || url[9] == '/')) {
        datasets = 1;
        rest = url + 9;
    } else {
        return 0;
    }
    if (rest[0] == '\0') {
        if (strcmp(method, "POST") == 0)
            datasets ? register_dataset(st, cred, body, len, r) : register_party(st, cred, body, len, r);
        else if (strcmp(method, "GET") == 0)
            list_rows(st, datasets, MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "owner"), r);
        else
            gov_svc_reply_error(r, 405, "MethodNotAllowed", "%s takes POST or GET", url);
        return 1;
    }
    if (rest[1] == '\0' || strchr(rest + 1, '/') != NULL || strcmp(method, "GET") != 0) {
        gov_svc_reply_error(r, 404, "NotFound", "no such endpoint: %s %s", method, url);
        return 1;
    }
    show_one(st, datasets, rest + 1, r);
    return 1;
}

int gov_registry_bind(struct gov_store *st, struct gov_contract *c)
{
    struct party_row p;
    struct dataset_row d;
    int rc;

    if (c->format != GOV_CONTRACT_DEPA)
        return 0;
    for (size_t i = 0; i < c->nparties; i++) {
        if (c->parties[i].public_key != NULL)
            continue;
        rc = party_get(st, c->parties[i].id, &p);
        if (rc == 0)
            rc = gov_contract_bind_key(c, c->parties[i].id, p.public_key);
        if (rc != 0 && rc != ENOENT)
            return rc;
    }
    for (size_t i = 0; i < c->ndatasets; i++) {
        rc = dataset_get(st, "uuid", c->datasets[i].uuid, &d);
        /* Only the owner the contract names can have pinned it. */
        if (rc == 0 && strcmp(d.owner, c->datasets[i].provider) == 0)
            rc = gov_contract_bind_dataset(c, c->datasets[i].uuid, d.id);
        if (rc != 0 && rc != ENOENT)
            return rc;
    }
    return 0;
}

int gov_registry_check(struct gov_store *st, const struct gov_contract *c)
{
    struct party_row p;
    struct dataset_row d;
    int rc;

    for (size_t i = 0; i < c->nparties; i++) {
        const struct gov_contract_party *cp = &c->parties[i];
        if (cp->public_key == NULL)
            continue;
        if ((rc = party_get(st, cp->id, &p)) == ENOENT)
            continue;
        if (rc != 0)
            return rc;
        if (strcmp(p.public_key, cp->public_key) != 0)
            return ccr_err_set(EACCES,
                               "contract %s: parties[%zu]: party %s is registered with another public key",
                               c->id, i, cp->id);
    }
    for (size_t i = 0; i < c->ndatasets; i++) {
        const struct gov_contract_dataset *cd = &c->datasets[i];
        if (c->format == GOV_CONTRACT_DEPA)
            rc = dataset_get(st, "uuid", cd->uuid, &d);
        else
            rc = dataset_get(st, "id", cd->id, &d);
        if (rc == ENOENT)
            continue;
        if (rc != 0)
            return rc;
        if (strcmp(d.owner, cd->provider) != 0)
            return ccr_err_set(
                EACCES,
                "contract %s: datasets[%zu]: dataset %s is registered by owner %s; the contract "
                "names %s",
                c->id, i, c->format == GOV_CONTRACT_DEPA ? cd->uuid : cd->id, d.owner, cd->provider);
    }
    return 0;
}

json_object *gov_registry_view(struct gov_store *st, const struct gov_contract *c)
{
    json_object *v = json_object_new_object(), *parties = json_object_new_object(),
                *datasets = json_object_new_object();
    struct party_row p;
    struct dataset_row d;

    for (size_t i = 0; i < c->nparties; i++)
        if (party_get(st, c->parties[i].id, &p) == 0 &&
            (c->parties[i].public_key == NULL || strcmp(c->parties[i].public_key, p.public_key) == 0))
            json_object_object_add(parties, p.id, party_json(&p));
    for (size_t i = 0; i < c->ndatasets; i++)
        if (c->format == GOV_CONTRACT_DEPA && c->datasets[i].id[0] != '\0' &&
            dataset_get(st, "uuid", c->datasets[i].uuid, &d) == 0)
            json_object_object_add(datasets, c->datasets[i].uuid, dataset_json(&d));
    json_object_object_add(v, "parties", parties);
    json_object_object_add(v, "datasets", datasets);
    return v;
}
