/* hs_replay: room replay (see hs_replay.h for the rules it follows).
 *
 * Events live in an array indexed through a jansson object (event ID -> index). The
 * processing order is Kahn's algorithm over prev_events and auth_events edges with a
 * (origin_server_ts, event_id) min-heap, so every prev and auth event is decided before
 * the events citing it. The current state is recomputed lazily, only when the set of
 * forward extremities changed since it was last needed. A state-after that equals the
 * state-before is not stored twice. */
#include "server-core/hs_replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_auth.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_stateres.h"

typedef struct rp_event {
    char *id;
    json_t *pdu;
    int *deps;              /* prev events then auth events, as indices (deduplicated) */
    size_t n_deps, n_prev;
    hs_state_map *before;
    hs_state_map *after;    /* NULL: same as before */
    bool rejected, soft_failed, extremity;
    char reason[320];
    size_t order;
} rp_event;

struct hs_replay {
    const hs_room_version *rv;
    json_t *index;          /* event ID -> integer index */
    rp_event *ev;
    size_t n, cap;
    size_t *order;          /* processing order, after run */
    bool ran;
    hs_state_map *current;
    bool current_dirty;
    const char **extremities;
    size_t n_extremities;
};

hs_replay *hs_replay_new(const hs_room_version *rv)
{
    hs_replay *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->rv = rv;
    r->index = json_object();
    if (!r->index) {
        free(r);
        return NULL;
    }
    return r;
}

void hs_replay_free(hs_replay *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->ev[i].id);
        json_decref(r->ev[i].pdu);
        free(r->ev[i].deps);
        hs_state_map_free(r->ev[i].before);
        hs_state_map_free(r->ev[i].after);
    }
    free(r->ev);
    free(r->order);
    free(r->extremities);
    hs_state_map_free(r->current);
    json_decref(r->index);
    free(r);
}

static long find(const hs_replay *r, const char *id)
{
    const json_t *v = id ? json_object_get(r->index, id) : NULL;
    return v ? (long)json_integer_value(v) : -1;
}

int hs_replay_add(hs_replay *r, const char *event_id, json_t *pdu, hs_err *err)
{
    if (r->ran) return hs_err_set(err, "replay already ran");
    if (!event_id || !json_is_object(pdu) || !hs_pdu_type(pdu) || !hs_pdu_sender(pdu))
        return hs_err_set(err, "event %.80s: not a PDU with string type and sender", event_id ? event_id : "(no ID)");
    if (find(r, event_id) >= 0) return hs_err_set(err, "duplicate event %.80s", event_id);
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        rp_event *ev = realloc(r->ev, cap * sizeof *ev);
        if (!ev) return hs_err_set(err, "out of memory");
        r->ev = ev;
        r->cap = cap;
    }
    rp_event *e = &r->ev[r->n];
    memset(e, 0, sizeof *e);
    e->id = strdup(event_id);
    if (!e->id || json_object_set_new(r->index, event_id, json_integer((json_int_t)r->n)) != 0) {
        free(e->id);
        return hs_err_set(err, "out of memory");
    }
    e->pdu = json_incref(pdu);
    r->n++;
    return 0;
}

/* ---- lookups over the replay's events --------------------------------------------------- */

static const json_t *lookup_get(void *ctx, const char *event_id, bool *rejected)
{
    const hs_replay *r = ctx;
    long i = find(r, event_id);
    if (i < 0) return NULL;
    *rejected = r->ev[i].rejected;
    return r->ev[i].pdu;
}

hs_event_lookup hs_replay_lookup(hs_replay *r)
{
    return (hs_event_lookup){.get = lookup_get, .ctx = r};
}

/* A state map seen through hs_auth_state: IDs resolved to the replay's PDUs. */
typedef struct map_view {
    const hs_replay *r;
    const hs_state_map *map;
} map_view;

static bool view_get(void *ctx, const char *type, const char *state_key, hs_auth_entry *out)
{
    const map_view *v = ctx;
    const char *id = hs_state_map_get(v->map, type, state_key);
    long i = find(v->r, id);
    if (i < 0) return false;
    *out = (hs_auth_entry){v->r->ev[i].pdu, v->r->ev[i].id};
    return true;
}

