/* pc_sim: nodes, links and the event loop of the deterministic simulator (see pc_sim.h).
 *
 * Invariants: node->port_link[p] is the id of the up link on port p of that node, or -1;
 * a link is `up` until pc_sim_disconnect or a router closing it, and its `gen` changes
 * when it goes down so frames in flight can tell. node->timer_at is the time of the
 * node's live timer event (UINT64_MAX: none), matching the event with node->timer_gen.
 * The heap holds copies of events; nothing keeps a pointer into it across a callback. */
#include "pinecone/pc_sim.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "pinecone/pc_handshake.h"
#include "pinecone/pc_sim_int.h"

enum { EV_FRAME, EV_CLOSE, EV_TIMER };

/* Timers sort after frames at the same time and among themselves by node index. */
#define ORD_TIMER (1ull << 63)

typedef struct ev {
    uint64_t at, ord;
    uint8_t kind;
    uint8_t dir;       /* EV_FRAME/EV_CLOSE: 0 = a->b, 1 = b->a */
    int id;            /* link (frame, close) or node (timer) */
    uint32_t gen;
    uint8_t *data;
    size_t len;
} ev;

typedef struct sim_link {
    int node[2], port[2];
    uint64_t latency;
    double loss;
    bool up;
    uint32_t gen;
} sim_link;

typedef struct sim_node {
    pc_sim *sim;
    int index;
    pc_router *r;
    uint8_t seed[PC_SEED_LEN];
    pc_router_config cfg;
    bool blackhole;
    uint64_t timer_at;
    uint32_t timer_gen;
    int port_link[PC_MAX_PORT + 1];
    pc_sim_node_stats st;
} sim_node;

struct pc_sim {
    uint64_t now, seq;
    pc_sim_rng rng;
    sim_node **nodes;
    size_t n_nodes, cap_nodes;
    sim_link *links;
    size_t n_links, cap_links;
    ev *heap;
    size_t n_heap, cap_heap;
    pc_router_config cfg;
    pc_sim_deliver_fn on_deliver;
    void *on_deliver_user;
    pc_sim_totals tot;
    struct vmemo_entry *vmemo;
    bool links_changed;    /* a link went up or down since the watch last looked */
};

/* ---- heap ------------------------------------------------------------------------ */

static bool ev_less(const ev *x, const ev *y)
{
    return x->at != y->at ? x->at < y->at : x->ord < y->ord;
}

static bool heap_push(pc_sim *s, const ev *e)
{
    if (s->n_heap == s->cap_heap) {
        size_t cap = s->cap_heap ? 2 * s->cap_heap : 1024;
        ev *h = realloc(s->heap, cap * sizeof *h);
        if (!h)
            return false;
        s->heap = h;
        s->cap_heap = cap;
    }
    size_t i = s->n_heap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!ev_less(e, &s->heap[p]))
            break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = *e;
    return true;
}

static ev heap_pop(pc_sim *s)
{
    ev top = s->heap[0];
    ev last = s->heap[--s->n_heap];
    size_t i = 0, n = s->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && ev_less(&s->heap[c + 1], &s->heap[c]))
            c++;
        if (!ev_less(&s->heap[c], &last))
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n)
        s->heap[i] = last;
    return top;
}

/* ---- timers ---------------------------------------------------------------------- */

/* Makes sure the node has a timer event no later than its router's next deadline. */
static void resched(pc_sim *s, sim_node *nd)
{
    uint64_t d = pc_router_next_deadline(nd->r);
    if (d < s->now)
        d = s->now;
    if (d >= nd->timer_at)
        return;   /* the live event comes first and will look again */
    ev e = {.at = d, .ord = ORD_TIMER | (uint64_t)nd->index, .kind = EV_TIMER,
            .id = nd->index, .gen = ++nd->timer_gen};
    if (heap_push(s, &e))
        nd->timer_at = d;
}

/* ---- router callbacks ---------------------------------------------------------------- */

