/* pc_router: the router core's entry points (see pc_router.h): peer lifecycle, frame
 * dispatch, the forwarding pipeline for traffic (hybrid tree/SNEK routing, hop
 * limiting), wakeup broadcasts, the coordinate cache, per-peer bounded output queues,
 * timers and the status getters. Tree and SNEK rules live in pc_tree.c and pc_snek.c.
 * Frames go straight to the send callback when the port's queues are empty; they are
 * copied into a queue only while the transport pushes back (PC_ERR_WOULDBLOCK). */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "pinecone/pc_handshake.h"
#include "pinecone/pc_router_int.h"

void pc_router_config_default(pc_router_config *cfg)
{
    *cfg = (pc_router_config){0}; /* fields added later (the verifier) start empty */
    cfg->keepalives = true;
    cfg->hop_limiting = true;
    cfg->broadcasts = true;
}

static void start_state(pc_router *r, uint64_t now)
{
    /* Go's root timer fires at start: sequence becomes 1 on a fresh router and
     * increments on every reset. */
    r->sequence++;
    r->parent = 0;
    r->cands_dirty = true;
    r->waiting = false;
    r->next_root_announce = now + PC_ROOT_ANNOUNCE_INTERVAL;
    pcs_reset(r);
    r->next_snek_tick = now;
    pcr_cache_clear(r);
    r->n_seen = 0;
}

int pc_router_new(pc_router **out, const uint8_t seed[PC_SEED_LEN], const pc_router_config *cfg,
                  const pc_router_callbacks *cb, void *user_data, uint64_t now)
{
    if (!out || !seed || !cb || !cb->send_frame || !cb->deliver)
        return PC_ERR_INVALID;
    pc_router *r = calloc(1, sizeof *r);
    if (!r)
        return PC_ERR_NOMEM;
    r->routes = calloc(PC_MAX_ROUTES, sizeof *r->routes);
    r->route_order = calloc(PC_MAX_ROUTES, sizeof *r->route_order);
    r->route_head = calloc(PC_MAX_ROUTES, sizeof *r->route_head);
    r->seen = calloc(PC_MAX_BROADCAST_SEEN, sizeof *r->seen);
    r->cache = calloc(PC_MAX_COORDS_CACHE, sizeof *r->cache);
    if (!r->routes || !r->route_order || !r->route_head || !r->seen || !r->cache || pc_keypair_from_seed(seed, r->pk, r->sk)) {
        pc_router_free(r);
        return PC_ERR_NOMEM;
    }
    r->cb = *cb;
    r->ud = user_data;
    if (cfg)
        r->cfg = *cfg;
    else
        pc_router_config_default(&r->cfg);
    start_state(r, now);
    r->next_broadcast = now + PC_BROADCAST_INTERVAL;
    r->next_cleanup = now + PC_COORDS_CACHE_CLEANUP;
    *out = r;
    return PC_OK;
}

static void release_peer(pc_peer *p)
{
    free(p->ann);
    pc_queue_clear(&p->proto);
    pc_queue_clear(&p->traffic);
    memset(p, 0, sizeof *p);
}

void pc_router_free(pc_router *r)
{
    if (!r)
        return;
    for (int p = 1; p <= r->max_port; p++)
        release_peer(&r->peers[p]);
    free(r->routes);
    free(r->route_order);
    free(r->route_head);
    free(r->seen);
    free(r->cache);
    free(r->signed_prefix);
    free(r->cands);
    sodium_memzero(r->sk, sizeof r->sk);
    free(r);
}

int pc_router_free_port(const pc_router *r)
{
    for (int p = 1; p <= r->max_port; p++)
        if (!r->peers[p].up)
            return p;
    return r->max_port < PC_MAX_PORT ? r->max_port + 1 : 0;
}

static bool valid_port(int port) { return port >= 1 && port <= PC_MAX_PORT; }

/* ---- output ---- */

static bool is_proto(uint8_t type) { return type != PC_FRAME_TRAFFIC; }

static void account_tx(pc_router *r, pc_peer *p, uint8_t type, size_t len)
{
    r->counters.frames_out++;
    if (is_proto(type))
        p->tx_proto_bytes += len;
    else
        p->tx_traffic_bytes += len;
}

