/* Audit verification and reports (see audit.h). */
#include "governance/audit.h"
#include "common/array.h"
#include "common/err.h"
#include "common/hash.h"
#include "governance/canon.h"
#include "governance/event.h"
#include "governance/ranges.h"
#include "governance/sign.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- a string-keyed index of array positions ----------------------------------------- */

/* A position is stored as position + 1, so that NULL means absent. */
static int index_get(const struct ccr_hash *h, const char *key, size_t *pos)
{
    void *v = ccr_hash_get(h, key);
    if (v == NULL)
        return 0;
    *pos = (size_t)(uintptr_t)v - 1;
    return 1;
}

static int index_put(struct ccr_hash *h, const char *key, size_t pos)
{
    return ccr_hash_put(h, key, (void *)(uintptr_t)(pos + 1), NULL);
}

/* ---- state --------------------------------------------------------------------------- */

struct audit_chain {
    char id[GOV_CHAIN_ID_HEX + 1];
    uint64_t next_seq;
    char head[GOV_HASH_HEX + 1];
    uint64_t since_cp;
};

struct report_row {
    char *name; /* path or process name */
    uint64_t opens, reads, bytes, denials, integrity;
    uint64_t size; /* by file: the size the open events report, when they do */
    int have_size;
    struct ccr_array ranges; /* struct gov_range */
    struct ccr_array others; /* char *: processes (by file) or paths (by process) */
    char first[32], last[32];
};

struct report_table {
    struct ccr_hash index; /* name -> position in rows */
    struct ccr_array rows; /* struct report_row */
};

struct open_info {
    char *process, *path;
};

struct gov_audit {
    const struct gov_key *pin;
    int failed;
    gov_audit_attest_fn attest_fn; /* set: attested verification */
    void *attest_arg;
    struct ccr_hash attest_ok; /* "key|evidence" already accepted -> 1 */
    size_t attested_mounts;
    struct ccr_array chains; /* struct audit_chain */
    struct ccr_hash chain_index;
    struct gov_audit_summary sum;
    struct ccr_array keys;       /* char *: "alg source key" of each checkpoint key seen */
    struct ccr_hash opens;       /* "chain-seq" of an open event -> position in open_infos */
    struct ccr_array open_infos; /* struct open_info */
    struct report_table by_file, by_proc;
    struct report_table by_pair; /* "process\x1fpath": ranges per process and file */
};

int gov_audit_new(const struct gov_key *pin, struct gov_audit **out)
{
    struct gov_audit *a = calloc(1, sizeof *a);
    if (a == NULL)
        return ENOMEM;
    a->pin = pin;
    ccr_array_init(&a->chains, sizeof(struct audit_chain));
    ccr_array_init(&a->keys, sizeof(char *));
    ccr_array_init(&a->open_infos, sizeof(struct open_info));
    ccr_array_init(&a->by_file.rows, sizeof(struct report_row));
    ccr_array_init(&a->by_proc.rows, sizeof(struct report_row));
    ccr_array_init(&a->by_pair.rows, sizeof(struct report_row));
    *out = a;
    return 0;
}

static void strings_free(struct ccr_array *a)
{
    for (size_t i = 0; i < a->len; i++)
        free(CCR_ARRAY_AT(a, char *, i));
    ccr_array_free(a);
}

static void table_free(struct report_table *t)
{
    for (size_t i = 0; i < t->rows.len; i++) {
        struct report_row *r = &CCR_ARRAY_AT(&t->rows, struct report_row, i);
        free(r->name);
        ccr_array_free(&r->ranges);
        strings_free(&r->others);
    }
    ccr_array_free(&t->rows);
    ccr_hash_free(&t->index, NULL);
}

