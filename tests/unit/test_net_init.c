/* libcurl's global initialisation runs exactly once when many threads make their first
 * handles at the same moment (curl_global_init itself is not thread-safe). */
#include "net/http.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define THREADS 16

static pthread_barrier_t start;

static void *first_use(void *arg)
{
    CURL **out = arg;
    pthread_barrier_wait(&start);
    *out = net_http_easy_new();
    return NULL;
}

static void test_init_once(void **state)
{
    pthread_t t[THREADS];
    CURL *handles[THREADS] = {0};
    (void)state;

    assert_int_equal(net_http_global_init_runs(), 0);
    pthread_barrier_init(&start, NULL, THREADS);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, first_use, &handles[i]), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&start);
    assert_int_equal(net_http_global_init_runs(), 1);
    for (int i = 0; i < THREADS; i++) {
        assert_non_null(handles[i]);
        curl_easy_cleanup(handles[i]);
    }
    /* Later users find it done. */
    assert_int_equal(net_http_global_init(), 0);
    assert_int_equal(net_http_global_init_runs(), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_init_once)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
