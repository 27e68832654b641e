/* Pinecone router core, one rule per test: root election, parent selection and
 * coordinates, announcement rejection (bad signature, replay), bootstrap acceptance and
 * rejection, hop-limit drops, SNEK watermark drops, keepalive timing and peer timeout,
 * bounded queues, the parent's copy winning when several peers' paths share a key; plus
 * replay of the recorded Go byte streams into a router core. */
#include <jansson.h>

#include "pinecone/pc_deframer.h"
#include "test_pc_harness.h"

/* ---- a router under test with captured output ---- */

typedef struct capture {
    int n;
    int port[256];
    uint8_t type[256];
    uint8_t hop[256];
    size_t len[256];
    uint8_t *data[256];
    int closed_port, closed_reason;
    bool block;
} capture;

static int cap_send(pc_router *r, int port, const uint8_t *f, size_t len, void *ud)
{
    (void)r;
    capture *c = ud;
    if (c->block)
        return PC_ERR_WOULDBLOCK;
    if (c->n < 256) {
        c->port[c->n] = port;
        c->type[c->n] = f[5];
        c->hop[c->n] = f[7];
        c->len[c->n] = len;
        c->data[c->n] = malloc(len);
        memcpy(c->data[c->n], f, len);
        c->n++;
    }
    return 0;
}

static void cap_deliver(pc_router *r, const uint8_t *src, const uint8_t *p, size_t len, void *ud)
{
    (void)r;
    (void)src;
    (void)p;
    (void)len;
    (void)ud;
}

static void cap_closed(pc_router *r, int port, int reason, void *ud)
{
    (void)r;
    capture *c = ud;
    c->closed_port = port;
    c->closed_reason = reason;
}

static void cap_free(capture *c)
{
    for (int i = 0; i < c->n; i++)
        free(c->data[i]);
    c->n = 0;
}

static pc_router *make_router(uint8_t seed_byte, capture *c, uint64_t now)
{
    uint8_t seed[32];
    memset(seed, seed_byte, 32);
    pc_router_callbacks cb = {.send_frame = cap_send, .deliver = cap_deliver, .peer_closed = cap_closed};
    pc_router *r;
    cr_assert_eq(pc_router_new(&r, seed, NULL, &cb, c, now), PC_OK);
    return r;
}

/* An announcement frame from `root` (seq) signed by the chain of seeds, each entry with
 * the given port; the last signer is the sending peer. */
static size_t make_announcement(uint8_t *out, const uint8_t *seeds, const uint64_t *ports,
                                int hops, uint64_t seq)
{
    uint8_t pk[32], sk[64], payload[4096];
    tpc_keys(seeds[0], pk, sk);
    size_t plen = pc_announcement_root(pk, seq, payload);
    for (int i = 0; i < hops; i++) {
        tpc_keys(seeds[i], pk, sk);
        pc_announcement_sign_append(payload, plen, ports[i], sk, payload, sizeof payload, &plen);
    }
    pc_frame f = {.type = PC_FRAME_TREE_ANNOUNCEMENT, .payload = payload, .payload_len = plen};
    size_t n;
    cr_assert_eq(pc_frame_encode(&f, out, 8192, &n), PC_OK);
    return n;
}

Test(pc_router, starts_as_root_and_announces_on_peer_up)
{
    capture c = {0};
    pc_router *r = make_router(1, &c, 1000);
    uint8_t root[32], pkb[32], skb[64];
    uint64_t seq;
    pc_router_root(r, root, &seq);
    cr_assert(memcmp(root, pc_router_public_key(r), 32) == 0);
    cr_assert_eq(seq, 1);
    cr_assert_eq(pc_router_parent(r), 0);
    tpc_keys(2, pkb, skb);
    cr_assert_eq(pc_router_peer_up(r, 1, pkb, 1000), PC_OK);
    cr_assert_eq(pc_router_peer_up(r, 1, pkb, 1000), PC_ERR_PORT_IN_USE);
    cr_assert_eq(pc_router_peer_up(r, 254, pkb, 1000), PC_ERR_INVALID);
    /* The first frame on a new peering is our announcement, byte-identical to V3. */
    cr_assert_eq(c.n, 1);
    cr_assert_eq(c.type[0], PC_FRAME_TREE_ANNOUNCEMENT);
    cr_assert_eq(c.len[0], 142);
    uint8_t v3[142];
    make_announcement(v3, (const uint8_t[]){1}, (const uint64_t[]){1}, 1, 1);
    cr_assert(memcmp(c.data[0], v3, 142) == 0);
    cap_free(&c);
    pc_router_free(r);
}

