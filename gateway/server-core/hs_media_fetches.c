/* hs_media_fetches: see hs_media_fetches.h. A linked list under one mutex (the table
 * holds at most max_running entries, so a scan is cheap); a condition variable on the
 * monotonic clock serves the followers that must wait on their thread. A finished
 * fetch is unlinked at once and lives on only while references are held (the thread
 * holds one from hs_media_fetches_run until it finishes the fetch).
 *
 * The thread takes handed-over fetches from a queue, starts their requests on its
 * hs_fed_batch (opened when there is work, closed when idle, so a transport installed
 * after the start is used) and handles each answer as it comes: store and finish, or
 * ask the legacy endpoint next. It sleeps on `work` when idle; a hand-over signals it
 * and wakes the batch. */
#include "server-core/hs_media_fetches.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server-core/hs_fed.h"
#include "server-core/hs_fed_media.h"
#include "server-core/hs_log.h"
#include "server-core/hs_media_wait.h"
#include "server-core/hs_server.h"

struct hs_media_fetch {
    char *origin, *media_id;
    bool done;
    int rc;
    int refs;
    int step;                     /* the thread's: hs_fed_media_fetch_request's step */
    struct hs_media_fetch *next;  /* in the table */
    struct hs_media_fetch *qnext; /* in the queue, then in the thread's in-flight list */
};

struct hs_media_fetches {
    pthread_mutex_t mu;
    pthread_cond_t cv;   /* a fetch finished */
    pthread_cond_t work; /* the thread: a hand-over or stop */
    int max_running, running;
    hs_media_fetch *head;
    hs_media_fetch *queue;     /* handed over, not started yet */
    struct hs_server *srv;
    pthread_t thread;
    bool started, closing;
    hs_fed_batch *batch;       /* the thread's, published for wake-ups */
};

hs_media_fetches *hs_media_fetches_new(int max_running)
{
    hs_media_fetches *fs = calloc(1, sizeof *fs);
    if (!fs) return NULL;
    fs->max_running = max_running > 0 ? max_running : 1;
    pthread_mutex_init(&fs->mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&fs->cv, &attr);
    pthread_condattr_destroy(&attr);
    pthread_cond_init(&fs->work, NULL);
    return fs;
}

void hs_media_fetches_free(hs_media_fetches *fs)
{
    if (!fs) return;
    hs_media_fetches_stop(fs);
    pthread_mutex_destroy(&fs->mu);
    pthread_cond_destroy(&fs->cv);
    pthread_cond_destroy(&fs->work);
    free(fs);
}

static void fetch_free(hs_media_fetch *f)
{
    free(f->origin);
    free(f->media_id);
    free(f);
}

hs_media_fetch *hs_media_fetches_join(hs_media_fetches *fs, const char *origin, const char *media_id, bool *leader)
{
    *leader = false;
    pthread_mutex_lock(&fs->mu);
    hs_media_fetch *f = fs->head;
    while (f && (strcmp(f->origin, origin) != 0 || strcmp(f->media_id, media_id) != 0)) f = f->next;
    if (f) {
        f->refs++;
    } else if (fs->running < fs->max_running && (f = calloc(1, sizeof *f))) {
        f->origin = strdup(origin);
        f->media_id = strdup(media_id);
        if (!f->origin || !f->media_id) {
            fetch_free(f);
            f = NULL;
        } else {
            f->refs = 1;
            f->next = fs->head;
            fs->head = f;
            fs->running++;
            *leader = true;
        }
    }
    pthread_mutex_unlock(&fs->mu);
    return f;
}

void hs_media_fetches_finish(hs_media_fetches *fs, hs_media_fetch *f, int rc)
{
    pthread_mutex_lock(&fs->mu);
    if (!f->done) {
        for (hs_media_fetch **pp = &fs->head; *pp; pp = &(*pp)->next) {
            if (*pp == f) {
                *pp = f->next;
                break;
            }
        }
        f->next = NULL;
        f->done = true;
        f->rc = rc;
        fs->running--;
        pthread_cond_broadcast(&fs->cv);
    }
    pthread_mutex_unlock(&fs->mu);
}

bool hs_media_fetch_done(hs_media_fetches *fs, const hs_media_fetch *f, int *rc)
{
    pthread_mutex_lock(&fs->mu);
    bool done = f->done;
    if (done) *rc = f->rc;
    pthread_mutex_unlock(&fs->mu);
    return done;
}

bool hs_media_fetch_wait(hs_media_fetches *fs, const hs_media_fetch *f, int64_t deadline_ms, int *rc)
{
    struct timespec until = {.tv_sec = deadline_ms / 1000, .tv_nsec = (deadline_ms % 1000) * 1000000L};
    pthread_mutex_lock(&fs->mu);
    int e = 0;
    while (!f->done && e == 0) e = pthread_cond_timedwait(&fs->cv, &fs->mu, &until);
    bool done = f->done;
    if (done) *rc = f->rc;
    pthread_mutex_unlock(&fs->mu);
    return done;
}

void hs_media_fetches_release(hs_media_fetches *fs, hs_media_fetch *f)
{
    if (!f) return;
    pthread_mutex_lock(&fs->mu);
    bool last = --f->refs == 0;
    pthread_mutex_unlock(&fs->mu);
    /* A fetch leaves the table when it finishes, which comes before the finisher (the
     * thread, or a leader fetching itself) drops its reference: the last reference
     * never belongs to a fetch still in the table. */
    if (last) fetch_free(f);
}

/* ---- the fetching thread ------------------------------------------------------------ */

