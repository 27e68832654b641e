/* hs_fed: the transport-neutral half of federation that every Server-Server endpoint
 * leans on: where other servers' verify keys come from (our own key, the SQLite cache,
 * the server's own key server, then the configured notaries) and the authentication of
 * inbound requests (X-Matrix) that runs before any federation handler.
 *
 * server-core cannot speak HTTPS itself (no libcurl here, see docs/architecture.md), so
 * outbound requests go through an hs_fed_transport that the process wiring installs:
 * federation-side's fed_client for DNS names. Until one is installed, only cached keys
 * are known and every fetch fails with a clear error.
 *
 * Threads: handlers on any worker may call these functions concurrently; the cache is
 * SQLite (serialized) and the transport must be thread-safe. */
#ifndef HS_FED_H
#define HS_FED_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server-core/hs_canonical_json.h"
#include "server-core/hs_http.h"

struct hs_server;

/* One outbound request to another server. */
typedef struct hs_fed_out {
    const char *destination;  /* server name */
    const char *method;
    const char *target;       /* raw path with query, already percent-encoded */
    const json_t *content;    /* JSON body or NULL */
    bool sign;                /* add X-Matrix (key endpoints are fetched unsigned) */
    int timeout_ms;           /* give up after this long (a client's own deadline, e.g.
                               * keys/query's `timeout`); 0 or more than
                               * federation.request_timeout_seconds: that setting */
} hs_fed_out;

/* A response: status and body (malloc'd, NUL-terminated; the caller frees it), and its
 * Content-Type ("" when absent or longer than the field), which media downloads need. */
typedef struct hs_fed_reply {
    long status;
    char *body;
    size_t body_len;
    char content_type[256];
} hs_fed_reply;

/* What the process wiring provides. `request` performs one request; returns 0 with
 * *reply filled (any HTTP status), or -1 with err set when no HTTP answer came (DNS,
 * connect, TLS, deny-list, timeout, size limit). Must be thread-safe.
 * The batch_* functions are optional (all NULL when the transport cannot run requests
 * concurrently): they implement hs_fed_batch below, with the same contracts; a batch
 * is used by one thread at a time, except batch_wake, which any thread may call. */
typedef struct hs_fed_transport {
    int (*request)(void *ctx, const hs_fed_out *req, hs_fed_reply *reply, hs_err *err);
    void *(*batch_open)(void *ctx);
    int (*batch_start)(void *batch, const hs_fed_out *req, uint64_t tag, hs_err *err);
    int (*batch_next)(void *batch, int timeout_ms, uint64_t *tag, hs_fed_reply *reply, hs_err *err);
    void (*batch_wake)(void *batch);
    void (*batch_close)(void *batch);
    void *ctx;
} hs_fed_transport;

/* Per-server federation state (hangs off hs_server.fed). */
typedef struct hs_fed hs_fed;

/* Creates srv->fed and registers the key server, notary and federation query routes
 * on srv->federation_router. Returns 0 or -1. */
int hs_fed_register(struct hs_server *srv);

/* Frees the state. NULL is allowed. */
void hs_fed_free(hs_fed *fed);

/* Installs the outbound transport (copied). Call before the listeners start. */
void hs_fed_set_transport(struct hs_server *srv, const hs_fed_transport *t);

/* Sends one request through the installed transport. Same contract as
 * hs_fed_transport.request; fails when none is installed. */
int hs_fed_send(struct hs_server *srv, const hs_fed_out *req, hs_fed_reply *reply, hs_err *err);

/* A batch of concurrent outbound requests: each is started (hs_fed_batch_start) and its
 * result collected when it finishes (hs_fed_batch_next), in any order, so a peer that
 * hangs until its timeout delays nobody else's answer and new requests can start while
 * old ones are still in flight. Without a concurrent transport (no batch_* functions)
 * each request runs to its end inside hs_fed_batch_start and its result is handed out
 * by the next hs_fed_batch_next: same results, one after the other. A batch belongs to
 * one thread (hs_fed_batch_wake excepted); the caller bounds how many it has in flight
 * (federation.max_concurrent_requests is the configured bound). */
typedef struct hs_fed_batch hs_fed_batch;

/* Opens a batch on srv's transport. Returns NULL when out of memory. */
hs_fed_batch *hs_fed_batch_open(struct hs_server *srv);

/* Starts `req` (its strings and content may be freed once this returns); `tag` comes
 * back with the result. Returns 0, or -1 with err when it could not even start
 * (discovery, signing, bad target, no transport): then no result comes for it. */
int hs_fed_batch_start(hs_fed_batch *b, const hs_fed_out *req, uint64_t tag, hs_err *err);

