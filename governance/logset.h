/* A rotated audit log: PATH.1 (oldest), PATH.2, ..., PATH.N, then PATH (the one being written).
 * The hash chain runs on from one file into the next. */
#ifndef CCRFS_GOVERNANCE_LOGSET_H
#define CCRFS_GOVERNANCE_LOGSET_H

#include "common/array.h"

/* The highest N of the PATH.N files present; 0 when there are none. */
int gov_logset_last(const char *path, unsigned long *last);
/* The files of the set in chain order (char *, malloc'd, into an initialised array; PATH itself
 * last, when it exists). EBADMSG naming the file when a number between 1 and the highest is
 * missing (its events would be a gap in the chain); ENOENT when there is no file at all. */
int gov_logset_list(const char *path, struct ccr_array *files);
/* Frees the strings of a list and the list. */
void gov_logset_free(struct ccr_array *files);

#endif
