/* Logging to standard error, and once the daemon has detached to syslog or, where there is no
 * syslog (containers without /dev/log), to a size-capped file. Never pass key material or
 * plaintext to these functions. */
#ifndef CCRFS_COMMON_LOG_H
#define CCRFS_COMMON_LOG_H

#include <stdint.h>

enum ccr_log_level { CCR_LOG_ERROR = 0, CCR_LOG_WARN, CCR_LOG_INFO, CCR_LOG_DEBUG };

/* A log file grows to this size by default, then is renamed to PATH.1 (replacing an older one)
 * and started anew: at most twice this on disk. */
#define CCR_LOG_FILE_MAX_DEFAULT (8u * 1024 * 1024)

void ccr_log_set_level(enum ccr_log_level level);
enum ccr_log_level ccr_log_get_level(void);
/* Sends further messages to syslog instead of stderr (after daemonizing). */
void ccr_log_use_syslog(const char *ident);
/* 1 when a syslog daemon can be reached: /dev/log is a socket. syslog(3) drops every message
 * silently otherwise. */
int ccr_log_syslog_available(void);
/* Writes every further message also to the file at path (created mode 0600, appended to), one
 * timestamped line each, rotated past max_bytes (0: CCR_LOG_FILE_MAX_DEFAULT). Replaces a file
 * opened before. 0 or an errno with a message. */
int ccr_log_use_file(const char *path, uint64_t max_bytes);
/* Stops writing to stderr (after daemonizing, when stderr is /dev/null); the file (or syslog)
 * keeps receiving messages. */
void ccr_log_stderr_off(void);
/* Closes the file opened by ccr_log_use_file; messages go to stderr again (if not turned off). */
void ccr_log_close_file(void);
/* A short name printed before every message on stderr ("ccrfs", "ccrfs mount"). */
void ccr_log_set_prefix(const char *prefix);

void ccr_log(enum ccr_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define ccr_log_error(...) ccr_log(CCR_LOG_ERROR, __VA_ARGS__)
#define ccr_log_warn(...)  ccr_log(CCR_LOG_WARN, __VA_ARGS__)
#define ccr_log_info(...)  ccr_log(CCR_LOG_INFO, __VA_ARGS__)
#define ccr_log_debug(...) ccr_log(CCR_LOG_DEBUG, __VA_ARGS__)

#endif
