/* hs_api_misc: the small Client-Server endpoints Element-style clients call at startup or
 * from a room's menu, and POST /rooms/{roomId}/upgrade (logic in hs_room_upgrade):
 *
 *   GET  /voip/turnServer             with voip.turn_uris: the TURN REST API credentials
 *                                     (username "<expiry>:<user>", password base64
 *                                     HMAC-SHA1 of it under voip.turn_shared_secret - SHA-1
 *                                     because coturn and every TURN REST server fix it);
 *                                     without: 200 {}, what Synapse answers unconfigured
 *                                     (clients then use STUN/host candidates);
 *   GET  /thirdparty/protocols        200 {} - no application service bridges;
 *   GET  /account/3pid                200 {"threepids": []} - no identity server binding;
 *   GET  /notifications               the caller's push rules evaluated over their rooms'
 *                                     events (hs_api_misc_notifications.c);
 *   POST /user/{userId}/openid/request_token   a random token, its SHA-256 stored with a
 *                                     one hour expiry; GET /_matrix/federation/v1/openid/
 *                                     userinfo?access_token= on the federation router answers
 *                                     {"sub"} for it (the token authenticates, not X-Matrix);
 *   POST /rooms/{roomId}/report/{eventId}      stored for admins, who list them through
 *                                     GET /_synapse/admin/v1/event_reports (Synapse's API);
 *   POST /knock/{roomIdOrAlias}       local rooms: a knock membership through the engine,
 *                                     which applies the auth rules (join rule knock, v7+);
 *                                     rooms only other servers hold: make_knock/send_knock
 *                                     (hs_fed_knock.c);
 *   GET  /_matrix/client/v1/rooms/{roomId}/hierarchy   spaces (hs_api_misc_hierarchy.c). */
#include "server-core/hs_api_misc.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_access.h"
#include "server-core/hs_api_misc_internal.h"
#include "server-core/hs_api_rooms_internal.h"
#include "server-core/hs_api_search.h"
#include "server-core/hs_api_tags.h"
#include "server-core/hs_base64.h"
#include "server-core/hs_fed_rooms.h"
#include "server-core/hs_hmac_sha1.h"
#include "server-core/hs_room.h"
#include "server-core/hs_room_upgrade.h"
#include "server-core/hs_room_visibility.h"
#include "server-core/hs_server.h"
#include "server-core/hs_store_accounts.h"
#include "server-core/hs_store_directory.h"
#include "server-core/hs_store_rooms.h"
#include "server-core/hs_store_search.h"
#include "server-core/hs_clock.h"

#define OPENID_LIFETIME_MS (3600 * 1000)
#define REASON_MAX 4096
#define REPORTS_PAGE_MAX 100

static void answer_room(hs_response *resp, const hs_room_result *res)
{
    switch (res->status) {
    case HS_ROOM_OK: break;
    case HS_ROOM_NOT_FOUND: hs_response_error(resp, 404, "M_NOT_FOUND", "%s", res->msg); break;
    case HS_ROOM_FORBIDDEN: hs_response_error(resp, 403, "M_FORBIDDEN", "%s", res->msg); break;
    case HS_ROOM_TOO_LARGE: hs_response_error(resp, 413, "M_TOO_LARGE", "%s", res->msg); break;
    case HS_ROOM_BAD_REQUEST: hs_response_error(resp, 400, "M_INVALID_PARAM", "%s", res->msg); break;
    case HS_ROOM_UNSUPPORTED_VERSION: hs_response_error(resp, 400, "M_UNSUPPORTED_ROOM_VERSION", "%s", res->msg); break;
    case HS_ROOM_ERROR: hs_response_error(resp, 500, "M_UNKNOWN", "%s", res->msg); break;
    }
}

/* The body as an object; an empty body counts as {} when `empty_ok`. NULL after a 400. */
static json_t *body_object(const hs_request *req, hs_response *resp, bool empty_ok)
{
    if (empty_ok && req->body_len == 0) return json_object();
    return hs_api_rooms__body(req, resp);
}

static int auth(hs_server *srv, const hs_request *req, hs_response *resp, hs_access_identity *who)
{
    return hs_access_authenticate(srv->store, req, hs_clock_wall_ms(), who, resp);
}

