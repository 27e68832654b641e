/* hs_fed_history: one backfill round (see hs_fed_history.h). The checks are
 * hs_fed_state_validate's, run on a small set: the room's create event as the "state",
 * and as the "auth chain" the fetched events plus the auth events (and theirs,
 * transitively) they cite, taken from the store or fetched with /event. */
#include "server-core/hs_fed_history.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_clock.h"
#include "server-core/hs_event_id.h"
#include "server-core/hs_fed.h"
#include "server-core/hs_fed_rooms.h"
#include "server-core/hs_log.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_room_remote.h"
#include "server-core/hs_server.h"
#include "server-core/hs_store_fed_rooms.h"
#include "server-core/hs_store_history.h"
#include "server-core/hs_store_rooms.h"

/* Events of an answer looked at, whatever it holds. */
#define MAX_FETCHED 200
/* Prev events named in one request. */
#define MAX_V 20
/* Events in the set checked at once (fetched + their auth chain). */
#define MAX_CHAIN 20000

/* Rooms with a backfill under way: one at a time per room, up to RUNNING_MAX rooms at
 * once (more wait for a free slot). */
#define RUNNING_MAX 8
static pthread_mutex_t running_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t running_changed = PTHREAD_COND_INITIALIZER;
static char running[RUNNING_MAX][256];

/* Waits until room_id has no backfill under way and a slot is free; takes it. */
static int running_enter(const char *room_id)
{
    pthread_mutex_lock(&running_lock);
    for (;;) {
        int slot = -1;
        bool busy = false;
        for (int i = 0; i < RUNNING_MAX; i++) {
            if (!running[i][0]) slot = slot < 0 ? i : slot;
            else busy |= strcmp(running[i], room_id) == 0;
        }
        if (!busy && slot >= 0) {
            snprintf(running[slot], sizeof running[slot], "%s", room_id);
            pthread_mutex_unlock(&running_lock);
            return slot;
        }
        pthread_cond_wait(&running_changed, &running_lock);
    }
}

static void running_leave(int slot)
{
    pthread_mutex_lock(&running_lock);
    running[slot][0] = 0;
    pthread_cond_broadcast(&running_changed);
    pthread_mutex_unlock(&running_lock);
}

/* What a server answered. */
typedef enum { ANSWER_OK, ANSWER_REFUSED, ANSWER_FAILED } answer_kind;

/* GET `target` on server; the parsed answer of a 200 (new reference) or NULL, with
 * *kind telling a refusal (4xx) from a failure to get an answer. */
static json_t *get_json(hs_server *srv, const char *server, const char *target, answer_kind *kind)
{
    hs_fed_out out = {server, "GET", target, NULL, true};
    hs_fed_reply reply = {0};
    hs_err err = {{0}};
    json_t *answer = NULL;
    *kind = ANSWER_FAILED;
    if (hs_fed_send(srv, &out, &reply, &err) != 0) {
        hs_info("fed", "backfill: %s %s: %s", server, target, err.msg);
    } else if (reply.status != 200) {
        hs_info("fed", "backfill: %s %s: HTTP %ld", server, target, reply.status);
        if (reply.status >= 400 && reply.status < 500) *kind = ANSWER_REFUSED;
    } else {
        answer = hs_cjson_parse(reply.body, reply.body_len, (size_t)srv->cfg.max_request_body_bytes * 4,
                                HS_CJSON_LAX_INTS, &err);
        if (answer) *kind = ANSWER_OK;
        else hs_info("fed", "backfill: %s %s: bad JSON: %s", server, target, err.msg);
    }
    hs_fed_reply_free(&reply);
    return answer;
}

/* GET /backfill on server for the events `v`; the answer's pdus (new reference). */
static json_t *fetch_backfill(hs_server *srv, const char *server, const char *room_id, const json_t *v, size_t limit,
                              answer_kind *kind)
{
    *kind = ANSWER_FAILED;
    char *room = hs_fed_pct_encode(room_id);
    size_t cap = 256 + (room ? strlen(room) : 0) + json_array_size(v) * 800;
    char *target = room ? malloc(cap) : NULL;
    if (!target) {
        free(room);
        return NULL;
    }
    int len = snprintf(target, cap, "/_matrix/federation/v1/backfill/%s?limit=%zu", room, limit);
    free(room);
    size_t i;
    json_t *id;
    json_array_foreach(v, i, id) {
        char *e = hs_fed_pct_encode(json_string_value(id));
        if (e && len > 0 && (size_t)len < cap) len += snprintf(target + len, cap - (size_t)len, "&v=%s", e);
        free(e);
    }
    json_t *answer = get_json(srv, server, target, kind);
    free(target);
    json_t *pdus = json_object_get(answer, "pdus");
    if (json_is_array(pdus)) {
        json_incref(pdus);
    } else {
        pdus = NULL;
        if (*kind == ANSWER_OK) *kind = ANSWER_REFUSED; /* an answer, but not one we can use */
    }
    json_decref(answer);
    return pdus;
}

