/* hs_stateres_internal: the event graph shared by hs_auth_chain, hs_stateres and
 * hs_stateres_v2, and the per-algorithm entry points (not a public API).
 *
 * Events are interned: each event ID seen gets a node index, so the algorithms work on
 * small integers, per-node scratch fields and epoch marks instead of string sets. Nodes
 * are loaded lazily from the hs_event_lookup; their auth edges too. Node pointers are not
 * stable (the array grows): keep indices, never hs_sr_node pointers, across loads. */
#ifndef HS_STATERES_INTERNAL_H
#define HS_STATERES_INTERNAL_H

#include "server-core/hs_auth_chain.h"
#include "server-core/hs_state_map.h"

typedef struct hs_sr_node {
    char *id;
    const json_t *pdu;       /* borrowed from the lookup */
    const char *type;        /* borrowed from pdu */
    const char *state_key;   /* NULL for a non-state event */
    const char *sender;
    long long ts;            /* origin_server_ts, 0 when absent */
    bool rejected;
    bool auth_loaded;
    int *auth;               /* distinct auth event nodes, once auth_loaded */
    int n_auth;
    int pl_auth;             /* the m.room.power_levels auth event, -1 for none */
    unsigned mark;           /* == graph epoch: visited by the current traversal */
    unsigned count;          /* scratch: number of state sets whose auth chain holds it */
    unsigned flags;          /* scratch: HS_SR_* bits */
    long long key;           /* scratch: power level or mainline position */
} hs_sr_node;

enum {
    HS_SR_IN_U_CHAIN = 1u << 0,   /* in the auth chain of the unconflicted state */
    HS_SR_CONFLICTED = 1u << 1,   /* in the conflicted state set */
    HS_SR_FULL = 1u << 2,         /* in the full conflicted set */
    HS_SR_POWER_SET = 1u << 3,    /* picked in step 1 */
    HS_SR_MAINLINE = 1u << 4,     /* on the mainline; key = position */
};

typedef struct hs_sr_graph {
    const hs_room_version *rv;
    hs_event_lookup lookup;
    hs_sr_node *nodes;
    size_t n, cap;
    int *slots;              /* open addressing over node indices, -1 = empty */
    size_t n_slots;
    unsigned epoch;
} hs_sr_graph;

void hs_sr_graph_init(hs_sr_graph *g, const hs_room_version *rv, const hs_event_lookup *lookup);
void hs_sr_graph_free(hs_sr_graph *g);

/* The node of event `id`, loading it on first use. Returns its index, or -1 with err set
 * when the lookup does not know it ("unknown event"), its PDU lacks a string type or
 * sender, or memory runs out. */
int hs_sr_node_of(hs_sr_graph *g, const char *id, hs_err *err);

/* Loads node i's auth edges (and pl_auth). Returns 0, or -1 with err naming the missing
 * auth event and the event citing it. */
int hs_sr_load_auth(hs_sr_graph *g, int i, hs_err *err);

/* Starts a new traversal: afterwards no node has mark == epoch. */
unsigned hs_sr_new_epoch(hs_sr_graph *g);

/* Walks auth edges from starts (marking them and every ancestor with a new epoch) and
 * returns the visited nodes in *out (malloc'd, caller frees), starts included. Returns the
 * count, or -1 with err set. */
long hs_sr_walk(hs_sr_graph *g, const int *starts, size_t n, int **out, hs_err *err);

/* The v12 create event of node i's room ("$" + room_id without "!"), or -1 when the room
 * version does not derive room IDs from the create event or the event is unknown. */
int hs_sr_create_of(hs_sr_graph *g, int i);

/* The v1 algorithm (hs_stateres_v1.c); it needs no graph. Arguments as hs_stateres_resolve. */
int hs_sr_resolve_v1(const hs_room_version *rv, const hs_state_map *const *sets, size_t n,
                     const hs_event_lookup *lookup, hs_state_map **out, hs_err *err);

/* The v2 / v2.1 algorithm (hs_stateres_v2.c). Arguments as hs_stateres_resolve. */
int hs_sr_resolve_v2(hs_sr_graph *g, const hs_state_map *const *sets, size_t n, hs_state_map **out, hs_err *err);

#endif
