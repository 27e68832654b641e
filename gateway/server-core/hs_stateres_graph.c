/* hs_stateres_graph: the interned event graph behind auth chains and state resolution
 * (see hs_stateres_internal.h).
 *
 * Invariants: slots[] is a power-of-two open-addressing table over node indices kept at
 * most half full; every node's id is an owned copy; a node's auth edges are loaded at most
 * once and hold no duplicates. Cycles in auth_events (possible with forged v1-2 event IDs)
 * are harmless here: walks stop at marked nodes. */
#include "server-core/hs_stateres_internal.h"

#include <stdlib.h>
#include <string.h>

#include "server-core/hs_pdu.h"

static size_t hash_id(const char *s)
{
    size_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

void hs_sr_graph_init(hs_sr_graph *g, const hs_room_version *rv, const hs_event_lookup *lookup)
{
    memset(g, 0, sizeof *g);
    g->rv = rv;
    g->lookup = *lookup;
}

void hs_sr_graph_free(hs_sr_graph *g)
{
    for (size_t i = 0; i < g->n; i++) {
        free(g->nodes[i].id);
        free(g->nodes[i].auth);
    }
    free(g->nodes);
    free(g->slots);
    memset(g, 0, sizeof *g);
}

static int find_slot(const hs_sr_graph *g, const char *id, size_t *slot)
{
    size_t mask = g->n_slots - 1, s = hash_id(id) & mask;
    while (g->slots[s] >= 0) {
        if (strcmp(g->nodes[g->slots[s]].id, id) == 0) {
            *slot = s;
            return g->slots[s];
        }
        s = (s + 1) & mask;
    }
    *slot = s;
    return -1;
}

static int grow_slots(hs_sr_graph *g)
{
    size_t n = g->n_slots ? g->n_slots * 2 : 64;
    int *slots = malloc(n * sizeof *slots);
    if (!slots) return -1;
    for (size_t i = 0; i < n; i++) slots[i] = -1;
    free(g->slots);
    g->slots = slots;
    g->n_slots = n;
    for (size_t i = 0; i < g->n; i++) {
        size_t s;
        find_slot(g, g->nodes[i].id, &s);
        g->slots[s] = (int)i;
    }
    return 0;
}

int hs_sr_node_of(hs_sr_graph *g, const char *id, hs_err *err)
{
    size_t slot;
    if (!id) return hs_err_set(err, "event ID is not a string");
    if (g->n_slots) {
        int i = find_slot(g, id, &slot);
        if (i >= 0) return i;
    }
    bool rejected = false;
    const json_t *pdu = g->lookup.get(g->lookup.ctx, id, &rejected);
    if (!pdu) return hs_err_set(err, "unknown event %.80s", id);
    const char *type = hs_pdu_type(pdu), *sender = hs_pdu_sender(pdu);
    if (!type || !sender) return hs_err_set(err, "event %.80s has no string type or sender", id);
    if ((g->n + 1) * 2 > g->n_slots && grow_slots(g) != 0) return hs_err_set(err, "out of memory");
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 64;
        hs_sr_node *nodes = realloc(g->nodes, cap * sizeof *nodes);
        if (!nodes) return hs_err_set(err, "out of memory");
        g->nodes = nodes;
        g->cap = cap;
    }
    char *copy = strdup(id);
    if (!copy) return hs_err_set(err, "out of memory");
    long long ts = hs_pdu_origin_server_ts(pdu);
    g->nodes[g->n] = (hs_sr_node){
        .id = copy, .pdu = pdu, .type = type, .state_key = hs_pdu_state_key(pdu), .sender = sender,
        .ts = ts < 0 ? 0 : ts, .rejected = rejected, .pl_auth = -1,
    };
    find_slot(g, id, &slot);
    g->slots[slot] = (int)g->n;
    return (int)g->n++;
}

int hs_sr_load_auth(hs_sr_graph *g, int i, hs_err *err)
{
    if (g->nodes[i].auth_loaded) return 0;
    size_t n = hs_pdu_auth_event_count(g->nodes[i].pdu);
    int *auth = malloc((n ? n : 1) * sizeof *auth), k = 0, pl = -1;
    if (!auth) return hs_err_set(err, "out of memory");
    for (size_t j = 0; j < n; j++) {
        const char *aid = hs_pdu_auth_event(g->nodes[i].pdu, j);
        hs_err sub = {{0}};
        int a = hs_sr_node_of(g, aid, &sub);
        if (a < 0) {
            free(auth);
            return hs_err_set(err, "event %.80s: auth event: %s", g->nodes[i].id, sub.msg);
        }
        bool dup = false;
        for (int d = 0; d < k; d++) dup |= auth[d] == a;
        if (dup) continue;
        auth[k++] = a;
        const hs_sr_node *an = &g->nodes[a];
        if (pl < 0 && strcmp(an->type, "m.room.power_levels") == 0 && an->state_key && !an->state_key[0]) pl = a;
    }
    g->nodes[i].auth = auth;
    g->nodes[i].n_auth = k;
    g->nodes[i].pl_auth = pl;
    g->nodes[i].auth_loaded = true;
    return 0;
}

unsigned hs_sr_new_epoch(hs_sr_graph *g)
{
    if (++g->epoch == 0) {
        for (size_t i = 0; i < g->n; i++) g->nodes[i].mark = 0;
        g->epoch = 1;
    }
    return g->epoch;
}

long hs_sr_walk(hs_sr_graph *g, const int *starts, size_t n, int **out, hs_err *err)
{
    unsigned ep = hs_sr_new_epoch(g);
    size_t cap = n + 16, len = 0;
    int *list = malloc(cap * sizeof *list);
    if (!list) return hs_err_set(err, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (g->nodes[starts[i]].mark == ep) continue;
        g->nodes[starts[i]].mark = ep;
        list[len++] = starts[i];
    }
    /* list doubles as the BFS queue: everything before `head` has been expanded */
    for (size_t head = 0; head < len; head++) {
        int v = list[head];
        if (hs_sr_load_auth(g, v, err) != 0) {
            free(list);
            return -1;
        }
        for (int j = 0; j < g->nodes[v].n_auth; j++) {
            int a = g->nodes[v].auth[j];
            if (g->nodes[a].mark == ep) continue;
            g->nodes[a].mark = ep;
            if (len == cap) {
                int *bigger = realloc(list, cap * 2 * sizeof *list);
                if (!bigger) {
                    free(list);
                    return hs_err_set(err, "out of memory");
                }
                list = bigger;
                cap *= 2;
            }
            list[len++] = a;
        }
    }
    *out = list;
    return (long)len;
}

int hs_sr_create_of(hs_sr_graph *g, int i)
{
    if (!g->rv->room_id_from_create) return -1;
    const char *room = hs_pdu_room_id(g->nodes[i].pdu);
    if (!room || room[0] != '!' || strlen(room) > 300) return -1;
    char id[310];
    id[0] = '$';
    strcpy(id + 1, room + 1);
    return hs_sr_node_of(g, id, NULL);
}
