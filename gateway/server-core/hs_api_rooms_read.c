/* hs_api_rooms_read: HTTP handlers that read rooms - state (one key or all), event by
 * ID, joined_rooms, messages, context, members, joined_members, relations, threads and
 * timestamp_to_event. They read the room store directly and serve events through
 * hs_room_format, so a redacted event is redacted wherever it appears.
 *
 * The room's state and members are the current ones for a joined user and, for a
 * former member (leave or ban), the ones after their own leave or ban. Its history
 * (messages, context, event, relations) is open to members, former members and, in a
 * world_readable room, anyone, filtered per event by history visibility
 * (hs_room_visibility): a former member sees what was sent while they were in. A user
 * who forgot the room, or never had any membership in a room that is not world
 * readable, gets 403 M_FORBIDDEN; an unknown room is 404 M_NOT_FOUND.
 *
 * Pagination tokens are stream orderings written "s<N>", naming the position just after
 * event N: paginating backwards from s<N> returns events N, N-1, ...; forwards returns
 * N+1, N+2, .... N may be negative: history fetched from other servers sits below zero
 * (hs_store_rooms.h). A /sync token ("s<N>_..." , hs_sync_token.h) is accepted wherever
 * a token is, by its events part, which has the same meaning. Outliers (events held as
 * state or auth only) are never part of a page, nor an anchor of /context.
 *
 * /messages backwards that runs out of events in a room whose history here does not
 * begin with m.room.create (a room joined over federation) backfills: one round of
 * hs_fed_backfill for what the page still lacks, then the page continues with what it
 * stored. A failure to reach any server answers with what is held here and an `end`
 * token, so the client can try again; a server with nothing older ends the room's
 * history (no `end`). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_api_rooms_internal.h"
#include "server-core/hs_fed_history.h"
#include "server-core/hs_filter.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_room_visibility.h"
#include "server-core/hs_store_history.h"
#include "server-core/hs_store_rooms.h"
#include "server-core/hs_sync_token.h"
#include "server-core/hs_clock.h"

#define MESSAGES_DEFAULT_LIMIT 10
#define MESSAGES_MAX_LIMIT 1000
#define RELATIONS_DEFAULT_LIMIT 50
/* Events looked at (taken or filtered out) per request, so a filter matching nothing in
 * a long room costs a bounded amount; the client continues from `end`. */
#define SCAN_MAX 5000

/* ---- request parameters ------------------------------------------------------------- */

/* A pagination token from the query: 0 (absent, *pos untouched), 1 parsed, -1 after 400. */
static int token_query(const hs_request *req, const char *name, int64_t *pos, hs_response *resp)
{
    const char *t = hs_request_query(req, name);
    if (!t) return 0;
    hs_sync_pos p;
    if (strlen(t) >= HS_SYNC_TOKEN_MAX || hs_sync_token_parse_paging(t, &p) != 0) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'%s' is not a token of this server", name);
        return -1;
    }
    *pos = p.events;
    return 1;
}

/* The `limit` query parameter clamped to max, `dflt` when absent; -1 after 400. */
static long limit_query(const hs_request *req, long dflt, long max, hs_response *resp)
{
    const char *l = hs_request_query(req, "limit");
    if (!l) return dflt;
    char *end;
    long v = strtol(l, &end, 10);
    if (*end || end == l || v < 0) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'limit' must be a non-negative integer");
        return -1;
    }
    return v > max ? max : v;
}

/* The `filter` query parameter (a RoomEventFilter as JSON) into f->timeline. Returns 0
 * (absent: f stays the empty filter) or -1 after 400. */
static int filter_query(const hs_request *req, hs_filter *f, hs_response *resp)
{
    hs_filter_init(f);
    const char *text = hs_request_query(req, "filter");
    if (!text) return 0;
    char err[256] = "not JSON";
    json_t *ef = strlen(text) <= HS_FILTER_MAX_BYTES ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;
    json_t *whole = json_is_object(ef) ? json_pack("{s{sO}}", "room", "timeline", ef) : NULL;
    int rc = whole ? hs_filter_from_json(whole, f, err, sizeof err) : -1;
    json_decref(whole);
    json_decref(ef);
    if (rc != 0) hs_response_error(resp, 400, "M_INVALID_PARAM", "'filter' is not a RoomEventFilter: %s", err);
    return rc;
}

static void token_string(char out[32], int64_t pos)
{
    snprintf(out, 32, "s%" PRId64, pos);
}

/* What both gates start from: the room exists (else 404) and the user's membership
 * and whether they forgot it are read (else 500). Returns 0, or -1 after answering. */
static int member_status(hs_server *srv, const char *room_id, const char *user, char membership[32], int *forgotten,
                         hs_response *resp)
{
    char version[HS_STORE_ROOM_VERSION_MAX];
    int rc = hs_store_room_get(srv->store, room_id, version);
    if (rc == 1) {
        hs_response_error(resp, 404, "M_NOT_FOUND", "unknown room %s", room_id);
        return -1;
    }
    *forgotten = rc == 0 ? hs_store_room_forgotten(srv->store, room_id, user) : -1;
    if (*forgotten < 0 || hs_store_membership(srv->store, room_id, user, membership) != 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read room %s", room_id);
        return -1;
    }
    return 0;
}

