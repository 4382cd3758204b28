#include "fs/options.h"
#include "common/err.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

void fs_options_init(struct fs_options *o)
{
    memset(o, 0, sizeof *o);
    o->cache_size = FS_DEFAULT_CACHE_SIZE;
    o->prefetch_max = FS_DEFAULT_PREFETCH_MAX;
    o->workers = FS_DEFAULT_WORKERS;
    o->readahead_kb = FS_DEFAULT_READAHEAD_KB;
    o->key_cache = FS_DEFAULT_KEY_CACHE;
    o->ahead_files = FS_DEFAULT_AHEAD_FILES;
    o->allow_other = -1;
}

void fs_options_free(struct fs_options *o)
{
    char **strs[] = {&o->recipient, &o->overlay_dir, &o->dataset_id, &o->key_file, &o->kbs,
                     &o->resource,  &o->attest,      &o->skr,        &o->skr_maa,  &o->skr_akv,
                     &o->skr_kid,   &o->broker_ca,   &o->fuse_opts};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        free(*strs[i]);
        *strs[i] = NULL;
    }
}

/* "64M", "1G", "4096" (K, M, G, T; optional "iB"/"B"). */
static int opt_size(const char *name, const char *v, uint64_t min, uint64_t *out)
{
    static const char units[] = "KMGT";
    char *end;
    unsigned long long n;
    const char *u;

    if (v == NULL || !isdigit((unsigned char)v[0]))
        return ccr_err_set(EINVAL, "option %s: expected a size such as 256M, got '%s'", name, v ? v : "");
    errno = 0;
    n = strtoull(v, &end, 10);
    if (errno == 0 && *end != '\0' && (u = strchr(units, toupper((unsigned char)*end))) != NULL) {
        unsigned shift = (unsigned)(u - units + 1) * 10;
        if (n > (UINT64_MAX >> shift))
            errno = ERANGE;
        n <<= shift;
        end++;
        if (*end == 'i' || *end == 'I')
            end++;
        if (*end == 'B' || *end == 'b')
            end++;
    }
    if (errno != 0 || *end != '\0')
        return ccr_err_set(EINVAL, "option %s: expected a size such as 256M, got '%s'", name, v);
    if (n < min)
        return ccr_err_set(EINVAL, "option %s: %s is below the minimum of %llu bytes", name, v,
                           (unsigned long long)min);
    *out = n;
    return 0;
}

static int opt_uint(const char *name, const char *v, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long n;

    if (v == NULL || !isdigit((unsigned char)v[0]))
        return ccr_err_set(EINVAL, "option %s: expected a number, got '%s'", name, v ? v : "");
    errno = 0;
    n = strtoull(v, &end, 10);
    if (errno != 0 || *end != '\0' || n > max)
        return ccr_err_set(EINVAL, "option %s: expected a number up to %llu, got '%s'", name,
                           (unsigned long long)max, v);
    *out = n;
    return 0;
}

static int opt_str(const char *name, const char *v, char **out)
{
    char *copy;
    if (v == NULL || v[0] == '\0')
        return ccr_err_set(EINVAL, "option %s needs a value (%s=...)", name, name);
    if ((copy = strdup(v)) == NULL)
        return ENOMEM;
    free(*out);
    *out = copy;
    return 0;
}

static int fuse_opt_append(struct fs_options *o, const char *opt)
{
    size_t old = o->fuse_opts ? strlen(o->fuse_opts) : 0, add = strlen(opt);
    char *s = realloc(o->fuse_opts, old + add + 2);

    if (s == NULL)
        return ENOMEM;
    if (old > 0)
        s[old++] = ',';
    memcpy(s + old, opt, add + 1);
    o->fuse_opts = s;
    return 0;
}

/* Options mount(8) and fstab pass that mean nothing to this filesystem. "rw" is accepted
 * because mount(8) adds it by default; the mount is read-only or writable by its mode= alone. */
static int opt_ignored(const char *name)
{
    static const char *const ignored[] = {"rw",      "ro",       "defaults", "auto",   "noauto", "user",
                                          "nouser",  "users",    "_netdev",  "nofail", "dev",    "nodev",
                                          "suid",    "nosuid",   "exec",     "noexec", "async",  "atime",
                                          "noatime", "relatime", "fg",       "bg"};
    if (strncmp(name, "x-", 2) == 0 || strncmp(name, "comment=", 8) == 0)
        return 1;
    for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
        if (strcmp(name, ignored[i]) == 0)
            return 1;
    return 0;
}

