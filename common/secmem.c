#include "common/secmem.h"
#include "common/err.h"
#include "common/log.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

static atomic_int secmem_lock_warned, secmem_heap_full_warned;

/* Small secrets (keys, key schedules, short plaintexts) come from OpenSSL's secure heap: one
 * locked mapping, excluded from core dumps, with guard pages, shared by every small secret, so
 * a million file keys do not need a million mappings (vm.max_map_count) nor a locked page
 * each. OpenSSL keeps its own private key material there too; ccrfs stops taking from it at
 * three quarters so OpenSSL never runs short. Larger buffers (plaintext blocks, the cache)
 * get their own locked mapping, as does anything once the heap is that full. */
#define SECMEM_HEAP_SIZE  (4u << 20)
#define SECMEM_HEAP_MIN   32u
#define SECMEM_SMALL_MAX  1024u
#define SECMEM_HEAP_LIMIT (SECMEM_HEAP_SIZE / 4 * 3)

static pthread_once_t secmem_heap_once = PTHREAD_ONCE_INIT;
static int secmem_heap_ready;

static void secmem_heap_init(void)
{
    int rc =
        CRYPTO_secure_malloc_initialized() ? 1 : CRYPTO_secure_malloc_init(SECMEM_HEAP_SIZE, SECMEM_HEAP_MIN);
    if (rc == 2 && !atomic_exchange(&secmem_lock_warned, 1))
        ccr_log_warn("cannot lock the secret memory heap; raise RLIMIT_MEMLOCK or grant CAP_IPC_LOCK");
    secmem_heap_ready = rc != 0;
}

static void *secmem_heap_alloc(size_t len)
{
    void *p;

    if (len > SECMEM_SMALL_MAX)
        return NULL;
    pthread_once(&secmem_heap_once, secmem_heap_init);
    if (!secmem_heap_ready)
        return NULL;
    if (CRYPTO_secure_used() + len + SECMEM_HEAP_MIN > SECMEM_HEAP_LIMIT) {
        if (!atomic_exchange(&secmem_heap_full_warned, 1))
            ccr_log_warn("the secret memory heap is %u%% full; further secrets get a locked page each",
                         (unsigned)(CRYPTO_secure_used() * 100 / SECMEM_HEAP_SIZE));
        return NULL;
    }
    p = CRYPTO_secure_zalloc(len == 0 ? 1 : len, OPENSSL_FILE, OPENSSL_LINE);
    return p;
}

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
    void *p = secmem_heap_alloc(len);

    if (p != NULL)
        return p;
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
    return p; /* zero-filled: a fresh anonymous mapping */
}

void ccr_secmem_free(void *p, size_t len)
{
    size_t rounded;

    if (p == NULL)
        return;
    if (CRYPTO_secure_allocated(p)) {
        CRYPTO_secure_clear_free(p, len, OPENSSL_FILE, OPENSSL_LINE);
        return;
    }
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

int ccr_secmem_lock_process(void)
{
    struct rlimit lim = {0, 0};
    if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) == 0)
        return 0;
    int err = errno;
    (void)getrlimit(RLIMIT_MEMLOCK, &lim);
    if (lim.rlim_cur == RLIM_INFINITY)
        return ccr_err_set(err, "cannot lock the daemon's memory (mlockall: %s)", strerror(err));
    return ccr_err_set(err,
                       "cannot lock the daemon's memory (mlockall: %s; the memory lock limit is %llu "
                       "KiB: raise it, e.g. LimitMEMLOCK=infinity in a systemd unit, or run as root)",
                       strerror(err), (unsigned long long)lim.rlim_cur / 1024);
}
