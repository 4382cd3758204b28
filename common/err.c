#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static __thread char err_message[CCR_ERR_MSG_MAX];
static __thread int err_has_message;

int ccr_err_set(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_message, sizeof err_message, fmt, ap);
    va_end(ap);
    err_has_message = 1;
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
    if (err_has_message)
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
    return code;
}

const char *ccr_err_msg(int code)
{
    if (err_has_message)
        return err_message;
    return strerror(code);
}

void ccr_err_clear(void)
{
    err_has_message = 0;
    err_message[0] = '\0';
}
