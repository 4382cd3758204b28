/* The broker under abuse, on loopback: 2,000 idle sockets from one address and 2,000
 * unauthenticated /auth calls from two others (one of them the guest's own address) while a
 * real (simulated) attestation is under way; the guest still gets its key. Also: an
 * unfinished handshake may be evicted only after the handshake deadline, idle connections
 * are closed, and bodies are capped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "common/log.h"
#include "common/secmem.h"
#include "keys/attest/sim.h"
#include "keys/broker/broker.h"
#include "keys/broker/store.h"
#include "keys/kbs/client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IDLE_SOCKETS 2000
#define FLOOD        1000 /* per flooding address */
#define AUTH_BODY    "{\"version\":\"0.4.0\",\"tee\":\"snp\",\"extra-params\":\"\"}"

static char dir[] = "/tmp/ccrfs-test-broker-abuse-XXXXXX";
static char sim[300], state[300], spec[320], url[64];
static struct keys_broker *broker;
static unsigned port;
static const uint8_t secret[32] = {9,  9,  9,  9,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12,
                                   13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28};

static int setup(void **state_)
{
    struct keys_sim_config cfg = {0};
    struct keys_broker_conf conf = {0};
    struct keys_rstore *rs;
    struct rlimit rl;
    (void)state_;
    ccr_log_set_level(CCR_LOG_ERROR);
    /* room for the idle sockets on both ends */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 3 * IDLE_SOCKETS) {
        rl.rlim_cur = rl.rlim_max < 3 * IDLE_SOCKETS ? rl.rlim_max : 3 * IDLE_SOCKETS;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(sim, sizeof sim, "%s/sim", dir);
    snprintf(state, sizeof state, "%s/state", dir);
    snprintf(spec, sizeof spec, "sim:%s", sim);
    if (keys_sim_init(sim, &cfg) != 0 || keys_rstore_open(state, &rs) != 0 ||
        keys_rstore_put(rs, "ccrfs/dek/a", "{\"allOf\":[{\"claim\":\"debug\",\"equals\":false}]}", secret,
                        32) != 0)
        return -1;
    keys_rstore_close(rs);
    conf.state_dir = state;
    conf.admin_token = "test-admin-token-0123456789";
    conf.sim_root = sim;
    conf.no_kds = 1;
    conf.idle_timeout = 3;
    conf.max_body = 65536;
    if (keys_broker_start(&conf, &broker) != 0)
        return -1;
    port = keys_broker_port(broker);
    snprintf(url, sizeof url, "http://127.0.0.1:%u", port);
    return 0;
}

static int teardown(void **state_)
{
    char cmd[400];
    (void)state_;
    keys_broker_stop(broker);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A socket from the loopback address src to the broker; nonblocking when asked. */
static int connect_from(const char *src, int nonblocking)
{
    struct sockaddr_in from = {.sin_family = AF_INET}, to = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM | (nonblocking ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0)
        return -1;
    inet_pton(AF_INET, src, &from.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    to.sin_port = htons((uint16_t)port);
    if (bind(fd, (struct sockaddr *)&from, sizeof from) != 0 ||
        (connect(fd, (struct sockaddr *)&to, sizeof to) != 0 && errno != EINPROGRESS)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One request on a fresh connection from src: the HTTP status, 0 when the broker closed the
 * connection without an answer, -1 when it could not be sent. */
static int request_from(const char *src, const char *method, const char *path, const char *body,
                        size_t body_len)
{
    char head[256], reply[512];
    size_t got = 0;
    int fd = connect_from(src, 0), status = 0;
    struct timeval tv = {.tv_sec = 10};
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    snprintf(head, sizeof head,
             "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n",
             method, path, body_len);
    if (send(fd, head, strlen(head), MSG_NOSIGNAL) < 0 ||
        (body_len && send(fd, body, body_len, MSG_NOSIGNAL) < 0)) {
        close(fd);
        return 0;
    }
    while (got < sizeof reply - 1) {
        ssize_t n = recv(fd, reply + got, sizeof reply - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    reply[got] = '\0';
    if (got > 12 && strncmp(reply, "HTTP/1.1 ", 9) == 0)
        status = atoi(reply + 9);
    close(fd);
    return status;
}

static void test_flood_while_attesting(void **state_)
{
    static int idle[IDLE_SOCKETS];
    struct keys_kbs_session *s;
    unsigned ok = 0, shed = 0, opened = 0;
    uint8_t *v;
    size_t len;
    (void)state_;
    /* The guest starts its handshake. */
    assert_int_equal(keys_kbs_session_new(url, NULL, NULL, &s), 0);
    assert_int_equal(keys_kbs_auth(s), 0);
    /* Idle sockets from another address hold nothing but their own address's share. */
    for (int i = 0; i < IDLE_SOCKETS; i++)
        if ((idle[i] = connect_from("127.0.0.2", 1)) >= 0)
            opened++;
    assert_true(opened >= IDLE_SOCKETS / 2);
    /* /auth floods from a third address and from the guest's own. */
    for (int i = 0; i < 2 * FLOOD; i++) {
        int st = request_from(i % 2 ? "127.0.0.3" : "127.0.0.1", "POST", "/kbs/v0/auth", AUTH_BODY,
                              strlen(AUTH_BODY));
        ok += st == 200;
        shed += st == 429 || st == 503;
    }
    /* Each address got its share of unfinished handshakes, then was told to come back. */
    assert_true(ok >= 32 && ok <= 64);
    assert_true(shed >= 2 * FLOOD - 64);
    /* The guest's session survived: it attests and gets its key. */
    {
        int rc = keys_kbs_attest(s, spec, NULL, NULL, 0);
        if (rc != 0)
            fail_msg("attest after the flood: %s", ccr_err_msg(rc));
    }
    assert_int_equal(keys_kbs_get_resource(s, "ccrfs/dek/a", &v, &len), 0);
    assert_memory_equal(v, secret, 32);
    ccr_secmem_free(v, len);
    keys_kbs_session_free(s);
    for (int i = 0; i < IDLE_SOCKETS; i++)
        if (idle[i] >= 0)
            close(idle[i]);
}

/* A connection that sends nothing is closed after the idle timeout. */
static void test_idle_connection_closed(void **state_)
{
    struct pollfd p;
    char c;
    time_t t0 = time(NULL);
    (void)state_;
    p.fd = connect_from("127.0.0.4", 0);
    p.events = POLLIN;
    assert_true(p.fd >= 0);
    assert_int_equal(poll(&p, 1, 10000), 1);
    assert_true(recv(p.fd, &c, 1, 0) <= 0); /* closed, not answered */
    assert_true(time(NULL) - t0 <= 8);
    close(p.fd);
}

/* A body beyond the cap is refused on Trustee's routes and on the admin API. */
static void test_body_cap(void **state_)
{
    static char big[80000];
    (void)state_;
    memset(big, ' ', sizeof big);
    big[0] = '{';
    big[sizeof big - 1] = '}';
    assert_int_equal(request_from("127.0.0.5", "POST", "/kbs/v0/auth", big, sizeof big), 401);
    assert_int_equal(request_from("127.0.0.5", "POST", "/kbs/v0/attest", big, sizeof big), 401);
    assert_int_equal(request_from("127.0.0.5", "PUT", "/admin/v0/resource/a/b/c", big, sizeof big), 413);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flood_while_attesting),
        cmocka_unit_test(test_idle_connection_closed),
        cmocka_unit_test(test_body_cap),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