/* GET /event/{id} on server: the PDU (new reference) or NULL. */
static json_t *fetch_event(hs_server *srv, const char *server, const char *event_id)
{
    char *e = hs_fed_pct_encode(event_id);
    char target[1024];
    snprintf(target, sizeof target, "/_matrix/federation/v1/event/%s", e ? e : "");
    free(e);
    answer_kind kind;
    json_t *answer = get_json(srv, server, target, &kind);
    json_t *pdu = json_array_get(json_object_get(answer, "pdus"), 0);
    if (json_is_object(pdu)) json_incref(pdu);
    else pdu = NULL;
    json_decref(answer);
    return pdu;
}

/* A stored event of room_id as a PDU (new reference), or NULL; *outlier tells whether
 * it is held as an outlier. */
static json_t *stored_pdu(hs_server *srv, const char *room_id, const char *event_id, bool *outlier)
{
    hs_store_event ev;
    if (hs_store_event_get(srv->store, event_id, &ev) != 0) return NULL;
    json_t *pdu = strcmp(ev.room_id, room_id) == 0 ? json_loads(ev.pdu_json, JSON_ALLOW_NUL, NULL) : NULL;
    if (outlier) *outlier = ev.outlier;
    hs_store_event_clear(&ev);
    return pdu;
}

/* 1 if event_id is held here as a timeline event, 0 if not (absent or an outlier). */
static int held_as_history(hs_server *srv, const char *event_id)
{
    hs_store_event ev;
    int rc = hs_store_event_get(srv->store, event_id, &ev);
    int held = rc == 0 && !ev.outlier;
    if (rc == 0) hs_store_event_clear(&ev);
    return held;
}

static int by_depth_desc(const void *a, const void *b)
{
    long long da = hs_pdu_depth(json_array_get(*(json_t *const *)a, 1));
    long long db = hs_pdu_depth(json_array_get(*(json_t *const *)b, 1));
    return da > db ? -1 : da < db;
}

/* The auth event `pdu` cites for its own (type, state_key), from the checked set, or
 * NULL: the state before a state event at its key, as far as its PDU tells. */
static const char *replaced_of(const json_t *pdu, const json_t *events)
{
    const char *type = hs_pdu_type(pdu), *sk = hs_pdu_state_key(pdu);
    for (size_t k = 0; sk && k < hs_pdu_auth_event_count(pdu); k++) {
        const char *aid = hs_pdu_auth_event(pdu, k);
        const json_t *a = json_object_get(events, aid);
        const char *at = a ? hs_pdu_type(a) : NULL, *ask = a ? hs_pdu_state_key(a) : NULL;
        if (at && ask && strcmp(at, type) == 0 && strcmp(ask, sk) == 0) return aid;
    }
    return NULL;
}

/* What one answer brings to check: the events we do not hold as history, and every
 * auth event they cite, transitively - held here, in the answer, or fetched. */
typedef struct batch {
    json_t *fresh;     /* event ID -> PDU: the answer's events not held as history */
    json_t *pool;      /* event ID (as cited) -> PDU: fresh and every auth event found */
    json_t *extra;     /* event ID -> PDU: auth events fetched with /event */
    const json_t *create;
    bool too_big;
} batch;

static void batch_clear(batch *b)
{
    json_decref(b->fresh);
    json_decref(b->pool);
    json_decref(b->extra);
}

