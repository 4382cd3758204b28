/* The S3 answers read with the strict XML reader: ListObjectsV2 pages, the multipart upload
 * id, error documents and STS credentials; and the s3:// URL with its endpoint. */
#include "fetch/s3.h"
#include "fetch/http.h"
#include "common/array.h"
#include "common/err.h"
#include "common/secmem.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void fetch_s3_url_free(struct fetch_s3_url *u)
{
    free(u->bucket);
    free(u->prefix);
    memset(u, 0, sizeof *u);
}

int fetch_s3_url_parse(const char *url, struct fetch_s3_url *out)
{
    const char *p, *slash;
    size_t n;

    memset(out, 0, sizeof *out);
    if (strncmp(url, "s3://", 5) != 0)
        return ccr_err_set(EINVAL, "not an s3:// URL");
    if (strpbrk(url, "?#") != NULL)
        return ccr_err_set(EINVAL, "s3:// URLs take no query; credentials come from the environment, the "
                                   "shared files or instance metadata");
    p = url + 5;
    slash = strchr(p, '/');
    n = slash ? (size_t)(slash - p) : strlen(p);
    if (n < 3 || n > 63 || !isalnum((unsigned char)p[0]) || !isalnum((unsigned char)p[n - 1]))
        return ccr_err_set(EINVAL,
                           "s3:// bucket name must be 3 to 63 lowercase letters, digits, '.' and '-', "
                           "starting and ending with a letter or digit");
    for (size_t i = 0; i < n; i++) {
        if ((!islower((unsigned char)p[i]) && !isdigit((unsigned char)p[i]) && p[i] != '-' && p[i] != '.') ||
            (p[i] == '.' && (p[i + 1] == '.' || p[i + 1] == '-' || p[i - 1] == '-')))
            return ccr_err_set(EINVAL, "s3:// bucket name must be 3 to 63 lowercase letters, digits, '.' and "
                                       "'-' (no \"..\", \".-\" or \"-.\")");
    }
    out->bucket = strndup(p, n);
    p = slash ? slash + 1 : p + n;
    n = strlen(p);
    while (n > 0 && p[n - 1] == '/')
        n--;
    out->prefix = strndup(p, n);
    if (out->bucket == NULL || out->prefix == NULL) {
        fetch_s3_url_free(out);
        return ENOMEM;
    }
    if (n > 0 && fetch_key_check(out->prefix) != 0) {
        fetch_s3_url_free(out);
        return ccr_err_set(EINVAL,
                           "s3:// prefix has an empty, \".\" or \"..\" segment or a control character");
    }
    return 0;
}

void fetch_s3_endpoint_free(struct fetch_s3_endpoint *e)
{
    free(e->base);
    free(e->host);
    memset(e, 0, sizeof *e);
}

static int host_is_ip_or_local(const char *host, size_t n)
{
    int dots = 0;
    if (n > 0 && host[0] == '[')
        return 1;
    if (n == 9 && strncmp(host, "localhost", 9) == 0)
        return 1;
    for (size_t i = 0; i < n; i++) {
        if (host[i] == '.')
            dots++;
        else if (!isdigit((unsigned char)host[i]))
            return 0;
    }
    return dots == 3;
}

int fetch_s3_endpoint_make(const char *endpoint, const char *region, const char *bucket, const char *style,
                           struct fetch_s3_endpoint *out)
{
    struct fetch_http_url u;
    char aws[160], shown[256];
    const char *scheme_end, *host, *port = NULL;
    size_t host_len;
    int https, rc;

