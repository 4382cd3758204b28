/* Governance for one mount: records every mount, key release, open, read (coalesced byte
 * ranges), release, denial, integrity failure, revocation and unmount as hash-chained
 * events; delivers them through a durable spool to an audit log file and/or a governance
 * service; checks consent before mounting and every few seconds after; fails closed
 * (EACCES on opens and reads) when it cannot record, or consent is withdrawn.
 * Event format: docs/GOVERNANCE.md. */
#ifndef CCRFS_GOVERNANCE_GOV_H
#define CCRFS_GOVERNANCE_GOV_H

#include "fs/hooks.h"
#include "keys/release.h"

#include <stddef.h>
#include <stdint.h>

struct gov;

#define GOV_ACR_INFLIGHT_MAX 64 /* acr: gov_inflight at most */

struct gov_config {
    const char *audit_log;        /* audit log file (JSON lines); NULL for none */
    const char *governance_url;   /* governance API (events and consent); NULL for none */
    const char *token_file;       /* bearer token for governance_url; NULL: $CCRFS_GOV_TOKEN if set */
    const char *contract_id;      /* named in every event and in consent checks; NULL for none */
    const char *scope;            /* scope= of PUT /events; NULL: "ccrfs" */
    const char *spool_dir;        /* required: the durable spool (one process at a time) */
    uint64_t spool_max_bytes;     /* 0: 64 MiB. Past it, opens and reads are refused */
    unsigned grace_seconds;       /* governance unreachable longer than this: fail closed; 0: 30 */
    int governance_optional;      /* 1: never fail closed because governance is unreachable */
    unsigned consent_interval_s;  /* 0: 5 */
    unsigned flush_interval_ms;   /* read ranges recorded at least this often; 0: 1000 */
    unsigned flush_ranges;        /* ... or when a file holds more distinct ranges than this; 0: 64 */
    unsigned checkpoint_events;   /* a signed checkpoint every N events; 0: 1000 */
    const char *signing_key_file; /* PEM private key; NULL: a local key kept in spool_dir */
    /* An OpenSSL EVP_PKEY (Ed25519 or P-256 private key) to sign with instead, e.g. the key
     * whose public half the attestation evidence binds; referenced, not taken. */
    struct evp_pkey_st *signing_pkey;
    /* Set when the signing key's public half is bound into attestation evidence (e.g.
     * "snp report_data=sha256(key)"); recorded with each checkpoint. NULL: a local key. */
    const char *signing_key_attestation;
    /* Called once when consent is withdrawn: the mount code wipes keys and the cache. */
    void (*on_revoke)(void *arg, const char *reason);
    void *on_revoke_arg;
    /* Bytes one mount may serve (the contract's maxBytesPerMount); reads past it are refused
     * with EACCES and a denial. 0: no byte budget. */
    uint64_t max_bytes_per_mount;
    /* Wall-clock end of the contract's validity (ms since the epoch): opens, reads and uploads
     * are refused from then on, even with no governance service to say so. 0: none. */
    int64_t not_after_ms;
    /* Optional: the size of a file by its path, recorded with each open so reports can say
     * what share of a file was read. Called from the open hook; must not block. */
    int (*file_size)(void *arg, const char *path, uint64_t *size);
    void *file_size_arg;
    /* 0 (the default, the compact form): an open closed before anything was recorded for it
     * costs one entry of an "access" event (sealed with other such entries within
     * flush_interval_ms), journaled when it is made so a killed daemon still records it; an open
     * that stays open longer gets its open event after flush_interval_ms, as in the full form.
     * 1 (-o audit_full): every open is sealed as an open event before it returns, then read and
     * release events. */
    int full_access;
    /* Rotation of audit_log: a full file is renamed audit_log.N (N = 1, 2, ... oldest first)
     * and a new one started, the chain continuing. 0: never by size / by age. */
    uint64_t audit_log_max_bytes;
    unsigned audit_log_max_age_s;
    /* The governance API governance_url speaks: "ccrfs" (NULL: ccrfs's own service, one PUT per
     * event, consent asked with ?contract=) or "acr" (Azure Clean Room's governance sidecar:
     * the chain is one stream, events go in batches, consent as the sidecar answers it). */
    const char *governance_api;
    /* acr: id= of the stream: NULL or "chain": the chain id; "contract": the contract id;
     * anything else as given. */
    const char *stream_id;
    /* acr: sent as x-ms-ccr-governance-api-path-prefix (a sidecar serving several contracts);
     * "contract": app/contracts/<contract_id>. NULL: not sent (the sidecar's own setting). */
    const char *api_path_prefix;
    uint64_t batch_bytes; /* acr: body limit of one PUT; 0: 512 KiB */
    unsigned inflight;    /* acr: PUTs in flight at once (at most GOV_ACR_INFLIGHT_MAX); 0: 4 */
    int consent_query;    /* acr: also send ?contract= with the consent check */
};

