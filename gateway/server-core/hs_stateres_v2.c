/* hs_stateres_v2: state resolution algorithm v2 (room versions 2-11) and v2.1 (v12), as
 * written in the spec's Room Versions "State resolution" section:
 *
 *   split      unconflicted state map / conflicted state set
 *   full set   conflicted set + auth difference (+ v2.1: conflicted state subgraph)
 *   step 1     power events of the full set, enlarged by their auth chains within the full
 *              set, in reverse topological power ordering (Kahn's algorithm over auth
 *              edges; ready events by sender power level desc, origin_server_ts asc,
 *              event_id asc; the level is read from each event's own auth events)
 *   step 2     iterative auth checks from the unconflicted map (v2.1: from an empty map)
 *   step 3-4   the other events of the full set in mainline order of the partially
 *              resolved power levels (position desc, origin_server_ts asc, event_id asc),
 *              then iterative auth checks again
 *   step 5     the unconflicted map is laid over the result
 *
 * Iterative auth checks authorise each event against its own non-rejected auth events,
 * overridden by the partially resolved state at every key the auth events selection
 * names for the event (and, in v12, the create event found from the room ID), which is
 * what "a key not present in the state is taken from the event's auth_events" means.
 *
 * The auth difference is computed without walking every state set in full: the events of
 * the unconflicted map are in every set, so their auth chain (walked once) is in every
 * set's chain, and only the chains of each set's conflicted events differ. Events are
 * never changed; nothing here allocates on the caller's behalf except *out. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_auth.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_stateres.h"
#include "server-core/hs_stateres_internal.h"

typedef struct v2_ctx {
    hs_sr_graph *g;
    const hs_state_map *const *sets;
    size_t n_sets;
    hs_err *err;
    hs_state_map *unconflicted;
    int *conflicted;          /* distinct conflicted events */
    size_t n_conflicted;
    int **set_conflicted;     /* per set: its conflicted events */
    size_t *n_set_conflicted;
    int *full;                /* the full conflicted set */
    size_t n_full;
} v2_ctx;

/* ---- small int vector ------------------------------------------------------------------- */

typedef struct ivec {
    int *v;
    size_t n, cap;
} ivec;

static int ivec_push(ivec *a, int x)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        int *v = realloc(a->v, cap * sizeof *v);
        if (!v) return -1;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = x;
    return 0;
}

#define NODE(c, i) (&(c)->g->nodes[(i)])

/* ---- split into unconflicted map and conflicted set ------------------------------------- */

static int split(v2_ctx *c)
{
    c->unconflicted = hs_state_map_new();
    c->set_conflicted = calloc(c->n_sets, sizeof *c->set_conflicted);
    c->n_set_conflicted = calloc(c->n_sets, sizeof *c->n_set_conflicted);
    if (!c->unconflicted || !c->set_conflicted || !c->n_set_conflicted) return hs_err_set(c->err, "out of memory");
    ivec all = {0};
    for (size_t i = 0; i < c->n_sets; i++) {
        hs_state_entry *e;
        long n = hs_state_map_entries(c->sets[i], &e);
        if (n < 0) return hs_err_set(c->err, "out of memory");
        ivec mine = {0};
        for (long k = 0; k < n; k++) {
            int v = hs_sr_node_of(c->g, e[k].event_id, c->err);
            if (v < 0) goto fail;
            const hs_sr_node *nd = NODE(c, v);
            if (!nd->state_key || strcmp(nd->type, e[k].type) != 0 || strcmp(nd->state_key, e[k].state_key) != 0) {
                hs_err_set(c->err, "state set maps (%.60s, %.60s) to %.80s, which is not that state event",
                           e[k].type, e[k].state_key, e[k].event_id);
                goto fail;
            }
            bool same = true;
            for (size_t j = 0; j < c->n_sets && same; j++) {
                const char *other = hs_state_map_get(c->sets[j], e[k].type, e[k].state_key);
                same = other && strcmp(other, e[k].event_id) == 0;
            }
            if (same) {
                if (i == 0 && hs_state_map_set(c->unconflicted, e[k].type, e[k].state_key, e[k].event_id) != 0)
                    goto oom;
                continue;
            }
            if (ivec_push(&mine, v) != 0) goto oom;
            if (!(NODE(c, v)->flags & HS_SR_CONFLICTED)) {
                NODE(c, v)->flags |= HS_SR_CONFLICTED;
                if (ivec_push(&all, v) != 0) goto oom;
            }
        }
        free(e);
        c->set_conflicted[i] = mine.v;
        c->n_set_conflicted[i] = mine.n;
        continue;
    oom:
        hs_err_set(c->err, "out of memory");
    fail:
        free(e);
        free(mine.v);
        free(all.v);
        return -1;
    }
    c->conflicted = all.v;
    c->n_conflicted = all.n;
    return 0;
}

