#include "launch/lifecycle.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* The spool's lock file (governance/spool.c takes an exclusive flock on it while open). */
#define LAUNCH_SPOOL_LOCK_NAME   "lock"
#define LAUNCH_DEAD_MOUNT_ROUNDS 8

/* The absolute path of a mount point that cannot be stat'ed: its parent resolved, its own
 * name appended (realpath would stat the dead mount itself). */
static char *launch_abs_dead_path(const char *mp)
{
    char *copy = strdup(mp), *slash, *parent, *out = NULL;
    const char *name;
    size_t len;

    if (copy == NULL)
        return NULL;
    len = strlen(copy);
    while (len > 1 && copy[len - 1] == '/')
        copy[--len] = '\0';
    slash = strrchr(copy, '/');
    if (slash == NULL) {
        parent = realpath(".", NULL);
        name = copy;
    } else {
        *slash = '\0';
        parent = realpath(slash == copy ? "/" : copy, NULL);
        name = slash + 1;
    }
    if (parent != NULL && name[0] != '\0' && strcmp(name, ".") != 0 && strcmp(name, "..") != 0)
        out = ccr_path_join(parent, name);
    free(parent);
    free(copy);
    return out;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void launch_unescape(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
            s[3] <= '7') {
            *o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 3;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
}

/* The type of the topmost mount at path (later lines of mountinfo are mounted on top), or "". */
static int launch_mount_type_at(const char *path, char *type, size_t size)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char *line = NULL;
    size_t cap = 0;

    type[0] = '\0';
    if (f == NULL)
        return ccr_err_set(errno, "/proc/self/mountinfo: %s", strerror(errno));
    while (getline(&line, &cap, f) > 0) {
        char *save = NULL, *tok, *mp = NULL, *sep;
        int field = 0;

        /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER */
        if ((sep = strstr(line, " - ")) == NULL)
            continue;
        *sep = '\0';
        for (tok = strtok_r(line, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save))
            if (++field == 5)
                mp = tok;
        if (mp == NULL)
            continue;
        launch_unescape(mp);
        if (strcmp(mp, path) != 0)
            continue;
        tok = strtok_r(sep + 3, " ", &save);
        snprintf(type, size, "%s", tok != NULL ? tok : "");
    }
    free(line);
    fclose(f);
    return 0;
}

/* Without CAP_SYS_ADMIN the setuid helper unmounts what the caller mounted. */
static int launch_fusermount_lazy(const char *path)
{
    char *argv[] = {"fusermount3", "-uz", (char *)path, NULL};
    pid_t pid;
    int ws, rc;

    if ((rc = posix_spawnp(&pid, "fusermount3", NULL, NULL, argv, environ)) != 0)
        return rc;
    while (waitpid(pid, &ws, 0) < 0)
        if (errno != EINTR)
            return errno;
    return WIFEXITED(ws) && WEXITSTATUS(ws) == 0 ? 0 : EPERM;
}

/* stat() of a dead FUSE mount may still succeed from the kernel's attribute cache; statfs
 * always asks the daemon. */
static int launch_is_dead(const char *path)
{
    struct stat st;
    struct statfs sfs;

    if (stat(path, &st) != 0)
        return errno == ENOTCONN;
    return statfs(path, &sfs) != 0 && errno == ENOTCONN;
}

int launch_clean_dead_mount(const char *mountpoint)
{
    char type[64], *abs;
    int rc = 0;

    for (int round = 0; round < LAUNCH_DEAD_MOUNT_ROUNDS; round++) {
        if (!launch_is_dead(mountpoint))
            return 0;
        if ((abs = launch_abs_dead_path(mountpoint)) == NULL)
            return 0; /* the mount point check says what is wrong */
        if ((rc = launch_mount_type_at(abs, type, sizeof type)) != 0 || strcmp(type, "fuse.ccrfs") != 0) {
            free(abs);
            return rc;
        }
        ccr_log_warn("%s: the ccrfs mounted there has no daemon any more (it was killed); unmounting it",
                     abs);
        if (umount2(abs, MNT_DETACH) != 0) {
            int err = errno;
            if ((err != EPERM && err != EACCES) || launch_fusermount_lazy(abs) != 0) {
                rc = ccr_err_set(EBUSY,
                                 "%s: cannot unmount the dead ccrfs mount there (%s); fusermount3 -uz %s",
                                 abs, strerror(err), abs);
                free(abs);
                return rc;
            }
        }
        free(abs);
    }
    return 0;
}

/* The process holding an flock on the file (dev, ino), from /proc/locks; 0 when not found. */
static long launch_lock_holder(dev_t dev, ino_t ino)
{
    FILE *f = fopen("/proc/locks", "re");
    char line[256];
    long holder = 0;

    if (f == NULL)
        return 0;
    while (holder == 0 && fgets(line, sizeof line, f) != NULL) {
        char kind[16], excl[16], access[16];
        unsigned maj, min;
        unsigned long long inode;
        long pid;

        /* "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"; waiters are marked "->" and skipped */
        if (strstr(line, "->") != NULL)
            continue;
        if (sscanf(line, "%*d: %15s %15s %15s %ld %x:%x:%llu", kind, excl, access, &pid, &maj, &min,
                   &inode) != 7)
            continue;
        if (strcmp(kind, "FLOCK") == 0 && maj == major(dev) && min == minor(dev) &&
            inode == (unsigned long long)ino)
            holder = pid;
    }
    fclose(f);
    return holder;
}

int launch_wait_spool(const char *spool_dir, uint32_t timeout_ms)
{
    char *path = ccr_path_join(spool_dir, LAUNCH_SPOOL_LOCK_NAME);
    uint64_t deadline = ccr_clock_mono_ms() + timeout_ms;
    struct stat st;
    long holder = 0;
    int fd, said = 0, rc = 0;

    if (path == NULL)
        return ENOMEM;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    free(path);
    if (fd < 0)
        return 0; /* never used, or unreadable: the spool itself says what is wrong */
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        struct timespec pause = {0, 100 * 1000 * 1000};
        if (errno != EWOULDBLOCK && errno != EINTR)
            break; /* the spool's own lock attempt reports it */
        if (!said) {
            if (fstat(fd, &st) == 0)
                holder = launch_lock_holder(st.st_dev, st.st_ino);
            if (holder > 0)
                ccr_log_info("waiting for the previous ccrfs of this spool (pid %ld) to finish", holder);
            else
                ccr_log_info("waiting for the previous ccrfs of this spool to finish");
            said = 1;
        }
        if (ccr_clock_mono_ms() >= deadline) {
            if (holder > 0)
                rc = ccr_err_set(EBUSY,
                                 "spool %s is still in use by another ccrfs process (pid %ld) after %u s",
                                 spool_dir, holder, timeout_ms / 1000);
            else
                rc = ccr_err_set(EBUSY, "spool %s is still in use by another ccrfs process after %u s",
                                 spool_dir, timeout_ms / 1000);
            close(fd);
            return rc;
        }
        nanosleep(&pause, NULL);
    }
    /* Closing drops the lock (if taken) for the spool to take. */
    close(fd);
    if (said)
        ccr_log_info("the previous ccrfs of this spool has finished");
    return 0;
}
