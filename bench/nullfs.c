/* nullfs: the ceiling for FUSE reads on this machine. One file, /zero, of --size bytes, every
 * byte zero; the same FUSE settings as ccrfs (1 MiB reads, async reads, keep_cache, the
 * multithreaded loop, raised read-ahead), and no work per read beyond the reply.
 *
 *   nullfs [--size BYTES] [--readahead-kb N] MOUNTPOINT     (foreground; SIGTERM unmounts) */
#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define NULLFS_MAX_READ (1u << 20)
#define NULLFS_FILE_INO 2

static uint64_t nullfs_size = 1ull << 30;
static unsigned nullfs_readahead_kb = 8192;
static const char *nullfs_mountpoint;
static const char nullfs_zeros[NULLFS_MAX_READ];

static void nullfs_stat(fuse_ino_t ino, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_ino = ino;
    if (ino == FUSE_ROOT_ID) {
        st->st_mode = S_IFDIR | 0755;
        st->st_nlink = 2;
    } else {
        st->st_mode = S_IFREG | 0444;
        st->st_nlink = 1;
        st->st_size = (off_t)nullfs_size;
    }
}

static void nullfs_init(void *userdata, struct fuse_conn_info *conn)
{
    (void)userdata;
    conn->max_read = NULLFS_MAX_READ;
    if (conn->max_write < NULLFS_MAX_READ)
        conn->max_write = NULLFS_MAX_READ;
    conn->max_background = 64;
    conn->congestion_threshold = 48;
    if (conn->capable & FUSE_CAP_ASYNC_READ)
        conn->want |= FUSE_CAP_ASYNC_READ;
    conn->want &= ~(unsigned)(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
}

static void nullfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct fuse_entry_param e;

    if (parent != FUSE_ROOT_ID || strcmp(name, "zero") != 0)
        return (void)fuse_reply_err(req, ENOENT);
    memset(&e, 0, sizeof e);
    e.ino = NULLFS_FILE_INO;
    e.attr_timeout = e.entry_timeout = 86400.0;
    nullfs_stat(e.ino, &e.attr);
    fuse_reply_entry(req, &e);
}

static void nullfs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct stat st;

    (void)fi;
    if (ino != FUSE_ROOT_ID && ino != NULLFS_FILE_INO)
        return (void)fuse_reply_err(req, ENOENT);
    nullfs_stat(ino, &st);
    fuse_reply_attr(req, &st, 86400.0);
}

static void nullfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    char buf[512];
    size_t used = 0;
    struct stat st;

    (void)fi;
    if (ino != FUSE_ROOT_ID)
        return (void)fuse_reply_err(req, ENOTDIR);
    if (size > sizeof buf)
        size = sizeof buf;
    if (off < 1) {
        nullfs_stat(FUSE_ROOT_ID, &st);
        used += fuse_add_direntry(req, buf + used, size - used, ".", &st, 1);
    }
    if (off < 2) {
        nullfs_stat(FUSE_ROOT_ID, &st);
        used += fuse_add_direntry(req, buf + used, size - used, "..", &st, 2);
    }
    if (off < 3) {
        nullfs_stat(NULLFS_FILE_INO, &st);
        used += fuse_add_direntry(req, buf + used, size - used, "zero", &st, 3);
    }
    fuse_reply_buf(req, buf, used > size ? 0 : used);
}

static void nullfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    if (ino != NULLFS_FILE_INO)
        return (void)fuse_reply_err(req, EISDIR);
    if ((fi->flags & O_ACCMODE) != O_RDONLY)
        return (void)fuse_reply_err(req, EROFS);
    fi->keep_cache = 1;
    fuse_reply_open(req, fi);
}

static void nullfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)ino;
    (void)fi;
    if ((uint64_t)off >= nullfs_size)
        return (void)fuse_reply_buf(req, NULL, 0);
    if (size > nullfs_size - (uint64_t)off)
        size = (size_t)(nullfs_size - (uint64_t)off);
    if (size > sizeof nullfs_zeros)
        size = sizeof nullfs_zeros;
    fuse_reply_buf(req, nullfs_zeros, size);
}

static const struct fuse_lowlevel_ops nullfs_ops = {
    .init = nullfs_init,
    .lookup = nullfs_lookup,
    .getattr = nullfs_getattr,
    .readdir = nullfs_readdir,
    .open = nullfs_open,
    .read = nullfs_read,
};

/* Same as ccrfs: once the mount answers, raise its read-ahead. */
static void *nullfs_tune(void *arg)
{
    struct stat st;
    char path[96];
    FILE *f;

    (void)arg;
    if (stat(nullfs_mountpoint, &st) != 0)
        return NULL;
    snprintf(path, sizeof path, "/sys/class/bdi/%u:%u/read_ahead_kb", major(st.st_dev), minor(st.st_dev));
    if ((f = fopen(path, "we")) != NULL) {
        fprintf(f, "%u\n", nullfs_readahead_kb);
        fclose(f);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    char opts[128];
    char *fargv[] = {argv[0], "-o", opts, NULL};
    struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
    struct fuse_session *se;
    struct fuse_loop_config *cfg;
    pthread_t tid;
    int i, rc;

    for (i = 1; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (strcmp(argv[i], "--size") == 0)
            nullfs_size = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--readahead-kb") == 0)
            nullfs_readahead_kb = (unsigned)strtoul(argv[i + 1], NULL, 10);
        else
            break;
    }
    if (i != argc - 1) {
        fprintf(stderr, "usage: nullfs [--size BYTES] [--readahead-kb N] MOUNTPOINT\n");
        return 2;
    }
    nullfs_mountpoint = argv[i];
    snprintf(opts, sizeof opts, "ro,fsname=nullfs,subtype=nullfs,max_read=%u,allow_other", NULLFS_MAX_READ);
    se = fuse_session_new(&args, &nullfs_ops, sizeof nullfs_ops, NULL);
    if (se == NULL || fuse_set_signal_handlers(se) != 0 || fuse_session_mount(se, nullfs_mountpoint) != 0) {
        fprintf(stderr, "nullfs: cannot mount at %s\n", nullfs_mountpoint);
        return 1;
    }
    if (pthread_create(&tid, NULL, nullfs_tune, NULL) == 0)
        pthread_detach(tid);
    cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_idle_threads(cfg, 8);
    fuse_loop_cfg_set_max_threads(cfg, 32);
    rc = fuse_session_loop_mt(se, cfg);
    fuse_loop_cfg_destroy(cfg);
    fuse_session_unmount(se);
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    return rc < 0 ? 1 : 0;
}
