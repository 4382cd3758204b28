/* Audit events and their hash chain (format in docs/GOVERNANCE.md).
 * Every event carries v, id ("<chain>-<seq>"), chain, seq, time, type, prev (hash of the
 * previous event, 64 zeros for the first) and hash = SHA-256 of the canonical form of the
 * event without "hash". The line written to a log is the canonical form with "hash". */
#ifndef CCRFS_GOVERNANCE_EVENT_H
#define CCRFS_GOVERNANCE_EVENT_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#define GOV_EVENT_VERSION 1
#define GOV_CHAIN_ID_HEX  32 /* 16 random bytes */
#define GOV_HASH_HEX      64

struct gov_chain {
    char id[GOV_CHAIN_ID_HEX + 1];
    uint64_t next_seq;
    char head[GOV_HASH_HEX + 1]; /* hash of the last event, zeros before the first */
};

/* A fresh chain with a random id. */
int gov_chain_init(struct gov_chain *c);

/* Current UTC time as "YYYY-MM-DDTHH:MM:SS.mmmZ". */
void gov_time_now(char out[32]);
/* Parses that form (milliseconds optional) into ms since the epoch; EINVAL otherwise. */
int gov_time_parse_ms(const char *text, int64_t *ms);

/* A new event object of the given type with the common fields to be filled by seal. */
json_object *gov_event_new(const char *type);

/* Adds v, id, chain, seq, time, prev and hash to ev, advances the chain and writes the
 * canonical line (no newline) into a malloc'd string. */
int gov_event_seal(struct gov_chain *c, json_object *ev, char **line, size_t *line_len);

struct gov_key;
/* Like gov_event_seal, and signs the event (a checkpoint) with key: "sig" covers the
 * canonical form without "hash" and "sig"; the hash then covers "sig" too. */
int gov_event_seal_signed(struct gov_chain *c, json_object *ev, const struct gov_key *key, char **line,
                          size_t *line_len);

/* Recomputes the hash of a parsed event (canonical form without "hash"). */
int gov_event_hash(json_object *ev, char out[GOV_HASH_HEX + 1]);

/* The bytes a checkpoint signature covers: the canonical form without "hash" and "sig". */
int gov_checkpoint_signed_bytes(json_object *ev, char **out, size_t *out_len);

#endif
