/* The broker's resources at rest: one file per resource under STATE/resources/, each value
 * sealed with AES-256-GCM under a key derived from the broker master key (STATE/master.key,
 * 32 random bytes, mode 0600), with the resource name as associated data so files cannot be
 * swapped. Files rather than SQLite: a resource is written whole and rarely, an atomic rename
 * is all the durability needed, and an operator can back up or inspect the folder with plain
 * tools (nothing in it is readable without the master key). */
#ifndef CCRFS_KEYS_BROKER_STORE_H
#define CCRFS_KEYS_BROKER_STORE_H

#include <stddef.h>
#include <stdint.h>

struct keys_rstore;

/* Opens (creating when absent) the state folder and its master key. */
int keys_rstore_open(const char *dir, struct keys_rstore **out);
/* Stores or replaces a resource: its release policy (JSON text) and its value. */
int keys_rstore_put(struct keys_rstore *rs, const char *name, const char *policy_json, const uint8_t *value,
                    size_t len);
/* Reads a resource: *policy_json malloc'd; *value locked memory of *len bytes
 * (ccr_secmem_free). ENOENT when there is no such resource; EBADMSG when its file does not
 * authenticate. value may be NULL to read only the policy. */
int keys_rstore_get(struct keys_rstore *rs, const char *name, char **policy_json, uint8_t **value,
                    size_t *len);
int keys_rstore_delete(struct keys_rstore *rs, const char *name);
/* Calls cb for each resource name and its policy text. */
int keys_rstore_list(struct keys_rstore *rs, int (*cb)(void *arg, const char *name, const char *policy_json),
                     void *arg);
void keys_rstore_close(struct keys_rstore *rs);

#endif
