/* The governance object: event recording, delivery, consent and fail-closed gating. */
#include "governance/gov.h"
#include "common/encoding.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/secmem.h"
#include "governance/canon.h"
#include "governance/event.h"
#include "governance/http.h"
#include "governance/sign.h"
#include "governance/sink.h"
#include "governance/spool.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define GOV_FILE_MAGIC    0x636372667346494cULL
#define DELIVER_BATCH     256
#define DELIVER_GATHER_US 5000
#define MAX_SINKS         2

struct gov_range {
    uint64_t off, len;
};

struct gov_file {
    uint64_t magic;
    struct gov_file *next, *prev;
    pthread_mutex_t lock;
    char *path;
    uint64_t open_seq; /* seq of the open event: names this open in later events */
    struct gov_range *ranges;
    size_t nranges, cap;
    uint64_t reads_pending, bytes_total, reads_total;
    int64_t first_pending_ms;
};

struct gov {
    struct gov_config cfg;
    char *contract, *scope, *url, *token;

    pthread_mutex_t chain_lock; /* orders sealing and spool appends */
    struct gov_chain chain;
    struct gov_spool *spool;
    struct gov_key *key;
    char *key_b64;
    uint64_t since_checkpoint;
    atomic_int write_failed; /* the spool could not be written: fail closed */

    struct gov_sink *sinks[MAX_SINKS];
    size_t nsinks;

    pthread_mutex_t files_lock;
    struct gov_file *files;

    pthread_mutex_t wake_lock;
    pthread_cond_t wake;
    int stop;
    atomic_int kick; /* set by emitters; the deliverer is signalled only on 0 -> 1 */
    pthread_t deliverer, consent_thread;
    int deliverer_started, consent_started;

    /* Gate state. */
    atomic_int revoked, withdrawing;            /* withdrawing: the reason is being written */
    atomic_llong sink_fail_ms, consent_fail_ms; /* failing since; 0 when fine */
    atomic_llong denials_unrecorded;
    atomic_llong last_denial_ms;
    atomic_ullong bytes_served; /* counted against cfg.max_bytes_per_mount */

