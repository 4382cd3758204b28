/* Runs a fuzz target on mutations of its seeds without libFuzzer: bit flips, byte changes,
 * truncations, insertions, duplicated runs and interesting integers. Deterministic, so a
 * failure can be replayed; FUZZ_ITERATIONS overrides the count. */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t fuzz_rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
    fuzz_rng ^= fuzz_rng << 13;
    fuzz_rng ^= fuzz_rng >> 7;
    fuzz_rng ^= fuzz_rng << 17;
    return fuzz_rng;
}

static size_t mutate(uint8_t *buf, size_t len, size_t cap)
{
    static const uint32_t interesting[] = {0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x10000, 0x7fffffff, 0xffffffff};
    int rounds = 1 + (int)(next() % 4);
    for (int r = 0; r < rounds; r++) {
        switch (next() % 6) {
        case 0:
            if (len)
                buf[next() % len] ^= (uint8_t)(1u << (next() % 8));
            break;
        case 1:
            if (len)
                buf[next() % len] = (uint8_t)next();
            break;
        case 2:
            if (len)
                len = next() % len;
            break;
        case 3:
            if (len < cap) {
                size_t at = len ? next() % len : 0, n = 1 + next() % 16;
                if (n > cap - len)
                    n = cap - len;
                memmove(buf + at + n, buf + at, len - at);
                for (size_t i = 0; i < n; i++)
                    buf[at + i] = (uint8_t)next();
                len += n;
            }
            break;
        case 4:
            if (len >= 4) {
                uint32_t v = interesting[next() % (sizeof interesting / sizeof interesting[0])];
                size_t at = next() % (len - 3);
                memcpy(buf + at, &v, 4);
            }
            break;
        default:
            if (len >= 2 && len < cap) {
                size_t from = next() % len, n = 1 + next() % (len - from);
                if (n > cap - len)
                    n = cap - len;
                memmove(buf + len - 0, buf + from, 0);
                memcpy(buf + len, buf + from, n);
                len += n;
            }
            break;
        }
    }
    return len;
}

int main(int argc, char **argv)
{
    struct fuzz_seed *seeds;
    size_t nseeds = fuzz_seeds(&seeds);
    long iterations = getenv("FUZZ_ITERATIONS") ? atol(getenv("FUZZ_ITERATIONS")) : 20000;
    size_t cap = 0;
    uint8_t *buf;

    (void)argc;
    for (size_t i = 0; i < nseeds; i++) {
        LLVMFuzzerTestOneInput(seeds[i].data, seeds[i].len);
        if (seeds[i].len * 2 + 64 > cap)
            cap = seeds[i].len * 2 + 64;
    }
    buf = malloc(cap);
    for (long it = 0; it < iterations; it++) {
        const struct fuzz_seed *s = &seeds[it % (long)nseeds];
        size_t len;
        memcpy(buf, s->data, s->len);
        len = mutate(buf, s->len, cap);
        /* A fresh copy of exactly len bytes, so overreads are caught by ASan. */
        {
            uint8_t *exact = malloc(len ? len : 1);
            memcpy(exact, buf, len);
            LLVMFuzzerTestOneInput(exact, len);
            free(exact);
        }
    }
    printf("%s: %zu seeds, %ld mutated inputs, no crash\n", argv[0], nseeds, iterations);
    free(buf);
    for (size_t i = 0; i < nseeds; i++)
        free(seeds[i].data);
    free(seeds);
    return 0;
}
