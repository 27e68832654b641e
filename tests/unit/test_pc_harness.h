/* test_pc_harness.h: the unit tests' view of the library simulator (pinecone/pc_sim.h).
 * It keeps the small fixed-size interface the router, manhole and fixture tests were
 * written against (`sim s = {.now = SIM_T0, .latency = 1}`, sim_add with a seed byte,
 * sim_link with explicit ports, sim_run_until, per-node counters) and forwards
 * everything to one pc_sim, so there is a single simulator. Counters are copied back
 * from pc_sim after every call, and every router is re-armed before running, because
 * tests also poke routers directly. */
#ifndef TEST_PC_HARNESS_H
#define TEST_PC_HARNESS_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "pinecone/pc_router.h"
#include "pinecone/pc_sim.h"
#include "test_pc_util.h"

#define SIM_MAX_NODES 8
#define SIM_T0 PC_SIM_T0 /* a Unix-ms epoch, so sequences look like Go's */

struct sim;

typedef struct sim_node {
    struct sim *sim;
    int id;
    pc_router *r;
    uint8_t pk[32];
    size_t delivered;
    uint8_t last_src[32];
    uint8_t last_payload[PC_MAX_DATAGRAM];
    size_t last_len;
    size_t broadcasts;
    size_t closed;
    int frames_by_type[8];
} sim_node;

typedef struct sim {
    sim_node nodes[SIM_MAX_NODES];
    int n;
    uint64_t now, latency;
    int recv_errors;
    pc_sim *core;
} sim;

static void sim_on_deliver(pc_sim *ps, int node, const uint8_t src[32], const uint8_t *p,
                           size_t len, void *user)
{
    (void)ps;
    sim_node *nd = &((sim *)user)->nodes[node];
    memcpy(nd->last_src, src, 32);
    memcpy(nd->last_payload, p, len);
    nd->last_len = len;
}

/* Copies the library's clock and counters into the fixed-size view. */
static void sim_sync(sim *s)
{
    s->now = pc_sim_now(s->core);
    pc_sim_totals t;
    pc_sim_get_totals(s->core, &t);
    s->recv_errors = (int)t.recv_errors;
    for (int i = 0; i < s->n; i++) {
        const pc_sim_node_stats *st = pc_sim_stats(s->core, i);
        sim_node *nd = &s->nodes[i];
        nd->delivered = st->delivered;
        nd->broadcasts = st->broadcasts;
        nd->closed = st->closed;
        for (int k = 0; k < 8; k++)
            nd->frames_by_type[k] = (int)st->frames_by_type[k];
    }
}

/* Adds a node with seed = seed_byte x 32, created at the current time. */
static sim_node *sim_add(sim *s, uint8_t seed_byte, const pc_router_config *cfg)
{
    if (!s->core) {
        cr_assert_eq(pc_sim_new(&s->core, 1, s->now), PC_OK);
        pc_sim_on_deliver(s->core, sim_on_deliver, s);
    }
    cr_assert_lt(s->n, SIM_MAX_NODES);
    uint8_t seed[32];
    memset(seed, seed_byte, 32);
    int id = pc_sim_add_node(s->core, seed, cfg);
    cr_assert_eq(id, s->n);
    sim_node *nd = &s->nodes[s->n++];
    memset(nd, 0, sizeof *nd);
    nd->sim = s;
    nd->id = id;
    nd->r = pc_sim_router(s->core, id);
    memcpy(nd->pk, pc_sim_key(s->core, id), 32);
    return nd;
}

/* Connects node a's port pa to node b's port pb (both sides see the peering at once). */
static void sim_link(sim *s, sim_node *a, int pa, sim_node *b, int pb)
{
    cr_assert_geq(pc_sim_connect(s->core, a->id, pa, b->id, pb, s->latency, 0.0), 0);
    sim_sync(s);
}

/* Runs the simulation until virtual time t. */
static void sim_run_until(sim *s, uint64_t t)
{
    for (int i = 0; i < s->n; i++)
        pc_sim_touch(s->core, i);
    pc_sim_run_until(s->core, t);
    sim_sync(s);
}

static void sim_free(sim *s)
{
    pc_sim_free(s->core);
    s->core = NULL;
}

#endif
