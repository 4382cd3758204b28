/* Recording: sealing hash-chained events into the spool, signed checkpoints, the coalesced
 * read records of open files, and the records the mount code asks for. */
#include "common/err.h"
#include "common/log.h"
#include "governance/canon.h"
#include "governance/gov_internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Seals ev and appends it (chain_lock held); on failure the chain is as before. */
static int seal_and_spool(struct gov *g, json_object *ev, int sign, int reserve)
{
    char *line = NULL;
    size_t len = 0;
    struct gov_chain saved = g->chain;
    int rc;

    if (g->contract != NULL)
        json_object_object_add(ev, "contract", json_object_new_string(g->contract));
    rc = sign ? gov_event_seal_signed(&g->chain, ev, g->key, &line, &len)
              : gov_event_seal(&g->chain, ev, &line, &len);
    if (rc == 0)
        rc = gov_spool_append(g->spool, saved.next_seq, line, len, reserve);
    if (rc != 0) {
        g->chain = saved; /* the event does not exist: keep the chain unbroken */
        if (rc != ENOSPC)
            g->write_failed = 1;
    }
    free(line);
    return rc;
}

/* The attestation as recorded: the evidence object the mount code made (attest_key.h), so each
 * checkpoint proves its key on its own; any other text as it is. */
static json_object *attestation_value(const char *text)
{
    json_object *v = json_tokener_parse(text);
    if (v != NULL && json_object_is_type(v, json_type_object))
        return v;
    json_object_put(v);
    return json_object_new_string(text);
}

static int checkpoint_locked(struct gov *g, int reserve)
{
    json_object *cp = gov_event_new("checkpoint");
    int rc;
    gov_ev_int(cp, "count", (int64_t)g->since_checkpoint);
    gov_ev_str(cp, "alg", gov_key_alg(g->key));
    gov_ev_str(cp, "key", g->key_b64);
    gov_ev_str(cp, "key_source", g->cfg.signing_key_attestation ? "attested" : "local");
    if (g->cfg.signing_key_attestation != NULL)
        json_object_object_add(cp, "attestation", attestation_value(g->cfg.signing_key_attestation));
    uint64_t seq = g->chain.next_seq;
    rc = seal_and_spool(g, cp, 1, reserve);
    json_object_put(cp);
    if (rc == 0) {
        g->since_checkpoint = 0;
        if (gov_spool_note_checkpoint(g->spool, seq) != 0)
            ccr_log_warn("audit spool: %s", ccr_err_msg(EIO));
    }
    return rc;
}

int gov_checkpoint_now(struct gov *g)
{
    int rc = 0;
    pthread_mutex_lock(&g->chain_lock);
    if (g->since_checkpoint > 0)
        rc = checkpoint_locked(g, 1);
    pthread_mutex_unlock(&g->chain_lock);
    return rc;
}

int gov_emit_covering(struct gov *g, json_object *ev, int reserve, uint64_t *seq_out,
                      struct gov_pending_file *const *files, size_t n)
{
    uint64_t mark = 0;
    int rc = 0;
    pthread_mutex_lock(&g->chain_lock);
    if (seq_out != NULL)
        *seq_out = g->chain.next_seq;
    /* The marker first: a kill between the two leaves a marker past the chain's end, so the
     * ranges are replayed rather than lost; the other order would record them twice. */
    if (n > 0 && g->pending != NULL)
        rc = gov_pending_mark(g->pending, g->chain.next_seq, files, n, &mark);
    if (rc == 0)
        rc = seal_and_spool(g, ev, 0, reserve);
    else
        g->write_failed = 1;
    if (mark != 0 && gov_pending_mark_done(g->pending, mark, files, n, rc == 0) != 0)
        g->write_failed = 1; /* a marker without its event would hide ranges: fail closed */
    if (rc == 0 && ++g->since_checkpoint >= g->cfg.checkpoint_events)
        checkpoint_locked(g, 1);
    pthread_mutex_unlock(&g->chain_lock);
    json_object_put(ev);
    if (rc == 0)
        gov_kick_deliverer(g);
    return rc;
}

