#include "common/log.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

/* log_lock protects the prefix and the file target and keeps lines from different threads whole. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
/* Where lines go and how many may change while other threads log (a daemon detaching): atomics. */
static _Atomic enum ccr_log_level log_level = CCR_LOG_INFO;
static atomic_int log_to_syslog;
static atomic_int log_stderr_off;
static const char *log_prefix = "ccrfs";
static int log_fd = -1;
static char *log_path;
static uint64_t log_size, log_max;

void ccr_log_set_level(enum ccr_log_level level)
{
    log_level = level;
}

enum ccr_log_level ccr_log_get_level(void)
{
    return log_level;
}

void ccr_log_use_syslog(const char *ident)
{
    openlog(ident, LOG_PID, LOG_DAEMON);
    log_to_syslog = 1;
}

int ccr_log_syslog_available(void)
{
    struct stat st;
    return stat("/dev/log", &st) == 0 && S_ISSOCK(st.st_mode);
}

static int log_open_locked(void)
{
    struct stat st;
    int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

    if (fd < 0)
        return errno;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return EINVAL;
    }
    log_fd = fd;
    log_size = (uint64_t)st.st_size;
    return 0;
}

int ccr_log_use_file(const char *path, uint64_t max_bytes)
{
    char *copy = strdup(path);
    int rc;

    if (copy == NULL)
        return ENOMEM;
    pthread_mutex_lock(&log_lock);
    if (log_fd >= 0)
        close(log_fd);
    log_fd = -1;
    free(log_path);
    log_path = copy;
    log_max = max_bytes != 0 ? max_bytes : CCR_LOG_FILE_MAX_DEFAULT;
    rc = log_open_locked();
    if (rc != 0) {
        free(log_path);
        log_path = NULL;
    }
    pthread_mutex_unlock(&log_lock);
    if (rc != 0)
        return ccr_err_set(rc, "log file %s: %s", path, strerror(rc));
    return 0;
}

void ccr_log_close_file(void)
{
    pthread_mutex_lock(&log_lock);
    if (log_fd >= 0)
        close(log_fd);
    log_fd = -1;
    free(log_path);
    log_path = NULL;
    pthread_mutex_unlock(&log_lock);
}

void ccr_log_stderr_off(void)
{
    pthread_mutex_lock(&log_lock);
    log_stderr_off = 1;
    pthread_mutex_unlock(&log_lock);
}

void ccr_log_set_prefix(const char *prefix)
{
    pthread_mutex_lock(&log_lock);
    log_prefix = prefix;
    pthread_mutex_unlock(&log_lock);
}

/* Past the cap the file becomes PATH.1 and a new one starts: the newest lines always survive. */
static void log_rotate_locked(void)
{
    size_t len = strlen(log_path) + 3;
    char *old = malloc(len);

    if (old == NULL)
        return; /* keep appending: a line lost is worse than a file a bit over its cap */
    snprintf(old, len, "%s.1", log_path);
    if (rename(log_path, old) == 0) {
        close(log_fd);
        log_fd = -1;
        if (log_open_locked() != 0)
            log_fd = -1; /* nowhere left to write: stderr or syslog still get the lines */
    }
    free(old);
}

static void log_file_write_locked(const char *level, const char *line)
{
    char stamp[32], buf[2200];
    int n;

    if (log_fd < 0)
        return;
    ccr_clock_iso8601(ccr_clock_wall(), stamp, sizeof stamp);
    n = snprintf(buf, sizeof buf, "%s %s[%ld]: %s: %s\n", stamp, log_prefix, (long)getpid(), level, line);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof buf) {
        n = (int)sizeof buf - 1;
        buf[n - 1] = '\n';
    }
    if (log_size + (uint64_t)n > log_max && log_size > 0)
        log_rotate_locked();
    if (log_fd >= 0 && ccr_write_all(log_fd, buf, (size_t)n) == 0)
        log_size += (uint64_t)n;
}

void ccr_log(enum ccr_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    static const int syslog_levels[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    char line[2048];
    va_list ap;

    if (level > log_level)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&log_lock);
    log_file_write_locked(names[level], line);
    if (log_to_syslog) {
        pthread_mutex_unlock(&log_lock);
        syslog(syslog_levels[level], "%s", line);
        return;
    }
    if (!log_stderr_off)
        fprintf(stderr, "%s: %s: %s\n", log_prefix, names[level], line);
    pthread_mutex_unlock(&log_lock);
}