/* ---- full conflicted set ---------------------------------------------------------------- */

/* Sets `count` on every node to the number of sets whose conflicted events' auth chains
 * (events included) hold it, and flags the auth chain of the unconflicted map. */
static int count_chains(v2_ctx *c)
{
    hs_state_entry *e;
    long n = hs_state_map_entries(c->unconflicted, &e);
    if (n < 0) return hs_err_set(c->err, "out of memory");
    int *starts = malloc(((size_t)n + 1) * sizeof *starts), *walked = NULL;
    if (!starts) {
        free(e);
        return hs_err_set(c->err, "out of memory");
    }
    for (long k = 0; k < n; k++)
        if ((starts[k] = hs_sr_node_of(c->g, e[k].event_id, c->err)) < 0) {
            free(e);
            free(starts);
            return -1;
        }
    free(e);
    long w = hs_sr_walk(c->g, starts, (size_t)n, &walked, c->err);
    free(starts);
    if (w < 0) return -1;
    for (long k = 0; k < w; k++) NODE(c, walked[k])->flags |= HS_SR_IN_U_CHAIN;
    free(walked);
    for (size_t i = 0; i < c->n_sets; i++) {
        w = hs_sr_walk(c->g, c->set_conflicted[i], c->n_set_conflicted[i], &walked, c->err);
        if (w < 0) return -1;
        for (long k = 0; k < w; k++) NODE(c, walked[k])->count++;
        free(walked);
    }
    return 0;
}

/* v2.1: the conflicted state subgraph, every event on an auth path between two conflicted
 * events. Walks forward (to ancestors) from the conflicted set, then backward (to
 * descendants, within what the forward walk saw) from it; events reached both ways lie on
 * such a path. Flags them HS_SR_FULL. */
static int conflicted_subgraph(v2_ctx *c)
{
    int *fwd = NULL;
    long nf = hs_sr_walk(c->g, c->conflicted, c->n_conflicted, &fwd, c->err);
    if (nf < 0) return -1;
    int *pos = malloc(c->g->n * sizeof *pos), *off = calloc((size_t)nf + 1, sizeof *off);
    int *rev = NULL, *queue = malloc(((size_t)nf + 1) * sizeof *queue);
    unsigned char *seen = calloc((size_t)nf + 1, 1);
    int rc = -1;
    if (!pos || !off || !queue || !seen) goto oom;
    for (long k = 0; k < nf; k++) pos[fwd[k]] = (int)k;
    /* reverse edges in compressed rows: off[p]..off[p+1] lists the events citing fwd[p] */
    for (long k = 0; k < nf; k++)
        for (int j = 0; j < NODE(c, fwd[k])->n_auth; j++) off[pos[NODE(c, fwd[k])->auth[j]] + 1]++;
    for (long p = 0; p < nf; p++) off[p + 1] += off[p];
    rev = malloc(((size_t)off[nf] + 1) * sizeof *rev);
    if (!rev) goto oom;
    {
        int *fill = malloc(((size_t)nf + 1) * sizeof *fill);
        if (!fill) goto oom;
        memcpy(fill, off, (size_t)nf * sizeof *fill);
        for (long k = 0; k < nf; k++)
            for (int j = 0; j < NODE(c, fwd[k])->n_auth; j++) rev[fill[pos[NODE(c, fwd[k])->auth[j]]]++] = (int)k;
        free(fill);
    }
    size_t qn = 0;
    for (size_t i = 0; i < c->n_conflicted; i++) {
        int p = pos[c->conflicted[i]];
        if (!seen[p]) {
            seen[p] = 1;
            queue[qn++] = p;
        }
    }
    for (size_t h = 0; h < qn; h++)
        for (int r = off[queue[h]]; r < off[queue[h] + 1]; r++)
            if (!seen[rev[r]]) {
                seen[rev[r]] = 1;
                queue[qn++] = rev[r];
            }
    for (size_t h = 0; h < qn; h++) NODE(c, fwd[queue[h]])->flags |= HS_SR_FULL;
    rc = 0;
    goto done;
oom:
    hs_err_set(c->err, "out of memory");
done:
    free(fwd);
    free(pos);
    free(off);
    free(rev);
    free(queue);
    free(seen);
    return rc;
}

