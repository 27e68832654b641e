/* hs_notify: a waiter wakes as soon as another thread writes, and times out when
 * nothing happens; a server's notifier users do not read it from the hs_server struct
 * after hs_server_open returned. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "server-core/hs_notify.h"
#include "server-core/hs_server.h"
#include "support/pgt.h"
#include "support/pgt_hs.h"

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

/* A test fixture that runs a suite .init and a test .init which both open a server into
 * the same struct (Criterion runs both) zeroes that struct in the second hs_server_open
 * while the first server's /sync waker thread may not have run yet. That thread used to
 * read srv->notifier only when it got scheduled, found NULL and crashed in
 * hs_notifier_generation (seen once in hs_accounts_api). Here the struct's notifier is
 * hidden right after open, with the scheduling arranged so that the freshly created
 * waker gets its first run only once this thread sleeps; a waker that reads the struct
 * then fails the test with UBSan's null member access. */
Test(hs_notify, sync_waker_does_not_read_the_server_struct_after_open)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu(), &one);
    cr_assert_eq(sched_setaffinity(0, sizeof one, &one), 0);
    /* First-in-first-out on that CPU: a new thread (which inherits the policy) runs only
     * when this one blocks, so the window is certain instead of a scheduling accident. */
    struct sched_param fifo = {.sched_priority = 1};
    if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &fifo) != 0)
        cr_skip_test("needs SCHED_FIFO (CAP_SYS_NICE or RLIMIT_RTPRIO) to order the threads");

    /* On tmpfs the store's fdatasync returns without sleeping, so hs_server_open does not
     * block (which would let the waker run) between creating the waker and returning. */
    if (access("/dev/shm", W_OK) == 0) setenv("TMPDIR", "/dev/shm", 1);
    char err[1024], *dir = pgt_tmpdir();
    hs_config cfg;
    hs_config_defaults(&cfg);
    snprintf(cfg.server_name, sizeof cfg.server_name, "notify.test");
    cfg.threads = 2;
    pgt_hs_config_files(&cfg, dir);
    snprintf(cfg.media_path, sizeof cfg.media_path, "%s/media", dir);

    hs_server srv;
    cr_assert_eq(hs_server_open(&srv, &cfg, err, sizeof err), 0, "%s", err);
    hs_notifier *n = srv.notifier;
    srv.notifier = NULL;
    usleep(200 * 1000);
    srv.notifier = n;
    hs_server_close(&srv);
    pgt_rmtree(dir);
    free(dir);
}
