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

/* Appends to path (created 0600); learns, from what the file holds already, the last seq of
 * chain_id it has, so replayed events are not written twice. */
int gov_sink_file_open(const char *path, const char *chain_id, struct gov_sink **out);
/* PUT <url>/events?id=<id>&scope=<scope> per event. */
int gov_sink_http_open(const char *url, const char *scope, const char *token, struct gov_sink **out);

#endif
