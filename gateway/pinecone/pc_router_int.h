/* pc_router_int.h: the router's private state, shared by pc_router.c (peers, frame
 * dispatch, traffic, broadcasts, timers, status), pc_tree.c (spanning tree) and
 * pc_snek.c (SNEK). Not part of the public API: nothing outside gateway/pinecone includes
 * it. Invariants: peers[p].up for every port a peering is open on; a stored announcement
 * exists only for up peers; parent != 0 implies peers[parent] is up and has one. */
#ifndef PC_ROUTER_INT_H
#define PC_ROUTER_INT_H

#include "pinecone/pc_queue.h"
#include "pinecone/pc_router.h"

#define PC_PORT_NONE (-1)

/* The first 8 bytes of a key as a big-endian number: comparing these orders two keys as
 * memcmp does whenever they differ, which for distinct keys is nearly always. */
static inline uint64_t pcr_key_head(const uint8_t *k)
{
    return (uint64_t)k[0] << 56 | (uint64_t)k[1] << 48 | (uint64_t)k[2] << 40 |
           (uint64_t)k[3] << 32 | (uint64_t)k[4] << 24 | (uint64_t)k[5] << 16 |
           (uint64_t)k[6] << 8 | (uint64_t)k[7];
}

typedef struct pc_stored_ann {
    pc_announcement ann;   /* points into raw */
    pc_coords peer_coords; /* PeerCoords(ann), cached for routing */
    uint64_t head[PC_MAX_DEPTH]; /* pcr_key_head of each signer key, for next-hop scans */
    uint64_t received;
    uint64_t order;
    uint8_t raw[];
} pc_stored_ann;

typedef struct pc_peer {
    bool up;
    uint8_t key[PC_KEY_LEN];
    pc_stored_ann *ann;
    pc_queue proto, traffic;
    bool blocked;          /* send callback said WOULDBLOCK */
    uint64_t last_rx, last_tx;
    uint64_t rx_proto_bytes, rx_traffic_bytes, tx_proto_bytes, tx_traffic_bytes;
} pc_peer;

typedef struct pc_route {
    uint8_t key[PC_KEY_LEN];
    int src, dst;          /* dst PC_PORT_NONE at a dead end */
    uint64_t last_seen;
    uint8_t root_key[PC_KEY_LEN];
    uint64_t root_seq;
    pc_watermark wm;
} pc_route;

typedef struct pc_cache_entry {
    uint8_t key[PC_KEY_LEN];
    pc_coords coords;
    uint64_t last_seen;
} pc_cache_entry;

typedef struct pc_seen {
    uint8_t key[PC_KEY_LEN];
    uint64_t seq, at;
} pc_seen;

/* A key on some peer's path to the root, as SNEK next-hop selection sees it (spec §5.6
 * steps 3b and 4): `order` is its place in the spec's scan (the parent's signers first,
 * then every other peer's by port; its index in the table before sorting), so among
 * equal keys the lowest order wins. */
typedef struct pc_tree_cand {
    uint64_t head;         /* pcr_key_head(key) */
    const uint8_t *key;    /* into a stored announcement's raw bytes */
    uint32_t order;
    int port;
} pc_tree_cand;

typedef struct pc_hop {
    int port;              /* PC_PORT_NONE, 0 = local, or a peer port */
    pc_watermark wm;
} pc_hop;

struct pc_router {
    uint8_t pk[PC_KEY_LEN];
    uint8_t sk[PC_SECRET_KEY_LEN];
    pc_router_callbacks cb;
    void *ud;
    pc_router_config cfg;
    pc_peer peers[PC_MAX_PORT + 1];
    int max_port; /* highest port ever up; never decreases, so every port with state is <= it */

    /* spanning tree */
    int parent;
    uint64_t sequence;
    uint64_t ann_order;
    bool waiting;
    uint64_t wait_until;
    uint64_t next_root_announce;

    /* SNEK. routes[] keeps arrival order (the order status getters report); route_order
     * holds the indices of routes[0..n_routes) sorted by key (keys are unique), so lookups
     * and next-hop selection are binary searches instead of scans of the whole table;
     * route_head[j] is the first 8 bytes (big-endian) of the key of rank j, so the
     * search reads one small array instead of chasing every probe into routes[]. */
    pc_route *routes;
    uint16_t *route_order;
    uint64_t *route_head;
    size_t n_routes;
    /* Every signer key of the stored announcements as pc_tree_cand, sorted by (key,
     * order): built on first use after cands_dirty, which is set whenever the parent, a
     * peer or a stored announcement changes (rare), while next-hop selection runs for
     * every bootstrap and SNEK frame. */
    pc_tree_cand *cands;
    size_t n_cands, cap_cands;
    bool cands_dirty;
    bool have_desc;
    pc_route desc;
    bool bootstrap_due;
    uint64_t last_bootstrap;
    uint64_t next_snek_tick;
    uint64_t last_msg_seq;

    /* broadcasts and coordinate cache */
    pc_seen *seen;
    size_t n_seen;
    uint64_t next_broadcast;
    pc_cache_entry *cache;
    size_t n_cache;
    uint64_t next_cleanup;

    /* The last announcement prefix we signed and its signature: the signature covers
     * only the prefix, so announcing one root to every peer needs one signing, not one
     * per port (ed25519 is deterministic: the bytes are the same either way). */
    uint8_t *signed_prefix;
    size_t signed_prefix_len, signed_prefix_cap;
    uint8_t prefix_sig[PC_SIG_LEN];

    pc_router_counters counters;
    uint64_t now;          /* `now` of the input being handled, for last_tx stamps */
    uint8_t scratch[PC_MAX_FRAME];
};

/* pc_router.c */
void pcr_queue_frame(pc_router *r, int port, const pc_frame *f);
void pcr_close_peer(pc_router *r, int port, int reason, uint64_t now);
uint64_t pcr_next_msg_seq(pc_router *r, uint64_t now);
void pcr_signed_msg_made(pc_router *r, const uint8_t *msg, size_t len);
void pcr_cache_clear(pc_router *r);
void pcr_send_wakeup_to(pc_router *r, int port, uint64_t now);

/* pc_tree.c */
void pct_current_root(const pc_router *r, const uint8_t **key, uint64_t *seq);
void pct_coords(const pc_router *r, pc_coords *out);
void pct_send_announcement(pc_router *r, int port);
void pct_announce_all(pc_router *r);
int pct_handle_announcement(pc_router *r, int port, const pc_frame *f, uint64_t now);
bool pct_select_parent(pc_router *r, uint64_t now);
void pct_become_root(pc_router *r);
int pct_next_hop(const pc_router *r, const pc_coords *dest, int from);
void pct_reparent_timeout(pc_router *r, uint64_t now);

/* pc_snek.c */
pc_hop pcs_next_hop(pc_router *r, const uint8_t dest[PC_KEY_LEN], bool bootstrap,
                    const pc_watermark *w, uint64_t now);
void pcs_handle_bootstrap(pc_router *r, int from, pc_frame *f, uint64_t now);
void pcs_tick(pc_router *r, uint64_t now);
void pcs_peer_down(pc_router *r, int port);
void pcs_reset(pc_router *r);
const pc_route *pcs_find(const pc_router *r, const uint8_t key[PC_KEY_LEN]);

#endif
