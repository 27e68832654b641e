/* pc_snek: SNEK, the virtual snake, soft-state version (spec §5): periodic signed
 * bootstraps towards our key-space successor install 10-second routing entries at every
 * hop, the successor records us as its "descending" node, and key-addressed frames
 * follow the entries back down. Watermarks (best key, sequence) only move towards the
 * destination along a path, which kills loops through stale entries. The next-hop
 * algorithm follows the Go code, not the older docs (§5.5: the watermark is always
 * replaced). It does not forward or encode frames itself. */
#include <stdlib.h>
#include <string.h>

#include "pinecone/pc_router_int.h"

static bool expired(const pc_route *e, uint64_t now)
{
    return now - e->last_seen >= PC_SNEK_EXPIRY;
}

const pc_route *pcs_find(const pc_router *r, const uint8_t key[PC_KEY_LEN])
{
    for (size_t i = 0; i < r->n_routes; i++)
        if (pc_key_cmp(r->routes[i].key, key) == 0)
            return &r->routes[i];
    return NULL;
}

typedef struct best {
    uint8_t key[PC_KEY_LEN];
    uint64_t seq;
    int port;
} best;

static void consider(best *b, const uint8_t dest[PC_KEY_LEN], bool bootstrap,
                     const uint8_t c[PC_KEY_LEN], uint64_t seq, int port)
{
    bool exact = !bootstrap && pc_key_cmp(c, dest) == 0 && pc_key_cmp(b->key, dest) != 0;
    if (exact || pc_key_ordered(dest, c, b->key)) {
        memcpy(b->key, c, PC_KEY_LEN);
        b->seq = seq;
        b->port = port;
    }
}

pc_hop pcs_next_hop(const pc_router *r, const uint8_t dest[PC_KEY_LEN], bool bootstrap,
                    const pc_watermark *w, uint64_t now)
{
    pc_hop h;
    if (!bootstrap && pc_key_cmp(dest, r->pk) == 0) {
        h.port = 0;
        h.wm = *w;
        return h;
    }
    best b;
    memcpy(b.key, r->pk, PC_KEY_LEN);
    b.seq = 0;
    b.port = bootstrap ? PC_PORT_NONE : 0;

    /* Towards the root: the root is the highest key, so it is "above" everyone. */
    if (r->parent && r->peers[r->parent].up && r->peers[r->parent].ann) {
        const pc_announcement *pa = &r->peers[r->parent].ann->ann;
        if ((bootstrap && pc_key_cmp(b.key, dest) == 0) || pc_key_ordered(b.key, dest, pa->root_key)) {
            memcpy(b.key, pa->root_key, PC_KEY_LEN);
            b.seq = 0;
            b.port = r->parent;
        }
        for (size_t i = 0; i < pa->n_entries; i++)
            consider(&b, dest, bootstrap, pa->entries[i].key, 0, r->parent);
    }
    /* Every key on our peers' paths to the root. */
    for (int p = 1; p <= r->max_port; p++) {
        const pc_peer *peer = &r->peers[p];
        if (!peer->up || !peer->ann)
            continue;
        for (size_t i = 0; i < peer->ann->ann.n_entries; i++)
            consider(&b, dest, bootstrap, peer->ann->ann.entries[i].key, 0, p);
    }
    /* Prefer a direct link to the best key over reaching it through someone else. */
    for (int p = 1; p <= r->max_port; p++) {
        const pc_peer *peer = &r->peers[p];
        if (peer->up && peer->ann && pc_key_cmp(peer->key, b.key) == 0) {
            b.seq = 0;
            b.port = p;
        }
    }
    /* The routing table, skipping entries whose watermark is worse than the frame's. */
    for (size_t i = 0; i < r->n_routes; i++) {
        const pc_route *e = &r->routes[i];
        if (!r->peers[e->src].up || expired(e, now) || pc_watermark_worse(&e->wm, w))
            continue;
        consider(&b, dest, bootstrap, e->key, e->wm.seq, e->src);
    }
    /* Several links to the best key: same root and earliest announcement wins. */
    if (b.port > 0 && r->peers[b.port].ann) {
        for (int p = 1; p <= r->max_port; p++) {
            const pc_peer *peer = &r->peers[p];
            const pc_stored_ann *cur = r->peers[b.port].ann;
            if (!peer->up || !peer->ann || p == b.port || pc_key_cmp(peer->key, b.key) != 0)
                continue;
            if (pc_key_cmp(peer->ann->ann.root_key, cur->ann.root_key) == 0 &&
                peer->ann->ann.root_seq == cur->ann.root_seq && peer->ann->order < cur->order)
                b.port = p;
        }
    }
    h.port = b.port;
    memcpy(h.wm.key, b.key, PC_KEY_LEN);
    h.wm.seq = b.seq;
    return h;
}