static void batch_fill(hs_server *srv, const char *server, const hs_room_version *rv, const char *room_id,
                       const json_t *pdus, size_t limit, batch *b)
{
    *b = (batch){json_object(), json_object(), json_object(), NULL, false};
    size_t i;
    json_t *pdu;
    json_array_foreach(pdus, i, pdu) {
        if (i >= MAX_FETCHED || json_object_size(b->fresh) >= limit) break;
        hs_err err;
        char *id = json_is_object(pdu) ? hs_event_id_compute(pdu, rv, &err) : NULL;
        if (id && !held_as_history(srv, id)) json_object_set(b->fresh, id, pdu);
        free(id);
    }
    json_t *queue = json_array();
    const char *id;
    json_object_foreach(b->fresh, id, pdu) {
        json_object_set(b->pool, id, pdu);
        if (strcmp(hs_pdu_type(pdu) ? hs_pdu_type(pdu) : "", "m.room.create") == 0) b->create = pdu;
        for (size_t k = 0; k < hs_pdu_auth_event_count(pdu); k++)
            json_array_append_new(queue, json_string(hs_pdu_auth_event(pdu, k)));
    }
    size_t fetched = 0;
    for (i = 0; i < json_array_size(queue) && !b->too_big; i++) {
        const char *aid = json_string_value(json_array_get(queue, i));
        if (!aid || json_object_get(b->pool, aid)) continue;
        json_t *a = stored_pdu(srv, room_id, aid, NULL);
        if (!a && fetched < HS_FED_BACKFILL_AUTH_FETCH) {
            fetched++;
            if ((a = fetch_event(srv, server, aid))) json_object_set(b->extra, aid, a);
        }
        if (!a) continue; /* the check names what is missing */
        json_object_set_new(b->pool, aid, a);
        if (strcmp(hs_pdu_type(a) ? hs_pdu_type(a) : "", "m.room.create") == 0) b->create = a;
        for (size_t k = 0; k < hs_pdu_auth_event_count(a); k++)
            json_array_append_new(queue, json_string(hs_pdu_auth_event(a, k)));
        b->too_big = json_object_size(b->pool) > MAX_CHAIN;
    }
    json_decref(queue);
    if (!b->create && !b->too_big) {
        /* v12 events do not cite the create event: the room's own is the one. */
        char *create_id = NULL;
        json_t *c = hs_store_state_get(srv->store, room_id, "m.room.create", "", &create_id) == 0
                        ? stored_pdu(srv, room_id, create_id, NULL) : NULL;
        if (c) {
            json_object_set_new(b->pool, create_id, c);
            b->create = c;
        }
        free(create_id);
    }
}

/* The events of the pool `id` needs to be checked: itself and its auth events,
 * transitively, plus the create event (new array). */
static json_t *closure_of(const batch *b, const char *id)
{
    json_t *chain = json_array(), *queue = json_array(), *seen = json_object();
    json_array_append_new(queue, json_string(id));
    for (size_t i = 0; i < json_array_size(queue); i++) {
        const char *eid = json_string_value(json_array_get(queue, i));
        json_t *p = json_object_get(b->pool, eid);
        if (!p || json_object_get(seen, eid)) continue;
        json_object_set_new(seen, eid, json_true());
        json_array_append(chain, p);
        for (size_t k = 0; k < hs_pdu_auth_event_count(p); k++)
            json_array_append_new(queue, json_string(hs_pdu_auth_event(p, k)));
    }
    if (b->create) json_array_append(chain, (json_t *)b->create);
    json_decref(queue);
    json_decref(seen);
    return chain;
}

/* Checks the batch (hs_fed_state_validate: format, signatures, content hash, auth
 * against its auth events). All at once first; if that fails, event by event with its
 * own auth chain, so one bad event (and what depends on it) is left out, as an
 * inbound PDU would be rejected alone. Returns event ID -> checked PDU (new). */
static json_t *check_batch(hs_server *srv, const char *server, const hs_room_version *rv, const char *room_id,
                           const batch *b)
{
    json_t *checked = json_object();
    json_t *state = json_pack("[O]", b->create);
    json_t *chain = json_array();
    const char *id;
    json_t *pdu;
    json_object_foreach(b->pool, id, pdu) json_array_append(chain, pdu);
    hs_fed_state_set set = {0};
    char msg[512] = "";
    if (hs_fed_state_validate(srv, rv, room_id, state, chain, &set, msg, sizeof msg) == 0) {
        json_object_update(checked, set.events);
        hs_fed_state_set_clear(&set);
    } else {
        hs_info("fed", "backfill of %s from %s: %s; checking its events one by one", room_id, server, msg);
        size_t refused = 0;
        json_object_foreach(b->fresh, id, pdu) {
            json_t *own = closure_of(b, id);
            if (hs_fed_state_validate(srv, rv, room_id, state, own, &set, msg, sizeof msg) == 0) {
                json_object_update(checked, set.events);
                hs_fed_state_set_clear(&set);
            } else {
                refused++;
                hs_debug("fed", "backfill of %s: %s refused: %s", room_id, id, msg);
            }
            json_decref(own);
        }
        hs_info("fed", "backfill of %s from %s: %zu of %zu events refused", room_id, server, refused,
                json_object_size(b->fresh));
    }
    json_decref(chain);
    json_decref(state);
    return checked;
}

