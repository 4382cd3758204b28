/* Error convention for the whole project.
 *
 * Every internal function returns 0 on success or a positive errno value on failure.
 * Only fs/ negates it, at the FUSE boundary. A function that fails with a reason a person
 * should read records it with ccr_err_set(); the message is per thread and names what is
 * wrong and where ("manifest.ccrfs: entry 12: path has an empty component"). */
#ifndef CCRFS_COMMON_ERR_H
#define CCRFS_COMMON_ERR_H

#include <errno.h>

#define CCR_ERR_MSG_MAX 1024

/* Records a message for the current thread and returns code, so callers can write
 * `return ccr_err_set(EINVAL, "...")`. */
int ccr_err_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prepends context to the current message ("blobs/ab12: " + old message) and returns code;
 * when the current message was recorded with another code, to strerror(code) instead. */
int ccr_err_wrap(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The last message recorded on this thread when it was recorded with this same code;
 * otherwise strerror(code), so a stale message never explains a different failure. */
const char *ccr_err_msg(int code);

/* Forgets the current thread's message. */
void ccr_err_clear(void);

#endif
