#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static __thread char err_message[CCR_ERR_MSG_MAX];
static __thread int err_has_message;
static __thread int err_code; /* the code the message was recorded with */

int ccr_err_set(int code, const char *fmt, ...)
{
    char text[CCR_ERR_MSG_MAX];
    va_list ap;
    /* Formatted aside first: an argument may be this thread's current message. */
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    memcpy(err_message, text, sizeof err_message);
    err_has_message = 1;
    err_code = code;
    return code;
}

int ccr_err_wrap(int code, const char *fmt, ...)
{
    char prefix[CCR_ERR_MSG_MAX];
    char old[CCR_ERR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    if (err_has_message && err_code == code)
        snprintf(old, sizeof old, "%s", err_message);
    else
        snprintf(old, sizeof old, "%s", strerror(code));
    {
        size_t pl = strlen(prefix), ol = strlen(old);
        if (pl > sizeof err_message - 1)
            pl = sizeof err_message - 1;
        if (ol > sizeof err_message - 1 - pl)
            ol = sizeof err_message - 1 - pl;
        memcpy(err_message, prefix, pl);
        memcpy(err_message + pl, old, ol);
        err_message[pl + ol] = '\0';
    }
    err_has_message = 1;
    err_code = code;
    return code;
}

const char *ccr_err_msg(int code)
{
    /* A message recorded for another failure (an earlier one on this thread) would explain the
     * wrong thing; only one recorded with this very code is returned. */
    if (err_has_message && err_code == code)
        return err_message;
    return strerror(code);
}

void ccr_err_clear(void)
{
    err_has_message = 0;
    err_code = 0;
    err_message[0] = '\0';
}