    memset(out, 0, sizeof *out);
    if (style != NULL && style[0] != '\0' && strcmp(style, "auto") != 0 && strcmp(style, "path") != 0 &&
        strcmp(style, "virtual") != 0)
        return ccr_err_set(EINVAL, "S3 addressing style \"%s\": expected auto, path or virtual", style);
    if (endpoint == NULL || endpoint[0] == '\0') {
        snprintf(aws, sizeof aws, "https://s3.%s.amazonaws.com", region);
        endpoint = aws;
    }
    fetch_url_scrub(endpoint, shown, sizeof shown);
    if ((rc = fetch_http_url_parse(endpoint, &u)) != 0)
        return ccr_err_wrap(rc, "S3 endpoint %s: ", shown);
    if (u.query != NULL || u.path[0] != '\0') {
        fetch_http_url_free(&u);
        return ccr_err_set(EINVAL, "S3 endpoint %s: give scheme://host[:port] only, without a path or query",
                           shown);
    }
    https = strncmp(u.origin, "https://", 8) == 0;
    scheme_end = strstr(u.origin, "://") + 3;
    host = scheme_end;
    if (host[0] == '[') {
        const char *close = strchr(host, ']');
        host_len = (size_t)(close - host) + 1;
        if (close[1] == ':')
            port = close + 2;
    } else {
        const char *colon = strchr(host, ':');
        host_len = colon ? (size_t)(colon - host) : strlen(host);
        if (colon != NULL)
            port = colon + 1;
    }
    if (port != NULL && strcmp(port, https ? "443" : "80") == 0)
        port = NULL; /* the Host header leaves the scheme's own port out */
    if (style != NULL && strcmp(style, "path") == 0)
        out->path_style = 1;
    else if (style != NULL && strcmp(style, "virtual") == 0)
        out->path_style = 0;
    else
        out->path_style = host_is_ip_or_local(host, host_len) || (https && strchr(bucket, '.') != NULL);
    {
        size_t len = strlen(u.origin) + strlen(bucket) + 2;
        out->base = malloc(len);
        out->host = malloc(len);
        if (out->base == NULL || out->host == NULL) {
            fetch_http_url_free(&u);
            fetch_s3_endpoint_free(out);
            return ENOMEM;
        }
        if (out->path_style) {
            snprintf(out->base, len, "%s", u.origin);
            snprintf(out->host, len, "%.*s%s%s", (int)host_len, host, port ? ":" : "", port ? port : "");
        } else {
            snprintf(out->base, len, "%.*s%s.%s", (int)(scheme_end - u.origin), u.origin, bucket, scheme_end);
            snprintf(out->host, len, "%s.%.*s%s%s", bucket, (int)host_len, host, port ? ":" : "",
                     port ? port : "");
        }
    }
    fetch_http_url_free(&u);
    return 0;
}

static int path_is(const char *const *path, int depth, int n, ...)
{
    va_list ap;
    int ok = depth == n;
    va_start(ap, n);
    for (int i = 0; i < n && ok; i++)
        ok = strcmp(path[i], va_arg(ap, const char *)) == 0;
    va_end(ap);
    return ok;
}

struct s3_entry {
    char *key;
    struct fetch_object_info info;
};

struct list_state {
    struct ccr_array entries; /* of struct s3_entry */
    struct s3_entry cur;
    int have_key, have_size, truncated, truncated_seen;
    char *token;
};

static int parse_u64(const char *text, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0 || len > 19)
        return EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)text[i]))
            return EINVAL;
        v = v * 10 + (uint64_t)(text[i] - '0');
    }
    *out = v;
    return 0;
}

