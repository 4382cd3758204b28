/* What answers and failures mean: retry or not, how long to wait, which errno. */
#include "net/http.h"
#include "common/random.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

unsigned net_retry_delay_ms(const struct net_retry_policy *p, unsigned attempt, uint32_t rnd)
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

unsigned net_retry_backoff_ms(const struct net_retry_policy *p, unsigned attempt)
{
    return net_retry_delay_ms(p, attempt, (uint32_t)ccr_random_below((uint64_t)UINT32_MAX + 1));
}

int net_retry_status(long status)
{
    if (status == 408 || status == 429)
        return 1;
    return status >= 500 && status <= 599 && status != 501 && status != 505;
}

int net_retry_curl(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        return 1;
    default:
        return 0;
    }
}

int net_method_idempotent(const char *method)
{
    static const char *const safe[] = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS"};

    for (size_t i = 0; i < sizeof safe / sizeof safe[0]; i++)
        if (strcasecmp(method, safe[i]) == 0)
            return 1;
    return 0;
}

unsigned net_parse_retry_after(const char *value)
{
    uint64_t secs = 0;
    const char *p = value;

    if (!isdigit((unsigned char)*p))
        return 0;
    for (; isdigit((unsigned char)*p); p++) {
        secs = secs * 10 + (unsigned)(*p - '0');
        if (secs > 3600)
            secs = 3600; /* no server makes us wait longer than an hour */
    }
    if (*p != '\0')
        return 0;
    return (unsigned)secs * 1000;
}

int net_curl_errno(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
        return ECONNREFUSED;
    case CURLE_OPERATION_TIMEDOUT:
        return ETIMEDOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return EHOSTUNREACH;
    case CURLE_OUT_OF_MEMORY:
        return ENOMEM;
    default:
        return EIO;
    }
}

int net_status_errno(long status)
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

int net_header_retry_after(const char *line, size_t len, unsigned *ms)
{
    const char *v = line + 12;
    char value[32];
    size_t vlen;

    if (len <= 12 || strncasecmp(line, "Retry-After:", 12) != 0)
        return 0;
    while (v < line + len && (*v == ' ' || *v == '\t'))
        v++;
    for (vlen = 0; v + vlen < line + len && v[vlen] != '\r' && v[vlen] != '\n'; vlen++)
        ;
    if (vlen >= sizeof value)
        return 0;
    memcpy(value, v, vlen);
    value[vlen] = '\0';
    *ms = net_parse_retry_after(value);
    return 1;
}