/* A blackhole swallows traffic frames that are neither from nor for itself. */
static bool blackholed(sim_node *nd, const uint8_t *frame, size_t len)
{
    if (!nd->blackhole || len < PC_HEADER_LEN || frame[5] != PC_FRAME_TRAFFIC)
        return false;
    pc_frame f;
    if (pc_frame_decode(frame, len, &f) != PC_OK)
        return false;
    return memcmp(f.src_key, pc_router_public_key(nd->r), PC_KEY_LEN) != 0;
}

static int cb_send(pc_router *r, int port, const uint8_t *frame, size_t len, void *ud)
{
    (void)r;
    sim_node *nd = ud;
    pc_sim *s = nd->sim;
    if (len > PC_HEADER_LEN - 5 && frame[5] < 8)
        nd->st.frames_by_type[frame[5]]++;
    int l = port >= 0 && port <= PC_MAX_PORT ? nd->port_link[port] : -1;
    if (l < 0 || !s->links[l].up) {
        s->tot.dropped_link_down++;
        return 0;
    }
    if (blackholed(nd, frame, len)) {
        nd->st.blackholed++;
        return 0;
    }
    sim_link *lk = &s->links[l];
    if (lk->loss > 0 && pc_sim_rng_unit(&s->rng) < lk->loss) {
        s->tot.lost++;
        return 0;
    }
    uint8_t *copy = malloc(len);
    if (!copy)
        return 0;
    memcpy(copy, frame, len);
    ev e = {.at = s->now + lk->latency, .ord = s->seq++, .kind = EV_FRAME,
            .dir = lk->node[0] == nd->index && lk->port[0] == port ? 0 : 1,
            .id = l, .gen = lk->gen, .data = copy, .len = len};
    if (!heap_push(s, &e))
        free(copy);
    return 0;
}

static void cb_deliver(pc_router *r, const uint8_t src[PC_KEY_LEN], const uint8_t *p, size_t len,
                       void *ud)
{
    (void)r;
    sim_node *nd = ud;
    nd->st.delivered++;
    if (nd->sim->on_deliver)
        nd->sim->on_deliver(nd->sim, nd->index, src, p, len, nd->sim->on_deliver_user);
}

/* The router dropped a peer itself: the link dies here now, and the far end learns of
 * it one latency later (as a TCP close would travel). */
static void cb_closed(pc_router *r, int port, int reason, void *ud)
{
    (void)r;
    (void)reason;
    sim_node *nd = ud;
    pc_sim *s = nd->sim;
    nd->st.closed++;
    int l = port >= 0 && port <= PC_MAX_PORT ? nd->port_link[port] : -1;
    if (l < 0)
        return;
    sim_link *lk = &s->links[l];
    nd->port_link[port] = -1;
    lk->up = false;
    lk->gen++;
    s->links_changed = true;
    int side = lk->node[0] == nd->index && lk->port[0] == port ? 0 : 1;
    ev e = {.at = s->now + lk->latency, .ord = s->seq++, .kind = EV_CLOSE,
            .dir = (uint8_t)side, .id = l, .gen = lk->gen};
    heap_push(s, &e);
}

static void cb_bcast(pc_router *r, const uint8_t src[PC_KEY_LEN], void *ud)
{
    (void)r;
    (void)src;
    ((sim_node *)ud)->st.broadcasts++;
}

static const pc_router_callbacks sim_cb = {.send_frame = cb_send, .deliver = cb_deliver,
                                           .peer_closed = cb_closed,
                                           .broadcast_received = cb_bcast};

/* ---- lifecycle ------------------------------------------------------------------------- */

/* Signature memo. In a simulation the same signed bytes (an announcement, a broadcast)
 * reach thousands of routers, and ed25519 verification took two thirds of the CPU of a
 * 10,000-node run. Entries are keyed by a 128-bit BLAKE2b digest of (key, signature,
 * message), so a hit returns exactly what libsodium returned (or, for a signature a
 * router just made, would return) for those bytes; protocol decisions cannot change.
 * Direct-mapped and bounded: a colliding entry is overwritten. */
