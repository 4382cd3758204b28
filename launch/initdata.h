/* A mount under init-data (keys/initdata.h): the launch configuration the platform bound into
 * the guest's attestation decides the governance service and API, the contract, the dataset
 * and its mode, the store and the key broker and resource. What the command line leaves open
 * is taken from it; what contradicts it is refused naming both values (docs/MOUNT.md,
 * "--init-data"). The HOST_DATA check itself is a step of the mount sequence (launch/mount.h). */
#ifndef CCRFS_LAUNCH_INITDATA_H
#define CCRFS_LAUNCH_INITDATA_H

#include "fs/options.h"
#include "governance/gov.h"
#include "keys/initdata.h"
#include "keys/release.h"

/* What the command line gave; filled in from the init-data. Strings set from it point into the
 * init-data, which must outlive the mount. */
struct launch_initdata_args {
    struct gov_config *gov;            /* governance_url, governance_api, contract_id */
    struct keys_release_request *keys; /* kbs_url, resource (key_file, skr_url contradict a broker) */
    const char *store_url;             /* STORE_URL as given (a query in it is never shown) */
    char *dataset_id;                  /* FMT_DATASET_ID_LEN + 1 bytes: "" or the --dataset-id pin */
    enum fs_access_mode *mode;
    int mode_given; /* -o mode= was on the command line */
};

/* Applies init-data (which must hold [data]."ccrfs.json") to the arguments. 0, or EINVAL with
 * a message naming the argument, its value and the init-data's. */
int launch_initdata_apply(const struct keys_initdata *d, const char *file, struct launch_initdata_args *a);

#endif
