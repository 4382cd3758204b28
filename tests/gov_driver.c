/* A stand-in for the filesystem daemon in governance tests: replays opens and reads through
 * the access hooks exactly as the filesystem calls them, so spool, crash, fail-closed and
 * exactly-once behaviour can be tested (and killed with SIGKILL) without a mount.
 * Every open the hooks allowed is appended to --progress before the next step. */
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "governance/gov.h"

#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct {
    int files, reads, threads;
    unsigned read_size, delay_ms;
    double duration;
    int progress_fd;
} opt = {4, 16, 2, 4096, 0, 0, -1};

static struct fs_access_hooks hooks;
static atomic_long opens_ok, opens_refused, reads_ok, reads_refused;
static atomic_int revoked, serving = 1;
static double t0;

static double now_s(void);

static int null_read(void *arg, uint64_t handle, uint64_t offset, uint64_t len)
{
    (void)arg;
    (void)handle;
    (void)offset;
    (void)len;
    return 0;
}

/* Cost of the read hook in a tight loop: audit off (the filesystem's check of a NULL or
 * trivial hook) against audit on, sequential (coalesced) and random (flushed as events). */
static long bench_per_thread;

/* One thread of the parallel case: sequential reads of its own open file. */
static void *bench_thread(void *arg)
{
    struct fs_open_info oi = {"bench/parallel", 0, 1, 0, 0, "bench"};
    uint64_t h;
    (void)arg;
    hooks.on_open(hooks.arg, &oi, &h);
    for (long i = 0; i < bench_per_thread; i++)
        hooks.on_read(hooks.arg, h, (uint64_t)i * 4096, 4096);
    hooks.on_release(hooks.arg, h);
    return NULL;
}

/* One thread of the small-file case: open, read 1000 bytes, release, each file once. */
static void *bench_small_thread(void *arg)
{
    char path[64];
    int id = (int)(intptr_t)arg;
    for (long i = 0; i < bench_per_thread; i++) {
        struct fs_open_info oi = {path, 0, 100 + id, 0, 0, "bench"};
        uint64_t h;
        snprintf(path, sizeof path, "small/t%d/f%07ld", id, i);
        if (hooks.on_open(hooks.arg, &oi, &h) != 0)
            continue;
        hooks.on_read(hooks.arg, h, 0, 1000);
        hooks.on_release(hooks.arg, h);
    }
    return NULL;
}

static void bench_small(long n, int threads)
{
    pthread_t th[8];
    double t;
    bench_per_thread = n / threads;
    t = now_s();
    for (int i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, bench_small_thread, (void *)(intptr_t)i);
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    printf("small file  %8.1f ns/file (open+read+release, %d thread%s, wall time / all files)\n",
           (now_s() - t) * 1e9 / (double)(threads * bench_per_thread), threads, threads > 1 ? "s" : "");
}

static void bench(long n)
{
    int (*volatile off)(void *, uint64_t, uint64_t, uint64_t) = null_read;
    struct fs_open_info oi = {"bench/file", 0, 1, 0, 0, "bench"};
    uint64_t h, x = 88172645463325252ULL;
    double t;

    t = now_s();
    for (long i = 0; i < n; i++)
        off(NULL, 0, (uint64_t)i * 4096, 4096);
    printf("audit off   %8.1f ns/read\n", (now_s() - t) * 1e9 / (double)n);
    hooks.on_open(hooks.arg, &oi, &h);
    t = now_s();
    for (long i = 0; i < n; i++)
        hooks.on_read(hooks.arg, h, (uint64_t)i * 4096, 4096);
    printf("seq 4K      %8.1f ns/read\n", (now_s() - t) * 1e9 / (double)n);
    hooks.on_release(hooks.arg, h);
    hooks.on_open(hooks.arg, &oi, &h);
    t = now_s();
    for (long i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        hooks.on_read(hooks.arg, h, (x % (1ULL << 30)) & ~4095ULL, 4096);
    }
    printf("random 4K   %8.1f ns/read\n", (now_s() - t) * 1e9 / (double)n);
    hooks.on_release(hooks.arg, h);
    t = now_s();
    for (long i = 0; i < n / 10; i++) {
        hooks.on_open(hooks.arg, &oi, &h);
        hooks.on_release(hooks.arg, h);
    }
    printf("open+close  %8.1f ns/file\n", (now_s() - t) * 1e9 / (double)(n / 10));
    bench_small(n / 10, 1);
    bench_small(n / 10, 4);
    {
        pthread_t th[4];
        bench_per_thread = n / 4;
        t = now_s();
        for (int i = 0; i < 4; i++)
            pthread_create(&th[i], NULL, bench_thread, NULL);
        for (int i = 0; i < 4; i++)
            pthread_join(th[i], NULL);
        printf("4 threads   %8.1f ns/read (seq 4K, own file each, wall time / all reads)\n",
               (now_s() - t) * 1e9 / (double)(4 * bench_per_thread));
    }
}

