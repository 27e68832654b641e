/* hs_api_sync_internal: what the sync area's two endpoint files (hs_api_sync.c: /sync
 * and filters; hs_api_sync_ephemeral.c: typing, receipts, read markers, account data,
 * presence) share. Not for other modules. */
#ifndef HS_API_SYNC_INTERNAL_H
#define HS_API_SYNC_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "server-core/hs_api_sync.h"
#include "server-core/hs_http.h"
#include "server-core/hs_typing.h"

typedef struct sync_wait sync_wait;

struct hs_api_sync {
    struct hs_server *srv;
    hs_typing *typing;
    _Atomic int waiting;         /* /sync requests blocking a thread in their wait */
    int max_waiting;             /* min(limits.max_long_polls, threads - 1) */
    _Atomic bool stopping;
    /* Parked /sync requests (deferred answers), watched by the waker thread. */
    pthread_mutex_t mu;
    pthread_cond_t cv;           /* CLOCK_MONOTONIC */
    sync_wait *parked;           /* doubly linked */
    int n_parked;
    bool kick;                   /* something changed: the waker re-checks at once */
    bool closing;                /* under mu: the waker fires everything and ends; no new parking */
    bool thread_started;
    pthread_t thread;
    int64_t typing_serial;       /* the waker's last look at the typing serial */
};

/* Registers the ephemeral endpoints (hs_api_sync_ephemeral.c). Returns 0 or -1. */
int hs_api_sync_ephemeral_register(struct hs_server *srv);

#endif