    pthread_mutex_t consent_lock;
    atomic_llong consent_ok_ms, consent_try_ms;
    struct gov_http *consent_http;
    char revoke_reason[256];
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void kick_deliverer(struct gov *g)
{
    if (atomic_exchange(&g->kick, 1))
        return; /* already due: no wake-up per event */
    pthread_mutex_lock(&g->wake_lock);
    pthread_cond_signal(&g->wake);
    pthread_mutex_unlock(&g->wake_lock);
}

/* ---- recording ---------------------------------------------------------------------- */

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

static int checkpoint_locked(struct gov *g, int reserve)
{
    json_object *cp = gov_event_new("checkpoint");
    int rc;
    json_object_object_add(cp, "count", json_object_new_int64((int64_t)g->since_checkpoint));
    json_object_object_add(cp, "alg", json_object_new_string(gov_key_alg(g->key)));
    json_object_object_add(cp, "key", json_object_new_string(g->key_b64));
    json_object_object_add(cp, "key_source",
                           json_object_new_string(g->cfg.signing_key_attestation ? "attested" : "local"));
    if (g->cfg.signing_key_attestation != NULL)
        json_object_object_add(cp, "attestation", json_object_new_string(g->cfg.signing_key_attestation));
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

/* Seals ev (taking it), appends it to the spool, and adds a checkpoint when one is due.
 * *seq_out, when given, receives the event's sequence number. */
static int emit(struct gov *g, json_object *ev, int reserve, uint64_t *seq_out)
{
    int rc;
    pthread_mutex_lock(&g->chain_lock);
    if (seq_out != NULL)
        *seq_out = g->chain.next_seq;
    rc = seal_and_spool(g, ev, 0, reserve);
    if (rc == 0 && ++g->since_checkpoint >= g->cfg.checkpoint_events)
        checkpoint_locked(g, 1);
    pthread_mutex_unlock(&g->chain_lock);
    json_object_put(ev);
    if (rc == 0)
        kick_deliverer(g);
    return rc;
}

static void add_str(json_object *ev, const char *key, const char *val)
{
    json_object_object_add(ev, key, json_object_new_string(val != NULL ? val : ""));
}

static void add_int(json_object *ev, const char *key, int64_t val)
{
    json_object_object_add(ev, key, json_object_new_int64(val));
}

/* Emits the coalesced ranges a file holds (file lock held). */
static int flush_file_locked(struct gov *g, struct gov_file *f)
{
    json_object *ev, *ranges;
    uint64_t bytes = 0;
    int rc;

    if (f->nranges == 0)
        return 0;
    ev = gov_event_new("read");
    ranges = json_object_new_array();
    for (size_t i = 0; i < f->nranges; i++) {
        json_object *r = json_object_new_array();
        json_object_array_add(r, json_object_new_int64((int64_t)f->ranges[i].off));
        json_object_array_add(r, json_object_new_int64((int64_t)f->ranges[i].len));
        json_object_array_add(ranges, r);
        bytes += f->ranges[i].len;
    }
    add_int(ev, "open", (int64_t)f->open_seq);
    add_str(ev, "path", f->path);
    json_object_object_add(ev, "ranges", ranges);
    add_int(ev, "bytes", (int64_t)bytes);
    add_int(ev, "reads", (int64_t)f->reads_pending);
    rc = emit(g, ev, 1, NULL);
    if (rc == 0) {
        f->nranges = 0;
        f->reads_pending = 0;
        f->first_pending_ms = 0;
    }
    return rc;
}

/* Records ranges older than the flush interval (or all with force). */
static void flush_reads(struct gov *g, int force)
{
    int64_t now = now_ms();
    pthread_mutex_lock(&g->files_lock);
    for (struct gov_file *f = g->files; f != NULL; f = f->next) {
        pthread_mutex_lock(&f->lock);
        if (f->nranges > 0 && (force || now - f->first_pending_ms >= (int64_t)g->cfg.flush_interval_ms))
            flush_file_locked(g, f);
        pthread_mutex_unlock(&f->lock);
    }
    pthread_mutex_unlock(&g->files_lock);
}

/* ---- gate --------------------------------------------------------------------------- */

static int gate_reason(struct gov *g, char *why, size_t why_len)
{
    int64_t since = atomic_load(&g->sink_fail_ms), c = atomic_load(&g->consent_fail_ms);
    if (since == 0 || (c != 0 && c < since))
        since = c;
    if (atomic_load(&g->revoked)) {
        snprintf(why, why_len, "consent revoked: %s", g->revoke_reason);
        return 0;
    }
    if (g->cfg.not_after_ms != 0 && wall_ms() >= g->cfg.not_after_ms) {
        snprintf(why, why_len, "the contract expired");
        return 0;
    }
    if (g->write_failed) {
        snprintf(why, why_len, "the audit spool cannot be written");
        return 0;
    }
    if (gov_spool_is_full(g->spool)) {
        snprintf(why, why_len, "the audit spool is full (%" PRIu64 " bytes undelivered)",
                 gov_spool_bytes(g->spool));
        return 0;
    }
    if (!g->cfg.governance_optional && g->url != NULL && since != 0 &&
        now_ms() - since > (int64_t)g->cfg.grace_seconds * 1000) {
        snprintf(why, why_len, "governance unreachable for more than %u s", g->cfg.grace_seconds);
        return 0;
    }
    return 1;
}

int gov_serving(struct gov *g, char *why, size_t why_len)
{
    char tmp[320];
    int ok = gate_reason(g, tmp, sizeof tmp);
    if (!ok && why != NULL)
        snprintf(why, why_len, "%s", tmp);
    return ok;
}

/* Refuses an operation: counts it and records a denial, at most one per second so a
 * refusing mount cannot flood its own full spool. */
static int deny(struct gov *g, const char *op, const char *path, pid_t pid, const char *reason)
{
    long long now = now_ms(), last = atomic_load(&g->last_denial_ms);
    long long count = atomic_fetch_add(&g->denials_unrecorded, 1) + 1;

    if (now - last >= 1000 && atomic_compare_exchange_strong(&g->last_denial_ms, &last, now)) {
        json_object *ev = gov_event_new("denial");
        count = atomic_exchange(&g->denials_unrecorded, 0);
        add_str(ev, "op", op);
        add_str(ev, "path", path);
        if (pid > 0)
            add_int(ev, "pid", pid);
        add_str(ev, "reason", reason);
        add_int(ev, "count", count);
        if (emit(g, ev, 1, NULL) != 0)
            atomic_fetch_add(&g->denials_unrecorded, count);
    }
    ccr_log_debug("refused %s %s: %s", op, path ? path : "", reason);
    return EACCES;
}

/* ---- consent ------------------------------------------------------------------------ */

static void withdraw(struct gov *g, const char *reason)
{
    int expected = 0;
    json_object *ev;
    if (!atomic_compare_exchange_strong(&g->withdrawing, &expected, 1))
        return;
    /* The reason is complete before any reader sees the revoked flag. */
    snprintf(g->revoke_reason, sizeof g->revoke_reason, "%s", reason);
    atomic_store(&g->revoked, 1);
    ccr_log_warn("consent withdrawn: %s; refusing opens and reads, wiping keys", reason);
    if (g->cfg.on_revoke != NULL)
        g->cfg.on_revoke(g->cfg.on_revoke_arg, reason);
    ev = gov_event_new("revocation");
    add_str(ev, "reason", reason);
    emit(g, ev, 1, NULL);
}

/* Parses {"status":"enabled"|"disabled","reason":{"code","message"}}. */
static int parse_consent(const char *body, size_t len, int *enabled, char *reason, size_t reason_len)
{
    json_object *v, *r;
    const char *st;
    int rc = gov_json_parse(body, len, "consent reply", &v);
    if (rc != 0) /* a reply that is not JSON is a protocol error; keep the parser's words */
        return ccr_err_set(EPROTO, "%s", ccr_err_msg(rc));
    st = gov_json_str(v, "status");
    if (st == NULL || (strcmp(st, "enabled") != 0 && strcmp(st, "disabled") != 0)) {
        json_object_put(v);
        return ccr_err_set(EPROTO, "consent reply: \"status\" must be \"enabled\" or \"disabled\"");
    }
    *enabled = strcmp(st, "enabled") == 0;
    reason[0] = '\0';
    if (json_object_object_get_ex(v, "reason", &r) && json_object_is_type(r, json_type_object)) {
        const char *code = gov_json_str(r, "code"), *msg = gov_json_str(r, "message");
        snprintf(reason, reason_len, "%s%s%s", code ? code : "", code && msg ? ": " : "", msg ? msg : "");
    }
    json_object_put(v);
    return 0;
}

/* One consent request. 0 with *enabled set, or a transport / protocol error. */
static int consent_ask(struct gov *g, int *enabled, char *reason, size_t reason_len)
{
    char path[512], *esc = gov_http_escape(g->contract != NULL ? g->contract : "");
    char *resp = NULL;
    size_t resp_len = 0;
    long status = 0;
    int rc;

    if (esc == NULL)
        return ENOMEM;
    /* Without a contract id, the sidecar is expected to know its own. */
    snprintf(path, sizeof path, "/consentcheck/execution%s%s", g->contract ? "?contract=" : "", esc);
    free(esc);
    rc = gov_http_request(g->consent_http, "POST", path, "{}", 2, &status, &resp, &resp_len);
    if (rc != 0)
        return rc;
    if (status == 200 && resp != NULL) {
        rc = parse_consent(resp, resp_len, enabled, reason, reason_len);
    } else if (status == 403 || status == 404) {
        /* Governance answered: no consent for this contract (unknown, not signed). */
        char msg[200];
        gov_http_error_text(resp, msg, sizeof msg);
        *enabled = 0;
        snprintf(reason, reason_len, "HTTP %ld: %s", status, msg);
    } else {
        char msg[200];
        gov_http_error_text(resp, msg, sizeof msg);
        rc = ccr_err_set(EIO, "consent check: HTTP %ld: %s", status, msg);
    }
    free(resp);
    return rc;
}

static void note_failing(atomic_llong *since)
{
    long long zero = 0;
    atomic_compare_exchange_strong(since, &zero, (long long)now_ms());
}

/* Asks for consent (single flight) and acts on the answer. record: add a consent event. */
static int consent_refresh(struct gov *g, int record, int *enabled_out)
{
    char reason[256] = "";
    int enabled = 0, rc;

    pthread_mutex_lock(&g->consent_lock);
    atomic_store(&g->consent_try_ms, now_ms());
    rc = consent_ask(g, &enabled, reason, sizeof reason);
    if (rc == 0) {
        atomic_store(&g->consent_ok_ms, now_ms());
        atomic_store(&g->consent_fail_ms, 0);
        if (record || !enabled) {
            json_object *ev = gov_event_new("consent");
            add_str(ev, "status", enabled ? "enabled" : "disabled");
            add_str(ev, "reason", reason);
            add_str(ev, "governance", g->url);
            emit(g, ev, 1, NULL);
        }
    } else {
        note_failing(&g->consent_fail_ms);
    }
    pthread_mutex_unlock(&g->consent_lock);
    /* After the pre-mount check (record), any disabled answer withdraws consent. */
    if (rc == 0 && !enabled && !record)
        withdraw(g, reason[0] ? reason : "consent disabled");
    if (rc == 0 && enabled_out != NULL)
        *enabled_out = enabled;
    if (rc == 0 && !enabled)
        return ccr_err_set(EACCES, "consent for contract %s is disabled%s%s",
                           g->contract ? g->contract : "(none)", reason[0] ? ": " : "", reason);
    return rc;
}

static int wait_stop(struct gov *g, int64_t ms)
{
    struct timespec ts;
    int stop;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&g->wake_lock);
    if (!g->stop)
        pthread_cond_timedwait(&g->wake, &g->wake_lock, &ts);
    stop = g->stop;
    pthread_mutex_unlock(&g->wake_lock);
    return stop;
}

static void *consent_main(void *arg)
{
    struct gov *g = arg;
    while (!wait_stop(g, (int64_t)g->cfg.consent_interval_s * 1000)) {
        if (atomic_load(&g->revoked))
            break;
        if (now_ms() - atomic_load(&g->consent_try_ms) >= (int64_t)g->cfg.consent_interval_s * 1000 - 50)
            consent_refresh(g, 0, NULL);
        ccr_err_clear();
    }
    return NULL;
}

int gov_check_consent(struct gov *g)
{
    int rc, enabled = 0;
    if (g->url == NULL) {
        json_object *ev = gov_event_new("consent");
        add_str(ev, "status", "not-configured");
        add_str(ev, "reason", "no governance service: consent is not checked");
        return emit(g, ev, 0, NULL);
    }
    rc = consent_refresh(g, 1, &enabled);
    if (rc != 0)
        return rc;
    if (!g->consent_started) {
        if (pthread_create(&g->consent_thread, NULL, consent_main, g) != 0)
            return ccr_err_set(EAGAIN, "cannot start the consent thread");
        g->consent_started = 1;
    }
    return 0;
}

/* ---- hooks -------------------------------------------------------------------------- */

/* Asks for consent now when the last answer is older than the interval (a late periodic
 * check must not leave an open or an upload unchecked). */
static void consent_fresh(struct gov *g)
{
    if (g->url != NULL && !atomic_load(&g->revoked) &&
        now_ms() - atomic_load(&g->consent_ok_ms) > (int64_t)g->cfg.consent_interval_s * 1000 &&
        now_ms() - atomic_load(&g->consent_try_ms) > (int64_t)g->cfg.consent_interval_s * 1000) {
        consent_refresh(g, 0, NULL);
        ccr_err_clear();
    }
}

static int hook_open(void *arg, const struct fs_open_info *info, uint64_t *handle)
{
    struct gov *g = arg;
    char why[320];
    struct gov_file *f;
    json_object *ev;
    int rc;

    consent_fresh(g);
    if (!gate_reason(g, why, sizeof why))
        return deny(g, "open", info->path, info->pid, why);
    f = calloc(1, sizeof *f);
    if (f == NULL || (f->path = strdup(info->path ? info->path : "")) == NULL) {
        free(f);
        return deny(g, "open", info->path, info->pid, "out of memory");
    }
    f->magic = GOV_FILE_MAGIC;
    pthread_mutex_init(&f->lock, NULL);
    ev = gov_event_new("open");
    add_str(ev, "path", f->path);
    add_int(ev, "flags", info->flags);
    add_int(ev, "pid", info->pid);
    add_int(ev, "uid", info->uid);
    add_int(ev, "gid", info->gid);
    add_str(ev, "process", info->process_name);
    if (g->cfg.file_size != NULL) {
        uint64_t size;
        if (g->cfg.file_size(g->cfg.file_size_arg, f->path, &size) == 0)
            add_int(ev, "size", (int64_t)size);
    }
    rc = emit(g, ev, 0, &f->open_seq);
    if (rc != 0) {
        pthread_mutex_destroy(&f->lock);
        free(f->path);
        free(f);
        snprintf(why, sizeof why, "the open cannot be recorded: %s", ccr_err_msg(rc));
        return deny(g, "open", info->path, info->pid, why);
    }
    pthread_mutex_lock(&g->files_lock);
    f->next = g->files;
    if (g->files != NULL)
        g->files->prev = f;
    g->files = f;
    pthread_mutex_unlock(&g->files_lock);
    *handle = (uint64_t)(uintptr_t)f;
    return 0;
}

static struct gov_file *file_of(uint64_t handle)
{
    struct gov_file *f = (struct gov_file *)(uintptr_t)handle;
    if (f == NULL || f->magic != GOV_FILE_MAGIC)
        return NULL;
    return f;
}

/* Adds [off, off+len) to the file's sorted, disjoint ranges. */
static int add_range(struct gov_file *f, uint64_t off, uint64_t len)
{
    uint64_t end = off + len;
    size_t i, j;

    if (f->nranges > 0) {
        struct gov_range *last = &f->ranges[f->nranges - 1];
        if (off >= last->off && off <= last->off + last->len) { /* sequential: the common case */
            if (end > last->off + last->len)
                last->len = end - last->off;
            return 0;
        }
    }
    if (f->nranges == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        struct gov_range *np = realloc(f->ranges, cap * sizeof *np);
        if (np == NULL)
            return ENOMEM;
        f->ranges = np;
        f->cap = cap;
    }
    for (i = 0; i < f->nranges && f->ranges[i].off + f->ranges[i].len < off; i++)
        ;
    /* ranges[i..j) touch or overlap the new one: merge them. */
    for (j = i; j < f->nranges && f->ranges[j].off <= end; j++) {
        if (f->ranges[j].off < off)
            off = f->ranges[j].off;
        if (f->ranges[j].off + f->ranges[j].len > end)
            end = f->ranges[j].off + f->ranges[j].len;
    }
    if (j == i) {
        memmove(&f->ranges[i + 1], &f->ranges[i], (f->nranges - i) * sizeof *f->ranges);
        f->nranges++;
    } else if (j > i + 1) {
        memmove(&f->ranges[i + 1], &f->ranges[j], (f->nranges - j) * sizeof *f->ranges);
        f->nranges -= j - i - 1;
    }
    f->ranges[i].off = off;
    f->ranges[i].len = end - off;
    return 0;
}

static int hook_read(void *arg, uint64_t handle, uint64_t offset, uint64_t len)
{
    struct gov *g = arg;
    struct gov_file *f = file_of(handle);
    char why[320];
    int rc = 0;

    if (f == NULL)
        return deny(g, "read", "", 0, "unknown file handle");
    if (!gate_reason(g, why, sizeof why))
        return deny(g, "read", f->path, 0, why);
    if (len == 0)
        return 0;
    if (g->cfg.max_bytes_per_mount != 0) {
        /* Counted before the bytes go out; a refused read gives its share back. */
        unsigned long long before = atomic_fetch_add(&g->bytes_served, len);
        if (before + len > g->cfg.max_bytes_per_mount) {
            atomic_fetch_sub(&g->bytes_served, len);
            snprintf(why, sizeof why,
                     "byte budget spent: this mount may serve %" PRIu64 " bytes, %llu served",
                     g->cfg.max_bytes_per_mount, before);
            return deny(g, "read", f->path, 0, why);
        }
    }
    pthread_mutex_lock(&f->lock);
    if (f->nranges == 0)
        f->first_pending_ms = now_ms();
    if (add_range(f, offset, len) != 0)
        rc = ENOMEM;
    f->reads_pending++;
    f->reads_total++;
    f->bytes_total += len;
    if (rc == 0 && f->nranges > g->cfg.flush_ranges)
        rc = flush_file_locked(g, f);
    pthread_mutex_unlock(&f->lock);
    if (rc != 0) {
        snprintf(why, sizeof why, "the read cannot be recorded: %s", strerror(rc));
        return deny(g, "read", f->path, 0, why);
    }
    return 0;
}

static void hook_release(void *arg, uint64_t handle)
{
    struct gov *g = arg;
    struct gov_file *f = file_of(handle);
    json_object *ev;

    if (f == NULL)
        return;
    pthread_mutex_lock(&g->files_lock);
    if (f->prev != NULL)
        f->prev->next = f->next;
    else
        g->files = f->next;
    if (f->next != NULL)
        f->next->prev = f->prev;
    pthread_mutex_unlock(&g->files_lock);
    pthread_mutex_lock(&f->lock);
    flush_file_locked(g, f);
    pthread_mutex_unlock(&f->lock);
    ev = gov_event_new("release");
    add_int(ev, "open", (int64_t)f->open_seq);
    add_str(ev, "path", f->path);
    add_int(ev, "reads", (int64_t)f->reads_total);
    add_int(ev, "bytes", (int64_t)f->bytes_total);
    emit(g, ev, 1, NULL);
    f->magic = 0;
    pthread_mutex_destroy(&f->lock);
    free(f->ranges);
    free(f->path);
    free(f);
}

static void hook_integrity(void *arg, const char *path, uint64_t block)
{
    struct gov *g = arg;
    json_object *ev = gov_event_new("integrity");
    add_str(ev, "path", path);
    add_int(ev, "block", (int64_t)block);
    emit(g, ev, 1, NULL);
}

static int hook_upload(void *arg, const char *path, uint64_t size, const uint8_t sha256[32],
                       const char *object)
{
    struct gov *g = arg;
    json_object *ev;
    char why[320], hex[65];
    int rc;

    consent_fresh(g);
    if (!gate_reason(g, why, sizeof why))
        return deny(g, "upload", path, 0, why);
    ccr_hex_encode(sha256, 32, hex);
    ev = gov_event_new("upload");
    add_str(ev, "path", path);
    add_int(ev, "size", (int64_t)size);
    add_str(ev, "sha256", hex);
    add_str(ev, "object", object);
    /* Nothing leaves unless its upload is in the spool first. */
    if ((rc = emit(g, ev, 0, NULL)) != 0) {
        snprintf(why, sizeof why, "the upload cannot be recorded: %s", ccr_err_msg(rc));
        return deny(g, "upload", path, 0, why);
    }
    return 0;
}

void gov_fs_hooks(struct gov *g, struct fs_access_hooks *out)
{
    memset(out, 0, sizeof *out);
    out->arg = g;
    out->on_open = hook_open;
    out->on_read = hook_read;
    out->on_release = hook_release;
    out->on_integrity_failure = hook_integrity;
    out->on_upload = hook_upload;
}

void gov_set_limits(struct gov *g, uint64_t max_bytes_per_mount, int64_t not_after_ms)
{
    g->cfg.max_bytes_per_mount = max_bytes_per_mount;
    g->cfg.not_after_ms = not_after_ms;
}

void gov_set_file_size(struct gov *g, int (*file_size)(void *arg, const char *path, uint64_t *size),
                       void *arg)
{
    g->cfg.file_size = file_size;
    g->cfg.file_size_arg = arg;
}

/* ---- records from the mount code ----------------------------------------------------- */

int gov_record_mount(struct gov *g, const struct gov_mount_info *m)
{
    json_object *ev = gov_event_new("mount");
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    add_str(ev, "mountpoint", m->mountpoint);
    add_str(ev, "dataset", m->dataset_id);
    add_str(ev, "source", m->source);
    add_str(ev, "mode", m->mode);
    add_str(ev, "host", host);
    add_int(ev, "pid", getpid());
    add_str(ev, "version", CCRFS_VERSION);
    return emit(g, ev, 0, NULL);
}

int gov_record_key_release(struct gov *g, const struct keys_release_info *info)
{
    json_object *ev = gov_event_new("key_release");
    json_object_object_add(ev, "attested", json_object_new_boolean(info->attested));
    add_str(ev, "method", info->method);
    add_str(ev, "broker", info->broker);
    add_str(ev, "evidence", info->evidence);
    add_str(ev, "detail", info->attested ? info->detail : "unattested key file");
    return emit(g, ev, 0, NULL);
}

int gov_record_denial(struct gov *g, const char *op, const char *path, const char *reason)
{
    json_object *ev = gov_event_new("denial");
    add_str(ev, "op", op);
    add_str(ev, "path", path);
    add_str(ev, "reason", reason);
    add_int(ev, "count", 1);
    return emit(g, ev, 1, NULL);
}

int gov_record_unmount(struct gov *g, const char *reason)
{
    json_object *ev = gov_event_new("unmount");
    int rc;
    flush_reads(g, 1);
    add_str(ev, "reason", reason ? reason : "unmount");
    add_int(ev, "denials_unrecorded", atomic_exchange(&g->denials_unrecorded, 0));
    rc = emit(g, ev, 1, NULL);
    if (rc != 0)
        return rc;
    /* The unmount is signed at once, whatever happens to the process afterwards. */
    pthread_mutex_lock(&g->chain_lock);
    if (g->since_checkpoint > 0)
        rc = checkpoint_locked(g, 1);
    pthread_mutex_unlock(&g->chain_lock);
    kick_deliverer(g);
    return rc;
}

/* ---- delivery ----------------------------------------------------------------------- */

/* One round: sync, send a batch to every sink, acknowledge. 1 when something was delivered. */
static int deliver_once(struct gov *g)
{
    struct gov_spool_entry *e = NULL;
    size_t n = 0;
    int rc;

    if (gov_spool_sync(g->spool) != 0) {
        ccr_log_error("%s", ccr_err_msg(EIO));
        g->write_failed = 1;
        return 0;
    }
    if (gov_spool_peek(g->spool, DELIVER_BATCH, &e, &n) != 0 || n == 0) {
        gov_spool_entries_free(e, n);
        return 0;
    }
    for (size_t i = 0; i < g->nsinks; i++) {
        rc = g->sinks[i]->deliver(g->sinks[i], e, n);
        if (rc != 0) {
            if (atomic_load(&g->sink_fail_ms) == 0)
                ccr_log_warn("%s: delivery failed, events stay in the spool: %s", g->sinks[i]->name,
                             ccr_err_msg(rc));
            note_failing(&g->sink_fail_ms);
            gov_spool_entries_free(e, n);
            return -1;
        }
    }
    if (gov_spool_ack(g->spool, e[n - 1].seq) != 0)
        ccr_log_error("audit spool: %s", ccr_err_msg(EIO));
    if (atomic_exchange(&g->sink_fail_ms, 0) != 0)
        ccr_log_info("audit delivery works again");
    gov_spool_entries_free(e, n);
    return 1;
}

static void *deliver_main(void *arg)
{
    struct gov *g = arg;
    int64_t backoff = 0;
    for (;;) {
        int r, stop;
        pthread_mutex_lock(&g->wake_lock);
        if (!g->stop && !atomic_load(&g->kick)) {
            struct timespec ts;
            int64_t wait =
                backoff > 0 ? backoff : (g->cfg.flush_interval_ms < 250 ? g->cfg.flush_interval_ms : 250);
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += (wait % 1000) * 1000000;
            ts.tv_sec += wait / 1000 + ts.tv_nsec / 1000000000;
            ts.tv_nsec %= 1000000000;
            pthread_cond_timedwait(&g->wake, &g->wake_lock, &ts);
        }
        atomic_store(&g->kick, 0);
        stop = g->stop;
        pthread_mutex_unlock(&g->wake_lock);
        if (stop)
            break;
        flush_reads(g, 0);
        while ((r = deliver_once(g)) == 1)
            ;
        /* Let events gather so each round syncs and sends a batch, not one event. */
        if (r == 0)
            usleep(DELIVER_GATHER_US);
        backoff = r < 0 ? (backoff == 0 ? 200 : (backoff * 2 > 2000 ? 2000 : backoff * 2)) : 0;
        ccr_err_clear();
    }
    return NULL;
}

int gov_flush(struct gov *g, unsigned timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    flush_reads(g, 1);
    for (;;) {
        kick_deliverer(g);
        if (gov_spool_pending(g->spool) == 0)
            return 0;
        if (now_ms() >= deadline)
            return ccr_err_set(ETIMEDOUT, "%zu audit events are not delivered yet",
                               gov_spool_pending(g->spool));
        usleep(10000);
    }
}

/* ---- setup -------------------------------------------------------------------------- */

static int load_key(struct gov *g)
{
    int rc;
    if (g->cfg.signing_pkey != NULL) {
        rc = gov_key_from_evp(g->cfg.signing_pkey, &g->key);
    } else if (g->cfg.signing_key_file != NULL) {
        rc = gov_key_load_private(g->cfg.signing_key_file, &g->key);
    } else {
        char *path = ccr_path_join(g->cfg.spool_dir, "signing-key.pem");
        if (path == NULL)
            return ENOMEM;
        rc = gov_key_generate_file(path, "ed25519");
        if (rc == 0 || rc == EEXIST)
            rc = gov_key_load_private(path, &g->key);
        free(path);
    }
    if (rc == 0)
        rc = gov_key_public_b64(g->key, &g->key_b64);
    return rc;
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

int gov_open(const struct gov_config *cfg, struct gov **out)
{
    struct gov *g;
    size_t replayed = 0;
    int rc;

    if (cfg->spool_dir == NULL)
        return ccr_err_set(EINVAL, "governance needs a spool folder");
    if (cfg->audit_log == NULL && cfg->governance_url == NULL)
        return ccr_err_set(EINVAL, "governance needs an audit log file or a governance URL");
    g = calloc(1, sizeof *g);
    if (g == NULL)
        return ENOMEM;
    g->cfg = *cfg;
    if (g->cfg.spool_max_bytes == 0)
        g->cfg.spool_max_bytes = 64ULL << 20;
    if (g->cfg.grace_seconds == 0)
        g->cfg.grace_seconds = 30;
    if (g->cfg.consent_interval_s == 0)
        g->cfg.consent_interval_s = 5;
    if (g->cfg.flush_interval_ms == 0)
        g->cfg.flush_interval_ms = 1000;
    if (g->cfg.flush_ranges == 0)
        g->cfg.flush_ranges = 64;
    if (g->cfg.checkpoint_events == 0)
        g->cfg.checkpoint_events = 1000;
    pthread_mutex_init(&g->chain_lock, NULL);
    pthread_mutex_init(&g->files_lock, NULL);
    pthread_mutex_init(&g->wake_lock, NULL);
    pthread_mutex_init(&g->consent_lock, NULL);
    pthread_cond_init(&g->wake, NULL);
    g->contract = dup_or_null(cfg->contract_id);
    g->scope = strdup(cfg->scope ? cfg->scope : "ccrfs");
    g->url = dup_or_null(cfg->governance_url);
    if ((rc = gov_spool_open(cfg->spool_dir, g->cfg.spool_max_bytes, &g->spool, &g->chain, &replayed)) != 0)
        goto fail;
    /* Events of an earlier run since its last checkpoint count towards the next one. */
    {
        int64_t cp = gov_spool_last_checkpoint(g->spool);
        g->since_checkpoint = cp < (int64_t)g->chain.next_seq ? g->chain.next_seq - (uint64_t)(cp + 1) : 0;
    }
    if (replayed > 0)
        ccr_log_info("audit spool: %zu undelivered events from an earlier run will be delivered", replayed);
    if ((rc = load_key(g)) != 0)
        goto fail;
    if (cfg->audit_log != NULL &&
        (rc = gov_sink_file_open(cfg->audit_log, g->chain.id, &g->sinks[g->nsinks++])) != 0) {
        g->nsinks--;
        goto fail;
    }
    if (g->url != NULL) {
        if ((rc = gov_token_load(cfg->token_file, &g->token)) != 0)
            goto fail;
        if ((rc = gov_sink_http_open(g->url, g->scope, g->token, &g->sinks[g->nsinks++])) != 0) {
            g->nsinks--;
            goto fail;
        }
        if ((rc = gov_http_new(g->url, g->token, 3000, &g->consent_http)) != 0)
            goto fail;
    }
    if (pthread_create(&g->deliverer, NULL, deliver_main, g) != 0) {
        rc = ccr_err_set(EAGAIN, "cannot start the audit delivery thread");
        goto fail;
    }
    g->deliverer_started = 1;
    *out = g;
    return 0;
fail:
    gov_close(g);
    return rc;
}

void gov_close(struct gov *g)
{
    if (g == NULL)
        return;
    pthread_mutex_lock(&g->wake_lock);
    g->stop = 1;
    pthread_cond_broadcast(&g->wake);
    pthread_mutex_unlock(&g->wake_lock);
    if (g->consent_started)
        pthread_join(g->consent_thread, NULL);
    if (g->deliverer_started) {
        pthread_join(g->deliverer, NULL);
        flush_reads(g, 1);
        pthread_mutex_lock(&g->chain_lock);
        if (g->since_checkpoint > 0)
            checkpoint_locked(g, 1);
        pthread_mutex_unlock(&g->chain_lock);
        while (deliver_once(g) == 1)
            ;
    }
    /* Open files the filesystem never released: nothing refers to them any more. */
    while (g->files != NULL) {
        struct gov_file *f = g->files;
        g->files = f->next;
        f->magic = 0;
        pthread_mutex_destroy(&f->lock);
        free(f->ranges);
        free(f->path);
        free(f);
    }
    for (size_t i = 0; i < g->nsinks; i++)
        g->sinks[i]->destroy(g->sinks[i]);
    gov_http_free(g->consent_http);
    gov_spool_close(g->spool);
    gov_key_free(g->key);
    free(g->key_b64);
    if (g->token != NULL)
        ccr_freezero(g->token, strlen(g->token));
    free(g->contract);
    free(g->scope);
    free(g->url);
    pthread_cond_destroy(&g->wake);
    pthread_mutex_destroy(&g->chain_lock);
    pthread_mutex_destroy(&g->files_lock);
    pthread_mutex_destroy(&g->wake_lock);
    pthread_mutex_destroy(&g->consent_lock);
    free(g);
}