/* The gate for reading the room's history (see the top of the file): a visibility
 * checker (caller frees), or NULL after answering 404/403/500. */
static hs_room_visibility *history_reader(hs_server *srv, const char *room_id, const char *user, hs_response *resp)
{
    char membership[32], current[32];
    int forgotten;
    if (member_status(srv, room_id, user, membership, &forgotten, resp) != 0) return NULL;
    if (hs_room_visibility_current(srv->store, room_id, current) != 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read room %s", room_id);
        return NULL;
    }
    bool joined = strcmp(membership, "join") == 0;
    if (forgotten || (!membership[0] && strcmp(current, "world_readable") != 0)) {
        hs_response_error(resp, 403, "M_FORBIDDEN", "%s is not in room %s", user, room_id);
        return NULL;
    }
    hs_room_visibility *v = hs_room_visibility_new(srv->store, user, joined);
    if (!v) hs_response_error(resp, 500, "M_UNKNOWN", "out of memory");
    return v;
}

/* ---- state and single events -------------------------------------------------------- */

typedef struct state_ctx {
    hs_store *st;
    json_t *arr;
    const hs_room_viewer *who;
    const char *membership, *not_membership;   /* members filters; NULL for none */
    bool members_only;
} state_ctx;

/* Appends a state event if it passes the members filters. */
static int add_state(state_ctx *c, const hs_store_event *ev)
{
    json_t *j = hs_room_client_event(c->st, ev, c->who);
    if (!j) return -1;
    const char *type = json_string_value(json_object_get(j, "type"));
    const char *m = json_string_value(json_object_get(json_object_get(j, "content"), "membership"));
    bool keep = !c->members_only || (type && strcmp(type, "m.room.member") == 0);
    if (keep && c->membership) keep = m && strcmp(m, c->membership) == 0;
    if (keep && c->not_membership) keep = !m || strcmp(m, c->not_membership) != 0;
    if (keep) json_array_append_new(c->arr, j);
    else json_decref(j);
    return 0;
}

static int collect_state(void *ctx, const char *type, const char *state_key, const hs_store_event *ev)
{
    (void)type;
    (void)state_key;
    return add_state(ctx, ev);
}

/* Appends the state after event_id (through the members filters). Returns 0 or -1; an
 * unknown event adds nothing. */
static int collect_state_at(state_ctx *c, const char *event_id)
{
    hs_state_map *map = NULL;
    int rc = hs_store_state_at_event(c->st, event_id, true, &map);
    if (rc != 0) return rc < 0 ? -1 : 0;
    hs_state_entry *ents = NULL;
    long n = hs_state_map_entries(map, &ents);
    rc = n < 0 ? -1 : 0;
    for (long i = 0; i < n && rc == 0; i++) {
        if (c->members_only && strcmp(ents[i].type, "m.room.member") != 0) continue;
        hs_store_event ev;
        rc = hs_store_event_get(c->st, ents[i].event_id, &ev) == 0 ? add_state(c, &ev) : -1;
        if (rc == 0) hs_store_event_clear(&ev);
    }
    free(ents);
    hs_state_map_free(map);
    return rc;
}

/* The gate for reading the room's state: 0 with *frozen NULL for a joined user (the
 * current state), or with *frozen (malloc'd) the former member's own leave or ban event,
 * the state after which is what they may still read; -1 after answering 404 (unknown
 * room), 403 (never a member, or forgotten) or 500. */
static int state_reader(hs_server *srv, const char *room_id, const char *user, char **frozen, hs_response *resp)
{
    *frozen = NULL;
    char membership[32];
    int forgotten;
    if (member_status(srv, room_id, user, membership, &forgotten, resp) != 0) return -1;
    if (!forgotten && strcmp(membership, "join") == 0) return 0;
    if (!forgotten && (strcmp(membership, "leave") == 0 || strcmp(membership, "ban") == 0)) {
        if (hs_store_state_get(srv->store, room_id, "m.room.member", user, frozen) == 0) return 0;
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read room %s", room_id);
        return -1;
    }
    hs_response_error(resp, 403, "M_FORBIDDEN", "%s is not in room %s", user, room_id);
    return -1;
}

/* Answers a request that reads the room's state: authenticates, passes the gate
 * (state_reader) and hands `frozen` (NULL: the current state; else the event after
 * which the state is read; freed here) to `answer`. */
typedef void state_answer_fn(hs_server *srv, const hs_request *req, hs_response *resp, const hs_room_viewer *who,
                             const char *room_id, const char *frozen);