static int list_end(void *arg, const char *const *path, int depth, const char *text, size_t len)
{
    struct list_state *st = arg;

    if (depth == 3 && strcmp(path[1], "Contents") == 0) {
        const char *el = path[2];
        if (strcmp(el, "Key") == 0) {
            if (st->have_key || len == 0)
                return ccr_err_set(EINVAL, "ListObjectsV2 answer: Contents with an empty or second Key");
            if ((st->cur.key = strndup(text, len)) == NULL)
                return ENOMEM;
            st->have_key = 1;
        } else if (strcmp(el, "Size") == 0) {
            if (parse_u64(text, len, &st->cur.info.size) != 0)
                return ccr_err_set(EINVAL, "ListObjectsV2 answer: malformed Size \"%.40s\"", text);
            st->have_size = 1;
        } else if (strcmp(el, "ETag") == 0) {
            if (len >= sizeof st->cur.info.etag)
                return ccr_err_set(EINVAL, "ListObjectsV2 answer: ETag too long");
            memcpy(st->cur.info.etag, text, len + 1);
        } else if (strcmp(el, "LastModified") == 0) {
            int64_t t = 0;
            st->cur.info.mtime = fetch_s3_parse_time(text, &t) == 0 ? t : 0;
        }
    } else if (depth == 2 && strcmp(path[1], "Contents") == 0) {
        struct s3_entry *e;
        if (!st->have_key || !st->have_size)
            return ccr_err_set(EINVAL, "ListObjectsV2 answer: Contents without Key or Size");
        if ((e = ccr_array_push(&st->entries)) == NULL)
            return ENOMEM;
        *e = st->cur;
        memset(&st->cur, 0, sizeof st->cur);
        st->have_key = st->have_size = 0;
    } else if (path_is(path, depth, 2, "ListBucketResult", "IsTruncated")) {
        if (len == 4 && memcmp(text, "true", 4) == 0)
            st->truncated = 1;
        else if (!(len == 5 && memcmp(text, "false", 5) == 0))
            return ccr_err_set(EINVAL, "ListObjectsV2 answer: IsTruncated is neither true nor false");
        st->truncated_seen = 1;
    } else if (path_is(path, depth, 2, "ListBucketResult", "NextContinuationToken")) {
        if (st->token != NULL)
            return ccr_err_set(EINVAL, "ListObjectsV2 answer: two NextContinuationToken elements");
        if (len > 0 && (st->token = strndup(text, len)) == NULL)
            return ENOMEM;
    }
    return 0;
}

int fetch_s3_list_parse(const char *xml, size_t len, fetch_list_cb cb, void *arg, char **next)
{
    struct list_state st;
    int rc;

    *next = NULL;
    memset(&st, 0, sizeof st);
    ccr_array_init(&st.entries, sizeof(struct s3_entry));
    rc = fetch_xml_walk(xml, len, "ListBucketResult", "ListObjectsV2 answer", list_end, &st);
    if (rc == 0 && !st.truncated_seen)
        rc = ccr_err_set(EINVAL, "ListObjectsV2 answer: no IsTruncated");
    if (rc == 0 && st.truncated && st.token == NULL)
        rc = ccr_err_set(EINVAL, "ListObjectsV2 answer: truncated without a NextContinuationToken");
    for (size_t i = 0; i < st.entries.len; i++) {
        struct s3_entry *e = &CCR_ARRAY_AT(&st.entries, struct s3_entry, i);
        if (rc == 0)
            rc = cb(arg, e->key, &e->info);
        free(e->key);
    }
    ccr_array_free(&st.entries);
    free(st.cur.key);
    if (rc == 0 && st.truncated)
        *next = st.token;
    else
        free(st.token);
    return rc;
}

struct one_text {
    const char *root, *leaf;
    char *value;
};

static int one_text_end(void *arg, const char *const *path, int depth, const char *text, size_t len)
{
    struct one_text *t = arg;
    if (path_is(path, depth, 2, t->root, t->leaf)) {
        if (t->value != NULL)
            return ccr_err_set(EINVAL, "%s: two %s elements", t->root, t->leaf);
        if ((t->value = strndup(text, len)) == NULL)
            return ENOMEM;
    }
    return 0;
}

int fetch_s3_upload_id_parse(const char *xml, size_t len, char **upload_id)
{
    struct one_text t = {"InitiateMultipartUploadResult", "UploadId", NULL};
    int rc = fetch_xml_walk(xml, len, t.root, "CreateMultipartUpload answer", one_text_end, &t);

    if (rc == 0 && (t.value == NULL || t.value[0] == '\0'))
        rc = ccr_err_set(EINVAL, "CreateMultipartUpload answer: no UploadId");
    if (rc != 0) {
        free(t.value);
        return rc;
    }
    *upload_id = t.value;
    return 0;
}

struct error_doc {
    char *code, *msg;
    size_t code_len, msg_len;
};

