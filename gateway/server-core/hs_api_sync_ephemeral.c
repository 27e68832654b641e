/* hs_api_sync_ephemeral: the writes /sync streams besides room events — typing
 * notices (memory only), read receipts, read markers, account data and presence. Each
 * successful change wakes the notifier so waiting /sync requests answer at once.
 *
 * Rules kept here: a user may only write their own typing, account data and presence;
 * typing and receipts need current membership "join"; a receipt must name an event of
 * that room; m.fully_read is a per-room account data event set only through receipts /
 * read markers (PUT of it answers 405 M_BAD_JSON, as the spec says). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_access.h"
#include "server-core/hs_api_sync_internal.h"
#include "server-core/hs_fed_e2ee.h"
#include "server-core/hs_log.h"
#include "server-core/hs_server.h"
#include "server-core/hs_store_rooms.h"
#include "server-core/hs_store_sync.h"
#include "server-core/hs_clock.h"

#define TYPING_DEFAULT_TIMEOUT_MS 30000
#define THREAD_ID_MAX 255
#define ACCOUNT_DATA_TYPE_MAX 255

static int auth(hs_api_sync *api, const hs_request *req, hs_access_identity *who, hs_response *resp)
{
    return hs_access_authenticate(api->srv->store, req, hs_clock_wall_ms(), who, resp);
}

static int require_self(const hs_request *req, const hs_access_identity *who, hs_response *resp)
{
    const char *user = hs_request_param(req, "userId");
    if (user && strcmp(user, who->user_id) == 0) return 0;
    hs_response_error(resp, 403, "M_FORBIDDEN", "cannot change or read another user's data");
    return -1;
}

/* 404 for an unknown room, 403 unless joined. Returns 0 when the user is joined. */
static int require_joined(hs_server *srv, const char *room_id, const char *user_id, hs_response *resp)
{
    char version[HS_STORE_ROOM_VERSION_MAX], membership[32];
    int rc = hs_store_room_get(srv->store, room_id, version);
    if (rc == 1) {
        hs_response_error(resp, 404, "M_NOT_FOUND", "unknown room %s", room_id);
        return -1;
    }
    if (rc < 0 || hs_store_membership(srv->store, room_id, user_id, membership) != 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read room %s", room_id);
        return -1;
    }
    if (strcmp(membership, "join") != 0) {
        hs_response_error(resp, 403, "M_FORBIDDEN", "%s is not in room %s", user_id, room_id);
        return -1;
    }
    return 0;
}

/* The body as a JSON object; an empty body counts as {}. NULL with resp filled. */
static json_t *body_object(const hs_request *req, hs_response *resp, bool empty_ok)
{
    if (empty_ok && req->body_len == 0) return json_object();
    char why[256];
    json_t *j = hs_request_json(req, why, sizeof why);
    if (!j) hs_response_error(resp, 400, "M_NOT_JSON", "%s", why);
    return j;
}

/* ---- typing ----------------------------------------------------------------------- */

static void typing_put(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_api_sync *api = ctx;
    hs_access_identity who;
    if (auth(api, req, &who, resp) != 0 || require_self(req, &who, resp) != 0) return;
    const char *room_id = hs_request_param(req, "roomId");
    if (require_joined(api->srv, room_id, who.user_id, resp) != 0) return;
    json_t *body = body_object(req, resp, false);
    if (!body) return;
    json_t *typing = json_object_get(body, "typing"), *timeout = json_object_get(body, "timeout");
    if (!json_is_boolean(typing) || (timeout && !json_is_integer(timeout))) {
        hs_response_error(resp, 400, "M_BAD_JSON", "'typing' must be a boolean and 'timeout' an integer");
        json_decref(body);
        return;
    }
    int64_t ms = timeout ? json_integer_value(timeout) : TYPING_DEFAULT_TIMEOUT_MS;
    bool is_typing = json_is_true(typing);
    int rc = hs_typing_set(api->typing, room_id, who.user_id, is_typing, ms, hs_clock_wall_ms());
    json_decref(body);
    if (rc < 0) {
        hs_response_error(resp, 503, "M_LIMIT_EXCEEDED", "too many typing notices at once");
        return;
    }
    if (rc == 1) hs_notifier_wake(api->srv->notifier);
    /* Other servers in the room hear it too (renewals included: their copy expires). */
    if (hs_fed_typing_out(api->srv, room_id, who.user_id, is_typing, ms) != 0)
        hs_warn("sync", "typing in %s: could not queue it for other servers", room_id);
    hs_response_json(resp, 200, json_object());
}

int hs_api_sync_typing_set(hs_server *srv, const char *room_id, const char *user_id, bool typing, int64_t timeout_ms)
{
    if (!srv->sync) return -1;
    int rc = hs_typing_set(srv->sync->typing, room_id, user_id, typing, timeout_ms, hs_clock_wall_ms());
    if (rc == 1) hs_notifier_wake(srv->notifier);
    return rc;
}

/* ---- receipts and read markers ----------------------------------------------------- */

