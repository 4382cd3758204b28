/* What HTTP answers mean to the stores: Content-Range, retry and backoff, status to errno. */
#include "fetch/http.h"
#include "common/err.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static int parse_u64(const char **p, uint64_t *out)
{
    uint64_t v = 0;
    const char *s = *p;

    if (!isdigit((unsigned char)*s))
        return EINVAL;
    for (; isdigit((unsigned char)*s); s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return EINVAL;
        v = v * 10 + d;
    }
    *p = s;
    *out = v;
    return 0;
}

int fetch_parse_content_range(const char *value, uint64_t *first, uint64_t *last, uint64_t *total)
{
    const char *p = value;
    uint64_t f, l, t;

    if (strncmp(p, "bytes ", 6) != 0)
        return EINVAL;
    p += 6;
    if (parse_u64(&p, &f) != 0 || *p++ != '-' || parse_u64(&p, &l) != 0 || *p++ != '/')
        return EINVAL;
    if (*p == '*' && p[1] == '\0') {
        t = UINT64_MAX;
        p++;
    } else if (parse_u64(&p, &t) != 0 || l >= t) {
        return EINVAL;
    }
    if (*p != '\0' || f > l)
        return EINVAL;
    *first = f;
    *last = l;
    *total = t;
    return 0;
}

unsigned fetch_retry_delay_ms(const struct fetch_retry_policy *p, unsigned attempt, uint32_t rnd)
{
    uint64_t d = p->base_ms;
    unsigned half;

    if (attempt == 0)
        attempt = 1;
    for (unsigned i = 1; i < attempt && d < p->cap_ms; i++)
        d *= 2;
    if (d > p->cap_ms)
        d = p->cap_ms;
    /* Jitter spreads the retries of many clients hit by the same outage. */
    half = (unsigned)(d / 2);
    return (unsigned)(d - half) + (half ? rnd % (half + 1) : 0);
}

int fetch_retry_status(long status)
{
    if (status == 408 || status == 429)
        return 1;
    return status >= 500 && status <= 599 && status != 501 && status != 505;
}

int fetch_http_status_errno(long status)
{
    switch (status) {
    case 404:
        return ENOENT;
    case 401:
    case 403:
        return EACCES;
    case 412:
        return ESTALE;
    default:
        return EIO;
    }
}

unsigned fetch_parse_retry_after(const char *value)
{
    const char *p = value;
    uint64_t secs;

    if (parse_u64(&p, &secs) != 0 || *p != '\0')
        return 0;
    if (secs > 3600)
        secs = 3600;
    return (unsigned)secs * 1000;
}
