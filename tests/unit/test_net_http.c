/* net/'s synchronous client against an in-process HTTP server on 127.0.0.1 (libmicrohttpd)
 * that fails on demand: 503 with Retry-After, a connection closed without an answer, a slow
 * answer, an oversized one. Checks the retries and their backoff, that a POST is never sent
 * twice, the reply cap, the errno mapping, and that no URL secret reaches a message. */
#include "common/err.h"
#include "common/clock.h"
#include "fetch/store.h"
#include "net/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#define BIG_LEN 5000

static atomic_int fail_left, requests;
static struct MHD_Daemon *daemon_;
static char base[64];
static unsigned short port;
static char big[BIG_LEN];
static pthread_mutex_t last_lock = PTHREAD_MUTEX_INITIALIZER;
static char last_query[256], last_type[64]; /* under last_lock: server threads write them */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *body, size_t len,
                             const char *retry_after)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;
    if (retry_after != NULL)
        MHD_add_response_header(r, "Retry-After", retry_after);
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload_data, size_t *upload_size,
                               void **state)
{
    const char *sig;
    (void)cls;
    (void)version;
    (void)upload_data;

    if (*state == NULL) {
        *state = (void *)1; /* headers first; answer once the body is in */
        return MHD_YES;
    }
    if (*upload_size > 0) {
        *upload_size = 0;
        return MHD_YES;
    }
    *state = NULL;
    atomic_fetch_add(&requests, 1);
    pthread_mutex_lock(&last_lock);
    sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    snprintf(last_type, sizeof last_type, "%s", sig ? sig : "");
    sig = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "sig");
    snprintf(last_query, sizeof last_query, "%s", sig ? sig : "");
    pthread_mutex_unlock(&last_lock);
    if (strcmp(url, "/busy") == 0 && atomic_fetch_sub(&fail_left, 1) > 0)
        return reply(c, 503, "busy", 4, "1");
    if (strcmp(url, "/flaky") == 0 && atomic_fetch_sub(&fail_left, 1) > 0)
        return reply(c, 500, "oops", 4, NULL);
    if (strcmp(url, "/reset") == 0 && atomic_fetch_sub(&fail_left, 1) > 0)
        return MHD_NO; /* the connection is closed without an answer */
    if (strcmp(url, "/always503") == 0)
        return reply(c, 503, "busy", 4, NULL);
    if (strcmp(url, "/big") == 0)
        return reply(c, 200, big, BIG_LEN, NULL);
    if (strcmp(url, "/slow") == 0) {
        usleep(1500 * 1000);
        return reply(c, 200, "late", 4, NULL);
    }
    if (strcmp(url, "/missing") == 0 || strcmp(url, "/ds/missing") == 0)
        return reply(c, 404, "{\"message\":\"no such thing\"}", 27, NULL);
    return reply(c, 200, method, strlen(method), NULL);
}

static int server_start(void **state)
{
    struct sockaddr_in addr;
    const union MHD_DaemonInfo *info;
    (void)state;

    memset(big, 'x', sizeof big);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    daemon_ = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
                               handler, NULL, MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_END);
    if (daemon_ == NULL)
        return -1;
    info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
    port = info->port;
    snprintf(base, sizeof base, "http://127.0.0.1:%u", port);
    return 0;
}

static int server_stop(void **state)
{
    (void)state;
    MHD_stop_daemon(daemon_);
    return 0;
}

static void assert_last(const char *what, const char *want)
{
    char got[256];
    pthread_mutex_lock(&last_lock);
    snprintf(got, sizeof got, "%s", what);
    pthread_mutex_unlock(&last_lock);
    assert_string_equal(got, want);
}

/* A loopback port nobody listens on. */
static unsigned short closed_port(void)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    close(fd);
    return ntohs(addr.sin_port);
}

static struct net_http_client *client(const char *url, unsigned budget_ms, size_t reply_max)
{
    struct net_http_client_opts o = {0};
    struct net_http_client *c = NULL;

    o.base_url = url;
    o.who = "test";
    o.transport.timeout_ms = 5000;
    o.retry.base_ms = 100;
    o.retry.cap_ms = 400;
    o.retry.budget_ms = budget_ms;
    o.reply_max = reply_max;
    o.bearer = "BEARERSECRET";
    assert_int_equal(net_http_client_new(&o, &c), 0);
    return c;
}

