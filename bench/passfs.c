/* passfs: a plaintext folder through FUSE, read-only, doing nothing but pass calls through; the
 * reference for what FUSE itself costs a tree walk or a small-file read on this machine
 * (bench/scale.sh). It uses the same kernel caching ccrfs asks for (names and attributes kept
 * for a day, page cache kept) and readdirplus, so the difference to ccrfs is ccrfs's own work.
 *
 *   passfs SOURCE MOUNTPOINT     (daemonizes; fusermount3 -u MOUNTPOINT stops it) */
#define FUSE_USE_VERSION 312
#include <fuse.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int passfs_root = -1; /* the source folder, opened once: paths are resolved under it */

/* FUSE paths start with '/'; the source-relative path is the rest, or "." for the root. */
static const char *rel(const char *path)
{
    return path[1] == '\0' ? "." : path + 1;
}

static void *passfs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
    (void)conn;
    cfg->use_ino = 1;
    cfg->kernel_cache = 1;
    cfg->entry_timeout = cfg->attr_timeout = 86400.0;
    cfg->negative_timeout = 86400.0;
    return NULL;
}

static int passfs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
    (void)fi;
    return fstatat(passfs_root, rel(path), st, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -errno;
}

static int passfs_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
                          struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
    int fd = openat(passfs_root, rel(path), O_RDONLY | O_DIRECTORY);
    DIR *d;
    struct dirent *e;

    (void)off;
    (void)fi;
    if (fd < 0)
        return -errno;
    if ((d = fdopendir(fd)) == NULL) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        int plus = (flags & FUSE_READDIR_PLUS) && fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0;
        if (fill(buf, e->d_name, plus ? &st : NULL, 0, plus ? FUSE_FILL_DIR_PLUS : 0) != 0)
            break;
    }
    closedir(d);
    return 0;
}

static int passfs_open(const char *path, struct fuse_file_info *fi)
{
    int fd;

    if ((fi->flags & O_ACCMODE) != O_RDONLY)
        return -EROFS;
    if ((fd = openat(passfs_root, rel(path), O_RDONLY)) < 0)
        return -errno;
    fi->fh = (uint64_t)fd;
    fi->keep_cache = 1;
    return 0;
}

static int passfs_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
    ssize_t n;

    (void)path;
    n = pread((int)fi->fh, buf, size, off);
    return n < 0 ? -errno : (int)n;
}

static int passfs_release(const char *path, struct fuse_file_info *fi)
{
    (void)path;
    close((int)fi->fh);
    return 0;
}

static const struct fuse_operations passfs_ops = {
    .init = passfs_init,
    .getattr = passfs_getattr,
    .readdir = passfs_readdir,
    .open = passfs_open,
    .read = passfs_read,
    .release = passfs_release,
};

int main(int argc, char **argv)
{
    char *fargv[] = {argv[0], NULL, "-o", "ro,default_permissions,fsname=passfs", NULL};

    if (argc != 3) {
        fprintf(stderr, "usage: passfs SOURCE MOUNTPOINT\n");
        return 2;
    }
    if ((passfs_root = open(argv[1], O_RDONLY | O_DIRECTORY)) < 0) {
        fprintf(stderr, "passfs: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    fargv[1] = argv[2];
    return fuse_main(4, fargv, &passfs_ops, NULL);
}