static bool same_root(const pc_router *r, const uint8_t key[PC_KEY_LEN], uint64_t seq)
{
    const uint8_t *rk;
    uint64_t rs;
    pct_current_root(r, &rk, &rs);
    return pc_key_cmp(rk, key) == 0 && rs == seq;
}

static void set_descending(pc_router *r, const pc_route *e)
{
    bool changed = !r->have_desc || pc_key_cmp(r->desc.key, e->key) != 0;
    r->desc = *e;
    r->have_desc = true;
    if (changed)
        r->bootstrap_due = true;
}

static void clear_descending(pc_router *r)
{
    if (r->have_desc)
        r->bootstrap_due = true;
    r->have_desc = false;
}

void pcs_handle_bootstrap(pc_router *r, int from, pc_frame *f, uint64_t now)
{
    pc_hop h = pcs_next_hop(r, f->dest_key, true, &f->watermark, now);
    pc_signed_msg m;
    if (pc_signed_msg_decode(f->payload, f->payload_len, &m) ||
        pc_signed_msg_verify(&m, f->dest_key, &r->cfg.verifier) || !same_root(r, m.root_key, m.root_seq)) {
        r->counters.dropped_bootstrap++;
        return;
    }
    pc_route *e = (pc_route *)pcs_find(r, f->dest_key);
    if (e && pc_key_cmp(e->root_key, m.root_key) == 0 && e->root_seq == m.root_seq &&
        m.seq <= e->wm.seq) {
        r->counters.dropped_bootstrap++; /* replay or loop */
        return;
    }
    if (!e) {
        if (r->n_routes == PC_MAX_ROUTES) {
            r->counters.dropped_bootstrap++;
            return;
        }
        e = &r->routes[r->n_routes++];
    }
    memcpy(e->key, f->dest_key, PC_KEY_LEN);
    e->src = from;
    e->dst = h.port > 0 ? h.port : PC_PORT_NONE;
    e->last_seen = now;
    memcpy(e->root_key, m.root_key, PC_KEY_LEN);
    e->root_seq = m.root_seq;
    memcpy(e->wm.key, f->dest_key, PC_KEY_LEN);
    e->wm.seq = m.seq;

    if (pc_key_cmp(e->key, r->pk) < 0) {
        bool valid = r->have_desc && !expired(&r->desc, now);
        if (!valid || pc_key_cmp(r->desc.key, e->key) == 0 ||
            pc_key_ordered(r->desc.key, e->key, r->pk))
            set_descending(r, e);
    }
    if (h.port <= 0)
        return; /* dead end: we are the successor */
    if (h.port == from || pc_watermark_worse(&h.wm, &f->watermark)) {
        r->counters.dropped_watermark++;
        return;
    }
    f->watermark = h.wm;
    pcr_queue_frame(r, h.port, f);
}

static void bootstrap_now(pc_router *r, uint64_t now)
{
    if (r->parent == 0)
        return; /* the root has the highest key: no successor (last time not updated) */
    const uint8_t *root_key;
    uint64_t root_seq;
    pct_current_root(r, &root_key, &root_seq);
    uint8_t msg[PC_SIGNED_MSG_MAX];
    size_t mlen;
    if (pc_signed_msg_build(pcr_next_msg_seq(r, now), root_key, root_seq, r->sk, msg, sizeof msg,
                            &mlen))
        return;
    pc_frame f = {.type = PC_FRAME_BOOTSTRAP, .dest_key = r->pk, .payload = msg,
                  .payload_len = mlen};
    pc_watermark_init(&f.watermark);
    pc_hop h = pcs_next_hop(r, r->pk, true, &f.watermark, now);
    r->last_bootstrap = now;
    r->bootstrap_due = false;
    if (h.port > 0) {
        f.watermark = h.wm;
        pcr_queue_frame(r, h.port, &f);
    }
}

void pcs_tick(pc_router *r, uint64_t now)
{
    if (r->have_desc) {
        if (expired(&r->desc, now) || !same_root(r, r->desc.root_key, r->desc.root_seq))
            clear_descending(r);
    }
    size_t k = 0;
    for (size_t i = 0; i < r->n_routes; i++)
        if (!expired(&r->routes[i], now))
            r->routes[k++] = r->routes[i];
    r->n_routes = k;
    if (r->bootstrap_due || now - r->last_bootstrap >= PC_BOOTSTRAP_INTERVAL)
        bootstrap_now(r, now);
}

void pcs_peer_down(pc_router *r, int port)
{
    size_t k = 0;
    for (size_t i = 0; i < r->n_routes; i++)
        if (r->routes[i].src != port && r->routes[i].dst != port)
            r->routes[k++] = r->routes[i];
    r->n_routes = k;
    if (r->have_desc && r->desc.src == port)
        r->have_desc = false;
}

void pcs_reset(pc_router *r)
{
    r->n_routes = 0;
    r->have_desc = false;
    r->bootstrap_due = true;
}
