/* The simulator's and the router's speed-ups must not change what happens:
 * - the incremental convergence watch stops at exactly the first millisecond at which a
 *   full convergence check, run after every millisecond, first passes, with the same
 *   events run, also across links that go down inside the run (a silent peering a router
 *   closes itself) and outside it (pc_sim_disconnect);
 * - the key-sorted SNEK routing index picks what the rule "usable exact match, else the
 *   lowest usable key strictly between destination and our key" picks, checked against a
 *   brute-force scan here, before and after entries are removed (peer down) and with
 *   replays still recognised afterwards;
 * - announcements carry the same bytes as signing each port's copy separately
 *   (pc_announcement_sign_append), also after the prefix changes (a new parent). */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "pinecone/pc_router.h"
#include "pinecone/pc_sim.h"
#include "test_pc_util.h"

#define T0 UINT64_C(1700000000000)

/* ---- the convergence watch ------------------------------------------------------- */

/* A ring of 14 nodes with a chord, and a very lossy chord whose peering the routers
 * drop for silence inside the run. Same seed and calls give the same run. */
static pc_sim *ring(void)
{
    pc_sim *s;
    cr_assert_eq(pc_sim_new(&s, 11, T0), PC_OK);
    for (int i = 0; i < 14; i++)
        cr_assert_eq(pc_sim_add_node(s, NULL, NULL), i);
    for (int i = 0; i < 14; i++)
        cr_assert_geq(pc_sim_connect(s, i, 0, (i + 1) % 14, 0, 10, 0), 0);
    cr_assert_geq(pc_sim_connect(s, 0, 0, 7, 0, 10, 0), 0);
    cr_assert_geq(pc_sim_connect(s, 3, 0, 10, 0, 5, 0.9), 0);
    return s;
}

/* Steps one millisecond at a time from now to limit with a full check after each;
 * returns the first instant that passes, or 0. */
static uint64_t first_converged_by_full_checks(pc_sim *s, const bool *absent, uint64_t limit)
{
    for (uint64_t t = pc_sim_now(s); t <= limit; t++) {
        pc_sim_run_until(s, t);
        if (pc_sim_check_convergence(s, absent, NULL))
            return t;
    }
    return 0;
}

static void same_totals(pc_sim *a, pc_sim *b)
{
    pc_sim_totals x, y;
    pc_sim_get_totals(a, &x);
    pc_sim_get_totals(b, &y);
    cr_assert_eq(x.events, y.events);
    cr_assert_eq(x.frames, y.frames);
    cr_assert_eq(x.lost, y.lost);
}

Test(pc_sim_watch, stops_at_the_first_converged_millisecond, .timeout = 120)
{
    pc_sim *a = ring(), *b = ring();
    uint64_t first = first_converged_by_full_checks(a, NULL, T0 + 60000);
    cr_assert_neq(first, 0, "the ring converges within 60 s");
    cr_assert_gt(first, T0, "not converged at the start");
    pc_sim_watch_stats st = {.fewest_wrong = SIZE_MAX};
    cr_assert_not(pc_sim_run_until_converged(b, NULL, T0 + 50, &st), "not within 50 ms");
    cr_assert_eq(pc_sim_now(b), T0 + 50);
    cr_assert(st.fewest_wrong >= 1 && st.fewest_wrong <= 14, "%zu", st.fewest_wrong);
    cr_assert(pc_sim_run_until_converged(b, NULL, T0 + 60000, &st));
    cr_assert_eq(st.fewest_wrong, 0);
    cr_assert_eq(st.fewest_at, first);
    cr_assert_eq(pc_sim_now(b), first, "watch %llu, full checks %llu",
                 (unsigned long long)(pc_sim_now(b) - T0), (unsigned long long)(first - T0));
    same_totals(a, b);

    /* Converged now: the watch returns at once without running anything. */
    cr_assert(pc_sim_run_until_converged(b, NULL, first + 5000, NULL));
    cr_assert_eq(pc_sim_now(b), first);

    /* Cut the ring into two pieces from outside (the chord stays, the lossy link may
     * be gone by now); the two must agree on when the pieces have re-converged. */
    int l1 = pc_sim_find_link(a, 4, 5), l2 = pc_sim_find_link(a, 11, 12);
    cr_assert_eq(pc_sim_disconnect(a, l1), PC_OK);
    cr_assert_eq(pc_sim_disconnect(a, l2), PC_OK);
    cr_assert_eq(pc_sim_disconnect(b, l1), PC_OK);
    cr_assert_eq(pc_sim_disconnect(b, l2), PC_OK);
    cr_assert_not(pc_sim_check_convergence(b, NULL, NULL), "the cut changes who is root");
    uint64_t again = first_converged_by_full_checks(a, NULL, first + 60000);
    cr_assert_neq(again, 0);
    cr_assert(pc_sim_run_until_converged(b, NULL, first + 60000, NULL));
    cr_assert_eq(pc_sim_now(b), again);
    same_totals(a, b);
    pc_sim_free(a);
    pc_sim_free(b);
}

