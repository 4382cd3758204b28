/* Dispatch through the store interface, the URL opener, and the put() sources. */
#include "fetch/store.h"
#include "fetch/http.h"
#include "common/err.h"
#include "common/fileio.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

int fetch_read_range(struct fetch_store *s, const char *key, uint64_t offset, size_t len, void *buf)
{
    struct fetch_range r = {key, offset, len, buf, 0, 0};
    if (s->read_range != NULL)
        return s->read_range(s, key, offset, len, buf);
    return s->read_many(s, &r, 1);
}

int fetch_read_many(struct fetch_store *s, struct fetch_range *ranges, size_t n)
{
    int first = 0;

    if (s->read_many != NULL)
        return s->read_many(s, ranges, n);
    for (size_t i = 0; i < n; i++) {
        ranges[i].object_size = 0;
        ranges[i].result = s->read_range(s, ranges[i].key, ranges[i].offset, ranges[i].len, ranges[i].buf);
        if (ranges[i].result != 0 && first == 0)
            first = ranges[i].result;
    }
    return first;
}

int fetch_stat(struct fetch_store *s, const char *key, struct fetch_object_info *info)
{
    return s->stat(s, key, info);
}

int fetch_list(struct fetch_store *s, const char *prefix, fetch_list_cb cb, void *arg)
{
    if (s->list == NULL)
        return ccr_err_set(ENOTSUP, "%s store cannot list objects", s->kind);
    return s->list(s, prefix, cb, arg);
}

int fetch_put(struct fetch_store *s, const char *key, const struct fetch_source *src)
{
    if (s->put == NULL)
        return ccr_err_set(EROFS, "%s store does not accept uploads", s->kind);
    return s->put(s, key, src);
}

void fetch_get_stats(struct fetch_store *s, struct fetch_stats *out)
{
    memset(out, 0, sizeof *out);
    if (s->get_stats != NULL)
        s->get_stats(s, out);
}

void fetch_store_destroy(struct fetch_store *s)
{
    if (s != NULL)
        s->destroy(s);
}

int fetch_read_object(struct fetch_store *s, const char *key, size_t max_len, uint8_t **out, size_t *out_len)
{
    struct fetch_object_info info;
    uint8_t *buf;
    int rc = fetch_stat(s, key, &info);

    if (rc != 0)
        return rc;
    if (info.size > max_len)
        return ccr_err_set(EFBIG, "%s: %llu bytes, more than the %zu allowed", key,
                           (unsigned long long)info.size, max_len);
    buf = malloc(info.size ? info.size : 1);
    if (buf == NULL)
        return ENOMEM;
    if (info.size > 0 && (rc = fetch_read_range(s, key, 0, info.size, buf)) != 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *out_len = info.size;
    return 0;
}

static int source_memory_read(const struct fetch_source *src, uint64_t offset, void *buf, size_t len)
{
    if (offset > src->len || len > src->len - offset)
        return EINVAL;
    memcpy(buf, (const uint8_t *)src->mem + offset, len);
    return 0;
}

void fetch_source_memory(struct fetch_source *src, const void *data, size_t len)
{
    memset(src, 0, sizeof *src);
    src->len = len;
    src->mem = data;
    src->fd = -1;
    src->read = source_memory_read;
}

static int source_fd_read(const struct fetch_source *src, uint64_t offset, void *buf, size_t len)
{
    return ccr_pread_all(src->fd, buf, len, offset);
}

void fetch_source_fd(struct fetch_source *src, int fd, uint64_t len)
{
    memset(src, 0, sizeof *src);
    src->len = len;
    src->fd = fd;
    src->read = source_fd_read;
}

/* URL schemes: backends register here. A plain path is a file store. */
typedef int (*store_open_fn)(const char *url, const struct fetch_options *opt, struct fetch_store **out);

static int open_file_url(const char *url, const struct fetch_options *opt, struct fetch_store **out)
{
    (void)opt;
    if (strncmp(url, "file://", 7) == 0)
        url += 7;
    return fetch_file_create(url, out);
}

static const struct {
    const char *prefix;
    store_open_fn open;
} store_schemes[] = {
    {"file://", open_file_url}, {"http://", fetch_http_store_create}, {"https://", fetch_http_store_create},
    {"az://", fetch_az_create}, {"s3://", fetch_s3_create},
};

int fetch_store_open(const char *url, const struct fetch_options *opt, struct fetch_store **out)
{
    static const struct fetch_options defaults;
    const char *colon = strstr(url, "://");

    if (opt == NULL)
        opt = &defaults;
    for (size_t i = 0; i < sizeof store_schemes / sizeof store_schemes[0]; i++)
        if (strncmp(url, store_schemes[i].prefix, strlen(store_schemes[i].prefix)) == 0)
            return store_schemes[i].open(url, opt, out);
    if (colon != NULL)
        return ccr_err_set(EINVAL, "%.*s: unknown store URL scheme", (int)(colon - url + 3), url);
    return open_file_url(url, opt, out);
}

int fetch_env_uint(const char *name, unsigned *out)
{
    const char *v = getenv(name);
    unsigned long long n = 0;

    if (v == NULL || v[0] == '\0')
        return 0;
    for (const char *p = v; *p; p++) {
        if (!isdigit((unsigned char)*p) || (n = n * 10 + (unsigned)(*p - '0')) > 86400000ull)
            return ccr_err_set(EINVAL, "environment variable %s: \"%s\" is not a number up to 86400000", name,
                               v);
    }
    *out = (unsigned)n;
    return 0;
}

static void env_str(const char **field, const char *name)
{
    const char *v = getenv(name);
    if (*field == NULL && v != NULL && v[0] != '\0')
        *field = v;
}

static int env_num(unsigned *field, const char *name)
{
    unsigned v = 0;
    int rc = fetch_env_uint(name, &v);
    if (rc == 0 && *field == 0)
        *field = v;
    return rc;
}

int fetch_options_from_env(struct fetch_options *opt)
{
    int rc = 0;
    const char *mi = getenv("CCRFS_AZURE_MANAGED_IDENTITY");

    env_str(&opt->ca_file, "CCRFS_STORE_CA_FILE");
    env_str(&opt->endpoint, "CCRFS_AZURE_ENDPOINT");
    env_str(&opt->az_sas_file, "CCRFS_AZURE_SAS_FILE");
    env_str(&opt->az_key_file, "CCRFS_AZURE_KEY_FILE");
    env_str(&opt->az_token_file, "CCRFS_AZURE_TOKEN_FILE");
    env_str(&opt->s3_endpoint, "CCRFS_S3_ENDPOINT");
    env_str(&opt->s3_region, "CCRFS_S3_REGION");
    if ((rc = env_num(&opt->connect_timeout_ms, "CCRFS_STORE_CONNECT_TIMEOUT_MS")) != 0 ||
        (rc = env_num(&opt->low_speed_time_s, "CCRFS_STORE_LOW_SPEED_TIME")) != 0 ||
        (rc = env_num(&opt->retry_budget_ms, "CCRFS_STORE_RETRY_BUDGET_MS")) != 0 ||
        (rc = env_num(&opt->max_in_flight, "CCRFS_STORE_MAX_IN_FLIGHT")) != 0)
        return rc;
    if (mi != NULL && mi[0] != '\0') {
        if (strcmp(mi, "1") != 0 && strcmp(mi, "0") != 0)
            return ccr_err_set(EINVAL, "environment variable CCRFS_AZURE_MANAGED_IDENTITY: expected 0 or 1");
        if (strcmp(mi, "1") == 0)
            opt->az_managed_identity = 1;
    }
    return 0;
}
