#include "common/fileio.h"
#include "common/err.h"

#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ccr_read_file(const char *path, size_t max_len, uint8_t **out, size_t *out_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    uint8_t *buf;
    size_t have = 0;

    if (fd < 0)
        return ccr_err_set(errno, "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int e = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        close(fd);
        return ccr_err_set(e, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > max_len) {
        close(fd);
        return ccr_err_set(EFBIG, "%s: %lld bytes, more than the %zu allowed", path, (long long)st.st_size,
                           max_len);
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        close(fd);
        return ENOMEM;
    }
    while (have < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + have, (size_t)st.st_size - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            free(buf);
            close(fd);
            return ccr_err_set(e, "%s: read failed: %s", path, n < 0 ? strerror(e) : "file shrank");
        }
        have += (size_t)n;
    }
    close(fd);
    buf[have] = '\0';
    *out = buf;
    *out_len = have;
    return 0;
}

int ccr_write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int ccr_pread_all(int fd, void *buf, size_t len, uint64_t offset)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno;
        if (n == 0)
            return ccr_err_set(EIO, "unexpected end of file at offset %llu", (unsigned long long)offset);
        p += n;
        len -= (size_t)n;
        offset += (uint64_t)n;
    }
    return 0;
}

int ccr_fsync_parent(const char *path)
{
    char *copy = strdup(path);
    int fd, rc = 0;

    if (copy == NULL)
        return ENOMEM;
    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd < 0)
        return errno;
    if (fsync(fd) != 0)
        rc = errno;
    close(fd);
    return rc;
}

/* A device or a pipe (-o /dev/stdout, /dev/null) is written into, never replaced: renaming
 * over it would swap the device node for a regular file. */
static int write_into_special(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC), rc;
    if (fd < 0)
        return ccr_err_set(errno, "%s: %s", path, strerror(errno));
    rc = ccr_write_all(fd, data, len);
    close(fd);
    return rc ? ccr_err_set(rc, "%s: %s", path, strerror(rc)) : 0;
}

static int write_via_temp(const char *path, const void *data, size_t len, mode_t mode, int exclusive)
{
    size_t tlen = strlen(path) + 32;
    struct stat st;
    char *tmp;
    int fd, rc;

    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        if (exclusive)
            return ccr_err_set(EEXIST, "%s: already exists", path);
        if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))
            return write_into_special(path, data, len);
        return ccr_err_set(EISDIR, "%s: not a regular file", path);
    }
    tmp = malloc(tlen);
    if (tmp == NULL)
        return ENOMEM;
    snprintf(tmp, tlen, "%s.tmp.%ld", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        rc = ccr_err_set(errno, "%s: %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    rc = ccr_write_all(fd, data, len);
    if (rc == 0 && fchmod(fd, mode) != 0)
        rc = errno;
    if (rc == 0 && fsync(fd) != 0)
        rc = errno;
    if (close(fd) != 0 && rc == 0)
        rc = errno;
    if (rc == 0) {
        if (exclusive) {
            /* link() fails when the target exists, which rename() would silently replace. */
            if (link(tmp, path) != 0)
                rc = errno;
            unlink(tmp);
        } else if (rename(tmp, path) != 0) {
            rc = errno;
        }
    }
    if (rc != 0) {
        unlink(tmp);
        free(tmp);
        return ccr_err_set(rc, "%s: %s", path, rc == EEXIST ? "already exists" : strerror(rc));
    }
    free(tmp);
    return ccr_fsync_parent(path);
}

int ccr_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    return write_via_temp(path, data, len, mode, 0);
}

int ccr_write_file_new(const char *path, const void *data, size_t len, mode_t mode)
{
    return write_via_temp(path, data, len, mode, 1);
}

int ccr_mkdirs(const char *path, mode_t mode)
{
    char *copy = strdup(path);
    int rc = 0;

    if (copy == NULL)
        return ENOMEM;
    for (char *p = copy + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(copy, mode) != 0 && errno != EEXIST) {
                rc = ccr_err_set(errno, "%s: %s", copy, strerror(errno));
                break;
            }
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
    free(copy);
    return rc;
}

char *ccr_path_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *out;
    while (la > 1 && a[la - 1] == '/')
        la--;
    while (lb > 0 && *b == '/') {
        b++;
        lb--;
    }
    out = malloc(la + lb + 2);
    if (out == NULL)
        return NULL;
    memcpy(out, a, la);
    out[la] = '/';
    memcpy(out + la + 1, b, lb);
    out[la + 1 + lb] = '\0';
    return out;
}