static double now_s(void)
{
    return (double)ccr_clock_mono_ns() / 1e9;
}

/* Every file is twice as long as the driver reads, so reports show a 50% share. */
static int file_size(void *arg, const char *path, uint64_t *size)
{
    (void)arg;
    (void)path;
    *size = 2ULL * (uint64_t)opt.reads * opt.read_size;
    return 0;
}

static void on_revoke(void *arg, const char *reason)
{
    (void)arg;
    atomic_store(&revoked, 1);
    printf("revoked at %.2f: %s\n", now_s() - t0, reason);
    fflush(stdout);
}

static void note(int ok)
{
    int was = atomic_exchange(&serving, ok);
    if (was != ok) {
        printf("%s at %.2f\n", ok ? "serving" : "refusing", now_s() - t0);
        fflush(stdout);
    }
}

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    char path[64], line[96];
    for (int round = 0;; round++) {
        for (int f = 0; f < opt.files; f++) {
            struct fs_open_info oi = {path, 0, 4000 + id, 1000, 1000, "driver"};
            uint64_t h;
            if (opt.duration > 0 && now_s() - t0 >= opt.duration)
                return NULL;
            snprintf(path, sizeof path, "t%d/r%d/f%d", id, round, f);
            if (hooks.on_open(hooks.arg, &oi, &h) != 0) {
                atomic_fetch_add(&opens_refused, 1);
                note(0);
                if (opt.delay_ms)
                    usleep(opt.delay_ms * 1000);
                continue;
            }
            atomic_fetch_add(&opens_ok, 1);
            note(1);
            if (opt.progress_fd >= 0) {
                int n = snprintf(line, sizeof line, "%s\n", path);
                if (write(opt.progress_fd, line, (size_t)n) != n)
                    perror("progress");
            }
            for (int r = 0; r < opt.reads; r++) {
                if (hooks.on_read(hooks.arg, h, (uint64_t)r * opt.read_size, opt.read_size) == 0) {
                    atomic_fetch_add(&reads_ok, 1);
                    note(1);
                } else {
                    atomic_fetch_add(&reads_refused, 1);
                    note(0);
                }
                if (opt.delay_ms)
                    usleep(opt.delay_ms * 1000);
            }
            hooks.on_release(hooks.arg, h);
        }
        if (opt.duration <= 0)
            return NULL;
    }
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {{"spool", 1, 0, 's'},
                                       {"audit-log", 1, 0, 'a'},
                                       {"governance", 1, 0, 'g'},
                                       {"contract", 1, 0, 'c'},
                                       {"token-file", 1, 0, 'T'},
                                       {"spool-max", 1, 0, 'm'},
                                       {"grace", 1, 0, 'G'},
                                       {"consent-interval", 1, 0, 'i'},
                                       {"flush-ms", 1, 0, 'F'},
                                       {"checkpoint", 1, 0, 'k'},
                                       {"files", 1, 0, 'f'},
                                       {"reads", 1, 0, 'r'},
                                       {"read-size", 1, 0, 'z'},
                                       {"threads", 1, 0, 't'},
                                       {"delay-ms", 1, 0, 'd'},
                                       {"duration", 1, 0, 'D'},
                                       {"progress", 1, 0, 'p'},
                                       {"check-consent", 0, 0, 'C'},
                                       {"signing-key", 1, 0, 'K'},
                                       {"bench", 1, 0, 'B'},
                                       {"flush-ranges", 1, 0, 'R'},
                                       {"compact", 0, 0, 'M'},
                                       {"log-max-bytes", 1, 0, 'L'},
                                       {"full", 0, 0, 'U'},
                                       {0}};
    long bench_n = 0;
    struct gov_config cfg = {0};
    struct gov_mount_info mi = {"/mnt/driver", "sha256:0000", "file:///driver", "read-only", NULL, NULL};
    struct keys_release_info ki = {0, "key-file", "", "none", "unattested key file"};
    struct gov *g;
    pthread_t th[64];
    int c, check = 0, rc;

    cfg.on_revoke = on_revoke;
    cfg.file_size = file_size;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 's':
            cfg.spool_dir = optarg;
            break;
        case 'a':
            cfg.audit_log = optarg;
            break;
        case 'g':
            cfg.governance_url = optarg;
            break;
        case 'c':
            cfg.contract_id = optarg;
            break;
        case 'T':
            cfg.token_file = optarg;
            break;
        case 'm':
            cfg.spool_max_bytes = strtoull(optarg, NULL, 10);
            break;
        case 'G':
            cfg.grace_seconds = (unsigned)atoi(optarg);
            break;
        case 'i':
            cfg.consent_interval_s = (unsigned)atoi(optarg);
            break;
        case 'F':
            cfg.flush_interval_ms = (unsigned)atoi(optarg);
            break;
        case 'k':
            cfg.checkpoint_events = (unsigned)atoi(optarg);
            break;
        case 'K':
            cfg.signing_key_file = optarg;
            break;
        case 'f':
            opt.files = atoi(optarg);
            break;
        case 'r':
            opt.reads = atoi(optarg);
            break;
        case 'z':
            opt.read_size = (unsigned)atoi(optarg);
            break;
        case 't':
            opt.threads = atoi(optarg);
            break;
        case 'd':
            opt.delay_ms = (unsigned)atoi(optarg);
            break;
        case 'D':
            opt.duration = atof(optarg);
            break;
        case 'p':
            opt.progress_fd = open(optarg, O_WRONLY | O_CREAT | O_APPEND, 0644);
            break;
        case 'C':
            check = 1;
            break;
        case 'B':
            bench_n = atol(optarg);
            break;
        case 'R':
            cfg.flush_ranges = (unsigned)atoi(optarg);
            break;
        case 'M':
            cfg.full_access = 0; /* the compact form: the default now */
            break;
        case 'U':
            cfg.full_access = 1; /* open, read and release events */
            break;
        case 'L':
            cfg.audit_log_max_bytes = strtoull(optarg, NULL, 10);
            break;
        default:
            fprintf(stderr, "gov_driver: bad option\n");
            return 2;
        }
    }
    if (opt.threads < 0 || opt.threads > 64) {
        fprintf(stderr, "gov_driver: --threads must be 0..64\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    t0 = now_s();
    if ((rc = gov_open(&cfg, &g)) != 0) {
        fprintf(stderr, "gov_driver: %s\n", ccr_err_msg(rc));
        return 1;
    }
    if (check && (rc = gov_check_consent(g)) != 0) {
        fprintf(stderr, "gov_driver: no mount: %s\n", ccr_err_msg(rc));
        gov_close(g);
        return 3;
    }
    gov_record_mount(g, &mi);
    gov_record_key_release(g, &ki);
    gov_fs_hooks(g, &hooks);
    if (bench_n > 0) {
        double t = now_s();
        bench(bench_n);
        gov_record_unmount(g, "bench finished");
        gov_flush(g, 60000);
        gov_close(g);
        printf("all events delivered and closed in %.2f s\n", now_s() - t);
        return 0;
    }
    printf("started\n");
    for (int i = 0; i < opt.threads; i++)
        pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);
    for (int i = 0; i < opt.threads; i++)
        pthread_join(th[i], NULL);
    gov_record_unmount(g, "driver finished");
    if (gov_flush(g, 10000) != 0)
        fprintf(stderr, "gov_driver: %s\n", ccr_err_msg(ETIMEDOUT));
    gov_close(g);
    printf("opens_ok=%ld opens_refused=%ld reads_ok=%ld reads_refused=%ld revoked=%d\n",
           atomic_load(&opens_ok), atomic_load(&opens_refused), atomic_load(&reads_ok),
           atomic_load(&reads_refused), atomic_load(&revoked));
    return 0;
}
