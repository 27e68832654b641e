/* hs_api_rooms: HTTP handlers for rooms. Writes go through the room engine (hs_room),
 * which builds, checks and persists events; reads go straight to the room store.
 *
 * Reading a room (state, event, messages) needs current membership "join": a user who
 * left or was never in the room gets 403 M_FORBIDDEN, an unknown room 404 M_NOT_FOUND.
 * (History visibility for former members is not applied yet.)
 *
 * Pagination tokens are stream orderings written "s<N>", naming the position just after
 * event N: paginating backwards from s<N> returns events N, N-1, ...; forwards returns
 * N+1, N+2, .... */
#include "server-core/hs_api_rooms.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server-core/hs_access.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_room.h"
#include "server-core/hs_server.h"
#include "server-core/hs_store_accounts.h"
#include "server-core/hs_store_rooms.h"

#define MESSAGES_DEFAULT_LIMIT 10
#define MESSAGES_MAX_LIMIT 1000
#define TXN_ID_MAX 255

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static hs_room_engine engine_of(hs_server *srv)
{
    return (hs_room_engine){srv->store, srv->cfg.server_name, &srv->signing_key, srv->cfg.default_room_version,
                            srv->notifier};
}

static void answer_status(hs_response *resp, const hs_room_result *res)
{
    switch (res->status) {
    case HS_ROOM_OK: break;
    case HS_ROOM_NOT_FOUND: hs_response_error(resp, 404, "M_NOT_FOUND", "%s", res->msg); break;
    case HS_ROOM_FORBIDDEN: hs_response_error(resp, 403, "M_FORBIDDEN", "%s", res->msg); break;
    case HS_ROOM_TOO_LARGE: hs_response_error(resp, 413, "M_TOO_LARGE", "%s", res->msg); break;
    case HS_ROOM_BAD_REQUEST: hs_response_error(resp, 400, "M_INVALID_PARAM", "%s", res->msg); break;
    case HS_ROOM_UNSUPPORTED_VERSION:
        hs_response_error(resp, 400, "M_UNSUPPORTED_ROOM_VERSION", "%s", res->msg);
        break;
    case HS_ROOM_ERROR: hs_response_error(resp, 500, "M_UNKNOWN", "%s", res->msg); break;
    }
}

static json_t *body_object(const hs_request *req, hs_response *resp)
{
    char why[256];
    json_t *j = hs_request_json(req, why, sizeof why);
    if (!j) hs_response_error(resp, 400, "M_NOT_JSON", "%s", why);
    return j;
}

/* The client format of a stored event: the PDU's client fields, event_id, and unsigned
 * with the age and, for the device that sent it, its transaction ID. NULL if the stored
 * text does not parse (never for events the engine wrote). */
static json_t *client_event(const hs_store_event *ev, const hs_access_identity *who, int64_t now_ms)
{
    json_t *pdu = json_loads(ev->pdu_json, JSON_ALLOW_NUL, NULL);
    if (!pdu) return NULL;
    json_t *out = json_object();
    static const char *const keys[] = {"type", "sender", "content", "origin_server_ts", "state_key"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get(pdu, keys[i]);
        if (v) json_object_set(out, keys[i], v);
    }
    json_object_set_new(out, "event_id", json_string(ev->event_id));
    json_object_set_new(out, "room_id", json_string(ev->room_id));
    json_t *uns = json_object();
    json_object_set_new(uns, "age", json_integer(now_ms - hs_pdu_origin_server_ts(pdu)));
    if (ev->txn_id && who && strcmp(ev->txn_user, who->user_id) == 0 && strcmp(ev->txn_device, who->device_id) == 0)
        json_object_set_new(uns, "transaction_id", json_string(ev->txn_id));
    json_object_set_new(out, "unsigned", uns);
    json_decref(pdu);
    return out;
}

/* 404 for an unknown room, 403 unless `user` is joined. Returns 0 when readable. */
static int require_joined(hs_server *srv, const char *room_id, const char *user, hs_response *resp)
{
    char version[HS_STORE_ROOM_VERSION_MAX], membership[32];
    int rc = hs_store_room_get(srv->store, room_id, version);
    if (rc == 1) {
        hs_response_error(resp, 404, "M_NOT_FOUND", "unknown room %s", room_id);
        return -1;
    }
    if (rc < 0 || hs_store_membership(srv->store, room_id, user, membership) != 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read room %s", room_id);
        return -1;
    }
    if (strcmp(membership, "join") != 0) {
        hs_response_error(resp, 403, "M_FORBIDDEN", "%s is not in room %s", user, room_id);
        return -1;
    }
    return 0;
}