/* Drains the port's queues (protocol first) until empty or the transport blocks. */
static void flush_port(pc_router *r, int port)
{
    pc_peer *p = &r->peers[port];
    while (p->up && !p->blocked) {
        pc_queue *q = p->proto.count ? &p->proto : &p->traffic;
        const pc_qframe *qf = pc_queue_peek(q);
        if (!qf)
            return;
        int rc = r->cb.send_frame(r, port, qf->data, qf->len, r->ud);
        if (rc == PC_ERR_WOULDBLOCK) {
            p->blocked = true;
            return;
        }
        account_tx(r, p, qf->data[5], qf->len);
        p->last_tx = r->now;
        pc_queue_pop(q);
    }
}

void pcr_queue_frame(pc_router *r, int port, const pc_frame *f)
{
    pc_peer *p = &r->peers[port];
    if (!valid_port(port) || !p->up)
        return;
    size_t n;
    if (pc_frame_encode(f, r->scratch, sizeof r->scratch, &n))
        return;
    bool proto = is_proto(f->type);
    if (!p->blocked && !p->proto.count && !p->traffic.count) {
        int rc = r->cb.send_frame(r, port, r->scratch, n, r->ud);
        if (rc != PC_ERR_WOULDBLOCK) {
            account_tx(r, p, f->type, n);
            p->last_tx = r->now;
            return;
        }
        p->blocked = true;
    }
    int rc = proto ? pc_queue_push(&p->proto, PC_PROTO_QUEUE_MAX, r->scratch, n, false)
                   : pc_queue_push(&p->traffic, PC_TRAFFIC_QUEUE_MAX, r->scratch, n, true);
    if (rc == PC_ERR_QUEUE_FULL)
        r->counters.dropped_queue_full++;
}

void pc_router_peer_writable(pc_router *r, int port, uint64_t now)
{
    if (!valid_port(port) || !r->peers[port].up)
        return;
    r->now = now;
    r->peers[port].blocked = false;
    flush_port(r, port);
}

/* ---- peers ---- */

int pc_router_peer_up(pc_router *r, int port, const uint8_t peer_key[PC_KEY_LEN], uint64_t now)
{
    if (!valid_port(port) || !peer_key)
        return PC_ERR_INVALID;
    pc_peer *p = &r->peers[port];
    if (p->up)
        return PC_ERR_PORT_IN_USE;
    memset(p, 0, sizeof *p);
    p->up = true;
    r->cands_dirty = true;
    if (port > r->max_port)
        r->max_port = port;
    memcpy(p->key, peer_key, PC_KEY_LEN);
    p->last_rx = p->last_tx = now;
    r->now = now;
    pct_send_announcement(r, port);
    return PC_OK;
}

static bool any_peer_up(const pc_router *r)
{
    for (int p = 1; p <= r->max_port; p++)
        if (r->peers[p].up)
            return true;
    return false;
}

int pc_router_peer_down(pc_router *r, int port, uint64_t now)
{
    if (!valid_port(port) || !r->peers[port].up)
        return PC_ERR_NO_PEER;
    r->now = now;
    release_peer(&r->peers[port]);
    r->cands_dirty = true;
    if (!any_peer_up(r)) {
        start_state(r, now);
        return PC_OK;
    }
    pcs_peer_down(r, port);
    if (port == r->parent && pct_select_parent(r, now))
        r->bootstrap_due = true;
    return PC_OK;
}

void pcr_close_peer(pc_router *r, int port, int reason, uint64_t now)
{
    pc_router_peer_down(r, port, now);
    if (r->cb.peer_closed)
        r->cb.peer_closed(r, port, reason, r->ud);
}

uint64_t pcr_next_msg_seq(pc_router *r, uint64_t now)
{
    /* Go uses Unix milliseconds; receivers need them strictly increasing per source. */
    r->last_msg_seq = now > r->last_msg_seq ? now : r->last_msg_seq + 1;
    return r->last_msg_seq;
}

