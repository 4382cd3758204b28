/* The read-ahead window (sequential detection, growth on stall, cap, reset on a jump, the
 * end of the file) and the fetch-ahead queue's memory budget. */
#include "fs/prefetch.h"
#include "fs/window.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#define MiB (1ull << 20)
#define GiB (1ull << 30)

static void test_random_reads_fetch_nothing_ahead(void **state)
{
    struct fs_window w;
    uint64_t ao, al;
    static const uint64_t offs[] = {500 * MiB, 3 * MiB, 900 * MiB, 120 * MiB, 700 * MiB, 10 * MiB};
    (void)state;
    fs_window_init(&w, MiB, 64 * MiB);
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        fs_window_on_read(&w, offs[i], 4096, GiB, 1, &ao, &al);
        assert_int_equal(al, 0);
    }
}

/* 4 KiB reads at random in a 256 MiB file (an mmap of an array): some land within a
 * megabyte or two of the one before, yet (almost) none starts a run that fetches ahead. */
static void test_close_random_reads_fetch_nothing_ahead(void **state)
{
    struct fs_window w;
    uint64_t ao, al, total = 0;
    unsigned seed = 99;
    (void)state;
    fs_window_init(&w, MiB, 64 * MiB);
    for (int i = 0; i < 1000; i++) {
        seed = seed * 1103515245u + 12345u;
        fs_window_on_read(&w, ((seed >> 8) % 65536) * 4096, 4096, 256 * MiB, 1, &ao, &al);
        total += al;
    }
    assert_true(total <= 2 * MiB); /* at most a chance run, against 4 MiB asked */
}

/* A reader that continues exactly where it stopped fetches ahead from its second read; one
 * that continues near it from its third. */
static void test_run_proven_before_fetch_ahead(void **state)
{
    struct fs_window w;
    uint64_t ao, al;
    (void)state;
    fs_window_init(&w, MiB, 64 * MiB);
    fs_window_on_read(&w, 0, 4096, GiB, 0, &ao, &al);
    fs_window_on_read(&w, 4096, 4096, GiB, 0, &ao, &al);
    assert_true(al > 0);
    fs_window_init(&w, MiB, 64 * MiB);
    fs_window_on_read(&w, 0, 4096, GiB, 0, &ao, &al);
    fs_window_on_read(&w, 3 * 4096, 4096, GiB, 0, &ao, &al);
    assert_int_equal(al, 0);
    fs_window_on_read(&w, 5 * 4096, 4096, GiB, 0, &ao, &al);
    assert_true(al > 0);
}

static void test_sequential_starts_at_min(void **state)
{
    struct fs_window w;
    uint64_t ao, al;
    (void)state;
    fs_window_init(&w, MiB, 64 * MiB);
    fs_window_on_read(&w, 0, 128 * 1024, GiB, 0, &ao, &al);
    assert_int_equal(al, 0); /* one read is not a run yet */
    fs_window_on_read(&w, 128 * 1024, 128 * 1024, GiB, 0, &ao, &al);
    assert_int_equal(ao, 256 * 1024);
    assert_int_equal(al, MiB);
    /* The next read moves the window on by what it consumed, no more. */
    fs_window_on_read(&w, 256 * 1024, 128 * 1024, GiB, 0, &ao, &al);
    assert_int_equal(ao, 256 * 1024 + MiB);
    assert_int_equal(al, 128 * 1024);
}

static void test_doubles_on_stall_up_to_cap(void **state)
{
    struct fs_window w;
    uint64_t ao, al, off = 0;
    (void)state;
    fs_window_init(&w, MiB, 8 * MiB);
    fs_window_on_read(&w, off, MiB, GiB, 0, &ao, &al);
    off += MiB;
    fs_window_on_read(&w, off, MiB, GiB, 0, &ao, &al);
    off += MiB;
    assert_int_equal(w.size, MiB);
    for (int i = 0; i < 10; i++) {
        fs_window_on_read(&w, off, MiB, GiB, 1, &ao, &al);
        off += MiB;
    }
    assert_int_equal(w.size, 8 * MiB);
    /* What is issued never runs further ahead of the reader than the window. */
    assert_true(w.issued <= w.end + 8 * MiB);
    assert_int_equal(w.issued, off + 8 * MiB);
    /* No stall: no growth. */
    fs_window_init(&w, MiB, 8 * MiB);
    for (off = 0; off < 20 * MiB; off += MiB)
        fs_window_on_read(&w, off, MiB, GiB, 0, &ao, &al);
    assert_int_equal(w.size, MiB);
}

