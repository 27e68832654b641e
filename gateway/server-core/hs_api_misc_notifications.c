/* hs_api_misc_notifications: GET /notifications - the events that notified the caller,
 * newest first. Nothing is recorded at send time: the caller's push rules
 * (hs_push_rules_for_user) are evaluated (hs_push_room_evaluate) at read time over the events
 * of their joined rooms, which gives the same answer as rules evaluated when the event
 * arrived as long as the rules did not change since.
 *
 * Approximations, stated: the room facts the rules look at (the caller's display name,
 * the joined member count, the sender's power level and the notifications levels) are
 * taken from the room's current state, not the state at each event; only events the
 * caller could see as a member at the time (history visibility without the "shared"
 * look-back, hs_room_visibility with joined_now false) are considered, so history from
 * before a join never notifies. `read` is whether the caller's m.read / m.read.private
 * receipt is at or after the event. At most SCAN_MAX events are evaluated per request;
 * next_token (a stream ordering) then continues the walk. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_access.h"
#include "server-core/hs_api_misc_internal.h"
#include "server-core/hs_api_rooms_internal.h"
#include "server-core/hs_push.h"
#include "server-core/hs_push_eval.h"
#include "server-core/hs_push_room.h"
#include "server-core/hs_room_format.h"
#include "server-core/hs_room_visibility.h"
#include "server-core/hs_store_rooms.h"
#include "server-core/hs_store_search.h"
#include "server-core/hs_clock.h"

#define SCAN_MAX 1000
#define LIMIT_DEFAULT 20
#define LIMIT_MAX 100

typedef struct walk {
    hs_store *st;
    const char *user;
    const json_t *ruleset;    /* the "global" rules */
    bool only_highlight;
    long limit;
    hs_push_room **rooms;     /* the facts of each room met so far */
    size_t n_rooms, cap_rooms;
    hs_room_visibility *vis;
    hs_room_viewer viewer;
    json_t *out;
    int64_t last_stream;      /* last event consumed */
    bool more;
    int failed;
} walk;

static hs_push_room *facts_for(walk *w, const char *room_id)
{
    for (size_t i = 0; i < w->n_rooms; i++)
        if (strcmp(hs_push_room_id(w->rooms[i]), room_id) == 0) return w->rooms[i];
    if (w->n_rooms == w->cap_rooms) {
        size_t cap = w->cap_rooms ? w->cap_rooms * 2 : 8;
        hs_push_room **r = realloc(w->rooms, cap * sizeof *r);
        if (!r) return NULL;
        w->rooms = r;
        w->cap_rooms = cap;
    }
    hs_push_room *f = hs_push_room_open(w->st, room_id, w->user);
    if (f) w->rooms[w->n_rooms++] = f;
    return f;
}

/* The actions array of the rule `rule_id` in the ruleset (borrowed), NULL if absent. */
static json_t *rule_actions(const json_t *ruleset, const char *rule_id)
{
    static const char *const kinds[] = {"override", "content", "room", "sender", "underride"};
    for (size_t k = 0; k < 5; k++) {
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(ruleset, kinds[k]), i, r) {
            const char *id = json_string_value(json_object_get(r, "rule_id"));
            if (id && strcmp(id, rule_id) == 0) return json_object_get(r, "actions");
        }
    }
    return NULL;
}

