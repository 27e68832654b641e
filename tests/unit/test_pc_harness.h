/* test_pc_harness.h: a tiny deterministic simulator for Pinecone router cores: virtual
 * time (ms), in-memory links with a fixed latency, FIFO delivery. Each router's frames go
 * into one global queue and are delivered by sim_run_until, never from inside a
 * callback, so routers are never re-entered. Header-only, for the unit tests. */
#ifndef TEST_PC_HARNESS_H
#define TEST_PC_HARNESS_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "pinecone/pc_router.h"
#include "test_pc_util.h"

#define SIM_MAX_NODES 8
#define SIM_T0 1795462100000ull /* a Unix-ms epoch, so sequences look like Go's */

struct sim;

typedef struct sim_node {
    struct sim *sim;
    pc_router *r;
    uint8_t pk[32];
    int link_node[PC_MAX_PORT + 1], link_port[PC_MAX_PORT + 1];
    size_t delivered;
    uint8_t last_src[32];
    uint8_t last_payload[PC_MAX_DATAGRAM];
    size_t last_len;
    size_t broadcasts;
    size_t closed;
    int frames_by_type[8];
} sim_node;

typedef struct sim_msg {
    int to_node, to_port;
    uint64_t at;
    uint8_t *data;
    size_t len;
} sim_msg;

typedef struct sim {
    sim_node nodes[SIM_MAX_NODES];
    int n;
    uint64_t now, latency;
    sim_msg *q;
    size_t head, count, cap;
    int recv_errors;
} sim;

static int sim_send(pc_router *r, int port, const uint8_t *frame, size_t len, void *ud)
{
    (void)r;
    sim_node *nd = ud;
    sim *s = nd->sim;
    if (frame[5] < 8)
        nd->frames_by_type[frame[5]]++;
    if (s->head + s->count == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 1024;
        s->q = realloc(s->q, s->cap * sizeof *s->q);
    }
    sim_msg *m = &s->q[s->head + s->count++];
    m->to_node = nd->link_node[port];
    m->to_port = nd->link_port[port];
    m->at = s->now + s->latency;
    m->data = malloc(len);
    memcpy(m->data, frame, len);
    m->len = len;
    return 0;
}

static void sim_deliver(pc_router *r, const uint8_t src[32], const uint8_t *p, size_t len, void *ud)
{
    (void)r;
    sim_node *nd = ud;
    nd->delivered++;
    memcpy(nd->last_src, src, 32);
    memcpy(nd->last_payload, p, len);
    nd->last_len = len;
}

static void sim_closed(pc_router *r, int port, int reason, void *ud)
{
    (void)r;
    (void)port;
    (void)reason;
    ((sim_node *)ud)->closed++;
}

static void sim_bcast(pc_router *r, const uint8_t src[32], void *ud)
{
    (void)r;
    (void)src;
    ((sim_node *)ud)->broadcasts++;
}

/* Adds a node with seed = seed_byte x 32, created at the current time. */
static sim_node *sim_add(sim *s, uint8_t seed_byte, const pc_router_config *cfg)
{
    sim_node *nd = &s->nodes[s->n++];
    memset(nd, 0, sizeof *nd);
    nd->sim = s;
    uint8_t seed[32], sk[64];
    memset(seed, seed_byte, 32);
    pc_keypair_from_seed(seed, nd->pk, sk);
    pc_router_callbacks cb = {.send_frame = sim_send, .deliver = sim_deliver,
                              .peer_closed = sim_closed, .broadcast_received = sim_bcast};
    cr_assert_eq(pc_router_new(&nd->r, seed, cfg, &cb, nd, s->now), PC_OK);
    return nd;
}

/* Connects node a's port pa to node b's port pb (both sides see the peering at once). */
static void sim_link(sim *s, sim_node *a, int pa, sim_node *b, int pb)
{
    a->link_node[pa] = (int)(b - s->nodes);
    a->link_port[pa] = pb;
    b->link_node[pb] = (int)(a - s->nodes);
    b->link_port[pb] = pa;
    cr_assert_eq(pc_router_peer_up(a->r, pa, b->pk, s->now), PC_OK);
    cr_assert_eq(pc_router_peer_up(b->r, pb, a->pk, s->now), PC_OK);
}

/* Runs the simulation until virtual time t, jumping from event to event. */
static void sim_run_until(sim *s, uint64_t t)
{
    for (;;) {
        uint64_t next = t;
        if (s->count && s->q[s->head].at < next)
            next = s->q[s->head].at;
        for (int i = 0; i < s->n; i++) {
            uint64_t d = pc_router_next_deadline(s->nodes[i].r);
            if (d < next)
                next = d;
        }
        if (next > s->now)
            s->now = next;
        while (s->count && s->q[s->head].at <= s->now) {
            sim_msg m = s->q[s->head++];
            s->count--;
            int rc = pc_router_recv(s->nodes[m.to_node].r, m.to_port, m.data, m.len, s->now);
            if (rc != PC_OK && rc != PC_ERR_NO_PEER)
                s->recv_errors++;
            free(m.data);
        }
        for (int i = 0; i < s->n; i++)
            if (pc_router_next_deadline(s->nodes[i].r) <= s->now)
                pc_router_handle_timeout(s->nodes[i].r, s->now);
        if (s->now >= t && !(s->count && s->q[s->head].at <= s->now))
            break;
    }
}

static void sim_free(sim *s)
{
    while (s->count) {
        free(s->q[s->head++].data);
        s->count--;
    }
    free(s->q);
    for (int i = 0; i < s->n; i++)
        pc_router_free(s->nodes[i].r);
}

#endif
