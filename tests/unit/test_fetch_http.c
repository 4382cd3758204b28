/* The http store's engine against an in-process HTTP server on 127.0.0.1 (libmicrohttpd):
 * read_many really runs requests at once and never more than max_in_flight for the whole
 * store, even from several threads; retries are counted; uploads arrive intact. */
#include "common/err.h"
#include "fetch/store.h"

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
#include <unistd.h>

#include <cmocka.h>

#define OBJ_LEN (1u << 20)

static uint8_t object[OBJ_LEN];
static atomic_int concurrent, max_concurrent, fail_left, connections;
static pthread_mutex_t put_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *put_data;
static size_t put_len;

struct upload {
    uint8_t *data;
    size_t len;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const void *data, size_t len,
                             const char *content_range)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;
    MHD_add_response_header(r, "ETag", "\"fixed\"");
    if (content_range != NULL)
        MHD_add_response_header(r, "Content-Range", content_range);
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload_data, size_t *upload_size,
                               void **state)
{
    const char *range;
    unsigned long long first, last;
    char cr[96];
    (void)cls;
    (void)version;

    if (strcmp(method, "PUT") == 0) {
        struct upload *u = *state;
        if (u == NULL) {
            *state = calloc(1, sizeof *u);
            return *state ? MHD_YES : MHD_NO;
        }
        if (*upload_size > 0) {
            uint8_t *g = realloc(u->data, u->len + *upload_size);
            if (g == NULL)
                return MHD_NO;
            memcpy(g + u->len, upload_data, *upload_size);
            u->data = g;
            u->len += *upload_size;
            *upload_size = 0;
            return MHD_YES;
        }
        pthread_mutex_lock(&put_lock);
        free(put_data);
        put_data = u->data;
        put_len = u->len;
        pthread_mutex_unlock(&put_lock);
        free(u);
        *state = NULL;
        return reply(c, 201, "", 0, NULL);
    }
    if (*state == NULL) {
        *state = (void *)1; /* headers first; answer on the second call */
        return MHD_YES;
    }
    *state = NULL;
    if (strncmp(url, "/denied/", 8) == 0) {
        static const char s3_error[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied"
                                       "</Code><Message>Access Denied</Message></Error>";
        return reply(c, 403, s3_error, sizeof s3_error - 1, NULL);
    }
    if (strncmp(url, "/flaky/", 7) == 0 && atomic_fetch_sub(&fail_left, 1) > 0)
        return reply(c, 503, "busy", 4, NULL);
    if (strcmp(method, "HEAD") == 0 ||
        (range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range")) == NULL)
        return reply(c, 200, object, OBJ_LEN, NULL);
    if (sscanf(range, "bytes=%llu-%llu", &first, &last) != 2 || first > last || last >= OBJ_LEN)
        return reply(c, 416, "", 0, NULL);
    if (strncmp(url, "/slow/", 6) == 0) {
        int now = atomic_fetch_add(&concurrent, 1) + 1;
        int seen = atomic_load(&max_concurrent);
        while (now > seen && !atomic_compare_exchange_weak(&max_concurrent, &seen, now))
            ;
        usleep(150000);
        atomic_fetch_sub(&concurrent, 1);
    }
    snprintf(cr, sizeof cr, "bytes %llu-%llu/%u", first, last, OBJ_LEN);
    return reply(c, 206, object + first, (size_t)(last - first + 1), cr);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)cls;
    (void)c;
    (void)socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED)
        atomic_fetch_add(&connections, 1);
}

static struct MHD_Daemon *daemon_;
static char base[64];

static int server_start(void **state)
{
    struct sockaddr_in addr;
    const union MHD_DaemonInfo *info;
    (void)state;

    for (size_t i = 0; i < OBJ_LEN; i++)
        object[i] = (uint8_t)((i * 2654435761u) >> 13);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    daemon_ = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
                               handler, NULL, MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_NOTIFY_CONNECTION,
                               on_connection, NULL, MHD_OPTION_END);
    if (daemon_ == NULL)
        return -1;
    info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(base, sizeof base, "http://127.0.0.1:%u", info->port);
    return 0;
}

static int server_stop(void **state)
{
    (void)state;
    MHD_stop_daemon(daemon_);
    free(put_data);
    return 0;
}

static struct fetch_store *open_store(const char *path, unsigned in_flight)
{
    struct fetch_options opt = {0};
    struct fetch_store *s = NULL;
    char url[128];

    opt.max_in_flight = in_flight;
    opt.retry_budget_ms = 20000;
    snprintf(url, sizeof url, "%s%s", base, path);
    assert_int_equal(fetch_store_open(url, &opt, &s), 0);
    return s;
}

