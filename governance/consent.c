/* Consent: the check before mounting, the poller that asks again every consent_interval_s,
 * and withdrawal. The answer is published to the gate through atomics; a hook never waits
 * for a request (gov_consent_nudge only wakes the poller). */
#include "common/err.h"
#include "common/log.h"
#include "governance/canon.h"
#include "governance/gov_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* consent_ev: the disabled answer that caused this, or NULL. The revoked flag goes up first;
 * then the reads served before it are recorded, then the answer and the revocation, so every
 * read the log shows was served before the revocation, and every later read is a denial. */
static void withdraw(struct gov *g, const char *reason, json_object *consent_ev)
{
    int expected = 0;
    json_object *ev;
    if (!atomic_compare_exchange_strong(&g->withdrawing, &expected, 1)) {
        json_object_put(consent_ev);
        return;
    }
    /* The reason is complete before any reader sees the revoked flag. */
    snprintf(g->revoke_reason, sizeof g->revoke_reason, "%s", reason);
    atomic_store(&g->revoked, 1);
    ccr_log_warn("consent withdrawn: %s; refusing opens and reads, wiping keys", reason);
    gov_flush_reads(g, 1);
    if (consent_ev != NULL)
        gov_emit(g, consent_ev, 1, NULL);
    /* Recorded before the wipe, which can take a while: the denials of reads that arrive
     * meanwhile then follow the revocation in the log rather than precede it. */
    ev = gov_event_new("revocation");
    gov_ev_str(ev, "reason", reason);
    gov_emit(g, ev, 1, NULL);
    atomic_store(&g->revocation_recorded, 1);
    if (g->cfg.on_revoke != NULL)
        g->cfg.on_revoke(g->cfg.on_revoke_arg, reason);
}

/* Parses {"status":"enabled"|"disabled","reason":{"code","message"}} (the CCF application's
 * contractruntimeoptions answers: ContractNotAccepted, ContractDisabled, ...). */
int gov_consent_parse(const char *body, size_t len, int *enabled, char *reason, size_t reason_len)
{
    json_object *v, *r;
    const char *st;
    int rc = gov_json_parse(body, len, "consent reply", &v);
    if (rc != 0) /* a reply that is not JSON is a protocol error; keep the parser's words */
        return ccr_err_set(EPROTO, "%s", ccr_err_msg(rc));
    if (!json_object_is_type(v, json_type_object)) {
        json_object_put(v);
        return ccr_err_set(EPROTO, "consent reply: expected a JSON object");
    }
    st = gov_json_str(v, "status");
    if (st == NULL && json_object_object_get_ex(v, "error", &r)) {
        /* The error shape in a 200 reply: not an answer. */
        char msg[200];
        json_object_put(v);
        gov_http_error_code_text(body, msg, sizeof msg);
        return ccr_err_set(EPROTO, "consent reply is an error: %s", msg);
    }
    if (st == NULL || (strcmp(st, "enabled") != 0 && strcmp(st, "disabled") != 0)) {
        json_object_put(v);
        return ccr_err_set(EPROTO, "consent reply: \"status\" must be \"enabled\" or \"disabled\"");
    }
    *enabled = strcmp(st, "enabled") == 0;
    reason[0] = '\0';
    if (json_object_object_get_ex(v, "reason", &r) && json_object_is_type(r, json_type_object)) {
        const char *code = gov_json_str(r, "code"), *msg = gov_json_str(r, "message");
        snprintf(reason, reason_len, "%s%s%s", code ? code : "", code && msg ? ": " : "", msg ? msg : "");
    }
    if (!*enabled && reason[0] == '\0')
        snprintf(reason, reason_len, "disabled (no reason given)");
    json_object_put(v);
    return 0;
}

/* The sidecar's consent check (acr): POST /consentcheck/execution without a body or, unless
 * configured, a query; the contract is the sidecar's own (or the path prefix header's). */
static int consent_request(struct gov *g, long *status, char **resp, size_t *resp_len)
{
    char path[512], *esc;

    if (g->acr && !(g->cfg.consent_query && g->contract != NULL))
        return gov_http_request_hdr(g->consent_http, "POST", "/consentcheck/execution", g->prefix_header,
                                    NULL, 0, status, resp, resp_len, NULL);
    if ((esc = gov_http_escape(g->contract != NULL ? g->contract : "")) == NULL)
        return ENOMEM;
    /* Without a contract id, the sidecar is expected to know its own. */
    snprintf(path, sizeof path, "/consentcheck/execution%s%s", g->contract ? "?contract=" : "", esc);
    free(esc);
    if (g->acr)
        return gov_http_request_hdr(g->consent_http, "POST", path, g->prefix_header, NULL, 0, status, resp,
                                    resp_len, NULL);
    return gov_http_request(g->consent_http, "POST", path, "{}", 2, status, resp, resp_len);
}

/* One consent request (consent_request_lock held). 0 with *enabled set, or a transport /
 * protocol error. */
