/* hs_media_wait: downloads parked until their media is uploaded. A client may fetch an
 * mxc:// URI reserved with POST /create before the upload finished; the spec lets it
 * wait up to timeout_ms. Such a request is parked by the transport (no worker thread
 * held, see hs_http.h "deferred answers") and listed here; one thread fires every
 * listed wake when any upload completes (the handler then re-checks its own media) and
 * each one at its deadline. Stopping fires them all and refuses new ones, so shutdown
 * never waits for a download's timeout.
 *
 * It does not know what is being waited for; the media handlers decide. */
#ifndef HS_MEDIA_WAIT_H
#define HS_MEDIA_WAIT_H

#include <stdbool.h>
#include <stdint.h>

#include "server-core/hs_http.h"

typedef struct hs_media_waits hs_media_waits;

/* One parked download. Owned by the handler's deferral state; the list only links it. */
typedef struct hs_media_waiter {
    hs_wake *wake;               /* the request's wake (hs_request.wake) */
    int64_t deadline_ms;         /* CLOCK_MONOTONIC ms: fired then at the latest */
    bool listed;
    struct hs_media_waiter *prev, *next;
} hs_media_waiter;

/* Creates the list and starts its thread. Returns NULL on failure. */
hs_media_waits *hs_media_waits_new(void);

/* Lists w until an upload completes or w's deadline passes, then fires w->wake once
 * (and unlists it: park again to keep waiting). Returns false when stopping (answer
 * now instead). */
bool hs_media_waits_park(hs_media_waits *ws, hs_media_waiter *w);

/* Unlists w if it is listed (the request ended). */
void hs_media_waits_unpark(hs_media_waits *ws, hs_media_waiter *w);

/* An upload completed: fires every listed waiter. */
void hs_media_waits_kick(hs_media_waits *ws);

/* Fires every waiter, refuses new ones and stops the thread. NULL is allowed. */
void hs_media_waits_stop(hs_media_waits *ws);

/* Stops (if needed) and frees. NULL is allowed. */
void hs_media_waits_free(hs_media_waits *ws);

/* CLOCK_MONOTONIC in ms, the clock of deadline_ms. */
int64_t hs_media_waits_now_ms(void);

#endif
