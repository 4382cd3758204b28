/* Shared by the files of the governance object only (gov.c, record.c, gate.c, consent.c,
 * deliver.c, hooks.c): its state and the calls between them. pending.c, the journal of served
 * ranges, is its own module under them.
 *
 * Threads: the filesystem's threads call the hooks (hooks.c) at any time between gov_fs_hooks
 * and gov_close; the mount code calls gov_record_*, gov_check_consent and gov_flush; the
 * deliverer (deliver.c) records pending reads and drains the spool to the sinks; the consent
 * poller (consent.c) asks governance every consent_interval_s.
 *
 * Locks, in the order they may be taken (never the other way round):
 *   1. gov.files_lock      the list of open files (gov.files)
 *   2. gov_file.lock       one open file's pending ranges and counters
 *   3. gov.access_lock     compact access entries waiting to be sealed (gov.access)
 *   4. gov.chain_lock      the chain head and the checkpoint counter: an event is sealed and
 *                          appended to the spool in one step, so spool order is chain order;
 *                          the marker naming the ranges an event covers is written under it,
 *                          just before the event
 *   5. the pending journal's lock
 *                          internal to pending.c: one record stored into the journal's
 *                          mapping (a compact open, a served range under the file's lock, a
 *                          marker under chain_lock); new generations and larger mappings are
 *                          made by the deliverer's gov_pending_sync, which takes it only to swap
 *                          them in; nothing is taken under it, and it is never held while the
 *                          spool's lock is
 *   6. the spool's lock    internal to spool.c: an append (a write(2); an fdatasync when a
 *                          segment is full), removing acknowledged segments; the delivery
 *                          batch's fdatasync runs outside it
 *   gov.wake_lock          stop, and the two threads' wake-ups; taken alone
 *   gov.consent_request_lock
 *                          the consent HTTP handle, one request at a time; taken alone, only by
 *                          the consent poller and gov_check_consent. The one lock held across
 *                          network I/O: no hook, and no holder of another lock, ever waits on it.
 * No lock is held across a sink's delivery (a PUT, an audit log write): the deliverer copies
 * a batch out of the spool and sends it holding nothing.
 *
 * What the hooks read without a lock (atomics): the consent answer as last published (revoked,
 * consent_ok_ms, consent_fail_ms), delivery failing since (sink_fail_ms), write_failed, the
 * bytes served. revoke_reason is written once, before revoked is set, and never again. The
 * hooks never wait for a consent answer: a stale one makes them wake the poller and go on with
 * the last known answer (within the grace period). */
#ifndef CCRFS_GOVERNANCE_GOV_INTERNAL_H
#define CCRFS_GOVERNANCE_GOV_INTERNAL_H

#include "common/array.h"
#include "common/clock.h"
#include "governance/event.h"
#include "governance/gov.h"
#include "governance/http.h"
#include "governance/pending.h"
#include "governance/ranges.h"
#include "governance/sign.h"
#include "governance/sink.h"
#include "governance/spool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#define GOV_FILE_MAGIC         0x636372667346494cULL
#define GOV_MAX_SINKS          2
#define GOV_WHY_MAX            320   /* a refusal's reason */
#define GOV_ACCESS_BATCH       64    /* compact access entries per "access" event at most */
#define GOV_ACCESS_EVENT_BYTES 32768 /* ... and about this many bytes of them */
/* Spool room counted for each open whose record is not yet written (the compact form). */
#define GOV_ACCESS_ROOM 1024
/* acr: the default body limit of one PUT. CCF refuses bodies over 1 MB, and the sidecar
 * forwards the event base64-encoded (4/3) with its attestation (some KiB), so a batch of
 * 512 KiB arrives as about 700 KiB. */
#define GOV_ACR_BATCH_BYTES (512u * 1024)
/* acr: one PUT waits for the ledger commit. */
#define GOV_ACR_PUT_TIMEOUT_MS 20000
/* acr: entries taken from the spool per delivery round, enough to fill the batches of every PUT
 * in flight (events are rarely under 256 bytes), never fewer than 16,384. */
static inline size_t gov_acr_round_events(unsigned inflight, uint64_t batch_bytes)
{
    uint64_t n =
        (uint64_t)(inflight ? inflight : 4) * (batch_bytes ? batch_bytes : GOV_ACR_BATCH_BYTES) / 256;
    return n < 16384 ? 16384 : (size_t)n;
}

/* One open file: the handle the hooks get. */
struct gov_file {
    uint64_t magic;
    struct gov_file *next, *prev; /* gov.files, guarded by files_lock */
    pthread_mutex_t lock;
    char *path;
    uint64_t open_seq; /* seq of the open event: names this open in later events */
    int open_recorded; /* the open event is in the spool (always with full_access) */
    int deferred;      /* counted in gov.unrecorded until its record is in the spool */
    /* What the open event says, kept for a late open event or the compact access entry. */
    int flags;
    pid_t pid;
    uid_t uid;
    gid_t gid;
    char *process;
    int have_size;
    uint64_t size;
    int64_t opened_mono_ms, opened_wall_ms;
    struct ccr_array ranges; /* struct gov_range: sorted, disjoint; guarded by lock */
    uint64_t reads_pending, bytes_total, reads_total;
    int64_t first_pending_ms;
    struct gov_pending_file journal; /* its ranges in the pending journal; guarded by lock */
};

struct gov {
    struct gov_config cfg;
    char *contract, *scope, *url, *token;
    /* governance_api "acr": the sidecar's API (gov.c resolves the stream id and prefix). */
    int acr;
    char *stream_id, *path_prefix, *prefix_header;