static const hs_state_map *after_of(const rp_event *e)
{
    return e->after ? e->after : e->before;
}

/* ---- processing order ------------------------------------------------------------------- */

static int link_deps(hs_replay *r, hs_err *err)
{
    for (size_t i = 0; i < r->n; i++) {
        rp_event *e = &r->ev[i];
        size_t np = hs_pdu_prev_event_count(e->pdu), na = hs_pdu_auth_event_count(e->pdu);
        e->deps = malloc((np + na + 1) * sizeof *e->deps);
        if (!e->deps) return hs_err_set(err, "out of memory");
        for (size_t k = 0; k < np + na; k++) {
            bool prev = k < np;
            const char *id = prev ? hs_pdu_prev_event(e->pdu, k) : hs_pdu_auth_event(e->pdu, k - np);
            long d = find(r, id);
            if (d < 0)
                return hs_err_set(err, "event %.80s references missing %s event %.80s", e->id, prev ? "prev" : "auth",
                                  id ? id : "(malformed entry)");
            bool dup = false;
            for (size_t j = prev ? 0 : e->n_prev; j < e->n_deps; j++) dup |= e->deps[j] == (int)d;
            if (dup) continue;
            e->deps[e->n_deps++] = (int)d;
            if (prev) e->n_prev++;
        }
    }
    return 0;
}

static bool before_in_order(const hs_replay *r, size_t a, size_t b)
{
    long long ta = hs_pdu_origin_server_ts(r->ev[a].pdu), tb = hs_pdu_origin_server_ts(r->ev[b].pdu);
    if (ta != tb) return ta < tb;
    return strcmp(r->ev[a].id, r->ev[b].id) < 0;
}

