/* fetch_bench STORE_URL KEY IN_FLIGHT [CHUNK_MIB]: reads the object KEY from start to end in
 * CHUNK_MIB ranged reads (default 8), IN_FLIGHT at a time through fetch_read_many, and prints
 * "bytes seconds MiB/s requests retries". Store options come from the environment. */
#include "common/clock.h"
#include "common/err.h"
#include "fetch/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    struct fetch_options opt;
    struct fetch_store *s;
    struct fetch_object_info info;
    struct fetch_range *ranges;
    struct fetch_stats st;
    unsigned n;
    size_t chunk;
    uint8_t *bufs;
    uint64_t off = 0;
    double t0, secs;
    int rc;

    if (argc < 4 || (n = (unsigned)atoi(argv[3])) == 0 || n > 64) {
        fprintf(stderr, "usage: fetch_bench STORE_URL KEY IN_FLIGHT(1-64) [CHUNK_MIB]\n");
        return 2;
    }
    chunk = (size_t)(argc > 4 ? atoi(argv[4]) : 8) << 20;
    memset(&opt, 0, sizeof opt);
    if ((rc = fetch_options_from_env(&opt)) != 0)
        goto fail;
    opt.max_in_flight = n;
    if ((rc = fetch_store_open(argv[1], &opt, &s)) != 0)
        goto fail;
    if ((rc = fetch_stat(s, argv[2], &info)) != 0)
        goto fail;
    ranges = calloc(n, sizeof *ranges);
    bufs = malloc(n * chunk);
    if (ranges == NULL || bufs == NULL)
        return 1;
    t0 = (double)ccr_clock_mono_ns() / 1e9;
    while (off < info.size) {
        unsigned k = 0;
        for (; k < n && off < info.size; k++) {
            size_t len = info.size - off < chunk ? (size_t)(info.size - off) : chunk;
            ranges[k] = (struct fetch_range){argv[2], off, len, bufs + k * chunk, 0, 0};
            off += len;
        }
        if ((rc = fetch_read_many(s, ranges, k)) != 0)
            goto fail;
    }
    secs = (double)ccr_clock_mono_ns() / 1e9 - t0;
    fetch_get_stats(s, &st);
    printf("%llu %.3f %.1f %llu %llu\n", (unsigned long long)info.size, secs,
           (double)info.size / secs / 1048576.0, (unsigned long long)st.requests,
           (unsigned long long)st.retries);
    free(ranges);
    free(bufs);
    fetch_store_destroy(s);
    return 0;
fail:
    fprintf(stderr, "fetch_bench: %s\n", ccr_err_msg(rc));
    return 1;
}