static void read_batch(struct fetch_store *s, size_t n, size_t chunk)
{
    struct fetch_range *r = calloc(n, sizeof *r);
    uint8_t *buf = malloc(n * chunk);

    assert_non_null(r);
    assert_non_null(buf);
    for (size_t i = 0; i < n; i++)
        r[i] =
            (struct fetch_range){"obj", (i * chunk * 3) % (OBJ_LEN - chunk), chunk, buf + i * chunk, -1, 0};
    assert_int_equal(fetch_read_many(s, r, n), 0);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(r[i].result, 0);
        assert_memory_equal(buf + i * chunk, object + r[i].offset, chunk);
    }
    free(r);
    free(buf);
}

static void test_read_many_concurrent(void **state)
{
    struct fetch_store *s = open_store("/slow", 4);
    struct fetch_stats st;
    (void)state;

    atomic_store(&max_concurrent, 0);
    atomic_store(&connections, 0);
    read_batch(s, 12, 65536);
    read_batch(s, 12, 65536);
    /* Connections are reused: one per request in flight, not one per request. */
    assert_in_range(atomic_load(&connections), 1, 4);
    /* Several at once, never more than the bound. */
    assert_in_range(atomic_load(&max_concurrent), 2, 4);
    fetch_get_stats(s, &st);
    assert_int_equal(st.requests, 24);
    assert_int_equal(st.bytes_read, 24 * 65536);
    assert_int_equal(st.in_flight, 0);
    assert_int_equal(st.errors, 0);
    fetch_store_destroy(s);
}

static void *reader_thread(void *arg)
{
    read_batch(arg, 8, 32768);
    return NULL;
}

static void test_bound_across_threads(void **state)
{
    struct fetch_store *s = open_store("/slow", 3);
    pthread_t t[3];
    (void)state;

    atomic_store(&max_concurrent, 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&t[i], NULL, reader_thread, s), 0);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    assert_in_range(atomic_load(&max_concurrent), 2, 3);
    fetch_store_destroy(s);
}

static void test_retries_counted(void **state)
{
    struct fetch_store *s = open_store("/flaky", 2);
    struct fetch_object_info info;
    struct fetch_stats st;
    uint8_t buf[1000];
    (void)state;

    atomic_store(&fail_left, 2);
    assert_int_equal(fetch_stat(s, "obj", &info), 0); /* 503, 503, then 200 */
    assert_int_equal(info.size, OBJ_LEN);
    assert_string_equal(info.etag, "\"fixed\"");
    assert_int_equal(fetch_read_range(s, "obj", 5000, sizeof buf, buf), 0);
    assert_memory_equal(buf, object + 5000, sizeof buf);
    assert_int_equal(fetch_read_range(s, "obj", OBJ_LEN - 10, 20, buf), EIO); /* 416: past the end */
    fetch_get_stats(s, &st);
    assert_int_equal(st.retries, 2);
    assert_int_equal(st.requests, 5);
    assert_int_equal(st.errors, 1);
    fetch_store_destroy(s);
}

static void test_put_body(void **state)
{
    struct fetch_store *s = open_store("/up", 2);
    struct fetch_source src;
    struct fetch_stats st;
    (void)state;

    fetch_source_memory(&src, object, OBJ_LEN);
    assert_int_equal(fetch_put(s, "blobs/x", &src), 0);
    pthread_mutex_lock(&put_lock);
    assert_int_equal(put_len, OBJ_LEN);
    assert_memory_equal(put_data, object, OBJ_LEN);
    pthread_mutex_unlock(&put_lock);
    fetch_get_stats(s, &st);
    assert_int_equal(st.bytes_written, OBJ_LEN);
    fetch_store_destroy(s);
}

/* An S3-style refusal names its code from the XML body, as Azure's does from x-ms-error-code. */
static void test_error_code_from_body(void **state)
{
    struct fetch_store *s = open_store("/denied", 2);
    uint8_t buf[100];
    (void)state;

    assert_int_equal(fetch_read_range(s, "obj", 0, sizeof buf, buf), EACCES);
    assert_non_null(strstr(ccr_err_msg(EACCES), "HTTP 403 AccessDenied: Access Denied"));
    fetch_store_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_many_concurrent), cmocka_unit_test(test_bound_across_threads),
        cmocka_unit_test(test_retries_counted),      cmocka_unit_test(test_put_body),
        cmocka_unit_test(test_error_code_from_body),
    };
    return cmocka_run_group_tests(tests, server_start, server_stop);
}