static int consent_ask(struct gov *g, int *enabled, char *reason, size_t reason_len)
{
    char *resp = NULL;
    size_t resp_len = 0;
    long status = 0;
    int rc = consent_request(g, &status, &resp, &resp_len);

    if (rc != 0)
        return rc;
    if (status == 200 && resp != NULL) {
        rc = gov_consent_parse(resp, resp_len, enabled, reason, reason_len);
    } else if (status == 403 || status == 404) {
        /* Governance answered: no consent for this contract (unknown, not signed). */
        char msg[200];
        gov_http_error_code_text(resp, msg, sizeof msg);
        *enabled = 0;
        snprintf(reason, reason_len, "HTTP %ld: %s", status, msg);
    } else {
        char msg[200];
        gov_http_error_code_text(resp, msg, sizeof msg);
        rc = ccr_err_set(EIO, "consent check: HTTP %ld: %s", status, msg);
    }
    free(resp);
    return rc;
}

/* Asks for consent and publishes the answer. record: add a consent event (the check before
 * mounting). Only the request itself runs under consent_request_lock. */
static int consent_refresh(struct gov *g, int record, int *enabled_out)
{
    char reason[256] = "";
    int enabled = 0, rc;

    pthread_mutex_lock(&g->consent_request_lock);
    atomic_store(&g->consent_in_flight, 1);
    atomic_store(&g->consent_try_ms, gov_now_ms());
    rc = consent_ask(g, &enabled, reason, sizeof reason);
    atomic_store(&g->consent_in_flight, 0);
    pthread_mutex_unlock(&g->consent_request_lock);
    if (rc == 0) {
        atomic_store(&g->consent_ok_ms, gov_now_ms());
        atomic_store(&g->consent_fail_ms, 0);
        if (record || !enabled) {
            json_object *ev = gov_event_new("consent");
            gov_ev_str(ev, "status", enabled ? "enabled" : "disabled");
            gov_ev_str(ev, "reason", reason);
            gov_ev_str(ev, "governance", g->url);
            /* After the pre-mount check (record), any disabled answer withdraws consent. */
            if (record)
                gov_emit(g, ev, 1, NULL);
            else
                withdraw(g, reason[0] ? reason : "consent disabled", ev);
        }
    } else {
        gov_note_failing(&g->consent_fail_ms);
    }
    if (rc == 0 && enabled_out != NULL)
        *enabled_out = enabled;
    if (rc == 0 && !enabled)
        return ccr_err_set(EACCES, "consent for contract %s is disabled%s%s",
                           g->contract ? g->contract : "(none)", reason[0] ? ": " : "", reason);
    return rc;
}

/* Sleeps up to ms, or until stopped or a hook asks for a check; 1 when stopped. */
static int consent_wait(struct gov *g, int64_t ms)
{
    struct timespec until = ccr_clock_deadline_ms((uint64_t)ms);
    int stop;
    pthread_mutex_lock(&g->wake_lock);
    if (!g->stop && !atomic_load(&g->consent_due))
        pthread_cond_timedwait(&g->consent_wake, &g->wake_lock, &until);
    stop = g->stop;
    pthread_mutex_unlock(&g->wake_lock);
    return stop;
}

static void *consent_main(void *arg)
{
    struct gov *g = arg;
    int64_t interval = (int64_t)g->cfg.consent_interval_s * 1000;
    while (!consent_wait(g, interval)) {
        if (atomic_load(&g->revoked))
            break;
        if (atomic_exchange(&g->consent_due, 0) ||
            gov_now_ms() - atomic_load(&g->consent_try_ms) >= interval - 50)
            consent_refresh(g, 0, NULL);
        ccr_err_clear();
    }
    return NULL;
}

void gov_consent_nudge(struct gov *g)
{
    int64_t now = gov_now_ms(), interval = (int64_t)g->cfg.consent_interval_s * 1000;
    if (g->url == NULL || atomic_load(&g->revoked) || atomic_load(&g->consent_in_flight) ||
        now - atomic_load(&g->consent_ok_ms) <= interval || now - atomic_load(&g->consent_try_ms) <= interval)
        return;
    if (atomic_exchange(&g->consent_due, 1))
        return; /* already asked for */
    pthread_mutex_lock(&g->wake_lock);
    pthread_cond_signal(&g->consent_wake);
    pthread_mutex_unlock(&g->wake_lock);
}

int gov_check_consent(struct gov *g)
{
    int rc, enabled = 0;
    if (g->url == NULL) {
        json_object *ev = gov_event_new("consent");
        gov_ev_str(ev, "status", "not-configured");
        gov_ev_str(ev, "reason", "no governance service: consent is not checked");
        return gov_emit(g, ev, 0, NULL);
    }
    rc = consent_refresh(g, 1, &enabled);
    if (rc != 0)
        return rc;
    if (!g->consent_started) {
        if (pthread_create(&g->consent_thread, NULL, consent_main, g) != 0)
            return ccr_err_set(EAGAIN, "cannot start the consent thread");
        g->consent_started = 1;
    }
    return 0;
}

void gov_consent_stop(struct gov *g)
{
    if (g->consent_started)
        pthread_join(g->consent_thread, NULL);
    g->consent_started = 0;
}