Test(pc_router, adopts_stronger_root_as_parent_with_coords)
{
    capture c = {0};
    pc_router *r = make_router(1, &c, 1000); /* A */
    uint8_t pkc[32], skc[64], pkb[32], skb[64], frame[8192];
    tpc_keys(3, pkc, skc);
    tpc_keys(2, pkb, skb);
    pc_router_peer_up(r, 5, pkc, 1000);
    pc_router_peer_up(r, 6, pkb, 1000);
    cap_free(&c);
    /* C (root, the highest key) announces itself, signing port 7 towards us. */
    size_t n = make_announcement(frame, (const uint8_t[]){3}, (const uint64_t[]){7}, 1, 1);
    cr_assert_eq(pc_router_recv(r, 5, frame, n, 1100), PC_OK);
    uint8_t root[32];
    uint64_t seq;
    pc_router_root(r, root, &seq);
    cr_assert(memcmp(root, pkc, 32) == 0);
    cr_assert_eq(pc_router_parent(r), 5);
    pc_coords co, want = {1, {7}};
    pc_router_coords(r, &co);
    cr_assert(pc_coords_equal(&co, &want));
    /* AcceptNewParent re-announces to every peer, each copy signed for its port. */
    int anns = 0;
    for (int i = 0; i < c.n; i++) {
        if (c.type[i] != PC_FRAME_TREE_ANNOUNCEMENT)
            continue;
        anns++;
        pc_frame f;
        pc_announcement a;
        cr_assert_eq(pc_frame_decode(c.data[i], c.len[i], &f), PC_OK);
        cr_assert_eq(pc_announcement_decode(f.payload, f.payload_len, &a), PC_OK);
        cr_assert_eq(pc_announcement_verify(&a, NULL), PC_OK);
        cr_assert_eq(a.n_entries, 2);
        cr_assert_eq(a.entries[1].port, (uint64_t)c.port[i]);
    }
    cr_assert_eq(anns, 2);
    cap_free(&c);

    /* B announces its weaker root (not its first announcement? it is: no reply). */
    n = make_announcement(frame, (const uint8_t[]){2}, (const uint64_t[]){4}, 1, 1);
    cr_assert_eq(pc_router_recv(r, 6, frame, n, 1200), PC_OK);
    cr_assert_eq(pc_router_parent(r), 5, "weaker root does not win");
    for (int i = 0; i < c.n; i++)
        cr_assert_neq(c.type[i], PC_FRAME_TREE_ANNOUNCEMENT, "first weak announcement gets no reply");
    cap_free(&c);
    /* A second weak announcement from B: we inform B of our stronger root. */
    n = make_announcement(frame, (const uint8_t[]){2}, (const uint64_t[]){4}, 1, 2);
    cr_assert_eq(pc_router_recv(r, 6, frame, n, 1300), PC_OK);
    cr_assert_eq(c.n, 1);
    cr_assert_eq(c.port[0], 6);
    cr_assert_eq(c.type[0], PC_FRAME_TREE_ANNOUNCEMENT);
    cap_free(&c);

    /* Parent goes away: we are root again, with a new sequence, announced to B. */
    cr_assert_eq(pc_router_peer_down(r, 5, 1400), PC_OK);
    pc_router_root(r, root, &seq);
    cr_assert(memcmp(root, pc_router_public_key(r), 32) == 0);
    cr_assert_eq(seq, 2);
    cr_assert_eq(pc_router_parent(r), 0);
    cap_free(&c);
    pc_router_free(r);
}

/* The port a traffic frame to dest leaves on (-1 if none was sent). */
static int traffic_port(pc_router *r, capture *c, const uint8_t dest[32], uint64_t now)
{
    cap_free(c);
    cr_assert_eq(pc_router_send_traffic(r, dest, (const uint8_t *)"x", 1, now), PC_OK);
    for (int i = 0; i < c->n; i++)
        if (c->type[i] == PC_FRAME_TRAFFIC)
            return c->port[i];
    return -1;
}

