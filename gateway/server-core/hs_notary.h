/* hs_notary: the key fetches of the notary (POST/GET /_matrix/key/v2/query) within a
 * time budget. One query may name several servers whose keys are not cached; each is
 * fetched directly (hs_fed_fetch_keys_direct) on a thread of its own, all at once, and
 * the caller waits until every fetch has ended or the budget is spent, whichever comes
 * first. A fetch still running then goes on in the background: its result still lands
 * in the key cache (the next query finds it), but this answer does not wait for it.
 *
 * Invariants: at most HS_NOTARY_MAX_FETCHES fetch threads run at once per server (a
 * query beyond that fetches nothing more and answers from the cache) and at most one
 * per remote server (a query naming a server already being fetched answers from the
 * cache for it), so many queries naming servers that hang cannot pile up threads;
 * each thread ends within the
 * transport's own timeout (federation.request_timeout_seconds); hs_notary_free joins
 * every thread, so nothing runs after the server closes.
 *
 * Not here: the cache rules and signing of the answer (hs_keys_server.c), key
 * validation and caching (hs_fed.c, hs_keys.c). */
#ifndef HS_NOTARY_H
#define HS_NOTARY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct hs_server;

#define HS_NOTARY_MAX_FETCHES 64

typedef struct hs_notary hs_notary;

/* A new fetcher with no thread running. Returns NULL when out of memory. */
hs_notary *hs_notary_new(void);

/* Waits for every fetch thread to end (each within the transport's timeout), then
 * frees. Call before the server's federation state and store go away. NULL is allowed. */
void hs_notary_free(hs_notary *n);

/* Fetches the keys of servers[0..count) concurrently and returns once all have ended or
 * budget_ms has passed. docs[i] gets the validated key document of servers[i] (a new
 * reference the caller owns), or NULL when its fetch failed, did not end within the
 * budget, or could not start (thread limit, out of memory). Returns how many fetches
 * were still running at the deadline. */
size_t hs_notary_fetch(struct hs_server *srv, const char *const *servers, size_t count, int64_t now_ms,
                       int64_t budget_ms, json_t **docs);

#endif