/* Finishes f (the thread's reference goes) and wakes the parked downloads. */
static void complete(hs_media_fetches *fs, hs_media_fetch *f, hs_media_fetch **in_flight, int rc)
{
    for (hs_media_fetch **pp = in_flight; *pp; pp = &(*pp)->qnext) {
        if (*pp == f) {
            *pp = f->qnext;
            break;
        }
    }
    f->qnext = NULL;
    hs_media_fetches_finish(fs, f, rc);
    hs_media_waits_kick(fs->srv->media_waits);
    hs_media_fetches_release(fs, f);
}

/* Starts f's request of f->step; on failure f is finished with -1. */
static void start_step(hs_media_fetches *fs, hs_fed_batch *b, hs_media_fetch *f, hs_media_fetch **in_flight)
{
    char target[600];
    hs_fed_out q;
    hs_err err = {{0}};
    if (!b || hs_fed_media_fetch_request(f->origin, f->media_id, f->step, target, sizeof target, &q, &err) != 0 ||
        hs_fed_batch_start(b, &q, (uint64_t)(uintptr_t)f, &err) != 0) {
        hs_info("media", "fetching mxc://%s/%s: %s", f->origin, f->media_id, b ? err.msg : "out of memory");
        complete(fs, f, in_flight, -1);
    }
}

/* One answer: stored, not there, or on to the legacy endpoint. */
static void handle(hs_media_fetches *fs, hs_fed_batch *b, hs_media_fetch *f, const hs_fed_reply *reply,
                   const hs_err *err, hs_media_fetch **in_flight)
{
    hs_err e = *err;
    hs_store_remote_media m;
    int rc = reply->status == 0 ? -1
                                : hs_fed_media_fetch_answer(fs->srv, f->origin, f->media_id, f->step, reply, &m, &e);
    if (rc == 2) {
        f->step = 1;
        start_step(fs, b, f, in_flight);
        return;
    }
    if (rc < 0) hs_info("media", "fetching mxc://%s/%s: %s", f->origin, f->media_id, e.msg);
    complete(fs, f, in_flight, rc);
}

static void *run(void *arg)
{
    hs_media_fetches *fs = arg;
    hs_fed_batch *b = NULL;
    hs_media_fetch *in_flight = NULL;
    pthread_mutex_lock(&fs->mu);
    while (!fs->closing) {
        hs_media_fetch *todo = fs->queue;
        fs->queue = NULL;
        if (!todo && !in_flight) {
            if (b) { /* idle: the next batch takes the transport as it is then */
                fs->batch = NULL;
                pthread_mutex_unlock(&fs->mu);
                hs_fed_batch_close(b);
                b = NULL;
                pthread_mutex_lock(&fs->mu);
                continue;
            }
            pthread_cond_wait(&fs->work, &fs->mu);
            continue;
        }
        if (todo && !b) {
            pthread_mutex_unlock(&fs->mu);
            b = hs_fed_batch_open(fs->srv);
            pthread_mutex_lock(&fs->mu);
            fs->batch = b;
        }
        pthread_mutex_unlock(&fs->mu);
        while (todo) {
            hs_media_fetch *f = todo;
            todo = f->qnext;
            f->qnext = in_flight;
            in_flight = f;
            f->step = 0;
            start_step(fs, b, f, &in_flight);
        }
        pthread_mutex_lock(&fs->mu);
        /* A hand-over from before fs->batch was set could not wake the batch. */
        if (fs->queue || fs->closing || !in_flight) continue;
        pthread_mutex_unlock(&fs->mu);
        uint64_t tag;
        hs_fed_reply reply;
        hs_err err;
        int got = hs_fed_batch_next(b, 1000, &tag, &reply, &err);
        if (got == 1) {
            handle(fs, b, (hs_media_fetch *)(uintptr_t)tag, &reply, &err, &in_flight);
            hs_fed_reply_free(&reply);
        } else if (got < 0) {
            while (in_flight) complete(fs, in_flight, &in_flight, -1); /* lost track: never spin */
        }
        pthread_mutex_lock(&fs->mu);
    }
    hs_media_fetch *todo = fs->queue;
    fs->queue = NULL;
    fs->batch = NULL;
    pthread_mutex_unlock(&fs->mu);
    /* Abandoned: their downloads were answered by hs_media_waits_stop or see -1. */
    hs_fed_batch_close(b);
    while (in_flight) complete(fs, in_flight, &in_flight, -1);
    while (todo) {
        hs_media_fetch *f = todo;
        todo = f->qnext;
        f->qnext = NULL;
        complete(fs, f, &in_flight, -1);
    }
    return NULL;
}

int hs_media_fetches_start(hs_media_fetches *fs, struct hs_server *srv)
{
    fs->srv = srv;
    if (pthread_create(&fs->thread, NULL, run, fs) != 0) return -1;
    fs->started = true;
    return 0;
}

void hs_media_fetches_stop(hs_media_fetches *fs)
{
    if (!fs || !fs->started) return;
    pthread_mutex_lock(&fs->mu);
    fs->closing = true;
    pthread_cond_signal(&fs->work);
    if (fs->batch) hs_fed_batch_wake(fs->batch);
    pthread_mutex_unlock(&fs->mu);
    pthread_join(fs->thread, NULL);
    fs->started = false;
}

void hs_media_fetches_run(hs_media_fetches *fs, hs_media_fetch *f)
{
    pthread_mutex_lock(&fs->mu);
    bool ok = fs->started && !fs->closing;
    if (ok) {
        f->refs++; /* the thread's, until it finishes f */
        f->qnext = NULL;
        hs_media_fetch **pp = &fs->queue;
        while (*pp) pp = &(*pp)->qnext;
        *pp = f;
        pthread_cond_signal(&fs->work);
        if (fs->batch) hs_fed_batch_wake(fs->batch);
    }
    pthread_mutex_unlock(&fs->mu);
    if (!ok) hs_media_fetches_finish(fs, f, -1);
}
