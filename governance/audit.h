/* The auditor's side: verifying a stream of events (hash chain, sequence, checkpoint
 * signatures and counts) and summarising who read what. Events arrive one line at a time,
 * from an audit log file or from the governance service's event query. */
#ifndef CCRFS_GOVERNANCE_AUDIT_H
#define CCRFS_GOVERNANCE_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct gov_audit;
struct gov_key;

struct gov_audit_summary {
    size_t events, chains, checkpoints;
    size_t unsigned_tail; /* events after the last checkpoint of their chain, over all chains */
    size_t keys;          /* distinct checkpoint keys seen */
};

/* pin, when given, is the only key checkpoints may be signed with. */
int gov_audit_new(const struct gov_key *pin, struct gov_audit **out);
void gov_audit_free(struct gov_audit *a);
/* Attested verification: every mount event must carry an "attestation" object and every
 * checkpoint must say key_source "attested" and carry one; fn must accept it for the key that
 * signed (base64 DER SPKI): 0, or an errno with a message saying why not. Called once per
 * distinct key and evidence. */
struct json_object;
typedef int (*gov_audit_attest_fn)(void *arg, struct json_object *attestation, const char *key_b64);
void gov_audit_require_attested(struct gov_audit *a, gov_audit_attest_fn fn, void *arg);
/* Mount events whose attestation fn accepted. */
size_t gov_audit_attested_mounts(const struct gov_audit *a);
/* Checks one event line (where names it in messages, e.g. "line 12"). EBADMSG with a message
 * naming the event and what is wrong; after a failure the audit stops accepting events. */
int gov_audit_add(struct gov_audit *a, const char *line, size_t len, const char *where);
void gov_audit_summary(const struct gov_audit *a, struct gov_audit_summary *s);
/* Prints the checkpoint keys seen, one "alg source key" per line. */
void gov_audit_print_keys(const struct gov_audit *a, FILE *out);

enum gov_report_format { GOV_REPORT_TABLE, GOV_REPORT_JSON, GOV_REPORT_CSV };
enum gov_report_by { GOV_REPORT_BY_FILE, GOV_REPORT_BY_PROCESS };
/* Writes the per-file (or per-process) access report of everything added so far. */
int gov_audit_report(const struct gov_audit *a, enum gov_report_format fmt, enum gov_report_by by, FILE *out);

#endif