#define VMEMO_BITS 20

typedef struct vmemo_entry {
    uint8_t digest[16];
    int8_t result; /* 0 empty, 1 valid, -1 invalid */
} vmemo_entry;

static vmemo_entry *memo_slot(pc_sim *s, const uint8_t sig[PC_SIG_LEN], const uint8_t *msg,
                              size_t len, const uint8_t key[PC_KEY_LEN], uint8_t d[16])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 16);
    crypto_generichash_update(&st, key, PC_KEY_LEN);
    crypto_generichash_update(&st, sig, PC_SIG_LEN);
    crypto_generichash_update(&st, msg, len);
    crypto_generichash_final(&st, d, 16);
    uint64_t idx;
    memcpy(&idx, d, sizeof idx);
    return &s->vmemo[idx & ((UINT64_C(1) << VMEMO_BITS) - 1)];
}

static int sim_verify(void *ctx, const uint8_t sig[PC_SIG_LEN], const uint8_t *msg, size_t len,
                      const uint8_t key[PC_KEY_LEN])
{
    uint8_t d[16];
    vmemo_entry *e = memo_slot(ctx, sig, msg, len, key, d);
    if (e->result != 0 && memcmp(e->digest, d, sizeof d) == 0)
        return e->result > 0 ? 0 : -1;
    int rc = crypto_sign_verify_detached(sig, msg, len, key);
    memcpy(e->digest, d, sizeof d);
    e->result = rc == 0 ? 1 : -1;
    return rc;
}

/* A router signed msg with its own key: record the signature as valid, which is what
 * libsodium would answer (a signature crypto_sign_detached made with a secret key
 * verifies under the matching public key), so the first check of every signature in
 * the network is a memo hit instead of an ed25519 verification. */
static void sim_signed(void *ctx, const uint8_t sig[PC_SIG_LEN], const uint8_t *msg, size_t len,
                       const uint8_t key[PC_KEY_LEN])
{
    uint8_t d[16];
    vmemo_entry *e = memo_slot(ctx, sig, msg, len, key, d);
    memcpy(e->digest, d, sizeof d);
    e->result = 1;
}

pc_verifier pc_sim_verifier(pc_sim *s)
{
    return (pc_verifier){sim_verify, s};
}

/* Routers in the simulator check signatures through the memo, and tell it about the
 * signatures they make, unless the caller chose a verifier of its own. */
static void use_memo(pc_sim *s, pc_router_config *cfg)
{
    if (cfg->verifier.fn)
        return;
    cfg->verifier = pc_sim_verifier(s);
    if (!cfg->signed_obs.fn)
        cfg->signed_obs = (pc_sign_observer){sim_signed, s};
}

int pc_sim_new(pc_sim **out, uint64_t seed, uint64_t t0)
{
    pc_sim *s = calloc(1, sizeof *s);
    if (!s)
        return PC_ERR_NOMEM;
    s->vmemo = calloc(UINT64_C(1) << VMEMO_BITS, sizeof *s->vmemo);
    if (!s->vmemo) {
        free(s);
        return PC_ERR_NOMEM;
    }
    s->now = t0;
    pc_router_config_default(&s->cfg);
    pc_sim_rng_seed(&s->rng, seed);
    *out = s;
    return PC_OK;
}

void pc_sim_free(pc_sim *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_heap; i++)
        free(s->heap[i].data);
    free(s->heap);
    for (size_t i = 0; i < s->n_nodes; i++) {
        pc_router_free(s->nodes[i]->r);
        free(s->nodes[i]);
    }
    free(s->nodes);
    free(s->links);
    free(s->vmemo);
    free(s);
}

pc_sim_rng *pc_sim_rng_of(pc_sim *s) { return &s->rng; }

void pc_sim_set_router_config(pc_sim *s, const pc_router_config *cfg) { s->cfg = *cfg; }

void pc_sim_on_deliver(pc_sim *s, pc_sim_deliver_fn fn, void *user)
{
    s->on_deliver = fn;
    s->on_deliver_user = user;
}

