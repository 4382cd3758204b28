/* The claims a broker takes from an init-data document (Confidential Containers' format: TOML
 * with `version`, `algorithm` and a `[data]` table) once its digest matched the evidence:
 *   {"digest": HEX, "ccrfs": {"contract", "datasets": [{"id", "mode"[, "store"]}], "broker",
 *    "resources": [...], "governance"[, "governanceApi"]}}
 * "ccrfs" is ccrfs's entry, `[data]."ccrfs.json"`, a JSON string; it is absent when the
 * document has no such entry. The document is read by keys/initdata.h, as the mount reads it. */
#ifndef CCRFS_KEYS_BROKER_INITDATA_CLAIMS_H
#define CCRFS_KEYS_BROKER_INITDATA_CLAIMS_H

#include <stddef.h>
#include <stdint.h>

struct json_object;

/* The claims object (new reference) for a TOML body whose digest is digest[0..dlen). EINVAL
 * with a message naming what is malformed and where ("init-data: ccrfs.json: datasets[1]:
 * \"mode\" must be ...") when the document or ccrfs's entry is not well formed. */
int keys_initdata_claims(const char *toml, const uint8_t *digest, size_t dlen, struct json_object **out);

#endif
