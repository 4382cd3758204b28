/* Opening a dataset for reading: the store a URL names, the DEK from the key source, and the
 * manifest authenticated and pinned. One sequence for every command that reads a dataset
 * (mount, verify, unpack, inspect), so each refuses the same things the same way.
 *
 * Every function returns 0 or a positive errno with a message (ccr_err_msg) that names the
 * store by its scrubbed URL: a SAS token or pre-signed query never appears in a message. */
#ifndef CCRFS_LAUNCH_DATASET_H
#define CCRFS_LAUNCH_DATASET_H

#include "fetch/store.h"
#include "format/dataset.h"
#include "keys/release.h"

/* Opens the store at url (a folder, file://, http(s)://, az://) with the options of the
 * environment (CA file, timeouts, Azure credentials): no secret is ever taken from argv. */
int launch_store_open(const char *url, struct fetch_store **out);

/* The dataset's id, computed from the manifest object's bytes before any key is asked for;
 * EPERM "dataset id mismatch" when expect_id is given and differs. */
int launch_dataset_id(struct fetch_store *store, const char *url, const char *expect_id,
                      char id[FMT_DATASET_ID_LEN + 1]);

/* What launch_dataset_open holds; each field is NULL until its step succeeded. */
struct launch_dataset {
    struct fetch_store *store;
    struct fmt_dek *dek;
    struct fmt_dataset *ds;
    struct keys_release_info key_info; /* who released the key, for the caller to report */
};

/* Opens the store, obtains the key from the source keys names (its dataset_store is set to
 * the store), and opens the dataset, pinned to expect_id when given. On failure nothing is
 * left open. */
int launch_dataset_open(const char *url, const struct keys_release_request *keys, const char *expect_id,
                        struct launch_dataset *out);
void launch_dataset_close(struct launch_dataset *d);

#endif