void gov_audit_free(struct gov_audit *a)
{
    if (a == NULL)
        return;
    ccr_array_free(&a->chains);
    ccr_hash_free(&a->chain_index, NULL);
    strings_free(&a->keys);
    ccr_hash_free(&a->attest_ok, NULL);
    ccr_hash_free(&a->opens, NULL);
    for (size_t i = 0; i < a->open_infos.len; i++) {
        free(CCR_ARRAY_AT(&a->open_infos, struct open_info, i).process);
        free(CCR_ARRAY_AT(&a->open_infos, struct open_info, i).path);
    }
    ccr_array_free(&a->open_infos);
    table_free(&a->by_file);
    table_free(&a->by_proc);
    table_free(&a->by_pair);
    free(a);
}

/* ---- report accumulation ---------------------------------------------------------------- */

/* The row named name, made when new; valid until the table's next new row. */
static struct report_row *table_row(struct report_table *t, const char *name)
{
    struct report_row *r;
    size_t idx;

    if (index_get(&t->index, name, &idx))
        return &CCR_ARRAY_AT(&t->rows, struct report_row, idx);
    if (index_put(&t->index, name, t->rows.len) != 0 || (r = ccr_array_push(&t->rows)) == NULL) {
        ccr_hash_remove(&t->index, name);
        return NULL;
    }
    r->name = strdup(name);
    ccr_array_init(&r->ranges, sizeof(struct gov_range));
    ccr_array_init(&r->others, sizeof(char *));
    return r;
}

static void row_touch(struct report_row *r, const char *time)
{
    if (time == NULL)
        return;
    if (r->first[0] == '\0' || strcmp(time, r->first) < 0)
        snprintf(r->first, sizeof r->first, "%s", time);
    if (strcmp(time, r->last) > 0)
        snprintf(r->last, sizeof r->last, "%s", time);
}

/* Adds a copy of s to a list of strings unless it holds it already. 0 or ENOMEM. */
static int strings_add_once(struct ccr_array *a, const char *s)
{
    char *copy;
    for (size_t i = 0; i < a->len; i++)
        if (strcmp(CCR_ARRAY_AT(a, char *, i), s) == 0)
            return 0;
    if ((copy = strdup(s)) == NULL || ccr_array_append(a, &copy) != 0) {
        free(copy);
        return ENOMEM;
    }
    return 0;
}

static void row_other(struct report_row *r, const char *name)
{
    if (name != NULL && name[0] != '\0')
        strings_add_once(&r->others, name);
}

static const struct open_info *open_lookup(struct gov_audit *a, const char *chain, long long open_seq)
{
    char key[GOV_CHAIN_ID_HEX + 24];
    size_t idx;
    snprintf(key, sizeof key, "%s-%lld", chain, open_seq);
    if (index_get(&a->opens, key, &idx))
        return &CCR_ARRAY_AT(&a->open_infos, struct open_info, idx);
    return NULL;
}

static void add_ranges(struct report_row *fr, struct report_row *xr, json_object *ev)
{
    json_object *ranges;
    if (!json_object_object_get_ex(ev, "ranges", &ranges) || !json_object_is_type(ranges, json_type_array))
        return;
    for (size_t i = 0; i < json_object_array_length(ranges); i++) {
        json_object *r = json_object_array_get_idx(ranges, i);
        if (json_object_is_type(r, json_type_array) && json_object_array_length(r) == 2) {
            int64_t off = json_object_get_int64(json_object_array_get_idx(r, 0));
            int64_t len = json_object_get_int64(json_object_array_get_idx(r, 1));
            if (off >= 0 && len > 0) {
                gov_ranges_add(&fr->ranges, (uint64_t)off, (uint64_t)len);
                gov_ranges_add(&xr->ranges, (uint64_t)off, (uint64_t)len);
            }
        }
    }
}

