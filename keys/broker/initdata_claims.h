/* The claims a broker takes from an init-data document (Confidential Containers' format: TOML
 * with `version`, `algorithm` and a `[data]` table) once its digest matched the evidence:
 *   {"digest": HEX, "ccrfs": {"contract", "datasets": [{"id", "mode"[, "store"]}], "broker",
 *    "resources": [...], "governance"[, "governanceApi"]}}
 * "ccrfs" is ccrfs's entry, `[data]."ccrfs.json"`, a JSON string; it is absent when the
 * document has no such entry. Only what the broker needs is read from the TOML: this reader
 * stands in for a shared init-data parser and has the same contract. */
#ifndef CCRFS_KEYS_BROKER_INITDATA_CLAIMS_H
#define CCRFS_KEYS_BROKER_INITDATA_CLAIMS_H

#include <stddef.h>
#include <stdint.h>

struct json_object;

/* The claims object (new reference) for a TOML body whose digest is digest[0..dlen). EINVAL
 * with a message naming what is malformed and where ("init-data: ccrfs.json: datasets[1]:
 * \"mode\" must be ...") when the document or ccrfs's entry is not well formed. */
int keys_initdata_claims(const char *toml, const uint8_t *digest, size_t dlen, struct json_object **out);

/* The value of `[data]."KEY"` as a malloc'd string: 0, ENOENT when there is none, EINVAL when
 * the TOML around it cannot be read. */
int keys_initdata_data_entry(const char *toml, const char *key, char **out);

#endif
