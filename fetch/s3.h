/* Pieces of the S3 store that the unit tests reach: the s3:// URL, the endpoint and its
 * addressing style, the XML answers (ListObjectsV2, multipart upload, errors, STS), and the
 * credential chain (environment, web identity, shared files, instance metadata). */
#ifndef CCRFS_FETCH_S3_H
#define CCRFS_FETCH_S3_H

#include "fetch/store.h"

#include <stddef.h>
#include <stdint.h>

/* s3://BUCKET[/PREFIX]: bucket 3-63 of lowercase letters, digits, '.' and '-', starting and
 * ending with a letter or digit; prefix without empty, "." or ".." segments, no trailing '/'. */
struct fetch_s3_url {
    char *bucket, *prefix; /* prefix "" when none */
};
int fetch_s3_url_parse(const char *url, struct fetch_s3_url *out);
void fetch_s3_url_free(struct fetch_s3_url *u);

/* Where requests go: base is "scheme://authority" (no trailing '/'), host the Host header
 * (default port left out), path_style whether the bucket is the first path segment (else it
 * is the first label of the host). */
struct fetch_s3_endpoint {
    char *base;
    char *host;
    int path_style;
};
/* endpoint NULL: AWS (https://s3.REGION.amazonaws.com). style "auto" (or NULL), "path" or
 * "virtual": auto is path-style for an IP address or localhost, for a bucket with a '.' over
 * https (the certificate cannot match), and virtual-hosted otherwise, as the AWS SDKs do. */
int fetch_s3_endpoint_make(const char *endpoint, const char *region, const char *bucket, const char *style,
                           struct fetch_s3_endpoint *out);
void fetch_s3_endpoint_free(struct fetch_s3_endpoint *e);

/* The generic walk of a small XML document (fetch/az_xml.c's strict reader): cb gets each
 * element's path from the root (depth names) and its text when the element closes. The root
 * element must be named root; doc names the document in messages. */
typedef int (*fetch_xml_end_cb)(void *arg, const char *const *path, int depth, const char *text, size_t len);
int fetch_xml_walk(const char *xml, size_t len, const char *root, const char *doc, fetch_xml_end_cb cb,
                   void *arg);

/* One ListObjectsV2 page: cb for each object (Key, Size, ETag, LastModified), and the
 * NextContinuationToken (malloc'd) in *next when IsTruncated is true, else NULL. The page is
 * checked whole before the first cb. */
int fetch_s3_list_parse(const char *xml, size_t len, fetch_list_cb cb, void *arg, char **next);
/* InitiateMultipartUploadResult: the UploadId (malloc'd). */
int fetch_s3_upload_id_parse(const char *xml, size_t len, char **upload_id);
/* An <Error> answer: Code and Message into the buffers ("" when absent); EINVAL when the
 * body is not an S3 error document. */
int fetch_s3_error_parse(const char *xml, size_t len, char *code, size_t code_len, char *msg, size_t msg_len);

/* Temporary or long-term credentials. The secret and the session token live in locked
 * memory (common/secmem.h) and are wiped when freed. */
struct fetch_s3_creds {
    char *access_key_id;
    char *secret; /* secmem, secret_cap bytes */
    size_t secret_cap;
    char *token; /* secmem or NULL */
    size_t token_cap;
    int64_t expires; /* seconds since the epoch; 0 when they do not expire */
    char source[48]; /* "environment", "web identity", "shared credentials file", ... */
};
void fetch_s3_creds_free(struct fetch_s3_creds *c);
/* Fills the three values (copied into locked memory); EINVAL naming `where` when one is
 * empty or holds a control character or space. */
int fetch_s3_creds_set(struct fetch_s3_creds *c, const char *akid, const char *secret, const char *token,
                       const char *where);
/* An STS AssumeRoleWithWebIdentity answer (Credentials: AccessKeyId, SecretAccessKey,
 * SessionToken, Expiration). */
int fetch_s3_sts_parse(const char *xml, size_t len, struct fetch_s3_creds *c);
/* An instance metadata credentials document ({"Code":"Success","AccessKeyId",...,"Expiration"}). */
int fetch_s3_imds_parse(const char *json, size_t len, struct fetch_s3_creds *c);
/* "2026-11-21T07:00:00Z" (fractions and "+00:00" accepted) into seconds since the epoch. */
int fetch_s3_parse_time(const char *text, int64_t *out);

/* The value of key in [section] of an AWS shared credentials or config file (malloc'd in
 * locked memory when secret, else on the heap); ENOENT when the file, section or key is absent. */
int fetch_s3_ini_get(const char *path, const char *section, const char *key, int secret, char **out,
                     size_t *cap);

/* Where the credential chain looks (the environment as the AWS SDKs read it), so the tests can
 * point it at fakes. */
struct fetch_s3_cred_env {
    const char *access_key_id, *secret_access_key, *session_token; /* AWS_ACCESS_KEY_ID, ... */
    const char *web_identity_token_file, *role_arn, *role_session_name;
    const char *sts_endpoint; /* AWS_ENDPOINT_URL_STS; NULL: https://sts.REGION.amazonaws.com */
    const char *credentials_file, *config_file, *profile; /* AWS_SHARED_CREDENTIALS_FILE, ... */
    const char *imds_endpoint;                            /* AWS_EC2_METADATA_SERVICE_ENDPOINT */
    int imds_disabled;                                    /* AWS_EC2_METADATA_DISABLED=true */
    const char *region;
    const struct fetch_options *opt; /* timeouts and CA for STS and IMDS */
};
/* Reads the environment into e (strings point into it; files default under $HOME/.aws). */
void fetch_s3_cred_env_from_environ(struct fetch_s3_cred_env *e);
/* The first credentials found: environment, web identity (STS; from the environment or the
 * profile's web_identity_token_file and role_arn in the config file), the shared credentials file
 * then the config file for the profile, instance metadata (IMDSv2). ENOENT naming every
 * place looked at when none has any; another errno when a source is configured but fails. */
int fetch_s3_creds_resolve(const struct fetch_s3_cred_env *e, struct fetch_s3_creds *out);
/* The region of the profile in the config file, or NULL (malloc'd). */
char *fetch_s3_profile_region(const struct fetch_s3_cred_env *e);

#endif