static int error_end(void *arg, const char *const *path, int depth, const char *text, size_t len)
{
    struct error_doc *d = arg;
    char *dst = NULL;
    size_t cap = 0;

    if (path_is(path, depth, 2, "Error", "Code")) {
        dst = d->code;
        cap = d->code_len;
    } else if (path_is(path, depth, 2, "Error", "Message")) {
        dst = d->msg;
        cap = d->msg_len;
    }
    if (dst != NULL && cap > 0) {
        size_t n = len < cap - 1 ? len : cap - 1;
        for (size_t i = 0; i < n; i++)
            dst[i] = (text[i] >= 0x20 && text[i] < 0x7f) ? text[i] : ' ';
        dst[n] = '\0';
    }
    return 0;
}

int fetch_s3_error_parse(const char *xml, size_t len, char *code, size_t code_len, char *msg, size_t msg_len)
{
    struct error_doc d = {code, msg, code_len, msg_len};
    if (code_len > 0)
        code[0] = '\0';
    if (msg_len > 0)
        msg[0] = '\0';
    return fetch_xml_walk(xml, len, "Error", "S3 error answer", error_end, &d);
}

struct sts_doc {
    char *akid, *secret, *token, *expiration;
};

static int sts_end(void *arg, const char *const *path, int depth, const char *text, size_t len)
{
    struct sts_doc *d = arg;
    char **slot = NULL;

    if (depth != 4 || strcmp(path[1], "AssumeRoleWithWebIdentityResult") != 0 ||
        strcmp(path[2], "Credentials") != 0)
        return 0;
    if (strcmp(path[3], "AccessKeyId") == 0)
        slot = &d->akid;
    else if (strcmp(path[3], "SecretAccessKey") == 0)
        slot = &d->secret;
    else if (strcmp(path[3], "SessionToken") == 0)
        slot = &d->token;
    else if (strcmp(path[3], "Expiration") == 0)
        slot = &d->expiration;
    if (slot == NULL)
        return 0;
    if (*slot != NULL)
        return ccr_err_set(EINVAL, "AssumeRoleWithWebIdentity answer: two %s elements", path[3]);
    return (*slot = strndup(text, len)) == NULL ? ENOMEM : 0;
}

static void wipe_str(char *s)
{
    if (s != NULL)
        ccr_freezero(s, strlen(s));
}

int fetch_s3_sts_parse(const char *xml, size_t len, struct fetch_s3_creds *c)
{
    struct sts_doc d = {NULL, NULL, NULL, NULL};
    int64_t expires = 0;
    int rc = fetch_xml_walk(xml, len, "AssumeRoleWithWebIdentityResponse", "AssumeRoleWithWebIdentity answer",
                            sts_end, &d);

    if (rc == 0 && (d.akid == NULL || d.secret == NULL || d.token == NULL))
        rc = ccr_err_set(EINVAL, "AssumeRoleWithWebIdentity answer: Credentials without AccessKeyId, "
                                 "SecretAccessKey or SessionToken");
    if (rc == 0 && (d.expiration == NULL || fetch_s3_parse_time(d.expiration, &expires) != 0))
        rc = ccr_err_set(EINVAL, "AssumeRoleWithWebIdentity answer: missing or malformed Expiration");
    if (rc == 0)
        rc = fetch_s3_creds_set(c, d.akid, d.secret, d.token, "AssumeRoleWithWebIdentity answer");
    if (rc == 0)
        c->expires = expires;
    free(d.akid);
    wipe_str(d.secret);
    wipe_str(d.token);
    free(d.expiration);
    return rc;
}

int fetch_s3_parse_time(const char *text, int64_t *out)
{
    int y, mo, d, h, mi, s, n = 0;
    const char *rest;
    struct tm tm;
    time_t t;

    if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &n) != 6 || n != 19)
        return EINVAL;
    rest = text + n;
    if (*rest == '.') {
        rest++;
        if (!isdigit((unsigned char)*rest))
            return EINVAL;
        while (isdigit((unsigned char)*rest))
            rest++;
    }
    if (strcmp(rest, "Z") != 0 && strcmp(rest, "+00:00") != 0)
        return EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
        return EINVAL;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    t = timegm(&tm);
    if (t == (time_t)-1)
        return EINVAL;
    *out = (int64_t)t;
    return 0;
}