/* SNEK steps 3b/4 look at the parent's path to the root before any other peer's, so
 * when two peers' paths carry the same key, the parent's copy wins (Go: the parent's
 * ancestors are considered first and a later equal key cannot replace the best). The
 * parent here is on port 2, so lowest-port-first would pick the wrong link; so would a
 * candidate table whose scan order numbering does not start at 0 (an uninitialised
 * counter that wraps puts the parent's first signer, the root, last). */
Test(pc_router, shared_ancestor_key_routes_via_parent)
{
    /* Four keys: the highest becomes the root R, the rest are us (X), P1 and P2. */
    uint8_t seeds[4] = {1, 2, 3, 4}, pk[4][32], sk[64];
    for (int i = 0; i < 4; i++)
        tpc_keys(seeds[i], pk[i], sk);
    int ri = 0;
    for (int i = 1; i < 4; i++)
        if (memcmp(pk[i], pk[ri], 32) > 0)
            ri = i;
    uint8_t rest[3];
    for (int i = 0, k = 0; i < 4; i++)
        if (i != ri)
            rest[k++] = seeds[i];
    uint8_t root_seed = seeds[ri], x_seed = rest[0], p1_seed = rest[1], p2_seed = rest[2];
    uint8_t root_pk[32], p1_pk[32], p2_pk[32];
    tpc_keys(root_seed, root_pk, sk);
    tpc_keys(p1_seed, p1_pk, sk);
    tpc_keys(p2_seed, p2_pk, sk);

    capture c = {0};
    pc_router *r = make_router(x_seed, &c, 1000);
    cr_assert_eq(pc_router_peer_up(r, 1, p1_pk, 1000), PC_OK);
    cr_assert_eq(pc_router_peer_up(r, 2, p2_pk, 1000), PC_OK);
    /* R is a neighbour of both P1 and P2, not of us; P2 announces first, so it becomes
     * the parent, and P1's later announcement of the same root does not replace it. */
    uint8_t frame[8192];
    size_t n = make_announcement(frame, (const uint8_t[]){root_seed, p2_seed},
                                 (const uint64_t[]){3, 9}, 2, 1);
    cr_assert_eq(pc_router_recv(r, 2, frame, n, 1100), PC_OK);
    n = make_announcement(frame, (const uint8_t[]){root_seed, p1_seed}, (const uint64_t[]){4, 8},
                          2, 1);
    cr_assert_eq(pc_router_recv(r, 1, frame, n, 1200), PC_OK);
    cr_assert_eq(pc_router_parent(r), 2);

    cr_assert_eq(traffic_port(r, &c, root_pk, 1300), 2, "to the root through the parent");
    /* Once the parent goes, P1's copy of the root key is the only one left. */
    cr_assert_eq(pc_router_peer_down(r, 2, 1400), PC_OK);
    cr_assert_eq(pc_router_parent(r), 1);
    cr_assert_eq(traffic_port(r, &c, root_pk, 1500), 1);
    cap_free(&c);
    pc_router_free(r);
}