int pc_sim_add_node(pc_sim *s, const uint8_t seed[PC_SEED_LEN], const pc_router_config *cfg)
{
    if (s->n_nodes == s->cap_nodes) {
        size_t cap = s->cap_nodes ? 2 * s->cap_nodes : 64;
        sim_node **v = realloc(s->nodes, cap * sizeof *v);
        if (!v)
            return PC_ERR_NOMEM;
        s->nodes = v;
        s->cap_nodes = cap;
    }
    sim_node *nd = calloc(1, sizeof *nd);
    if (!nd)
        return PC_ERR_NOMEM;
    nd->sim = s;
    nd->index = (int)s->n_nodes;
    nd->timer_at = UINT64_MAX;
    for (int p = 0; p <= PC_MAX_PORT; p++)
        nd->port_link[p] = -1;
    if (seed) {
        memcpy(nd->seed, seed, PC_SEED_LEN);
    } else {
        for (int i = 0; i < PC_SEED_LEN; i += 8) {
            uint64_t v = pc_sim_rng_next(&s->rng);
            memcpy(nd->seed + i, &v, 8);
        }
    }
    if (cfg)
        nd->cfg = *cfg;
    else
        nd->cfg = s->cfg;
    use_memo(s, &nd->cfg);
    int rc = pc_router_new(&nd->r, nd->seed, &nd->cfg, &sim_cb, nd, s->now);
    if (rc != PC_OK) {
        free(nd);
        return rc;
    }
    s->nodes[s->n_nodes++] = nd;
    resched(s, nd);
    return nd->index;
}

static sim_node *node_at(const pc_sim *s, int i)
{
    return i >= 0 && (size_t)i < s->n_nodes ? s->nodes[i] : NULL;
}

int pc_sim_restart_node(pc_sim *s, int node)
{
    sim_node *nd = node_at(s, node);
    if (!nd)
        return PC_ERR_INVALID;
    for (int p = 1; p <= PC_MAX_PORT; p++)
        if (nd->port_link[p] >= 0)
            return PC_ERR_INVALID;
    pc_router *fresh;
    int rc = pc_router_new(&fresh, nd->seed, &nd->cfg, &sim_cb, nd, s->now);
    if (rc != PC_OK)
        return rc;
    pc_router_free(nd->r);
    nd->r = fresh;
    nd->timer_at = UINT64_MAX;   /* the old event is now stale (gen bumps below) */
    nd->timer_gen++;
    resched(s, nd);
    return PC_OK;
}

size_t pc_sim_node_count(const pc_sim *s) { return s->n_nodes; }
pc_router *pc_sim_router(pc_sim *s, int node) { return s->nodes[node]->r; }
const uint8_t *pc_sim_key(const pc_sim *s, int node) { return pc_router_public_key(s->nodes[node]->r); }
const pc_sim_node_stats *pc_sim_stats(const pc_sim *s, int node) { return &s->nodes[node]->st; }
void pc_sim_get_totals(const pc_sim *s, pc_sim_totals *out) { *out = s->tot; }
uint64_t pc_sim_now(const pc_sim *s) { return s->now; }
size_t pc_sim_link_count(const pc_sim *s) { return s->n_links; }

void pc_sim_set_blackhole(pc_sim *s, int node, bool on)
{
    sim_node *nd = node_at(s, node);
    if (nd)
        nd->blackhole = on;
}

/* ---- links ------------------------------------------------------------------------------ */

