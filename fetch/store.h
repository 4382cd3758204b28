/* The store interface: every backend (file, http(s), Azure Blob, S3, the fault-injecting test
 * store) is a struct of function pointers with a private pointer, in the manner of s3backer.
 * Layers wrap the store below them: fetch_faulty_create(conf, inner).
 *
 * Object keys are relative to the store's root (the dataset prefix): "manifest.ccrfs",
 * "blobs/<name>". All functions return 0 or a positive errno and may record a message with
 * ccr_err_set(). ENOENT: no such object; EACCES: refused; ESTALE: the object changed under
 * the reader; EIO: the store answered something it should not have. Every function may be
 * called from several threads at once. */
#ifndef CCRFS_FETCH_STORE_H
#define CCRFS_FETCH_STORE_H

#include <stddef.h>
#include <stdint.h>

#define FETCH_ETAG_MAX 128

struct fetch_object_info {
    uint64_t size;
    char etag[FETCH_ETAG_MAX]; /* "" when the backend has none */
    int64_t mtime;             /* seconds since the epoch, 0 when unknown */
};

/* Counters every layer keeps; read with get_stats. */
struct fetch_stats {
    uint64_t requests;      /* ranged reads, stats, lists and puts issued */
    uint64_t bytes_read;    /* payload bytes returned by read_range */
    uint64_t bytes_written; /* payload bytes accepted by put */
    uint64_t errors;        /* operations that failed after all retries */
    uint64_t retries;       /* attempts repeated after a transient failure */
    uint64_t in_flight;     /* requests under way right now */
};

/* One ranged read of a batch. result is set when the batch returns. */
struct fetch_range {
    const char *key;
    uint64_t offset;
    size_t len;
    void *buf;
    int result;
    /* Set with result: the object's whole size when the backend learnt it from the read itself
     * (Content-Range), so a caller needs no separate stat; 0 when it did not. */
    uint64_t object_size;
};

/* Where put() takes the bytes of the object from. */
struct fetch_source {
    uint64_t len;
    int (*read)(const struct fetch_source *src, uint64_t offset, void *buf, size_t len);
    const void *mem; /* for fetch_source_memory */
    int fd;          /* for fetch_source_fd */
};

typedef int (*fetch_list_cb)(void *arg, const char *key, const struct fetch_object_info *info);

struct fetch_store {
    const char *kind; /* "file", "http", "az", "faulty", ... */
    /* Reads exactly len bytes at offset; EIO when the object is shorter. NULL: read_many with
     * one range. */
    int (*read_range)(struct fetch_store *s, const char *key, uint64_t offset, size_t len, void *buf);
    /* Reads a batch, many in flight where the backend can; returns the first failure, and
     * each range carries its own result. NULL means: read_range one by one. */
    int (*read_many)(struct fetch_store *s, struct fetch_range *ranges, size_t n);
    int (*stat)(struct fetch_store *s, const char *key, struct fetch_object_info *info);
    /* Calls cb for every object whose key starts with prefix; cb returning non-zero stops
     * the walk and becomes the result. */
    int (*list)(struct fetch_store *s, const char *prefix, fetch_list_cb cb, void *arg);
    /* Creates or replaces the object; readers never see a partial object. */
    int (*put)(struct fetch_store *s, const char *key, const struct fetch_source *src);
    void (*get_stats)(struct fetch_store *s, struct fetch_stats *out);
    void (*destroy)(struct fetch_store *s);
    void *priv;
};

