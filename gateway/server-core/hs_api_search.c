/* hs_api_search: POST /search (room_events). The rooms searched are the caller's joined
 * rooms (narrowed by filter.rooms / not_rooms); every hit is then checked against history
 * visibility (hs_room_visibility) as /messages does, so a search never shows an event the
 * caller could not page back to. The full-text index is caught up from the events table
 * at the start of each search (hs_store_search).
 *
 * Paging: rows are read from the store in batches and skipped when invisible; next_batch
 * names the first row not yet consumed (an offset for rank order, a stream ordering for
 * recent order), so no visible result is lost or repeated between pages. `count` is the
 * number of matches before the visibility check (the spec calls it approximate). At most
 * SCAN_MAX rows are read per request; a page cut short by that still carries next_batch. */
#include "server-core/hs_api_search.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_access.h"
#include "server-core/hs_api_rooms_internal.h"
#include "server-core/hs_room_format.h"
#include "server-core/hs_room_visibility.h"
#include "server-core/hs_search.h"
#include "server-core/hs_server.h"
#include "server-core/hs_store_rooms.h"
#include "server-core/hs_store_search.h"
#include "server-core/hs_clock.h"

#define SCAN_MAX 1000

static bool list_has(const json_t *list, const char *s)
{
    size_t i;
    const json_t *v;
    json_array_foreach(list, i, v) {
        if (strcmp(json_string_value(v), s) == 0) return true;
    }
    return false;
}

/* The joined rooms of `user` that the request's room filter lets through, as a JSON
 * array (new reference), NULL on a store error. */
static json_t *searched_rooms(hs_store *st, const char *user, const hs_search_request *r)
{
    char **ids;
    size_t n;
    if (hs_store_joined_rooms(st, user, &ids, &n) != 0) return NULL;
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++) {
        if (r->rooms && !list_has(r->rooms, ids[i])) continue;
        if (r->not_rooms && list_has(r->not_rooms, ids[i])) continue;
        json_array_append_new(out, json_string(ids[i]));
    }
    hs_store_free_strings(ids, n);
    return out;
}