Test(pc_router, rejects_bad_signature_and_replay)
{
    capture c = {0};
    pc_router *r = make_router(1, &c, 0);
    uint8_t pkc[32], skc[64], frame[8192];
    tpc_keys(3, pkc, skc);
    pc_router_peer_up(r, 1, pkc, 0);
    size_t n = make_announcement(frame, (const uint8_t[]){3}, (const uint64_t[]){1}, 1, 5);
    frame[n - 1] ^= 0x40;
    cr_assert_eq(pc_router_recv(r, 1, frame, n, 10), PC_ERR_SIGNATURE);
    cr_assert_eq(c.closed_port, 1);
    cr_assert_eq(pc_router_recv(r, 1, frame, n, 10), PC_ERR_NO_PEER, "peer removed");

    pc_router_peer_up(r, 1, pkc, 20);
    n = make_announcement(frame, (const uint8_t[]){3}, (const uint64_t[]){1}, 1, 5);
    cr_assert_eq(pc_router_recv(r, 1, frame, n, 30), PC_OK);
    n = make_announcement(frame, (const uint8_t[]){3}, (const uint64_t[]){1}, 1, 4);
    cr_assert_eq(pc_router_recv(r, 1, frame, n, 40), PC_ERR_ANN_REPLAY);

    /* Last signer must be the peer: an announcement relayed without re-signing. */
    uint8_t pkb[32], skb[64];
    tpc_keys(2, pkb, skb);
    pc_router_peer_up(r, 2, pkb, 50);
    n = make_announcement(frame, (const uint8_t[]){3}, (const uint64_t[]){1}, 1, 6);
    cr_assert_eq(pc_router_recv(r, 2, frame, n, 60), PC_ERR_ANN_SENDER);
    /* A length below 10 is refused, never read. */
    uint8_t short_frame[10] = {0x70, 0x69, 0x6e, 0x65, 0, 0, 0, 0, 0, 4};
    pc_router_peer_up(r, 3, pkb, 70);
    cr_assert_eq(pc_router_recv(r, 3, short_frame, 10, 70), PC_ERR_BAD_LENGTH);
    /* Unknown frame types are dropped silently, the peer stays. */
    pc_router_peer_up(r, 4, pkb, 80);
    uint8_t unknown[10] = {0x70, 0x69, 0x6e, 0x65, 0, 9, 0, 0, 0, 10};
    cr_assert_eq(pc_router_recv(r, 4, unknown, 10, 80), PC_OK);
    pc_peer_status ps;
    cr_assert_eq(pc_router_peer_status(r, 4, &ps), PC_OK);
    cap_free(&c);
    pc_router_free(r);
}

Test(pc_router, root_election_picks_highest_key_in_triangle)
{
    sim s = {.now = SIM_T0, .latency = 1};
    sim_node *a = sim_add(&s, 1, NULL), *b = sim_add(&s, 2, NULL), *c = sim_add(&s, 3, NULL);
    sim_link(&s, a, 1, b, 1);
    sim_link(&s, b, 2, c, 1);
    sim_link(&s, c, 2, a, 2);
    sim_run_until(&s, SIM_T0 + 8000);
    for (int i = 0; i < 3; i++) {
        uint8_t root[32];
        uint64_t seq;
        pc_router_root(s.nodes[i].r, root, &seq);
        cr_assert(memcmp(root, c->pk, 32) == 0, "node %d", i);
    }
    /* C re-sends its unchanged announcement to B ("inform" after B's stale root-A copy):
     * from B's parent, same root and sequence is bad news (as in Go), so B holds 1 s and
     * re-selects by earliest receive order. Any resulting tree must be consistent. */
    pc_coords ca, cb, cc;
    pc_router_coords(a->r, &ca);
    pc_router_coords(b->r, &cb);
    pc_router_coords(c->r, &cc);
    cr_assert_eq(cc.len, 0);
    cr_assert_eq(pc_router_parent(c->r), 0);
    cr_assert_neq(pc_router_parent(a->r), 0);
    cr_assert_neq(pc_router_parent(b->r), 0);
    cr_assert(ca.len >= 1 && ca.len <= 2 && cb.len >= 1 && cb.len <= 2 && ca.len + cb.len <= 3);
    /* SNEK: B < A < C, so C's descending is A and A's is B. */
    pc_path_status d;
    cr_assert(pc_router_descending(c->r, &d));
    cr_assert(memcmp(d.key, a->pk, 32) == 0);
    cr_assert(pc_router_descending(a->r, &d));
    cr_assert(memcmp(d.key, b->pk, 32) == 0);
    cr_assert(!pc_router_descending(b->r, &d));
    cr_assert_eq(s.recv_errors, 0);
    sim_free(&s);
}

