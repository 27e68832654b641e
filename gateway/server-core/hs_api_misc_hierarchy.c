/* hs_api_misc_hierarchy: GET /_matrix/client/v1/rooms/{roomId}/hierarchy (spaces,
 * Client-Server API v1.12): a breadth-first walk from the room over m.space.child
 * state events (content.via a non-empty list), children ordered by a valid `order`
 * string first, then by the child event's origin_server_ts, then by room ID, as the spec
 * asks. A room is listed (and walked into) when the caller may see it: they are joined
 * or invited, or its join rule is public or knock, or its history is world_readable.
 * Rooms this server does not know (remote children) are skipped: there is no
 * federation hierarchy request yet.
 *
 * Paging: the walk is deterministic, so next_batch is the number of rooms already
 * returned together with the max_depth and suggested_only it was made for ("h<n>_<d>_
 * <s>"); a token reused with other parameters is 400 M_INVALID_PARAM, as specified. At
 * most WALK_MAX rooms are visited per request. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_access.h"
#include "server-core/hs_api_misc_internal.h"
#include "server-core/hs_api_rooms_internal.h"
#include "server-core/hs_store_rooms.h"
#include "server-core/hs_store_search.h"
#include "server-core/hs_clock.h"

#define LIMIT_DEFAULT 50
#define LIMIT_MAX 100
#define WALK_MAX 1000
#define ORDER_MAX 50

/* What the walk learns of one room from its current state. */
typedef struct room_info {
    json_t *state;       /* type -> content for the summary keys */
    json_t *children;    /* stripped m.space.child events with a non-empty via */
    int failed;
} room_info;

static int collect(void *ctx, const char *type, const char *state_key, const hs_store_event *ev)
{
    room_info *r = ctx;
    static const char *const summary[] = {"m.room.create", "m.room.name", "m.room.topic", "m.room.avatar",
                                          "m.room.canonical_alias", "m.room.join_rules",
                                          "m.room.history_visibility", "m.room.guest_access"};
    bool child = strcmp(type, "m.space.child") == 0, wanted = child;
    for (size_t i = 0; i < sizeof summary / sizeof summary[0] && !wanted; i++)
        wanted = strcmp(type, summary[i]) == 0 && state_key[0] == 0;
    if (!wanted) return 0;
    json_t *pdu = json_loads(ev->pdu_json, 0, NULL);
    json_t *content = json_object_get(pdu, "content");
    if (!pdu) {
        r->failed = 1;
        return 1;
    }
    if (ev->redacted_by) {
        /* A redacted child or summary event has lost its content: it no longer counts. */
    } else if (!child) {
        json_object_set(r->state, type, content);
    } else if (json_array_size(json_object_get(content, "via")) > 0) {
        json_array_append_new(r->children,
                              json_pack("{ss ss sO sO sO}", "type", type, "state_key", state_key, "content", content,
                                        "sender", json_object_get(pdu, "sender"), "origin_server_ts",
                                        json_object_get(pdu, "origin_server_ts")));
    }
    json_decref(pdu);
    return 0;
}

static const char *state_str(const room_info *r, const char *type, const char *key)
{
    return json_string_value(json_object_get(json_object_get(r->state, type), key));
}

/* A child's valid order string, or NULL (the spec: printable ASCII, at most 50 bytes). */
static const char *child_order(const json_t *child)
{
    const char *o = json_string_value(json_object_get(json_object_get(child, "content"), "order"));
    if (!o || strlen(o) > ORDER_MAX) return NULL;
    for (const char *p = o; *p; p++)
        if (*p < 0x20 || *p > 0x7e) return NULL;
    return o;
}

static int child_cmp(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    const char *ox = child_order(x), *oy = child_order(y);
    if (ox && !oy) return -1;
    if (!ox && oy) return 1;
    if (ox && oy && strcmp(ox, oy) != 0) return strcmp(ox, oy);
    json_int_t tx = json_integer_value(json_object_get(x, "origin_server_ts"));
    json_int_t ty = json_integer_value(json_object_get(y, "origin_server_ts"));
    if (tx != ty) return tx < ty ? -1 : 1;
    return strcmp(json_string_value(json_object_get(x, "state_key")), json_string_value(json_object_get(y, "state_key")));
}

/* Loads the room. Returns 0 (filled), 1 for a room this server does not have, -1. */
static int load_room(hs_store *st, const char *room_id, room_info *r)
{
    char version[HS_STORE_ROOM_VERSION_MAX];
    int rc = hs_store_room_get(st, room_id, version);
    if (rc != 0) return rc;
    r->state = json_object();
    r->children = json_array();
    r->failed = 0;
    if (hs_store_state_each(st, room_id, collect, r) != 0 || r->failed) return -1;
    size_t n = json_array_size(r->children);
    json_t **v = calloc(n ? n : 1, sizeof *v);
    if (!v) return -1;
    for (size_t i = 0; i < n; i++) v[i] = json_incref(json_array_get(r->children, i));
    qsort(v, n, sizeof *v, child_cmp);
    json_array_clear(r->children);
    for (size_t i = 0; i < n; i++) json_array_append_new(r->children, v[i]);
    free(v);
    return 0;
}

static void room_info_clear(room_info *r)
{
    json_decref(r->state);
    json_decref(r->children);
    r->state = r->children = NULL;
}

/* Whether the caller may see the room's summary (see the file comment). */
static int accessible(hs_store *st, const char *room_id, const char *user, const room_info *r)
{
    char membership[32];
    if (hs_store_membership(st, room_id, user, membership) != 0) return -1;
    if (strcmp(membership, "join") == 0 || strcmp(membership, "invite") == 0) return 1;
    const char *rule = state_str(r, "m.room.join_rules", "join_rule");
    const char *vis = state_str(r, "m.room.history_visibility", "history_visibility");
    return (rule && (strcmp(rule, "public") == 0 || strcmp(rule, "knock") == 0)) ||
           (vis && strcmp(vis, "world_readable") == 0);
}

