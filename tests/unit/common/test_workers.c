/* cb_workers_run: each item once on any number of threads; the first
 * failure stops the rest and is returned, an interruption giving way to a
 * real failure. */
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/util.h"
#include "common/workers.h"

#define N 200

typedef struct counts {
    atomic_int seen[N];
    atomic_int calls;
    size_t fail_at; /* N: none */
} counts_t;

static int count(void *ctx, size_t i, cb_error_t **err) {
    counts_t *c = ctx;
    atomic_fetch_add(&c->seen[i], 1);
    atomic_fetch_add(&c->calls, 1);
    if (i == c->fail_at)
        return cb_error_kind_set(err, CB_ERR_INPUT, "item %zu", i);
    /* Items after a failing one take a while, so that the stop is seen
     * long before they are all done. */
    if (c->fail_at < N && i > c->fail_at)
        usleep(2000);
    return 0;
}

static void test_each_item_once(void **state) {
    (void)state;
    static const size_t jobs[] = {0, 1, 2, 3, 8, N + 5};
    for (size_t k = 0; k < CB_ARRAY_LEN(jobs); k++) {
        counts_t c = {.fail_at = N};
        cb_error_t *err = NULL;
        assert_int_equal(cb_workers_run(N, jobs[k], count, &c, NULL, &err), 0);
        assert_null(err);
        for (size_t i = 0; i < N; i++)
            assert_int_equal(atomic_load(&c.seen[i]), 1);
    }
    counts_t none = {.fail_at = N};
    cb_error_t *err = NULL;
    assert_int_equal(cb_workers_run(0, 4, count, &none, NULL, &err), 0);
    assert_int_equal(atomic_load(&none.calls), 0);
}

static void test_first_failure_stops(void **state) {
    (void)state;
    for (size_t jobs = 1; jobs <= 4; jobs++) {
        counts_t c = {.fail_at = 5};
        atomic_int stop = 0;
        cb_autoerr cb_error_t *err = NULL;
        assert_int_equal(cb_workers_run(N, jobs, count, &c, &stop, &err), -1);
        assert_non_null(err);
        cb_autofree char *msg = cb_error_message(err);
        assert_string_equal(msg, "item 5");
        assert_int_equal(atomic_load(&stop), 1);
        /* Items already handed out finish; after the stop, no new one starts. */
        assert_true(atomic_load(&c.calls) < N / 2);
    }
}

/* Item 1 fails for a reason of its own after item 0 was interrupted: the
 * interruption is a consequence (of the stop), the failure the cause. */
typedef struct race {
    atomic_int *stop;
    atomic_int started1;
} race_t;

static int interrupted_then_real(void *ctx, size_t i, cb_error_t **err) {
    race_t *r = ctx;
    if (i == 0) {
        while (!atomic_load(&r->started1))
            sched_yield();
        return cb_error_kind_set(err, CB_ERR_INTERRUPTED, "cancelled");
    }
    atomic_store(&r->started1, 1);
    while (!atomic_load(r->stop))
        sched_yield();
    return cb_error_kind_set(err, CB_ERR_INPUT, "item 1 is bad");
}

static void test_interruption_gives_way(void **state) {
    (void)state;
    atomic_int stop = 0;
    race_t r = {.stop = &stop};
    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(cb_workers_run(2, 2, interrupted_then_real, &r, &stop, &err), -1);
    cb_autofree char *msg = cb_error_message(err);
    assert_string_equal(msg, "item 1 is bad");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_item_once),
        cmocka_unit_test(test_first_failure_stops),
        cmocka_unit_test(test_interruption_gives_way),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
