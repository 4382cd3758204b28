#include "tests/support/scratch.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

int tsup_scratch_make(char *dir, size_t len, const char *name)
{
    if ((size_t)snprintf(dir, len, "/tmp/%s.XXXXXX", name) >= len)
        return ENAMETOOLONG;
    return mkdtemp(dir) != NULL ? 0 : errno;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 ? 0 : errno;
}

int tsup_scratch_remove(const char *dir)
{
    return nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}
