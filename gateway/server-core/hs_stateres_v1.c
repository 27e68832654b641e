/* hs_stateres_v1: state resolution algorithm v1 (room version 1, Room Versions "State
 * resolution" of version 1). The result R is built in passes:
 *
 *   start      the union of the state sets without the conflicted keys (a key some sets
 *              lack is not a conflict: only different event IDs at one key are)
 *   pass 1     the conflicted m.room.power_levels events
 *   pass 2     each conflicted m.room.join_rules key
 *   pass 3     each conflicted m.room.member key
 *   pass 4     every other conflicted key
 *
 * Passes 1-3 resolve one key at a time: its events sorted by depth ascending, then
 * sha1(event_id) descending; the first goes in, each next one is checked against R (with
 * the key holding the previous winner) and replaces it if allowed; the first refusal ends
 * the key. Pass 4 takes, per key, the first event by depth descending then sha1(event_id)
 * ascending that is allowed in R, or the last of that order if none is.
 *
 * The spec says "repeat the above process" for join rules and memberships without saying
 * whether keys of one pass see each other's winners; like Synapse (the reference for v1
 * rooms in the wild) they do not: every key of a pass is checked against R as it stood
 * when the pass began, and R takes the pass's winners at its end. That also makes the
 * result independent of the order keys are visited in.
 *
 * Events are checked with hs_auth_allowed against R's events at the keys the auth events
 * selection names for the event; signatures and an event's own auth events are not looked
 * at (they were checked when the event was accepted). Pure: events come from the caller's
 * hs_event_lookup; a conflicted event or an event of R that the lookup does not know is an
 * error, as in v2. */
#include <gnutls/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_auth.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_stateres.h"
#include "server-core/hs_stateres_internal.h"

typedef struct v1_event {
    const char *id;          /* borrowed from the state set */
    const json_t *pdu;       /* borrowed from the lookup */
    long long depth;
    unsigned char sha1[20];
} v1_event;

/* One conflicted key and its distinct events. */
typedef struct v1_key {
    const char *type, *state_key;   /* borrowed from the state set */
    v1_event *ev;
    size_t n, cap;
    const char *winner;
} v1_key;

typedef struct v1_ctx {
    const hs_room_version *rv;
    const hs_event_lookup *lookup;
    hs_err *err;
    v1_key *keys;
    size_t n_keys, cap_keys;
    json_t *index;           /* hs_state_key(type, state_key) -> index into keys */
} v1_ctx;

static int depth_asc_sha_desc(const void *a, const void *b)
{
    const v1_event *x = a, *y = b;
    if (x->depth != y->depth) return x->depth < y->depth ? -1 : 1;
    return -memcmp(x->sha1, y->sha1, sizeof x->sha1);
}

/* The conflicted key (type, state_key), or NULL; *oom set on allocation failure. */
static v1_key *key_find(v1_ctx *c, const char *type, const char *state_key, bool *oom)
{
    char buf[256];
    char *k = hs_state_key(type, state_key, buf, sizeof buf);
    if (!k) {
        *oom = true;
        return NULL;
    }
    json_t *at = json_object_get(c->index, k);
    hs_state_key_free(k, buf);
    return at ? &c->keys[json_integer_value(at)] : NULL;
}

static v1_key *key_add(v1_ctx *c, const char *type, const char *state_key)
{
    if (c->n_keys == c->cap_keys) {
        size_t cap = c->cap_keys ? c->cap_keys * 2 : 8;
        v1_key *k = realloc(c->keys, cap * sizeof *k);
        if (!k) return NULL;
        c->keys = k;
        c->cap_keys = cap;
    }
    char buf[256];
    char *k = hs_state_key(type, state_key, buf, sizeof buf);
    if (!k || json_object_set_new_nocheck(c->index, k, json_integer((json_int_t)c->n_keys)) != 0) {
        hs_state_key_free(k, buf);
        return NULL;
    }
    hs_state_key_free(k, buf);
    c->keys[c->n_keys] = (v1_key){.type = type, .state_key = state_key};
    return &c->keys[c->n_keys++];
}

