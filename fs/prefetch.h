/* Fetch-ahead workers: a queue of jobs (one file, a run of blocks) taken by a few threads,
 * each job fetched with many ranged requests in flight and decrypted into the block cache.
 * The bytes queued or in flight are bounded: a submit beyond the budget is refused (EAGAIN)
 * and the reader's window simply stops growing there. */
#ifndef CCRFS_FS_PREFETCH_H
#define CCRFS_FS_PREFETCH_H

#include <stddef.h>
#include <stdint.h>

/* A job's first block when the job opens a file ahead of its open instead (count 0): the
 * runner fetches the whole blob as the open would. */
#define FS_PREFETCH_OPEN_AHEAD UINT64_MAX

struct fs_prefetch_job {
    uint32_t node;  /* the file, as the caller numbers them */
    uint64_t first; /* first block, or FS_PREFETCH_OPEN_AHEAD */
    uint64_t count; /* blocks */
    uint64_t bytes; /* bytes counted against the budget */
};

/* Runs one job on a worker thread; errors are the runner's to log (a later read retries). */
typedef void (*fs_prefetch_run_fn)(void *arg, const struct fs_prefetch_job *job);

struct fs_prefetch;

int fs_prefetch_create(unsigned workers, uint64_t budget, fs_prefetch_run_fn run, void *arg,
                       struct fs_prefetch **out);
/* Queues a job; EAGAIN when it would exceed the budget, ESHUTDOWN once stopping. */
int fs_prefetch_submit(struct fs_prefetch *p, const struct fs_prefetch_job *job);
/* Drops every queued job (consent withdrawn); jobs already running finish. */
void fs_prefetch_drop(struct fs_prefetch *p);
/* Drops the queue, waits for the workers and frees everything. */
void fs_prefetch_destroy(struct fs_prefetch *p);
/* Waits until no job is queued or running (tests, and callers that need the fills done). */
void fs_prefetch_wait_idle(struct fs_prefetch *p);
/* Bytes queued or being fetched, and jobs run so far. */
void fs_prefetch_get_stats(struct fs_prefetch *p, uint64_t *bytes_pending, uint64_t *jobs_done);

#endif
