/* pc_router: the sans-I/O Pinecone router core (spanning tree, SNEK soft state, hybrid
 * routing, wakeup broadcasts, keepalives), wire-compatible with matrix-org/pinecone at
 * Dendrite's pin. Shaped like ngtcp2: the caller feeds events in with the current time
 * and gets frames out through callbacks; the core never touches sockets, clocks,
 * threads or randomness.
 *
 * Inputs (each takes `now`, milliseconds; use Unix milliseconds in a real node because
 * bootstrap and broadcast sequence numbers are derived from it, as Go does):
 *   pc_router_peer_up / pc_router_peer_down   a peering on a port opened (after the
 *                                              handshake) or closed
 *   pc_router_recv                             one whole frame received on a port
 *   pc_router_send_traffic                     send a datagram to a public key
 *   pc_router_handle_timeout                   call when pc_router_next_deadline passes
 *   pc_router_peer_writable                    resume a port whose send callback
 *                                              returned PC_ERR_WOULDBLOCK
 * Outputs: the callbacks below, and the read-only status getters at the end.
 *
 * Ports are the switch-port labels written into announcements: 1..PC_MAX_PORT, chosen by
 * the caller (pc_router_free_port gives the lowest free one, as Go does). Port 0 means
 * the local router. Each port has two bounded output queues (protocol frames first,
 * then traffic); when one is full the frame is dropped and counted (traffic drops the
 * oldest frame, as Go's queues do).
 *
 * Callbacks run synchronously inside the input functions and must not call back into
 * the same router (feeding another router is fine). Not thread-safe: one thread per
 * router at a time. */
#ifndef PC_ROUTER_H
#define PC_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pinecone/pc_err.h"
#include "pinecone/pc_wire.h"

#define PC_MAX_PORT 253                   /* Go: 254 switch slots, slot 0 = local */
#define PC_PROTO_QUEUE_MAX 512            /* frames per peer (Go: unbounded) */
#define PC_TRAFFIC_QUEUE_MAX 512          /* frames per peer (Go: 16 x 255 sub-queues) */
#define PC_MAX_ROUTES 4096                /* SNEK routing entries kept */
#define PC_MAX_COORDS_CACHE 1024          /* coordinate cache entries kept */
#define PC_MAX_BROADCAST_SEEN 1024        /* broadcast seen-filter entries kept */
/* Largest payload pc_router_send_traffic accepts: quic-go reads datagrams into 1452-byte
 * buffers and a Go node can crash on a larger one (spec §8.1, §13). */
#define PC_MAX_DATAGRAM 1452

/* Timers and limits (ms), as in router/consts.go. */
#define PC_KEEPALIVE_INTERVAL 3000
#define PC_KEEPALIVE_TIMEOUT 5000
#define PC_ROOT_ANNOUNCE_INTERVAL (30 * 60 * 1000)
#define PC_ANNOUNCEMENT_TIMEOUT (45 * 60 * 1000)
#define PC_REPARENT_WAIT 1000
#define PC_SNEK_TICK 1000
#define PC_BOOTSTRAP_INTERVAL 5000
#define PC_SNEK_EXPIRY 10000
#define PC_COORDS_CACHE_LIFETIME 60000
#define PC_COORDS_CACHE_CLEANUP 60000
#define PC_BROADCAST_INTERVAL 60000
#define PC_BROADCAST_SEEN_EXPIRY 180000
#define PC_BROADCAST_MIN_SPACING 30000

typedef struct pc_router pc_router;

typedef struct pc_router_callbacks {
    /* Required. Write one whole frame (data valid only during the call) on `port`.
     * Return 0 when taken, PC_ERR_WOULDBLOCK to keep it (and everything after it)
     * queued until pc_router_peer_writable(port); any other value counts as sent. */
    int (*send_frame)(pc_router *r, int port, const uint8_t *frame, size_t len, void *user_data);
    /* Required. A traffic payload addressed to us arrived from src_key. */
    void (*deliver)(pc_router *r, const uint8_t src_key[PC_KEY_LEN], const uint8_t *payload,
                    size_t len, void *user_data);
    /* Optional. The router removed the peer on `port` itself (reason: a negative pc_err,
     * e.g. a bad signature or PC_ERR_PEER_TIMEOUT); the transport must close that link
     * and must not call pc_router_peer_down for it. */
    void (*peer_closed)(pc_router *r, int port, int reason, void *user_data);
    /* Optional. A wakeup broadcast from src_key was accepted (Dendrite retries
     * federation to that node). */
    void (*broadcast_received)(pc_router *r, const uint8_t src_key[PC_KEY_LEN], void *user_data);
} pc_router_callbacks;

