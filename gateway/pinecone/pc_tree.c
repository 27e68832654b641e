/* pc_tree: the spanning tree (spec §4): the current root announcement, re-signing it
 * for each peer, the announcement decision table, parent selection, becoming root and
 * greedy next-hop selection on coordinates. The root is the highest key; a node's
 * coordinates are the ports of its parent's announcement. What it does not do: it never
 * sends frames itself (pcr_queue_frame does) and never reads a clock. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "pinecone/pc_router_int.h"

void pct_current_root(const pc_router *r, const uint8_t **key, uint64_t *seq)
{
    if (r->parent && r->peers[r->parent].ann) {
        *key = r->peers[r->parent].ann->ann.root_key;
        *seq = r->peers[r->parent].ann->ann.root_seq;
    } else {
        *key = r->pk;
        *seq = r->sequence;
    }
}

void pct_coords(const pc_router *r, pc_coords *out)
{
    if (r->parent && r->peers[r->parent].ann)
        pc_announcement_coords(&r->peers[r->parent].ann->ann, out);
    else
        out->len = 0;
}

/* Our signature of the announcement prefix p[0..n): made once per distinct prefix
 * (see pc_router_int.h) and reported to the sign observer. NULL when out of memory. */
static const uint8_t *prefix_signature(pc_router *r, const uint8_t *p, size_t n)
{
    if (r->signed_prefix && r->signed_prefix_len == n && memcmp(r->signed_prefix, p, n) == 0)
        return r->prefix_sig;
    if (n > r->signed_prefix_cap) {
        uint8_t *b = realloc(r->signed_prefix, n);
        if (!b)
            return NULL;
        r->signed_prefix = b;
        r->signed_prefix_cap = n;
    }
    crypto_sign_detached(r->prefix_sig, NULL, p, n, r->sk);
    memcpy(r->signed_prefix, p, n);
    r->signed_prefix_len = n;
    if (r->cfg.signed_obs.fn)
        r->cfg.signed_obs.fn(r->cfg.signed_obs.ctx, r->prefix_sig, p, n, r->pk);
    return r->prefix_sig;
}

void pct_send_announcement(pc_router *r, int port)
{
    /* Payload = current announcement (the parent's stored bytes, or our own root
     * prefix) with our signature entry for this port appended: the layout of
     * pc_announcement_sign_append, varu64 port || our key || signature of the prefix. */
    uint8_t *payload = r->scratch + 12; /* leave room to build the frame around it */
    size_t plen, cap = PC_MAX_FRAME - 12;
    const pc_stored_ann *pa = r->parent ? r->peers[r->parent].ann : NULL;
    if (pa) {
        plen = pa->ann.raw_len;
        if (plen + PC_VARU64_MAX + PC_KEY_LEN + PC_SIG_LEN > cap)
            return; /* a tree this deep cannot be announced within 65535 bytes */
        memcpy(payload, pa->ann.raw, plen);
    } else {
        plen = pc_announcement_root(r->pk, r->sequence, payload);
    }
    const uint8_t *sig = prefix_signature(r, payload, plen);
    if (!sig)
        return;
    plen += pc_varu64_put(payload + plen, (uint64_t)port);
    memcpy(payload + plen, r->pk, PC_KEY_LEN);
    plen += PC_KEY_LEN;
    memcpy(payload + plen, sig, PC_SIG_LEN);
    plen += PC_SIG_LEN;
    uint8_t *copy = malloc(plen);
    if (!copy)
        return;
    memcpy(copy, payload, plen);
    pc_frame f = {.type = PC_FRAME_TREE_ANNOUNCEMENT, .payload = copy, .payload_len = plen};
    pcr_queue_frame(r, port, &f);
    free(copy);
}

void pct_announce_all(pc_router *r)
{
    for (int p = 1; p <= r->max_port; p++)
        if (r->peers[p].up)
            pct_send_announcement(r, p);
}

/* Sets the parent (0 = root) and clears the coordinate cache if the root key changed. */
static void set_parent(pc_router *r, int port)
{
    const uint8_t *old_key;
    uint64_t old_seq;
    uint8_t before[PC_KEY_LEN];
    pct_current_root(r, &old_key, &old_seq);
    memcpy(before, old_key, PC_KEY_LEN);
    r->parent = port;
    r->cands_dirty = true;
    const uint8_t *new_key;
    uint64_t new_seq;
    pct_current_root(r, &new_key, &new_seq);
    if (pc_key_cmp(before, new_key) != 0)
        pcr_cache_clear(r);
}

void pct_become_root(pc_router *r)
{
    if (r->parent == 0)
        return;
    r->sequence++;
    set_parent(r, 0);
    pct_announce_all(r);
}