/* Tells the sign observer about a bootstrap or broadcast message we just built. */
void pcr_signed_msg_made(pc_router *r, const uint8_t *msg, size_t len)
{
    pc_signed_msg m;
    if (r->cfg.signed_obs.fn && pc_signed_msg_decode(msg, len, &m) == PC_OK)
        r->cfg.signed_obs.fn(r->cfg.signed_obs.ctx, m.sig, m.signed_part, m.signed_len, r->pk);
}

/* ---- coordinate cache ---- */

void pcr_cache_clear(pc_router *r) { r->n_cache = 0; }

static pc_cache_entry *cache_find(pc_router *r, const uint8_t key[PC_KEY_LEN])
{
    for (size_t i = 0; i < r->n_cache; i++)
        if (pc_key_cmp(r->cache[i].key, key) == 0)
            return &r->cache[i];
    return NULL;
}

static void cache_put(pc_router *r, const uint8_t key[PC_KEY_LEN], const pc_coords *c,
                      uint64_t now)
{
    pc_cache_entry *e = cache_find(r, key);
    if (!e) {
        if (r->n_cache == PC_MAX_COORDS_CACHE) {
            size_t oldest = 0; /* full: replace the least recently seen */
            for (size_t i = 1; i < r->n_cache; i++)
                if (r->cache[i].last_seen < r->cache[oldest].last_seen)
                    oldest = i;
            e = &r->cache[oldest];
        } else {
            e = &r->cache[r->n_cache++];
        }
        memcpy(e->key, key, PC_KEY_LEN);
    }
    e->coords = *c;
    e->last_seen = now;
}

static void cache_cleanup(pc_router *r, uint64_t now)
{
    size_t k = 0;
    for (size_t i = 0; i < r->n_cache; i++)
        if (now - r->cache[i].last_seen < PC_COORDS_CACHE_LIFETIME)
            r->cache[k++] = r->cache[i];
    r->n_cache = k;
    k = 0;
    for (size_t i = 0; i < r->n_seen; i++)
        if (now - r->seen[i].at < PC_BROADCAST_SEEN_EXPIRY)
            r->seen[k++] = r->seen[i];
    r->n_seen = k;
}

/* ---- traffic ---- */

/* The forwarding pipeline for traffic (§6.1), for received and locally sent frames
 * (from = 0). Returns PC_OK, or PC_ERR_NO_ROUTE when the frame was dropped. */
static int forward_traffic(pc_router *r, pc_frame *f, int from, uint64_t now)
{
    if (pc_key_cmp(f->dest_key, r->pk) == 0) {
        if (f->src_coords.len)
            cache_put(r, f->src_key, &f->src_coords, now);
        r->counters.traffic_delivered++;
        r->cb.deliver(r, f->src_key, f->payload, f->payload_len, r->ud);
        return PC_OK;
    }
    int next = PC_PORT_NONE;
    pc_watermark wm = f->watermark;
    if (f->dest_coords.len) {
        next = pct_next_hop(r, &f->dest_coords, from);
        if (next == PC_PORT_NONE) {
            f->dest_coords.len = 0; /* fall back to SNEK form */
            pc_watermark_init(&f->watermark);
            wm = f->watermark;
        }
    }
    if (!f->dest_coords.len) {
        pc_hop h = pcs_next_hop(r, f->dest_key, false, &f->watermark, now);
        next = h.port;
        wm = h.wm;
    }
    if (next <= 0) {
        /* Go would hand a frame for another key to the local application, which
         * discards it; dropping is equivalent on the wire. */
        r->counters.dropped_no_route++;
        return PC_ERR_NO_ROUTE;
    }
    if (r->cfg.hop_limiting) {
        if (f->hop_limit <= 1) {
            r->counters.dropped_hop_limit++;
            return PC_ERR_NO_ROUTE;
        }
        f->hop_limit--;
    }
    if (next == from || pc_watermark_worse(&wm, &f->watermark)) {
        r->counters.dropped_watermark++;
        return PC_ERR_NO_ROUTE;
    }
    f->watermark = wm;
    if (from)
        r->counters.traffic_forwarded++;
    pcr_queue_frame(r, next, f);
    return PC_OK;
}

