/* fed_sender: the thread of fed_sender.h. It sleeps on its own condition variable; the
 * notifier listener only sets a flag and signals it (listeners run under the notifier's
 * lock and must be quick). */
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
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool woken, stop;
};

static void on_wake(void *ctx)
{
    fed_sender *s = ctx;
    pthread_mutex_lock(&s->lock);
    s->woken = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static void *run(void *arg)
{
    fed_sender *s = arg;
    hs_fed_queue_announce(s->srv, hs_fed_now_ms());
    for (;;) {
        int64_t now = hs_fed_now_ms();
        int64_t next_due = INT64_MAX;
        while (hs_fed_queue_scan(s->srv, now) > 0) now = hs_fed_now_ms();
        if (hs_fed_queue_run(s->srv, now, &next_due) < 0) hs_warn("fed", "outbound queue: database error");
        int64_t wait = next_due == INT64_MAX ? IDLE_MS : next_due - hs_fed_now_ms();
        if (wait > IDLE_MS) wait = IDLE_MS;
        pthread_mutex_lock(&s->lock);
        if (wait > 0 && !s->woken && !s->stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += wait / 1000;
            ts.tv_nsec += (wait % 1000) * 1000000L;
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
        if (stop) break;
    }
    return NULL;
}

fed_sender *fed_sender_start(struct hs_server *srv)
{
    fed_sender *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->srv = srv;
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
    pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
