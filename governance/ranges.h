/* Byte ranges kept sorted and disjoint, adjacent and overlapping ones merged: the read
 * records of an open file, and the coverage an audit report computes from them. */
#ifndef CCRFS_GOVERNANCE_RANGES_H
#define CCRFS_GOVERNANCE_RANGES_H

#include "common/array.h"

#include <stdint.h>

struct gov_range {
    uint64_t off, len;
};

/* Adds [off, off+len) to a (a ccr_array of struct gov_range). 0 or ENOMEM (a unchanged). */
int gov_ranges_add(struct ccr_array *a, uint64_t off, uint64_t len);

#endif