/* Stores the checked history of the batch below `boundary`, newest first, then the
 * auth events fetched for it as outliers. Returns the number of events that became
 * history, or -1. */
static long store_checked(hs_server *srv, const hs_room_version *rv, const char *room_id, const char *boundary,
                          const batch *b, const json_t *checked)
{
    json_t *hist = json_array();
    const char *id;
    json_t *pdu;
    json_object_foreach(b->fresh, id, pdu) {
        json_t *c = json_object_get(checked, id);
        if (c) json_array_append_new(hist, json_pack("[sO]", id, c));
    }
    size_t n_hist = json_array_size(hist), i;
    json_t **v = malloc((n_hist ? n_hist : 1) * sizeof *v);
    for (i = 0; v && i < n_hist; i++) v[i] = json_incref(json_array_get(hist, i));
    if (v) {
        qsort(v, n_hist, sizeof *v, by_depth_desc);
        json_array_clear(hist);
        for (i = 0; i < n_hist; i++) json_array_append_new(hist, v[i]);
        free(v);
    }
    json_object_foreach(b->extra, id, pdu) {
        json_t *c = json_object_get(checked, id);
        if (c) json_array_append_new(hist, json_pack("[sO]", id, c));
    }
    size_t n = json_array_size(hist), k = 0;
    hs_store_backfill_event *rows = calloc(n ? n : 1, sizeof *rows);
    char **texts = calloc(n ? n : 1, sizeof *texts);
    hs_err err = {{0}};
    for (; rows && texts && k < n; k++) {
        json_t *h = json_array_get(hist, k);
        const char *eid = json_string_value(json_array_get(h, 0));
        const json_t *p = json_array_get(h, 1);
        if (!(texts[k] = hs_cjson_encode(p, 0, NULL, &err))) break;
        rows[k].ev = hs_room_remote_row(p, rv, eid, room_id, texts[k]);
        rows[k].outlier = k >= n_hist;
        rows[k].replaced = k < n_hist ? replaced_of(p, checked) : NULL;
    }
    size_t done = 0;
    long stored = k == n && hs_store_backfill_put(srv->store, room_id, boundary, rows, n, &done) >= 0 ? (long)done
                                                                                                        : -1;
    if (stored < 0) hs_error("fed", "backfill of %s: cannot store %zu events", room_id, n);
    for (i = 0; texts && i < k; i++) free(texts[i]);
    free(texts);
    free(rows);
    json_decref(hist);
    return stored;
}

/* Checks the answer `pdus` of server and stores what passes below `boundary`. Returns
 * the number of events that became history, 0 if none (nothing new or all refused),
 * -1 on a database error. */
static long check_and_store(hs_server *srv, const char *server, const hs_room_version *rv, const char *room_id,
                            const char *boundary, const json_t *pdus, size_t limit)
{
    batch b;
    batch_fill(srv, server, rv, room_id, pdus, limit, &b);
    long stored = 0;
    if (json_object_size(b.fresh) == 0) {
        /* nothing we lack */
    } else if (b.too_big) {
        hs_info("fed", "backfill of %s from %s: the auth chain is over %d events", room_id, server, MAX_CHAIN);
    } else if (!b.create) {
        hs_info("fed", "backfill of %s from %s: no create event for the room", room_id, server);
    } else {
        json_t *checked = check_batch(srv, server, rv, room_id, &b);
        stored = store_checked(srv, rv, room_id, boundary, &b, checked);
        json_decref(checked);
    }
    batch_clear(&b);
    return stored;
}

/* The server of the room creator's (the create event's sender), malloc'd, or NULL. */
static char *creator_server(hs_server *srv, const char *room_id)
{
    char *create_id = NULL;
    if (hs_store_state_get(srv->store, room_id, "m.room.create", "", &create_id) != 0) return NULL;
    json_t *pdu = stored_pdu(srv, room_id, create_id, NULL);
    free(create_id);
    const char *sender = pdu ? hs_pdu_sender(pdu) : NULL;
    const char *server = sender ? hs_id_server_name(sender) : NULL;
    char *out = server ? strdup(server) : NULL;
    json_decref(pdu);
    return out;
}

