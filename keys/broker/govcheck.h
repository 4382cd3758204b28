/* The broker's contract gate: before a release, ccrfs's governance service is asked whether
 * the contract the clean room's init-data names is active (signed by every party, inside its
 * validity, not revoked), names the dataset in the mode the init-data asks, and has a use
 * left; the release is then counted there (POST /contracts/ID/use, atomic). Any refusal, and
 * a service that cannot be asked, means no key. */
#ifndef CCRFS_KEYS_BROKER_GOVCHECK_H
#define CCRFS_KEYS_BROKER_GOVCHECK_H

#include <stddef.h>
#include <stdint.h>

struct json_object;
struct keys_govcheck;

struct keys_govcheck_use {
    uint64_t used, max_mounts, remaining;
};

/* url: the governance service (http or https); token: its bearer token (copied, wiped on
 * free) or NULL; ca_file: an extra CA for https, or NULL. */
int keys_govcheck_new(const char *url, const char *token, const char *ca_file, struct keys_govcheck **out);
void keys_govcheck_free(struct keys_govcheck *g);

/* Checks the contract for (dataset, mode) and counts one use. 0 with *use filled; EACCES when
 * governance refuses (revoked, expired, unsigned, unknown contract or dataset, another mode,
 * budget spent); EPROTO for an answer that cannot be read; a transport errno when the service
 * cannot be reached. reason always says why, in words fit for the KBS error and the log. */
int keys_govcheck_release(struct keys_govcheck *g, const char *contract, const char *dataset,
                          const char *mode, struct keys_govcheck_use *use, char *reason, size_t reason_len);

/* Which dataset a release of resource is for, and in which mode, from the session's
 * init_data claims: the dataset configured for the resource (map: resource -> dataset id,
 * may be NULL) when there is one, else the only dataset of the init-data that needs a key
 * (read-only or no-egress). The resource must be listed in the init-data's "resources" and
 * the dataset in its "datasets". 0 with dataset (72 bytes) and mode (16 bytes) filled, or
 * EACCES with reason. */
int keys_govcheck_target(struct json_object *claims, const char *resource, struct json_object *map,
                         char *dataset, char *mode, const char **contract, char *reason, size_t reason_len);

#endif
