/* The serving decision: whether opens, reads and uploads may go on now (consent, the
 * validity window, the spool, governance reachable within the grace period), and refusals. */
#include "common/log.h"
#include "governance/gov_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

int gov_gate(struct gov *g, char *why, size_t why_len)
{
    int64_t since = atomic_load(&g->sink_fail_ms), c = atomic_load(&g->consent_fail_ms);
    if (since == 0 || (c != 0 && c < since))
        since = c;
    if (atomic_load(&g->revoked)) {
        snprintf(why, why_len, "consent revoked: %s", g->revoke_reason);
        return 0;
    }
    if (g->cfg.not_after_ms != 0 && (int64_t)ccr_clock_wall_ms() >= g->cfg.not_after_ms) {
        snprintf(why, why_len, "the contract expired");
        return 0;
    }
    if (g->write_failed) {
        snprintf(why, why_len, "the audit spool cannot be written");
        return 0;
    }
    if (gov_spool_is_full(g->spool)) {
        snprintf(why, why_len, "the audit spool is full (%" PRIu64 " bytes undelivered)",
                 gov_spool_bytes(g->spool));
        return 0;
    }
    if (!g->cfg.governance_optional && g->url != NULL && since != 0 &&
        gov_now_ms() - since > (int64_t)g->cfg.grace_seconds * 1000) {
        snprintf(why, why_len, "governance unreachable for more than %u s", g->cfg.grace_seconds);
        return 0;
    }
    return 1;
}

int gov_serving(struct gov *g, char *why, size_t why_len)
{
    char tmp[GOV_WHY_MAX];
    int ok = gov_gate(g, tmp, sizeof tmp);
    if (!ok && why != NULL)
        snprintf(why, why_len, "%s", tmp);
    return ok;
}

/* At most one denial event per second, so a refusing mount cannot flood its own full spool;
 * the refusals in between are counted into the next one. */
int gov_deny(struct gov *g, const char *op, const char *path, pid_t pid, const char *reason)
{
    long long now = gov_now_ms(), last = atomic_load(&g->last_denial_ms);
    long long count = atomic_fetch_add(&g->denials_unrecorded, 1) + 1;
    /* Refusals that come while a withdrawal records the reads served before it are counted
     * into the next denial (or the unmount), so that none precedes the revocation in the log. */
    int withdrawal_unrecorded = atomic_load(&g->revoked) && !atomic_load(&g->revocation_recorded);

    if (!withdrawal_unrecorded && now - last >= 1000 &&
        atomic_compare_exchange_strong(&g->last_denial_ms, &last, now)) {
        json_object *ev = gov_event_new("denial");
        count = atomic_exchange(&g->denials_unrecorded, 0);
        gov_ev_str(ev, "op", op);
        gov_ev_str(ev, "path", path);
        if (pid > 0)
            gov_ev_int(ev, "pid", pid);
        gov_ev_str(ev, "reason", reason);
        gov_ev_int(ev, "count", count);
        if (gov_emit(g, ev, 1, NULL) != 0)
            atomic_fetch_add(&g->denials_unrecorded, count);
    }
    ccr_log_debug("refused %s %s: %s", op, path ? path : "", reason);
    return EACCES;
}

void gov_note_failing(atomic_llong *since)
{
    long long zero = 0;
    atomic_compare_exchange_strong(since, &zero, (long long)gov_now_ms());
}