static int candidate(void *ctx, const hs_store_notify_event *ne)
{
    walk *w = ctx;
    json_t *pdu = json_loads(ne->pdu_json, 0, NULL);
    hs_push_room *f = pdu ? facts_for(w, ne->room_id) : NULL;
    if (!f) {
        json_decref(pdu);
        w->failed = 1;
        return 1;
    }
    hs_store_event ev = {.stream = ne->stream, .event_id = (char *)ne->event_id, .room_id = (char *)ne->room_id,
                         .pdu_json = (char *)ne->pdu_json};
    int visible = hs_room_visibility_check(w->vis, &ev);
    hs_push_result res;
    bool hit = visible > 0 && hs_push_room_evaluate(f, w->ruleset, pdu, &res) && res.notify &&
               (!w->only_highlight || res.highlight);
    json_decref(pdu);
    if (visible < 0) {
        w->failed = 1;
        return 1;
    }
    if (hit && (long)json_array_size(w->out) == w->limit) {
        w->more = true;
        return 1;
    }
    w->last_stream = ne->stream;
    if (!hit) return 0;
    json_t *client = hs_room_client_event(w->st, &ev, &w->viewer);
    json_t *actions = rule_actions(w->ruleset, res.rule_id);
    if (!client) {
        w->failed = 1;
        return 1;
    }
    json_array_append_new(w->out, json_pack("{sO so sb ss sI}", "actions", actions ? actions : json_array(),
                                            "event", client, "read", ne->stream <= hs_push_room_read_upto(f), "room_id",
                                            ne->room_id, "ts", (json_int_t)ne->origin_server_ts));
    return 0;
}

/* A positive decimal stream ordering; 0 when absent, -1 when malformed. */
static int64_t parse_token(const char *s)
{
    if (!s) return 0;
    if (!*s || strlen(s) > 18) return -1;
    int64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        v = v * 10 + (*p - '0');
    }
    return v > 0 ? v : -1;
}

void hs_api_misc__notifications_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    int64_t now = hs_clock_wall_ms();
    if (hs_access_authenticate(srv->store, req, now, &who, resp) != 0) return;
    int64_t from = parse_token(hs_request_query(req, "from"));
    const char *limit_s = hs_request_query(req, "limit"), *only = hs_request_query(req, "only");
    char *end = NULL;
    long limit = limit_s ? strtol(limit_s, &end, 10) : LIMIT_DEFAULT;
    if (from < 0 || (limit_s && (!*limit_s || *end || limit < 0))) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'from' must be a next_token and 'limit' a number");
        return;
    }
    if (limit > LIMIT_MAX) limit = LIMIT_MAX;
    json_t *rules = hs_push_rules_for_user(srv->store, who.user_id);
    char **ids = NULL;
    size_t n = 0;
    json_t *rooms = json_array();
    int rc = rules && hs_store_joined_rooms(srv->store, who.user_id, &ids, &n) == 0 ? 0 : -1;
    for (size_t i = 0; i < n; i++) json_array_append_new(rooms, json_string(ids[i]));
    hs_store_free_strings(ids, n);
    char *rooms_s = json_dumps(rooms, JSON_COMPACT);
    json_decref(rooms);
    walk w = {.st = srv->store, .user = who.user_id, .ruleset = json_object_get(rules, "global"),
              .only_highlight = only && strcmp(only, "highlight") == 0, .limit = limit,
              .vis = hs_room_visibility_new(srv->store, who.user_id, false),
              .viewer = {.user_id = who.user_id, .device_id = who.device_id, .now_ms = now, .aggregate = false},
              .out = json_array()};
    long visited = 0;
    if (rc == 0 && rooms_s && w.vis && limit > 0)
        visited = hs_store_notify_candidates(srv->store, rooms_s, who.user_id, from, SCAN_MAX, candidate, &w);
    if (rc != 0 || !rooms_s || !w.vis || visited < 0 || w.failed) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read notifications");
    } else {
        json_t *out = json_pack("{sO}", "notifications", w.out);
        /* Stopped by the page size, or by the scan cap with events left behind it. */
        if ((w.more || visited == SCAN_MAX) && w.last_stream > 0) {
            char token[24];
            snprintf(token, sizeof token, "%" PRId64, w.last_stream);
            json_object_set_new(out, "next_token", json_string(token));
        }
        hs_response_json(resp, 200, out);
    }
    for (size_t i = 0; i < w.n_rooms; i++) hs_push_room_free(w.rooms[i]);
    free(w.rooms);
    hs_room_visibility_free(w.vis);
    json_decref(w.out);
    json_decref(rules);
    free(rooms_s);
}