/* Options common to the URL-based stores; zero means the default. */
struct fetch_options {
    const char *ca_file; /* extra CA bundle for https */
    unsigned connect_timeout_ms;
    unsigned low_speed_time_s; /* abort a transfer slower than 1 KiB/s for this long */
    unsigned retry_budget_ms;  /* total time spent retrying one request */
    unsigned max_in_flight;    /* concurrent requests per store */
    const char *endpoint;      /* az://: service endpoint override (Azurite) */
    /* az:// credentials, tried in this order; secrets come from files or the environment
     * (fetch_options_from_env), never from the command line. */
    const char *az_sas_file;   /* a SAS token (query string) */
    const char *az_key_file;   /* a base64 Shared Key account key */
    const char *az_token_file; /* an OAuth bearer token */
    int az_managed_identity;   /* fetch bearer tokens from the managed-identity endpoint */
    /* s3://: the endpoint (scheme://host[:port]) and region, ahead of AWS_ENDPOINT_URL_S3,
     * AWS_ENDPOINT_URL, AWS_REGION, AWS_DEFAULT_REGION and the profile's region. Credentials
     * come from the AWS chain (fetch/s3.h), never from here. */
    const char *s3_endpoint;
    const char *s3_region;
};

/* Fills the options not yet set from CCRFS_STORE_*, CCRFS_AZURE_* and CCRFS_S3_* environment variables
 * (docs/STORES.md); EINVAL naming the variable when one is malformed. */
int fetch_options_from_env(struct fetch_options *opt);

/* Opens the store a URL names: a plain path or file://PATH, and whatever else the build
 * registers (http://, https://, az://, s3://). EINVAL with a message for an unknown scheme. */
int fetch_store_open(const char *url, const struct fetch_options *opt, struct fetch_store **out);

/* Wrappers that dispatch through the function pointers. */
int fetch_read_range(struct fetch_store *s, const char *key, uint64_t offset, size_t len, void *buf);
int fetch_read_many(struct fetch_store *s, struct fetch_range *ranges, size_t n);
int fetch_stat(struct fetch_store *s, const char *key, struct fetch_object_info *info);
int fetch_list(struct fetch_store *s, const char *prefix, fetch_list_cb cb, void *arg);
int fetch_put(struct fetch_store *s, const char *key, const struct fetch_source *src);
void fetch_get_stats(struct fetch_store *s, struct fetch_stats *out);
void fetch_store_destroy(struct fetch_store *s);

/* Object keys must stay inside the store: EINVAL (with a message) for an empty key, a leading
 * or trailing '/', an empty, "." or ".." segment, or a control character. */
int fetch_key_check(const char *key);
/* The object name of key under prefix ("" or a path without a trailing '/'), after
 * fetch_key_check; malloc'd. */
int fetch_key_join(const char *prefix, const char *key, char **out);

/* Reads a whole object of at most max_len bytes into a malloc'd buffer. */
int fetch_read_object(struct fetch_store *s, const char *key, size_t max_len, uint8_t **out, size_t *out_len);

void fetch_source_memory(struct fetch_source *src, const void *data, size_t len);
void fetch_source_fd(struct fetch_source *src, int fd, uint64_t len);

/* Backends. */
int fetch_file_create(const char *root, struct fetch_store **out);
/* http://HOST[:PORT]/PATH[?QUERY] and https://: the query (a SAS or pre-signed signature) is
 * kept on every object URL. */
int fetch_http_store_create(const char *url, const struct fetch_options *opt, struct fetch_store **out);
/* az://ACCOUNT/CONTAINER[/PREFIX]: Azure Blob storage (or Azurite through opt->endpoint). */
int fetch_az_create(const char *url, const struct fetch_options *opt, struct fetch_store **out);
/* s3://BUCKET[/PREFIX]: AWS S3 or an S3-compatible service (opt->s3_endpoint), SigV4-signed. */
int fetch_s3_create(const char *url, const struct fetch_options *opt, struct fetch_store **out);

/* The fault-injecting test store: wraps inner (and owns it from then on). Rates are in
 * parts per thousand of calls, decided by a generator seeded with seed. */
struct fetch_faulty_conf {
    unsigned error_permille;      /* fail a call with error_code */
    int error_code;               /* default EIO */
    unsigned short_read_permille; /* read_range fills only part of the buffer and fails with EIO */
    unsigned delay_ms;            /* sleep before every call */
    unsigned fail_first;          /* fail the first N calls, whatever the rates */
    unsigned seed;
};
int fetch_faulty_create(const struct fetch_faulty_conf *conf, struct fetch_store *inner,
                        struct fetch_store **out);

#endif
