/* AWS Signature Version 4 (header signing), as S3 and STS check it: the canonical request,
 * the string to sign, the derived signing key and the Authorization header. Kept apart from
 * the store so the unit tests can hold it against AWS's published test suite and botocore. */
#ifndef CCRFS_FETCH_SIGV4_H
#define CCRFS_FETCH_SIGV4_H

#include <stddef.h>
#include <time.h>

#define FETCH_SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define FETCH_SIGV4_UNSIGNED     "UNSIGNED-PAYLOAD"
#define FETCH_SIGV4_AUTH_MAX     1024

struct fetch_sigv4_header {
    const char *name; /* any case; signed in lowercase */
    const char *value;
};

struct fetch_sigv4_req {
    const char *method;
    const char *path;                         /* the URL's path as sent (percent-encoded); "" signs as "/" */
    const char *query;                        /* the URL's query without '?', or NULL */
    const struct fetch_sigv4_header *headers; /* every header signed, host included */
    size_t n_headers;
    const char *payload_hash; /* lowercase hex SHA-256 of the body, or FETCH_SIGV4_UNSIGNED */
    const char *amz_date;     /* "YYYYMMDDTHHMMSSZ", as in the x-amz-date header */
    const char *region;
    const char *service; /* "s3", "sts", ... */
    const char *access_key_id;
    const char *secret; /* the secret access key */
    size_t secret_len;
};

/* The canonical request and the string to sign (malloc'd). EINVAL on a malformed query or a
 * header name that is not a token. */
int fetch_sigv4_canonical_request(const struct fetch_sigv4_req *r, char **out);
int fetch_sigv4_string_to_sign(const struct fetch_sigv4_req *r, char **out);
/* "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..." into out. */
int fetch_sigv4_authorization(const struct fetch_sigv4_req *r, char *out, size_t out_len);
/* The x-amz-date form of t (UTC) into out (at least 17 bytes). */
void fetch_sigv4_amz_date(time_t t, char *out, size_t out_len);
/* Lowercase hex SHA-256 of data into out (65 bytes). */
int fetch_sigv4_sha256_hex(const void *data, size_t len, char *out);

#endif
