#include "common/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

/* log_lock protects log_prefix and keeps lines from different threads whole. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static enum ccr_log_level log_level = CCR_LOG_INFO;
static int log_to_syslog;
static const char *log_prefix = "ccrfs";

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

void ccr_log_set_prefix(const char *prefix)
{
    pthread_mutex_lock(&log_lock);
    log_prefix = prefix;
    pthread_mutex_unlock(&log_lock);
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
    if (log_to_syslog) {
        syslog(syslog_levels[level], "%s", line);
        return;
    }
    pthread_mutex_lock(&log_lock);
    fprintf(stderr, "%s: %s: %s\n", log_prefix, names[level], line);
    pthread_mutex_unlock(&log_lock);
}
