/* Finding the files of a rotated audit log (see logset.h). */
#include "governance/logset.h"
#include "common/err.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int cmp_ulong(const void *a, const void *b)
{
    unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;
    return x < y ? -1 : x > y;
}

/* The numbers N of the NAME.N entries next to path, sorted. */
static int rotated_numbers(const char *path, struct ccr_array *nums)
{
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    size_t name_len = strlen(name);
    char *dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
    DIR *d;
    struct dirent *de;
    int rc = 0;

    if (dir == NULL)
        return ENOMEM;
    d = opendir(dir);
    if (d == NULL) {
        rc = errno == ENOENT ? 0 : ccr_err_set(errno, "audit log folder %s: %s", dir, strerror(errno));
        free(dir);
        return rc;
    }
    while ((de = readdir(d)) != NULL) {
        const char *p = de->d_name + name_len + 1;
        char *end;
        unsigned long n;
        if (strncmp(de->d_name, name, name_len) != 0 || de->d_name[name_len] != '.' || *p < '1' || *p > '9')
            continue;
        errno = 0;
        n = strtoul(p, &end, 10);
        if (errno != 0 || *end != '\0')
            continue;
        if (ccr_array_append(nums, &n) != 0) {
            rc = ENOMEM;
            break;
        }
    }
    closedir(d);
    free(dir);
    if (nums->len > 1)
        qsort(nums->items, nums->len, sizeof(unsigned long), cmp_ulong);
    return rc;
}

int gov_logset_last(const char *path, unsigned long *last)
{
    struct ccr_array nums = CCR_ARRAY_INIT(unsigned long);
    int rc = rotated_numbers(path, &nums);
    *last = rc == 0 && nums.len > 0 ? CCR_ARRAY_AT(&nums, unsigned long, nums.len - 1) : 0;
    ccr_array_free(&nums);
    return rc;
}

static int add_copy(struct ccr_array *files, char *s)
{
    if (s == NULL || ccr_array_append(files, &s) != 0) {
        free(s);
        return ENOMEM;
    }
    return 0;
}

int gov_logset_list(const char *path, struct ccr_array *files)
{
    struct ccr_array nums = CCR_ARRAY_INIT(unsigned long);
    int rc = rotated_numbers(path, &nums);

    for (size_t i = 0; rc == 0 && i < nums.len; i++) {
        unsigned long n = CCR_ARRAY_AT(&nums, unsigned long, i);
        size_t len = strlen(path) + 24;
        char *name = malloc(len);
        if (n != i + 1) {
            free(name);
            rc = ccr_err_set(EBADMSG, "%s.%zu is missing from the rotated audit log (%zu files follow it)",
                             path, i + 1, nums.len - i);
            break;
        }
        if (name != NULL)
            snprintf(name, len, "%s.%lu", path, n);
        rc = add_copy(files, name);
    }
    if (rc == 0 && access(path, F_OK) == 0)
        rc = add_copy(files, strdup(path));
    if (rc == 0 && files->len == 0)
        rc = ccr_err_set(ENOENT, "%s: %s", path, strerror(ENOENT));
    ccr_array_free(&nums);
    if (rc != 0)
        gov_logset_free(files);
    return rc;
}

void gov_logset_free(struct ccr_array *files)
{
    for (size_t i = 0; i < files->len; i++)
        free(CCR_ARRAY_AT(files, char *, i));
    ccr_array_free(files);
}