static int full_conflicted_set(v2_ctx *c)
{
    if (count_chains(c) != 0) return -1;
    for (size_t i = 0; i < c->n_conflicted; i++) NODE(c, c->conflicted[i])->flags |= HS_SR_FULL;
    for (size_t v = 0; v < c->g->n; v++) {
        const hs_sr_node *nd = NODE(c, v);
        if (nd->count > 0 && nd->count < c->n_sets && !(nd->flags & HS_SR_IN_U_CHAIN))
            NODE(c, v)->flags |= HS_SR_FULL;
    }
    if (c->g->rv->state_res == HS_STATE_RES_V2_1 && conflicted_subgraph(c) != 0) return -1;
    ivec full = {0};
    for (size_t v = 0; v < c->g->n; v++)
        if ((NODE(c, v)->flags & HS_SR_FULL) && ivec_push(&full, (int)v) != 0) {
            free(full.v);
            return hs_err_set(c->err, "out of memory");
        }
    c->full = full.v;
    c->n_full = full.n;
    return 0;
}

/* ---- auth states built from an event's auth events -------------------------------------- */

/* A map of node v's auth events (rejected ones left out when skip_rejected) plus, in v12,
 * the room's create event. NULL on allocation failure. */
static hs_auth_map *auth_events_map(v2_ctx *c, int v, bool skip_rejected)
{
    hs_auth_map *m = hs_auth_map_new();
    if (!m) return NULL;
    int create = hs_sr_create_of(c->g, v);
    if (create >= 0 && hs_auth_map_put(m, (json_t *)NODE(c, create)->pdu, NODE(c, create)->id) != 0) goto fail;
    for (int j = 0; j < NODE(c, v)->n_auth; j++) {
        const hs_sr_node *a = NODE(c, NODE(c, v)->auth[j]);
        if (skip_rejected && a->rejected) continue;
        if (a->state_key && hs_auth_map_put(m, (json_t *)a->pdu, a->id) != 0) goto fail;
    }
    return m;
fail:
    hs_auth_map_free(m);
    return NULL;
}

/* ---- step 1: reverse topological power ordering ---------------------------------------- */

/* x before y: greater sender level, then smaller origin_server_ts, then smaller event ID. */
static bool power_less(const hs_sr_graph *g, int x, int y)
{
    const hs_sr_node *a = &g->nodes[x], *b = &g->nodes[y];
    if (a->key != b->key) return a->key > b->key;
    if (a->ts != b->ts) return a->ts < b->ts;
    return strcmp(a->id, b->id) < 0;
}

/* A binary min-heap of node indices under power_less. */
typedef struct heap {
    int *v;
    size_t n;
} heap;