/* Waits up to timeout_ms for one started request to finish. Returns 1 with its tag and
 * either the answer (reply->status >= 100, any status; the caller frees the reply with
 * hs_fed_reply_free) or reply->status 0 and err saying why no answer came; 0 when
 * nothing finished in time or hs_fed_batch_wake was called; -1 at once when nothing is
 * in flight. */
int hs_fed_batch_next(hs_fed_batch *b, int timeout_ms, uint64_t *tag, hs_fed_reply *reply, hs_err *err);

/* Makes a hs_fed_batch_next in progress (or the next one) return 0 at once. Any thread. */
void hs_fed_batch_wake(hs_fed_batch *b);

/* Requests started whose result hs_fed_batch_next has not returned yet. */
size_t hs_fed_batch_in_flight(const hs_fed_batch *b);

/* Abandons the requests still in flight (their results are lost) and frees the batch.
 * NULL is allowed. */
void hs_fed_batch_close(hs_fed_batch *b);

/* Sends n independent requests at once and waits until every one has an answer or has
 * failed, so the batch takes about as long as its slowest request rather than the sum
 * (a peer that never answers holds the call until its own timeout, never the others'
 * answers). At most federation.max_concurrent_requests are in flight at a time; a
 * larger batch runs in waves of that size. Built on hs_fed_batch, so without a
 * concurrent transport the requests go one after the other.
 * Per request i: replies[i].status is the HTTP status (>= 100, any status) and
 * replies[i].body the answer when one came (the caller frees each reply with
 * hs_fed_reply_free); otherwise replies[i].status is 0 and errs[i] says why (as
 * hs_fed_send). reqs, replies and errs have n elements. Returns the number of requests
 * answered (0..n). Any thread, like hs_fed_send; don't put two requests that must not
 * overlap in one call (e.g. two transactions to one destination). */
int hs_fed_send_many(struct hs_server *srv, const hs_fed_out *reqs, size_t n, hs_fed_reply *replies, hs_err *errs);

/* Frees a reply's body and zeroes it. */
void hs_fed_reply_free(hs_fed_reply *reply);

/* The current public key (server_name, key_id) valid until at least `min_valid_ts`:
 * our own key; a cached key (old_verify_keys never count: they cannot authenticate
 * requests); otherwise fetched from the server's key server, then from each trusted
 * notary, validated, cached and looked up again. After a failed lookup the server is
 * not asked again for 30 s (forged requests must not turn us into a fetch amplifier).
 * Returns 0 with the key in `out`, or -1 with err saying why none is usable. */
int hs_fed_get_verify_key(struct hs_server *srv, const char *server_name, const char *key_id, int64_t now_ms,
                          int64_t min_valid_ts, uint8_t out[32], hs_err *err);

/* Fetches `server_name`'s keys directly (GET /_matrix/key/v2/server), validates and
 * caches them; refuses without asking within 30 s of a failed fetch. Returns the
 * validated response (new reference) or NULL with err. */
json_t *hs_fed_fetch_keys_direct(struct hs_server *srv, const char *server_name, int64_t now_ms, hs_err *err);

/* Authenticates an inbound federation request before its handler runs: parses each
 * X-Matrix credential (the first 4 Authorization headers), checks destination (when present) is us, finds the origin's
 * key (fetching it if needed) and verifies the signature over {method, raw target,
 * origin, destination, body}. Returns 0 and writes the origin into origin_out; or -1
 * with resp already set (401 M_UNAUTHORIZED, or 400 M_NOT_JSON for a bad body) and
 * the handler must return. */
int hs_fed_authenticate(struct hs_server *srv, const hs_request *req, char *origin_out, size_t origin_len,
                        hs_response *resp);

/* A federation endpoint's handler: runs only after hs_fed_authenticate accepted the
 * request; `origin` is the authenticated sending server. */
typedef void (*hs_fed_handler)(const hs_request *req, hs_response *resp, struct hs_server *srv, const char *origin);

#define HS_FED_MAX_ROUTES 96

/* Registers an authenticated federation endpoint on srv->federation_router: the route
 * authenticates every request (401 M_UNAUTHORIZED on failure) and only then calls `fn`.
 * This is how every Server-Server endpoint except the key server and /version should be
 * added, so none can forget the check. Returns 0, or -1 (table full or bad pattern). */
int hs_fed_route(struct hs_server *srv, const char *method, const char *pattern, hs_fed_handler fn);

/* The wall clock in milliseconds (the only clock read of the federation code; the pure
 * modules get it as an argument). */
int64_t hs_fed_now_ms(void);

#endif
