/* hs_api_rooms: HTTP handlers that write to rooms - createRoom, send, state put, join
 * (by room ID or local alias), leave, invite, kick, ban, unban, forget and redact. Every
 * write goes through the room engine (hs_room), which builds, checks and persists the
 * event; the handlers only authenticate, validate the request and map engine statuses
 * to the spec's errors. The read endpoints live in hs_api_rooms_read.c; the helpers
 * both use are here (hs_api_rooms_internal.h). */
#include "server-core/hs_api_rooms.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server-core/hs_api_directory.h"
#include "server-core/hs_api_rooms_internal.h"
#include "server-core/hs_fed_room_out.h"
#include "server-core/hs_fed_rooms.h"
#include "server-core/hs_log.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_store_accounts.h"
#include "server-core/hs_store_directory.h"
#include "server-core/hs_store_history.h"
#include "server-core/hs_store_rooms.h"
#include "server-core/hs_clock.h"

#define TXN_ID_MAX 255
#define REASON_MAX 2048

/* ---- shared helpers ------------------------------------------------------------------ */

hs_room_engine hs_api_rooms__engine(hs_server *srv)
{
    return (hs_room_engine){srv->store, srv->cfg.server_name, &srv->signing_key, srv->cfg.default_room_version,
                            srv->notifier};
}

void hs_api_rooms__answer(hs_response *resp, const hs_room_result *res)
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

json_t *hs_api_rooms__body(const hs_request *req, hs_response *resp)
{
    char why[256];
    json_t *j = hs_request_json(req, why, sizeof why);
    if (!j) hs_response_error(resp, 400, "M_NOT_JSON", "%s", why);
    return j;
}

int hs_api_rooms__require_joined(hs_server *srv, const char *room_id, const char *user, hs_response *resp)
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

hs_room_viewer hs_api_rooms__viewer(const hs_access_identity *who, int64_t now)
{
    return (hs_room_viewer){who->user_id, who->device_id, now, true};
}

/* ---- writes ------------------------------------------------------------------------- */

/* createRoom's invitees on other servers, once the room exists (the engine invites the
 * local ones): each goes through its server (hs_fed_invite_remote). The room stands
 * whatever they answer, so a refusal or an unreachable server is logged, not answered:
 * the client can see who was invited and invite again. */
static void invite_remote_users(hs_server *srv, const char *room_id, const char *creator, const json_t *body,
                                int64_t now)
{
    bool is_direct = json_is_true(json_object_get(body, "is_direct"));
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(body, "invite"), i, v) {
        const char *uid = json_string_value(v), *server = hs_id_server_name(uid);
        if (!server || strcmp(server, srv->cfg.server_name) == 0) continue;
        char *id = NULL;
        hs_room_result res;
        if (hs_fed_invite_remote(srv, room_id, creator, uid, NULL, is_direct, now, &id, &res) != HS_ROOM_OK)
            hs_info("rooms", "createRoom %s: inviting %s failed: %s", room_id, uid, res.msg);
        free(id);
    }
}

static void create_room_post(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    int64_t now = hs_clock_wall_ms();
    if (hs_access_authenticate(srv->store, req, now, &who, resp) != 0) return;
    json_t *body = hs_api_rooms__body(req, resp);
    if (!body) return;
    char *alias = NULL; /* room_alias_name: checked (409/400) before any event is written */
    if (hs_api_directory_create_room_prepare(srv, body, &alias, resp) != 0) {
        json_decref(body);
        return;
    }
    hs_room_engine e = hs_api_rooms__engine(srv);
    hs_room_result res;
    char *room_id = NULL;
    if (hs_room_create(&e, who.user_id, body, now, &room_id, &res) == HS_ROOM_OK) {
        hs_api_directory_create_room_finish(srv, alias, room_id, who.user_id, now);
        invite_remote_users(srv, room_id, who.user_id, body, now);
        hs_response_json(resp, 200, json_pack("{ss}", "room_id", room_id));
    } else hs_api_rooms__answer(resp, &res);
    free(alias);
    free(room_id);
    json_decref(body);
}