int pc_router_send_traffic(pc_router *r, const uint8_t dest[PC_KEY_LEN], const uint8_t *payload,
                           size_t len, uint64_t now)
{
    if (!dest || (len && !payload))
        return PC_ERR_INVALID;
    if (len > PC_MAX_DATAGRAM)
        return PC_ERR_TOO_LONG;
    r->now = now;
    pc_frame f = {.type = PC_FRAME_TRAFFIC, .hop_limit = PC_HOP_LIMIT_TRAFFIC, .dest_key = dest,
                  .src_key = r->pk, .payload = payload, .payload_len = len};
    pct_coords(r, &f.src_coords);
    pc_watermark_init(&f.watermark);
    pc_cache_entry *e = cache_find(r, dest);
    if (e && now - e->last_seen < PC_COORDS_CACHE_LIFETIME)
        f.dest_coords = e->coords;
    return forward_traffic(r, &f, 0, now);
}

/* ---- wakeup broadcasts ---- */

static bool port_preferred(const pc_router *r, int a, int b)
{
    uint64_t oa = r->peers[a].ann ? r->peers[a].ann->order : UINT64_MAX;
    uint64_t ob = r->peers[b].ann ? r->peers[b].ann->order : UINT64_MAX;
    return oa != ob ? oa < ob : a < b;
}

static bool flood_eligible(const pc_router *r, int p, int from, bool classic, const pc_coords *ours)
{
    const pc_peer *peer = &r->peers[p];
    if (!peer->up || p == from)
        return false;
    if (classic)
        return true;
    return peer->ann && pc_coords_distance(&peer->ann->peer_coords, ours) == 1;
}

/* Sends f to every eligible peer, once per peer key (§7). */
static void flood(pc_router *r, const pc_frame *f, int from, bool classic)
{
    pc_coords ours;
    pct_coords(r, &ours);
    for (int p = 1; p <= r->max_port; p++) {
        if (!flood_eligible(r, p, from, classic, &ours))
            continue;
        bool dup = false;
        for (int q = 1; q <= r->max_port && !dup; q++)
            dup = q != p && flood_eligible(r, q, from, classic, &ours) &&
                  pc_key_cmp(r->peers[q].key, r->peers[p].key) == 0 && port_preferred(r, q, p);
        if (!dup)
            pcr_queue_frame(r, p, f);
    }
}

static int build_wakeup(pc_router *r, uint64_t now, uint8_t *msg, pc_frame *f)
{
    const uint8_t *root_key;
    uint64_t root_seq;
    pct_current_root(r, &root_key, &root_seq);
    size_t mlen;
    int rc = pc_signed_msg_build(pcr_next_msg_seq(r, now), root_key, root_seq, r->sk, msg,
                                 PC_SIGNED_MSG_MAX, &mlen);
    if (rc == PC_OK)
        pcr_signed_msg_made(r, msg, mlen);
    *f = (pc_frame){.type = PC_FRAME_WAKEUP_BROADCAST, .hop_limit = PC_HOP_LIMIT_BROADCAST,
                    .src_key = r->pk, .payload = msg, .payload_len = mlen};
    return rc;
}

void pcr_send_wakeup_to(pc_router *r, int port, uint64_t now)
{
    uint8_t msg[PC_SIGNED_MSG_MAX];
    pc_frame f;
    if (build_wakeup(r, now, msg, &f) == PC_OK)
        pcr_queue_frame(r, port, &f);
}

void pc_router_send_wakeup(pc_router *r, uint64_t now)
{
    r->now = now;
    uint8_t msg[PC_SIGNED_MSG_MAX];
    pc_frame f;
    if (build_wakeup(r, now, msg, &f) == PC_OK)
        flood(r, &f, 0, true);
}