static void heap_push(const hs_sr_graph *g, heap *h, int x)
{
    size_t i = h->n++;
    h->v[i] = x;
    while (i > 0 && power_less(g, h->v[i], h->v[(i - 1) / 2])) {
        int t = h->v[i];
        h->v[i] = h->v[(i - 1) / 2];
        h->v[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static int heap_pop(const hs_sr_graph *g, heap *h)
{
    int top = h->v[0];
    h->v[0] = h->v[--h->n];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && power_less(g, h->v[l], h->v[m])) m = l;
        if (r < h->n && power_less(g, h->v[r], h->v[m])) m = r;
        if (m == i) break;
        int t = h->v[i];
        h->v[i] = h->v[m];
        h->v[m] = t;
        i = m;
    }
    return top;
}

/* Picks step 1's set X and orders it. On success *out holds the order (malloc'd). */
static long power_ordering(v2_ctx *c, int **out)
{
    ivec power = {0};
    for (size_t i = 0; i < c->n_full; i++)
        if (hs_stateres_is_power_event(NODE(c, c->full[i])->pdu) && ivec_push(&power, c->full[i]) != 0) {
            free(power.v);
            return hs_err_set(c->err, "out of memory");
        }
    int *walked = NULL;
    long w = hs_sr_walk(c->g, power.v, power.n, &walked, c->err);
    free(power.v);
    if (w < 0) return -1;
    ivec x = {0};
    for (long k = 0; k < w; k++)
        if ((NODE(c, walked[k])->flags & HS_SR_FULL) && ivec_push(&x, walked[k]) != 0) goto oom;
    free(walked);
    walked = NULL;

    size_t n = x.n;
    int *indeg = calloc(n + 1, sizeof *indeg), *pos = malloc(c->g->n * sizeof *pos), *order = malloc((n + 1) * sizeof *order);
    int *off = calloc(n + 2, sizeof *off), *rev = NULL;
    heap h = {malloc((n + 1) * sizeof(int)), 0};
    if (!indeg || !pos || !order || !off || !h.v) goto oom2;
    for (size_t k = 0; k < n; k++) {
        NODE(c, x.v[k])->flags |= HS_SR_POWER_SET;
        pos[x.v[k]] = (int)k;
    }
    for (size_t k = 0; k < n; k++) {
        hs_auth_map *m = auth_events_map(c, x.v[k], false);
        if (!m) goto oom2;
        hs_auth_state st = hs_auth_map_state(m);
        NODE(c, x.v[k])->key = hs_auth_user_level(c->g->rv, &st, NODE(c, x.v[k])->sender);
        hs_auth_map_free(m);
        for (int j = 0; j < NODE(c, x.v[k])->n_auth; j++) {
            int a = NODE(c, x.v[k])->auth[j];
            if (NODE(c, a)->flags & HS_SR_POWER_SET) {
                indeg[k]++;
                off[pos[a] + 1]++;
            }
        }
    }
    /* compressed rows: off[p]..off[p+1] are the events in X that cite x.v[p] */
    for (size_t p = 0; p < n; p++) off[p + 1] += off[p];
    rev = malloc(((size_t)off[n] + 1) * sizeof *rev);
    int *fill = malloc((n + 1) * sizeof *fill);
    if (!rev || !fill) {
        free(fill);
        goto oom2;
    }
    memcpy(fill, off, n * sizeof *fill);
    for (size_t k = 0; k < n; k++)
        for (int j = 0; j < NODE(c, x.v[k])->n_auth; j++) {
            int a = NODE(c, x.v[k])->auth[j];
            if (NODE(c, a)->flags & HS_SR_POWER_SET) rev[fill[pos[a]]++] = (int)k;
        }
    free(fill);
    for (size_t k = 0; k < n; k++)
        if (indeg[k] == 0) heap_push(c->g, &h, x.v[k]);
    size_t done = 0;
    while (h.n) {
        int v = heap_pop(c->g, &h);
        order[done++] = v;
        int p = pos[v];
        for (int r = off[p]; r < off[p + 1]; r++)
            if (--indeg[rev[r]] == 0) heap_push(c->g, &h, x.v[rev[r]]);
    }
    free(indeg);
    free(pos);
    free(off);
    free(rev);
    free(h.v);
    free(x.v);
    if (done != n) {
        free(order);
        return hs_err_set(c->err, "state resolution: the auth events of the power events form a cycle");
    }
    *out = order;
    return (long)n;
oom2:
    free(indeg);
    free(pos);
    free(order);
    free(off);
    free(rev);
    free(h.v);
oom:
    free(walked);
    free(x.v);
    return hs_err_set(c->err, "out of memory");
}

/* ---- iterative auth checks -------------------------------------------------------------- */

static int iterative_auth(v2_ctx *c, hs_state_map *state, const int *list, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        int v = list[k];
        if (hs_sr_load_auth(c->g, v, c->err) != 0) return -1;
        hs_auth_map *m = auth_events_map(c, v, true);
        if (!m) return hs_err_set(c->err, "out of memory");
        hs_auth_key keys[HS_AUTH_MAX_KEYS];
        int nk = hs_auth_types_for_event(c->g->rv, NODE(c, v)->pdu, keys);
        for (int i = 0; i < nk; i++) {
            const char *id = hs_state_map_get(state, keys[i].type, keys[i].state_key);
            if (!id) continue;
            int s = hs_sr_node_of(c->g, id, c->err);
            if (s < 0) {
                hs_auth_map_free(m);
                return -1;
            }
            if (!NODE(c, s)->rejected && hs_auth_map_put(m, (json_t *)NODE(c, s)->pdu, NODE(c, s)->id) != 0) {
                hs_auth_map_free(m);
                return hs_err_set(c->err, "out of memory");
            }
        }
        hs_auth_state st = hs_auth_map_state(m);
        const hs_sr_node *nd = NODE(c, v);
        bool ok = nd->state_key && hs_auth_allowed(c->g->rv, nd->pdu, &st, NULL) == HS_AUTH_OK;
        hs_auth_map_free(m);
        if (ok && hs_state_map_set(state, nd->type, nd->state_key, nd->id) != 0)
            return hs_err_set(c->err, "out of memory");
    }
    return 0;
}

/* ---- step 3: mainline ordering ---------------------------------------------------------- */

typedef struct mainline_item {
    int node;
    long long pos;   /* LLONG_MAX when the event's power levels chain misses the mainline */
    long long ts;
    const char *id;
} mainline_item;

