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

/* Key order exactly as pc_key_cmp / pc_key_ordered / pc_watermark_worse (memcmp of the
 * 32 bytes), inlined because next-hop selection compares keys more than anything else
 * the router does: the key heads (pcr_key_head) decide nearly every comparison of
 * distinct keys, and only a tie there needs the rest. */
#define key_head pcr_key_head

static inline int key_cmp(const uint8_t a[PC_KEY_LEN], const uint8_t b[PC_KEY_LEN])
{
    uint64_t x = key_head(a), y = key_head(b);
    if (x != y)
        return x < y ? -1 : 1;
    return memcmp(a + 8, b + 8, PC_KEY_LEN - 8);
}

static inline bool key_ordered(const uint8_t a[PC_KEY_LEN], const uint8_t b[PC_KEY_LEN],
                               const uint8_t c[PC_KEY_LEN])
{
    return key_cmp(a, b) < 0 && key_cmp(b, c) < 0;
}

static inline bool wm_worse(const pc_watermark *a, const pc_watermark *b)
{
    int c = key_cmp(a->key, b->key);
    return c > 0 || (c == 0 && a->seq != 0 && a->seq < b->seq);
}

_Static_assert(PC_MAX_ROUTES <= UINT16_MAX + 1, "route_order holds uint16_t indices");

static const pc_route *by_rank(const pc_router *r, size_t j)
{
    return &r->routes[r->route_order[j]];
}