static void state_handler(hs_server *srv, const hs_request *req, hs_response *resp, state_answer_fn *answer)
{
    hs_access_identity who;
    int64_t now = hs_clock_wall_ms();
    if (hs_access_authenticate(srv->store, req, now, &who, resp) != 0) return;
    const char *room_id = hs_request_param(req, "roomId");
    char *frozen;
    if (state_reader(srv, room_id, who.user_id, &frozen, resp) != 0) return;
    hs_room_viewer v = hs_api_rooms__viewer(&who, now);
    answer(srv, req, resp, &v, room_id, frozen);
    free(frozen);
}

static void state_answer(hs_server *srv, const hs_request *req, hs_response *resp, const hs_room_viewer *who,
                         const char *room_id, const char *frozen)
{
    const char *type = hs_request_param(req, "eventType");
    const char *key = hs_request_param(req, "stateKey");
    if (!key) key = "";
    char *event_id = NULL;
    int rc = frozen ? hs_store_state_at_event_get(srv->store, frozen, true, type, key, &event_id)
                    : hs_store_state_get(srv->store, room_id, type, key, &event_id);
    if (rc == 1) {
        hs_response_error(resp, 404, "M_NOT_FOUND", "no %s state with key '%s'", type, key);
        return;
    }
    json_t *ev = rc == 0 ? hs_room_client_event_by_id(srv->store, event_id, who) : NULL;
    free(event_id);
    if (!ev) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the room state");
        return;
    }
    hs_response_json(resp, 200, json_incref(json_object_get(ev, "content")));
    json_decref(ev);
}

static void state_get(const hs_request *req, hs_response *resp, void *ctx)
{
    state_handler(ctx, req, resp, state_answer);
}

static void state_all_answer(hs_server *srv, const hs_request *req, hs_response *resp, const hs_room_viewer *who,
                             const char *room_id, const char *frozen)
{
    (void)req;
    hs_room_viewer v = *who;
    v.aggregate = false;
    state_ctx c = {srv->store, json_array(), &v, NULL, NULL, false};
    int rc = frozen ? collect_state_at(&c, frozen) : hs_store_state_each(srv->store, room_id, collect_state, &c);
    if (rc != 0) {
        json_decref(c.arr);
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the room state");
        return;
    }
    hs_response_json(resp, 200, c.arr);
}

static void state_all_get(const hs_request *req, hs_response *resp, void *ctx)
{
    state_handler(ctx, req, resp, state_all_answer);
}

/* Loads an event of room_id the user may see: 0, or -1 after answering 404 (absent, in
 * another room, an outlier unless outliers_ok, or hidden by history visibility) / 500.
 * An outlier is a real event of the room (a state event, say) that a client may look
 * up by ID, but it has no place in the timeline to anchor a page on. */
static int load_room_event(hs_server *srv, const char *room_id, const char *event_id, hs_room_visibility *vis,
                           bool outliers_ok, hs_store_event *ev, hs_response *resp)
{
    int rc = hs_store_event_get(srv->store, event_id, ev);
    if (rc == 0 && (strcmp(ev->room_id, room_id) != 0 || (ev->outlier && !outliers_ok))) {
        hs_store_event_clear(ev);
        rc = 1;
    }
    if (rc == 0) {
        int visible = hs_room_visibility_check(vis, ev);
        if (visible != 1) {
            hs_store_event_clear(ev);
            rc = visible < 0 ? -1 : 1;
        }
    }
    if (rc != 0) {
        hs_response_error(resp, rc == 1 ? 404 : 500, rc == 1 ? "M_NOT_FOUND" : "M_UNKNOWN", "event not found");
        return -1;
    }
    return 0;
}

/* Answers a request that reads the room's history: authenticates, passes the gate
 * (history_reader) and hands the visibility checker to `answer`. */
typedef void history_answer_fn(hs_server *srv, const hs_request *req, hs_response *resp,
                               const hs_access_identity *who, int64_t now, const char *room_id,
                               hs_room_visibility *vis);

static void history_get(hs_server *srv, const hs_request *req, hs_response *resp, history_answer_fn *answer)
{
    hs_access_identity who;
    int64_t now = hs_clock_wall_ms();
    if (hs_access_authenticate(srv->store, req, now, &who, resp) != 0) return;
    const char *room_id = hs_request_param(req, "roomId");
    hs_room_visibility *vis = history_reader(srv, room_id, who.user_id, resp);
    if (!vis) return;
    answer(srv, req, resp, &who, now, room_id, vis);
    hs_room_visibility_free(vis);
}

static void event_answer(hs_server *srv, const hs_request *req, hs_response *resp, const hs_access_identity *who,
                         int64_t now, const char *room_id, hs_room_visibility *vis)
{
    hs_store_event ev;
    if (load_room_event(srv, room_id, hs_request_param(req, "eventId"), vis, true, &ev, resp) != 0) return;
    hs_room_viewer v = hs_api_rooms__viewer(who, now);
    json_t *j = hs_room_client_event(srv->store, &ev, &v);
    hs_store_event_clear(&ev);
    if (j) hs_response_json(resp, 200, j);
    else hs_response_error(resp, 500, "M_UNKNOWN", "stored event is unreadable");
}

