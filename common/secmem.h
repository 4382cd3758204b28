/* Memory for secrets: locked (never swapped), excluded from core dumps, and wiped with
 * OPENSSL_cleanse before it is returned. Small secrets share one locked arena (OpenSSL's
 * secure heap); large buffers get a locked mapping of their own. */
#ifndef CCRFS_COMMON_SECMEM_H
#define CCRFS_COMMON_SECMEM_H

#include <stddef.h>

/* Zero-filled locked memory of at least len bytes, or NULL (errno set). Not page-aligned
 * when small. */
void *ccr_secmem_alloc(size_t len);
/* Wipes and releases memory from ccr_secmem_alloc; len must be the length asked for.
 * NULL is accepted. */
void ccr_secmem_free(void *p, size_t len);
/* Wipes then frees ordinary heap memory (freezero). NULL is accepted. */
void ccr_freezero(void *p, size_t len);
/* Makes the process undumpable and keeps secrets out of core files. */
void ccr_secmem_harden_process(void);
/* Locks all of the process's memory, present and future, as it is touched (mlockall with
 * MCL_ONFAULT): buffers that libraries allocate (FUSE's receive buffers, OpenSSL contexts)
 * can hold plaintext or keys too, and locks do not survive fork. 0, or the errno with a
 * message saying what limit to raise. */
int ccr_secmem_lock_process(void);

#endif