/* ---- writes ------------------------------------------------------------------------- */

static void create_room_post(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    int64_t now = wall_ms();
    if (hs_access_authenticate(srv->store, req, now, &who, resp) != 0) return;
    json_t *body = body_object(req, resp);
    if (!body) return;
    hs_room_engine e = engine_of(srv);
    hs_room_result res;
    char *room_id = NULL;
    if (hs_room_create(&e, who.user_id, body, now, &room_id, &res) == HS_ROOM_OK)
        hs_response_json(resp, 200, json_pack("{ss}", "room_id", room_id));
    else answer_status(resp, &res);
    free(room_id);
    json_decref(body);
}

static void send_and_answer(hs_server *srv, const hs_request *req, hs_response *resp, const hs_access_identity *who,
                            const char *type, const char *state_key, const hs_room_txn *txn, int64_t now)
{
    json_t *body = body_object(req, resp);
    if (!body) return;
    hs_room_engine e = engine_of(srv);
    hs_room_result res;
    char *event_id = NULL;
    if (hs_room_send(&e, hs_request_param(req, "roomId"), who->user_id, type, state_key, body, txn, now, &event_id,
                     &res) == HS_ROOM_OK)
        hs_response_json(resp, 200, json_pack("{ss}", "event_id", event_id));
    else answer_status(resp, &res);
    free(event_id);
    json_decref(body);
}

static void send_put(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    int64_t now = wall_ms();
    if (hs_access_authenticate(srv->store, req, now, &who, resp) != 0) return;
    const char *txn_id = hs_request_param(req, "txnId");
    if (strlen(txn_id) > TXN_ID_MAX) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "transaction ID longer than %d bytes", TXN_ID_MAX);
        return;
    }
    hs_room_txn txn = {who.user_id, who.device_id, txn_id};
    send_and_answer(srv, req, resp, &who, hs_request_param(req, "eventType"), NULL, &txn, now);
}

static const char *state_key_param(const hs_request *req)
{
    const char *k = hs_request_param(req, "stateKey");
    return k ? k : "";
}

static void state_put(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    int64_t now = wall_ms();
    if (hs_access_authenticate(srv->store, req, now, &who, resp) != 0) return;
    send_and_answer(srv, req, resp, &who, hs_request_param(req, "eventType"), state_key_param(req), NULL, now);
}

static void membership_change(const hs_request *req, hs_response *resp, hs_server *srv, const char *room_id,
                              const char *target_key, const char *membership)
{
    hs_access_identity who;
    int64_t now = wall_ms();
    if (hs_access_authenticate(srv->store, req, now, &who, resp) != 0) return;
    const char *target = who.user_id;
    json_t *body = NULL;
    if (target_key) {
        body = body_object(req, resp);
        if (!body) return;
        target = json_string_value(json_object_get(body, target_key));
        if (!target || !hs_is_valid_user_id(target)) {
            hs_response_error(resp, 400, "M_INVALID_PARAM", "'%s' must be a user ID", target_key);
            json_decref(body);
            return;
        }
        const char *server = hs_id_server_name(target);
        if (!server || strcmp(server, srv->cfg.server_name) != 0) {
            hs_response_error(resp, 400, "M_UNKNOWN", "inviting users of other servers is not supported yet");
            json_decref(body);
            return;
        }
        hs_store_user u;
        int rc = hs_store_user_get(srv->store, target, &u);
        if (rc != 0 || u.deactivated) {
            hs_response_error(resp, rc < 0 ? 500 : 404, rc < 0 ? "M_UNKNOWN" : "M_NOT_FOUND", "unknown user %s", target);
            json_decref(body);
            return;
        }
    }
    if (room_id[0] != '!') {
        hs_response_error(resp, 404, "M_NOT_FOUND", "room aliases are not supported yet: %s", room_id);
        json_decref(body);
        return;
    }
    hs_room_engine e = engine_of(srv);
    hs_room_result res;
    if (hs_room_membership(&e, room_id, who.user_id, target, membership, now, NULL, &res) == HS_ROOM_OK)
        hs_response_json(resp, 200, strcmp(membership, "join") == 0 ? json_pack("{ss}", "room_id", room_id)
                                                                       : json_object());
    else answer_status(resp, &res);
    json_decref(body);
}