static void event_get(const hs_request *req, hs_response *resp, void *ctx)
{
    history_get(ctx, req, resp, event_answer);
}

static void joined_rooms_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    if (hs_access_authenticate(srv->store, req, hs_clock_wall_ms(), &who, resp) != 0) return;
    char **ids;
    size_t n;
    if (hs_store_joined_rooms(srv->store, who.user_id, &ids, &n) != 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read memberships");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(arr, json_string(ids[i]));
    hs_store_free_strings(ids, n);
    hs_response_json(resp, 200, json_pack("{so}", "joined_rooms", arr));
}

/* ---- pages of events: messages and context ------------------------------------------- */

typedef struct page {
    hs_store *st;
    hs_room_visibility *vis;
    const hs_event_filter *ef;
    const hs_room_viewer *who;
    json_t *chunk;
    json_t *senders;         /* set of senders taken (object keys), for lazy-loaded members */
    long visited;
    int64_t newest_stream;   /* of the events taken */
    char newest_id[256];     /* "" if none was taken */
} page;

static int page_event(void *ctx, const hs_store_event *ev)
{
    page *p = ctx;
    p->visited++;
    int visible = hs_room_visibility_check(p->vis, ev);
    if (visible <= 0) return visible;
    json_t *pdu = json_loads(ev->pdu_json, JSON_ALLOW_NUL, NULL);
    if (!pdu) return -1;
    const char *sender = hs_pdu_sender(pdu);
    /* a redacted event has lost its content as far as filters are concerned */
    bool pass = hs_filter_event_allowed(p->ef, hs_pdu_type(pdu), sender, ev->room_id,
                                        ev->redacted_by ? NULL : hs_pdu_content(pdu));
    if (pass && sender) json_object_set_new(p->senders, sender, json_true());
    json_decref(pdu);
    if (!pass) return 0;
    json_t *j = hs_room_client_event(p->st, ev, p->who);
    if (!j) return -1;
    json_array_append_new(p->chunk, j);
    if (!p->newest_id[0] || ev->stream > p->newest_stream) {
        p->newest_stream = ev->stream;
        snprintf(p->newest_id, sizeof p->newest_id, "%s", ev->event_id);
    }
    return 1;
}

static void page_init(page *p, hs_store *st, hs_room_visibility *vis, const hs_event_filter *ef,
                      const hs_room_viewer *who)
{
    *p = (page){.st = st, .vis = vis, .ef = ef, .who = who, .chunk = json_array(), .senders = json_object()};
}

static void page_clear(page *p)
{
    json_decref(p->chunk);
    json_decref(p->senders);
}

/* The m.room.member events of `senders` in the state after `event_id`, appended to arr. */
static int add_lazy_members(hs_store *st, const char *event_id, const json_t *senders, const hs_room_viewer *who,
                            json_t *arr)
{
    const char *sender;
    json_t *unused;
    json_object_foreach((json_t *)senders, sender, unused) {
        char *member = NULL;
        int rc = hs_store_state_at_event_get(st, event_id, true, "m.room.member", sender, &member);
        if (rc < 0) return -1;
        if (rc == 1) continue;
        json_t *j = hs_room_client_event_by_id(st, member, who);
        free(member);
        if (!j) return -1;
        json_array_append_new(arr, j);
    }
    return 0;
}

/* The whole state after event_id, appended to arr. */
static int add_state_at(hs_store *st, const char *event_id, const hs_room_viewer *who, json_t *arr)
{
    hs_state_map *map;
    if (hs_store_state_at_event(st, event_id, true, &map) != 0) return -1;
    hs_state_entry *ents = NULL;
    long n = hs_state_map_entries(map, &ents);
    int rc = n < 0 ? -1 : 0;
    for (long i = 0; i < n && rc == 0; i++) {
        json_t *j = hs_room_client_event_by_id(st, ents[i].event_id, who);
        if (j) json_array_append_new(arr, j);
        else rc = -1;
    }
    free(ents);
    hs_state_map_free(map);
    return rc;
}

/* Where /messages without `from` starts: backwards at the room's newest event,
 * forwards just before its oldest one (history from other servers sits below zero).
 * Returns 0 or -1. */
static int room_edge(hs_store *st, const char *room_id, bool backwards, int64_t *from)
{
    if (backwards) return hs_store_room_max_stream(st, room_id, from);
    hs_store_event oldest;
    int rc = hs_store_room_oldest(st, room_id, &oldest);
    if (rc < 0) return -1;
    *from = rc == 0 && oldest.stream <= 0 ? oldest.stream - 1 : 0;
    if (rc == 0) hs_store_event_clear(&oldest);
    return 0;
}

