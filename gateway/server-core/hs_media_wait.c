/* hs_media_wait: see hs_media_wait.h. One mutex guards the list and the flags; the
 * thread sleeps on a CLOCK_MONOTONIC condition variable until the earliest deadline or
 * a kick. hs_wake_fire never blocks on the request, so it is called under the lock. */
#include "server-core/hs_media_wait.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct hs_media_waits {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool started, closing, kick;
    hs_media_waiter *head;
};

int64_t hs_media_waits_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void unlink_waiter(hs_media_waits *ws, hs_media_waiter *w)
{
    if (w->prev) w->prev->next = w->next;
    else ws->head = w->next;
    if (w->next) w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->listed = false;
}

static void *run(void *arg)
{
    hs_media_waits *ws = arg;
    pthread_mutex_lock(&ws->mu);
    for (;;) {
        int64_t now = hs_media_waits_now_ms(), next = now + 60000;
        bool fire_all = ws->kick || ws->closing;
        ws->kick = false;
        for (hs_media_waiter *w = ws->head, *nx; w; w = nx) {
            nx = w->next;
            if (fire_all || now >= w->deadline_ms) {
                unlink_waiter(ws, w);
                hs_wake_fire(w->wake);
            } else if (w->deadline_ms < next) {
                next = w->deadline_ms;
            }
        }
        if (ws->closing) break;
        if (!ws->kick) {
            struct timespec until = {.tv_sec = next / 1000, .tv_nsec = (next % 1000) * 1000000L};
            pthread_cond_timedwait(&ws->cv, &ws->mu, &until);
        }
    }
    pthread_mutex_unlock(&ws->mu);
    return NULL;
}

hs_media_waits *hs_media_waits_new(void)
{
    hs_media_waits *ws = calloc(1, sizeof *ws);
    if (!ws) return NULL;
    pthread_mutex_init(&ws->mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&ws->cv, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&ws->thread, NULL, run, ws) != 0) {
        hs_media_waits_free(ws);
        return NULL;
    }
    ws->started = true;
    return ws;
}

/* Wakes the thread to look at the list again (lock held). */
static void nudge(hs_media_waits *ws)
{
    ws->kick = true;
    pthread_cond_signal(&ws->cv);
}

bool hs_media_waits_park(hs_media_waits *ws, hs_media_waiter *w)
{
    pthread_mutex_lock(&ws->mu);
    bool ok = !ws->closing && !w->listed;
    if (ok) {
        w->prev = NULL;
        w->next = ws->head;
        if (ws->head) ws->head->prev = w;
        ws->head = w;
        w->listed = true;
        /* The thread must learn the new deadline, but a kick would fire everyone:
         * signal without kick so it only recomputes its sleep. */
        pthread_cond_signal(&ws->cv);
    }
    pthread_mutex_unlock(&ws->mu);
    return ok;
}

void hs_media_waits_unpark(hs_media_waits *ws, hs_media_waiter *w)
{
    pthread_mutex_lock(&ws->mu);
    if (w->listed) unlink_waiter(ws, w);
    pthread_mutex_unlock(&ws->mu);
}

void hs_media_waits_kick(hs_media_waits *ws)
{
    pthread_mutex_lock(&ws->mu);
    nudge(ws);
    pthread_mutex_unlock(&ws->mu);
}

void hs_media_waits_stop(hs_media_waits *ws)
{
    if (!ws) return;
    pthread_mutex_lock(&ws->mu);
    ws->closing = true;
    nudge(ws);
    pthread_mutex_unlock(&ws->mu);
    if (ws->started) pthread_join(ws->thread, NULL);
    ws->started = false;
}

void hs_media_waits_free(hs_media_waits *ws)
{
    if (!ws) return;
    hs_media_waits_stop(ws);
    pthread_mutex_destroy(&ws->mu);
    pthread_cond_destroy(&ws->cv);
    free(ws);
}