/* Two nodes over a link that loses almost everything: keepalives stop arriving, a
 * router closes the peering inside the run, and the pair becomes two components, each
 * trivially converged; the watch must notice the split when it happens. */
static pc_sim *lossy_pair(int *link)
{
    pc_sim *s;
    cr_assert_eq(pc_sim_new(&s, 5, T0), PC_OK);
    cr_assert_eq(pc_sim_add_node(s, NULL, NULL), 0);
    cr_assert_eq(pc_sim_add_node(s, NULL, NULL), 1);
    *link = pc_sim_connect(s, 0, 0, 1, 0, 10, 0.999);
    cr_assert_geq(*link, 0);
    return s;
}

Test(pc_sim_watch, links_the_routers_close_inside_the_run_are_seen)
{
    int la, lb, x, y;
    bool up;
    pc_sim *a = lossy_pair(&la), *b = lossy_pair(&lb);
    cr_assert_not(pc_sim_check_convergence(b, NULL, NULL), "both are root at first");
    uint64_t first = first_converged_by_full_checks(a, NULL, T0 + 30000);
    cr_assert_neq(first, 0);
    pc_sim_link_info(a, la, &x, &y, &up);
    cr_assert_not(up, "converged only because a router dropped the silent peering");
    cr_assert(pc_sim_run_until_converged(b, NULL, T0 + 30000, NULL));
    cr_assert_eq(pc_sim_now(b), first);
    pc_sim_convergence c;
    cr_assert(pc_sim_check_convergence(b, NULL, &c));
    cr_assert_eq(c.components, 2);
    same_totals(a, b);
    pc_sim_free(a);
    pc_sim_free(b);
}

/* ---- the SNEK routing index ---------------------------------------------------------- */

typedef struct out {
    int port[8];
    int n;
} out;

static int rec_send(pc_router *r, int port, const uint8_t *f, size_t len, void *ud)
{
    (void)r;
    (void)len;
    out *o = ud;
    if (f[5] == PC_FRAME_TRAFFIC && o->n < 8)
        o->port[o->n++] = port;
    return 0;
}

static void no_deliver(pc_router *r, const uint8_t *src, const uint8_t *p, size_t len, void *ud)
{
    (void)r, (void)src, (void)p, (void)len, (void)ud;
}

#define N_KEYS 96

typedef struct installed {
    uint8_t pk[N_KEYS][32], sk[N_KEYS][64];
    int port[N_KEYS];      /* where its bootstrap came from; 0 = entry gone */
    uint64_t seq[N_KEYS];
} installed;

static int bootstrap_from(pc_router *r, int port, const uint8_t *pk, const uint8_t *sk,
                          uint64_t seq, uint64_t now)
{
    uint8_t root[32], msg[PC_SIGNED_MSG_MAX], frame[512];
    uint64_t rseq;
    pc_router_root(r, root, &rseq);
    size_t mlen, n;
    cr_assert_eq(pc_signed_msg_build(seq, root, rseq, sk, msg, sizeof msg, &mlen), PC_OK);
    pc_frame f = {.type = PC_FRAME_BOOTSTRAP, .dest_key = pk, .payload = msg, .payload_len = mlen};
    pc_watermark_init(&f.watermark);
    cr_assert_eq(pc_frame_encode(&f, frame, sizeof frame, &n), PC_OK);
    return pc_router_recv(r, port, frame, n, now);
}

/* The spec's answer for a router that is its own root, has no peer announcements and
 * holds the installed entries: the usable exact match, else the lowest installed key
 * strictly between dest and our key; 0 (local, a drop) when there is none. */
static int expected_port(const installed *in, const uint8_t *dest, const uint8_t *self)
{
    int best = -1;
    for (int i = 0; i < N_KEYS; i++) {
        if (!in->port[i])
            continue;
        if (memcmp(in->pk[i], dest, 32) == 0)
            return in->port[i];
        if (memcmp(dest, in->pk[i], 32) < 0 && memcmp(in->pk[i], self, 32) < 0 &&
            (best < 0 || memcmp(in->pk[i], in->pk[best], 32) < 0))
            best = i;
    }
    return best < 0 ? 0 : in->port[best];
}

