/* hs_notary: one joinable thread per fetch, in a fixed table of HS_NOTARY_MAX_FETCHES
 * slots. A slot is free, running, or finished (the thread has returned or is about to;
 * the next hs_notary_fetch joins it, which then takes no time). A query's fetches share
 * a `batch` that both the waiting request and its threads hold a reference to, so a
 * request that leaves at its deadline frees nothing a late thread still writes to; the
 * last holder frees it. The wait uses CLOCK_MONOTONIC: a wall-clock step must not
 * stretch or cut the budget. */
#include "server-core/hs_notary.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server-core/hs_fed.h"
#include "server-core/hs_log.h"
#include "server-core/hs_server.h"

enum slot_state { SLOT_FREE, SLOT_RUNNING, SLOT_FINISHED };

struct hs_notary {
    pthread_mutex_t lock;
    pthread_t tid[HS_NOTARY_MAX_FETCHES];
    enum slot_state state[HS_NOTARY_MAX_FETCHES];
    char server[HS_NOTARY_MAX_FETCHES][256]; /* what a running slot fetches */
};

/* One query's fetches. */
typedef struct batch {
    pthread_mutex_t lock;
    pthread_cond_t done;   /* signalled as each fetch ends */
    size_t refs;           /* the waiting request + each thread not yet ended */
    size_t pending;        /* fetches not ended */
    bool abandoned;        /* the request has left: results are dropped */
    json_t **docs;         /* the request's array while it waits */
} batch;

typedef struct job {
    hs_notary *notary;
    size_t slot;
    hs_server *srv;
    batch *b;
    size_t index;
    int64_t now_ms;
    char server[];
} job;

static void batch_release(batch *b)
{
    pthread_mutex_lock(&b->lock);
    bool last = --b->refs == 0;
    pthread_mutex_unlock(&b->lock);
    if (!last) return;
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->done);
    free(b);
}

static void *fetch_thread(void *arg)
{
    job *j = arg;
    hs_err err = {{0}};
    json_t *doc = hs_fed_fetch_keys_direct(j->srv, j->server, j->now_ms, &err);
    if (!doc) hs_debug("keys", "notary: fetching the keys of %s failed: %s", j->server, err.msg);
    batch *b = j->b;
    pthread_mutex_lock(&b->lock);
    if (!b->abandoned) {
        b->docs[j->index] = doc;
        doc = NULL;
    }
    b->pending--;
    pthread_cond_broadcast(&b->done);
    pthread_mutex_unlock(&b->lock);
    json_decref(doc);  /* a late result: it is in the cache already */
    batch_release(b);
    hs_notary *n = j->notary;
    size_t slot = j->slot;
    free(j);
    pthread_mutex_lock(&n->lock);
    n->state[slot] = SLOT_FINISHED;
    pthread_mutex_unlock(&n->lock);
    return NULL;
}

hs_notary *hs_notary_new(void)
{
    hs_notary *n = calloc(1, sizeof *n);
    if (n) pthread_mutex_init(&n->lock, NULL);
    return n;
}

void hs_notary_free(hs_notary *n)
{
    if (!n) return;
    /* Only hs_notary_fetch starts threads, and no request runs any more, so the set of
     * slots in use cannot grow while this joins them. */
    for (size_t i = 0; i < HS_NOTARY_MAX_FETCHES; i++) {
        pthread_mutex_lock(&n->lock);
        bool used = n->state[i] != SLOT_FREE;
        pthread_mutex_unlock(&n->lock);
        if (used) pthread_join(n->tid[i], NULL);
    }
    pthread_mutex_destroy(&n->lock);
    free(n);
}

/* A free slot for fetching `server`, joining finished threads on the way; -1 when all
 * are running, -2 when one of them already fetches `server` (its result will be in the
 * cache; a second fetch would only hold a second thread on a peer that may hang).
 * Called with n->lock held. */
static int take_slot(hs_notary *n, const char *server)
{
    int found = -1;
    for (int i = 0; i < HS_NOTARY_MAX_FETCHES; i++) {
        if (n->state[i] == SLOT_FINISHED) {
            pthread_join(n->tid[i], NULL);  /* it has left its last critical section */
            n->state[i] = SLOT_FREE;
        }
        if (n->state[i] == SLOT_RUNNING && strcmp(n->server[i], server) == 0) return -2;
        if (found < 0 && n->state[i] == SLOT_FREE) found = i;
    }
    return found;
}

static bool start_fetch(hs_server *srv, batch *b, size_t index, const char *server, int64_t now_ms)
{
    hs_notary *n = srv->notary;
    size_t len = strlen(server);
    job *j = malloc(sizeof *j + len + 1);
    if (!j) return false;
    *j = (job){.notary = n, .srv = srv, .b = b, .index = index, .now_ms = now_ms};
    memcpy(j->server, server, len + 1);
    pthread_mutex_lock(&n->lock);
    int slot = take_slot(n, server);
    bool ok = false;
    if (slot >= 0) {
        j->slot = (size_t)slot;
        b->refs++;
        b->pending++;
        if (pthread_create(&n->tid[slot], NULL, fetch_thread, j) == 0) {
            n->state[slot] = SLOT_RUNNING;
            snprintf(n->server[slot], sizeof n->server[slot], "%s", server);
            ok = true;
        } else {
            b->refs--;
            b->pending--;
        }
    }
    pthread_mutex_unlock(&n->lock);
    if (!ok) free(j);
    return ok;
}

size_t hs_notary_fetch(hs_server *srv, const char *const *servers, size_t count, int64_t now_ms,
                       int64_t budget_ms, json_t **docs)
{
    for (size_t i = 0; i < count; i++) docs[i] = NULL;
    if (!srv->notary || count == 0) return 0;
    batch *b = calloc(1, sizeof *b);
    if (!b) return 0;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->done, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&b->lock, NULL);
    b->refs = 1;
    b->docs = docs;

    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += (time_t)(budget_ms / 1000);
    deadline.tv_nsec += (long)(budget_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    /* Threads may write docs[] as soon as they start, so the batch lock covers it. */
    size_t not_started = 0;
    for (size_t i = 0; i < count; i++) not_started += !start_fetch(srv, b, i, servers[i], now_ms);
    /* One line per query, not per server: a flood of queries must not flood the log. */
    if (not_started)
        hs_info("keys", "notary: %zu of %zu key fetches not started (already running for that server, %d running, "
                "or no thread)", not_started, count, HS_NOTARY_MAX_FETCHES);

    pthread_mutex_lock(&b->lock);
    while (b->pending > 0 && pthread_cond_timedwait(&b->done, &b->lock, &deadline) == 0) {
    }
    size_t late = b->pending;
    b->abandoned = true;
    b->docs = NULL;
    pthread_mutex_unlock(&b->lock);
    batch_release(b);
    if (late) hs_info("keys", "notary: %zu of %zu key fetches still running after %lld ms; answering without them",
                      late, count, (long long)budget_ms);
    return late;
}