/* The rows of path, process and the pair; 0 or ENOMEM. */
static int rows_for(struct gov_audit *a, const char *path, const char *proc, struct report_row **fr,
                    struct report_row **pr, struct report_row **xr)
{
    const char *pname = proc != NULL && proc[0] ? proc : "(unknown)";
    size_t klen = strlen(pname) + strlen(path) + 2;
    char *key = malloc(klen);
    if (key == NULL)
        return ENOMEM;
    snprintf(key, klen, "%s\x1f%s", pname, path);
    *fr = table_row(&a->by_file, path);
    *pr = table_row(&a->by_proc, pname);
    *xr = table_row(&a->by_pair, key);
    free(key);
    return *fr == NULL || *pr == NULL || *xr == NULL ? ENOMEM : 0;
}

/* One entry of a compact "access" event: an open, its reads and its release. */
static void account_access(struct gov_audit *a, json_object *e, const char *event_time)
{
    const char *path = gov_json_str(e, "path"), *proc = gov_json_str(e, "process");
    const char *opened = gov_json_str(e, "opened");
    struct report_row *fr, *pr, *xr;
    long long v;

    if (path == NULL || rows_for(a, path, proc, &fr, &pr, &xr) != 0)
        return;
    row_touch(fr, opened != NULL ? opened : event_time);
    row_touch(pr, opened != NULL ? opened : event_time);
    row_other(fr, proc);
    row_other(pr, path);
    fr->opens++;
    pr->opens++;
    if (gov_json_int(e, "size", &v) == 0 && v >= 0) {
        fr->size = (uint64_t)v;
        fr->have_size = 1;
    }
    if (gov_json_int(e, "bytes", &v) == 0 && v > 0) {
        fr->bytes += (uint64_t)v;
        pr->bytes += (uint64_t)v;
    }
    if (gov_json_int(e, "reads", &v) == 0 && v > 0) {
        fr->reads += (uint64_t)v;
        pr->reads += (uint64_t)v;
    }
    add_ranges(fr, xr, e);
}

static void account(struct gov_audit *a, json_object *ev)
{
    const char *type = gov_json_str(ev, "type"), *path = gov_json_str(ev, "path");
    const char *time = gov_json_str(ev, "time"), *chain = gov_json_str(ev, "chain");
    const char *proc = NULL;
    struct report_row *fr, *pr, *xr;
    long long v, open_seq = -1;

    if (type != NULL && strcmp(type, "access") == 0) {
        json_object *files;
        if (json_object_object_get_ex(ev, "files", &files) && json_object_is_type(files, json_type_array))
            for (size_t i = 0; i < json_object_array_length(files); i++)
                account_access(a, json_object_array_get_idx(files, i), time);
        return;
    }
    if (type == NULL || path == NULL || chain == NULL)
        return;
    if (strcmp(type, "open") == 0) {
        long long seq;
        proc = gov_json_str(ev, "process");
        if (gov_json_int(ev, "seq", &seq) == 0) {
            char key[GOV_CHAIN_ID_HEX + 24];
            size_t idx;
            struct open_info *oi;
            snprintf(key, sizeof key, "%s-%lld", chain, seq);
            if (!index_get(&a->opens, key, &idx)) {
                if (index_put(&a->opens, key, a->open_infos.len) != 0)
                    return;
                if ((oi = ccr_array_push(&a->open_infos)) == NULL) {
                    ccr_hash_remove(&a->opens, key);
                    return;
                }
                oi->process = strdup(proc ? proc : "");
                oi->path = strdup(path);
            }
        }
    } else if (gov_json_int(ev, "open", &open_seq) == 0) {
        const struct open_info *oi = open_lookup(a, chain, open_seq);
        if (oi != NULL)
            proc = oi->process;
    }
    if (strcmp(type, "open") != 0 && strcmp(type, "read") != 0 && strcmp(type, "release") != 0 &&
        strcmp(type, "denial") != 0 && strcmp(type, "integrity") != 0)
        return;
    if (path[0] == '\0' && strcmp(type, "denial") == 0)
        return;
    if (rows_for(a, path, proc, &fr, &pr, &xr) != 0)
        return;
    row_touch(fr, time);
    row_touch(pr, time);
    row_other(fr, proc);
    row_other(pr, path);
    if (strcmp(type, "open") == 0) {
        fr->opens++;
        pr->opens++;
        if (gov_json_int(ev, "size", &v) == 0 && v >= 0) {
            fr->size = (uint64_t)v; /* files are immutable: every open reports the same */
            fr->have_size = 1;
        }
    } else if (strcmp(type, "read") == 0) {
        if (gov_json_int(ev, "bytes", &v) == 0 && v > 0) {
            fr->bytes += (uint64_t)v;
            pr->bytes += (uint64_t)v;
        }
        if (gov_json_int(ev, "reads", &v) == 0 && v > 0) {
            fr->reads += (uint64_t)v;
            pr->reads += (uint64_t)v;
        }
        add_ranges(fr, xr, ev);
    } else if (strcmp(type, "denial") == 0) {
        long long c = 1;
        gov_json_int(ev, "count", &c);
        fr->denials += (uint64_t)c;
        pr->denials += (uint64_t)c;
    } else if (strcmp(type, "integrity") == 0) {
        fr->integrity++;
        pr->integrity++;
    }
}