static json_t *chunk(hs_store *st, const char *room_id, const room_info *r)
{
    int64_t joined = 0;
    if (hs_store_joined_count(st, room_id, &joined) != 0) return NULL;
    const char *vis = state_str(r, "m.room.history_visibility", "history_visibility");
    const char *guest = state_str(r, "m.room.guest_access", "guest_access");
    json_t *c = json_pack("{ss sI sb sb sO}", "room_id", room_id, "num_joined_members", (json_int_t)joined,
                          "world_readable", vis && strcmp(vis, "world_readable") == 0, "guest_can_join",
                          guest && strcmp(guest, "can_join") == 0, "children_state", r->children);
    static const struct {
        const char *type, *key, *out;
    } opt[] = {{"m.room.name", "name", "name"},
               {"m.room.topic", "topic", "topic"},
               {"m.room.avatar", "url", "avatar_url"},
               {"m.room.canonical_alias", "alias", "canonical_alias"},
               {"m.room.join_rules", "join_rule", "join_rule"},
               {"m.room.create", "type", "room_type"}};
    for (size_t i = 0; i < sizeof opt / sizeof opt[0]; i++) {
        const char *v = state_str(r, opt[i].type, opt[i].key);
        if (v) json_object_set_new(c, opt[i].out, json_string(v));
    }
    return c;
}

typedef struct queued {
    char *room_id;
    long depth;
} queued;

void hs_api_misc__hierarchy_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    if (hs_access_authenticate(srv->store, req, hs_clock_wall_ms(), &who, resp) != 0) return;
    const char *root = hs_request_param(req, "roomId");
    long limit = hs_api_misc__query_count(req, "limit", LIMIT_DEFAULT);
    long max_depth = hs_api_misc__query_count(req, "max_depth", -1);
    const char *sugg = hs_request_query(req, "suggested_only"), *from = hs_request_query(req, "from");
    if (limit < 0 || (hs_request_query(req, "max_depth") && max_depth < 0) ||
        (sugg && strcmp(sugg, "true") != 0 && strcmp(sugg, "false") != 0)) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "limit and max_depth are integers, suggested_only a boolean");
        return;
    }
    if (limit == 0 || limit > LIMIT_MAX) limit = limit ? LIMIT_MAX : LIMIT_DEFAULT;
    bool suggested_only = sugg && strcmp(sugg, "true") == 0;
    long skip = 0;
    if (from) {
        long d;
        int s, used = 0;
        if (sscanf(from, "h%ld_%ld_%d%n", &skip, &d, &s, &used) != 3 || from[used] || skip < 0 || d != max_depth ||
            s != (int)suggested_only) {
            hs_response_error(resp, 400, "M_INVALID_PARAM", "the from token does not belong to these parameters");
            return;
        }
    }
    room_info root_info = {0};
    int rc = load_room(srv->store, root, &root_info);
    int ok = rc == 0 ? accessible(srv->store, root, who.user_id, &root_info) : rc;
    room_info_clear(&root_info);
    if (rc == 1 || ok == 0) {
        hs_response_error(resp, rc == 1 ? 404 : 403, rc == 1 ? "M_NOT_FOUND" : "M_FORBIDDEN",
                          rc == 1 ? "unknown room" : "you cannot see this room");
        return;
    }
    if (rc < 0 || ok < 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the room");
        return;
    }

    json_t *rooms = json_array(), *seen = json_object();
    queued *queue = calloc(WALK_MAX, sizeof *queue);
    size_t head = 0, tail = 0;
    long listed = 0;
    bool more = false, failed = !queue;
    if (queue) {
        queue[tail++] = (queued){strdup(root), 0};
        json_object_set_new(seen, root, json_true());
    }
    while (!failed && head < tail) {
        queued q = queue[head++];
        room_info r = {0};
        rc = load_room(srv->store, q.room_id, &r);
        int acc = rc == 0 ? accessible(srv->store, q.room_id, who.user_id, &r) : 0;
        if (rc < 0 || acc < 0) failed = true;
        if (rc == 0 && acc == 1 && !failed) {
            if ((long)json_array_size(rooms) == limit) {
                more = true;
                room_info_clear(&r);
                break;
            }
            if (listed++ >= skip) {
                json_t *c = chunk(srv->store, q.room_id, &r);
                if (c) json_array_append_new(rooms, c);
                else failed = true;
            }
            size_t i;
            json_t *child;
            json_array_foreach(r.children, i, child) {
                const char *id = json_string_value(json_object_get(child, "state_key"));
                if (max_depth >= 0 && q.depth >= max_depth) break;
                if (suggested_only && !json_is_true(json_object_get(json_object_get(child, "content"), "suggested")))
                    continue;
                if (json_object_get(seen, id) || tail == WALK_MAX) continue;
                json_object_set_new(seen, id, json_true());
                queue[tail++] = (queued){strdup(id), q.depth + 1};
            }
        }
        room_info_clear(&r);
    }
    for (size_t i = 0; i < tail; i++) free(queue ? queue[i].room_id : NULL);
    free(queue);
    json_decref(seen);
    if (failed) {
        json_decref(rooms);
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the space");
        return;
    }
    json_t *out = json_pack("{so}", "rooms", rooms);
    if (more) {
        char token[64];
        snprintf(token, sizeof token, "h%ld_%ld_%d", listed, max_depth, (int)suggested_only);
        json_object_set_new(out, "next_batch", json_string(token));
    }
    hs_response_json(resp, 200, out);
}