static void test_plain(void **state)
{
    struct net_http_client *c = client(base, 0, 0);
    struct net_http_request rq = {.method = "GET", .path = "/hello"};
    struct net_http_reply r;
    (void)state;

    assert_int_equal(net_http_client_do(c, &rq, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "GET");
    assert_int_equal(r.attempts, 1);
    net_http_reply_free(&r);
    rq.method = "POST";
    rq.body = "{}";
    rq.body_len = 2;
    assert_int_equal(net_http_client_do(c, &rq, &r), 0);
    assert_string_equal(r.body, "POST");
    assert_last(last_type, "application/json");
    net_http_reply_free(&r);
    /* A bodyless POST is still JSON, not a form. */
    rq.body = NULL;
    rq.body_len = 0;
    assert_int_equal(net_http_client_do(c, &rq, &r), 0);
    assert_string_equal(r.body, "POST");
    assert_last(last_type, "application/json");
    net_http_reply_free(&r);
    /* Any status is an answer; the caller maps it. */
    rq.method = "GET";
    rq.path = "/missing";
    rq.body = NULL;
    assert_int_equal(net_http_client_do(c, &rq, &r), 0);
    assert_int_equal(r.status, 404);
    assert_int_equal(net_status_errno(r.status), ENOENT);
    net_http_reply_free(&r);
    net_http_client_free(c);
}

static void test_retry_after(void **state)
{
    struct net_http_client *c = client(base, 5000, 0);
    struct net_http_request rq = {.method = "GET", .path = "/busy"};
    struct net_http_reply r;
    uint64_t t0;
    (void)state;

    atomic_store(&fail_left, 1);
    atomic_store(&requests, 0);
    t0 = ccr_clock_mono_ms();
    assert_int_equal(net_http_client_do(c, &rq, &r), 0);
    /* The server asked for a second; the backoff alone would have waited at most 100 ms. */
    assert_true(ccr_clock_mono_ms() - t0 >= 950);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.attempts, 2);
    assert_int_equal(atomic_load(&requests), 2);
    net_http_reply_free(&r);
    net_http_client_free(c);
}