int gov_emit(struct gov *g, json_object *ev, int reserve, uint64_t *seq_out)
{
    return gov_emit_covering(g, ev, reserve, seq_out, NULL, 0);
}

static void wall_time(int64_t ms, char out[32])
{
    ccr_clock_iso8601((double)ms / 1000.0, out, 32);
}

int gov_record_open_locked(struct gov *g, struct gov_file *f)
{
    struct gov_pending_file *journal = &f->journal;
    json_object *ev;
    int rc;

    if (f->open_recorded)
        return 0;
    ev = gov_event_new("open");
    gov_ev_str(ev, "path", f->path);
    gov_ev_int(ev, "flags", f->flags);
    gov_ev_int(ev, "pid", f->pid);
    gov_ev_int(ev, "uid", f->uid);
    gov_ev_int(ev, "gid", f->gid);
    gov_ev_str(ev, "process", f->process);
    if (f->have_size)
        gov_ev_int(ev, "size", (int64_t)f->size);
    if (f->deferred) {
        /* Written later than the open itself: say when it happened. */
        char when[32];
        wall_time(f->opened_wall_ms, when);
        gov_ev_str(ev, "opened", when);
    }
    /* A deferred open is journaled: this event covers it, unless ranges wait in the journal too
     * (a marker covers all of a file's; the read event that follows at once covers them). */
    rc = gov_emit_covering(g, ev, 0, &f->open_seq, &journal, f->deferred && f->ranges.len == 0 ? 1 : 0);
    if (rc == 0) {
        f->open_recorded = 1;
        if (f->deferred) {
            f->deferred = 0;
            atomic_fetch_sub(&g->unrecorded, 1);
        }
    }
    return rc;
}

/* [[offset, length], ...] of ranges; *bytes their sum. */
static json_object *ranges_json(const struct ccr_array *ranges, uint64_t *bytes)
{
    json_object *arr = json_object_new_array();
    *bytes = 0;
    for (size_t i = 0; i < ranges->len; i++) {
        const struct gov_range *r = &CCR_ARRAY_AT(ranges, struct gov_range, i);
        json_object *pair = json_object_new_array();
        json_object_array_add(pair, json_object_new_int64((int64_t)r->off));
        json_object_array_add(pair, json_object_new_int64((int64_t)r->len));
        json_object_array_add(arr, pair);
        *bytes += r->len;
    }
    return arr;
}

static void entry_journal_free(json_object *e, void *journal)
{
    (void)e;
    free(journal);
}

json_object *gov_access_entry(struct gov_file *f)
{
    json_object *e = json_object_new_object();
    char when[32];
    uint64_t bytes;
    struct gov_pending_file *journal = malloc(sizeof *journal);

    /* The entry's ranges stay in the journal until its access event is sealed; an entry that
     * could not say which journal record it covers would hold that record for good. */
    if (e == NULL || journal == NULL) {
        json_object_put(e);
        free(journal);
        return NULL;
    }
    *journal = f->journal;
    json_object_set_userdata(e, journal, entry_journal_free);

    gov_ev_str(e, "path", f->path);
    gov_ev_int(e, "flags", f->flags);
    gov_ev_int(e, "pid", f->pid);
    gov_ev_int(e, "uid", f->uid);
    gov_ev_int(e, "gid", f->gid);
    gov_ev_str(e, "process", f->process);
    if (f->have_size)
        gov_ev_int(e, "size", (int64_t)f->size);
    wall_time(f->opened_wall_ms, when);
    gov_ev_str(e, "opened", when);
    /* Close time as milliseconds after the open: an ISO time would double the entry. */
    gov_ev_int(e, "ms", (int64_t)ccr_clock_wall_ms() - f->opened_wall_ms);
    json_object_object_add(e, "ranges", ranges_json(&f->ranges, &bytes));
    gov_ev_int(e, "bytes", (int64_t)f->bytes_total);
    gov_ev_int(e, "reads", (int64_t)f->reads_total);
    return e;
}