static void messages_answer(hs_server *srv, const hs_request *req, hs_response *resp, const hs_access_identity *who,
                     int64_t now, const char *room_id, hs_room_visibility *vis)
{
    const char *dir = hs_request_query(req, "dir");
    if (!dir || (strcmp(dir, "b") != 0 && strcmp(dir, "f") != 0)) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'dir' must be b or f");
        return;
    }
    bool backwards = dir[0] == 'b';
    int64_t from = 0, to = HS_STORE_NO_BOUND;
    int has_from = token_query(req, "from", &from, resp);
    if (has_from < 0 || token_query(req, "to", &to, resp) < 0) return;
    hs_filter f;
    if (filter_query(req, &f, resp) != 0) return;
    long limit = limit_query(req, hs_filter_limit(&f.timeline, MESSAGES_DEFAULT_LIMIT, MESSAGES_MAX_LIMIT),
                             MESSAGES_MAX_LIMIT, resp);
    if (limit < 0) {
        hs_filter_clear(&f);
        return;
    }
    if (!has_from && room_edge(srv->store, room_id, backwards, &from) != 0) {
        hs_filter_clear(&f);
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the room");
        return;
    }
    hs_room_viewer v = hs_api_rooms__viewer(who, now);
    page p;
    page_init(&p, srv->store, vis, &f.timeline, &v);
    int64_t last;
    bool exhausted;
    long n = hs_store_room_events_scan(srv->store, room_id, from, to, backwards, limit, SCAN_MAX, page_event, &p,
                                       &last, &exhausted);
    /* Backwards, the position the next page starts from. */
    int64_t next = p.visited ? last - 1 : from;
    bool more_remote = false;
    if (n >= 0 && backwards && exhausted && n < limit && to == HS_STORE_NO_BOUND) {
        long got = hs_fed_backfill(srv, room_id, NULL, HS_FED_BACKFILL_MAX);
        /* Even when this round got nothing, another request's round may have stored
         * history below us while this one waited for it. */
        long seen = p.visited;
        long more = hs_store_room_events_scan(srv->store, room_id, next, to, true, limit - n, SCAN_MAX - p.visited,
                                              page_event, &p, &last, &exhausted);
        n = more < 0 ? -1 : n + more;
        if (p.visited > seen) next = last - 1;
        more_remote = got != 0 || p.visited > seen;
    }
    json_t *state = json_array();
    if (n >= 0 && f.timeline.lazy_load_members && p.newest_id[0] &&
        add_lazy_members(srv->store, p.newest_id, p.senders, &v, state) != 0)
        n = -1;
    if (n < 0) {
        page_clear(&p);
        json_decref(state);
        hs_filter_clear(&f);
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the room's events");
        return;
    }
    char start[32], end[32];
    token_string(start, from);
    json_t *out = json_pack("{sO, ss}", "chunk", p.chunk, "start", has_from ? hs_request_query(req, "from") : start);
    /* A page that stopped before the range ran out has more behind it, and so has one
     * whose room may have more history on other servers. */
    if (!exhausted || more_remote) {
        token_string(end, backwards ? next : last);
        json_object_set_new(out, "end", json_string(end));
    }
    if (json_array_size(state)) json_object_set(out, "state", state);
    json_decref(state);
    page_clear(&p);
    hs_filter_clear(&f);
    hs_response_json(resp, 200, out);
}

static void messages_get(const hs_request *req, hs_response *resp, void *ctx)
{
    history_get(ctx, req, resp, messages_answer);
}

static void context_answer(hs_server *srv, const hs_request *req, hs_response *resp, const hs_access_identity *who,
                     int64_t now, const char *room_id, hs_room_visibility *vis)
{
    hs_filter f;
    if (filter_query(req, &f, resp) != 0) return;
    long limit = limit_query(req, hs_filter_limit(&f.timeline, MESSAGES_DEFAULT_LIMIT, MESSAGES_MAX_LIMIT),
                             MESSAGES_MAX_LIMIT, resp);
    hs_store_event ev;
    if (limit < 0 || load_room_event(srv, room_id, hs_request_param(req, "eventId"), vis, false, &ev, resp) != 0) {
        hs_filter_clear(&f);
        return;
    }
    hs_room_viewer v = hs_api_rooms__viewer(who, now);
    int64_t at = ev.stream, last;
    bool exhausted;
    json_t *event = hs_room_client_event(srv->store, &ev, &v);
    hs_store_event_clear(&ev);
    page before, after;
    page_init(&before, srv->store, vis, &f.timeline, &v);
    page_init(&after, srv->store, vis, &f.timeline, &v);
    long n_before = limit / 2;
    int ok = event != NULL;
    ok = ok && hs_store_room_events_scan(srv->store, room_id, at - 1, HS_STORE_NO_BOUND, true, n_before, SCAN_MAX,
                                         page_event,
                                         &before, &last, &exhausted) >= 0;
    char start[32], end[32];
    token_string(start, before.visited ? last - 1 : at - 1);
    ok = ok && hs_store_room_events_scan(srv->store, room_id, at, HS_STORE_NO_BOUND, false, limit - n_before, SCAN_MAX,
                                         page_event,
                                         &after, &last, &exhausted) >= 0;
    token_string(end, after.visited ? last : at);
    /* The state at the last event returned: the whole of it, or with lazy-loaded members
     * only the members of the senders shown. */
    const char *state_at = after.newest_id[0] ? after.newest_id : hs_request_param(req, "eventId");
    json_t *state = json_array();
    if (ok && f.timeline.lazy_load_members) {
        json_object_update(after.senders, before.senders);
        const char *sender = json_string_value(json_object_get(event, "sender"));
        if (sender) json_object_set_new(after.senders, sender, json_true());
        ok = add_lazy_members(srv->store, state_at, after.senders, &v, state) == 0;
    } else if (ok) {
        v.aggregate = false;
        ok = add_state_at(srv->store, state_at, &v, state) == 0;
    }
    if (ok)
        hs_response_json(resp, 200,
                         json_pack("{sO, sO, sO, so, ss, ss}", "event", event, "events_before", before.chunk,
                                   "events_after", after.chunk, "state", state, "start", start, "end", end));
    else {
        json_decref(state);
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the room's events");
    }
    json_decref(event);
    page_clear(&before);
    page_clear(&after);
    hs_filter_clear(&f);
}