static void send_and_answer(hs_server *srv, const hs_request *req, hs_response *resp, const hs_access_identity *who,
                            const char *type, const char *state_key, const hs_room_txn *txn, int64_t now)
{
    json_t *body = hs_api_rooms__body(req, resp);
    if (!body) return;
    hs_room_engine e = hs_api_rooms__engine(srv);
    hs_room_result res;
    char *event_id = NULL;
    if (hs_room_send(&e, hs_request_param(req, "roomId"), who->user_id, type, state_key, body, txn, now, &event_id,
                     &res) == HS_ROOM_OK)
        hs_response_json(resp, 200, json_pack("{ss}", "event_id", event_id));
    else hs_api_rooms__answer(resp, &res);
    free(event_id);
    json_decref(body);
}

/* The {txnId} path parameter, or NULL after answering 400. */
static const char *txn_param(const hs_request *req, hs_response *resp)
{
    const char *txn_id = hs_request_param(req, "txnId");
    if (strlen(txn_id) > TXN_ID_MAX) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "transaction ID longer than %d bytes", TXN_ID_MAX);
        return NULL;
    }
    return txn_id;
}

static void send_put(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    int64_t now = hs_clock_wall_ms();
    if (hs_access_authenticate(srv->store, req, now, &who, resp) != 0) return;
    const char *txn_id = txn_param(req, resp);
    if (!txn_id) return;
    hs_room_txn txn = {.user_id = who.user_id, .device_id = who.device_id, .txn_id = txn_id};
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
    int64_t now = hs_clock_wall_ms();
    if (hs_access_authenticate(srv->store, req, now, &who, resp) != 0) return;
    send_and_answer(srv, req, resp, &who, hs_request_param(req, "eventType"), state_key_param(req), NULL, now);
}

/* The optional "reason" of a body: NULL when absent; -1 after answering 400. */
static int reason_of(const json_t *body, const char **reason, hs_response *resp)
{
    const json_t *r = json_object_get(body, "reason");
    *reason = NULL;
    if (!r || json_is_null(r)) return 0;
    if (!json_is_string(r) || strlen(json_string_value(r)) > REASON_MAX) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'reason' must be a string of at most %d bytes", REASON_MAX);
        return -1;
    }
    *reason = json_string_value(r);
    return 0;
}

/* Checks body.user_id for invite (`local_only`: a user of this server must be an existing account) or
 * kick/ban/unban. Returns the borrowed ID, or NULL after answering. */
static const char *target_user(hs_server *srv, const json_t *body, bool local_only, hs_response *resp)
{
    const char *target = json_string_value(json_object_get(body, "user_id"));
    if (!target || !hs_is_valid_user_id(target)) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'user_id' must be a user ID");
        return NULL;
    }
    if (!local_only) return target;
    const char *server = hs_id_server_name(target);
    /* A user of another server is invited through its server (hs_fed_invite_remote). */
    if (server && strcmp(server, srv->cfg.server_name) != 0) return target;
    hs_store_user u;
    int rc = hs_store_user_get(srv->store, target, &u);
    if (rc != 0 || u.deactivated) {
        hs_response_error(resp, rc < 0 ? 500 : 404, rc < 0 ? "M_UNKNOWN" : "M_NOT_FOUND", "unknown user %s", target);
        return NULL;
    }
    return target;
}

/* The room ID for a path's room ID or alias: a copy of the ID, or the room a local alias
 * points to. NULL after answering 404/500. */
static char *resolve_room(hs_server *srv, const char *id_or_alias, hs_response *resp)
{
    if (id_or_alias[0] == '!') return strdup(id_or_alias);
    if (id_or_alias[0] != '#') {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'%s' is neither a room ID nor an alias", id_or_alias);
        return NULL;
    }
    char *room_id = NULL;
    int rc = hs_store_alias_get(srv->store, id_or_alias, &room_id);
    if (rc < 0) hs_response_error(resp, 500, "M_UNKNOWN", "cannot read room aliases");
    if (rc == 1) hs_response_error(resp, 404, "M_NOT_FOUND", "room alias %s is not known", id_or_alias);
    return rc == 0 ? room_id : NULL;
}