/* Applies one mount option ("-o key=value") to cfg; cfg keeps value by pointer, so it must
 * outlive cfg. Keys: audit_log, governance, gov_token_file, contract, gov_scope, spool,
 * spool_max (bytes, K/M/G suffix), grace, consent_interval, flush_interval_ms, flush_ranges,
 * checkpoint_events, audit_key, governance_optional (no value), audit_full (no value),
 * audit_compact (no value; the default, accepted and ignored),
 * audit_log_max_bytes (K/M/G), audit_log_max_age (seconds), governance_api (ccrfs|acr),
 * gov_stream_id, gov_path_prefix, gov_batch_bytes (K/M), gov_inflight, gov_consent_query
 * (no value). ENOENT when key is not a
 * governance option; EINVAL, naming the option, when the value is bad. */
int gov_config_option(struct gov_config *cfg, const char *key, const char *value);

struct json_object;

struct gov_mount_info {
    const char *mountpoint;
    const char *dataset_id; /* "sha256:..." */
    const char *source;     /* store URL, without credentials */
    const char *mode;       /* "read-only", "no-egress", "sink" */
    /* The contract's "constraints" and "terms" (a DEPA contract's privacy budgets, a ccrfs
     * contract's terms), recorded as written; NULL when there are none. ccrfs does not enforce
     * them. */
    const struct json_object *constraints, *terms;
};

/* Opens the spool (replaying what an earlier run left), the sinks, and starts delivery. */
int gov_open(const struct gov_config *cfg, struct gov **out);
/* Asks governance whether the contract is enabled and records the answer. 0: enabled (or no
 * governance URL configured); EACCES: disabled, with the reason as the message; a transport
 * errno when governance cannot be reached. Starts the periodic checks after a success; the hooks
 * never ask governance themselves (they use the last answer), so without this call consent is
 * not checked after mounting. */
int gov_check_consent(struct gov *g);
/* The record_* calls return 0, or an errno when the event could not be spooled (spool full,
 * disk error): the mount code should then refuse to mount. */
int gov_record_mount(struct gov *g, const struct gov_mount_info *m);
/* Records which broker released the key against which evidence, or "unattested key file". */
int gov_record_key_release(struct gov *g, const struct keys_release_info *info);
/* A refusal decided outside governance (e.g. a use budget spent). */
int gov_record_denial(struct gov *g, const char *op, const char *path, const char *reason);
/* Records pending reads and the unmount, and signs the chain head at once. */
int gov_record_unmount(struct gov *g, const char *reason);
/* Set after gov_open, before the filesystem calls the hooks: the byte budget and the end of
 * the contract's validity (as the gov_config fields of the same names), known only once the
 * contract was checked; and the file size lookup, known only once the manifest is open. */
void gov_set_limits(struct gov *g, uint64_t max_bytes_per_mount, int64_t not_after_ms);
void gov_set_file_size(struct gov *g, int (*file_size)(void *arg, const char *path, uint64_t *size),
                       void *arg);
/* Fills the filesystem's hooks with this governance object: on_open, on_read (also counts
 * the byte budget), on_release, on_integrity_failure, on_upload (consent, then an "upload"
 * event). */
void gov_fs_hooks(struct gov *g, struct fs_access_hooks *out);
/* Records pending reads, delivers everything it can within timeout_ms; 0 when the spool
 * is empty afterwards, ETIMEDOUT otherwise. */
int gov_flush(struct gov *g, unsigned timeout_ms);
/* 1 when opens and reads are allowed; else 0 and why. */
int gov_serving(struct gov *g, char *why, size_t why_len);
/* Final read records, a signed checkpoint, last delivery attempt (what is left stays in the
 * spool for the next start), then frees everything. Call it after the filesystem has stopped
 * calling the hooks. */
void gov_close(struct gov *g);

#endif
