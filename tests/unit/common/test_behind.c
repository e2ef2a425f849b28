/* cb_behind: the bytes reach the callback in order, whole, in chunks, and
 * on its thread; a failure comes back from a later write or from finish;
 * abandon drops what is queued. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/behind.h"
#include "common/error.h"
#include "common/util.h"

typedef struct sink {
    cb_buf_t got;
    size_t calls;
    size_t fail_at; /* 0: never */
    useconds_t delay;
    pthread_t caller;
    bool other_thread;
} sink_t;

static int take(void *ctx, const void *buf, size_t n, cb_error_t **err) {
    sink_t *s = ctx;
    s->calls++;
    s->other_thread = s->other_thread || !pthread_equal(pthread_self(), s->caller);
    if (s->delay)
        usleep(s->delay);
    if (s->fail_at && s->calls == s->fail_at)
        return cb_error_kind_set(err, CB_ERR_SYSTEM, "disk full at call %zu", s->calls);
    cb_buf_add(&s->got, buf, n);
    return 0;
}

static void fill(char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        p[i] = (char)(i * 31 + (i >> 9));
}

static void test_order_and_chunks(void **state) {
    (void)state;
    static const size_t pieces[] = {1, 1000, 4096, 70001};
    size_t n = 1000003;
    char *in = cb_xmalloc(n);
    fill(in, n);
    for (size_t i = 0; i < CB_ARRAY_LEN(pieces); i++) {
        sink_t s = {.got = CB_BUF_INIT, .caller = pthread_self()};
        cb_autoerr cb_error_t *err = NULL;
        cb_behind_t *b = cb_behind_start(65536, 3, take, &s);
        assert_non_null(b);
        for (size_t off = 0; off < n; off += pieces[i]) {
            size_t k = n - off < pieces[i] ? n - off : pieces[i];
            assert_int_equal(cb_behind_write(b, in + off, k, &err), 0);
        }
        assert_int_equal(cb_behind_finish(b, &err), 0);
        assert_int_equal(s.got.len, n);
        assert_memory_equal(s.got.data, in, n);
        assert_int_equal(s.calls, (n + 65535) / 65536); /* whole chunks, the last partial */
        assert_true(s.other_thread);
        cb_buf_free(&s.got);
    }
    free(in);
}

/* A slow consumer: the producer waits for a slot and nothing is lost. */
static void test_slow_consumer(void **state) {
    (void)state;
    char in[50000];
    fill(in, sizeof in);
    sink_t s = {.got = CB_BUF_INIT, .caller = pthread_self(), .delay = 2000};
    cb_autoerr cb_error_t *err = NULL;
    cb_behind_t *b = cb_behind_start(1000, 2, take, &s);
    assert_non_null(b);
    assert_int_equal(cb_behind_write(b, in, sizeof in, &err), 0);
    assert_int_equal(cb_behind_finish(b, &err), 0);
    assert_int_equal(s.got.len, sizeof in);
    assert_memory_equal(s.got.data, in, sizeof in);
    cb_buf_free(&s.got);
}

static void test_failure_reported(void **state) {
    (void)state;
    char in[10000];
    fill(in, sizeof in);
    static const size_t fail_at[] = {1, 3, 10};
    for (size_t i = 0; i < CB_ARRAY_LEN(fail_at); i++) {
        sink_t s = {.got = CB_BUF_INIT, .caller = pthread_self(), .fail_at = fail_at[i]};
        cb_autoerr cb_error_t *err = NULL;
        cb_behind_t *b = cb_behind_start(1000, 2, take, &s);
        assert_non_null(b);
        int r = 0;
        for (size_t off = 0; off < sizeof in && r == 0; off += 700)
            r = cb_behind_write(b, in + off, sizeof in - off < 700 ? sizeof in - off : 700, &err);
        if (r == 0) {
            r = cb_behind_finish(b, &err);
        } else {
            /* Dead: another write fails at once, then abandon frees. */
            cb_autoerr cb_error_t *again = NULL;
            assert_int_equal(cb_behind_write(b, in, 1000, &again), -1);
            assert_non_null(again);
            cb_behind_abandon(b);
        }
        assert_int_equal(r, -1);
        cb_autofree char *msg = cb_error_message(err);
        assert_non_null(strstr(msg, "disk full"));
        assert_int_equal(s.calls, fail_at[i]); /* nothing consumed after the failure */
        cb_buf_free(&s.got);
    }
}

static void test_abandon_drops_the_rest(void **state) {
    (void)state;
    char in[20000];
    fill(in, sizeof in);
    /* 20 ms a chunk: the abandon comes long before the eighth. */
    sink_t s = {.got = CB_BUF_INIT, .caller = pthread_self(), .delay = 20000};
    cb_autoerr cb_error_t *err = NULL;
    cb_behind_t *b = cb_behind_start(1000, 8, take, &s);
    assert_non_null(b);
    assert_int_equal(cb_behind_write(b, in, 8000, &err), 0);
    cb_behind_abandon(b);
    assert_true(s.calls < 8);
    assert_memory_equal(s.got.data, in, s.got.len); /* a prefix, in order */
    cb_buf_free(&s.got);
    cb_behind_abandon(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_chunks),
        cmocka_unit_test(test_slow_consumer),
        cmocka_unit_test(test_failure_reported),
        cmocka_unit_test(test_abandon_drops_the_rest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