bool pct_select_parent(pc_router *r, uint64_t now)
{
    const uint8_t *root_key;
    uint64_t best_seq;
    pct_current_root(r, &root_key, &best_seq);
    uint8_t best_key[PC_KEY_LEN];
    memcpy(best_key, root_key, PC_KEY_LEN);
    if (pc_key_cmp(r->pk, best_key) > 0) {
        memcpy(best_key, r->pk, PC_KEY_LEN);
        best_seq = 0;
    }
    uint64_t best_order = UINT64_MAX;
    int best_port = 0;
    for (int p = 1; p <= r->max_port; p++) {
        const pc_stored_ann *sa = r->peers[p].up ? r->peers[p].ann : NULL;
        if (!sa)
            continue;
        if (now - sa->received > PC_ANNOUNCEMENT_TIMEOUT)
            continue;
        if (pc_announcement_has_signer(&sa->ann, r->pk))
            continue;
        int c = pc_key_cmp(sa->ann.root_key, best_key);
        bool take;
        if (c != 0)
            take = c > 0;
        else if (sa->ann.root_seq != best_seq)
            take = sa->ann.root_seq > best_seq;
        else
            take = sa->order < best_order;
        if (take) {
            memcpy(best_key, sa->ann.root_key, PC_KEY_LEN);
            best_seq = sa->ann.root_seq;
            best_order = sa->order;
            best_port = p;
        }
    }
    if (best_port) {
        if (best_port == r->parent)
            return false;
        set_parent(r, best_port);
        pct_announce_all(r);
        return true;
    }
    pct_become_root(r);
    return false;
}

/* "Reparent with wait": bad news from the parent. Become root now, and only look for a
 * new parent after the hold, so stale announcements from our subtree die out first. */
static void reparent_with_wait(pc_router *r, uint64_t now)
{
    pct_become_root(r);
    r->waiting = true;
    r->wait_until = now + PC_REPARENT_WAIT;
}

void pct_reparent_timeout(pc_router *r, uint64_t now)
{
    r->waiting = false;
    if (pct_select_parent(r, now))
        r->bootstrap_due = true;
}

int pct_handle_announcement(pc_router *r, int port, const pc_frame *f, uint64_t now)
{
    pc_peer *peer = &r->peers[port];
    pc_stored_ann *sa = malloc(sizeof *sa + f->payload_len);
    if (!sa)
        return PC_OK; /* out of memory: ignore rather than punish the peer */
    memcpy(sa->raw, f->payload, f->payload_len);
    int rc = pc_announcement_decode(sa->raw, f->payload_len, &sa->ann);
    if (!rc)
        rc = pc_announcement_check(&sa->ann, peer->key);
    if (!rc)
        rc = pc_announcement_verify(&sa->ann, &r->cfg.verifier);
    if (!rc && peer->ann && pc_key_cmp(peer->ann->ann.root_key, sa->ann.root_key) == 0 &&
        sa->ann.root_seq < peer->ann->ann.root_seq)
        rc = PC_ERR_ANN_REPLAY;
    if (rc) {
        free(sa);
        return rc;
    }
    pc_announcement_peer_coords(&sa->ann, &sa->peer_coords);
    for (size_t i = 0; i < sa->ann.n_entries; i++)
        sa->head[i] = pcr_key_head(sa->ann.entries[i].key);
    sa->received = now;
    sa->order = ++r->ann_order;

    bool first = peer->ann == NULL;
    const uint8_t *last_key_p;
    uint64_t last_seq;
    pct_current_root(r, &last_key_p, &last_seq);
    uint8_t last_key[PC_KEY_LEN];
    memcpy(last_key, last_key_p, PC_KEY_LEN);

    free(peer->ann);
    peer->ann = sa;
    r->cands_dirty = true;
    const pc_announcement *a = &sa->ann;

    if (!r->waiting) {
        bool from_parent = port == r->parent;
        bool loop = pc_announcement_has_signer(a, r->pk);
        int delta = pc_key_cmp(a->root_key, last_key);
        if (from_parent) {
            if (loop || delta < 0 || (delta == 0 && a->root_seq == last_seq)) {
                reparent_with_wait(r, now);
            } else if (delta > 0 || a->root_seq > last_seq) {
                if (delta != 0)
                    pcr_cache_clear(r);
                pct_announce_all(r); /* AcceptUpdate, the parent included */
            }
        } else if (!loop) {
            if (delta > 0) {
                set_parent(r, port); /* AcceptNewParent */
                pct_announce_all(r);
            } else if (delta < 0) {
                if (!first)
                    pct_send_announcement(r, port); /* inform of our stronger root */
            } else if (pct_select_parent(r, now)) {
                r->bootstrap_due = true;
            }
        }
    }

    if (first) {
        bool other = false;
        for (int p = 1; p <= r->max_port && !other; p++)
            other = p != port && r->peers[p].up && r->peers[p].ann &&
                    pc_key_cmp(r->peers[p].key, peer->key) == 0;
        if (!other)
            pcr_send_wakeup_to(r, port, now);
    }
    return PC_OK;
}

int pct_next_hop(const pc_router *r, const pc_coords *dest, int from)
{
    pc_coords ours;
    pct_coords(r, &ours);
    size_t best = pc_coords_distance(&ours, dest);
    if (best == 0)
        return 0;
    const uint8_t *root_key;
    uint64_t root_seq;
    pct_current_root(r, &root_key, &root_seq);
    int cand = PC_PORT_NONE;
    for (int p = 1; p <= r->max_port; p++) {
        const pc_peer *peer = &r->peers[p];
        if (!peer->up || !peer->ann || p == from)
            continue;
        if (pc_key_cmp(peer->ann->ann.root_key, root_key) != 0 ||
            peer->ann->ann.root_seq != root_seq)
            continue;
        size_t d = pc_coords_distance(&peer->ann->peer_coords, dest);
        if (d < best) {
            best = d;
            cand = p;
        }
    }
    return cand;
}