static int handle_broadcast(pc_router *r, int from, pc_frame *f, uint64_t now)
{
    pc_signed_msg m;
    int rc = pc_signed_msg_decode(f->payload, f->payload_len, &m);
    if (!rc)
        rc = pc_signed_msg_verify(&m, f->src_key, &r->cfg.verifier);
    if (rc)
        return rc;
    const uint8_t *root_key;
    uint64_t root_seq;
    pct_current_root(r, &root_key, &root_seq);
    if (pc_key_cmp(m.root_key, root_key) != 0)
        return PC_OK;
    pc_seen *s = NULL;
    for (size_t i = 0; i < r->n_seen && !s; i++)
        if (pc_key_cmp(r->seen[i].key, f->src_key) == 0)
            s = &r->seen[i];
    if (s && (now - s->at < PC_BROADCAST_MIN_SPACING || m.seq <= s->seq))
        return PC_OK;
    if (!s) {
        if (r->n_seen == PC_MAX_BROADCAST_SEEN)
            return PC_OK; /* filter full: refuse rather than forget and re-flood */
        s = &r->seen[r->n_seen++];
        memcpy(s->key, f->src_key, PC_KEY_LEN);
    }
    s->seq = m.seq;
    s->at = now;
    r->counters.broadcasts_received++;
    if (r->cb.broadcast_received)
        r->cb.broadcast_received(r, f->src_key, r->ud);
    if (f->hop_limit <= 1)
        return PC_OK;
    f->hop_limit--;
    flood(r, f, from, f->hop_limit >= 4);
    return PC_OK;
}

/* ---- receive ---- */

int pc_router_recv(pc_router *r, int port, const uint8_t *frame, size_t len, uint64_t now)
{
    if (!valid_port(port) || !r->peers[port].up)
        return PC_ERR_NO_PEER;
    r->now = now;
    pc_peer *peer = &r->peers[port];
    peer->last_rx = now;
    r->counters.frames_in++;
    pc_frame f;
    int rc = pc_frame_decode(frame, len, &f);
    if (rc == PC_ERR_UNKNOWN_TYPE) {
        r->counters.dropped_unknown++;
        return PC_OK;
    }
    if (rc) {
        pcr_close_peer(r, port, rc, now);
        return rc;
    }
    if (is_proto(f.type))
        peer->rx_proto_bytes += len;
    else
        peer->rx_traffic_bytes += len;
    switch (f.type) {
    case PC_FRAME_KEEPALIVE:
        break;
    case PC_FRAME_TREE_ANNOUNCEMENT:
        rc = pct_handle_announcement(r, port, &f, now);
        break;
    case PC_FRAME_BOOTSTRAP:
        pcs_handle_bootstrap(r, port, &f, now);
        break;
    case PC_FRAME_TRAFFIC:
        forward_traffic(r, &f, port, now);
        break;
    case PC_FRAME_WAKEUP_BROADCAST:
        rc = handle_broadcast(r, port, &f, now);
        break;
    }
    if (rc) {
        pcr_close_peer(r, port, rc, now);
        return rc;
    }
    return PC_OK;
}

/* ---- timers ---- */

void pc_router_handle_timeout(pc_router *r, uint64_t now)
{
    r->now = now;
    if (r->waiting && now >= r->wait_until)
        pct_reparent_timeout(r, now);
    if (now >= r->next_root_announce) {
        if (r->parent == 0) {
            r->sequence++;
            pct_announce_all(r);
        }
        r->next_root_announce = now + PC_ROOT_ANNOUNCE_INTERVAL;
    }
    if (now >= r->next_snek_tick) {
        pcs_tick(r, now);
        r->next_snek_tick = now + PC_SNEK_TICK;
    }
    if (now >= r->next_broadcast) {
        if (r->cfg.broadcasts)
            pc_router_send_wakeup(r, now);
        r->next_broadcast = now + PC_BROADCAST_INTERVAL;
    }
    if (now >= r->next_cleanup) {
        cache_cleanup(r, now);
        r->next_cleanup = now + PC_COORDS_CACHE_CLEANUP;
    }
    if (!r->cfg.keepalives)
        return;
    for (int p = 1; p <= r->max_port; p++) {
        pc_peer *peer = &r->peers[p];
        if (!peer->up)
            continue;
        if (now - peer->last_rx >= PC_KEEPALIVE_TIMEOUT) {
            pcr_close_peer(r, p, PC_ERR_PEER_TIMEOUT, now);
            continue;
        }
        if (now - peer->last_tx >= PC_KEEPALIVE_INTERVAL && !peer->proto.count &&
            !peer->traffic.count) {
            pc_frame ka = {.type = PC_FRAME_KEEPALIVE};
            pcr_queue_frame(r, p, &ka);
        }
    }
}

