/* Reading a trail back from Azure Clean Room's governance (CGS, or the CCF application behind
 * it) or from `ccrfs gov serve`: GET <url>/contracts/<contract>/events?id=&scope=&from_seqno=
 * pages through the writes of one stream (nextLink; 202 with retry-after while the ledger
 * loads historical state), and the batches ({"events":[...]}) are unpacked into the original
 * events, ordered by chain and seq, duplicates (a batch sent twice) dropped. */
#ifndef CCRFS_GOVERNANCE_HISTORY_H
#define CCRFS_GOVERNANCE_HISTORY_H

#include <stddef.h>
#include <stdint.h>

struct gov_history_opts {
    const char *url;      /* CGS or the service */
    const char *token;    /* bearer token or NULL */
    const char *contract; /* required */
    const char *id;       /* the stream; required */
    const char *scope;    /* NULL: "ccrfs" */
    int64_t from_seqno;   /* 0: 1 (the whole history) */
    int64_t to_seqno;     /* 0: up to the last write */
    int64_t page_seqnos;  /* max_seqno_per_page; 0: the server's default (2000) */
    unsigned max_wait_s;  /* give up after waiting this long for one page; 0: 120 */
};

struct gov_history_stats {
    size_t pages, waits; /* pages read, 202 answers waited out */
    size_t writes;       /* stream writes (PUTs) read */
    size_t events;       /* distinct events, written */
    size_t duplicates;   /* identical copies dropped */
    size_t gaps;         /* places where seq jumps within a chain */
    size_t chains;
};

/* Fetches the stream and calls fn with each event's canonical line, in (chain, seq) order;
 * gap (when not NULL) is told about each jump in seq. EBADMSG for a write that is not a
 * ccrfs event or batch, or for two different events with one (chain, seq). */
int gov_history_fetch(const struct gov_history_opts *o, int (*fn)(void *arg, const char *line, size_t len),
                      void *arg, void (*gap)(void *arg, const char *chain, uint64_t after, uint64_t next),
                      struct gov_history_stats *stats);

#endif
