/* The file store: objects are files below a root folder, read with pread. */
#include "fetch/store.h"
#include "common/err.h"
#include "common/fileio.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct file_store {
    struct fetch_store pub;
    char *root;
    atomic_uint_least64_t requests, bytes_read, bytes_written, errors, in_flight;
};

static atomic_uint put_serial;

static struct file_store *file_priv(struct fetch_store *s)
{
    return s->priv;
}

/* Object keys come from manifests and callers; refuse anything that could leave the root. */
static int file_key_path(struct file_store *fs, const char *key, char **out)
{
    int rc = fetch_key_check(key);
    if (rc != 0)
        return rc;
    *out = ccr_path_join(fs->root, key);
    return *out == NULL ? ENOMEM : 0;
}

static int file_fail(struct file_store *fs, int rc)
{
    if (rc != 0)
        atomic_fetch_add(&fs->errors, 1);
    return rc;
}

static int file_read_range(struct fetch_store *s, const char *key, uint64_t offset, size_t len, void *buf)
{
    struct file_store *fs = file_priv(s);
    char *path;
    int fd, rc;

    atomic_fetch_add(&fs->requests, 1);
    if ((rc = file_key_path(fs, key, &path)) != 0)
        return file_fail(fs, rc);
    atomic_fetch_add(&fs->in_flight, 1);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = ccr_err_set(errno, "%s: %s", key, strerror(errno));
    } else {
        rc = ccr_pread_all(fd, buf, len, offset);
        if (rc == EIO)
            ccr_err_set(EIO, "%s: object ends before offset %llu", key, (unsigned long long)(offset + len));
        close(fd);
    }
    atomic_fetch_sub(&fs->in_flight, 1);
    free(path);
    if (rc == 0)
        atomic_fetch_add(&fs->bytes_read, len);
    return file_fail(fs, rc);
}