/* The servers to ask, at most HS_FED_BACKFILL_TRIES, into a new array of names:
 * `first` (the server a join went through), then the room's joined servers but us -
 * the creator's first, as the one most likely to hold the whole history. */
static json_t *candidates(hs_server *srv, const char *room_id, const char *first)
{
    json_t *out = json_array();
    if (first && strcmp(first, srv->cfg.server_name) != 0) json_array_append_new(out, json_string(first));
    char **names = NULL;
    size_t n = 0;
    if (hs_store_fed_joined_servers(srv->store, room_id, &names, &n) != 0) return out;
    char *creator = creator_server(srv, room_id);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n && json_array_size(out) < HS_FED_BACKFILL_TRIES; i++) {
            bool is_creator = creator && strcmp(names[i], creator) == 0;
            if (is_creator != (pass == 0) || strcmp(names[i], srv->cfg.server_name) == 0 ||
                (first && strcmp(names[i], first) == 0))
                continue;
            json_array_append_new(out, json_string(names[i]));
        }
    }
    free(creator);
    hs_store_free_strings(names, n);
    return out;
}

/* The round itself, under the lock. */
static long backfill_round(hs_server *srv, const char *room_id, const char *first, size_t limit)
{
    const hs_room_version *rv = hs_room_remote_version(srv->store, room_id);
    hs_store_event oldest;
    if (!rv || hs_store_room_oldest(srv->store, room_id, &oldest) != 0) return 0;
    json_t *pdu = json_loads(oldest.pdu_json, JSON_ALLOW_NUL, NULL);
    json_t *v = json_array();
    const char *type = pdu ? hs_pdu_type(pdu) : NULL;
    for (size_t k = 0; type && strcmp(type, "m.room.create") != 0 && k < hs_pdu_prev_event_count(pdu); k++) {
        const char *prev = hs_pdu_prev_event(pdu, k);
        if (json_array_size(v) < MAX_V && !held_as_history(srv, prev)) json_array_append_new(v, json_string(prev));
    }
    json_decref(pdu);
    long result = 0;
    json_t *servers = json_array_size(v) ? candidates(srv, room_id, first) : json_array();
    int64_t deadline = hs_clock_mono_ms() + HS_FED_BACKFILL_SECONDS * 1000;
    bool answered = false;
    size_t i;
    json_t *name;
    json_array_foreach(servers, i, name) {
        if (i >= HS_FED_BACKFILL_TRIES || hs_clock_mono_ms() > deadline) break;
        const char *server = json_string_value(name);
        answer_kind kind;
        json_t *pdus = fetch_backfill(srv, server, room_id, v, limit, &kind);
        answered |= kind != ANSWER_FAILED;
        long stored = pdus ? check_and_store(srv, server, rv, room_id, oldest.event_id, pdus, limit) : 0;
        json_decref(pdus);
        if (stored != 0) {
            result = stored;
            break;
        }
    }
    if (result == 0 && json_array_size(servers) && !answered) result = -1;
    hs_debug("fed", "backfill of %s before %s: %ld events (%zu candidate servers)", room_id, oldest.event_id, result,
             json_array_size(servers));
    json_decref(servers);
    json_decref(v);
    hs_store_event_clear(&oldest);
    return result;
}

/* 1 when the room's history here begins with m.room.create (or the room is unknown):
 * nothing to backfill, and no need to wait for another room's backfill to know it. */
static int history_complete(hs_server *srv, const char *room_id)
{
    hs_store_event oldest;
    if (hs_store_room_oldest(srv->store, room_id, &oldest) != 0) return 1;
    json_t *pdu = json_loads(oldest.pdu_json, JSON_ALLOW_NUL, NULL);
    const char *type = pdu ? hs_pdu_type(pdu) : NULL;
    int complete = !type || strcmp(type, "m.room.create") == 0;
    json_decref(pdu);
    hs_store_event_clear(&oldest);
    return complete;
}

long hs_fed_backfill(hs_server *srv, const char *room_id, const char *first, size_t limit)
{
    if (limit == 0 || history_complete(srv, room_id)) return 0;
    if (limit > HS_FED_BACKFILL_MAX) limit = HS_FED_BACKFILL_MAX;
    int slot = running_enter(room_id);
    long result = backfill_round(srv, room_id, first, limit);
    running_leave(slot);
    return result;
}