/* Adds event id to key k unless it is there already; loads and checks it. */
static int key_add_event(v1_ctx *c, v1_key *k, const char *id)
{
    for (size_t i = 0; i < k->n; i++)
        if (strcmp(k->ev[i].id, id) == 0) return 0;
    bool rejected = false;
    const json_t *pdu = c->lookup->get(c->lookup->ctx, id, &rejected);
    if (!pdu) return hs_err_set(c->err, "state resolution: unknown event %.80s at (%.60s, %.60s)", id, k->type, k->state_key);
    const char *type = hs_pdu_type(pdu), *sk = hs_pdu_state_key(pdu);
    if (!type || !sk || strcmp(type, k->type) != 0 || strcmp(sk, k->state_key) != 0)
        return hs_err_set(c->err, "state set maps (%.60s, %.60s) to %.80s, which is not that state event", k->type,
                          k->state_key, id);
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 4;
        v1_event *e = realloc(k->ev, cap * sizeof *e);
        if (!e) return hs_err_set(c->err, "out of memory");
        k->ev = e;
        k->cap = cap;
    }
    v1_event *e = &k->ev[k->n++];
    e->id = id;
    e->pdu = pdu;
    e->depth = hs_pdu_depth(pdu);
    if (gnutls_hash_fast(GNUTLS_DIG_SHA1, id, strlen(id), e->sha1) != 0) return hs_err_set(c->err, "sha1 failed");
    return 0;
}

/* Splits the sets: *r gets the union without conflicted keys, c->keys the conflicts. */
static int split(v1_ctx *c, const hs_state_map *const *sets, size_t n, hs_state_map *r, hs_state_entry **entries)
{
    for (size_t i = 0; i < n; i++) {
        long m = hs_state_map_entries(sets[i], &entries[i]);
        if (m < 0) return hs_err_set(c->err, "out of memory");
        for (long k = 0; k < m; k++) {
            const hs_state_entry *e = &entries[i][k];
            bool oom = false;
            v1_key *key = key_find(c, e->type, e->state_key, &oom);
            if (oom) return hs_err_set(c->err, "out of memory");
            for (size_t j = 0; !key && j < n; j++) {
                const char *other = hs_state_map_get(sets[j], e->type, e->state_key);
                if (other && strcmp(other, e->event_id) != 0 && !(key = key_add(c, e->type, e->state_key)))
                    return hs_err_set(c->err, "out of memory");
            }
            if (key) {
                if (key_add_event(c, key, e->event_id) != 0) return -1;
            } else if (hs_state_map_set(r, e->type, e->state_key, e->event_id) != 0) {
                return hs_err_set(c->err, "out of memory");
            }
        }
    }
    return 0;
}

/* Whether ev is allowed in state r, where (over_type, over_sk) reads as over_id instead
 * (over_id NULL: no override). Sets *ok; returns -1 with err on a lookup failure. */
static int allowed(v1_ctx *c, const v1_event *ev, const hs_state_map *r, const v1_key *over, const char *over_id,
                   bool *ok)
{
    hs_auth_key keys[HS_AUTH_MAX_KEYS];
    int nk = hs_auth_types_for_event(c->rv, ev->pdu, keys);
    *ok = false;
    if (nk < 0) return 0;
    hs_auth_map *m = hs_auth_map_new();
    if (!m) return hs_err_set(c->err, "out of memory");
    for (int i = 0; i < nk; i++) {
        const char *id = over_id && strcmp(keys[i].type, over->type) == 0 && strcmp(keys[i].state_key, over->state_key) == 0
                             ? over_id
                             : hs_state_map_get(r, keys[i].type, keys[i].state_key);
        if (!id) continue;
        bool rejected = false;
        const json_t *pdu = c->lookup->get(c->lookup->ctx, id, &rejected);
        if (!pdu) {
            hs_auth_map_free(m);
            return hs_err_set(c->err, "state resolution: unknown event %.80s in the state", id);
        }
        if (hs_pdu_state_key(pdu) && hs_auth_map_put(m, (json_t *)pdu, id) != 0) {
            hs_auth_map_free(m);
            return hs_err_set(c->err, "out of memory");
        }
    }
    hs_auth_state st = hs_auth_map_state(m);
    *ok = hs_auth_allowed(c->rv, ev->pdu, &st, NULL) == HS_AUTH_OK;
    hs_auth_map_free(m);
    return 0;
}

