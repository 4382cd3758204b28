/* Init-data: the launch configuration a confidential guest's platform binds at launch, in
 * Confidential Containers' format (Trustee kbs/docs/initdata.md; guest-components
 * attestation-agent initdata.rs): a TOML document with top-level `version` and `algorithm`
 * strings and a `[data]` table of strings. Its digest is the named algorithm over the exact
 * file bytes; SEV-SNP's HOST_DATA holds that digest cut or zero-padded to 32 bytes.
 *
 * ccrfs reads the subset CoCo writes and nothing else: bare or quoted keys, basic ("..."),
 * literal ('...') and multi-line ("""...""", '''...''') strings, comments; anything else
 * (numbers, arrays, inline tables, dotted keys, other tables) is refused with a message naming
 * the line and key. ccrfs's own entry is [data]."ccrfs.json" (docs/ATTESTATION.md,
 * "Init-data"); other entries (aa.toml, cdh.toml, policy.rego, ...) are kept and ignored. */
#ifndef CCRFS_KEYS_INITDATA_H
#define CCRFS_KEYS_INITDATA_H

#include "format/manifest.h"

#include <stddef.h>
#include <stdint.h>

#define KEYS_INITDATA_MAX_BYTES  (1024 * 1024) /* larger documents are refused */
#define KEYS_INITDATA_HOST_DATA  32            /* SEV-SNP HOST_DATA */
#define KEYS_INITDATA_CCRFS_KEY  "ccrfs.json"
#define KEYS_INITDATA_MAX_DIGEST 64

struct keys_initdata_entry {
    char *key, *value;
};

struct keys_initdata_dataset {
    char id[FMT_DATASET_ID_LEN + 1]; /* "sha256:<64 hex>" */
    char mode[16];                   /* "read-only", "no-egress" or "sink" */
    char *store;                     /* NULL when the document leaves the store open */
};

/* [data]."ccrfs.json": every member is optional; NULL / 0 where the document leaves it open. */
struct keys_initdata_ccrfs {
    char *governance;     /* governance service URL */
    char *governance_api; /* "ccrfs" or "acr" */
    char *contract;       /* contract id */
    char *broker;         /* key broker (KBS) URL */
    struct keys_initdata_dataset *datasets;
    size_t dataset_count;
    char **resources; /* KBS resource paths REPO/TYPE/TAG */
    size_t resource_count;
};

struct keys_initdata {
    char *text; /* the document exactly as read, NUL-terminated: what the digest covers */
    size_t len;
    char version[16];
    char algorithm[8]; /* "sha256", "sha384", "sha512" or "sm3" (kbs-types' HashAlgorithm) */
    uint8_t digest[KEYS_INITDATA_MAX_DIGEST];
    size_t digest_len;
    uint8_t host_data[KEYS_INITDATA_HOST_DATA]; /* the digest, cut or zero-padded */
    struct keys_initdata_entry *data;           /* [data], in document order */
    size_t data_count;
    int has_ccrfs; /* [data] holds "ccrfs.json" (parsed into ccrfs) */
    struct keys_initdata_ccrfs ccrfs;
};

/* Parses text (len bytes; NUL bytes are refused) and computes the digest. where names the
 * document in messages (a file name). 0 and *out (keys_initdata_free), or EINVAL with a message
 * naming the line and key, or ENOMEM. */
int keys_initdata_parse(const char *text, size_t len, const char *where, struct keys_initdata *out);
/* Reads and parses the file at path. */
int keys_initdata_load(const char *path, struct keys_initdata *out);
void keys_initdata_free(struct keys_initdata *d);

/* The [data] value of key, or NULL. */
const char *keys_initdata_get(const struct keys_initdata *d, const char *key);
/* The listed dataset with this id, or NULL. */
const struct keys_initdata_dataset *keys_initdata_dataset(const struct keys_initdata *d, const char *id);
/* 1 when the document lists resource (or lists none), else 0. */
int keys_initdata_lists_resource(const struct keys_initdata *d, const char *resource);

/* 0 when host_data (a report's HOST_DATA) equals the document's binding, compared in constant
 * time; EACCES with a message giving both values otherwise. */
int keys_initdata_check_host_data(const struct keys_initdata *d,
                                  const uint8_t host_data[KEYS_INITDATA_HOST_DATA]);

/* Parses just a "ccrfs.json" document (strict JSON; unknown members refused). Used by
 * keys_initdata_parse; exposed for tests. */
int keys_initdata_ccrfs_parse(const char *json, const char *where, struct keys_initdata_ccrfs *out);
void keys_initdata_ccrfs_free(struct keys_initdata_ccrfs *c);

#endif
