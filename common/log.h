/* Logging to standard error (or syslog once the daemon has detached).
 * Never pass key material or plaintext to these functions. */
#ifndef CCRFS_COMMON_LOG_H
#define CCRFS_COMMON_LOG_H

enum ccr_log_level { CCR_LOG_ERROR = 0, CCR_LOG_WARN, CCR_LOG_INFO, CCR_LOG_DEBUG };

void ccr_log_set_level(enum ccr_log_level level);
enum ccr_log_level ccr_log_get_level(void);
/* Sends further messages to syslog instead of stderr (after daemonizing). */
void ccr_log_use_syslog(const char *ident);
/* A short name printed before every message on stderr ("ccrfs", "ccrfs mount"). */
void ccr_log_set_prefix(const char *prefix);

void ccr_log(enum ccr_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define ccr_log_error(...) ccr_log(CCR_LOG_ERROR, __VA_ARGS__)
#define ccr_log_warn(...)  ccr_log(CCR_LOG_WARN, __VA_ARGS__)
#define ccr_log_info(...)  ccr_log(CCR_LOG_INFO, __VA_ARGS__)
#define ccr_log_debug(...) ccr_log(CCR_LOG_DEBUG, __VA_ARGS__)

#endif
