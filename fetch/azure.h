/* Pieces of the Azure Blob store that the unit tests reach: the az:// URL, the Shared Key
 * signature, the List Blobs answer, and the managed-identity token answer. */
#ifndef CCRFS_FETCH_AZURE_H
#define CCRFS_FETCH_AZURE_H

#include "fetch/store.h"

#include <stddef.h>
#include <stdint.h>

#define FETCH_AZ_VERSION "2021-08-06"

/* az://ACCOUNT/CONTAINER[/PREFIX]: account 3-24 lowercase letters and digits, container
 * 3-63 of lowercase letters, digits and single hyphens, prefix without empty, "." or ".."
 * segments and without a trailing '/'. */
struct fetch_az_url {
    char *account, *container, *prefix; /* prefix "" when none */
};
int fetch_az_url_parse(const char *url, struct fetch_az_url *out);
void fetch_az_url_free(struct fetch_az_url *u);

struct fetch_az_header {
    const char *name; /* lowercase, "x-ms-..." */
    const char *value;
};

/* What the Shared Key string-to-sign is made of (Blob service, version 2009-09-19 and later). */
struct fetch_az_sign_req {
    const char *verb;
    uint64_t content_length; /* of the request body; 0 signs as empty */
    const char *content_type;
    const char *if_match;
    const char *range;
    const struct fetch_az_header *ms_headers;
    size_t n_ms;
    const char *account;
    const char *path;  /* the URL's path as sent, percent-encoded: "/container/blob" */
    const char *query; /* the URL's query without '?', or NULL */
};
/* The string-to-sign, malloc'd. EINVAL on a malformed query. */
int fetch_az_string_to_sign(const struct fetch_az_sign_req *r, char **out);
/* base64(HMAC-SHA256(key, sts)) into out (at least 45 bytes). */
int fetch_az_sign(const uint8_t *key, size_t key_len, const char *sts, char *out, size_t out_len);

/* One List Blobs answer page: calls cb for each blob (name as stored, size, ETag, mtime)
 * and sets *next_marker (malloc'd; NULL when this is the last page). Strict: EINVAL with a
 * message naming the problem on anything malformed, before any cb when possible. */
typedef int (*fetch_az_blob_cb)(void *arg, const char *name, const struct fetch_object_info *info);
int fetch_az_list_parse(const char *xml, size_t len, fetch_az_blob_cb cb, void *arg, char **next_marker);

/* A managed-identity token answer: {"access_token": "...", "expires_on": "<unix seconds>"}. */
int fetch_az_token_parse(const char *json, size_t len, char **token, int64_t *expires_on);

#endif