/* ---- fixed answers --------------------------------------------------------------------- */

static void turn_server_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    if (auth(srv, req, resp, &who) != 0) return;
    const hs_config *cfg = &srv->cfg;
    if (!cfg->turn_uris[0]) {
        hs_response_json(resp, 200, json_object());
        return;
    }
    char username[HS_STORE_ID_MAX + 32];
    snprintf(username, sizeof username, "%lld:%s",
             (long long)(hs_clock_wall_ms() / 1000 + cfg->turn_user_lifetime_seconds), who.user_id);
    uint8_t mac[HS_SHA1_BYTES];
    char password[sodium_base64_ENCODED_LEN(HS_SHA1_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    if (hs_hmac_sha1((const uint8_t *)cfg->turn_shared_secret, strlen(cfg->turn_shared_secret),
                     (const uint8_t *)username, strlen(username), mac) != 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot derive TURN credentials");
        return;
    }
    sodium_bin2base64(password, sizeof password, mac, sizeof mac, sodium_base64_VARIANT_ORIGINAL);
    json_t *uris = json_array();
    for (const char *p = cfg->turn_uris; *p;) {
        while (*p == ',' || *p == ' ') p++;
        const char *end = p;
        while (*end && *end != ',') end++;
        const char *last = end;
        while (last > p && last[-1] == ' ') last--;
        if (last > p) json_array_append_new(uris, json_stringn(p, (size_t)(last - p)));
        p = end;
    }
    hs_response_json(resp, 200, json_pack("{ss ss so si}", "username", username, "password", password, "uris", uris,
                                          "ttl", cfg->turn_user_lifetime_seconds));
}

static void protocols_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_access_identity who;
    if (auth(ctx, req, resp, &who) == 0) hs_response_json(resp, 200, json_object());
}

static void threepids_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_access_identity who;
    if (auth(ctx, req, resp, &who) == 0) hs_response_json(resp, 200, json_pack("{s[]}", "threepids"));
}

/* ---- OpenID ------------------------------------------------------------------------------ */

static void openid_request_token(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    if (auth(srv, req, resp, &who) != 0) return;
    const char *user = hs_request_param(req, "userId");
    if (!user || strcmp(user, who.user_id) != 0) {
        hs_response_error(resp, 403, "M_FORBIDDEN", "cannot request an OpenID token for another user");
        return;
    }
    json_t *body = body_object(req, resp, false);
    if (!body) return;
    json_decref(body);
    uint8_t raw[32], hash[HS_STORE_OPENID_HASH_BYTES];
    randombytes_buf(raw, sizeof raw);
    char *token = hs_b64url_encode(raw, sizeof raw);
    int64_t now = hs_clock_wall_ms();
    if (token) crypto_hash_sha256(hash, (const uint8_t *)token, strlen(token));
    if (!token || hs_store_openid_put(srv->store, hash, who.user_id, now + OPENID_LIFETIME_MS, now) != 0)
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot store the token");
    else
        hs_response_json(resp, 200, json_pack("{ss ss ss sI}", "access_token", token, "token_type", "Bearer",
                                              "matrix_server_name", srv->cfg.server_name, "expires_in",
                                              (json_int_t)(OPENID_LIFETIME_MS / 1000)));
    free(token);
}

static void openid_userinfo(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    const char *token = hs_request_query(req, "access_token");
    if (!token || !token[0]) {
        hs_response_error(resp, 401, "M_MISSING_TOKEN", "access_token is required");
        return;
    }
    uint8_t hash[HS_STORE_OPENID_HASH_BYTES];
    crypto_hash_sha256(hash, (const uint8_t *)token, strlen(token));
    char *user = NULL;
    int rc = hs_store_openid_get(srv->store, hash, hs_clock_wall_ms(), &user);
    if (rc == 0) hs_response_json(resp, 200, json_pack("{ss}", "sub", user));
    else if (rc == 1) hs_response_error(resp, 401, "M_UNKNOWN_TOKEN", "unknown or expired OpenID token");
    else hs_response_error(resp, 500, "M_UNKNOWN", "cannot read tokens");
    free(user);
}

/* ---- reports ------------------------------------------------------------------------------- */

