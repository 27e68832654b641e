/* pc_sim: a deterministic discrete-event simulator that drives many pc_router cores in
 * one process. Virtual time in milliseconds (starting at a realistic Unix-ms epoch,
 * because routers derive bootstrap and broadcast sequence numbers from `now`), virtual
 * links with a fixed one-way latency, a loss probability and an up/down state, and one
 * seeded PRNG (pc_sim_rng, xoshiro256**) for every random choice the simulator makes.
 *
 * Events live in a binary heap ordered by (time, class, tiebreak): frame deliveries and
 * link-close notices first, in the order they were sent, then router timers in node
 * order. Routers are never re-entered: frames a callback emits are queued as events.
 * Each link keeps FIFO order (constant latency per link, ties broken by send order), as
 * the TCP links Pinecone runs over do. Timers use lazy deletion: a node has at most one
 * live timer event; stale ones are skipped when popped.
 *
 * Runs are bit-identical for the same seed and the same sequence of calls. The simulator
 * reads no clock and does no I/O; it is single-threaded. It does not model bandwidth or
 * queueing delay (a frame takes exactly the link latency) nor handshakes (a link comes
 * up at once on both sides, as after a successful handshake). */
#ifndef PC_SIM_H
#define PC_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pinecone/pc_router.h"

/* The default virtual epoch: a Unix-ms time, so sequences look like a Go node's. */
#define PC_SIM_T0 1795462100000ull

/* ---- PRNG ------------------------------------------------------------------- */

/* xoshiro256** seeded through splitmix64: small, fast, and fully reproducible. */
typedef struct pc_sim_rng {
    uint64_t s[4];
} pc_sim_rng;

void pc_sim_rng_seed(pc_sim_rng *g, uint64_t seed);
uint64_t pc_sim_rng_next(pc_sim_rng *g);
/* Uniform in [0, n) (n > 0), without modulo bias. */
uint64_t pc_sim_rng_below(pc_sim_rng *g, uint64_t n);
/* Uniform in [0, 1). */
double pc_sim_rng_unit(pc_sim_rng *g);

/* ---- the simulator ------------------------------------------------------------ */

typedef struct pc_sim pc_sim;

/* Optional observer of local deliveries (pings in the scenarios). `node` is the
 * receiving node's index; payload is valid only during the call. */
typedef void (*pc_sim_deliver_fn)(pc_sim *s, int node, const uint8_t src[PC_KEY_LEN],
                                  const uint8_t *payload, size_t len, void *user);

typedef struct pc_sim_node_stats {
    uint64_t delivered;            /* traffic payloads delivered to this node */
    uint64_t broadcasts;           /* wakeup broadcasts accepted */
    uint64_t closed;               /* peerings the router closed itself */
    uint64_t blackholed;           /* traffic frames this (malicious) node swallowed */
    uint64_t frames_by_type[8];    /* frames sent, by frame type (0..7) */
} pc_sim_node_stats;

typedef struct pc_sim_totals {
    uint64_t events;               /* events processed */
    uint64_t frames;               /* frames handed to a router */
    uint64_t lost;                 /* frames dropped by link loss */
    uint64_t dropped_link_down;    /* frames sent on or in flight over a down link */
    uint64_t recv_errors;          /* pc_router_recv results other than OK / NO_PEER */
} pc_sim_totals;

/* Creates an empty simulation at virtual time t0 (ms) whose PRNG is seeded with seed.
 * Returns PC_OK and *out (free with pc_sim_free), or PC_ERR_NOMEM. */
int pc_sim_new(pc_sim **out, uint64_t seed, uint64_t t0);

/* Frees every router, link and pending event. NULL is allowed. */
void pc_sim_free(pc_sim *s);

/* The simulation's PRNG (owned by s); scenarios draw all their randomness from it. */
pc_sim_rng *pc_sim_rng_of(pc_sim *s);

/* Sets (or clears with NULL) the delivery observer. */
void pc_sim_on_deliver(pc_sim *s, pc_sim_deliver_fn fn, void *user);

/* The router config for nodes added with cfg NULL (initially pc_router_config_default). */
void pc_sim_set_router_config(pc_sim *s, const pc_router_config *cfg);

/* Adds a node created at the current virtual time. seed NULL draws a seed from the
 * PRNG; cfg NULL uses the config set by pc_sim_set_router_config. Returns the node index (>= 0) or a
 * negative pc_err (PC_ERR_NOMEM). */
int pc_sim_add_node(pc_sim *s, const uint8_t seed[PC_SEED_LEN], const pc_router_config *cfg);

/* The memoising signature verifier the simulator gives its routers (valid while s lives).
 * A hit returns exactly what libsodium returned for the same key, signature and bytes. */
pc_verifier pc_sim_verifier(pc_sim *s);

