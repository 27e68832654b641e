/* hs_media_fetches: see hs_media_fetches.h. A linked list under one mutex (the table
 * holds at most max_running entries, so a scan is cheap); a condition variable on the
 * monotonic clock serves the followers that must wait on their thread. A finished
 * fetch is unlinked at once and lives on only while followers hold references. */
#include "server-core/hs_media_fetches.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct hs_media_fetch {
    char *origin, *media_id;
    bool done;
    int rc;
    int refs;
    struct hs_media_fetch *next;
};

struct hs_media_fetches {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int max_running, running;
    hs_media_fetch *head;
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
    return fs;
}

void hs_media_fetches_free(hs_media_fetches *fs)
{
    if (!fs) return;
    pthread_mutex_destroy(&fs->mu);
    pthread_cond_destroy(&fs->cv);
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
    /* A leader always finishes before releasing, so the last reference is never one
     * still in the table. */
    if (last) fetch_free(f);
}