static void report_post(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    if (auth(srv, req, resp, &who) != 0) return;
    const char *room_id = hs_request_param(req, "roomId"), *event_id = hs_request_param(req, "eventId");
    json_t *body = body_object(req, resp, true);
    if (!body) return;
    json_t *reason = json_object_get(body, "reason"), *score = json_object_get(body, "score");
    if (reason && !json_is_null(reason) && (!json_is_string(reason) || json_string_length(reason) > REASON_MAX)) {
        hs_response_error(resp, 400, "M_BAD_JSON", "'reason' must be a string of at most %d bytes", REASON_MAX);
        goto out;
    }
    if (score && !json_is_null(score) &&
        (!json_is_integer(score) || json_integer_value(score) < -100 || json_integer_value(score) > 0)) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'score' must be an integer between -100 and 0");
        goto out;
    }
    /* The same answer whether the event does not exist or the reporter cannot see it. */
    hs_store_event ev;
    int rc = hs_store_event_get(srv->store, event_id, &ev);
    int visible = 0;
    if (rc == 0 && strcmp(ev.room_id, room_id) == 0) {
        char membership[32];
        if (hs_store_membership(srv->store, room_id, who.user_id, membership) != 0) {
            visible = -1;
        } else if (strcmp(membership, "join") == 0) {
            hs_room_visibility *vis = hs_room_visibility_new(srv->store, who.user_id, true);
            visible = vis ? hs_room_visibility_check(vis, &ev) : -1;
            hs_room_visibility_free(vis);
        }
    }
    if (rc == 0) hs_store_event_clear(&ev);
    if (rc < 0 || visible < 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the event");
    } else if (!visible) {
        hs_response_error(resp, 404, "M_NOT_FOUND", "the event could not be found or you cannot see it");
    } else if (hs_store_report_put(srv->store, room_id, event_id, who.user_id, json_string_value(reason),
                                   json_is_integer(score), json_integer_value(score), hs_clock_wall_ms()) != 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot store the report");
    } else {
        hs_response_json(resp, 200, json_object());
    }
out:
    json_decref(body);
}

static int report_row(void *ctx, int64_t id, const char *room_id, const char *event_id, const char *user_id,
                      const char *reason, bool has_score, int64_t score, int64_t received_ts)
{
    json_t *r = json_pack("{sI ss ss ss sI}", "id", (json_int_t)id, "room_id", room_id, "event_id", event_id,
                          "user_id", user_id, "received_ts", (json_int_t)received_ts);
    json_object_set_new(r, "reason", reason ? json_string(reason) : json_null());
    json_object_set_new(r, "score", has_score ? json_integer(score) : json_null());
    json_array_append_new(ctx, r);
    return 0;
}

long hs_api_misc__query_count(const hs_request *req, const char *name, long dflt)
{
    const char *s = hs_request_query(req, name);
    if (!s) return dflt;
    if (!*s || strlen(s) > 9) return -1;
    long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        v = v * 10 + (*p - '0');
    }
    return v;
}

static void admin_reports_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    if (auth(srv, req, resp, &who) != 0) return;
    hs_store_user u;
    int rc = hs_store_user_get(srv->store, who.user_id, &u);
    if (rc != 0 || !u.admin) {
        hs_response_error(resp, rc < 0 ? 500 : 403, rc < 0 ? "M_UNKNOWN" : "M_FORBIDDEN", "you are not a server admin");
        return;
    }
    long from = hs_api_misc__query_count(req, "from", 0);
    long limit = hs_api_misc__query_count(req, "limit", REPORTS_PAGE_MAX);
    if (from < 0 || limit < 0) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'from' and 'limit' must be non-negative integers");
        return;
    }
    if (limit > REPORTS_PAGE_MAX) limit = REPORTS_PAGE_MAX;
    json_t *list = json_array();
    int64_t total = 0;
    if (hs_store_reports_each(srv->store, from, limit, report_row, list, &total) != 0) {
        json_decref(list);
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read reports");
        return;
    }
    json_t *out = json_pack("{so sI}", "event_reports", list, "total", (json_int_t)total);
    if (from + (int64_t)json_array_size(list) < total)
        json_object_set_new(out, "next_token", json_integer(from + (json_int_t)json_array_size(list)));
    hs_response_json(resp, 200, out);
}