static void context_get(const hs_request *req, hs_response *resp, void *ctx)
{
    history_get(ctx, req, resp, context_answer);
}

/* ---- members ------------------------------------------------------------------------ */

/* The stream ordering of a stored event. Returns 0 or -1. */
static int stream_of(hs_store *st, const char *event_id, int64_t *out)
{
    hs_store_event ev;
    *out = 0;
    if (hs_store_event_get(st, event_id, &ev) != 0) return -1;
    *out = ev.stream;
    hs_store_event_clear(&ev);
    return 0;
}

static void members_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    int64_t now = hs_clock_wall_ms();
    if (hs_access_authenticate(srv->store, req, now, &who, resp) != 0) return;
    const char *room_id = hs_request_param(req, "roomId");
    int64_t at = 0;
    int has_at = token_query(req, "at", &at, resp);
    char *frozen;
    if (has_at < 0 || state_reader(srv, room_id, who.user_id, &frozen, resp) != 0) return;
    hs_room_viewer v = hs_api_rooms__viewer(&who, now);
    v.aggregate = false;
    state_ctx c = {srv->store, json_array(), &v, hs_request_query(req, "membership"),
                   hs_request_query(req, "not_membership"), true};
    int rc = 0;
    char *at_event = NULL;
    if (has_at) {
        rc = hs_store_event_at_stream(srv->store, room_id, at, &at_event);
        if (rc == 1) rc = 0; /* before the room existed: nobody */
    }
    /* A former member sees the members as they were when they left, or earlier. */
    const char *target = has_at ? at_event : frozen;
    if (rc == 0 && has_at && at_event && frozen) {
        int64_t s_at = 0, s_left = 0;
        rc = stream_of(srv->store, at_event, &s_at) == 0 && stream_of(srv->store, frozen, &s_left) == 0 ? 0 : -1;
        if (s_left < s_at) target = frozen;
    }
    if (rc == 0) {
        if (target) rc = collect_state_at(&c, target);
        else if (!has_at) rc = hs_store_state_each(srv->store, room_id, collect_state, &c);
    }
    free(at_event);
    free(frozen);
    if (rc != 0) {
        json_decref(c.arr);
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the room's members");
        return;
    }
    hs_response_json(resp, 200, json_pack("{so}", "chunk", c.arr));
}

static int collect_joined(void *ctx, const char *type, const char *state_key, const hs_store_event *ev)
{
    json_t *joined = ctx;
    if (strcmp(type, "m.room.member") != 0) return 0;
    json_t *pdu = json_loads(ev->pdu_json, JSON_ALLOW_NUL, NULL);
    if (!pdu) return -1;
    const json_t *content = hs_pdu_content(pdu);
    const char *m = json_string_value(json_object_get(content, "membership"));
    if (m && strcmp(m, "join") == 0) {
        json_t *u = json_object();
        const json_t *name = json_object_get(content, "displayname"), *avatar = json_object_get(content, "avatar_url");
        if (json_is_string(name)) json_object_set(u, "display_name", (json_t *)name);
        if (json_is_string(avatar)) json_object_set(u, "avatar_url", (json_t *)avatar);
        json_object_set_new(joined, state_key, u);
    }
    json_decref(pdu);
    return 0;
}

static void joined_members_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    if (hs_access_authenticate(srv->store, req, hs_clock_wall_ms(), &who, resp) != 0) return;
    const char *room_id = hs_request_param(req, "roomId");
    if (hs_api_rooms__require_joined(srv, room_id, who.user_id, resp) != 0) return;
    json_t *joined = json_object();
    if (hs_store_state_each(srv->store, room_id, collect_joined, joined) != 0) {
        json_decref(joined);
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the room's members");
        return;
    }
    hs_response_json(resp, 200, json_pack("{so}", "joined", joined));
}