static void join_post(const hs_request *req, hs_response *resp, void *ctx)
{
    const char *room = hs_request_param(req, "roomId");
    if (!room) room = hs_request_param(req, "roomIdOrAlias");
    membership_change(req, resp, ctx, room, NULL, "join");
}

static void leave_post(const hs_request *req, hs_response *resp, void *ctx)
{
    membership_change(req, resp, ctx, hs_request_param(req, "roomId"), NULL, "leave");
}

static void invite_post(const hs_request *req, hs_response *resp, void *ctx)
{
    membership_change(req, resp, ctx, hs_request_param(req, "roomId"), "user_id", "invite");
}

/* ---- reads -------------------------------------------------------------------------- */

static void state_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    int64_t now = wall_ms();
    if (hs_access_authenticate(srv->store, req, now, &who, resp) != 0) return;
    const char *room_id = hs_request_param(req, "roomId");
    if (require_joined(srv, room_id, who.user_id, resp) != 0) return;
    char *event_id = NULL;
    const char *type = hs_request_param(req, "eventType");
    int rc = hs_store_state_get(srv->store, room_id, type, state_key_param(req), &event_id);
    hs_store_event ev;
    if (rc == 0) rc = hs_store_event_get(srv->store, event_id, &ev) == 0 ? 0 : -1;
    free(event_id);
    if (rc == 1) {
        hs_response_error(resp, 404, "M_NOT_FOUND", "no %s state with key '%s'", type, state_key_param(req));
        return;
    }
    json_t *pdu = rc == 0 ? json_loads(ev.pdu_json, JSON_ALLOW_NUL, NULL) : NULL;
    if (rc == 0) hs_store_event_clear(&ev);
    if (!pdu) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the room state");
        return;
    }
    hs_response_json(resp, 200, json_incref(hs_pdu_content(pdu)));
    json_decref(pdu);
}

typedef struct collect_ctx {
    json_t *arr;
    const hs_access_identity *who;
    int64_t now;
    int64_t last_stream;
} collect_ctx;

static int collect_state(void *ctx, const char *type, const char *state_key, const hs_store_event *ev)
{
    (void)type;
    (void)state_key;
    collect_ctx *c = ctx;
    json_t *j = client_event(ev, c->who, c->now);
    if (!j) return -1;
    json_array_append_new(c->arr, j);
    return 0;
}

static void state_all_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    int64_t now = wall_ms();
    if (hs_access_authenticate(srv->store, req, now, &who, resp) != 0) return;
    const char *room_id = hs_request_param(req, "roomId");
    if (require_joined(srv, room_id, who.user_id, resp) != 0) return;
    collect_ctx c = {json_array(), &who, now, 0};
    if (hs_store_state_each(srv->store, room_id, collect_state, &c) != 0) {
        json_decref(c.arr);
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the room state");
        return;
    }
    hs_response_json(resp, 200, c.arr);
}

static void event_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    int64_t now = wall_ms();
    if (hs_access_authenticate(srv->store, req, now, &who, resp) != 0) return;
    const char *room_id = hs_request_param(req, "roomId");
    if (require_joined(srv, room_id, who.user_id, resp) != 0) return;
    hs_store_event ev;
    int rc = hs_store_event_get(srv->store, hs_request_param(req, "eventId"), &ev);
    if (rc == 0 && strcmp(ev.room_id, room_id) != 0) {
        hs_store_event_clear(&ev);
        rc = 1;
    }
    if (rc != 0) {
        hs_response_error(resp, rc == 1 ? 404 : 500, rc == 1 ? "M_NOT_FOUND" : "M_UNKNOWN", "event not found");
        return;
    }
    json_t *j = client_event(&ev, &who, now);
    hs_store_event_clear(&ev);
    if (j) hs_response_json(resp, 200, j);
    else hs_response_error(resp, 500, "M_UNKNOWN", "stored event is unreadable");
}