static int mainline_cmp(const void *a, const void *b)
{
    const mainline_item *x = a, *y = b;
    if (x->pos != y->pos) return x->pos > y->pos ? -1 : 1;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* Flags the mainline of the power levels event in `state` (key = position). */
static int mark_mainline(v2_ctx *c, const hs_state_map *state)
{
    const char *pl = hs_state_map_get(state, "m.room.power_levels", "");
    if (!pl) return 0;
    int q = hs_sr_node_of(c->g, pl, c->err);
    if (q < 0) return -1;
    for (long long i = 0; q >= 0 && !(NODE(c, q)->flags & HS_SR_MAINLINE); i++) {
        NODE(c, q)->flags |= HS_SR_MAINLINE;
        NODE(c, q)->key = i;
        if (hs_sr_load_auth(c->g, q, c->err) != 0) return -1;
        q = NODE(c, q)->pl_auth;
    }
    return 0;
}

static int mainline_position(v2_ctx *c, int v, long long *pos)
{
    if (hs_sr_load_auth(c->g, v, c->err) != 0) return -1;
    int q = NODE(c, v)->pl_auth;
    for (size_t steps = 0; q >= 0 && steps <= c->g->n; steps++) {
        if (NODE(c, q)->flags & HS_SR_MAINLINE) {
            *pos = NODE(c, q)->key;
            return 0;
        }
        if (hs_sr_load_auth(c->g, q, c->err) != 0) return -1;
        q = NODE(c, q)->pl_auth;
    }
    *pos = LLONG_MAX;
    return 0;
}

static long mainline_ordering(v2_ctx *c, const hs_state_map *partial, int **out)
{
    if (mark_mainline(c, partial) != 0) return -1;
    size_t n = 0;
    mainline_item *items = malloc((c->n_full + 1) * sizeof *items);
    int *order = malloc((c->n_full + 1) * sizeof *order);
    if (!items || !order) {
        free(items);
        free(order);
        return hs_err_set(c->err, "out of memory");
    }
    for (size_t i = 0; i < c->n_full; i++) {
        int v = c->full[i];
        if (NODE(c, v)->flags & HS_SR_POWER_SET) continue;
        long long pos;
        if (mainline_position(c, v, &pos) != 0) {
            free(items);
            free(order);
            return -1;
        }
        items[n++] = (mainline_item){v, pos, NODE(c, v)->ts, NODE(c, v)->id};
    }
    qsort(items, n, sizeof *items, mainline_cmp);
    for (size_t i = 0; i < n; i++) order[i] = items[i].node;
    free(items);
    *out = order;
    return (long)n;
}

/* ---- the algorithm ---------------------------------------------------------------------- */

int hs_sr_resolve_v2(hs_sr_graph *g, const hs_state_map *const *sets, size_t n, hs_state_map **out, hs_err *err)
{
    v2_ctx c = {.g = g, .sets = sets, .n_sets = n, .err = err};
    hs_state_map *state = NULL;
    int *power = NULL, *rest = NULL, rc = -1;
    long np, nr;
    if (split(&c) != 0 || full_conflicted_set(&c) != 0) goto done;
    if ((np = power_ordering(&c, &power)) < 0) goto done;
    state = g->rv->state_res == HS_STATE_RES_V2_1 ? hs_state_map_new() : hs_state_map_copy(c.unconflicted);
    if (!state) {
        hs_err_set(err, "out of memory");
        goto done;
    }
    if (iterative_auth(&c, state, power, (size_t)np) != 0) goto done;
    if ((nr = mainline_ordering(&c, state, &rest)) < 0) goto done;
    if (iterative_auth(&c, state, rest, (size_t)nr) != 0) goto done;
    hs_state_entry *e;
    long nu = hs_state_map_entries(c.unconflicted, &e);
    if (nu < 0) {
        hs_err_set(err, "out of memory");
        goto done;
    }
    for (long k = 0; k < nu; k++)
        if (hs_state_map_set(state, e[k].type, e[k].state_key, e[k].event_id) != 0) {
            free(e);
            hs_err_set(err, "out of memory");
            goto done;
        }
    free(e);
    *out = state;
    state = NULL;
    rc = 0;
done:
    hs_state_map_free(state);
    hs_state_map_free(c.unconflicted);
    free(c.conflicted);
    for (size_t i = 0; c.set_conflicted && i < n; i++) free(c.set_conflicted[i]);
    free(c.set_conflicted);
    free(c.n_set_conflicted);
    free(c.full);
    free(power);
    free(rest);
    return rc;
}