static char *keys_json(unsigned keys)
{
    json_t *a = json_array();
    if (keys & HS_SEARCH_KEY_BODY) json_array_append_new(a, json_string("content.body"));
    if (keys & HS_SEARCH_KEY_NAME) json_array_append_new(a, json_string("content.name"));
    if (keys & HS_SEARCH_KEY_TOPIC) json_array_append_new(a, json_string("content.topic"));
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

typedef struct hit {
    int64_t stream;
    double rank;
    hs_store_event ev;
} hit;

/* The walk over one batch of store rows. */
typedef struct walk {
    hs_store *st;
    hs_room_visibility *vis;
    long want;              /* results wanted on this page */
    hit *hits;              /* [want] */
    long n_hits;
    bool more;              /* a visible row beyond the page exists */
    long consumed;          /* rows consumed in total (rank order: the offset moves by this) */
    int64_t last_stream;    /* stream of the last row consumed (recent order) */
    long batch_rows;
    int failed;
} walk;

static int walk_row(void *ctx, int64_t stream, const char *event_id, const char *room_id, double rank)
{
    walk *w = ctx;
    (void)room_id;
    w->batch_rows++;
    hs_store_event ev;
    int rc = hs_store_event_get(w->st, event_id, &ev);
    int visible = rc == 0 ? hs_room_visibility_check(w->vis, &ev) : -1;
    if (visible < 0) {
        if (rc == 0) hs_store_event_clear(&ev);
        w->failed = 1;
        return 1;
    }
    if (visible && w->n_hits == w->want) {
        hs_store_event_clear(&ev);
        w->more = true;
        return 1;
    }
    w->consumed++;
    w->last_stream = stream;
    if (!visible) {
        hs_store_event_clear(&ev);
        return 0;
    }
    w->hits[w->n_hits++] = (hit){stream, rank, ev};
    return 0;
}

/* A page of events next to a hit, oldest first in `out`. */
typedef struct ctx_page {
    hs_store *st;
    hs_room_visibility *vis;
    const hs_room_viewer *who;
    json_t *events;
    json_t *senders;
    int64_t oldest, newest;  /* stream orderings of the events visited (any sign: history */
    bool visited;            /* fetched from other servers is below zero) */
    int failed;
} ctx_page;

static int ctx_event(void *ctx, const hs_store_event *ev)
{
    ctx_page *p = ctx;
    if (!p->visited || ev->stream < p->oldest) p->oldest = ev->stream;
    if (!p->visited || ev->stream > p->newest) p->newest = ev->stream;
    p->visited = true;
    int visible = hs_room_visibility_check(p->vis, ev);
    if (visible < 0) p->failed = 1;
    if (visible <= 0) return visible < 0;
    json_t *j = hs_room_client_event(p->st, ev, p->who);
    if (!j) {
        p->failed = 1;
        return 1;
    }
    const char *sender = json_string_value(json_object_get(j, "sender"));
    if (sender) json_object_set_new(p->senders, sender, json_true());
    json_array_append_new(p->events, j);
    return 0;
}

/* {displayname, avatar_url} of each sender from the room's current member events. */
static json_t *profile_info(hs_store *st, const char *room_id, const json_t *senders)
{
    json_t *out = json_object();
    const char *user;
    json_t *unused;
    json_object_foreach((json_t *)senders, user, unused) {
        char *member_id = NULL;
        if (hs_store_state_get(st, room_id, "m.room.member", user, &member_id) != 0) continue;
        hs_store_event ev;
        int rc = hs_store_event_get(st, member_id, &ev);
        free(member_id);
        if (rc != 0) continue;
        json_t *pdu = json_loads(ev.pdu_json, 0, NULL);
        json_t *content = json_object_get(pdu, "content"), *info = json_object();
        const char *keys[] = {"displayname", "avatar_url"};
        for (int k = 0; k < 2; k++) {
            json_t *v = json_object_get(content, keys[k]);
            if (json_is_string(v) && !ev.redacted_by) json_object_set(info, keys[k], v);
        }
        json_object_set_new(out, user, info);
        json_decref(pdu);
        hs_store_event_clear(&ev);
    }
    return out;
}

/* The event_context of one hit. NULL on a store error. */
static json_t *hit_context(hs_store *st, hs_room_visibility *vis, const hs_room_viewer *who, const hit *h,
                           const hs_search_request *r, const char *sender)
{
    ctx_page before = {st, vis, who, json_array(), json_object(), 0, 0, false, 0};
    ctx_page after = {st, vis, who, json_array(), json_object(), 0, 0, false, 0};
    json_t *out = NULL;
    if (hs_store_room_events(st, h->ev.room_id, h->stream - 1, true, r->before_limit, ctx_event, &before) < 0 ||
        hs_store_room_events(st, h->ev.room_id, h->stream, false, r->after_limit, ctx_event, &after) < 0 ||
        before.failed || after.failed)
        goto out;
    /* events_before comes newest first, as /context answers it. The tokens are /messages
     * tokens ("s<N>": just after event N) around what was visited. */
    char start[32], end[32];
    snprintf(start, sizeof start, "s%lld", (long long)(before.visited ? before.oldest - 1 : h->stream - 1));
    snprintf(end, sizeof end, "s%lld", (long long)(after.visited ? after.newest : h->stream));
    out = json_pack("{sO, sO, ss, ss}", "events_before", before.events, "events_after", after.events, "start", start,
                    "end", end);
    if (r->include_profile) {
        json_object_update(before.senders, after.senders);
        if (sender) json_object_set_new(before.senders, sender, json_true());
        json_object_set_new(out, "profile_info", profile_info(st, h->ev.room_id, before.senders));
    }
out:
    json_decref(before.events);
    json_decref(after.events);
    json_decref(before.senders);
    json_decref(after.senders);
    return out;
}

static int add_state_entry(void *ctx, const char *type, const char *state_key, const hs_store_event *ev)
{
    (void)type;
    (void)state_key;
    void **a = ctx;
    json_t *j = hs_room_client_event(a[0], ev, a[1]);
    if (!j) return 1;
    json_array_append_new(a[2], j);
    return 0;
}

static void add_group(json_t *groups, const char *kind, const char *value, const char *event_id)
{
    json_t *g = json_object_get(groups, kind);
    if (!g) json_object_set_new(groups, kind, g = json_object());
    json_t *one = json_object_get(g, value);
    if (!one) {
        one = json_pack("{s[], sI}", "results", "order", (json_int_t)json_object_size(g) + 1);
        json_object_set_new(g, value, one);
    }
    json_array_append_new(json_object_get(one, "results"), json_string(event_id));
}

/* Runs the query in batches until the page is full, the matches run out or SCAN_MAX rows
 * were read. Returns 0 or -1 (1 for an FTS syntax error, which hs_search_match prevents). */
static int run(hs_store *st, hs_store_search_query *q, walk *w, int64_t *count)
{
    long scanned = 0;
    for (;;) {
        w->batch_rows = 0;
        q->limit = (w->want - w->n_hits) * 2 + 1;
        int rc = hs_store_search_events(st, q, walk_row, w, scanned == 0 ? count : NULL);
        if (rc != 0) return rc;
        if (w->failed) return -1;
        scanned += w->batch_rows;
        if (w->more || w->batch_rows < q->limit) return 0;
        if (scanned >= SCAN_MAX) {
            w->more = true;
            return 0;
        }
        if (q->by_rank) q->offset += w->batch_rows;
        else q->before_stream = w->last_stream;
    }
}

static json_t *room_events_answer(hs_server *srv, const hs_access_identity *who, const hs_search_request *r,
                                  const char *next_batch, hs_response *resp)
{
    int64_t cursor = 0;
    if (next_batch && hs_search_token_parse(next_batch, r->by_rank, &cursor) != 0) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "unknown next_batch token");
        return NULL;
    }
    json_t *highlights = json_array();
    char *match = hs_search_match(r->search_term, highlights);
    json_t *rooms = searched_rooms(srv->store, who->user_id, r);
    char *rooms_s = rooms ? json_dumps(rooms, JSON_COMPACT) : NULL, *keys_s = keys_json(r->keys);
    char *senders_s = r->senders ? json_dumps(r->senders, JSON_COMPACT) : NULL;
    char *not_senders_s = r->not_senders ? json_dumps(r->not_senders, JSON_COMPACT) : NULL;
    json_decref(rooms);
    hs_room_visibility *vis = hs_room_visibility_new(srv->store, who->user_id, true);
    walk w = {.st = srv->store, .vis = vis, .want = r->limit, .hits = calloc((size_t)r->limit, sizeof(hit))};
    int64_t count = 0;
    int rc = -1;
    if (match && rooms_s && keys_s && vis && w.hits && hs_store_search_catch_up(srv->store) >= 0) {
        rc = 0;
        if (match[0]) {
            hs_store_search_query q = {.match = match, .rooms_json = rooms_s, .keys_json = keys_s,
                                       .senders_json = senders_s, .not_senders_json = not_senders_s,
                                       .by_rank = r->by_rank, .before_stream = r->by_rank ? 0 : cursor,
                                       .offset = r->by_rank ? (long)cursor : 0};
            rc = run(srv->store, &q, &w, &count);
        }
    }
    json_t *out = NULL;
    if (rc == 0) {
        hs_room_viewer viewer = {.user_id = who->user_id, .device_id = who->device_id, .now_ms = hs_clock_wall_ms(),
                                 .aggregate = true};
        json_t *results = json_array(), *groups = json_object(), *state = json_object();
        for (long i = 0; i < w.n_hits && rc == 0; i++) {
            hit *h = &w.hits[i];
            json_t *ev = hs_room_client_event(srv->store, &h->ev, &viewer);
            if (!ev) {
                rc = -1;
                break;
            }
            const char *sender = json_string_value(json_object_get(ev, "sender"));
            json_t *one = json_pack("{sf, so}", "rank", r->by_rank ? h->rank : 0.0, "result", ev);
            if (r->context) {
                json_t *c = hit_context(srv->store, vis, &viewer, h, r, sender);
                if (!c) rc = -1;
                else json_object_set_new(one, "context", c);
            }
            json_array_append_new(results, one);
            if (r->group_by_room) add_group(groups, "room_id", h->ev.room_id, h->ev.event_id);
            if (r->group_by_sender && sender) add_group(groups, "sender", sender, h->ev.event_id);
            if (r->include_state && !json_object_get(state, h->ev.room_id)) {
                json_t *list = json_array();
                viewer.aggregate = false;
                void *a[3] = {srv->store, &viewer, list};
                if (hs_store_state_each(srv->store, h->ev.room_id, add_state_entry, a) != 0) rc = -1;
                viewer.aggregate = true;
                json_object_set_new(state, h->ev.room_id, list);
            }
        }
        out = json_pack("{sI, sO, so}", "count", (json_int_t)count, "highlights", highlights, "results", results);
        if (w.more) {
            char token[32];
            hs_search_token_format(r->by_rank, r->by_rank ? cursor + w.consumed : w.last_stream, token, sizeof token);
            json_object_set_new(out, "next_batch", json_string(token));
        }
        if (r->group_by_room || r->group_by_sender) json_object_set(out, "groups", groups);
        if (r->include_state) json_object_set(out, "state", state);
        json_decref(groups);
        json_decref(state);
        if (rc != 0) {
            json_decref(out);
            out = NULL;
        }
    }
    if (!out) hs_response_error(resp, 500, "M_UNKNOWN", "cannot search");
    for (long i = 0; i < w.n_hits; i++) hs_store_event_clear(&w.hits[i].ev);
    free(w.hits);
    hs_room_visibility_free(vis);
    json_decref(highlights);
    free(match);
    free(rooms_s);
    free(keys_s);
    free(senders_s);
    free(not_senders_s);
    return out;
}

static void search_post(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    if (hs_access_authenticate(srv->store, req, hs_clock_wall_ms(), &who, resp) != 0) return;
    json_t *body = hs_api_rooms__body(req, resp);
    if (!body) return;
    hs_search_request r;
    const char *errcode;
    char why[256];
    if (hs_search_parse(body, &r, &errcode, why, sizeof why) != 0) {
        hs_response_error(resp, 400, errcode, "%s", why);
    } else {
        json_t *re = room_events_answer(srv, &who, &r, hs_request_query(req, "next_batch"), resp);
        if (re) hs_response_json(resp, 200, json_pack("{s{so}}", "search_categories", "room_events", re));
    }
    json_decref(body);
}

int hs_api_search_register(hs_server *srv)
{
    static const hs_client_route routes[] = {
        {"POST", "/search", search_post},
    };
    return hs_router_add_client_routes(srv->client_router, routes, sizeof routes / sizeof routes[0], srv);
}
