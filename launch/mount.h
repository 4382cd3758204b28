/* The mount sequence: every decision that makes a mount safe to serve, in one place and in
 * this order (docs/MOUNT.md, docs/CONTRACTS.md, docs/GOVERNANCE.md):
 *
 *   launch_prepare: under init-data, the guest's own report binds it (HOST_DATA); the mount
 *     point is usable; the store opens; the dataset's id is read from
 *     the manifest (and checked against the pin) or, for a sink, taken from the recipient's key;
 *     governance starts (spool, audit log, service); consent is asked; the contract is admitted
 *     (signatures of every party, validity, dataset, mode, purpose) and a use counted against its
 *     budget; the key is released; the dataset opens, pinned to the id read before the key was
 *     asked for; the key release and mount events are recorded; the file system is created.
 *   launch_start: mounts (needs /dev/fuse); launch_serve: serves until unmounted or signalled.
 *   launch_finish: the file system stops calling governance, the unmount is recorded (whenever
 *     the mount was), governance closes, the key is wiped and everything is released.
 *
 * A refusal (consent, contract, use budget, governance unreachable unless governance_optional)
 * is recorded as a "mount" denial before it is returned; a key that is not released as a
 * "key_release" denial. Nothing is served unless every step succeeded. launch_prepare makes the
 * process undumpable before any key exists in it (ccr_secmem_harden_process). */
#ifndef CCRFS_LAUNCH_MOUNT_H
#define CCRFS_LAUNCH_MOUNT_H

#include "fs/options.h"
#include "governance/gov.h"
#include "keys/initdata.h"
#include "keys/release.h"

struct launch_mount;

/* What the caller parsed. Strings are referenced, not copied: they must outlive the mount. */
struct launch_request {
    const char *store_url;            /* a folder, file://, http(s)://, az://; may hold a SAS query */
    const char *mountpoint;           /* an existing folder */
    struct keys_release_request keys; /* the key source; unused for a sink mount */
    const char *dataset_id;           /* "sha256:<64 hex>": refuse any other dataset; NULL: not pinned */
    const struct fs_options *opts;    /* mode, recipient, sizes, the options left for FUSE */
    /* Governance settings as given (gov_config_option). The sequence fills in the rest: the
     * spool and audit log defaults, the contract id of a contract file, the contract's limits. */
    struct gov_config gov;
    const char *contract_file; /* a signed contract read from a file (no service counts uses) */
    const char *purpose;       /* the purpose the mount says it is for; checked against the contract */
    int debug;                 /* trace every FUSE request */
    /* The guest's launch configuration (keys/initdata.h, launch/initdata.h), already applied to
     * the fields above; NULL: none. Before anything else, its digest must equal the HOST_DATA of
     * a report from keys.attest, and it is then sent with the key broker's attestation. */
    const struct keys_initdata *init_data;
};

/* Runs the sequence up to a created, not yet mounted file system. 0 and *out, or a positive
 * errno whose message says what refused or failed ("mount refused: ...", "key: ...", the
 * store's scrubbed URL, ...); nothing is left open then. Needs no /dev/fuse. */
int launch_prepare(const struct launch_request *req, struct launch_mount **out);

/* Mounts at the request's mount point: the kernel accepted it when this returns 0; EBUSY,
 * ENOTCONN etc. with a message otherwise. */
int launch_start(struct launch_mount *lm);

/* Serves requests until unmounted, or SIGINT, SIGTERM or SIGHUP. ready (may be NULL) is called
 * once, from another thread, when the mount answers (ok 1) or was found not to (ok 0). 0 after a
 * clean unmount. */
int launch_serve(struct launch_mount *lm, void (*ready)(void *arg, int ok), void *ready_arg);

/* Records the unmount, closes governance and releases everything. NULL is accepted. */
void launch_finish(struct launch_mount *lm);

/* The prepared mount's dataset id (for a sink, the recipient key's), and its source as shown in
 * /proc/mounts and recorded: the store URL without query string or userinfo. */
const char *launch_mount_dataset_id(const struct launch_mount *lm);
const char *launch_mount_source(const struct launch_mount *lm);

#endif