/* Told of a signature the router has just made: `sig` is the router's own (key)
 * ed25519 signature of msg[0..len), all valid only during the call. A memoising
 * verifier (the simulator's) records it as valid, because a signature libsodium made
 * with a secret key always verifies under its public key. */
typedef struct pc_sign_observer {
    void (*fn)(void *ctx, const uint8_t sig[PC_SIG_LEN], const uint8_t *msg, size_t len,
               const uint8_t key[PC_KEY_LEN]);
    void *ctx;
} pc_sign_observer;

typedef struct pc_router_config {
    bool keepalives;    /* keepalive after 3 s idle, drop the peer after 5 s silence */
    bool hop_limiting;  /* decrement/enforce the traffic hop limit (Dendrite: on) */
    bool broadcasts;    /* originate a wakeup broadcast every 60 s (Go default: on) */
    pc_verifier verifier; /* signature checks; zero = libsodium (the simulator memoises) */
    pc_sign_observer signed_obs; /* zero = nobody is told (the simulator primes its memo) */
} pc_router_config;

/* Defaults: keepalives, hop limiting and periodic broadcasts on; libsodium verifier.
 * Sets every field, so a config on the stack needs no other initialisation. */
void pc_router_config_default(pc_router_config *cfg);

/* Creates a router for the node whose ed25519 seed is `seed` (as Go's -secretkey).
 * cfg may be NULL for defaults. The router starts as its own root with sequence 1 and
 * arms its timers from `now`. Returns PC_OK and *out (free with pc_router_free), or
 * PC_ERR_INVALID / PC_ERR_NOMEM. */
int pc_router_new(pc_router **out, const uint8_t seed[PC_SEED_LEN], const pc_router_config *cfg,
                  const pc_router_callbacks *cb, void *user_data, uint64_t now);

/* Frees the router and every queued frame. NULL is allowed. */
void pc_router_free(pc_router *r);

/* Lowest port not in use (1..PC_MAX_PORT), or 0 if all are taken. */
int pc_router_free_port(const pc_router *r);

/* A peering to `peer_key` is established on `port` (after a successful handshake).
 * Queues our root announcement for it. PC_ERR_INVALID (bad port), PC_ERR_PORT_IN_USE. */
int pc_router_peer_up(pc_router *r, int port, const uint8_t peer_key[PC_KEY_LEN], uint64_t now);

/* The peering on `port` closed. Forgets its announcement and SNEK entries, reselects the
 * parent if needed. PC_ERR_NO_PEER if the port was not up. */
int pc_router_peer_down(pc_router *r, int port, uint64_t now);

/* Handles one whole frame received on `port`. Returns PC_OK when the frame was handled
 * or dropped by a protocol rule (unknown types and bad bootstraps are dropped silently,
 * as Go does). Returns a negative pc_err when the frame is fatal for the peering
 * (undecodable frame, bad announcement or broadcast): the router has then already
 * removed the peer and called peer_closed. PC_ERR_NO_PEER if the port is not up. */
int pc_router_recv(pc_router *r, int port, const uint8_t *frame, size_t len, uint64_t now);

/* Sends `payload` to the node with key `dest` (tree form when its coordinates are in the
 * coordinate cache, SNEK form otherwise; hop limit 10). Returns PC_OK when queued or
 * delivered locally (dest == our key), PC_ERR_TOO_LONG over PC_MAX_DATAGRAM, or
 * PC_ERR_NO_ROUTE when no next hop exists. */
int pc_router_send_traffic(pc_router *r, const uint8_t dest[PC_KEY_LEN], const uint8_t *payload,
                           size_t len, uint64_t now);