static void test_out_of_order_stays_sequential(void **state)
{
    struct fs_window w;
    uint64_t ao, al;
    (void)state;
    fs_window_init(&w, MiB, 64 * MiB);
    fs_window_on_read(&w, 0, MiB, GiB, 0, &ao, &al);
    fs_window_on_read(&w, 2 * MiB, MiB, GiB, 0, &ao, &al); /* the kernel's requests, reordered */
    assert_int_equal(w.run, 2);
    fs_window_on_read(&w, MiB, MiB, GiB, 0, &ao, &al);
    assert_int_equal(w.run, 3);
    assert_int_equal(w.end, 3 * MiB);
}

static void test_jump_resets(void **state)
{
    struct fs_window w;
    uint64_t ao, al, off;
    (void)state;
    fs_window_init(&w, MiB, 64 * MiB);
    for (off = 0; off < 10 * MiB; off += MiB)
        fs_window_on_read(&w, off, MiB, GiB, 1, &ao, &al);
    assert_true(w.size > MiB);
    fs_window_on_read(&w, 700 * MiB, MiB, GiB, 1, &ao, &al);
    assert_int_equal(al, 0);
    assert_int_equal(w.size, MiB);
    /* A new run from there. */
    fs_window_on_read(&w, 701 * MiB, MiB, GiB, 0, &ao, &al);
    assert_int_equal(ao, 702 * MiB);
    assert_int_equal(al, MiB);
}

static void test_clamped_at_end_of_file(void **state)
{
    struct fs_window w;
    uint64_t ao, al, size = 3 * MiB + 100;
    (void)state;
    fs_window_init(&w, 2 * MiB, 64 * MiB);
    fs_window_on_read(&w, 0, MiB, size, 0, &ao, &al);
    fs_window_on_read(&w, MiB, MiB, size, 0, &ao, &al);
    assert_int_equal(ao, 2 * MiB);
    assert_int_equal(al, MiB + 100);
    fs_window_on_read(&w, 2 * MiB, MiB, size, 0, &ao, &al);
    assert_int_equal(al, 0);
}

static void test_unissue_retries_later(void **state)
{
    struct fs_window w;
    uint64_t ao, al;
    (void)state;
    fs_window_init(&w, 4 * MiB, 64 * MiB);
    fs_window_on_read(&w, 0, MiB, GiB, 0, &ao, &al);
    fs_window_on_read(&w, MiB, MiB, GiB, 0, &ao, &al);
    assert_int_equal(ao, 2 * MiB);
    assert_int_equal(al, 4 * MiB);
    fs_window_unissue(&w, 3 * MiB); /* only 1 MiB fit in the budget */
    fs_window_on_read(&w, 2 * MiB, MiB, GiB, 0, &ao, &al);
    assert_int_equal(ao, 3 * MiB);
    assert_int_equal(al, 4 * MiB);
}

/* The queue: a budget on bytes queued or running. */
static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
static int ran;

static void slow_job(void *arg, const struct fs_prefetch_job *job)
{
    (void)arg;
    (void)job;
    pthread_mutex_lock(&gate); /* held by the test until it has checked the budget */
    ran++;
    pthread_mutex_unlock(&gate);
}

static void test_queue_budget(void **state)
{
    struct fs_prefetch *p;
    struct fs_prefetch_job job = {1, 0, 16, 4 * MiB};
    uint64_t pending, done;
    (void)state;
    pthread_mutex_lock(&gate);
    assert_int_equal(fs_prefetch_create(2, 10 * MiB, slow_job, NULL, &p), 0);
    assert_int_equal(fs_prefetch_submit(p, &job), 0);
    assert_int_equal(fs_prefetch_submit(p, &job), 0);
    assert_int_equal(fs_prefetch_submit(p, &job), EAGAIN); /* 12 MiB > 10 MiB */
    fs_prefetch_get_stats(p, &pending, &done);
    assert_int_equal(pending, 8 * MiB);
    pthread_mutex_unlock(&gate);
    for (int i = 0; i < 500; i++) {
        fs_prefetch_get_stats(p, &pending, &done);
        if (done == 2)
            break;
        usleep(2000);
    }
    assert_int_equal(done, 2);
    assert_int_equal(pending, 0);
    assert_int_equal(fs_prefetch_submit(p, &job), 0); /* room again */
    fs_prefetch_destroy(p);
    assert_true(ran >= 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_reads_fetch_nothing_ahead),
        cmocka_unit_test(test_close_random_reads_fetch_nothing_ahead),
        cmocka_unit_test(test_run_proven_before_fetch_ahead),
        cmocka_unit_test(test_sequential_starts_at_min),
        cmocka_unit_test(test_doubles_on_stall_up_to_cap),
        cmocka_unit_test(test_out_of_order_stays_sequential),
        cmocka_unit_test(test_jump_resets),
        cmocka_unit_test(test_clamped_at_end_of_file),
        cmocka_unit_test(test_unissue_retries_later),
        cmocka_unit_test(test_queue_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