static void test_backoff(void **state)
{
    struct net_http_client *c = client(base, 5000, 0);
    struct net_http_request rq = {.method = "GET", .path = "/flaky"};
    struct net_http_reply r;
    uint64_t t0;
    (void)state;

    atomic_store(&fail_left, 3);
    t0 = ccr_clock_mono_ms();
    assert_int_equal(net_http_client_do(c, &rq, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.attempts, 4);
    /* Delays of at least 50, 100 and 200 ms (each jittered into [d/2, d]). */
    assert_true(ccr_clock_mono_ms() - t0 >= 350);
    net_http_reply_free(&r);
    net_http_client_free(c);
}

static void test_connection_reset(void **state)
{
    struct net_http_client *c = client(base, 5000, 0);
    struct net_http_request rq = {.method = "GET", .path = "/reset"};
    struct net_http_reply r;
    (void)state;

    atomic_store(&fail_left, 2);
    assert_int_equal(net_http_client_do(c, &rq, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.attempts, 3);
    net_http_reply_free(&r);
    /* Without a budget the first failure is final, mapped to EIO with a message. */
    net_http_client_free(c);
    c = client(base, 0, 0);
    atomic_store(&fail_left, 1);
    assert_int_equal(net_http_client_do(c, &rq, &r), EIO);
    assert_non_null(strstr(ccr_err_msg(EIO), "test GET http://127.0.0.1"));
    assert_null(r.body);
    net_http_client_free(c);
}

static void test_post_not_retried(void **state)
{
    struct net_http_client *c = client(base, 5000, 0);
    struct net_http_request rq = {.method = "POST", .path = "/always503", .body = "{}", .body_len = 2};
    struct net_http_reply r;
    (void)state;

    atomic_store(&requests, 0);
    assert_int_equal(net_http_client_do(c, &rq, &r), 0);
    assert_int_equal(r.status, 503);
    assert_int_equal(r.attempts, 1);
    assert_int_equal(atomic_load(&requests), 1);
    net_http_reply_free(&r);
    net_http_client_free(c);
}

static void test_budget_runs_out(void **state)
{
    struct net_http_client *c = client(base, 600, 0);
    struct net_http_request rq = {.method = "GET", .path = "/always503"};
    struct net_http_reply r;
    uint64_t t0 = ccr_clock_mono_ms();
    (void)state;

    assert_int_equal(net_http_client_do(c, &rq, &r), 0);
    assert_int_equal(r.status, 503);
    assert_true(r.attempts >= 2);
    assert_true(ccr_clock_mono_ms() - t0 < 3000);
    net_http_reply_free(&r);
    net_http_client_free(c);
}

static void test_reply_cap(void **state)
{
    struct net_http_client *c = client(base, 5000, BIG_LEN - 1);
    struct net_http_request rq = {.method = "GET", .path = "/big"};
    struct net_http_reply r;
    (void)state;

    atomic_store(&requests, 0);
    assert_int_equal(net_http_client_do(c, &rq, &r), EFBIG);
    assert_non_null(strstr(ccr_err_msg(EFBIG), "larger than"));
    assert_int_equal(atomic_load(&requests), 1); /* not a transient failure */
    net_http_client_free(c);
    c = client(base, 0, BIG_LEN);
    assert_int_equal(net_http_client_do(c, &rq, &r), 0);
    assert_int_equal(r.len, BIG_LEN);
    net_http_reply_free(&r);
    net_http_client_free(c);
}

static void test_timeout(void **state)
{
    struct net_http_client_opts o = {.base_url = base, .who = "test"};
    struct net_http_client *c;
    struct net_http_request rq = {.method = "GET", .path = "/slow"};
    struct net_http_reply r;
    (void)state;

    o.transport.timeout_ms = 300;
    assert_int_equal(net_http_client_new(&o, &c), 0);
    assert_int_equal(net_http_client_do(c, &rq, &r), ETIMEDOUT);
    net_http_client_free(c);
}

static void test_refused_and_scrubbed(void **state)
{
    char url[96];
    struct net_http_client *c;
    struct net_http_request rq = {.method = "GET", .path = "/obj?sv=1&sig=SECRET"};
    struct net_http_reply r;
    (void)state;

    snprintf(url, sizeof url, "http://user:PASSWORD@127.0.0.1:%u", closed_port());
    c = client(url, 300, 0);
    assert_int_equal(net_http_client_do(c, &rq, &r), ECONNREFUSED);
    assert_true(r.attempts >= 2);
    assert_non_null(strstr(ccr_err_msg(ECONNREFUSED), "?<redacted>"));
    assert_null(strstr(ccr_err_msg(ECONNREFUSED), "SECRET"));
    assert_null(strstr(ccr_err_msg(ECONNREFUSED), "PASSWORD"));
    net_http_client_free(c);
    /* An unsupported scheme is refused with the URL scrubbed too. */
    assert_int_equal(
        net_http_client_new(&(struct net_http_client_opts){.base_url = "ftp://h/x?sig=SECRET"}, &c), EINVAL);
    assert_null(strstr(ccr_err_msg(EINVAL), "SECRET"));
}

/* The stores' engine: a failing request to a store URL with ?sig=SECRET names the object
 * without the signature, both when the server answers an error and when nobody answers. */
static void test_store_error_scrubbed(void **state)
{
    struct fetch_options opt = {0};
    struct fetch_store *s;
    char url[128], buf[4];
    int rc;
    (void)state;

    opt.retry_budget_ms = 300;
    snprintf(url, sizeof url, "%s/ds?sv=1&sig=SECRET", base);
    assert_int_equal(fetch_store_open(url, &opt, &s), 0);
    rc = fetch_read_range(s, "missing", 0, sizeof buf, buf);
    assert_int_equal(rc, ENOENT);
    assert_last(last_query, "SECRET"); /* the server did get the signature */
    assert_non_null(strstr(ccr_err_msg(rc), "/ds/missing?<redacted>"));
    assert_null(strstr(ccr_err_msg(rc), "SECRET"));
    fetch_store_destroy(s);

    snprintf(url, sizeof url, "http://127.0.0.1:%u/ds?sv=1&sig=SECRET", closed_port());
    assert_int_equal(fetch_store_open(url, &opt, &s), 0);
    rc = fetch_read_range(s, "obj", 0, sizeof buf, buf);
    assert_int_equal(rc, ECONNREFUSED);
    assert_non_null(strstr(ccr_err_msg(rc), "?<redacted>"));
    assert_null(strstr(ccr_err_msg(rc), "SECRET"));
    fetch_store_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_connection_reset),
        cmocka_unit_test(test_post_not_retried),
        cmocka_unit_test(test_budget_runs_out),
        cmocka_unit_test(test_reply_cap),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_refused_and_scrubbed),
        cmocka_unit_test(test_store_error_scrubbed),
    };
    return cmocka_run_group_tests(tests, server_start, server_stop);
}
