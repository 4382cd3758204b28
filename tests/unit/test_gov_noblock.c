/* The filesystem's hooks never wait on governance's network I/O: while a fake governance
 * service holds a consent request open, opens, reads and uploads are answered at once from the
 * last known consent answer; while it holds an event delivery open, the same. Once the held
 * consent request is answered "disabled", the hooks see the withdrawal. A hook that does not
 * return within WATCHDOG_S seconds fails the test (a watchdog, not a speed limit). */
#include "common/clock.h"
#include "common/err.h"
#include "common/fileio.h"
#include "governance/gov.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WATCHDOG_S 3.0
#define HOLD_MAX_S 30 /* a held request is answered after this at the latest */

static char dir[64], url[64];
static struct MHD_Daemon *fake;

/* What the fake answers, and which requests it holds until released. */
static pthread_mutex_t fake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fake_cond = PTHREAD_COND_INITIALIZER;
static int hold_consent, hold_events;
static const char *consent_body = "{\"status\":\"enabled\"}";
static atomic_int consent_held, events_held, consent_asked;

static double now_s(void)
{
    return (double)ccr_clock_mono_ns() / 1e9;
}

/* Waits while *hold is set (or until HOLD_MAX_S), counting the request in *held. */
static void hold_while(const int *hold, atomic_int *held)
{
    struct timespec until = ccr_clock_deadline_ms(HOLD_MAX_S * 1000);
    pthread_mutex_lock(&fake_lock);
    if (*hold) {
        atomic_fetch_add(held, 1);
        while (*hold && pthread_cond_timedwait(&fake_cond, &fake_lock, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&fake_lock);
}

static void set_hold(int *hold, int value, const char *body)
{
    pthread_mutex_lock(&fake_lock);
    *hold = value;
    if (body != NULL)
        consent_body = body;
    pthread_cond_broadcast(&fake_cond);
    pthread_mutex_unlock(&fake_lock);
}

static enum MHD_Result fake_handler(void *cls, struct MHD_Connection *conn, const char *u, const char *m,
                                    const char *v, const char *up, size_t *up_size, void **ctx)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    const char *body;
    (void)cls, (void)m, (void)v, (void)up;
    if (*ctx == NULL) {
        *ctx = conn;
        return MHD_YES;
    }
    if (*up_size > 0) {
        *up_size = 0;
        return MHD_YES;
    }
    if (strncmp(u, "/consentcheck/", 14) == 0) {
        atomic_fetch_add(&consent_asked, 1);
        hold_while(&hold_consent, &consent_held);
        pthread_mutex_lock(&fake_lock);
        body = consent_body;
        pthread_mutex_unlock(&fake_lock);
    } else {
        hold_while(&hold_events, &events_held);
        body = "{\"status\":\"stored\"}";
    }
    resp = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    ret = MHD_queue_response(conn, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_gov_noblock.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    unsetenv("CCRFS_GOV_TOKEN");
    fake = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL,
                            fake_handler, NULL, MHD_OPTION_END);
    if (fake == NULL)
        return -1;
    snprintf(url, sizeof url, "http://127.0.0.1:%u",
             MHD_get_daemon_info(fake, MHD_DAEMON_INFO_BIND_PORT)->port);
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    set_hold(&hold_consent, 0, NULL);
    set_hold(&hold_events, 0, NULL);
    MHD_stop_daemon(fake);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static atomic_int revoke_calls;
static void on_revoke(void *arg, const char *reason)
{
    (void)arg;
    (void)reason;
    atomic_fetch_add(&revoke_calls, 1);
}

/* One round of hooks, run on its own thread so the test can watch it. */
struct round {
    struct fs_access_hooks hk;
    int upload;
    int open_rc, read_rc, upload_rc;
    atomic_int done;
};

static void *round_main(void *arg)
{
    struct round *r = arg;
    struct fs_open_info oi = {"data/f", 0, 42, 0, 0, "reader"};
    uint8_t sha[32] = {0};
    uint64_t h = 0;

    r->open_rc = r->hk.on_open(r->hk.arg, &oi, &h);
    if (r->open_rc == 0) {
        r->read_rc = r->hk.on_read(r->hk.arg, h, 0, 4096);
        if (r->read_rc == 0)
            r->read_rc = r->hk.on_read(r->hk.arg, h, 4096, 4096);
        r->hk.on_release(r->hk.arg, h);
    }
    if (r->upload)
        r->upload_rc = r->hk.on_upload(r->hk.arg, "out/model", 10, sha, "outputs/model");
    atomic_store(&r->done, 1);
    return NULL;
}

/* Runs a round; 1 when it came back before the watchdog. Before joining a round that did not,
 * release() lets the fake answer so the thread can end. */
static int run_round(struct round *r, void (*release)(void))
{
    pthread_t th;
    double t0 = now_s();
    int in_time;

    atomic_store(&r->done, 0);
    assert_int_equal(pthread_create(&th, NULL, round_main, r), 0);
    while (!atomic_load(&r->done) && now_s() - t0 < WATCHDOG_S)
        usleep(10000);
    in_time = atomic_load(&r->done);
    if (!in_time) {
        print_message("the hooks did not return within %.0f s while governance was busy\n", WATCHDOG_S);
        release();
    }
    pthread_join(th, NULL);
    return in_time;
}

static void release_consent(void)
{
    set_hold(&hold_consent, 0, NULL);
}

static void release_events(void)
{
    set_hold(&hold_events, 0, NULL);
}

static int wait_for(atomic_int *counter, int at_least, double seconds)
{
    double t0 = now_s();
    while (atomic_load(counter) < at_least && now_s() - t0 < seconds)
        usleep(10000);
    return atomic_load(counter) >= at_least;
}

static void test_consent_in_flight(void **state)
{
    char *spool = ccr_path_join(dir, "spool-consent"), why[320];
    struct gov_config cfg = {.governance_url = url,
                             .contract_id = "c",
                             .spool_dir = spool,
                             .consent_interval_s = 1,
                             .on_revoke = on_revoke};
    struct round r = {.upload = 1};
    struct gov *g;
    int in_time;
    (void)state;

    assert_int_equal(gov_open(&cfg, &g), 0);
    assert_int_equal(gov_check_consent(g), 0);
    gov_fs_hooks(g, &r.hk);

    /* The next periodic check is held; once it is, wait past the interval so the last answer
     * is stale and a refresh is due. */
    set_hold(&hold_consent, 1, NULL);
    assert_true(wait_for(&consent_held, 1, 5.0));
    usleep(1300000);
    in_time = run_round(&r, release_consent);
    assert_true(in_time);
    /* The last known answer (enabled, governance not yet unreachable for the grace period). */
    assert_int_equal(r.open_rc, 0);
    assert_int_equal(r.read_rc, 0);
    assert_int_equal(r.upload_rc, 0);
    assert_int_equal(gov_serving(g, why, sizeof why), 1);

    /* The held check is answered "disabled": the hooks see it. */
    set_hold(&hold_consent, 0,
             "{\"status\":\"disabled\",\"reason\":{\"code\":\"ContractRevoked\",\"message\":\"stop\"}}");
    assert_true(wait_for(&revoke_calls, 1, 10.0));
    in_time = run_round(&r, release_consent);
    assert_true(in_time);
    assert_int_equal(r.open_rc, EACCES);
    assert_int_equal(r.upload_rc, EACCES);
    assert_int_equal(gov_serving(g, why, sizeof why), 0);
    assert_non_null(strstr(why, "consent revoked: ContractRevoked: stop"));
    assert_int_equal(atomic_load(&revoke_calls), 1);
    assert_int_equal(gov_flush(g, 10000), 0);
    gov_close(g);
    set_hold(&hold_consent, 0, "{\"status\":\"enabled\"}");
    free(spool);
}

static void test_delivery_in_flight(void **state)
{
    char *spool = ccr_path_join(dir, "spool-events"), why[320];
    struct gov_config cfg = {
        .governance_url = url, .contract_id = "c", .spool_dir = spool, .flush_interval_ms = 50};
    struct round r = {.upload = 1};
    struct gov *g;
    int in_time;
    (void)state;

    assert_int_equal(gov_open(&cfg, &g), 0);
    assert_int_equal(gov_check_consent(g), 0);
    gov_fs_hooks(g, &r.hk);
    set_hold(&hold_events, 1, NULL);
    /* The consent event is being delivered, and held. */
    assert_true(wait_for(&events_held, 1, 5.0));
    in_time = run_round(&r, release_events);
    assert_true(in_time);
    assert_int_equal(r.open_rc, 0);
    assert_int_equal(r.read_rc, 0);
    assert_int_equal(r.upload_rc, 0);
    assert_int_equal(gov_serving(g, why, sizeof why), 1);
    set_hold(&hold_events, 0, NULL);
    assert_int_equal(gov_flush(g, 10000), 0);
    gov_close(g);
    free(spool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_consent_in_flight),
        cmocka_unit_test(test_delivery_in_flight),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
