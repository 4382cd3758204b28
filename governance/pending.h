/* The pending-range journal: every read's range is written here (write(2), so it is in the
 * kernel's page cache and outlives the daemon being killed) before its bytes are served, and
 * later coalesced into a sealed "read" or "access" event of the chain. On the next open of
 * the spool folder, ranges that no event covers are handed back to be sealed then.
 *
 * Files "pending-<gen>.log" in the spool folder, text lines:
 *   f <fid> <json>             what names an open file (path, pid, uid, process, open seq...);
 *                              "open": -1 says the open itself is in no event yet (a compact
 *                              open, journaled when it is made): owed until a marker covers
 *                              the file, then sealed on replay as an access entry without ranges
 *   r <fid> <offset> <length>  one range served
 *   s <mark> <seq> <fid>...    the event seq covers the files' ranges written before this line
 *   c <mark>                   that event was not made after all
 * A marker covers both the file's ranges and, with "open": -1, its open.
 * A marker is written before its event, so a kill between the two leaves a marker whose seq
 * the chain never reached: its ranges are replayed, never lost, and never recorded twice.
 * A generation is removed once every range in it is sealed; a new one starts past about
 * 1 MiB, so the journal stays small. The hooks' path is one store into the mapping under the
 * journal's lock; new generations and larger mappings are made by gov_pending_sync (the
 * deliverer), which takes the lock only to swap them in. Synced by gov_pending_sync (the deliverer's rounds):
 * power loss may take the ranges of the last round, a killed process none. */
#ifndef CCRFS_GOVERNANCE_PENDING_H
#define CCRFS_GOVERNANCE_PENDING_H

#include "common/array.h"

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct gov_pending;

/* What the journal knows of one open file (kept by the file, then by its compact entry). */
struct gov_pending_file {
    uint64_t fid;      /* 0: nothing written for it yet */
    uint64_t info_gen; /* generation holding its latest "f" record, 0: none */
    int64_t info_open; /* the open seq that record names, -1: none */
    uint64_t ref_gen;  /* generation of its oldest unsealed range, 0: all sealed */
};

/* What an "f" record says. open_seq -1: the open event is not in the chain (compact). */
struct gov_pending_info {
    const char *path, *process;
    int64_t open_seq;
    int flags;
    pid_t pid;
    uid_t uid;
    gid_t gid;
    int have_size;
    uint64_t size;
    int64_t opened_wall_ms;
};

/* A file whose ranges no event covers, found by gov_pending_open. */
struct gov_pending_recovered {
    uint64_t fid;
    json_object *info;       /* its last "f" record */
    struct ccr_array ranges; /* struct gov_range, sorted and merged */
    uint64_t reads, bytes;
    int open_owed;                /* a compact open no event covers (with or without ranges) */
    struct gov_pending_file file; /* names it in the marker of the event that seals it */
};

/* Opens the journal in dir, replaying what an earlier run left: markers whose seq is below
 * next_seq (the chain reached them) cover their ranges. *rec (malloc'd, *nrec entries) lists
 * files with ranges left over. A torn last line is cut off; any other bad line is EBADMSG
 * naming the file and line. */
int gov_pending_open(const char *dir, uint64_t next_seq, struct gov_pending **out,
                     struct gov_pending_recovered **rec, size_t *nrec);
void gov_pending_recovered_free(struct gov_pending_recovered *rec, size_t n);
/* The replayed ranges are sealed and synced: starts a fresh generation and removes the old
 * files. */
int gov_pending_restart(struct gov_pending *p);

/* Writes one served range (and pf's "f" record when this generation lacks it or the open
 * seq changed). The caller holds the file's lock. */
int gov_pending_read(struct gov_pending *p, struct gov_pending_file *pf, const struct gov_pending_info *info,
                     uint64_t off, uint64_t len);
/* Writes pf's "f" record alone: a compact open (info->open_seq -1), journaled as it is made so
 * that a kill before its first read or its release still leaves it to be sealed. Holds pf's
 * generation like a range does. The caller holds the file's lock or has not shared the file. */
int gov_pending_open_file(struct gov_pending *p, struct gov_pending_file *pf,
                          const struct gov_pending_info *info);
/* Before the event seq is sealed (chain lock held): a marker covering the files' ranges so
 * far. *mark is 0 when none of them had an unsealed range (nothing written). */
int gov_pending_mark(struct gov_pending *p, uint64_t seq, struct gov_pending_file *const *files, size_t n,
                     uint64_t *mark);
/* After the seal: sealed (ok) drops the files' hold on their generation; not sealed writes
 * the cancel record. Nonzero only when the cancel cannot be written. */
int gov_pending_mark_done(struct gov_pending *p, uint64_t mark, struct gov_pending_file *const *files,
                          size_t n, int ok);
/* Makes the journal durable (for power loss), and makes ahead what the hooks would otherwise
 * wait for under the lock: a larger mapping, the next generation, the removal of a drained
 * one. Outside the hooks' path. */
int gov_pending_sync(struct gov_pending *p);
/* Bytes in the current generation (tests and stats). */
uint64_t gov_pending_bytes(struct gov_pending *p);
/* Closes; with every range sealed, removes the files. */
void gov_pending_close(struct gov_pending *p);

#endif