/* Replaces node's router with a fresh one (same seed and config) created now, as a
 * process restart. Every link of the node must be down. PC_ERR_INVALID otherwise. */
int pc_sim_restart_node(pc_sim *s, int node);

size_t pc_sim_node_count(const pc_sim *s);
pc_router *pc_sim_router(pc_sim *s, int node);
const uint8_t *pc_sim_key(const pc_sim *s, int node);
const pc_sim_node_stats *pc_sim_stats(const pc_sim *s, int node);
void pc_sim_get_totals(const pc_sim *s, pc_sim_totals *out);
uint64_t pc_sim_now(const pc_sim *s);

/* Makes a node malicious in the simplest way: it keeps running the protocol but
 * silently drops every traffic frame it should forward (frames it originates still go
 * out, frames for it are still delivered). */
void pc_sim_set_blackhole(pc_sim *s, int node, bool on);

/* Connects node a's port pa to node b's port pb (0 = the lowest free port on that node)
 * with the given one-way latency (ms, >= 1) and per-frame loss probability [0, 1).
 * Both routers see the peering at once. Returns the link id (>= 0), or PC_ERR_INVALID
 * (bad node, a == b, bad latency/loss), PC_ERR_PORT_IN_USE (no free port / port taken). */
int pc_sim_connect(pc_sim *s, int a, int pa, int b, int pb, uint64_t latency, double loss);

/* Takes a link down now on both sides (pc_router_peer_down on each end); frames in
 * flight on it are dropped. PC_ERR_INVALID for a bad id, PC_ERR_NO_PEER when already
 * down. A link never comes back: connect again for a new one. */
int pc_sim_disconnect(pc_sim *s, int link);

/* The link between a and b that is up, or -1. */
int pc_sim_find_link(const pc_sim *s, int a, int b);

/* Fills the ends of a link and whether it is up. PC_ERR_INVALID for a bad id. */
int pc_sim_link_info(const pc_sim *s, int link, int *a, int *b, bool *up);

/* Number of links ever created (ids are 0..count-1). */
size_t pc_sim_link_count(const pc_sim *s);

/* Sends a traffic payload from node `from` to node `to` now (pc_router_send_traffic).
 * Returns its result (PC_OK, PC_ERR_NO_ROUTE, PC_ERR_TOO_LONG, ...). */
int pc_sim_send(pc_sim *s, int from, int to, const uint8_t *payload, size_t len);

/* Call after driving node's router directly (pc_router_recv, send_traffic, ...) outside
 * the simulator, so its timer is rescheduled. Frames it emitted are already queued. */
void pc_sim_touch(pc_sim *s, int node);

/* Processes every event due at or before t, then sets the clock to t (t >= now). */
void pc_sim_run_until(pc_sim *s, uint64_t t);

/* How close a watched run came to convergence, over the whole instants it looked at. */
typedef struct pc_sim_watch_stats {
    size_t fewest_wrong;   /* fewest nodes off (wrong root or descending); start at SIZE_MAX */
    uint64_t fewest_at;    /* the first instant with that few */
} pc_sim_watch_stats;

/* Like pc_sim_run_until(s, t), but stops at the first virtual instant (now included)
 * at which pc_sim_check_convergence(s, absent) holds, once every event due at that
 * instant has run. Returns true with the clock left at that instant, or false with the
 * clock at t. It watches incrementally: one full check to start and whenever a link
 * went up or down, otherwise only the node each event ran is looked at again (an event
 * changes exactly one router), so catching a short-lived converged instant costs
 * little. `absent` as for pc_sim_check_convergence. stats (may be NULL) is updated, so
 * it can accumulate over several calls. */
bool pc_sim_run_until_converged(pc_sim *s, const bool *absent, uint64_t t,
                                pc_sim_watch_stats *stats);

/* ---- analysis ------------------------------------------------------------------ */

typedef struct pc_sim_convergence {
    size_t components;        /* connected components over up links (live nodes) */
    size_t wrong_root;        /* nodes whose root is not their component's highest key */
    size_t wrong_descending;  /* nodes whose SNEK descending node is not their key-order
                               * predecessor in their component (or present for the
                               * lowest key) */
} pc_sim_convergence;

/* Checks convergence as the scenarios define it: in every connected component, every
 * node's root is the component's highest key, and every node's SNEK descending node is
 * the next lower key of the component (the lowest key has none). Together these also
 * fix each node's ascending neighbour (the node whose descending it is), which the
 * router does not expose separately. Nodes marked absent (absent[i] true, may be NULL)
 * are ignored. Returns true when converged; fills *out when out is not NULL. */
bool pc_sim_check_convergence(pc_sim *s, const bool *absent, pc_sim_convergence *out);

/* Hop distances from node src over up links into dist[0..n) (-1 = unreachable). */
void pc_sim_hops_from(const pc_sim *s, int src, int *dist);

#endif
