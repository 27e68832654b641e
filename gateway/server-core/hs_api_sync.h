/* hs_api_sync: the Client-Server endpoints of the sync area, on /_matrix/client/v3 and
 * r0 — GET /sync, filters (POST /user/{userId}/filter, GET .../filter/{filterId}),
 * typing, receipts, read markers, account data (global and per room) and presence.
 *
 * Long-poll thread budget: a /sync that waits holds one client worker thread for up to
 * its timeout (libmicrohttpd's pool runs one request per worker). The budget is explicit
 * and bounded instead of suspending connections: at most min(limits.max_long_polls,
 * threads - 1) /sync requests wait at once, so at least one worker always serves other
 * requests; a /sync beyond the budget answers at once with what it has (possibly
 * nothing new) and the client asks again. Waiting is on hs_notify (woken by every write
 * a client may wait for) with a deadline, never by polling.
 *
 * The context (srv->sync) holds the in-memory typing table and the budget counter. */
#ifndef HS_API_SYNC_H
#define HS_API_SYNC_H

struct hs_server;
typedef struct hs_api_sync hs_api_sync;

#define HS_API_SYNC_MAX_TIMEOUT_MS 90000 /* longer /sync timeouts are clamped */

/* Creates the context (srv->sync) and registers the endpoints on the client router.
 * Returns 0, or -1 on allocation failure or a routing error. */
int hs_api_sync_register(struct hs_server *srv);

/* Ends every waiting /sync now (each answers with what it has) and makes later ones
 * answer without waiting: the first step of a shutdown. NULL is allowed. */
void hs_api_sync_stop(hs_api_sync *api);

/* /sync requests waiting right now (for tests and metrics). */
int hs_api_sync_waiting(const hs_api_sync *api);

/* Frees the context. NULL is allowed. Call only after the listeners stopped. */
void hs_api_sync_free(hs_api_sync *api);

#endif