/* ---- knock ------------------------------------------------------------------------------ */

static void knock_post(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    int64_t now = hs_clock_wall_ms();
    if (auth(srv, req, resp, &who) != 0) return;
    json_t *body = body_object(req, resp, true);
    if (!body) return;
    json_t *reason = json_object_get(body, "reason");
    const char *target = hs_request_param(req, "roomIdOrAlias");
    char *room_id = NULL;
    if (reason && !json_is_null(reason) && (!json_is_string(reason) || json_string_length(reason) > REASON_MAX)) {
        hs_response_error(resp, 400, "M_BAD_JSON", "'reason' must be a string of at most %d bytes", REASON_MAX);
    } else if (hs_fed_membership_is_remote(srv, target, "join")) {
        /* a room only other servers hold: make_knock / send_knock (hs_fed_knock.c) */
        hs_fed_knock_client(req, resp, srv, who.user_id, target, json_string_value(reason), now);
    } else if (target[0] == '#') {
        int rc = hs_store_alias_get(srv->store, target, &room_id);
        if (rc != 0) hs_response_error(resp, rc < 0 ? 500 : 404, rc < 0 ? "M_UNKNOWN" : "M_NOT_FOUND",
                                       "room alias %s is not known here", target);
    } else if (target[0] == '!') {
        room_id = strdup(target);
    } else {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'%s' is neither a room ID nor an alias", target);
    }
    if (room_id) {
        hs_room_engine e = hs_api_rooms__engine(srv);
        hs_room_result res;
        if (hs_room_member_change(&e, room_id, who.user_id, who.user_id, "knock", json_string_value(reason), now,
                                  NULL, &res) == HS_ROOM_OK)
            hs_response_json(resp, 200, json_pack("{ss}", "room_id", room_id));
        else answer_room(resp, &res);
    }
    free(room_id);
    json_decref(body);
}

/* ---- upgrade ------------------------------------------------------------------------------ */

static void upgrade_post(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    int64_t now = hs_clock_wall_ms();
    if (auth(srv, req, resp, &who) != 0) return;
    json_t *body = body_object(req, resp, false);
    if (!body) return;
    const char *version = json_string_value(json_object_get(body, "new_version"));
    if (!version) {
        hs_response_error(resp, 400, "M_BAD_JSON", "'new_version' must be a string");
    } else {
        hs_room_engine e = hs_api_rooms__engine(srv);
        hs_room_result res;
        char *new_id = NULL;
        if (hs_room_upgrade(&e, hs_request_param(req, "roomId"), who.user_id, version, now, &new_id, &res) ==
            HS_ROOM_OK)
            hs_response_json(resp, 200, json_pack("{ss}", "replacement_room", new_id));
        else answer_room(resp, &res);
        free(new_id);
    }
    json_decref(body);
}

int hs_api_misc_register(hs_server *srv)
{
    static const hs_client_route routes[] = {
        {"GET", "/voip/turnServer", turn_server_get},
        {"GET", "/thirdparty/protocols", protocols_get},
        {"GET", "/account/3pid", threepids_get},
        {"GET", "/notifications", hs_api_misc__notifications_get},
        {"POST", "/user/{userId}/openid/request_token", openid_request_token},
        {"POST", "/rooms/{roomId}/report/{eventId}", report_post},
        {"POST", "/knock/{roomIdOrAlias}", knock_post},
        {"POST", "/rooms/{roomId}/upgrade", upgrade_post},
    };
    int rc = hs_router_add_client_routes(srv->client_router, routes, sizeof routes / sizeof routes[0], srv);
    rc |= hs_router_add(srv->client_router, "GET", "/_matrix/client/v1/rooms/{roomId}/hierarchy",
                        hs_api_misc__hierarchy_get, srv);
    rc |= hs_router_add(srv->client_router, "GET", "/_synapse/admin/v1/event_reports", admin_reports_get, srv);
    rc |= hs_router_add(srv->federation_router, "GET", "/_matrix/federation/v1/openid/userinfo", openid_userinfo,
                        srv);
    rc |= hs_api_tags_register(srv);
    rc |= hs_api_search_register(srv);
    return rc ? -1 : 0;
}