static int opt_one(struct fs_options *o, char *opt)
{
    char *eq = strchr(opt, '='), *v = eq ? eq + 1 : NULL;
    uint64_t n;
    int rc = 0;

    if (opt[0] == '\0' || opt_ignored(opt))
        return 0;
    if (eq != NULL)
        *eq = '\0';
#define IS(x) (strcmp(opt, (x)) == 0)
    if (IS("mode")) {
        if (v != NULL && strcmp(v, "read-only") == 0)
            o->mode = FS_MODE_READ_ONLY;
        else if (v != NULL && strcmp(v, "no-egress") == 0)
            o->mode = FS_MODE_NO_EGRESS;
        else if (v != NULL && strcmp(v, "sink") == 0)
            o->mode = FS_MODE_SINK;
        else
            rc = ccr_err_set(EINVAL, "option mode=%s: expected read-only, no-egress or sink", v ? v : "");
    } else if (IS("recipient")) {
        rc = opt_str(opt, v, &o->recipient);
    } else if (IS("overlay_dir")) {
        rc = opt_str(opt, v, &o->overlay_dir);
    } else if (IS("overlay_max")) {
        rc = opt_size(opt, v, 0, &o->overlay_max);
    } else if (IS("cache_size")) {
        rc = opt_size(opt, v, 1u << 20, &o->cache_size);
    } else if (IS("prefetch_max")) {
        rc = opt_size(opt, v, 0, &o->prefetch_max);
    } else if (IS("fetch_workers")) {
        if ((rc = opt_uint(opt, v, 64, &n)) == 0)
            o->workers = (unsigned)n;
    } else if (IS("allow_unlocked_memory") && v == NULL) {
        o->allow_unlocked_memory = 1;
    } else if (IS("key_cache")) {
        if ((rc = opt_uint(opt, v, 1u << 20, &n)) == 0)
            o->key_cache = (unsigned)n;
    } else if (IS("fetch_ahead_files")) {
        if ((rc = opt_uint(opt, v, FS_AHEAD_FILES_MAX, &n)) == 0)
            o->ahead_files = (unsigned)n;
    } else if (IS("page_cache")) {
        if (v != NULL && strcmp(v, "keep") == 0)
            o->page_cache = FS_PAGE_CACHE_KEEP;
        else if (v != NULL && strcmp(v, "drop") == 0)
            o->page_cache = FS_PAGE_CACHE_DROP;
        else
            rc = ccr_err_set(EINVAL, "option page_cache=%s: expected keep or drop", v ? v : "");
    } else if (IS("readahead_kb") || IS("read_ahead_kb")) {
        if ((rc = opt_uint(opt, v, 1u << 20, &n)) == 0)
            o->readahead_kb = (unsigned)n;
    } else if (IS("uid")) {
        if ((rc = opt_uint(opt, v, UINT32_MAX - 1, &n)) == 0) {
            o->uid = (uid_t)n;
            o->uid_set = 1;
        }
    } else if (IS("gid")) {
        if ((rc = opt_uint(opt, v, UINT32_MAX - 1, &n)) == 0) {
            o->gid = (gid_t)n;
            o->gid_set = 1;
        }
    } else if (IS("allow_other") && v == NULL) {
        o->allow_other = 1;
    } else if (IS("noallow_other") && v == NULL) {
        o->allow_other = 0;
    } else if (IS("dataset_id")) {
        rc = opt_str(opt, v, &o->dataset_id);
    } else if (IS("key_file") || IS("key")) {
        rc = opt_str(opt, v, &o->key_file);
    } else if (IS("kbs")) {
        rc = opt_str(opt, v, &o->kbs);
    } else if (IS("resource")) {
        rc = opt_str(opt, v, &o->resource);
    } else if (IS("attest")) {
        rc = opt_str(opt, v, &o->attest);
    } else if (IS("skr")) {
        rc = opt_str(opt, v, &o->skr);
    } else if (IS("skr_maa")) {
        rc = opt_str(opt, v, &o->skr_maa);
    } else if (IS("skr_akv")) {
        rc = opt_str(opt, v, &o->skr_akv);
    } else if (IS("skr_kid")) {
        rc = opt_str(opt, v, &o->skr_kid);
    } else if (IS("broker_ca")) {
        rc = opt_str(opt, v, &o->broker_ca);
    } else if (IS("max_read") || IS("max_readahead") || IS("sync_read")) {
        rc = ccr_err_set(EINVAL, "option %s is set by ccrfs itself and cannot be changed", opt);
    } else {
        if (eq != NULL)
            *eq = '=';
        rc = fuse_opt_append(o, opt);
    }
#undef IS
    return rc;
}

int fs_options_parse(struct fs_options *o, const char *optstr)
{
    char *copy = strdup(optstr), *p, *next;
    int rc = 0;

    if (copy == NULL)
        return ENOMEM;
    for (p = copy; p != NULL && rc == 0; p = next) {
        /* A backslash escapes a comma inside a value, as FUSE allows. */
        char *w = p, *r = p;
        next = NULL;
        for (; *r != '\0'; r++) {
            if (*r == '\\' && r[1] != '\0') {
                *w++ = *++r;
            } else if (*r == ',') {
                next = r + 1;
                break;
            } else {
                *w++ = *r;
            }
        }
        *w = '\0';
        rc = opt_one(o, p);
    }
    free(copy);
    if (o->fuse_opts == NULL && rc == 0 && (o->fuse_opts = strdup("")) == NULL)
        rc = ENOMEM;
    return rc;
}

const char *fs_access_mode_name(enum fs_access_mode m)
{
    switch (m) {
    case FS_MODE_NO_EGRESS:
        return "no-egress";
    case FS_MODE_SINK:
        return "sink";
    default:
        return "read-only";
    }
}