/* Floods a wakeup broadcast now (Dendrite does this once at start). */
void pc_router_send_wakeup(pc_router *r, uint64_t now);

/* Runs every timer that is due at `now` (SNEK maintenance and bootstraps, root
 * re-announcement, reparent hold, broadcasts, cache cleanup, keepalives and peer
 * timeouts). Safe to call at any time. */
void pc_router_handle_timeout(pc_router *r, uint64_t now);

/* The earliest time at which pc_router_handle_timeout has work to do. */
uint64_t pc_router_next_deadline(const pc_router *r);

/* The transport can take frames again on `port`: flushes its queues. */
void pc_router_peer_writable(pc_router *r, int port, uint64_t now);

/* ---- read-only status (what the Go manhole shows) ---------------------------- */

const uint8_t *pc_router_public_key(const pc_router *r);

/* Current root key and sequence. */
void pc_router_root(const pc_router *r, uint8_t key[PC_KEY_LEN], uint64_t *seq);

/* Our tree coordinates (empty when we are root). */
void pc_router_coords(const pc_router *r, pc_coords *out);

/* Parent port, or 0 when we consider ourselves root. */
int pc_router_parent(const pc_router *r);

typedef struct pc_peer_status {
    int port;
    uint8_t key[PC_KEY_LEN];
    bool has_announcement;
    pc_coords coords;        /* Coords of its last announcement (what the manhole prints) */
    pc_coords peer_coords;   /* the peer's own coordinates (all entries but the last) */
    uint8_t root_key[PC_KEY_LEN];
    uint64_t root_seq;
    uint64_t order;          /* global receive order of that announcement */
    size_t proto_queued, traffic_queued;
    uint64_t proto_dropped, traffic_dropped;
    uint64_t rx_proto_bytes, rx_traffic_bytes, tx_proto_bytes, tx_traffic_bytes;
} pc_peer_status;

/* Fills *out for an up port. PC_ERR_NO_PEER otherwise. */
int pc_router_peer_status(const pc_router *r, int port, pc_peer_status *out);

typedef struct pc_path_status {
    uint8_t key[PC_KEY_LEN];         /* the node that bootstrapped through us */
    int src_port;                    /* towards key */
    int dst_port;                    /* where the bootstrap went on (0: nowhere) */
    uint64_t last_seen;
    uint8_t root_key[PC_KEY_LEN];
    uint64_t root_seq;
    pc_watermark watermark;
} pc_path_status;

/* Our SNEK descending node (the lower-keyed neighbour that bootstrapped to us).
 * Returns false when there is none. */
bool pc_router_descending(const pc_router *r, pc_path_status *out);

/* Copies up to cap SNEK routing entries; returns how many exist. */
size_t pc_router_paths(const pc_router *r, pc_path_status *out, size_t cap);

typedef struct pc_cache_status {
    uint8_t key[PC_KEY_LEN];
    pc_coords coords;
    uint64_t last_seen;
} pc_cache_status;

/* Copies up to cap coordinate-cache entries; returns how many exist. */
size_t pc_router_coords_cache(const pc_router *r, pc_cache_status *out, size_t cap);

/* Traffic drops (dropped_hop_limit, dropped_no_route, dropped_watermark) count traffic
 * frames only, so they explain lost datagrams; bootstraps have their own counters:
 * dropped_bootstrap (undecodable, bad signature, other root, replay, table full) and
 * dropped_bootstrap_watermark (installed here but not forwarded: the next hop is the
 * sender or would worsen the watermark, the normal end of many bootstrap paths). */
typedef struct pc_router_counters {
    uint64_t frames_in, frames_out;
    uint64_t traffic_delivered, traffic_forwarded;
    uint64_t dropped_hop_limit, dropped_no_route, dropped_watermark, dropped_queue_full;
    uint64_t dropped_bootstrap, dropped_bootstrap_watermark, dropped_unknown;
    uint64_t broadcasts_received;
} pc_router_counters;

void pc_router_get_counters(const pc_router *r, pc_router_counters *out);

#endif
