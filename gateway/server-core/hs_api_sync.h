/* hs_api_sync: the Client-Server endpoints of the sync area, on /_matrix/client/v3 and
 * r0 — GET /sync, filters (POST /user/{userId}/filter, GET .../filter/{filterId}),
 * typing, receipts, read markers, account data (global and per room) and presence.
 *
 * Long-polling holds no worker thread on the HTTP listener: hs_httpd parks the request
 * (libmicrohttpd suspend/resume, hs_http.h "deferred answers") and one waker thread
 * owned by this module watches every parked /sync — woken through an hs_notify
 * listener, by a newly parked sync, or at the earliest deadline / typing expiry — and
 * resumes those that may have news; their response is then built on a worker. Parked
 * syncs are bounded by the listener's connection limit. On a transport without
 * deferred answers (req->wake NULL) a waiting sync blocks its thread instead, and that
 * budget is explicit: at most min(limits.max_long_polls, threads - 1) at once, so one
 * worker always stays free; a sync beyond it answers at once with what it has.
 *
 * The context (srv->sync) holds the in-memory typing table, the parked syncs with their
 * waker thread, and the budget counter. */
#ifndef HS_API_SYNC_H
#define HS_API_SYNC_H

#include <stdbool.h>
#include <stdint.h>

struct hs_server;
typedef struct hs_api_sync hs_api_sync;

#define HS_API_SYNC_MAX_TIMEOUT_MS 90000 /* longer /sync timeouts are clamped */

/* Creates the context (srv->sync) and registers the endpoints on the client router.
 * Returns 0, or -1 on allocation failure or a routing error. */
int hs_api_sync_register(struct hs_server *srv);

/* Ends every waiting /sync now (each answers with what it has), makes later ones answer
 * without waiting and stops the waker thread: the first step of a shutdown, before the
 * listeners stop (libmicrohttpd must not stop with parked requests) and before the
 * notifier is freed. NULL is allowed. */
void hs_api_sync_stop(hs_api_sync *api);

/* /sync requests waiting right now, parked or blocking (for tests and metrics). */
int hs_api_sync_waiting(const hs_api_sync *api);

/* Sets `user_id`'s typing in `room_id` as told by another server (membership already
 * checked by the caller) and wakes waiting syncs when the set changed. Returns what
 * hs_typing_set returns (-1 also when the sync context does not exist). */
int hs_api_sync_typing_set(struct hs_server *srv, const char *room_id, const char *user_id, bool typing,
                           int64_t timeout_ms);

/* Frees the context. NULL is allowed. Call only after the listeners stopped. */
void hs_api_sync_free(hs_api_sync *api);

#endif