/* Puts entries [from, end) of batch back in front of what waits now (after a failure). */
static void access_put_back(struct gov *g, json_object *batch, size_t from)
{
    json_object *back = json_object_new_array();
    for (size_t i = from; i < json_object_array_length(batch); i++)
        json_object_array_add(back, json_object_get(json_object_array_get_idx(batch, i)));
    pthread_mutex_lock(&g->access_lock);
    if (g->access != NULL) {
        for (size_t i = 0; i < json_object_array_length(g->access); i++)
            json_object_array_add(back, json_object_get(json_object_array_get_idx(g->access, i)));
        json_object_put(g->access);
    } else {
        g->access_first_ms = gov_now_ms();
    }
    g->access = back;
    pthread_mutex_unlock(&g->access_lock);
}

/* Seals a batch of entries taken out of gov.access as "access" events of at most
 * GOV_ACCESS_BATCH entries and about GOV_ACCESS_EVENT_BYTES each (the governance service
 * takes events up to 64 KiB); on failure what is left goes back. Takes batch. */
static int access_seal(struct gov *g, json_object *batch)
{
    size_t n = json_object_array_length(batch), start = 0;
    int rc = 0;

    while (start < n) {
        json_object *ev = gov_event_new("access"), *files = json_object_new_array();
        struct gov_pending_file *journals[GOV_ACCESS_BATCH];
        size_t end = start, bytes = 0;
        while (end < n && end - start < GOV_ACCESS_BATCH && bytes < GOV_ACCESS_EVENT_BYTES) {
            json_object *e = json_object_array_get_idx(batch, end);
            const char *path = gov_json_str(e, "path"), *proc = gov_json_str(e, "process");
            journals[end - start] = json_object_get_userdata(e);
            end++;
            bytes += 200 + (path ? strlen(path) : 0) + (proc ? strlen(proc) : 0);
            json_object_array_add(files, json_object_get(e));
        }
        json_object_object_add(ev, "files", files);
        if ((rc = gov_emit_covering(g, ev, 1, NULL, journals, end - start)) != 0) {
            /* Kept for the next attempt (the gate refuses new opens meanwhile). */
            access_put_back(g, batch, start);
            break;
        }
        atomic_fetch_sub(&g->unrecorded, (long long)(end - start));
        start = end;
    }
    json_object_put(batch);
    return rc;
}

/* Takes the waiting entries out when due: all with force, else when a batch is full or the
 * oldest waited flush_interval_ms. NULL when nothing is due. */
static json_object *access_take(struct gov *g, int force, size_t full)
{
    json_object *batch = NULL;
    pthread_mutex_lock(&g->access_lock);
    if (g->access != NULL && (force || json_object_array_length(g->access) >= full ||
                              gov_now_ms() - g->access_first_ms >= (int64_t)g->cfg.flush_interval_ms)) {
        batch = g->access;
        g->access = NULL;
    }
    pthread_mutex_unlock(&g->access_lock);
    return batch;
}

int gov_access_add(struct gov *g, json_object *entry)
{
    size_t n;
    json_object *batch;

    pthread_mutex_lock(&g->access_lock);
    if (g->access == NULL) {
        g->access = json_object_new_array();
        g->access_first_ms = gov_now_ms();
    }
    json_object_array_add(g->access, entry);
    n = json_object_array_length(g->access);
    pthread_mutex_unlock(&g->access_lock);
    /* The deliverer seals full batches; a release seals one itself only when the deliverer
     * falls far behind, which bounds the memory entries take. */
    if (n == GOV_ACCESS_BATCH)
        gov_kick_deliverer(g);
    if (n < GOV_ACCESS_BATCH * 8 || (batch = access_take(g, 0, GOV_ACCESS_BATCH * 8)) == NULL)
        return 0;
    return access_seal(g, batch);
}

