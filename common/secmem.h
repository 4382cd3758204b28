/* Memory for secrets: page-aligned, locked (never swapped), excluded from core dumps,
 * and wiped with OPENSSL_cleanse before it is returned to the system. */
#ifndef CCRFS_COMMON_SECMEM_H
#define CCRFS_COMMON_SECMEM_H

#include <stddef.h>

/* Zero-filled locked memory of at least len bytes, or NULL (errno set). */
void *ccr_secmem_alloc(size_t len);
/* Wipes and releases memory from ccr_secmem_alloc; len must be the length asked for.
 * NULL is accepted. */
void ccr_secmem_free(void *p, size_t len);
/* Wipes then frees ordinary heap memory (freezero). NULL is accepted. */
void ccr_freezero(void *p, size_t len);
/* Makes the process undumpable and keeps secrets out of core files. */
void ccr_secmem_harden_process(void);

#endif