/* A membership change. `target_mode`: 0 the sender itself, 1 body.user_id must be a
 * local account (invite), 2 any user ID (kick, ban), 3 a user banned from the room (unban). */
static void membership_change(const hs_request *req, hs_response *resp, hs_server *srv, const char *room,
                              int target_mode, const char *membership)
{
    hs_access_identity who;
    int64_t now = hs_clock_wall_ms();
    if (hs_access_authenticate(srv->store, req, now, &who, resp) != 0) return;
    const char *target = who.user_id, *reason = NULL;
    /* join and leave may come without a body */
    json_t *body = target_mode || req->body_len ? hs_api_rooms__body(req, resp) : json_object();
    if (!body) return;
    char *room_id = NULL;
    if (reason_of(body, &reason, resp) != 0) goto out;
    if (target_mode && !(target = target_user(srv, body, target_mode == 1, resp))) goto out;
    /* A room only other servers hold is joined or left over federation (hs_fed_rooms.h). */
    if (target_mode == 0 && hs_fed_membership_is_remote(srv, room, membership)) {
        hs_fed_membership_client(req, resp, srv, who.user_id, room, membership, now);
        goto out;
    }
    if (!(room_id = resolve_room(srv, room, resp))) goto out;
    char version[HS_STORE_ROOM_VERSION_MAX];
    if (target_mode == 3 && hs_store_room_get(srv->store, room_id, version) == 0) {
        char current[32];
        if (hs_store_membership(srv->store, room_id, target, current) != 0) {
            hs_response_error(resp, 500, "M_UNKNOWN", "cannot read room %s", room_id);
            goto out;
        }
        if (strcmp(current, "ban") != 0) {
            hs_response_error(resp, 403, "M_FORBIDDEN", "%s is not banned from %s", target, room_id);
            goto out;
        }
    }
    hs_room_engine e = hs_api_rooms__engine(srv);
    hs_room_result res;
    const char *target_server = hs_id_server_name(target);
    bool remote_invite = target_mode == 1 && target_server && strcmp(target_server, srv->cfg.server_name) != 0;
    hs_room_status st;
    if (remote_invite) {
        char *id = NULL;
        st = hs_fed_invite_remote(srv, room_id, who.user_id, target, reason, false, now, &id, &res);
        free(id);
    } else {
        st = hs_room_member_change(&e, room_id, who.user_id, target, membership, reason, now, NULL, &res);
        /* A restricted room none of our members may invite to: another resident server
         * vouches for the join, as Synapse does (hs_fed_join_vouched). */
        if (st == HS_ROOM_FORBIDDEN && target_mode == 0 && strcmp(membership, "join") == 0 &&
            hs_fed_join_needs_voucher(srv, room_id, who.user_id)) {
            st = hs_fed_join_vouched(srv, who.user_id, room_id, now, &res);
            if (st != HS_ROOM_OK) {
                hs_fed_room_answer_error(resp, st, &res, "join");
                goto out;
            }
        }
    }
    if (st == HS_ROOM_OK)
        hs_response_json(resp, 200, strcmp(membership, "join") == 0 ? json_pack("{ss}", "room_id", room_id)
                                                                       : json_object());
    else hs_api_rooms__answer(resp, &res);
out:
    free(room_id);
    json_decref(body);
}

static void join_post(const hs_request *req, hs_response *resp, void *ctx)
{
    const char *room = hs_request_param(req, "roomId");
    if (!room) room = hs_request_param(req, "roomIdOrAlias");
    membership_change(req, resp, ctx, room, 0, "join");
}

static void leave_post(const hs_request *req, hs_response *resp, void *ctx)
{
    membership_change(req, resp, ctx, hs_request_param(req, "roomId"), 0, "leave");
}

static void invite_post(const hs_request *req, hs_response *resp, void *ctx)
{
    membership_change(req, resp, ctx, hs_request_param(req, "roomId"), 1, "invite");
}