static void check_all(pc_router *r, const installed *in, out *o, uint64_t now)
{
    const uint8_t *self = pc_router_public_key(r);
    for (int i = 0; i < 2 * N_KEYS; i++) {
        uint8_t dest[32];
        if (i < N_KEYS) {
            memcpy(dest, in->pk[i], 32);
        } else {
            uint8_t n = (uint8_t)i;
            crypto_generichash(dest, sizeof dest, &n, 1, NULL, 0);
            dest[0] = (uint8_t)(i * 5); /* spread over the key space, both sides of self */
        }
        o->n = 0;
        int rc = pc_router_send_traffic(r, dest, (const uint8_t *)"p", 1, now);
        int want = expected_port(in, dest, self);
        if (want == 0) {
            cr_assert_eq(rc, PC_ERR_NO_ROUTE, "dest %d: no entry fits, yet sent", i);
            cr_assert_eq(o->n, 0);
        } else {
            cr_assert_eq(rc, PC_OK, "dest %d", i);
            cr_assert_eq(o->n, 1, "dest %d: %d frames (port %d, want %d)", i, o->n, o->port[0], want);
            cr_assert_eq(o->port[0], want, "dest %d: port %d, rule says %d", i, o->port[0], want);
        }
    }
}

Test(pc_snek_index, next_hop_matches_a_full_scan_through_inserts_and_removals)
{
    out o = {0};
    pc_router_callbacks cb = {.send_frame = rec_send, .deliver = no_deliver};
    pc_router_config cfg;
    pc_router_config_default(&cfg);
    cfg.keepalives = false;
    uint8_t seed[32];
    memset(seed, 0x42, sizeof seed);
    pc_router *r;
    cr_assert_eq(pc_router_new(&r, seed, &cfg, &cb, &o, T0), PC_OK);
    uint8_t peer[3][32];
    for (int p = 0; p < 3; p++) {
        memset(peer[p], 0x10 + p, 32);
        cr_assert_eq(pc_router_peer_up(r, p + 1, peer[p], T0), PC_OK);
    }

    static installed in;
    memset(&in, 0, sizeof in);
    for (int i = 0; i < N_KEYS; i++) {
        uint8_t ks[32] = {0x77, (uint8_t)i};
        crypto_sign_seed_keypair(in.pk[i], in.sk[i], ks);
        in.port[i] = 1 + i % 3;
        in.seq[i] = T0 + (uint64_t)i;
        cr_assert_eq(bootstrap_from(r, in.port[i], in.pk[i], in.sk[i], in.seq[i], T0 + 100), PC_OK);
    }
    cr_assert_eq(pc_router_paths(r, NULL, 0), N_KEYS, "one entry per key");
    check_all(r, &in, &o, T0 + 200);

    /* A newer bootstrap for an existing key moves its entry to the new port. */
    in.port[5] = in.port[5] % 3 + 1;
    in.seq[5] += 1000;
    cr_assert_eq(bootstrap_from(r, in.port[5], in.pk[5], in.sk[5], in.seq[5], T0 + 300), PC_OK);
    cr_assert_eq(pc_router_paths(r, NULL, 0), N_KEYS);

    /* Port 2 goes down: the entries that came from it or were forwarded to it go (the
     * router forwarded some bootstraps on towards lower keys), the rest must still be
     * found. */
    static pc_path_status ps[N_KEYS];
    cr_assert_eq(pc_router_paths(r, ps, N_KEYS), N_KEYS);
    for (int k = 0; k < N_KEYS; k++)
        for (int i = 0; i < N_KEYS; i++)
            if (memcmp(ps[k].key, in.pk[i], 32) == 0 && (in.port[i] == 2 || ps[k].dst_port == 2))
                in.port[i] = 0;
    cr_assert_eq(pc_router_peer_down(r, 2, T0 + 400), PC_OK);
    size_t left = 0;
    for (int i = 0; i < N_KEYS; i++)
        left += in.port[i] != 0;
    cr_assert_eq(pc_router_paths(r, NULL, 0), left);
    check_all(r, &in, &o, T0 + 500);

    /* Lookups by key still work after the removal: a replay of a kept entry is refused,
     * a removed key comes back as a new entry. */
    pc_router_counters k0, k1;
    pc_router_get_counters(r, &k0);
    int kept = in.port[0] ? 0 : 1, gone = -1;
    for (int i = 0; i < N_KEYS && gone < 0; i++)
        if (!in.port[i])
            gone = i;
    cr_assert_geq(gone, 0);
    bootstrap_from(r, in.port[kept], in.pk[kept], in.sk[kept], in.seq[kept], T0 + 600);
    pc_router_get_counters(r, &k1);
    cr_assert_eq(k1.dropped_bootstrap, k0.dropped_bootstrap + 1, "replay after removal refused");
    size_t before = pc_router_paths(r, NULL, 0);
    in.port[gone] = 3;
    cr_assert_eq(bootstrap_from(r, 3, in.pk[gone], in.sk[gone], in.seq[gone] + 1, T0 + 700), PC_OK);
    cr_assert_eq(pc_router_paths(r, NULL, 0), before + 1);
    check_all(r, &in, &o, T0 + 800);
    pc_router_free(r);
}

