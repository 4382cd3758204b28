#include "common/array.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void ccr_array_init(struct ccr_array *a, size_t elem_size)
{
    a->items = NULL;
    a->len = a->cap = 0;
    a->elem_size = elem_size;
}

int ccr_array_reserve(struct ccr_array *a, size_t n)
{
    size_t cap;
    void *p;

    if (n <= a->cap)
        return 0;
    cap = a->cap ? a->cap : 8;
    while (cap < n) {
        if (cap > SIZE_MAX / 2)
            return ENOMEM;
        cap *= 2;
    }
    if (a->elem_size == 0 || cap > SIZE_MAX / a->elem_size)
        return ENOMEM;
    p = realloc(a->items, cap * a->elem_size);
    if (p == NULL)
        return ENOMEM;
    a->items = p;
    a->cap = cap;
    return 0;
}

void *ccr_array_push(struct ccr_array *a)
{
    char *slot;

    if (a->len == SIZE_MAX || ccr_array_reserve(a, a->len + 1) != 0)
        return NULL;
    slot = (char *)a->items + a->len * a->elem_size;
    memset(slot, 0, a->elem_size);
    a->len++;
    return slot;
}

int ccr_array_append(struct ccr_array *a, const void *elem)
{
    void *slot = ccr_array_push(a);
    if (slot == NULL)
        return ENOMEM;
    memcpy(slot, elem, a->elem_size);
    return 0;
}

void *ccr_array_steal(struct ccr_array *a, size_t *len)
{
    void *items = a->items;
    if (len != NULL)
        *len = a->len;
    a->items = NULL;
    a->len = a->cap = 0;
    return items;
}

void ccr_array_free(struct ccr_array *a)
{
    free(a->items);
    a->items = NULL;
    a->len = a->cap = 0;
}
