/* Where spooled events go: an audit log file (JSON lines) or the governance API.
 * deliver() sends a batch in order and returns 0 only when all of it is stored; a sink
 * drops events it already has (same id), so a batch replayed after a crash is harmless. */
#ifndef CCRFS_GOVERNANCE_SINK_H
#define CCRFS_GOVERNANCE_SINK_H

#include "governance/spool.h"

struct gov_sink {
    const char *name;
    int (*deliver)(struct gov_sink *s, const struct gov_spool_entry *e, size_t n);
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

#endif
