/* fed_sender: the thread of fed_sender.h. With nothing in flight it sleeps on its own
 * condition variable; with requests in flight it waits on them (hs_fed_sending_collect).
 * The notifier listener only sets a flag, signals the condition and wakes the batch
 * (listeners run under the notifier's lock and must be quick). */
#include "federation-side/fed_sender.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "server-core/hs_fed.h"
#include "server-core/hs_fed_queue.h"
#include "server-core/hs_log.h"
#include "server-core/hs_server.h"

/* Even with nothing due, look again this often (a missed wake costs at most this). */
#define IDLE_MS 30000

struct fed_sender {
    struct hs_server *srv;
    hs_fed_sending *sending;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool woken, stop;
};

/* Called under the notifier's lock: a flag, a signal and a batch wake-up (a write to
 * curl's wake-up socket), nothing that can block. */
static void on_wake(void *ctx)
{
    fed_sender *s = ctx;
    pthread_mutex_lock(&s->lock);
    s->woken = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    hs_fed_sending_wake(s->sending);
}

/* Sleeps up to wait_ms unless woken or stopped; returns whether to stop. */
static bool sleep_until_woken(fed_sender *s, int64_t wait_ms)
{
    pthread_mutex_lock(&s->lock);
    if (wait_ms > 0 && !s->woken && !s->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += wait_ms / 1000;
        ts.tv_nsec += (wait_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        while (!s->woken && !s->stop && pthread_cond_timedwait(&s->cond, &s->lock, &ts) != ETIMEDOUT) {
        }
    }
    bool stop = s->stop;
    s->woken = false;
    pthread_mutex_unlock(&s->lock);
    return stop;
}

static bool stopping(fed_sender *s)
{
    pthread_mutex_lock(&s->lock);
    bool stop = s->stop;
    s->woken = false;
    pthread_mutex_unlock(&s->lock);
    return stop;
}

static void *run(void *arg)
{
    fed_sender *s = arg;
    if (hs_fed_sending_announce(s->sending) != 0) hs_warn("fed", "outbound queue: database error");
    for (;;) {
        int64_t now = hs_fed_now_ms();
        int64_t next_due = INT64_MAX;
        while (hs_fed_queue_scan(s->srv, now) > 0) now = hs_fed_now_ms();
        if (hs_fed_sending_start(s->sending, now, &next_due) < 0) hs_warn("fed", "outbound queue: database error");
        int64_t wait = next_due == INT64_MAX ? IDLE_MS : next_due - hs_fed_now_ms();
        if (wait > IDLE_MS) wait = IDLE_MS;
        if (wait < 0) wait = 0;
        /* With requests in flight, wait on them: the first answer (or a wake-up) brings
         * the loop round to start what became due; else sleep on the condition. */
        bool stop;
        if (hs_fed_sending_in_flight(s->sending) > 0) {
            if (hs_fed_sending_collect(s->sending, (int)wait) < 0) hs_warn("fed", "outbound queue: database error");
            stop = stopping(s);
        } else {
            stop = sleep_until_woken(s, wait);
        }
        if (stop) break;
    }
    return NULL;
}

fed_sender *fed_sender_start(struct hs_server *srv)
{
    fed_sender *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->srv = srv;
    if (!(s->sending = hs_fed_sending_new(srv))) {
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    if (hs_notifier_listen(srv->notifier, on_wake, s) != 0) goto fail;
    if (pthread_create(&s->thread, NULL, run, s) != 0) {
        hs_notifier_unlisten(srv->notifier, on_wake, s);
        goto fail;
    }
    return s;
fail:
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    hs_fed_sending_free(s->sending);
    free(s);
    return NULL;
}

void fed_sender_stop(fed_sender *s)
{
    if (!s) return;
    hs_notifier_unlisten(s->srv->notifier, on_wake, s);
    pthread_mutex_lock(&s->lock);
    s->stop = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    hs_fed_sending_wake(s->sending);
    pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    hs_fed_sending_free(s->sending);
    free(s);
}