/* Passes 1-3 for one key: depth ascending, sha1 descending; each allowed event replaces the
 * previous winner, the first refusal stops. */
static int resolve_auth_key(v1_ctx *c, v1_key *k, const hs_state_map *r)
{
    qsort(k->ev, k->n, sizeof *k->ev, depth_asc_sha_desc);
    k->winner = k->ev[0].id;
    for (size_t i = 1; i < k->n; i++) {
        bool ok;
        if (allowed(c, &k->ev[i], r, k, k->winner, &ok) != 0) return -1;
        if (!ok) break;
        k->winner = k->ev[i].id;
    }
    return 0;
}

/* Pass 4 for one key: depth descending, sha1 ascending; the first allowed, else the last. */
static int resolve_other_key(v1_ctx *c, v1_key *k, const hs_state_map *r)
{
    qsort(k->ev, k->n, sizeof *k->ev, depth_asc_sha_desc);
    for (size_t i = k->n; i-- > 0;) {
        bool ok;
        if (allowed(c, &k->ev[i], r, NULL, NULL, &ok) != 0) return -1;
        k->winner = k->ev[i].id;
        if (ok) break;
    }
    return 0;
}

enum { PASS_POWER, PASS_JOIN_RULES, PASS_MEMBER, PASS_OTHER };

static int pass_of(const v1_key *k)
{
    if (strcmp(k->type, "m.room.power_levels") == 0 && k->state_key[0] == '\0') return PASS_POWER;
    if (strcmp(k->type, "m.room.join_rules") == 0) return PASS_JOIN_RULES;
    if (strcmp(k->type, "m.room.member") == 0) return PASS_MEMBER;
    return PASS_OTHER;
}

int hs_sr_resolve_v1(const hs_room_version *rv, const hs_state_map *const *sets, size_t n,
                     const hs_event_lookup *lookup, hs_state_map **out, hs_err *err)
{
    v1_ctx c = {.rv = rv, .lookup = lookup, .err = err, .index = json_object()};
    hs_state_map *r = hs_state_map_new();
    hs_state_entry **entries = calloc(n + 1, sizeof *entries);
    int rc = -1;
    if (!r || !entries || !c.index) {
        hs_err_set(err, "out of memory");
        goto done;
    }
    if (split(&c, sets, n, r, entries) != 0) goto done;
    for (int pass = PASS_POWER; pass <= PASS_OTHER; pass++) {
        for (size_t i = 0; i < c.n_keys; i++) {
            if (pass_of(&c.keys[i]) != pass) continue;
            if ((pass == PASS_OTHER ? resolve_other_key(&c, &c.keys[i], r) : resolve_auth_key(&c, &c.keys[i], r)) != 0)
                goto done;
        }
        for (size_t i = 0; i < c.n_keys; i++)
            if (pass_of(&c.keys[i]) == pass &&
                hs_state_map_set(r, c.keys[i].type, c.keys[i].state_key, c.keys[i].winner) != 0) {
                hs_err_set(err, "out of memory");
                goto done;
            }
    }
    *out = r;
    r = NULL;
    rc = 0;
done:
    hs_state_map_free(r);
    for (size_t i = 0; i < c.n_keys; i++) free(c.keys[i].ev);
    free(c.keys);
    json_decref(c.index);
    for (size_t i = 0; entries && i < n; i++) free(entries[i]);
    free(entries);
    return rc;
}
