/* Sorted, disjoint byte ranges (see ranges.h). */
#include "governance/ranges.h"

#include <errno.h>
#include <string.h>

int gov_ranges_add(struct ccr_array *a, uint64_t off, uint64_t len)
{
    struct gov_range *r = a->items;
    size_t n = a->len, i, j;
    uint64_t end = off + len;

    if (n > 0) {
        struct gov_range *last = &r[n - 1];
        if (off >= last->off && off <= last->off + last->len) { /* sequential: the common case */
            if (end > last->off + last->len)
                last->len = end - last->off;
            return 0;
        }
    }
    if (ccr_array_reserve(a, n + 1) != 0)
        return ENOMEM;
    r = a->items;
    for (i = 0; i < n && r[i].off + r[i].len < off; i++)
        ;
    /* r[i..j) touch or overlap the new one: merge them. */
    for (j = i; j < n && r[j].off <= end; j++) {
        if (r[j].off < off)
            off = r[j].off;
        if (r[j].off + r[j].len > end)
            end = r[j].off + r[j].len;
    }
    if (j == i) {
        memmove(&r[i + 1], &r[i], (n - i) * sizeof *r);
        a->len++;
    } else if (j > i + 1) {
        memmove(&r[i + 1], &r[j], (n - j) * sizeof *r);
        a->len -= j - i - 1;
    }
    r[i].off = off;
    r[i].len = end - off;
    return 0;
}