static void kick_post(const hs_request *req, hs_response *resp, void *ctx)
{
    membership_change(req, resp, ctx, hs_request_param(req, "roomId"), 2, "leave");
}

static void ban_post(const hs_request *req, hs_response *resp, void *ctx)
{
    membership_change(req, resp, ctx, hs_request_param(req, "roomId"), 2, "ban");
}

/* Unban is a leave for a banned user only: the auth rules alone would turn "unban" of a
 * joined user into a kick. */
static void unban_post(const hs_request *req, hs_response *resp, void *ctx)
{
    membership_change(req, resp, ctx, hs_request_param(req, "roomId"), 3, "leave");
}

static void forget_post(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    if (hs_access_authenticate(srv->store, req, hs_clock_wall_ms(), &who, resp) != 0) return;
    const char *room_id = hs_request_param(req, "roomId");
    char version[HS_STORE_ROOM_VERSION_MAX], membership[32];
    int rc = hs_store_room_get(srv->store, room_id, version);
    if (rc == 0) rc = hs_store_membership(srv->store, room_id, who.user_id, membership);
    if (rc != 0) {
        hs_response_error(resp, rc < 0 ? 500 : 404, rc < 0 ? "M_UNKNOWN" : "M_NOT_FOUND", "unknown room %s", room_id);
        return;
    }
    if (strcmp(membership, "join") == 0 || strcmp(membership, "invite") == 0 || strcmp(membership, "knock") == 0) {
        hs_response_error(resp, 400, "M_UNKNOWN", "leave room %s before forgetting it", room_id);
        return;
    }
    if (hs_store_forget_room(srv->store, room_id, who.user_id) != 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot forget room %s", room_id);
        return;
    }
    hs_notifier_wake(srv->notifier);
    hs_response_json(resp, 200, json_object());
}

static void redact_put(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    int64_t now = hs_clock_wall_ms();
    if (hs_access_authenticate(srv->store, req, now, &who, resp) != 0) return;
    const char *txn_id = txn_param(req, resp);
    if (!txn_id) return;
    json_t *body = hs_api_rooms__body(req, resp);
    if (!body) return;
    const char *reason = NULL;
    if (reason_of(body, &reason, resp) == 0) {
        hs_room_txn txn = {.user_id = who.user_id, .device_id = who.device_id, .txn_id = txn_id};
        hs_room_engine e = hs_api_rooms__engine(srv);
        hs_room_result res;
        char *event_id = NULL;
        if (hs_room_redact(&e, hs_request_param(req, "roomId"), who.user_id, hs_request_param(req, "eventId"), reason,
                           &txn, now, &event_id, &res) == HS_ROOM_OK)
            hs_response_json(resp, 200, json_pack("{ss}", "event_id", event_id));
        else hs_api_rooms__answer(resp, &res);
        free(event_id);
    }
    json_decref(body);
}

int hs_api_rooms_register(hs_server *srv)
{
    static const hs_client_route routes[] = {
        {"POST", "/createRoom", create_room_post},
        {"PUT", "/rooms/{roomId}/send/{eventType}/{txnId}", send_put},
        {"PUT", "/rooms/{roomId}/state/{eventType}", state_put},
        {"PUT", "/rooms/{roomId}/state/{eventType}/{stateKey}", state_put},
        {"PUT", "/rooms/{roomId}/redact/{eventId}/{txnId}", redact_put},
        {"POST", "/rooms/{roomId}/join", join_post},
        {"POST", "/join/{roomIdOrAlias}", join_post},
        {"POST", "/rooms/{roomId}/leave", leave_post},
        {"POST", "/rooms/{roomId}/invite", invite_post},
        {"POST", "/rooms/{roomId}/kick", kick_post},
        {"POST", "/rooms/{roomId}/ban", ban_post},
        {"POST", "/rooms/{roomId}/unban", unban_post},
        {"POST", "/rooms/{roomId}/forget", forget_post},
    };
    if (hs_router_add_client_routes(srv->client_router, routes, sizeof routes / sizeof routes[0], srv) != 0) return -1;
    return hs_api_rooms__register_reads(srv);
}
