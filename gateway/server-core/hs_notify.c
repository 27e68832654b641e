/* hs_notify: a generation counter under a mutex with a condition variable on the
 * monotonic clock, so waiting is immune to wall-clock jumps, plus a short fixed list of
 * listener callbacks run under the same mutex (so unlisten can guarantee quiescence). */
#include "server-core/hs_notify.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct hs_notifier {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t generation;
    struct {
        void (*fn)(void *ctx);
        void *ctx;
    } listeners[HS_NOTIFY_MAX_LISTENERS];
};

hs_notifier *hs_notifier_new(void)
{
    hs_notifier *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&n->mu, NULL);
    pthread_cond_init(&n->cv, &attr);
    pthread_condattr_destroy(&attr);
    return n;
}

void hs_notifier_free(hs_notifier *n)
{
    if (!n) return;
    pthread_cond_destroy(&n->cv);
    pthread_mutex_destroy(&n->mu);
    free(n);
}

void hs_notifier_wake(hs_notifier *n)
{
    if (!n) return;
    pthread_mutex_lock(&n->mu);
    n->generation++;
    pthread_cond_broadcast(&n->cv);
    for (size_t i = 0; i < HS_NOTIFY_MAX_LISTENERS; i++)
        if (n->listeners[i].fn) n->listeners[i].fn(n->listeners[i].ctx);
    pthread_mutex_unlock(&n->mu);
}

uint64_t hs_notifier_generation(hs_notifier *n)
{
    pthread_mutex_lock(&n->mu);
    uint64_t g = n->generation;
    pthread_mutex_unlock(&n->mu);
    return g;
}

uint64_t hs_notifier_wait(hs_notifier *n, uint64_t seen, int64_t deadline_ms)
{
    struct timespec until = {.tv_sec = deadline_ms / 1000, .tv_nsec = (deadline_ms % 1000) * 1000000L};
    pthread_mutex_lock(&n->mu);
    while (n->generation == seen) {
        if (pthread_cond_timedwait(&n->cv, &n->mu, &until) != 0) break;
    }
    uint64_t g = n->generation;
    pthread_mutex_unlock(&n->mu);
    return g;
}

int hs_notifier_listen(hs_notifier *n, void (*fn)(void *ctx), void *ctx)
{
    int rc = -1;
    pthread_mutex_lock(&n->mu);
    for (size_t i = 0; i < HS_NOTIFY_MAX_LISTENERS && rc != 0; i++) {
        if (!n->listeners[i].fn) {
            n->listeners[i].fn = fn;
            n->listeners[i].ctx = ctx;
            rc = 0;
        }
    }
    pthread_mutex_unlock(&n->mu);
    return rc;
}

void hs_notifier_unlisten(hs_notifier *n, void (*fn)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&n->mu);
    for (size_t i = 0; i < HS_NOTIFY_MAX_LISTENERS; i++)
        if (n->listeners[i].fn == fn && n->listeners[i].ctx == ctx) n->listeners[i].fn = NULL;
    pthread_mutex_unlock(&n->mu);
}
