#include "fs/prefetch.h"
#include "common/err.h"

#include <pthread.h>
#include <stdlib.h>

struct pf_item {
    struct fs_prefetch_job job;
    struct pf_item *next;
};

/* lock protects the queue, pending, running, jobs_done and stopping; wake is signalled when a
 * job is queued or stopping is set, idle when the queue is empty and no job runs. */
struct fs_prefetch {
    pthread_mutex_t lock;
    pthread_cond_t wake, idle;
    struct pf_item *head, *tail;
    uint64_t budget, pending, jobs_done;
    unsigned running;
    int stopping;
    fs_prefetch_run_fn run;
    void *arg;
    unsigned nthreads;
    pthread_t *threads;
};

static void *pf_worker(void *argp)
{
    struct fs_prefetch *p = argp;

    pthread_mutex_lock(&p->lock);
    for (;;) {
        struct pf_item *it;
        while (p->head == NULL && !p->stopping)
            pthread_cond_wait(&p->wake, &p->lock);
        if (p->stopping)
            break;
        it = p->head;
        p->head = it->next;
        if (p->head == NULL)
            p->tail = NULL;
        p->running++;
        pthread_mutex_unlock(&p->lock);
        p->run(p->arg, &it->job);
        pthread_mutex_lock(&p->lock);
        p->pending -= it->job.bytes;
        p->jobs_done++;
        p->running--;
        if (p->head == NULL && p->running == 0)
            pthread_cond_broadcast(&p->idle);
        free(it);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int fs_prefetch_create(unsigned workers, uint64_t budget, fs_prefetch_run_fn run, void *arg,
                       struct fs_prefetch **out)
{
    struct fs_prefetch *p = calloc(1, sizeof *p);
    int rc;

    if (p == NULL || (p->threads = calloc(workers ? workers : 1, sizeof *p->threads)) == NULL) {
        free(p);
        return ENOMEM;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->idle, NULL);
    p->budget = budget;
    p->run = run;
    p->arg = arg;
    for (unsigned i = 0; i < workers; i++) {
        if ((rc = pthread_create(&p->threads[i], NULL, pf_worker, p)) != 0) {
            fs_prefetch_destroy(p);
            return ccr_err_set(rc, "prefetch: cannot start a worker thread");
        }
        p->nthreads++;
    }
    *out = p;
    return 0;
}

int fs_prefetch_submit(struct fs_prefetch *p, const struct fs_prefetch_job *job)
{
    struct pf_item *it;

    pthread_mutex_lock(&p->lock);
    if (p->stopping || p->nthreads == 0) {
        pthread_mutex_unlock(&p->lock);
        return ESHUTDOWN;
    }
    if (p->pending + job->bytes > p->budget) {
        pthread_mutex_unlock(&p->lock);
        return EAGAIN;
    }
    if ((it = malloc(sizeof *it)) == NULL) {
        pthread_mutex_unlock(&p->lock);
        return ENOMEM;
    }
    it->job = *job;
    it->next = NULL;
    if (p->tail != NULL)
        p->tail->next = it;
    else
        p->head = it;
    p->tail = it;
    p->pending += job->bytes;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

static void pf_drop_locked(struct fs_prefetch *p)
{
    while (p->head != NULL) {
        struct pf_item *it = p->head;
        p->head = it->next;
        p->pending -= it->job.bytes;
        free(it);
    }
    p->tail = NULL;
    if (p->running == 0)
        pthread_cond_broadcast(&p->idle);
}

void fs_prefetch_wait_idle(struct fs_prefetch *p)
{
    pthread_mutex_lock(&p->lock);
    while ((p->head != NULL && !p->stopping) || p->running > 0)
        pthread_cond_wait(&p->idle, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

void fs_prefetch_drop(struct fs_prefetch *p)
{
    pthread_mutex_lock(&p->lock);
    pf_drop_locked(p);
    pthread_mutex_unlock(&p->lock);
}

void fs_prefetch_destroy(struct fs_prefetch *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pf_drop_locked(p);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->idle);
    free(p->threads);
    free(p);
}

void fs_prefetch_get_stats(struct fs_prefetch *p, uint64_t *bytes_pending, uint64_t *jobs_done)
{
    pthread_mutex_lock(&p->lock);
    *bytes_pending = p->pending;
    *jobs_done = p->jobs_done;
    pthread_mutex_unlock(&p->lock);
}
