/* Canonical JSON: the exact bytes that are hashed and signed (events, contracts).
 * Object keys sorted by byte value, no whitespace, strings escaped as json-c does without
 * escaping '/', integers in decimal. Floating-point numbers are refused: nothing we sign
 * needs them and their text form is not stable. Documented in docs/GOVERNANCE.md. */
#ifndef CCRFS_GOVERNANCE_CANON_H
#define CCRFS_GOVERNANCE_CANON_H

#include <json-c/json.h>
#include <stddef.h>

/* Writes the canonical form of v into a malloc'd NUL-terminated string. Keys named in
 * skip (NULL-terminated list, may be NULL) are left out of the top-level object only.
 * EINVAL (with a message naming the key) on a double. */
int gov_canon_json(json_object *v, const char *const *skip, char **out, size_t *out_len);

/* Parses exactly one JSON value from text of len bytes; EINVAL with the position on
 * malformed input or trailing bytes. what names the input in the message. */
int gov_json_parse(const char *text, size_t len, const char *what, json_object **out);

/* Small accessors used by the strict parsers: NULL when absent or of another type. */
const char *gov_json_str(json_object *obj, const char *key);
int gov_json_int(json_object *obj, const char *key, long long *out); /* 0, ENOENT, EINVAL */
/* 0 when every member of obj is named in allowed (NULL-terminated); else EINVAL with
 * "DOC: WHERE: unknown field \"KEY\"". */
int gov_json_check_fields(json_object *obj, const char *doc, const char *where, const char *const *allowed);

#endif