Test(pc_router, bootstrap_acceptance_and_rejection)
{
    sim s = {.now = SIM_T0, .latency = 1};
    sim_node *a = sim_add(&s, 1, NULL), *b = sim_add(&s, 2, NULL);
    sim_link(&s, b, 1, a, 1);
    sim_run_until(&s, SIM_T0 + 7000);
    pc_path_status ps[4];
    cr_assert_eq(pc_router_paths(a->r, ps, 4), 1, "B's bootstrap installed an entry at A");
    uint64_t seq_before = ps[0].watermark.seq;
    pc_router_counters k0, k1;
    pc_router_get_counters(a->r, &k0);

    uint8_t pkb[32], skb[64], msg[PC_SIGNED_MSG_MAX], frame[512];
    tpc_keys(2, pkb, skb);
    size_t mlen, n;
    pc_frame f = {.type = PC_FRAME_BOOTSTRAP, .dest_key = pkb, .payload = msg};
    pc_watermark_init(&f.watermark);
    /* Replay: an older sequence than the entry's watermark. */
    pc_signed_msg_build(seq_before - 1, a->pk, 1, skb, msg, sizeof msg, &mlen);
    f.payload_len = mlen;
    pc_frame_encode(&f, frame, sizeof frame, &n);
    cr_assert_eq(pc_router_recv(a->r, 1, frame, n, s.now), PC_OK);
    /* Wrong root sequence. */
    pc_signed_msg_build(seq_before + 10, a->pk, 9, skb, msg, sizeof msg, &mlen);
    pc_frame_encode(&f, frame, sizeof frame, &n);
    cr_assert_eq(pc_router_recv(a->r, 1, frame, n, s.now), PC_OK);
    /* Signed by someone else than the destination key. */
    uint8_t pkc[32], skc[64];
    tpc_keys(3, pkc, skc);
    pc_signed_msg_build(seq_before + 20, a->pk, 1, skc, msg, sizeof msg, &mlen);
    pc_frame_encode(&f, frame, sizeof frame, &n);
    cr_assert_eq(pc_router_recv(a->r, 1, frame, n, s.now), PC_OK);
    pc_router_get_counters(a->r, &k1);
    cr_assert_eq(k1.dropped_bootstrap - k0.dropped_bootstrap, 3);
    cr_assert_eq(pc_router_paths(a->r, ps, 4), 1);
    cr_assert_eq(ps[0].watermark.seq, seq_before, "rejected bootstraps change nothing");
    /* A fresh, valid one is accepted and moves the watermark. */
    pc_signed_msg_build(seq_before + 30, a->pk, 1, skb, msg, sizeof msg, &mlen);
    pc_frame_encode(&f, frame, sizeof frame, &n);
    cr_assert_eq(pc_router_recv(a->r, 1, frame, n, s.now), PC_OK);
    pc_router_paths(a->r, ps, 4);
    cr_assert_eq(ps[0].watermark.seq, seq_before + 30);
    sim_free(&s);
}

static size_t traffic_frame(uint8_t *out, const uint8_t *dst, const uint8_t *src, uint8_t hop,
                            const pc_watermark *wm)
{
    static const uint8_t payload[] = "x";
    pc_frame f = {.type = PC_FRAME_TRAFFIC, .hop_limit = hop, .dest_key = dst, .src_key = src,
                  .payload = payload, .payload_len = 1};
    f.watermark = *wm;
    size_t n;
    cr_assert_eq(pc_frame_encode(&f, out, 512, &n), PC_OK);
    return n;
}

Test(pc_router, hop_limit_and_watermark_drops)
{
    sim s = {.now = SIM_T0, .latency = 1};
    sim_node *a, *b, *c;
    a = sim_add(&s, 1, NULL);
    b = sim_add(&s, 2, NULL);
    sim_link(&s, b, 1, a, 1);
    c = sim_add(&s, 3, NULL);
    sim_link(&s, c, 1, b, 2);
    sim_run_until(&s, SIM_T0 + 12000);
    pc_watermark full;
    pc_watermark_init(&full);
    uint8_t frame[512];
    pc_router_counters k;

    /* Hop limit 1 arriving at B (which must forward): dropped. */
    size_t n = traffic_frame(frame, c->pk, a->pk, 1, &full);
    cr_assert_eq(pc_router_recv(b->r, 1, frame, n, s.now), PC_OK);
    sim_run_until(&s, s.now + 10);
    pc_router_get_counters(b->r, &k);
    cr_assert_eq(k.dropped_hop_limit, 1);
    cr_assert_eq(c->delivered, 0);
    /* Hop limit 2: forwarded with 1, and delivered (delivery needs no hop left). */
    n = traffic_frame(frame, c->pk, a->pk, 2, &full);
    cr_assert_eq(pc_router_recv(b->r, 1, frame, n, s.now), PC_OK);
    sim_run_until(&s, s.now + 10);
    cr_assert_eq(c->delivered, 1);

    /* A watermark already better than anything B can offer: B would make it worse. */
    pc_watermark tight;
    memset(tight.key, 0, 32);
    tight.seq = 0;
    n = traffic_frame(frame, c->pk, a->pk, 10, &tight);
    cr_assert_eq(pc_router_recv(b->r, 1, frame, n, s.now), PC_OK);
    sim_run_until(&s, s.now + 10);
    pc_router_get_counters(b->r, &k);
    cr_assert_eq(k.dropped_watermark, 1);
    cr_assert_eq(c->delivered, 1);
    sim_free(&s);
}