/* ---- relations ---------------------------------------------------------------------- */

/* A chunk of visible events with a next_batch token, as relations and threads answer. */
typedef struct chunk_ctx {
    hs_store *st;
    hs_room_visibility *vis;
    const hs_room_viewer *who;
    json_t *chunk;
    int64_t last;   /* the position of the last event looked at, visible or not */
} chunk_ctx;

/* Notes pos as the last position looked at and appends ev if the user may see it.
 * Returns 0, or the visibility check's -1. */
static int chunk_add(chunk_ctx *c, const hs_store_event *ev, int64_t pos)
{
    c->last = pos;
    int visible = hs_room_visibility_check(c->vis, ev);
    if (visible <= 0) return visible;
    json_t *j = hs_room_client_event(c->st, ev, c->who);
    if (!j) return -1;
    json_array_append_new(c->chunk, j);
    return 0;
}

/* The {chunk, next_batch} body of a read that returned n of at most limit events; a full
 * page gets next_batch = `next`. Takes c->chunk. n < 0 (the read failed) answers 500
 * "cannot read <what>" and returns NULL. */
static json_t *chunk_body(chunk_ctx *c, long n, long limit, int64_t next, const char *what, hs_response *resp)
{
    if (n < 0) {
        json_decref(c->chunk);
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read %s", what);
        return NULL;
    }
    json_t *out = json_pack("{so}", "chunk", c->chunk);
    if (n > 0 && n == limit) {
        char token[32];
        token_string(token, next);
        json_object_set_new(out, "next_batch", json_string(token));
    }
    return out;
}

static int collect_relation(void *ctx, const hs_store_event *ev)
{
    return chunk_add(ctx, ev, ev->stream);
}

static void relations_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    int64_t now = hs_clock_wall_ms();
    if (hs_access_authenticate(srv->store, req, now, &who, resp) != 0) return;
    const char *room_id = hs_request_param(req, "roomId");
    const char *event_id = hs_request_param(req, "eventId");
    const char *dir = hs_request_query(req, "dir");
    if (dir && strcmp(dir, "b") != 0 && strcmp(dir, "f") != 0) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'dir' must be b or f");
        return;
    }
    bool backwards = !dir || dir[0] == 'b';
    int64_t from = backwards ? INT64_MAX : INT64_MIN, to = HS_STORE_NO_BOUND;
    long limit = limit_query(req, RELATIONS_DEFAULT_LIMIT, MESSAGES_MAX_LIMIT, resp);
    if (limit < 0 || token_query(req, "from", &from, resp) < 0 || token_query(req, "to", &to, resp) < 0) return;
    hs_room_visibility *vis = history_reader(srv, room_id, who.user_id, resp);
    if (!vis) return;
    hs_store_event parent;
    if (load_room_event(srv, room_id, event_id, vis, true, &parent, resp) != 0) {
        hs_room_visibility_free(vis);
        return;
    }
    hs_store_event_clear(&parent);
    hs_room_viewer v = hs_api_rooms__viewer(&who, now);
    v.aggregate = false;
    chunk_ctx c = {srv->store, vis, &v, json_array(), 0};
    long n = hs_store_relations(srv->store, room_id, event_id, hs_request_param(req, "relType"),
                                hs_request_param(req, "eventType"), from, to, backwards, limit, collect_relation, &c);
    hs_room_visibility_free(vis);
    json_t *out = chunk_body(&c, n, limit, backwards ? c.last - 1 : c.last, "the event's relations", resp);
    if (!out) return;
    const char *from_s = hs_request_query(req, "from");
    if (from_s) json_object_set_new(out, "prev_batch", json_string(from_s));
    hs_response_json(resp, 200, out);
}

/* ---- threads ----------------------------------------------------------------------- */

static int collect_thread(void *ctx, const hs_store_event *root, int64_t latest)
{
    return chunk_add(ctx, root, latest);
}

/* GET /v1/rooms/{roomId}/threads: thread roots with their m.thread summaries, most
 * recently active first; include=participated keeps the user's own threads. */
static void threads_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    int64_t now = hs_clock_wall_ms();
    if (hs_access_authenticate(srv->store, req, now, &who, resp) != 0) return;
    const char *room_id = hs_request_param(req, "roomId");
    const char *include = hs_request_query(req, "include");
    if (include && strcmp(include, "all") != 0 && strcmp(include, "participated") != 0) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'include' must be all or participated");
        return;
    }
    int64_t before = INT64_MAX;
    long limit = limit_query(req, RELATIONS_DEFAULT_LIMIT, MESSAGES_MAX_LIMIT, resp);
    if (limit < 0 || token_query(req, "from", &before, resp) < 0) return;
    hs_room_visibility *vis = history_reader(srv, room_id, who.user_id, resp);
    if (!vis) return;
    hs_room_viewer v = hs_api_rooms__viewer(&who, now);
    chunk_ctx c = {srv->store, vis, &v, json_array(), 0};
    bool mine = include && strcmp(include, "participated") == 0;
    long n = hs_store_threads(srv->store, room_id, mine ? who.user_id : NULL, before, limit, collect_thread, &c);
    hs_room_visibility_free(vis);
    json_t *out = chunk_body(&c, n, limit, c.last, "the room's threads", resp);
    if (out) hs_response_json(resp, 200, out);
}