int pc_sim_connect(pc_sim *s, int a, int pa, int b, int pb, uint64_t latency, double loss)
{
    sim_node *na = node_at(s, a), *nb = node_at(s, b);
    if (!na || !nb || a == b || latency < 1 || !(loss >= 0 && loss < 1))
        return PC_ERR_INVALID;
    if (pa == 0)
        pa = pc_router_free_port(na->r);
    if (pb == 0)
        pb = pc_router_free_port(nb->r);
    if (pa < 1 || pa > PC_MAX_PORT || pb < 1 || pb > PC_MAX_PORT || na->port_link[pa] >= 0 ||
        nb->port_link[pb] >= 0)
        return PC_ERR_PORT_IN_USE;
    if (s->n_links == s->cap_links) {
        size_t cap = s->cap_links ? 2 * s->cap_links : 256;
        sim_link *v = realloc(s->links, cap * sizeof *v);
        if (!v)
            return PC_ERR_NOMEM;
        s->links = v;
        s->cap_links = cap;
    }
    int l = (int)s->n_links++;
    s->links[l] = (sim_link){.node = {a, b}, .port = {pa, pb}, .latency = latency,
                             .loss = loss, .up = true};
    na->port_link[pa] = l;
    nb->port_link[pb] = l;
    s->links_changed = true;
    int rc = pc_router_peer_up(na->r, pa, pc_router_public_key(nb->r), s->now);
    if (rc == PC_OK)
        rc = pc_router_peer_up(nb->r, pb, pc_router_public_key(na->r), s->now);
    resched(s, na);
    resched(s, nb);
    return rc == PC_OK ? l : rc;
}

int pc_sim_disconnect(pc_sim *s, int link)
{
    if (link < 0 || (size_t)link >= s->n_links)
        return PC_ERR_INVALID;
    sim_link *lk = &s->links[link];
    if (!lk->up)
        return PC_ERR_NO_PEER;
    lk->up = false;
    lk->gen++;
    s->links_changed = true;
    for (int side = 0; side < 2; side++) {
        sim_node *nd = s->nodes[lk->node[side]];
        nd->port_link[lk->port[side]] = -1;
        pc_router_peer_down(nd->r, lk->port[side], s->now);
        resched(s, nd);
    }
    return PC_OK;
}

int pc_sim_find_link(const pc_sim *s, int a, int b)
{
    sim_node *na = node_at(s, a);
    if (!na || !node_at(s, b))
        return -1;
    for (int p = 1; p <= PC_MAX_PORT; p++) {
        int l = na->port_link[p];
        if (l >= 0 && (s->links[l].node[0] == b || s->links[l].node[1] == b))
            return l;
    }
    return -1;
}

int pc_sim_link_info(const pc_sim *s, int link, int *a, int *b, bool *up)
{
    if (link < 0 || (size_t)link >= s->n_links)
        return PC_ERR_INVALID;
    *a = s->links[link].node[0];
    *b = s->links[link].node[1];
    *up = s->links[link].up;
    return PC_OK;
}

/* ---- driving ---------------------------------------------------------------------------- */

int pc_sim_send(pc_sim *s, int from, int to, const uint8_t *payload, size_t len)
{
    sim_node *nf = node_at(s, from), *nt = node_at(s, to);
    if (!nf || !nt)
        return PC_ERR_INVALID;
    int rc = pc_router_send_traffic(nf->r, pc_router_public_key(nt->r), payload, len, s->now);
    resched(s, nf);
    return rc;
}

void pc_sim_touch(pc_sim *s, int node)
{
    sim_node *nd = node_at(s, node);
    if (nd)
        resched(s, nd);
}