    /* Recording (record.c). */
    pthread_mutex_t chain_lock;
    struct gov_chain chain;
    struct gov_spool *spool;
    struct gov_pending *pending; /* served ranges, written before their bytes go out */
    struct gov_key *key;
    char *key_b64;
    uint64_t since_checkpoint; /* guarded by chain_lock */
    atomic_int write_failed;   /* the spool could not be written: fail closed */

    /* Open files (hooks.c). */
    pthread_mutex_t files_lock;
    struct gov_file *files;

    /* Compact access entries of files closed before anything was recorded for them (hooks.c,
     * record.c): sealed as one "access" event when GOV_ACCESS_BATCH are waiting or the oldest
     * is flush_interval_ms old. */
    pthread_mutex_t access_lock;
    json_object *access;     /* array of entries, NULL when none; guarded by access_lock */
    int64_t access_first_ms; /* guarded by access_lock */
    atomic_llong unrecorded; /* open files and waiting entries not yet in the spool */

    /* Threads (deliver.c, consent.c). */
    pthread_mutex_t wake_lock;
    pthread_cond_t deliver_wake, consent_wake;
    int stop;                     /* guarded by wake_lock */
    atomic_int kick;              /* set by emitters; the deliverer is signalled only on 0 -> 1 */
    atomic_int consent_due;       /* set by a hook that found the answer stale */
    atomic_int consent_in_flight; /* a consent request is being made */
    pthread_t deliverer, consent_thread;
    int deliverer_started, consent_started;
    struct gov_sink *sinks[GOV_MAX_SINKS];
    size_t nsinks;

    /* The gate (gate.c): read by every hook, written by the threads above. */
    atomic_int revoked, withdrawing;            /* withdrawing: the reason is being written */
    atomic_int revocation_recorded;             /* the revocation event is in the chain */
    atomic_llong sink_fail_ms, consent_fail_ms; /* failing since; 0 when fine */
    atomic_llong denials_unrecorded;
    atomic_llong last_denial_ms;
    atomic_ullong bytes_served; /* counted against cfg.max_bytes_per_mount */
    char revoke_reason[256];

    /* Consent (consent.c). */
    pthread_mutex_t consent_request_lock;
    struct gov_http *consent_http; /* guarded by consent_request_lock */
    atomic_llong consent_ok_ms, consent_try_ms;
};

static inline int64_t gov_now_ms(void)
{
    return (int64_t)ccr_clock_mono_ms();
}

static inline void gov_ev_str(json_object *ev, const char *key, const char *val)
{
    json_object_object_add(ev, key, json_object_new_string(val != NULL ? val : ""));
}

static inline void gov_ev_int(json_object *ev, const char *key, int64_t val)
{
    json_object_object_add(ev, key, json_object_new_int64(val));
}

/* record.c */
/* Seals ev (taking it), appends it to the spool, and adds a checkpoint when one is due.
 * reserve: may use the spool's reserve. *seq_out, when given, receives the event's seq. */
int gov_emit(struct gov *g, json_object *ev, int reserve, uint64_t *seq_out);
/* gov_emit for an event that covers the journaled ranges of files[0..n): their marker is
 * written just before the event, and their hold on the journal dropped once it is sealed. */
int gov_emit_covering(struct gov *g, json_object *ev, int reserve, uint64_t *seq_out,
                      struct gov_pending_file *const *files, size_t n);
/* Seals the ranges an earlier run served but did not record (gov_pending_open), one event
 * per file, each marked "recovered". */
int gov_record_recovered(struct gov *g, struct gov_pending_recovered *rec, size_t n);
/* A signed checkpoint when events were recorded since the last one. */
int gov_checkpoint_now(struct gov *g);
/* Records a file's pending ranges as one read event (the file's lock held). */
int gov_flush_file_locked(struct gov *g, struct gov_file *f);
/* Records pending ranges older than the flush interval (or all with force), the opens of
 * compact files open that long, and waiting access entries. */
void gov_flush_reads(struct gov *g, int force);
/* Writes f's open event now if it was not yet (the file's lock held). */
int gov_record_open_locked(struct gov *g, struct gov_file *f);
/* Adds a closed file's compact entry (taking it); seals the batch when it is full. */
int gov_access_add(struct gov *g, json_object *entry);
/* A closed compact file's access entry (the file's lock held or the file no longer shared); NULL
 * when out of memory. */
json_object *gov_access_entry(struct gov_file *f);
/* Seals the waiting access entries as one event (all, or only when the oldest is due). */
int gov_access_flush(struct gov *g, int force);

/* gate.c */
/* 1 when opens and reads may be served; else 0 and why. */
int gov_gate(struct gov *g, char *why, size_t why_len);
/* Refuses op: counts it, records a denial (at most one per second); returns EACCES. */
int gov_deny(struct gov *g, const char *op, const char *path, pid_t pid, const char *reason);
/* Notes that something (delivery, consent) started failing now, unless it already was. */
void gov_note_failing(atomic_llong *since);

/* consent.c */
/* Parses a consent answer; EPROTO, naming what is wrong (or the error shape's code and
 * message), when it is not one. */
int gov_consent_parse(const char *body, size_t len, int *enabled, char *reason, size_t reason_len);
/* Called by hooks: when the last answer is stale and no request is in flight, wakes the
 * poller to ask now. Never waits. */
void gov_consent_nudge(struct gov *g);
/* Joins the poller (after gov.stop was set), when it was started. */
void gov_consent_stop(struct gov *g);

/* deliver.c */
void gov_kick_deliverer(struct gov *g);
int gov_deliverer_start(struct gov *g);
/* Joins the deliverer (after gov.stop was set), when it was started; then records pending
 * reads and a checkpoint and delivers what it can one last time. */
void gov_deliverer_stop(struct gov *g);

/* hooks.c */
void gov_files_free(struct gov *g);

#endif
