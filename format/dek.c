#include "format/dek.h"
#include "format/crypto.h"
#include "common/random.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/secmem.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fmt_dek_from_bytes(const uint8_t *bytes, size_t len, struct fmt_dek **out)
{
    struct fmt_dek *dek;

    if (len != FMT_DEK_LEN)
        return ccr_err_set(EINVAL, "a key is %d bytes, not %zu", FMT_DEK_LEN, len);
    dek = calloc(1, sizeof *dek);
    if (dek == NULL)
        return ENOMEM;
    dek->bytes = ccr_secmem_alloc(FMT_DEK_LEN);
    if (dek->bytes == NULL) {
        free(dek);
        return ENOMEM;
    }
    memcpy(dek->bytes, bytes, FMT_DEK_LEN);
    *out = dek;
    return 0;
}

int fmt_dek_load_file(const char *path, struct fmt_dek **out)
{
    uint8_t *buf = ccr_secmem_alloc(FMT_DEK_LEN + 1);
    struct stat st;
    ssize_t n;
    int fd, rc;

    if (buf == NULL)
        return ENOMEM;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = ccr_err_set(errno, "key file %s: %s", path, strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = ccr_err_set(EINVAL, "key file %s: not a regular file", path);
        goto out;
    }
    /* Read one byte more than a key so a long file is noticed without trusting st_size. */
    n = read(fd, buf, FMT_DEK_LEN + 1);
    if (n < 0) {
        rc = ccr_err_set(errno, "key file %s: %s", path, strerror(errno));
        goto out;
    }
    if (n != FMT_DEK_LEN) {
        rc = ccr_err_set(EINVAL, "key file %s: %s (%s %d bytes; make one with 'ccrfs keygen')", path,
                         n < FMT_DEK_LEN ? "too short" : "too long", "a key is exactly", FMT_DEK_LEN);
        goto out;
    }
    if (st.st_mode & 077)
        ccr_log_warn("key file %s is readable by others (mode %03o); chmod 600 it", path,
                     (unsigned)(st.st_mode & 0777));
    rc = fmt_dek_from_bytes(buf, FMT_DEK_LEN, out);
out:
    if (fd >= 0)
        close(fd);
    ccr_secmem_free(buf, FMT_DEK_LEN + 1);
    return rc;
}

int fmt_dek_generate_file(const char *path)
{
    uint8_t *key = ccr_secmem_alloc(FMT_DEK_LEN);
    int fd, rc;

    if (key == NULL)
        return ENOMEM;
    rc = ccr_random(key, FMT_DEK_LEN);
    if (rc == 0) {
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
            rc = ccr_err_set(errno, "%s: %s", path,
                             errno == EEXIST ? "already exists; not overwriting a key" : strerror(errno));
        } else {
            rc = ccr_write_all(fd, key, FMT_DEK_LEN);
            if (rc == 0 && fsync(fd) != 0)
                rc = errno;
            close(fd);
            if (rc != 0) {
                unlink(path);
                ccr_err_set(rc, "%s: %s", path, strerror(rc));
            }
        }
    }
    ccr_secmem_free(key, FMT_DEK_LEN);
    return rc;
}

void fmt_dek_free(struct fmt_dek *dek)
{
    if (dek == NULL)
        return;
    ccr_secmem_free(dek->bytes, FMT_DEK_LEN);
    free(dek);
}