/* Runs one event; returns the node whose router it ran (-1: none). */
static int run_event(pc_sim *s, ev *e)
{
    if (e->kind == EV_TIMER) {
        sim_node *nd = s->nodes[e->id];
        if (e->gen != nd->timer_gen)
            return -1;   /* superseded by an earlier one */
        nd->timer_at = UINT64_MAX;
        if (pc_router_next_deadline(nd->r) <= s->now)
            pc_router_handle_timeout(nd->r, s->now);
        uint64_t d = pc_router_next_deadline(nd->r);
        /* A deadline that does not move forward would spin; look again 1 ms later. */
        if (d <= s->now) {
            ev t = {.at = s->now + 1, .ord = ORD_TIMER | (uint64_t)nd->index, .kind = EV_TIMER,
                    .id = nd->index, .gen = ++nd->timer_gen};
            if (heap_push(s, &t))
                nd->timer_at = t.at;
        } else {
            resched(s, nd);
        }
        return nd->index;
    }
    sim_link *lk = &s->links[e->id];
    int to = 1 - e->dir;
    sim_node *nd = s->nodes[lk->node[to]];
    int port = lk->port[to];
    if (e->kind == EV_CLOSE) {
        if (nd->port_link[port] == e->id) {
            nd->port_link[port] = -1;
            pc_router_peer_down(nd->r, port, s->now);
            resched(s, nd);
            return nd->index;
        }
        return -1;
    }
    if (!lk->up || e->gen != lk->gen) {
        s->tot.dropped_link_down++;
        return -1;
    }
    s->tot.frames++;
    int rc = pc_router_recv(nd->r, port, e->data, e->len, s->now);
    if (rc != PC_OK && rc != PC_ERR_NO_PEER)
        s->tot.recv_errors++;
    resched(s, nd);
    return nd->index;
}

/* Pops and runs the next event; returns the node it touched (-1: none). */
static int step(pc_sim *s)
{
    ev e = heap_pop(s);
    if (e.at > s->now)
        s->now = e.at;
    s->tot.events++;
    int touched = run_event(s, &e);
    free(e.data);
    return touched;
}

void pc_sim_run_until(pc_sim *s, uint64_t t)
{
    while (s->n_heap && s->heap[0].at <= t)
        step(s);
    if (t > s->now)
        s->now = t;
}

/* The incremental convergence watch: the expected keys per node and which nodes are
 * currently not as expected. */
typedef struct watch {
    const uint8_t **root, **pred;
    uint8_t *wrong;
    size_t n_wrong;
} watch;

/* Recomputes the expectations (the components may have changed) and every node's flag. */
static bool watch_reset(pc_sim *s, const bool *absent, watch *w)
{
    s->links_changed = false;
    if (pcsim_expectations(s, absent, w->root, w->pred) < 0)
        return false;
    w->n_wrong = 0;
    for (size_t i = 0; i < s->n_nodes; i++) {
        w->wrong[i] = w->root[i] && pcsim_node_wrong(s, (int)i, w->root[i], w->pred[i]);
        w->n_wrong += w->wrong[i];
    }
    return true;
}

static void watch_node(pc_sim *s, watch *w, int node)
{
    if (node < 0 || !w->root[node])
        return;
    uint8_t now_wrong = pcsim_node_wrong(s, node, w->root[node], w->pred[node]) != 0;
    w->n_wrong += now_wrong;
    w->n_wrong -= w->wrong[node];
    w->wrong[node] = now_wrong;
}

bool pc_sim_run_until_converged(pc_sim *s, const bool *absent, uint64_t t,
                                pc_sim_watch_stats *stats)
{
    size_t n = s->n_nodes + 1;
    watch w = {malloc(n * sizeof *w.root), malloc(n * sizeof *w.pred), malloc(n)};
    bool ok = w.root && w.pred && w.wrong && watch_reset(s, absent, &w);
    bool converged = false;
    while (ok) {
        /* Only a whole instant counts: every event due at `now` has run. */
        if (!s->n_heap || s->heap[0].at > s->now) {
            if (s->links_changed)
                ok = watch_reset(s, absent, &w);
            if (ok && stats && w.n_wrong < stats->fewest_wrong) {
                stats->fewest_wrong = w.n_wrong;
                stats->fewest_at = s->now;
            }
            if (ok && w.n_wrong == 0) {
                converged = true;
                break;
            }
        }
        if (!ok || !s->n_heap || s->heap[0].at > t)
            break;
        watch_node(s, &w, step(s));
    }
    free(w.root);
    free(w.pred);
    free(w.wrong);
    if (!ok) {   /* out of memory: fall back to the plain run and the full check */
        pc_sim_run_until(s, t);
        return pc_sim_check_convergence(s, absent, NULL);
    }
    if (!converged && t > s->now)
        s->now = t;
    return converged;
}
