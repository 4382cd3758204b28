/* Where spooled events go: an audit log file (JSON lines) or the governance API.
 * deliver() sends a batch in order and returns 0 only when all of it is stored; a sink
 * drops events it already has (same id), so a batch replayed after a crash is harmless. */
#ifndef CCRFS_GOVERNANCE_SINK_H
#define CCRFS_GOVERNANCE_SINK_H

#include "governance/spool.h"

struct gov_sink {
    const char *name;
    int (*deliver)(struct gov_sink *s, const struct gov_spool_entry *e, size_t n);
    /* Instead of deliver, for sinks that store a batch in parts (several requests in flight):
     * *done = how many entries from the start are stored (a part after a failed one does not
     * count). 0 when nothing failed (*done may still be < n: the rest is for the next round). */
    int (*deliver_prefix)(struct gov_sink *s, const struct gov_spool_entry *e, size_t n, size_t *done);
    void (*destroy)(struct gov_sink *s);
    void *priv;
};

struct gov_sink_file_config {
    const char *path;
    uint64_t max_bytes; /* rotate (PATH -> PATH.N) once the file is this big; 0: never */
    unsigned max_age_s; /* ... or once its first event is this old; 0: never */
};

/* Appends to path (created 0600); learns, from what the file (or, when it holds none of
 * chain_id, the newest rotated file) holds already, the last seq of chain_id it has, so
 * replayed events are not written twice. Rotation is checked before each batch. */
int gov_sink_file_open(const struct gov_sink_file_config *cfg, const char *chain_id, struct gov_sink **out);
/* PUT <url>/events?id=<id>&scope=<scope> per event. */
int gov_sink_http_open(const char *url, const char *scope, const char *token, struct gov_sink **out);

/* The Azure Clean Room governance sidecar: the chain is one stream, PUT
 * <url>/events?id=<stream_id>&scope=<scope> with a body {"events":[...]} of whole events,
 * at most batch_bytes each, up to inflight PUTs at once on separate connections. */
struct gov_sink_acr_config {
    const char *url, *token;
    const char *stream_id;   /* id= */
    const char *scope;       /* scope= */
    const char *path_prefix; /* x-ms-ccr-governance-api-path-prefix; NULL: not sent */
    uint64_t batch_bytes;    /* body limit of one PUT */
    unsigned inflight;       /* PUTs in flight */
    long timeout_ms;         /* one PUT, answered after the ledger commit */
};
int gov_sink_acr_open(const struct gov_sink_acr_config *cfg, struct gov_sink **out);
/* Splits e[0..n) into consecutive batches whose body {"events":[l1,l2,...]} has at most
 * max_bytes (an event larger than that alone makes a batch of one); ends[i] is one past the
 * last entry of batch i. At most max_batches; *nbatches set. Exposed for tests. */
void gov_acr_split(const struct gov_spool_entry *e, size_t n, uint64_t max_bytes, size_t max_batches,
                   size_t *ends, size_t *nbatches);

#endif
