/* A growable array of fixed-size elements, the one used everywhere a list grows.
 *   struct ccr_array a = CCR_ARRAY_INIT(struct item);
 *   struct item *it = ccr_array_push(&a);      // NULL (ENOMEM) when it cannot grow
 *   for (size_t i = 0; i < a.len; i++) use(CCR_ARRAY_AT(&a, struct item, i));
 *   ccr_array_free(&a);
 * Pointers into the array are valid until the next push or reserve. */
#ifndef CCRFS_COMMON_ARRAY_H
#define CCRFS_COMMON_ARRAY_H

#include <stddef.h>

struct ccr_array {
    void *items;
    size_t len, cap;
    size_t elem_size;
};

#define CCR_ARRAY_INIT(type)                                                                                 \
    {                                                                                                        \
        NULL, 0, 0, sizeof(type)                                                                             \
    }
#define CCR_ARRAY_AT(a, type, i) (((type *)(a)->items)[i])

void ccr_array_init(struct ccr_array *a, size_t elem_size);
/* Makes room for at least n elements in all; 0 or ENOMEM (the array is unchanged then). */
int ccr_array_reserve(struct ccr_array *a, size_t n);
/* Appends one zeroed element and returns it, or NULL when memory runs out. */
void *ccr_array_push(struct ccr_array *a);
/* Appends a copy of elem; 0 or ENOMEM. */
int ccr_array_append(struct ccr_array *a, const void *elem);
/* Hands the storage to the caller (free() it) and leaves the array empty. */
void *ccr_array_steal(struct ccr_array *a, size_t *len);
void ccr_array_free(struct ccr_array *a);

#endif