Test(pc_router, keepalive_timing_and_peer_timeout)
{
    capture c = {0};
    pc_router *r = make_router(1, &c, 0);
    uint8_t pkb[32], skb[64];
    tpc_keys(2, pkb, skb);
    pc_router_peer_up(r, 1, pkb, 0);
    cap_free(&c);
    cr_assert_leq(pc_router_next_deadline(r), 3000);
    pc_router_handle_timeout(r, 2999);
    for (int i = 0; i < c.n; i++)
        cr_assert_neq(c.type[i], PC_FRAME_KEEPALIVE, "no keepalive before 3 s idle");
    cap_free(&c);
    pc_router_handle_timeout(r, 3000);
    int ka = 0;
    for (int i = 0; i < c.n; i++)
        ka += c.type[i] == PC_FRAME_KEEPALIVE;
    cr_assert_eq(ka, 1);
    uint8_t keep[10] = {0x70, 0x69, 0x6e, 0x65, 0, 0, 0, 0, 0, 10};
    cr_assert_eq(pc_router_recv(r, 1, keep, 10, 4000), PC_OK);
    pc_router_handle_timeout(r, 8999);
    cr_assert_eq(c.closed_port, 0, "still alive 4.999 s after the last frame");
    pc_router_handle_timeout(r, 9000);
    cr_assert_eq(c.closed_port, 1);
    cr_assert_eq(c.closed_reason, PC_ERR_PEER_TIMEOUT);
    cap_free(&c);
    pc_router_free(r);
}

Test(pc_router, bounded_queue_drops_and_counts)
{
    capture c = {0};
    pc_router *r = make_router(1, &c, 0);
    uint8_t pkb[32], skb[64];
    tpc_keys(2, pkb, skb);
    pc_router_peer_up(r, 1, pkb, 0);
    c.block = true;
    for (int i = 0; i < PC_PROTO_QUEUE_MAX + 10; i++)
        pc_router_send_wakeup(r, 10 + (uint64_t)i);
    pc_peer_status ps;
    pc_router_peer_status(r, 1, &ps);
    cr_assert_eq(ps.proto_queued, PC_PROTO_QUEUE_MAX);
    cr_assert_eq(ps.proto_dropped, 10);
    pc_router_counters k;
    pc_router_get_counters(r, &k);
    cr_assert_eq(k.dropped_queue_full, 10);
    c.block = false;
    pc_router_peer_writable(r, 1, 1000);
    pc_router_peer_status(r, 1, &ps);
    cr_assert_eq(ps.proto_queued, 0);
    cr_assert_eq(c.n, 256); /* capture keeps the first 256 */
    cap_free(&c);
    uint8_t big[PC_MAX_DATAGRAM + 1] = {0};
    cr_assert_eq(pc_router_send_traffic(r, pkb, big, sizeof big, 2000), PC_ERR_TOO_LONG);
    pc_router_free(r);
}

/* ---- replaying recorded Go streams into a router core ---- */

typedef struct replay_unit {
    double t;
    int port;
    uint8_t *data;
    size_t len;
    bool hs;
} replay_unit;

typedef struct replay {
    replay_unit u[512];
    int n;
    int port;
} replay;

static int collect(bool is_hs, const uint8_t *data, size_t len, void *ud)
{
    replay *rp = ud;
    cr_assert_lt(rp->n, 512);
    replay_unit *u = &rp->u[rp->n++];
    u->port = rp->port;
    u->hs = is_hs;
    u->data = malloc(len);
    memcpy(u->data, data, len);
    u->len = len;
    return 0;
}

