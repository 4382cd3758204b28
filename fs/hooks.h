/* What the filesystem asks of governance and policy. Every hook may be NULL (nothing to
 * ask). The governance module provides an implementation; the mount command wires it in.
 * Hooks are called from many FUSE threads at once and must not block for long. */
#ifndef CCRFS_FS_HOOKS_H
#define CCRFS_FS_HOOKS_H

#include <stdint.h>
#include <sys/types.h>

struct fs_open_info {
    const char *path; /* relative to the mount root, no leading '/' */
    int flags;        /* open(2) flags */
    pid_t pid;
    uid_t uid;
    gid_t gid;
    const char *process_name; /* from /proc/PID/comm, "" when unknown */
};

struct fs_access_hooks {
    void *arg;
    /* 1: every open's reads must reach on_read (governance under a contract), so the kernel
     * keeps no pages of a file from one open to the next. */
    int reads_every_open;
    /* Before an open succeeds: 0 allows it and sets *handle (passed to the hooks below);
     * a positive errno (EACCES) refuses it, and the hook has recorded why. */
    int (*on_open)(void *arg, const struct fs_open_info *info, uint64_t *handle);
    /* Before bytes [offset, offset+len) of an open file are returned: 0 allows, EACCES
     * refuses (fail closed: audit cannot be written, consent withdrawn, budget spent). */
    int (*on_read)(void *arg, uint64_t handle, uint64_t offset, uint64_t len);
    /* The last close of an open file (also for files still open when the mount ends). */
    void (*on_release)(void *arg, uint64_t handle);
    /* A block of a file failed authentication; block UINT64_MAX means the blob's header (or
     * its size) does not match the manifest, found at open. */
    void (*on_integrity_failure)(void *arg, const char *path, uint64_t block);
    /* Sink mounts: before a closed output file is sealed for the recipient and uploaded. 0
     * allows the upload (consent was checked and the upload recorded: path, size, plaintext
     * SHA-256, the object it goes to); EACCES refuses it, and the hook has recorded why. */
    int (*on_upload)(void *arg, const char *path, uint64_t size, const uint8_t sha256[32],
                     const char *object);
};

#endif
