#include "common/secmem.h"
#include "common/log.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

static atomic_int secmem_lock_warned;

static size_t secmem_round(size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (len == 0)
        len = 1;
    return (len + page - 1) / page * page;
}

void *ccr_secmem_alloc(size_t len)
{
    size_t rounded = secmem_round(len);
    void *p;

    if (rounded < len) {
        errno = ENOMEM;
        return NULL;
    }
    p = mmap(NULL, rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (mlock(p, rounded) != 0 && !atomic_exchange(&secmem_lock_warned, 1))
        ccr_log_warn("cannot lock secret memory (%s); raise RLIMIT_MEMLOCK or grant CAP_IPC_LOCK",
                     errno == ENOMEM ? "memory lock limit reached" : "mlock refused");
    (void)madvise(p, rounded, MADV_DONTDUMP);
    return p;
}

void ccr_secmem_free(void *p, size_t len)
{
    size_t rounded;

    if (p == NULL)
        return;
    rounded = secmem_round(len);
    OPENSSL_cleanse(p, rounded);
    (void)munlock(p, rounded);
    (void)munmap(p, rounded);
}

void ccr_freezero(void *p, size_t len)
{
    if (p == NULL)
        return;
    OPENSSL_cleanse(p, len);
    free(p);
}

void ccr_secmem_harden_process(void)
{
    struct rlimit no_core = {0, 0};
    (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    (void)setrlimit(RLIMIT_CORE, &no_core);
}
