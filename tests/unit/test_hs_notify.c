/* hs_notify: a waiter wakes as soon as another thread writes, and times out when
 * nothing happens. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "server-core/hs_notify.h"

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *wake_later(void *arg)
{
    usleep(50 * 1000);
    hs_notifier_wake(arg);
    return NULL;
}

Test(hs_notify, waiter_wakes_on_write)
{
    hs_notifier *n = hs_notifier_new();
    uint64_t g0 = hs_notifier_generation(n);
    pthread_t t;
    pthread_create(&t, NULL, wake_later, n);
    int64_t start = mono_ms();
    uint64_t g = hs_notifier_wait(n, g0, start + 10000);
    int64_t waited = mono_ms() - start;
    pthread_join(t, NULL);
    cr_assert_eq(g, g0 + 1);
    cr_assert_lt(waited, 5000, "woke after %lld ms, not on the write", (long long)waited);
    hs_notifier_free(n);
}

Test(hs_notify, wait_times_out_and_missed_wake_returns_at_once)
{
    hs_notifier *n = hs_notifier_new();
    int64_t start = mono_ms();
    cr_assert_eq(hs_notifier_wait(n, 0, start + 100), 0);
    cr_assert_geq(mono_ms() - start, 100);
    hs_notifier_wake(n);
    start = mono_ms();
    cr_assert_eq(hs_notifier_wait(n, 0, start + 10000), 1);
    cr_assert_lt(mono_ms() - start, 1000);
    hs_notifier_free(n);
}