int gov_access_flush(struct gov *g, int force)
{
    json_object *batch = access_take(g, force, GOV_ACCESS_BATCH);
    return batch != NULL ? access_seal(g, batch) : 0;
}

int gov_flush_file_locked(struct gov *g, struct gov_file *f)
{
    json_object *ev, *ranges;
    uint64_t bytes = 0;
    int rc;

    if (f->ranges.len == 0)
        return 0;
    /* Reads name their open: a compact open gets its event first. */
    if ((rc = gov_record_open_locked(g, f)) != 0)
        return rc;
    ev = gov_event_new("read");
    ranges = ranges_json(&f->ranges, &bytes);
    gov_ev_int(ev, "open", (int64_t)f->open_seq);
    gov_ev_str(ev, "path", f->path);
    json_object_object_add(ev, "ranges", ranges);
    gov_ev_int(ev, "bytes", (int64_t)bytes);
    gov_ev_int(ev, "reads", (int64_t)f->reads_pending);
    {
        struct gov_pending_file *journal = &f->journal;
        rc = gov_emit_covering(g, ev, 1, NULL, &journal, 1);
    }
    if (rc == 0) {
        f->ranges.len = 0;
        f->reads_pending = 0;
        f->first_pending_ms = 0;
    }
    return rc;
}

void gov_flush_reads(struct gov *g, int force)
{
    int64_t now = gov_now_ms();
    pthread_mutex_lock(&g->files_lock);
    for (struct gov_file *f = g->files; f != NULL; f = f->next) {
        pthread_mutex_lock(&f->lock);
        if (f->ranges.len > 0 &&
            (force || now - f->first_pending_ms >= (int64_t)g->cfg.flush_interval_ms ||
             (!f->open_recorded && now - f->opened_mono_ms >= (int64_t)g->cfg.flush_interval_ms)))
            /* A late open event is followed at once by the read event that covers its journaled
             * open and ranges together (the open event alone cannot: its marker would cover the
             * ranges too). */
            gov_flush_file_locked(g, f);
        else if (!f->open_recorded && (force || now - f->opened_mono_ms >= (int64_t)g->cfg.flush_interval_ms))
            gov_record_open_locked(g, f);
        pthread_mutex_unlock(&f->lock);
    }
    pthread_mutex_unlock(&g->files_lock);
    gov_access_flush(g, force);
}

/* A recovered file's entry in the compact form: its open event never reached the chain. */
static json_object *recovered_entry(const struct gov_pending_recovered *r, json_object *ranges,
                                    uint64_t bytes)
{
    static const char *const copied[] = {"path", "flags", "pid", "uid", "gid", "process", "size"};
    json_object *e = json_object_new_object(), *v;
    long long ms;
    char when[32];

    for (size_t i = 0; i < sizeof copied / sizeof copied[0]; i++)
        if (json_object_object_get_ex(r->info, copied[i], &v))
            json_object_object_add(e, copied[i], json_object_get(v));
    if (gov_json_int(r->info, "opened_ms", &ms) == 0) {
        wall_time(ms, when);
        gov_ev_str(e, "opened", when);
    }
    json_object_object_add(e, "ranges", ranges);
    gov_ev_int(e, "bytes", (int64_t)bytes);
    gov_ev_int(e, "reads", (int64_t)r->reads);
    return e;
}