/* The rank (position in route_order) of the first entry whose key is >= key. */
static size_t lower_bound(const pc_router *r, const uint8_t key[PC_KEY_LEN])
{
    uint64_t h = key_head(key);
    size_t lo = 0, hi = r->n_routes;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t m = r->route_head[mid];
        if (m < h || (m == h && key_cmp(by_rank(r, mid)->key, key) < 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const pc_route *pcs_find(const pc_router *r, const uint8_t key[PC_KEY_LEN])
{
    size_t j = lower_bound(r, key);
    if (j < r->n_routes && key_cmp(by_rank(r, j)->key, key) == 0)
        return by_rank(r, j);
    return NULL;
}

/* Appends an entry for key (not in the table, which is not full) and indexes it. */
static pc_route *insert_route(pc_router *r, const uint8_t key[PC_KEY_LEN])
{
    size_t j = lower_bound(r, key);
    memmove(&r->route_order[j + 1], &r->route_order[j],
            (r->n_routes - j) * sizeof *r->route_order);
    memmove(&r->route_head[j + 1], &r->route_head[j], (r->n_routes - j) * sizeof *r->route_head);
    r->route_order[j] = (uint16_t)r->n_routes;
    r->route_head[j] = key_head(key);
    pc_route *e = &r->routes[r->n_routes++];
    memcpy(e->key, key, PC_KEY_LEN);
    return e;
}

/* Removes the entries drop() selects, keeping the arrival order of the rest, and
 * renumbers the key index to match. */
static void remove_routes(pc_router *r, bool (*drop)(const pc_route *e, int arg, uint64_t now),
                          int arg, uint64_t now)
{
    uint16_t remap[PC_MAX_ROUTES];
    size_t k = 0;
    for (size_t i = 0; i < r->n_routes; i++) {
        if (drop(&r->routes[i], arg, now)) {
            remap[i] = UINT16_MAX;
            continue;
        }
        remap[i] = (uint16_t)k;
        r->routes[k++] = r->routes[i];
    }
    if (k == r->n_routes)
        return;
    size_t m = 0;
    for (size_t j = 0; j < r->n_routes; j++) {
        if (remap[r->route_order[j]] == UINT16_MAX)
            continue;
        r->route_head[m] = r->route_head[j];
        r->route_order[m++] = remap[r->route_order[j]];
    }
    r->n_routes = k;
}

typedef struct best {
    uint8_t key[PC_KEY_LEN];
    uint64_t head;         /* key_head(key) */
    uint64_t seq;
    int port;
} best;

static void take(best *b, const uint8_t c[PC_KEY_LEN], uint64_t head, uint64_t seq, int port)
{
    memcpy(b->key, c, PC_KEY_LEN);
    b->head = head;
    b->seq = seq;
    b->port = port;
}

/* The spec's consider(c, seq, port). ch and dh are the heads of c and dest: c can only
 * win as an exact match (ch == dh) or by lying between dest and the best (dh <= ch <=
 * best's head), so most candidates are turned away without reading their keys. */
static void consider(best *b, const uint8_t dest[PC_KEY_LEN], uint64_t dh, bool bootstrap,
                     const uint8_t c[PC_KEY_LEN], uint64_t ch, uint64_t seq, int port)
{
    if (ch != dh && (ch < dh || ch > b->head))
        return;
    bool exact = !bootstrap && key_cmp(c, dest) == 0 && key_cmp(b->key, dest) != 0;
    if (exact || key_ordered(dest, c, b->key))
        take(b, c, ch, seq, port);
}

/* qsort order: by key, then by scan order. Orders are unique, so this is a total order
 * and any correct sort gives the same table. */
static int cand_cmp(const void *x, const void *y)
{
    const pc_tree_cand *a = x, *b = y;
    if (a->head != b->head)
        return a->head < b->head ? -1 : 1;
    int c = key_cmp(a->key, b->key);
    if (c)
        return c;
    return a->order < b->order ? -1 : a->order > b->order;
}

/* Appends port's signers. An entry's scan order is its index at append time: keeping the
 * count in the table rather than in a caller's local matters, because GCC 12.2 -O2
 * (ipa-modref + DSE) deleted the `order = 0` initialisation of such a local passed by
 * address, so the numbering started from stale stack bytes and could wrap. */
static void add_cands(pc_router *r, int port)
{
    const pc_stored_ann *sa = r->peers[port].ann;
    for (size_t i = 0; i < sa->ann.n_entries; i++, r->n_cands++)
        r->cands[r->n_cands] = (pc_tree_cand){sa->head[i], sa->ann.entries[i].key,
                                              (uint32_t)r->n_cands, port};
}

/* Rebuilds r->cands in the scan order of steps 3b and 4, then sorts it. False when out
 * of memory (the table is then left dirty). */
static bool build_cands(pc_router *r, bool parent_up)
{
    size_t need = 0;
    for (int p = 1; p <= r->max_port; p++)
        if (r->peers[p].up && r->peers[p].ann)
            need += r->peers[p].ann->ann.n_entries;
    if (need > r->cap_cands) {
        pc_tree_cand *c = realloc(r->cands, need * sizeof *c);
        if (!c)
            return false;
        r->cands = c;
        r->cap_cands = need;
    }
    r->n_cands = 0;
    if (parent_up)
        add_cands(r, r->parent);
    for (int p = 1; p <= r->max_port; p++)
        if (r->peers[p].up && r->peers[p].ann && !(p == r->parent && parent_up))
            add_cands(r, p);
    /* With no announcements stored r->cands may still be NULL, which qsort must not get. */
    if (r->n_cands > 1)
        qsort(r->cands, r->n_cands, sizeof *r->cands, cand_cmp);
    r->cands_dirty = false;
    return true;
}

/* Steps 3b and 4 over the sorted candidates. consider() over them in scan order ends on
 * the first exact match in that order when one is allowed (non-bootstrap, best not
 * already dest), else on the lowest key strictly between dest and the best, first in
 * scan order among equals: both are the first entry of their key in the sorted table. */
static void tree_keys_sorted(const pc_router *r, best *b, const uint8_t dest[PC_KEY_LEN],
                             uint64_t dh, bool bootstrap)
{
    const pc_tree_cand *c = r->cands;
    size_t lo = 0, hi = r->n_cands;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c[mid].head < dh || (c[mid].head == dh && key_cmp(c[mid].key, dest) < 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t j = lo;
    if (j < r->n_cands && key_cmp(c[j].key, dest) == 0) {
        if (!bootstrap && key_cmp(b->key, dest) != 0) {
            take(b, c[j].key, c[j].head, 0, c[j].port);
            return;
        }
        while (j < r->n_cands && key_cmp(c[j].key, dest) == 0)
            j++;
    }
    if (j < r->n_cands && key_cmp(c[j].key, b->key) < 0)
        take(b, c[j].key, c[j].head, 0, c[j].port);
}

/* Steps 3b and 4 as the spec writes them, for when the sorted table cannot be built. */
static void tree_keys_scan(const pc_router *r, best *b, const uint8_t dest[PC_KEY_LEN],
                           uint64_t dh, bool bootstrap, bool parent_up)
{
    if (parent_up) {
        const pc_stored_ann *sa = r->peers[r->parent].ann;
        for (size_t i = 0; i < sa->ann.n_entries; i++)
            consider(b, dest, dh, bootstrap, sa->ann.entries[i].key, sa->head[i], 0, r->parent);
    }
    for (int p = 1; p <= r->max_port; p++) {
        const pc_stored_ann *sa = r->peers[p].up ? r->peers[p].ann : NULL;
        if (!sa || (p == r->parent && parent_up))
            continue;
        for (size_t i = 0; i < sa->ann.n_entries; i++)
            consider(b, dest, dh, bootstrap, sa->ann.entries[i].key, sa->head[i], 0, p);
    }
}

pc_hop pcs_next_hop(pc_router *r, const uint8_t dest[PC_KEY_LEN], bool bootstrap,
                    const pc_watermark *w, uint64_t now)
{
    pc_hop h;
    if (!bootstrap && key_cmp(dest, r->pk) == 0) {
        h.port = 0;
        h.wm = *w;
        return h;
    }
    best b;
    take(&b, r->pk, key_head(r->pk), 0, bootstrap ? PC_PORT_NONE : 0);
    uint64_t dh = key_head(dest);

    /* Towards the root: the root is the highest key, so it is "above" everyone. */
    bool parent_up = r->parent && r->peers[r->parent].up && r->peers[r->parent].ann;
    if (parent_up) {
        const pc_announcement *pa = &r->peers[r->parent].ann->ann;
        if ((bootstrap && key_cmp(b.key, dest) == 0) || key_ordered(b.key, dest, pa->root_key))
            take(&b, pa->root_key, key_head(pa->root_key), 0, r->parent);
    }
    /* Every key on the parent's path to the root, then on every other peer's (not the
     * parent's again: a key consider() has looked at once can never win later, as the
     * best only moves towards dest). */
    if (!r->cands_dirty || build_cands(r, parent_up))
        tree_keys_sorted(r, &b, dest, dh, bootstrap);
    else
        tree_keys_scan(r, &b, dest, dh, bootstrap, parent_up);
    /* Prefer a direct link to the best key over reaching it through someone else. */
    for (int p = 1; p <= r->max_port; p++) {
        const pc_peer *peer = &r->peers[p];
        if (peer->up && peer->ann && key_cmp(peer->key, b.key) == 0) {
            b.seq = 0;
            b.port = p;
        }
    }
    /* The routing table, skipping entries whose watermark is worse than the frame's.
     * consider() over every entry would end on the usable exact match (non-bootstrap)
     * if there is one, else on the usable entry with the lowest key strictly between
     * dest and the best so far; keys are unique, so walking the key index upwards from
     * dest and stopping at the first such entry gives the same answer. With the best
     * already at dest nothing can replace it. */
    if (key_cmp(b.key, dest) != 0) {
        for (size_t j = lower_bound(r, dest); j < r->n_routes; j++) {
            const pc_route *e = by_rank(r, j);
            bool exact = key_cmp(e->key, dest) == 0;
            if (exact && bootstrap)
                continue;
            if (!exact && key_cmp(e->key, b.key) >= 0)
                break;
            if (!r->peers[e->src].up || expired(e, now) || wm_worse(&e->wm, w))
                continue;
            take(&b, e->key, r->route_head[j], e->wm.seq, e->src);
            break;
        }
    }
    /* Several links to the best key: same root and earliest announcement wins. */
    if (b.port > 0 && r->peers[b.port].ann) {
        for (int p = 1; p <= r->max_port; p++) {
            const pc_peer *peer = &r->peers[p];
            const pc_stored_ann *cur = r->peers[b.port].ann;
            if (!peer->up || !peer->ann || p == b.port || key_cmp(peer->key, b.key) != 0)
                continue;
            if (key_cmp(peer->ann->ann.root_key, cur->ann.root_key) == 0 &&
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
    return key_cmp(rk, key) == 0 && rs == seq;
}

static void set_descending(pc_router *r, const pc_route *e)
{
    bool changed = !r->have_desc || key_cmp(r->desc.key, e->key) != 0;
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
    if (e && key_cmp(e->root_key, m.root_key) == 0 && e->root_seq == m.root_seq &&
        m.seq <= e->wm.seq) {
        r->counters.dropped_bootstrap++; /* replay or loop */
        return;
    }
    if (!e) {
        if (r->n_routes == PC_MAX_ROUTES) {
            r->counters.dropped_bootstrap++;
            return;
        }
        e = insert_route(r, f->dest_key);
    }
    e->src = from;
    e->dst = h.port > 0 ? h.port : PC_PORT_NONE;
    e->last_seen = now;
    memcpy(e->root_key, m.root_key, PC_KEY_LEN);
    e->root_seq = m.root_seq;
    memcpy(e->wm.key, f->dest_key, PC_KEY_LEN);
    e->wm.seq = m.seq;

    if (key_cmp(e->key, r->pk) < 0) {
        bool valid = r->have_desc && !expired(&r->desc, now);
        if (!valid || key_cmp(r->desc.key, e->key) == 0 ||
            key_ordered(r->desc.key, e->key, r->pk))
            set_descending(r, e);
    }
    if (h.port <= 0)
        return; /* dead end: we are the successor */
    if (h.port == from || wm_worse(&h.wm, &f->watermark)) {
        r->counters.dropped_bootstrap_watermark++;
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
    pcr_signed_msg_made(r, msg, mlen);
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

static bool drop_expired(const pc_route *e, int arg, uint64_t now)
{
    (void)arg;
    return expired(e, now);
}

static bool drop_via_port(const pc_route *e, int port, uint64_t now)
{
    (void)now;
    return e->src == port || e->dst == port;
}

void pcs_tick(pc_router *r, uint64_t now)
{
    if (r->have_desc) {
        if (expired(&r->desc, now) || !same_root(r, r->desc.root_key, r->desc.root_seq))
            clear_descending(r);
    }
    remove_routes(r, drop_expired, 0, now);
    if (r->bootstrap_due || now - r->last_bootstrap >= PC_BOOTSTRAP_INTERVAL)
        bootstrap_now(r, now);
}

void pcs_peer_down(pc_router *r, int port)
{
    remove_routes(r, drop_via_port, port, 0);
    if (r->have_desc && r->desc.src == port)
        r->have_desc = false;
}

void pcs_reset(pc_router *r)
{
    r->n_routes = 0;
    r->have_desc = false;
    r->bootstrap_due = true;
}