/* ---- one signature per announcement prefix ---------------------------------------------- */

typedef struct anns {
    int n;
    int port[8];
    uint8_t payload[8][2048];
    size_t len[8];
} anns;

static int ann_send(pc_router *r, int port, const uint8_t *f, size_t len, void *ud)
{
    (void)r;
    anns *a = ud;
    pc_frame fr;
    if (f[5] != PC_FRAME_TREE_ANNOUNCEMENT || a->n == 8 || pc_frame_decode(f, len, &fr) != PC_OK)
        return 0;
    a->port[a->n] = port;
    memcpy(a->payload[a->n], fr.payload, fr.payload_len);
    a->len[a->n++] = fr.payload_len;
    return 0;
}

/* What signing this port's copy on its own gives: prefix || port || key || sig. */
static void check_signed_copy(const anns *a, int i, const uint8_t *prefix, size_t plen,
                              const uint8_t *sk)
{
    uint8_t want[2048];
    size_t wlen;
    cr_assert_eq(pc_announcement_sign_append(prefix, plen, (uint64_t)a->port[i], sk, want,
                                             sizeof want, &wlen), PC_OK);
    cr_assert_eq(a->len[i], wlen, "port %d", a->port[i]);
    cr_assert(memcmp(a->payload[i], want, wlen) == 0, "port %d: bytes differ", a->port[i]);
}

Test(pc_tree_sign, every_port_gets_the_bytes_of_its_own_signing)
{
    static anns a;
    memset(&a, 0, sizeof a);
    pc_router_callbacks cb = {.send_frame = ann_send, .deliver = no_deliver};
    uint8_t pk[32], sk[64];
    tpc_keys(1, pk, sk); /* the fixture key A: not the strongest of the three below */
    uint8_t seed[32];
    memset(seed, 1, sizeof seed);
    pc_router *r;
    cr_assert_eq(pc_router_new(&r, seed, NULL, &cb, &a, T0), PC_OK);
    uint8_t pk2[32], sk2[64], pk3[32], sk3[64];
    tpc_keys(2, pk2, sk2);
    tpc_keys(3, pk3, sk3);
    /* Ports 1, 2 and 200 (a two-byte varu64). */
    cr_assert_eq(pc_router_peer_up(r, 1, pk2, T0), PC_OK);
    cr_assert_eq(pc_router_peer_up(r, 2, pk3, T0), PC_OK);
    cr_assert_eq(pc_router_peer_up(r, 200, pk3, T0), PC_OK);
    cr_assert_eq(a.n, 3);
    uint8_t root_prefix[64];
    uint8_t rk[32];
    uint64_t rseq;
    pc_router_root(r, rk, &rseq);
    size_t rlen = pc_announcement_root(pk, rseq, root_prefix);
    for (int i = 0; i < 3; i++)
        check_signed_copy(&a, i, root_prefix, rlen, sk);

    /* A peer announces a root that beats ours: we take it as parent and re-announce
     * its announcement, with our entry per port, to everyone. */
    uint8_t strong_pk[32], strong_sk[64], strong_seed[32] = {0};
    do {
        strong_seed[0]++;
        crypto_sign_seed_keypair(strong_pk, strong_sk, strong_seed);
    } while (memcmp(strong_pk, pk, 32) <= 0);
    uint8_t prefix[1024], frame[2048];
    size_t plen = pc_announcement_root(strong_pk, 7, prefix);
    cr_assert_eq(pc_announcement_sign_append(prefix, plen, 4, strong_sk, prefix, sizeof prefix,
                                             &plen), PC_OK);
    cr_assert_eq(pc_announcement_sign_append(prefix, plen, 9, sk2, prefix, sizeof prefix, &plen),
                 PC_OK);
    pc_frame f = {.type = PC_FRAME_TREE_ANNOUNCEMENT, .payload = prefix, .payload_len = plen};
    size_t n;
    cr_assert_eq(pc_frame_encode(&f, frame, sizeof frame, &n), PC_OK);
    a.n = 0;
    cr_assert_eq(pc_router_recv(r, 1, frame, n, T0 + 10), PC_OK);
    cr_assert_eq(pc_router_parent(r), 1);
    cr_assert_eq(a.n, 3, "re-announced on every port");
    for (int i = 0; i < 3; i++)
        check_signed_copy(&a, i, prefix, plen, sk);
    pc_router_free(r);
}