int gov_record_recovered(struct gov *g, struct gov_pending_recovered *rec, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct gov_pending_recovered *r = &rec[i];
        struct gov_pending_file *journal = &r->file;
        uint64_t bytes;
        json_object *ranges = ranges_json(&r->ranges, &bytes), *ev;
        long long open_seq = -1;
        int rc;

        if (gov_json_int(r->info, "open", &open_seq) == 0 && open_seq >= 0) {
            ev = gov_event_new("read");
            gov_ev_int(ev, "open", open_seq);
            gov_ev_str(ev, "path", gov_json_str(r->info, "path"));
            json_object_object_add(ev, "ranges", ranges);
            gov_ev_int(ev, "bytes", (int64_t)bytes);
            gov_ev_int(ev, "reads", (int64_t)r->reads);
        } else {
            json_object *files = json_object_new_array();
            ev = gov_event_new("access");
            json_object_array_add(files, recovered_entry(r, ranges, bytes));
            json_object_object_add(ev, "files", files);
        }
        /* Served by an earlier run that ended before recording it. */
        json_object_object_add(ev, "recovered", json_object_new_boolean(1));
        if ((rc = gov_emit_covering(g, ev, 1, NULL, &journal, 1)) != 0)
            return rc;
    }
    return 0;
}

static json_object *copy_json(const struct json_object *v)
{
    json_object *out = NULL;
    return json_object_deep_copy((json_object *)(uintptr_t)v, &out, NULL) == 0 ? out : NULL;
}

int gov_record_mount(struct gov *g, const struct gov_mount_info *m)
{
    json_object *ev = gov_event_new("mount");
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    gov_ev_str(ev, "mountpoint", m->mountpoint);
    gov_ev_str(ev, "dataset", m->dataset_id);
    gov_ev_str(ev, "source", m->source);
    gov_ev_str(ev, "mode", m->mode);
    gov_ev_str(ev, "host", host);
    gov_ev_int(ev, "pid", getpid());
    gov_ev_str(ev, "version", CCRFS_VERSION);
    /* Copies: the event outlives the contract it came from. */
    if (m->constraints != NULL)
        json_object_object_add(ev, "constraints", copy_json(m->constraints));
    if (m->terms != NULL)
        json_object_object_add(ev, "terms", copy_json(m->terms));
    if (g->cfg.signing_key_attestation != NULL) {
        /* The evidence that binds the key the checkpoints of this run are signed with. */
        gov_ev_str(ev, "signing_key", g->key_b64);
        json_object_object_add(ev, "attestation", attestation_value(g->cfg.signing_key_attestation));
    }
    return gov_emit(g, ev, 0, NULL);
}

int gov_record_key_release(struct gov *g, const struct keys_release_info *info)
{
    json_object *ev = gov_event_new("key_release");
    json_object_object_add(ev, "attested", json_object_new_boolean(info->attested));
    gov_ev_str(ev, "method", info->method);
    gov_ev_str(ev, "broker", info->broker);
    gov_ev_str(ev, "evidence", info->evidence);
    gov_ev_str(ev, "detail", info->attested ? info->detail : "unattested key file");
    return gov_emit(g, ev, 0, NULL);
}

int gov_record_denial(struct gov *g, const char *op, const char *path, const char *reason)
{
    json_object *ev = gov_event_new("denial");
    gov_ev_str(ev, "op", op);
    gov_ev_str(ev, "path", path);
    gov_ev_str(ev, "reason", reason);
    gov_ev_int(ev, "count", 1);
    return gov_emit(g, ev, 1, NULL);
}

int gov_record_unmount(struct gov *g, const char *reason)
{
    json_object *ev = gov_event_new("unmount");
    int rc;
    gov_flush_reads(g, 1);
    gov_ev_str(ev, "reason", reason ? reason : "unmount");
    gov_ev_int(ev, "denials_unrecorded", atomic_exchange(&g->denials_unrecorded, 0));
    rc = gov_emit(g, ev, 1, NULL);
    if (rc != 0)
        return rc;
    /* The unmount is signed at once, whatever happens to the process afterwards. */
    rc = gov_checkpoint_now(g);
    gov_kick_deliverer(g);
    return rc;
}
