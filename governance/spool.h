/* The durable local spool: every sealed event is appended here before anything else sees
 * it, synced in batches, and removed only once every sink has acknowledged it. Segment
 * files "seg-<first seq>.log" of event lines, plus "acked" (the next unacknowledged seq).
 * On open, a spool left by a crash is checked (hash chain, sequence) and its unacknowledged
 * events are queued again; a torn last line is cut off. One process per spool (flock). */
#ifndef CCRFS_GOVERNANCE_SPOOL_H
#define CCRFS_GOVERNANCE_SPOOL_H

#include "governance/event.h"

#include <stddef.h>
#include <stdint.h>

struct gov_spool;

struct gov_spool_entry {
    uint64_t seq;
    char *line; /* canonical event line, no newline */
    size_t len;
};

/* Opens (creating) the spool in dir. *chain continues the spool's chain, or is a new one.
 * *replayed counts unacknowledged events found from an earlier run. */
int gov_spool_open(const char *dir, uint64_t max_bytes, struct gov_spool **out, struct gov_chain *chain,
                   size_t *replayed);
/* Appends one line (written, not yet synced). ENOSPC when the spool is full; with
 * reserve=1 a small margin past the limit may be used (for the denial that says so). */
int gov_spool_append(struct gov_spool *s, uint64_t seq, const char *line, size_t len, int reserve);
/* Makes every appended line durable. */
int gov_spool_sync(struct gov_spool *s);
/* Copies up to max synced, unacknowledged entries (oldest first) into *out (malloc'd). */
int gov_spool_peek(struct gov_spool *s, size_t max, struct gov_spool_entry **out, size_t *count);
void gov_spool_entries_free(struct gov_spool_entry *e, size_t count);
/* Every sink has the events up to and including seq: forget them. */
int gov_spool_ack(struct gov_spool *s, uint64_t seq);
/* Bytes on disk, and whether a new ordinary append would be refused. */
uint64_t gov_spool_bytes(struct gov_spool *s);
int gov_spool_is_full(struct gov_spool *s);
size_t gov_spool_pending(struct gov_spool *s);
/* The seq of the chain's last checkpoint (-1: none yet), so a restarted run counts the
 * events since then correctly; noted durably by gov_spool_note_checkpoint. */
int64_t gov_spool_last_checkpoint(struct gov_spool *s);
int gov_spool_note_checkpoint(struct gov_spool *s, uint64_t seq);
void gov_spool_close(struct gov_spool *s);

#endif