/* Loads S-X-to-Y.bin as units with their capture times from the jsonl. */
static void load_stream(replay *rp, const char *scenario, const char *conn, int port)
{
    char path[512];
    snprintf(path, sizeof path, PC_FIXTURES "%s-%s.bin", scenario, conn);
    size_t len;
    uint8_t *bin = tpc_load(path, &len);
    cr_assert_not_null(bin);
    int first = rp->n;
    rp->port = port;
    pc_deframer d;
    pc_deframer_init(&d, true);
    cr_assert_eq(pc_deframer_feed(&d, bin, len, collect, rp), PC_OK);
    pc_deframer_free(&d);
    free(bin);
    snprintf(path, sizeof path, PC_FIXTURES "%s-frames.jsonl", scenario);
    FILE *fp = fopen(path, "r");
    static char line[1 << 20];
    int i = first;
    while (fgets(line, sizeof line, fp)) {
        json_t *rec = json_loads(line, 0, NULL);
        if (strcmp(json_string_value(json_object_get(rec, "conn")), conn) == 0)
            rp->u[i++].t = json_real_value(json_object_get(rec, "t"));
        json_decref(rec);
    }
    fclose(fp);
    cr_assert_eq(i, rp->n);
}

static int by_time(const void *x, const void *y)
{
    const replay_unit *a = x, *b = y;
    return a->t < b->t ? -1 : a->t > b->t;
}

/* Plays node B of line3/traffic: port 1 = A, port 2 = C, fed with A's and C's recorded
 * streams at their capture times. */
static void replay_as_b(const char *scenario, uint64_t *forwarded, int *traffic_in)
{
    replay *rp = calloc(1, sizeof *rp);
    load_stream(rp, scenario, "A-to-B", 1);
    load_stream(rp, scenario, "C-to-B", 2);
    qsort(rp->u, (size_t)rp->n, sizeof rp->u[0], by_time);
    capture c = {0};
    uint64_t base = SIM_T0;
    pc_router *r = make_router(2, &c, base + 1005);
    *traffic_in = 0;
    for (int i = 0; i < rp->n; i++) {
        replay_unit *u = &rp->u[i];
        uint64_t now = base + (uint64_t)(u->t * 1000);
        if (pc_router_next_deadline(r) <= now)
            pc_router_handle_timeout(r, now);
        if (u->hs) {
            uint8_t key[32];
            cr_assert_eq(pc_handshake_decode(u->data, u->len, key), PC_OK);
            cr_assert_eq(pc_router_peer_up(r, u->port, key, now), PC_OK);
        } else {
            *traffic_in += u->data[5] == PC_FRAME_TRAFFIC;
            cr_assert_eq(pc_router_recv(r, u->port, u->data, u->len, now), PC_OK,
                         "%s frame %d type %d", scenario, i, u->data[5]);
        }
        cap_free(&c);
        free(u->data);
    }
    cr_assert_eq(c.closed_port, 0);
    uint8_t root[32], pkc[32], pka[32], sk[64];
    uint64_t seq;
    tpc_keys(3, pkc, sk);
    tpc_keys(1, pka, sk);
    pc_router_root(r, root, &seq);
    cr_assert(memcmp(root, pkc, 32) == 0, "adopted C's root from the Go announcements");
    cr_assert_eq(seq, 1);
    cr_assert_eq(pc_router_parent(r), 2);
    pc_coords co, want = {1, {1}};
    pc_router_coords(r, &co);
    cr_assert(pc_coords_equal(&co, &want));
    pc_path_status ps[4];
    cr_assert_eq(pc_router_paths(r, ps, 4), 1, "A's Go bootstraps installed an entry");
    cr_assert(memcmp(ps[0].key, pka, 32) == 0);
    cr_assert_eq(ps[0].src_port, 1);
    cr_assert_eq(ps[0].dst_port, 2);
    pc_router_counters k;
    pc_router_get_counters(r, &k);
    cr_assert_eq(k.dropped_bootstrap, 0);
    *forwarded = k.traffic_forwarded;
    pc_router_free(r);
    free(rp);
}

Test(pc_router, replay_go_line3_as_b)
{
    uint64_t fwd;
    int tin;
    replay_as_b("line3", &fwd, &tin);
    cr_assert_eq(tin, 0);
}

Test(pc_router, replay_go_traffic_as_b_forwards_every_datagram)
{
    uint64_t fwd;
    int tin;
    replay_as_b("traffic", &fwd, &tin);
    cr_assert_gt(tin, 20);
    cr_assert_eq(fwd, (uint64_t)tin, "every QUIC datagram between A and C forwarded");
}
