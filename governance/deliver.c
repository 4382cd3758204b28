/* Delivery: the thread that records pending reads and drains the spool to the sinks, in
 * batches, holding no lock while a sink sends. */
#include "common/err.h"
#include "common/log.h"
#include "governance/gov_internal.h"

#include <unistd.h>

#define DELIVER_BATCH     256
#define DELIVER_GATHER_US 5000

void gov_kick_deliverer(struct gov *g)
{
    if (atomic_exchange(&g->kick, 1))
        return; /* already due: no wake-up per event */
    pthread_mutex_lock(&g->wake_lock);
    pthread_cond_signal(&g->deliver_wake);
    pthread_mutex_unlock(&g->wake_lock);
}

/* One round: sync, send a batch to every sink, acknowledge what all of them stored (a sink
 * that stores in parts may have stored only a prefix). 1 when something was delivered, 0 when
 * there was nothing to send, -1 when a sink failed. */
static int deliver_once(struct gov *g)
{
    struct gov_spool_entry *e = NULL;
    size_t n = 0, stored;
    int rc, failed = 0;

    /* Served ranges and events alike: this round bounds what a power loss can take. */
    if (gov_pending_sync(g->pending) != 0 || gov_spool_sync(g->spool) != 0) {
        ccr_log_error("%s", ccr_err_msg(EIO));
        g->write_failed = 1;
        return 0;
    }
    if (gov_spool_peek(g->spool,
                       g->acr ? gov_acr_round_events(g->cfg.inflight, g->cfg.batch_bytes) : DELIVER_BATCH, &e,
                       &n) != 0 ||
        n == 0) {
        gov_spool_entries_free(e, n);
        return 0;
    }
    stored = n;
    for (size_t i = 0; i < g->nsinks && stored > 0; i++) {
        struct gov_sink *s = g->sinks[i];
        size_t done = 0;
        if (s->deliver_prefix != NULL) {
            rc = s->deliver_prefix(s, e, stored, &done);
        } else {
            rc = s->deliver(s, e, stored);
            done = rc == 0 ? stored : 0;
        }
        if (rc != 0) {
            if (atomic_load(&g->sink_fail_ms) == 0)
                ccr_log_warn("%s: delivery failed, events stay in the spool: %s", s->name, ccr_err_msg(rc));
            gov_note_failing(&g->sink_fail_ms);
            failed = 1;
        }
        /* The next sink gets only what every sink before it stored, so the ack is a prefix. */
        stored = done < stored ? done : stored;
    }
    if (stored > 0 && gov_spool_ack(g->spool, e[stored - 1].seq) != 0)
        ccr_log_error("audit spool: %s", ccr_err_msg(EIO));
    gov_spool_entries_free(e, n);
    if (failed)
        return -1;
    if (atomic_exchange(&g->sink_fail_ms, 0) != 0)
        ccr_log_info("audit delivery works again");
    return 1;
}

static void *deliver_main(void *arg)
{
    struct gov *g = arg;
    int64_t backoff = 0;
    for (;;) {
        int r, stop;
        pthread_mutex_lock(&g->wake_lock);
        if (!g->stop && !atomic_load(&g->kick)) {
            int64_t wait =
                backoff > 0 ? backoff : (g->cfg.flush_interval_ms < 250 ? g->cfg.flush_interval_ms : 250);
            struct timespec until = ccr_clock_deadline_ms((uint64_t)wait);
            pthread_cond_timedwait(&g->deliver_wake, &g->wake_lock, &until);
        }
        atomic_store(&g->kick, 0);
        stop = g->stop;
        pthread_mutex_unlock(&g->wake_lock);
        if (stop)
            break;
        gov_flush_reads(g, 0);
        while ((r = deliver_once(g)) == 1)
            ;
        /* Let events gather so each round syncs and sends a batch, not one event. */
        if (r == 0)
            usleep(DELIVER_GATHER_US);
        backoff = r < 0 ? (backoff == 0 ? 200 : (backoff * 2 > 2000 ? 2000 : backoff * 2)) : 0;
        ccr_err_clear();
    }
    return NULL;
}

int gov_deliverer_start(struct gov *g)
{
    if (pthread_create(&g->deliverer, NULL, deliver_main, g) != 0)
        return ccr_err_set(EAGAIN, "cannot start the audit delivery thread");
    g->deliverer_started = 1;
    return 0;
}

void gov_deliverer_stop(struct gov *g)
{
    if (!g->deliverer_started)
        return;
    pthread_join(g->deliverer, NULL);
    g->deliverer_started = 0;
    gov_flush_reads(g, 1);
    gov_checkpoint_now(g);
    while (deliver_once(g) == 1)
        ;
}

int gov_flush(struct gov *g, unsigned timeout_ms)
{
    int64_t deadline = gov_now_ms() + timeout_ms;
    gov_flush_reads(g, 1);
    for (;;) {
        gov_kick_deliverer(g);
        if (gov_spool_pending(g->spool) == 0)
            return 0;
        if (gov_now_ms() >= deadline)
            return ccr_err_set(ETIMEDOUT, "%zu audit events are not delivered yet",
                               gov_spool_pending(g->spool));
        usleep(10000);
    }
}
