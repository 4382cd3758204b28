#include "common/random.h"
#include "common/clock.h"
#include "common/err.h"

#include <limits.h>
#include <openssl/rand.h>

int ccr_random(uint8_t *out, size_t len)
{
    while (len > 0) {
        int n = len > INT_MAX ? INT_MAX : (int)len;
        if (RAND_bytes(out, n) != 1)
            return ccr_err_set(EIO, "the random generator failed");
        out += n;
        len -= (size_t)n;
    }
    return 0;
}

uint64_t ccr_random_below(uint64_t bound)
{
    uint64_t v;

    if (bound == 0)
        return 0;
    if (ccr_random((uint8_t *)&v, sizeof v) != 0)
        v = ccr_clock_mono_ns() * 0x9e3779b97f4a7c15ull;
    /* Rejection sampling would be exact; the modulo bias at 64 bits is below 2^-40 for any
     * bound used here (jitter in milliseconds), which is far below what matters. */
    return v % bound;
}