/* ---- verification ---------------------------------------------------------------------- */

static const char *const known_types[] = {"mount",      "consent", "key_release", "open",       "read",
                                          "release",    "denial",  "integrity",   "revocation", "unmount",
                                          "checkpoint", "upload",  "access",      NULL};

static int is_hex(const char *s, size_t len)
{
    if (strlen(s) != len)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static int access_well_formed(json_object *ev)
{
    json_object *files;
    if (!json_object_object_get_ex(ev, "files", &files) || !json_object_is_type(files, json_type_array) ||
        json_object_array_length(files) == 0)
        return 0;
    for (size_t i = 0; i < json_object_array_length(files); i++) {
        json_object *e = json_object_array_get_idx(files, i);
        if (!json_object_is_type(e, json_type_object) || gov_json_str(e, "path") == NULL)
            return 0;
    }
    return 1;
}

static int bad(struct gov_audit *a, const char *where, const char *id, const char *fmt, const char *detail)
{
    a->failed = 1;
    return ccr_err_set(EBADMSG, "%s (event %s): %s%s", where, id ? id : "?", fmt, detail ? detail : "");
}

/* In attested verification: the evidence att binds key_b64 (checked once per key and
 * evidence). */
static int check_attestation(struct gov_audit *a, json_object *att, const char *key_b64, const char *where,
                             const char *id)
{
    const char *evidence = gov_json_str(att, "evidence");
    char *cache_key;
    size_t n;
    int rc;

    if (!json_object_is_type(att, json_type_object) || evidence == NULL || key_b64 == NULL)
        return bad(a, where, id, "no attestation evidence for its signing key", NULL);
    n = strlen(key_b64) + strlen(evidence) + 2;
    if ((cache_key = malloc(n)) == NULL)
        return ENOMEM;
    snprintf(cache_key, n, "%s|%s", key_b64, evidence);
    if (ccr_hash_get(&a->attest_ok, cache_key) != NULL) {
        free(cache_key);
        return 0;
    }
    if ((rc = a->attest_fn(a->attest_arg, att, key_b64)) != 0) {
        char msg[CCR_ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", ccr_err_msg(rc));
        free(cache_key);
        return bad(a, where, id, "attestation refused: ", msg);
    }
    rc = ccr_hash_put(&a->attest_ok, cache_key, (void *)1, NULL);
    free(cache_key);
    return rc;
}

static int check_checkpoint(struct gov_audit *a, struct audit_chain *c, json_object *ev, const char *where,
                            const char *id)
{
    const char *key_b64 = gov_json_str(ev, "key"), *sig = gov_json_str(ev, "sig");
    const char *src = gov_json_str(ev, "key_source"), *alg = gov_json_str(ev, "alg");
    struct gov_key *key = NULL;
    char *bytes, *pin_b64 = NULL, entry[4096];
    size_t len;
    long long count;
    int rc;

    if (key_b64 == NULL || sig == NULL || src == NULL || alg == NULL ||
        gov_json_int(ev, "count", &count) != 0)
        return bad(a, where, id, "checkpoint lacks key, alg, key_source, sig or count", NULL);
    if ((uint64_t)count != c->since_cp) {
        char d[96];
        snprintf(d, sizeof d, " (says %lld, the chain has %" PRIu64 ")", count, c->since_cp);
        return bad(a, where, id, "checkpoint count does not match the events since the previous one", d);
    }
    if (a->attest_fn != NULL && strcmp(src, "attested") != 0)
        return bad(a, where, id,
                   "checkpoint is signed with a local key, not one bound to attestation evidence", NULL);
    if (gov_key_from_public_b64_any(key_b64, &key) != 0)
        return bad(a, where, id, "checkpoint key is not a valid public key", NULL);
    if (strcmp(gov_key_alg(key), alg) != 0) {
        gov_key_free(key);
        return bad(a, where, id, "checkpoint alg does not match its key", NULL);
    }
    if (a->pin != NULL) {
        if (gov_key_public_b64(a->pin, &pin_b64) != 0 || strcmp(pin_b64, key_b64) != 0) {
            free(pin_b64);
            gov_key_free(key);
            return bad(a, where, id, "checkpoint is signed with a key other than the expected one", NULL);
        }
        free(pin_b64);
    }
    if ((rc = gov_checkpoint_signed_bytes(ev, &bytes, &len)) != 0) {
        gov_key_free(key);
        return bad(a, where, id, "checkpoint cannot be put in canonical form", NULL);
    }
    rc = gov_key_verify_b64(key, bytes, len, sig);
    free(bytes);
    gov_key_free(key);
    if (rc != 0)
        return bad(a, where, id, "checkpoint signature does not verify", NULL);
    if (a->attest_fn != NULL &&
        (rc = check_attestation(a, json_object_object_get(ev, "attestation"), key_b64, where, id)) != 0)
        return rc;
    snprintf(entry, sizeof entry, "%s %s %s", alg, src, key_b64);
    return strings_add_once(&a->keys, entry);
}

int gov_audit_add(struct gov_audit *a, const char *line, size_t len, const char *where)
{
    json_object *ev = NULL;
    const char *id, *chain, *type, *prev, *hash, *time;
    char calc[GOV_HASH_HEX + 1], expect_id[GOV_CHAIN_ID_HEX + 24], detail[160];
    char *canon = NULL;
    long long seq, v;
    int64_t ms;
    size_t idx, clen;
    struct audit_chain *c;
    int known = 0, rc = 0;

    if ((rc = gov_json_parse(line, len, where, &ev)) != 0) {
        a->failed = 1;
        return ccr_err_set(EBADMSG, "%s", ccr_err_msg(rc)); /* the parser's words, as a bad log */
    }
    id = gov_json_str(ev, "id");
    if (!json_object_is_type(ev, json_type_object)) {
        rc = bad(a, where, NULL, "not a JSON object", NULL);
        goto out;
    }
    account(a, ev);
    if (a->failed) {
        rc = EBADMSG;
        goto out;
    }
    chain = gov_json_str(ev, "chain");
    type = gov_json_str(ev, "type");
    prev = gov_json_str(ev, "prev");
    hash = gov_json_str(ev, "hash");
    time = gov_json_str(ev, "time");
    if (id == NULL || chain == NULL || type == NULL || prev == NULL || hash == NULL || time == NULL ||
        gov_json_int(ev, "seq", &seq) != 0 || gov_json_int(ev, "v", &v) != 0) {
        rc = bad(a, where, id, "lacks one of v, id, chain, seq, time, type, prev, hash", NULL);
        goto out;
    }
    if (v != GOV_EVENT_VERSION || seq < 0 || !is_hex(chain, GOV_CHAIN_ID_HEX) ||
        !is_hex(prev, GOV_HASH_HEX) || !is_hex(hash, GOV_HASH_HEX) || gov_time_parse_ms(time, &ms) != 0) {
        ccr_err_clear();
        rc = bad(a, where, id, "a common field is malformed (v, seq, chain, prev, hash or time)", NULL);
        goto out;
    }
    snprintf(expect_id, sizeof expect_id, "%s-%lld", chain, seq);
    if (strcmp(id, expect_id) != 0) {
        rc = bad(a, where, id, "id does not match chain and seq", NULL);
        goto out;
    }
    for (size_t i = 0; known_types[i] != NULL; i++)
        known |= strcmp(type, known_types[i]) == 0;
    if (!known) {
        rc = bad(a, where, id, "unknown event type ", type);
        goto out;
    }
    if (strcmp(type, "access") == 0 && !access_well_formed(ev)) {
        rc = bad(a, where, id, "access event without a list of files, each with a path", NULL);
        goto out;
    }
    if (gov_event_hash(ev, calc) != 0 || strcmp(calc, hash) != 0) {
        rc = bad(a, where, id, "hash does not match the event's content (edited)", NULL);
        goto out;
    }
    if (gov_canon_json(ev, NULL, &canon, &clen) != 0 || clen != len || memcmp(canon, line, len) != 0) {
        rc = bad(a, where, id, "not in canonical form (edited)", NULL);
        goto out;
    }
    if (index_get(&a->chain_index, chain, &idx)) {
        c = &CCR_ARRAY_AT(&a->chains, struct audit_chain, idx);
    } else {
        if (index_put(&a->chain_index, chain, a->chains.len) != 0) {
            rc = ENOMEM;
            goto out;
        }
        if ((c = ccr_array_push(&a->chains)) == NULL) {
            ccr_hash_remove(&a->chain_index, chain);
            rc = ENOMEM;
            goto out;
        }
        memcpy(c->id, chain, GOV_CHAIN_ID_HEX + 1);
        memset(c->head, '0', GOV_HASH_HEX);
    }
    if ((uint64_t)seq < c->next_seq) {
        snprintf(detail, sizeof detail, " (seq %lld again, after %" PRIu64 ")", seq, c->next_seq - 1);
        rc = bad(a, where, id, "duplicate or out of order", detail);
        goto out;
    }
    if ((uint64_t)seq > c->next_seq) {
        snprintf(detail, sizeof detail, " (expected seq %" PRIu64 ", found %lld: %lld missing)", c->next_seq,
                 seq, seq - (long long)c->next_seq);
        rc = bad(a, where, id, "gap in the sequence", detail);
        goto out;
    }
    if (strcmp(prev, c->head) != 0) {
        rc = bad(a, where, id, "prev does not match the hash of the event before it (inserted or replaced)",
                 NULL);
        goto out;
    }
    if (a->attest_fn != NULL && strcmp(type, "mount") == 0) {
        if ((rc = check_attestation(a, json_object_object_get(ev, "attestation"),
                                    gov_json_str(ev, "signing_key"), where, id)) != 0)
            goto out;
        a->attested_mounts++;
    }
    if (strcmp(type, "checkpoint") == 0) {
        if ((rc = check_checkpoint(a, c, ev, where, id)) != 0)
            goto out;
        c->since_cp = 0;
        a->sum.checkpoints++;
    } else {
        c->since_cp++;
    }
    memcpy(c->head, hash, GOV_HASH_HEX + 1);
    c->next_seq++;
    a->sum.events++;
out:
    free(canon);
    json_object_put(ev);
    return rc;
}

void gov_audit_require_attested(struct gov_audit *a, gov_audit_attest_fn fn, void *arg)
{
    a->attest_fn = fn;
    a->attest_arg = arg;
}

size_t gov_audit_attested_mounts(const struct gov_audit *a)
{
    return a->attested_mounts;
}

void gov_audit_summary(const struct gov_audit *a, struct gov_audit_summary *s)
{
    *s = a->sum;
    s->chains = a->chains.len;
    s->keys = a->keys.len;
    s->unsigned_tail = 0;
    for (size_t i = 0; i < a->chains.len; i++)
        s->unsigned_tail += CCR_ARRAY_AT(&a->chains, struct audit_chain, i).since_cp;
}

void gov_audit_print_keys(const struct gov_audit *a, FILE *out)
{
    for (size_t i = 0; i < a->keys.len; i++)
        fprintf(out, "  %s\n", CCR_ARRAY_AT(&a->keys, char *, i));
}

/* ---- report output ----------------------------------------------------------------------- */

static uint64_t covered(const struct report_row *r, uint64_t *extent)
{
    uint64_t c = 0;
    *extent = 0;
    for (size_t i = 0; i < r->ranges.len; i++) {
        const struct gov_range *g = &CCR_ARRAY_AT(&r->ranges, struct gov_range, i);
        c += g->len;
        if (g->off + g->len > *extent)
            *extent = g->off + g->len;
    }
    return c;
}

static int row_cmp(const void *x, const void *y)
{
    return strcmp(((const struct report_row *)x)->name, ((const struct report_row *)y)->name);
}

static void csv_field(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static void join_others(const struct report_row *r, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < r->others.len && used + 1 < len; i++) {
        int n = snprintf(buf + used, len - used, "%s%s", i ? " " : "", CCR_ARRAY_AT(&r->others, char *, i));
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* A process's coverage: the sum over the files it read of the bytes it covered in each; its
 * "size" is the sum of those files' sizes when all are known; extent likewise summed. */
static uint64_t process_coverage(struct gov_audit *a, struct report_row *pr, uint64_t *extent)
{
    size_t plen = strlen(pr->name);
    uint64_t cov = 0, size = 0;
    int all_sizes = 1;

    *extent = 0;
    for (size_t i = 0; i < a->by_pair.rows.len; i++) {
        const struct report_row *x = &CCR_ARRAY_AT(&a->by_pair.rows, struct report_row, i);
        const char *path;
        size_t idx;
        uint64_t ext;
        if (strncmp(x->name, pr->name, plen) != 0 || x->name[plen] != '\x1f')
            continue;
        path = x->name + plen + 1;
        cov += covered(x, &ext);
        *extent += ext;
        if (index_get(&a->by_file.index, path, &idx) &&
            CCR_ARRAY_AT(&a->by_file.rows, struct report_row, idx).have_size)
            size += CCR_ARRAY_AT(&a->by_file.rows, struct report_row, idx).size;
        else
            all_sizes = 0;
    }
    pr->have_size = all_sizes && size > 0;
    pr->size = pr->have_size ? size : 0;
    return cov;
}

int gov_audit_report(const struct gov_audit *a, enum gov_report_format fmt, enum gov_report_by by, FILE *out)
{
    const struct report_table *t = by == GOV_REPORT_BY_FILE ? &a->by_file : &a->by_proc;
    struct report_row *rows = NULL;
    const char *what = by == GOV_REPORT_BY_FILE ? "path" : "process";
    const char *others = by == GOV_REPORT_BY_FILE ? "processes" : "paths";
    json_object *arr = NULL;
    char list[1024];

    if (t->rows.len > 0) {
        rows = malloc(t->rows.len * sizeof *rows);
        if (rows == NULL)
            return ENOMEM;
        memcpy(rows, t->rows.items, t->rows.len * sizeof *rows);
        qsort(rows, t->rows.len, sizeof *rows, row_cmp);
    }
    if (fmt == GOV_REPORT_TABLE)
        fprintf(out, "%-32s %6s %8s %14s %14s %14s %8s %6s %6s  %-24s %-24s %s\n", what, "opens", "reads",
                "bytes read", "covered", "size", "share", "denied", "integ", "first access", "last access",
                others);
    else if (fmt == GOV_REPORT_CSV)
        fprintf(
            out,
            "%s,opens,reads,bytes_read,covered_bytes,size,extent,share,share_of,denials,integrity_failures,"
            "first_access,last_access,%s\n",
            what, others);
    else
        arr = json_object_new_array();
    for (size_t i = 0; i < t->rows.len; i++) {
        struct report_row *r = &rows[i];
        uint64_t extent, cov;
        if (by == GOV_REPORT_BY_FILE)
            cov = covered(r, &extent);
        else
            cov = process_coverage((struct gov_audit *)a, r, &extent);
        /* The share of the file(s) when the size is known, else of the extent read. */
        int of_size = r->have_size && r->size > 0;
        uint64_t whole = of_size ? r->size : extent;
        double share = whole ? 100.0 * (double)(cov < whole ? cov : whole) / (double)whole : 0.0;
        char size_text[24] = "-";
        if (r->have_size)
            snprintf(size_text, sizeof size_text, "%" PRIu64, r->size);
        join_others(r, list, sizeof list);
        if (fmt == GOV_REPORT_TABLE) {
            fprintf(out,
                    "%-32s %6" PRIu64 " %8" PRIu64 " %14" PRIu64 " %14" PRIu64 " %14s %6.1f%%%s %6" PRIu64
                    " %6" PRIu64 "  %-24s %-24s %s\n",
                    r->name, r->opens, r->reads, r->bytes, cov, size_text, share,
                    of_size || !extent ? " " : "*", r->denials, r->integrity, r->first[0] ? r->first : "-",
                    r->last[0] ? r->last : "-", list);
        } else if (fmt == GOV_REPORT_CSV) {
            csv_field(out, r->name);
            fprintf(out,
                    ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%s,%" PRIu64 ",%.4f,%s,%" PRIu64
                    ",%" PRIu64 ",%s,%s,",
                    r->opens, r->reads, r->bytes, cov, r->have_size ? size_text : "", extent, share / 100.0,
                    of_size ? "size" : "extent", r->denials, r->integrity, r->first, r->last);
            csv_field(out, list);
            fputc('\n', out);
        } else {
            json_object *o = json_object_new_object(), *ol = json_object_new_array();
            json_object_object_add(o, what, json_object_new_string(r->name));
            json_object_object_add(o, "opens", json_object_new_int64((int64_t)r->opens));
            json_object_object_add(o, "reads", json_object_new_int64((int64_t)r->reads));
            json_object_object_add(o, "bytes_read", json_object_new_int64((int64_t)r->bytes));
            json_object_object_add(o, "covered_bytes", json_object_new_int64((int64_t)cov));
            json_object_object_add(o, "size", r->have_size ? json_object_new_int64((int64_t)r->size) : NULL);
            json_object_object_add(o, "extent", json_object_new_int64((int64_t)extent));
            json_object_object_add(o, "share", json_object_new_double(share / 100.0));
            json_object_object_add(o, "share_of", json_object_new_string(of_size ? "size" : "extent"));
            json_object_object_add(o, "denials", json_object_new_int64((int64_t)r->denials));
            json_object_object_add(o, "integrity_failures", json_object_new_int64((int64_t)r->integrity));
            json_object_object_add(o, "first_access", json_object_new_string(r->first));
            json_object_object_add(o, "last_access", json_object_new_string(r->last));
            for (size_t j = 0; j < r->others.len; j++)
                json_object_array_add(ol, json_object_new_string(CCR_ARRAY_AT(&r->others, char *, j)));
            json_object_object_add(o, others, ol);
            json_object_array_add(arr, o);
        }
    }
    if (arr != NULL) {
        fprintf(
            out, "%s\n",
            json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(arr);
    }
    free(rows);
    return 0;
}
