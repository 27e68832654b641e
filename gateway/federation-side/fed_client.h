/* fed_client: outbound Server-Server requests over HTTPS with libcurl. For each request
 * it resolves the destination with fed_discovery, connects only to addresses outside
 * the deny-list (checked on the resolved address, in curl's open-socket hook, so DNS
 * rebinding and redirects cannot get around it), verifies the peer certificate unless
 * configured not to, sends Host = the server (or delegated) name, signs with X-Matrix
 * when asked, and reads at most max_response_bytes (HS_KEYS_MAX_ANSWER_BYTES from the
 * key endpoints, FED_WELL_KNOWN_MAX_BYTES of a well-known) within timeout_seconds, or
 * within the request's own timeout_ms when that is shorter (discovery not counted).
 *
 * This is server-core's hs_fed_transport for DNS names: fed_client_install plugs it
 * into a server. One easy handle per request (and one multi handle per batch or
 * request, taken from the client's small pool, whose open connections later requests
 * to the same destination reuse), so any thread may call it. */
#ifndef FED_CLIENT_H
#define FED_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "federation-side/fed_discovery.h"
#include "server-core/hs_config.h"
#include "server-core/hs_fed.h"
#include "server-core/hs_signing_key.h"

typedef struct fed_client_config {
    const char *server_name;        /* our server name: X-Matrix origin */
    const hs_signing_key *key;      /* borrowed; must outlive the client */
    const char *ip_range_denylist;  /* comma-separated CIDRs; "" allows everything */
    bool verify_certificates;
    int timeout_seconds;
    int64_t max_response_bytes;
    /* Idle connections kept open for reuse per pooled multi handle (the client keeps a
     * few of those, see fed_client.c); 0 means the default, 16. */
    int max_idle_connections;
} fed_client_config;

typedef struct fed_client fed_client;

/* Creates a client. `resolver` NULL means the system one (SRV via res_query and
 * well-known via this client over port 443); tests pass their own. Returns NULL with
 * err set (bad deny-list, curl initialisation failure). */
fed_client *fed_client_new(const fed_client_config *cfg, const fed_resolver *resolver, hs_err *err);

/* The same, from a server configuration's federation section and signing key. */
fed_client *fed_client_from_config(const hs_config *cfg, const hs_signing_key *key, hs_err *err);

/* Frees the client. NULL is allowed. */
void fed_client_free(fed_client *c);

/* One request (see hs_fed_transport.request): 0 with *reply for any HTTP answer, -1
 * with err for discovery, deny-list, connection, TLS, timeout or size-limit failures. */
int fed_client_request(fed_client *c, const hs_fed_out *req, hs_fed_reply *reply, hs_err *err);

/* A batch: requests running concurrently on one libcurl multi handle (the transport's
 * hs_fed_transport batch_* functions). Starting a request checks and signs it at once;
 * a name that discovery may have to look up on the network (no IP literal, no port:
 * SRV records, well-known) is resolved by a helper thread of its own, which hands the
 * request back to the batch when done, so a name whose lookups hang holds up neither
 * fed_batch_start nor the other requests. The HTTP exchanges then proceed together,
 * each with its own timeout, size limit and deny-list check, so a peer that never
 * answers costs the others nothing. One thread uses a batch; fed_batch_wake may come
 * from any. */
typedef struct fed_batch fed_batch;

/* A new empty batch, or NULL when out of memory. */
fed_batch *fed_batch_open(fed_client *c);

/* Starts one request; `tag` comes back with its result. Returns 0, or -1 with err when
 * it could not start (discovery, signing, bad target): then nothing comes back for it. */
int fed_batch_start(fed_batch *b, const hs_fed_out *req, uint64_t tag, hs_err *err);

/* Waits up to timeout_ms for a request to finish. Returns 1 with its tag and either
 * reply->status != 0 and the answer (the caller frees it with hs_fed_reply_free) or
 * reply->status 0 and err; 0 when none finished in time or fed_batch_wake was called;
 * -1 at once when nothing is in flight. */
int fed_batch_next(fed_batch *b, int timeout_ms, uint64_t *tag, hs_fed_reply *reply, hs_err *err);

/* Makes a fed_batch_next in progress (or the next one) return 0 at once. Thread-safe. */
void fed_batch_wake(fed_batch *b);

/* Requests started and not yet returned by fed_batch_next. */
size_t fed_batch_in_flight(const fed_batch *b);

/* Abandons what is still in flight and frees the batch; a discovery still running is
 * waited for (it ends within the client's timeout). NULL is allowed. */
void fed_batch_close(fed_batch *b);

/* n requests through one batch, waiting for all: for each i, replies[i].status != 0 and
 * the body (caller frees with hs_fed_reply_free) when an answer came, else errs[i] says
 * why. Returns how many were answered. n is not bounded here (hs_fed_send_many is). */
int fed_client_request_many(fed_client *c, const hs_fed_out *reqs, size_t n, hs_fed_reply *replies, hs_err *errs);

/* GET https://host:port/.well-known/matrix/server (redirects followed, HTTPS only, at
 * most 5, each new connection checked against the deny-list; certificate rules as for
 * every request; at most FED_WELL_KNOWN_MAX_BYTES of body). Returns 0 with *out
 * filled, -1 with err (out->status 0) when no answer came. */
int fed_client_fetch_well_known(fed_client *c, const char *host, int port, fed_wk_http *out, hs_err *err);

/* Makes `c` the server's outbound transport (hs_fed_set_transport). `c` must outlive
 * the server's use of it. */
void fed_client_install(fed_client *c, struct hs_server *srv);

#endif
