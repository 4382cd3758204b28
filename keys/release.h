/* Getting the DEK: one entry point, whatever the source. The filesystem calls only this,
 * so nothing in fs/ depends on where the key came from. */
#ifndef CCRFS_KEYS_RELEASE_H
#define CCRFS_KEYS_RELEASE_H

#include "format/dek.h"

struct fetch_store;

struct keys_release_request {
    /* Exactly one source is set. */
    const char *key_file; /* local testing: a raw 32-byte key file, unattested */
    const char *kbs_url;  /* a Trustee KBS (RCAR protocol 0.4.0), e.g. http://127.0.0.1:8080 */
    const char *resource; /* with kbs_url: REPO/TYPE/TAG */
    const char *attest;   /* with kbs_url: "sim:DIR" (simulated SEV-SNP), "snp" or "aa:URL" */
    const char *skr_url;  /* Azure Secure Key Release sidecar, e.g. http://127.0.0.1:8284 */
    const char *skr_maa_endpoint, *skr_akv_endpoint, *skr_kid;
    const char *unwrap_key_file;       /* a recipient's RSA private key (PEM) that unwraps dek.wrapped.json:
                                          outputs of a sink mount, sealed for that recipient */
    struct fetch_store *dataset_store; /* where dek.wrapped.json lives (SKR, unwrap key) */
    const char *ca_file;               /* extra CA bundle for https brokers */
};

struct keys_release_info {
    int attested;      /* 1 when a broker released the key against hardware evidence */
    char method[32];   /* "key-file", "kbs", "azure-skr" */
    char broker[256];  /* the broker URL, "" for a key file */
    char evidence[32]; /* "none", "sim", "snp" */
    char detail[512];  /* e.g. the measurement the broker saw, in hex; never key bytes */
};

/* Obtains the DEK into locked memory. A refusal is an error with a message saying who
 * refused and why (EACCES), or what could not be reached (EHOSTUNREACH / ECONNREFUSED). */
int keys_release_obtain(const struct keys_release_request *req, struct fmt_dek **dek,
                        struct keys_release_info *info);

#endif
