/* Content-Range, as the stores check it against the range they asked for. */
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
