/* A scratch folder per test program: made under /tmp with a unique name, removed whole. */
#ifndef CCRFS_TESTS_SUPPORT_SCRATCH_H
#define CCRFS_TESTS_SUPPORT_SCRATCH_H

#include <stddef.h>

/* Makes /tmp/NAME.XXXXXX into dir (len >= strlen(name) + 13); 0 or errno. */
int tsup_scratch_make(char *dir, size_t len, const char *name);
/* Removes dir and everything below it, never following links; 0 or errno. */
int tsup_scratch_remove(const char *dir);

#endif