static uint64_t min64(uint64_t a, uint64_t b) { return a < b ? a : b; }

uint64_t pc_router_next_deadline(const pc_router *r)
{
    uint64_t d = min64(r->next_root_announce, r->next_snek_tick);
    d = min64(d, r->next_broadcast);
    d = min64(d, r->next_cleanup);
    if (r->waiting)
        d = min64(d, r->wait_until);
    if (r->cfg.keepalives) {
        for (int p = 1; p <= r->max_port; p++) {
            const pc_peer *peer = &r->peers[p];
            if (!peer->up)
                continue;
            d = min64(d, peer->last_rx + PC_KEEPALIVE_TIMEOUT);
            d = min64(d, peer->last_tx + PC_KEEPALIVE_INTERVAL);
        }
    }
    return d;
}

/* ---- status ---- */

const uint8_t *pc_router_public_key(const pc_router *r) { return r->pk; }

void pc_router_root(const pc_router *r, uint8_t key[PC_KEY_LEN], uint64_t *seq)
{
    const uint8_t *k;
    pct_current_root(r, &k, seq);
    memcpy(key, k, PC_KEY_LEN);
}

void pc_router_coords(const pc_router *r, pc_coords *out) { pct_coords(r, out); }

int pc_router_parent(const pc_router *r) { return r->parent; }

int pc_router_peer_status(const pc_router *r, int port, pc_peer_status *out)
{
    if (!valid_port(port) || !r->peers[port].up)
        return PC_ERR_NO_PEER;
    const pc_peer *p = &r->peers[port];
    memset(out, 0, sizeof *out);
    out->port = port;
    memcpy(out->key, p->key, PC_KEY_LEN);
    if (p->ann) {
        out->has_announcement = true;
        pc_announcement_coords(&p->ann->ann, &out->coords);
        out->peer_coords = p->ann->peer_coords;
        memcpy(out->root_key, p->ann->ann.root_key, PC_KEY_LEN);
        out->root_seq = p->ann->ann.root_seq;
        out->order = p->ann->order;
    }
    out->proto_queued = p->proto.count;
    out->traffic_queued = p->traffic.count;
    out->proto_dropped = p->proto.dropped;
    out->traffic_dropped = p->traffic.dropped;
    out->rx_proto_bytes = p->rx_proto_bytes;
    out->rx_traffic_bytes = p->rx_traffic_bytes;
    out->tx_proto_bytes = p->tx_proto_bytes;
    out->tx_traffic_bytes = p->tx_traffic_bytes;
    return PC_OK;
}

static void path_status(const pc_route *e, pc_path_status *out)
{
    memcpy(out->key, e->key, PC_KEY_LEN);
    out->src_port = e->src;
    out->dst_port = e->dst > 0 ? e->dst : 0;
    out->last_seen = e->last_seen;
    memcpy(out->root_key, e->root_key, PC_KEY_LEN);
    out->root_seq = e->root_seq;
    out->watermark = e->wm;
}

bool pc_router_descending(const pc_router *r, pc_path_status *out)
{
    if (!r->have_desc)
        return false;
    path_status(&r->desc, out);
    return true;
}

size_t pc_router_paths(const pc_router *r, pc_path_status *out, size_t cap)
{
    for (size_t i = 0; i < r->n_routes && i < cap; i++)
        path_status(&r->routes[i], &out[i]);
    return r->n_routes;
}

size_t pc_router_coords_cache(const pc_router *r, pc_cache_status *out, size_t cap)
{
    for (size_t i = 0; i < r->n_cache && i < cap; i++) {
        memcpy(out[i].key, r->cache[i].key, PC_KEY_LEN);
        out[i].coords = r->cache[i].coords;
        out[i].last_seen = r->cache[i].last_seen;
    }
    return r->n_cache;
}

void pc_router_get_counters(const pc_router *r, pc_router_counters *out) { *out = r->counters; }