static int file_stat(struct fetch_store *s, const char *key, struct fetch_object_info *info)
{
    struct file_store *fs = file_priv(s);
    struct stat st;
    char *path;
    int rc;

    atomic_fetch_add(&fs->requests, 1);
    if ((rc = file_key_path(fs, key, &path)) != 0)
        return file_fail(fs, rc);
    if (stat(path, &st) != 0) {
        rc = ccr_err_set(errno, "%s: %s", key, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        rc = ccr_err_set(EISDIR, "%s: not an object", key);
    } else {
        memset(info, 0, sizeof *info);
        info->size = (uint64_t)st.st_size;
        info->mtime = st.st_mtim.tv_sec;
        snprintf(info->etag, sizeof info->etag, "\"%llx-%llx-%llx\"", (unsigned long long)st.st_ino,
                 (unsigned long long)st.st_size, (unsigned long long)st.st_mtim.tv_nsec);
    }
    free(path);
    return file_fail(fs, rc);
}

static int file_list_dir(struct file_store *fs, const char *rel, const char *prefix, fetch_list_cb cb,
                         void *arg)
{
    char *dir = rel[0] ? ccr_path_join(fs->root, rel) : strdup(fs->root);
    DIR *d;
    struct dirent *de;
    int rc = 0;

    if (dir == NULL)
        return ENOMEM;
    d = opendir(dir);
    if (d == NULL) {
        rc = errno == ENOENT ? 0 : ccr_err_set(errno, "%s: %s", dir, strerror(errno));
        free(dir);
        return rc;
    }
    while (rc == 0 && (de = readdir(d)) != NULL) {
        struct stat st;
        char *key;
        if (de->d_name[0] == '.' || strstr(de->d_name, ".tmp.") != NULL)
            continue; /* hidden files and unfinished uploads are not objects */
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        key = rel[0] ? ccr_path_join(rel, de->d_name) : strdup(de->d_name);
        if (key == NULL) {
            rc = ENOMEM;
            break;
        }
        if (S_ISDIR(st.st_mode)) {
            rc = file_list_dir(fs, key, prefix, cb, arg);
        } else if (S_ISREG(st.st_mode) && strncmp(key, prefix, strlen(prefix)) == 0) {
            struct fetch_object_info info;
            memset(&info, 0, sizeof info);
            info.size = (uint64_t)st.st_size;
            info.mtime = st.st_mtim.tv_sec;
            snprintf(info.etag, sizeof info.etag, "\"%llx-%llx-%llx\"", (unsigned long long)st.st_ino,
                     (unsigned long long)st.st_size, (unsigned long long)st.st_mtim.tv_nsec);
            rc = cb(arg, key, &info);
        }
        free(key);
    }
    closedir(d);
    free(dir);
    return rc;
}

static int file_list(struct fetch_store *s, const char *prefix, fetch_list_cb cb, void *arg)
{
    struct file_store *fs = file_priv(s);
    atomic_fetch_add(&fs->requests, 1);
    return file_fail(fs, file_list_dir(fs, "", prefix, cb, arg));
}

static int file_put(struct fetch_store *s, const char *key, const struct fetch_source *src)
{
    struct file_store *fs = file_priv(s);
    char *path, *tmp = NULL, *slash;
    uint8_t *chunk = NULL;
    size_t chunk_len = 1 << 20;
    int fd = -1, rc;

    atomic_fetch_add(&fs->requests, 1);
    if ((rc = file_key_path(fs, key, &path)) != 0)
        return file_fail(fs, rc);
    slash = strrchr(path, '/');
    *slash = '\0';
    rc = ccr_mkdirs(path, 0755);
    *slash = '/';
    if (rc != 0)
        goto out;
    tmp = malloc(strlen(path) + 32);
    chunk = malloc(chunk_len);
    if (tmp == NULL || chunk == NULL) {
        rc = ENOMEM;
        goto out;
    }
    /* Unique per call, so threads putting the same key never write one temporary file. */
    snprintf(tmp, strlen(path) + 32, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&put_serial, 1));
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = ccr_err_set(errno, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    for (uint64_t off = 0; off < src->len && rc == 0;) {
        size_t n = src->len - off < chunk_len ? (size_t)(src->len - off) : chunk_len;
        rc = src->read(src, off, chunk, n);
        if (rc == 0)
            rc = ccr_write_all(fd, chunk, n);
        off += n;
    }
    if (rc == 0 && fsync(fd) != 0)
        rc = errno;
    if (close(fd) != 0 && rc == 0)
        rc = errno;
    fd = -1;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = errno;
    if (rc == 0)
        rc = ccr_fsync_parent(path);
    if (rc == 0)
        atomic_fetch_add(&fs->bytes_written, src->len);
    else
        ccr_err_set(rc, "%s: upload failed: %s", key, strerror(rc));
out:
    if (fd >= 0)
        close(fd);
    if (rc != 0 && tmp != NULL)
        unlink(tmp);
    free(chunk);
    free(tmp);
    free(path);
    return file_fail(fs, rc);
}

static void file_get_stats(struct fetch_store *s, struct fetch_stats *out)
{
    struct file_store *fs = file_priv(s);
    out->requests = atomic_load(&fs->requests);
    out->bytes_read = atomic_load(&fs->bytes_read);
    out->bytes_written = atomic_load(&fs->bytes_written);
    out->errors = atomic_load(&fs->errors);
    out->in_flight = atomic_load(&fs->in_flight);
}

static void file_destroy(struct fetch_store *s)
{
    struct file_store *fs = file_priv(s);
    free(fs->root);
    free(fs);
}

int fetch_file_create(const char *root, struct fetch_store **out)
{
    struct file_store *fs;
    struct stat st;

    if (root[0] == '\0')
        return ccr_err_set(EINVAL, "empty store path");
    if (stat(root, &st) != 0)
        return ccr_err_set(errno, "%s: %s", root, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return ccr_err_set(ENOTDIR, "%s: not a folder", root);
    fs = calloc(1, sizeof *fs);
    if (fs == NULL || (fs->root = strdup(root)) == NULL) {
        free(fs);
        return ENOMEM;
    }
    fs->pub.kind = "file";
    fs->pub.read_range = file_read_range;
    fs->pub.stat = file_stat;
    fs->pub.list = file_list;
    fs->pub.put = file_put;
    fs->pub.get_stats = file_get_stats;
    fs->pub.destroy = file_destroy;
    fs->pub.priv = fs;
    *out = &fs->pub;
    return 0;
}