static void heap_push(const hs_replay *r, size_t *h, size_t *n, size_t x)
{
    size_t i = (*n)++;
    h[i] = x;
    while (i > 0 && before_in_order(r, h[i], h[(i - 1) / 2])) {
        size_t t = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static size_t heap_pop(const hs_replay *r, size_t *h, size_t *n)
{
    size_t top = h[0];
    h[0] = h[--(*n)];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, rr = l + 1, m = i;
        if (l < *n && before_in_order(r, h[l], h[m])) m = l;
        if (rr < *n && before_in_order(r, h[rr], h[m])) m = rr;
        if (m == i) break;
        size_t t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
    return top;
}

static int topo_order(hs_replay *r, hs_err *err)
{
    size_t n = r->n, total = 0;
    for (size_t i = 0; i < n; i++) total += r->ev[i].n_deps;
    size_t *indeg = calloc(n + 1, sizeof *indeg), *off = calloc(n + 2, sizeof *off);
    size_t *kids = malloc((total + 1) * sizeof *kids), *fill = malloc((n + 1) * sizeof *fill);
    size_t *heap = malloc((n + 1) * sizeof *heap), hn = 0, done = 0;
    r->order = malloc((n + 1) * sizeof *r->order);
    int rc = -1;
    if (!indeg || !off || !kids || !fill || !heap || !r->order) {
        hs_err_set(err, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        indeg[i] = r->ev[i].n_deps;
        for (size_t k = 0; k < r->ev[i].n_deps; k++) off[r->ev[i].deps[k] + 1]++;
    }
    for (size_t i = 0; i < n; i++) off[i + 1] += off[i];
    memcpy(fill, off, n * sizeof *fill);
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < r->ev[i].n_deps; k++) kids[fill[r->ev[i].deps[k]]++] = i;
    for (size_t i = 0; i < n; i++)
        if (indeg[i] == 0) heap_push(r, heap, &hn, i);
    while (hn) {
        size_t v = heap_pop(r, heap, &hn);
        r->ev[v].order = done;
        r->order[done++] = v;
        for (size_t k = off[v]; k < off[v + 1]; k++)
            if (--indeg[kids[k]] == 0) heap_push(r, heap, &hn, kids[k]);
    }
    if (done != n) {
        for (size_t i = 0; i < n; i++)
            if (indeg[i]) {
                hs_err_set(err, "event %.80s is part of a prev_events/auth_events cycle", r->ev[i].id);
                break;
            }
        goto out;
    }
    rc = 0;
out:
    free(indeg);
    free(off);
    free(kids);
    free(fill);
    free(heap);
    return rc;
}

/* ---- state -------------------------------------------------------------------------------- */

static int resolve(hs_replay *r, const hs_state_map *const *sets, size_t n, hs_state_map **out, hs_err *err)
{
    if (n == 1) {
        *out = hs_state_map_copy(sets[0]);
        return *out ? 0 : hs_err_set(err, "out of memory");
    }
    hs_event_lookup lk = hs_replay_lookup(r);
    return hs_stateres_resolve(r->rv, sets, n, &lk, out, err);
}

static int state_before(hs_replay *r, rp_event *e, hs_err *err)
{
    if (e->n_prev == 0) {
        e->before = hs_state_map_new();
        return e->before ? 0 : hs_err_set(err, "out of memory");
    }
    const hs_state_map **sets = malloc(e->n_prev * sizeof *sets);
    if (!sets) return hs_err_set(err, "out of memory");
    for (size_t k = 0; k < e->n_prev; k++) sets[k] = after_of(&r->ev[e->deps[k]]);
    hs_err sub = {{0}};
    int rc = resolve(r, sets, e->n_prev, &e->before, &sub);
    free(sets);
    return rc == 0 ? 0 : hs_err_set(err, "state before %.80s: %s", e->id, sub.msg);
}

/* The current state, recomputed when the extremities changed. NULL with err on failure. */
static const hs_state_map *current_state(hs_replay *r, hs_err *err)
{
    if (r->current && !r->current_dirty) return r->current;
    size_t n = 0;
    const hs_state_map **sets = malloc((r->n + 1) * sizeof *sets);
    if (!sets) return hs_err_set(err, "out of memory"), NULL;
    for (size_t k = 0; k < r->n; k++)
        if (r->ev[r->order[k]].extremity) sets[n++] = after_of(&r->ev[r->order[k]]);
    hs_state_map *cur = NULL;
    int rc = n ? resolve(r, sets, n, &cur, err) : ((cur = hs_state_map_new()) ? 0 : hs_err_set(err, "out of memory"));
    free(sets);
    if (rc != 0) return NULL;
    hs_state_map_free(r->current);
    r->current = cur;
    r->current_dirty = false;
    return cur;
}

static bool prevs_are_extremities(const hs_replay *r, const rp_event *e)
{
    size_t n_ext = 0;
    for (size_t k = 0; k < r->n; k++) n_ext += r->ev[k].extremity;
    if (n_ext != e->n_prev) return false;
    for (size_t k = 0; k < e->n_prev; k++)
        if (!r->ev[e->deps[k]].extremity) return false;
    return true;
}

/* An accepted, not soft-failed event becomes an extremity and retires what it cites,
 * looking through soft-failed and rejected prev events to what they cite. */
static void update_extremities(hs_replay *r, rp_event *e)
{
    e->extremity = true;
    size_t *stack = malloc((r->n + 1) * sizeof *stack), sn = 0;
    bool *seen = calloc(r->n + 1, sizeof *seen);
    if (stack && seen) {
        for (size_t k = 0; k < e->n_prev; k++) stack[sn++] = (size_t)e->deps[k];
        while (sn) {
            rp_event *p = &r->ev[stack[--sn]];
            size_t pi = (size_t)(p - r->ev);
            if (seen[pi]) continue;
            seen[pi] = true;
            p->extremity = false;
            if (p->rejected || p->soft_failed)
                for (size_t k = 0; k < p->n_prev; k++)
                    if (!seen[p->deps[k]]) stack[sn++] = (size_t)p->deps[k];
        }
    }
    free(stack);
    free(seen);
    r->current_dirty = true;
}

/* ---- per event ---------------------------------------------------------------------------- */

static void check_auth_events(hs_replay *r, rp_event *e)
{
    hs_auth_entry auth[HS_PDU_MAX_AUTH_EVENTS + 1], create = {0};
    size_t n = 0;
    /* every auth_events entry, duplicates included, so the duplicate rule sees them */
    size_t total = hs_pdu_auth_event_count(e->pdu);
    for (size_t k = 0; k < total; k++) {
        long a = find(r, hs_pdu_auth_event(e->pdu, k));
        if (r->ev[a].rejected) {
            e->rejected = true;
            snprintf(e->reason, sizeof e->reason, "auth event %.80s was rejected", r->ev[a].id);
            return;
        }
        if (n == HS_PDU_MAX_AUTH_EVENTS) {
            e->rejected = true;
            snprintf(e->reason, sizeof e->reason, "more than %d auth_events", HS_PDU_MAX_AUTH_EVENTS);
            return;
        }
        auth[n++] = (hs_auth_entry){r->ev[a].pdu, r->ev[a].id};
    }
    const char *room = hs_pdu_room_id(e->pdu);
    if (r->rv->room_id_from_create && room && room[0] == '!' && strlen(room) < 300) {
        char cid[304];
        snprintf(cid, sizeof cid, "$%s", room + 1);
        long c = find(r, cid);
        if (c >= 0 && !r->ev[c].rejected) create = (hs_auth_entry){r->ev[c].pdu, r->ev[c].id};
    }
    hs_auth_result res;
    if (hs_auth_check_with_auth_events(r->rv, e->pdu, auth, n, create.pdu ? &create : NULL, &res) != HS_AUTH_OK) {
        e->rejected = true;
        snprintf(e->reason, sizeof e->reason, "against its auth events: %s", res.msg);
    }
}

static int process(hs_replay *r, rp_event *e, hs_err *err)
{
    check_auth_events(r, e);
    if (state_before(r, e, err) != 0) return -1;
    if (e->rejected) return 0;
    map_view view = {r, e->before};
    hs_auth_state st = {.get = view_get, .ctx = &view};
    hs_auth_result res;
    if (hs_auth_allowed(r->rv, e->pdu, &st, &res) != HS_AUTH_OK) {
        e->rejected = true;
        snprintf(e->reason, sizeof e->reason, "against the state before it: %s", res.msg);
        return 0;
    }
    const char *type = hs_pdu_type(e->pdu), *sk = hs_pdu_state_key(e->pdu);
    if (sk) {
        e->after = hs_state_map_copy(e->before);
        if (!e->after || hs_state_map_set(e->after, type, sk, e->id) != 0) return hs_err_set(err, "out of memory");
    }
    if (!prevs_are_extremities(r, e)) {
        const hs_state_map *cur = current_state(r, err);
        if (!cur) return -1;
        view.map = cur;
        if (hs_auth_allowed(r->rv, e->pdu, &st, &res) != HS_AUTH_OK) {
            e->soft_failed = true;
            snprintf(e->reason, sizeof e->reason, "soft-failed against the current state: %s", res.msg);
            return 0;
        }
    }
    update_extremities(r, e);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int hs_replay_run(hs_replay *r, hs_err *err)
{
    if (r->ran || r->order) return hs_err_set(err, "replay already ran");
    if (link_deps(r, err) != 0 || topo_order(r, err) != 0) return -1;
    for (size_t k = 0; k < r->n; k++)
        if (process(r, &r->ev[r->order[k]], err) != 0) return -1;
    if (!current_state(r, err)) return -1;
    r->extremities = malloc((r->n + 1) * sizeof *r->extremities);
    if (!r->extremities) return hs_err_set(err, "out of memory");
    for (size_t k = 0; k < r->n; k++)
        if (r->ev[k].extremity) r->extremities[r->n_extremities++] = r->ev[k].id;
    qsort(r->extremities, r->n_extremities, sizeof *r->extremities, cmp_str);
    r->ran = true;
    return 0;
}

const hs_state_map *hs_replay_current_state(const hs_replay *r)
{
    return r->ran ? r->current : NULL;
}

size_t hs_replay_extremities(const hs_replay *r, const char *const **ids)
{
    *ids = r->extremities;
    return r->ran ? r->n_extremities : 0;
}

int hs_replay_get(const hs_replay *r, const char *event_id, hs_replay_info *out)
{
    long i = find(r, event_id);
    if (!r->ran || i < 0) return -1;
    const rp_event *e = &r->ev[i];
    *out = (hs_replay_info){e->id, e->before, after_of(e), e->rejected, e->soft_failed, e->reason, e->order};
    return 0;
}

size_t hs_replay_count(const hs_replay *r)
{
    return r->n;
}

const char *hs_replay_order(const hs_replay *r, size_t i)
{
    return r->ran && i < r->n ? r->ev[r->order[i]].id : NULL;
}