/* 404 unless event_id is an event of room_id. Returns 0 when it is. */
static int require_event_in_room(hs_server *srv, const char *room_id, const char *event_id, hs_response *resp)
{
    hs_store_event ev;
    int rc = hs_store_event_get(srv->store, event_id, &ev);
    if (rc < 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read event %s", event_id);
        return -1;
    }
    bool here = rc == 0 && strcmp(ev.room_id, room_id) == 0;
    if (rc == 0) hs_store_event_clear(&ev);
    if (!here) {
        hs_response_error(resp, 404, "M_NOT_FOUND", "no event %s in room %s", event_id, room_id);
        return -1;
    }
    return 0;
}

/* Records one marker of `type` (m.read, m.read.private or m.fully_read). Returns 0, or
 * -1 with resp filled. */
static int set_marker(hs_server *srv, const char *room_id, const char *user_id, const char *type,
                      const char *thread_id, const char *event_id, hs_response *resp)
{
    if (require_event_in_room(srv, room_id, event_id, resp) != 0) return -1;
    int rc;
    if (strcmp(type, "m.fully_read") == 0) {
        json_t *content = json_pack("{ss}", "event_id", event_id);
        char *text = json_dumps(content, JSON_COMPACT);
        json_decref(content);
        rc = text ? hs_store_account_data_put(srv->store, user_id, room_id, "m.fully_read", text, NULL) : -1;
        free(text);
    } else {
        rc = hs_store_receipt_put(srv->store, room_id, type, user_id, thread_id, event_id, hs_clock_wall_ms(),
                                  NULL);
    }
    if (rc != 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot store the %s marker", type);
        return -1;
    }
    return 0;
}

static bool receipt_type_known(const char *t)
{
    return strcmp(t, "m.read") == 0 || strcmp(t, "m.read.private") == 0 || strcmp(t, "m.fully_read") == 0;
}

static void receipt_post(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_api_sync *api = ctx;
    hs_access_identity who;
    if (auth(api, req, &who, resp) != 0) return;
    const char *room_id = hs_request_param(req, "roomId"), *type = hs_request_param(req, "receiptType");
    if (!receipt_type_known(type)) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "unknown receipt type %s", type);
        return;
    }
    if (require_joined(api->srv, room_id, who.user_id, resp) != 0) return;
    json_t *body = body_object(req, resp, true);
    if (!body) return;
    json_t *thread = json_object_get(body, "thread_id");
    const char *thread_id = thread ? json_string_value(thread) : "";
    if (!thread_id || strlen(thread_id) > THREAD_ID_MAX || (thread && !thread_id[0])) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "thread_id must be a non-empty string of at most %d bytes",
                          THREAD_ID_MAX);
    } else if (thread && strcmp(type, "m.fully_read") == 0) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "m.fully_read cannot be threaded");
    } else if (set_marker(api->srv, room_id, who.user_id, type, thread_id, hs_request_param(req, "eventId"), resp) ==
               0) {
        hs_notifier_wake(api->srv->notifier);
        hs_response_json(resp, 200, json_object());
    }
    json_decref(body);
}

static void read_markers_post(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_api_sync *api = ctx;
    hs_access_identity who;
    if (auth(api, req, &who, resp) != 0) return;
    const char *room_id = hs_request_param(req, "roomId");
    if (require_joined(api->srv, room_id, who.user_id, resp) != 0) return;
    json_t *body = body_object(req, resp, false);
    if (!body) return;
    static const char *const kinds[] = {"m.fully_read", "m.read", "m.read.private"};
    for (size_t i = 0; i < 3; i++) {
        json_t *v = json_object_get(body, kinds[i]);
        if (v && !json_is_string(v)) {
            hs_response_error(resp, 400, "M_BAD_JSON", "'%s' must be an event ID", kinds[i]);
            json_decref(body);
            return;
        }
    }
    bool any = false;
    for (size_t i = 0; i < 3; i++) {
        const char *id = json_string_value(json_object_get(body, kinds[i]));
        if (!id) continue;
        if (set_marker(api->srv, room_id, who.user_id, kinds[i], "", id, resp) != 0) {
            if (any) hs_notifier_wake(api->srv->notifier);
            json_decref(body);
            return;
        }
        any = true;
    }
    json_decref(body);
    if (any) hs_notifier_wake(api->srv->notifier);
    hs_response_json(resp, 200, json_object());
}

/* ---- account data ------------------------------------------------------------------ */

/* The room part of an account data path ("" for global), or NULL with resp filled. */
static const char *account_data_room(hs_api_sync *api, const hs_request *req, hs_response *resp)
{
    const char *room_id = hs_request_param(req, "roomId");
    if (!room_id) return "";
    char version[HS_STORE_ROOM_VERSION_MAX];
    int rc = hs_store_room_get(api->srv->store, room_id, version);
    if (rc == 0) return room_id;
    if (rc == 1) hs_response_error(resp, 404, "M_NOT_FOUND", "unknown room %s", room_id);
    else hs_response_error(resp, 500, "M_UNKNOWN", "cannot read room %s", room_id);
    return NULL;
}