static void joined_rooms_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    if (hs_access_authenticate(srv->store, req, wall_ms(), &who, resp) != 0) return;
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

static int collect_event(void *ctx, const hs_store_event *ev)
{
    collect_ctx *c = ctx;
    json_t *j = client_event(ev, c->who, c->now);
    if (!j) return -1;
    json_array_append_new(c->arr, j);
    c->last_stream = ev->stream;
    return 0;
}

/* Parses "s<N>" with N >= 0. Returns 0 or -1. */
static int parse_token(const char *t, int64_t *out)
{
    if (!t || t[0] != 's' || t[1] < '0' || t[1] > '9' || strlen(t) > 20) return -1;
    char *end;
    long long v = strtoll(t + 1, &end, 10);
    if (*end || v < 0) return -1;
    *out = v;
    return 0;
}

static void messages_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    int64_t now = wall_ms();
    if (hs_access_authenticate(srv->store, req, now, &who, resp) != 0) return;
    const char *room_id = hs_request_param(req, "roomId");
    if (require_joined(srv, room_id, who.user_id, resp) != 0) return;
    const char *dir = hs_request_query(req, "dir");
    if (!dir || (strcmp(dir, "b") != 0 && strcmp(dir, "f") != 0)) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'dir' must be b or f");
        return;
    }
    bool backwards = dir[0] == 'b';
    long limit = MESSAGES_DEFAULT_LIMIT;
    const char *l = hs_request_query(req, "limit");
    if (l) {
        char *end;
        limit = strtol(l, &end, 10);
        if (*end || end == l || limit < 0) {
            hs_response_error(resp, 400, "M_INVALID_PARAM", "'limit' must be a non-negative integer");
            return;
        }
        if (limit > MESSAGES_MAX_LIMIT) limit = MESSAGES_MAX_LIMIT;
    }
    int64_t from = 0;
    const char *from_s = hs_request_query(req, "from");
    if (from_s) {
        if (parse_token(from_s, &from) != 0) {
            hs_response_error(resp, 400, "M_INVALID_PARAM", "'from' is not a token of this server");
            return;
        }
    } else if (backwards && hs_store_room_max_stream(srv->store, room_id, &from) != 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the room");
        return;
    }
    collect_ctx c = {json_array(), &who, now, 0};
    long n = hs_store_room_events(srv->store, room_id, from, backwards, limit, collect_event, &c);
    if (n < 0) {
        json_decref(c.arr);
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the room's events");
        return;
    }
    char start[32], end[32];
    snprintf(start, sizeof start, "s%" PRId64, from);
    json_t *out = json_pack("{so, ss}", "chunk", c.arr, "start", start);
    /* A full page may have more behind it; a short one reached the end of the room. */
    if (n > 0 && n == limit) {
        snprintf(end, sizeof end, "s%" PRId64, backwards ? c.last_stream - 1 : c.last_stream);
        json_object_set_new(out, "end", json_string(end));
    }
    hs_response_json(resp, 200, out);
}

int hs_api_rooms_register(hs_server *srv)
{
    static const hs_client_route routes[] = {
        {"POST", "/createRoom", create_room_post},
        {"PUT", "/rooms/{roomId}/send/{eventType}/{txnId}", send_put},
        {"PUT", "/rooms/{roomId}/state/{eventType}", state_put},
        {"PUT", "/rooms/{roomId}/state/{eventType}/{stateKey}", state_put},
        {"GET", "/rooms/{roomId}/state/{eventType}", state_get},
        {"GET", "/rooms/{roomId}/state/{eventType}/{stateKey}", state_get},
        {"GET", "/rooms/{roomId}/state", state_all_get},
        {"GET", "/rooms/{roomId}/event/{eventId}", event_get},
        {"GET", "/rooms/{roomId}/messages", messages_get},
        {"GET", "/joined_rooms", joined_rooms_get},
        {"POST", "/rooms/{roomId}/join", join_post},
        {"POST", "/join/{roomIdOrAlias}", join_post},
        {"POST", "/rooms/{roomId}/leave", leave_post},
        {"POST", "/rooms/{roomId}/invite", invite_post},
    };
    return hs_router_add_client_routes(srv->client_router, routes, sizeof routes / sizeof routes[0], srv);
}