/* ---- timestamp_to_event ------------------------------------------------------------ */

typedef struct ts_ctx {
    hs_room_visibility *vis;
    char event_id[256];
    int64_t ts;
} ts_ctx;

static int first_visible(void *ctx, const hs_store_event *ev)
{
    ts_ctx *c = ctx;
    int visible = hs_room_visibility_check(c->vis, ev);
    if (visible <= 0) return visible;
    json_t *pdu = json_loads(ev->pdu_json, JSON_ALLOW_NUL, NULL);
    if (!pdu) return -1;
    c->ts = hs_pdu_origin_server_ts(pdu);
    json_decref(pdu);
    snprintf(c->event_id, sizeof c->event_id, "%s", ev->event_id);
    return 1;
}

/* GET /v1/rooms/{roomId}/timestamp_to_event?ts=&dir=: the visible event closest to ts,
 * at or after it (f) or at or before it (b); 404 when there is none. */
static void timestamp_to_event_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    if (hs_access_authenticate(srv->store, req, hs_clock_wall_ms(), &who, resp) != 0) return;
    const char *room_id = hs_request_param(req, "roomId");
    const char *dir = hs_request_query(req, "dir"), *ts_s = hs_request_query(req, "ts");
    char *end = NULL;
    long long ts = ts_s ? strtoll(ts_s, &end, 10) : -1;
    if (!dir || (strcmp(dir, "f") != 0 && strcmp(dir, "b") != 0) || !ts_s || end == ts_s || *end || ts < 0) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'ts' must be a timestamp and 'dir' b or f");
        return;
    }
    hs_room_visibility *vis = history_reader(srv, room_id, who.user_id, resp);
    if (!vis) return;
    ts_ctx c = {vis, "", 0};
    int rc = hs_store_room_events_by_ts(srv->store, room_id, ts, dir[0] == 'f', SCAN_MAX, first_visible, &c);
    hs_room_visibility_free(vis);
    if (rc < 0) hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the room's events");
    else if (rc == 0)
        hs_response_error(resp, 404, "M_NOT_FOUND", "no event %s %lld", dir[0] == 'f' ? "after" : "before", ts);
    else
        hs_response_json(resp, 200,
                         json_pack("{ss, sI}", "event_id", c.event_id, "origin_server_ts", (json_int_t)c.ts));
}

int hs_api_rooms__register_reads(hs_server *srv)
{
    static const hs_client_route routes[] = {
        {"GET", "/rooms/{roomId}/state/{eventType}", state_get},
        {"GET", "/rooms/{roomId}/state/{eventType}/{stateKey}", state_get},
        {"GET", "/rooms/{roomId}/state", state_all_get},
        {"GET", "/rooms/{roomId}/event/{eventId}", event_get},
        {"GET", "/rooms/{roomId}/messages", messages_get},
        {"GET", "/rooms/{roomId}/context/{eventId}", context_get},
        {"GET", "/rooms/{roomId}/members", members_get},
        {"GET", "/rooms/{roomId}/joined_members", joined_members_get},
        {"GET", "/joined_rooms", joined_rooms_get},
    };
    /* /relations is a v1 endpoint in the spec; v3 is accepted too, as Synapse does. */
    static const char *const relations[] = {
        "/rooms/{roomId}/relations/{eventId}",
        "/rooms/{roomId}/relations/{eventId}/{relType}",
        "/rooms/{roomId}/relations/{eventId}/{relType}/{eventType}",
    };
    int rc = hs_router_add_client_routes(srv->client_router, routes, sizeof routes / sizeof routes[0], srv);
    for (size_t i = 0; i < sizeof relations / sizeof relations[0]; i++) {
        char v1[128], v3[128];
        snprintf(v1, sizeof v1, "/_matrix/client/v1%s", relations[i]);
        snprintf(v3, sizeof v3, "/_matrix/client/v3%s", relations[i]);
        rc |= hs_router_add(srv->client_router, "GET", v1, relations_get, srv);
        rc |= hs_router_add(srv->client_router, "GET", v3, relations_get, srv);
    }
    rc |= hs_router_add(srv->client_router, "GET", "/_matrix/client/v1/rooms/{roomId}/threads", threads_get, srv);
    rc |= hs_router_add(srv->client_router, "GET", "/_matrix/client/v1/rooms/{roomId}/timestamp_to_event",
                        timestamp_to_event_get, srv);
    return rc ? -1 : 0;
}