static void account_data_put(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_api_sync *api = ctx;
    hs_access_identity who;
    if (auth(api, req, &who, resp) != 0 || require_self(req, &who, resp) != 0) return;
    const char *room_id = account_data_room(api, req, resp);
    if (!room_id) return;
    const char *type = hs_request_param(req, "type");
    if (!type[0] || strlen(type) > ACCOUNT_DATA_TYPE_MAX) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "the type must be 1 to %d bytes", ACCOUNT_DATA_TYPE_MAX);
        return;
    }
    if (strcmp(type, "m.fully_read") == 0 || strcmp(type, "m.push_rules") == 0) {
        hs_response_error(resp, 405, "M_BAD_JSON", "%s is managed by the server; use its own endpoint", type);
        return;
    }
    json_t *body = body_object(req, resp, false);
    if (!body) return;
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    int rc = text ? hs_store_account_data_put(api->srv->store, who.user_id, room_id, type, text, NULL) : -1;
    free(text);
    if (rc != 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot store account data");
        return;
    }
    hs_notifier_wake(api->srv->notifier);
    hs_response_json(resp, 200, json_object());
}

static void account_data_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_api_sync *api = ctx;
    hs_access_identity who;
    if (auth(api, req, &who, resp) != 0 || require_self(req, &who, resp) != 0) return;
    const char *room_id = account_data_room(api, req, resp);
    if (!room_id) return;
    char *text = NULL;
    int rc = hs_store_account_data_get(api->srv->store, who.user_id, room_id, hs_request_param(req, "type"), &text);
    json_t *j = rc == 0 ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (rc < 0) hs_response_error(resp, 500, "M_UNKNOWN", "cannot read account data");
    else if (!j) hs_response_error(resp, 404, "M_NOT_FOUND", "no account data of this type");
    else hs_response_json(resp, 200, j);
}

/* ---- presence ---------------------------------------------------------------------- */

static void presence_put(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_api_sync *api = ctx;
    hs_access_identity who;
    if (auth(api, req, &who, resp) != 0 || require_self(req, &who, resp) != 0) return;
    json_t *body = body_object(req, resp, false);
    if (!body) return;
    const char *state = json_string_value(json_object_get(body, "presence"));
    json_t *msg = json_object_get(body, "status_msg");
    if (!state || (strcmp(state, "online") != 0 && strcmp(state, "offline") != 0 &&
                   strcmp(state, "unavailable") != 0)) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "presence must be online, offline or unavailable");
    } else if (msg && !json_is_null(msg) && (!json_is_string(msg) || json_string_length(msg) >= 1024)) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "status_msg must be a string under 1024 bytes");
    } else {
        bool changed = false;
        if (hs_store_presence_put(api->srv->store, who.user_id, state, json_string_value(msg), hs_clock_wall_ms(),
                                  &changed) != 0) {
            hs_response_error(resp, 500, "M_UNKNOWN", "cannot store presence");
        } else {
            if (changed) hs_notifier_wake(api->srv->notifier);
            hs_response_json(resp, 200, json_object());
        }
    }
    json_decref(body);
}

static void presence_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_api_sync *api = ctx;
    hs_access_identity who;
    if (auth(api, req, &who, resp) != 0) return;
    const char *user = hs_request_param(req, "userId");
    bool shared = strcmp(user, who.user_id) == 0;
    if (!shared && hs_store_sync_share_room(api->srv->store, who.user_id, user, &shared) != 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read rooms");
        return;
    }
    if (!shared) {
        hs_response_error(resp, 403, "M_FORBIDDEN", "you do not share a room with %s", user);
        return;
    }
    hs_store_presence p;
    int rc = hs_store_presence_get(api->srv->store, user, &p);
    if (rc < 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read presence");
        return;
    }
    if (rc == 1) {
        hs_response_json(resp, 200, json_pack("{ss}", "presence", "offline"));
        return;
    }
    int64_t ago = hs_clock_wall_ms() - p.last_active_ts;
    json_t *j = json_pack("{sssIsb}", "presence", p.state, "last_active_ago", (json_int_t)(ago < 0 ? 0 : ago),
                          "currently_active", strcmp(p.state, "online") == 0);
    if (p.has_status_msg) json_object_set_new(j, "status_msg", json_string(p.status_msg));
    hs_response_json(resp, 200, j);
}

int hs_api_sync_ephemeral_register(hs_server *srv)
{
    static const hs_client_route routes[] = {
        {"PUT", "/rooms/{roomId}/typing/{userId}", typing_put},
        {"POST", "/rooms/{roomId}/receipt/{receiptType}/{eventId}", receipt_post},
        {"POST", "/rooms/{roomId}/read_markers", read_markers_post},
        {"PUT", "/user/{userId}/account_data/{type}", account_data_put},
        {"GET", "/user/{userId}/account_data/{type}", account_data_get},
        {"PUT", "/user/{userId}/rooms/{roomId}/account_data/{type}", account_data_put},
        {"GET", "/user/{userId}/rooms/{roomId}/account_data/{type}", account_data_get},
        {"PUT", "/presence/{userId}/status", presence_put},
        {"GET", "/presence/{userId}/status", presence_get},
    };
    return hs_router_add_client_routes(srv->client_router, routes, sizeof routes / sizeof routes[0], srv->sync);
}
