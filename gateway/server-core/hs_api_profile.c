/* hs_api_profile: HTTP handlers for profiles (see hs_api_profile.h). The work of a
 * change - storing it and announcing it in every joined room - is hs_profile_set's;
 * these handlers check who may do what and map outcomes to the spec's answers:
 * 400 M_INVALID_PARAM for a malformed user ID or an over-long value, 400 M_BAD_JSON for
 * a value that is not a string, 400 M_MISSING_PARAM when the field is absent, 403
 * M_FORBIDDEN for someone else's profile and 404 M_NOT_FOUND for unknown users and, on
 * single-field reads, unset fields. Reads of another server's user ask that server
 * (hs_fed_profile_remote; 404 also when it cannot be reached). */
#include "server-core/hs_api_profile.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server-core/hs_access.h"
#include "server-core/hs_fed_e2ee.h"
#include "server-core/hs_log.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_profile.h"
#include "server-core/hs_server.h"
#include "server-core/hs_store_accounts.h"
#include "server-core/hs_clock.h"

static hs_room_engine engine_of(hs_server *srv)
{
    return (hs_room_engine){srv->store, srv->cfg.server_name, &srv->signing_key, srv->cfg.default_room_version,
                            srv->notifier};
}

/* Checks the path's user ID names an active local user. Returns 0, or -1 after
 * answering 400 / 404 / 500. */
static int require_local_user(hs_server *srv, const char *user_id, hs_response *resp)
{
    if (!user_id || !hs_is_valid_user_id(user_id)) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "not a user ID: %s", user_id ? user_id : "");
        return -1;
    }
    const char *server = hs_id_server_name(user_id);
    if (!server || strcmp(server, srv->cfg.server_name) != 0) {
        hs_response_error(resp, 404, "M_NOT_FOUND", "profiles of other servers' users are not available yet");
        return -1;
    }
    hs_store_user u;
    int rc = hs_store_user_get(srv->store, user_id, &u);
    if (rc < 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read users");
        return -1;
    }
    if (rc == 1 || u.deactivated) {
        hs_response_error(resp, 404, "M_NOT_FOUND", "Profile was not found");
        return -1;
    }
    return 0;
}

/* Answers with the profile fields; `only` NULL for the whole profile, else one key
 * (404 when that field is unset). */
static void answer_profile(hs_server *srv, const hs_request *req, hs_response *resp, const char *only)
{
    const char *user_id = hs_request_param(req, "userId");
    char *displayname, *avatar_url;
    const char *server = user_id && hs_is_valid_user_id(user_id) ? hs_id_server_name(user_id) : NULL;
    if (server && strcmp(server, srv->cfg.server_name) != 0) {
        /* Another server's user: its server answers (query/profile, cached briefly). */
        int rc = hs_fed_profile_remote(srv, user_id, &displayname, &avatar_url);
        /* An unreachable server is "no profile" to clients, which show the bare ID. */
        if (rc != 0) {
            hs_response_error(resp, 404, "M_NOT_FOUND", rc == 1 ? "Profile was not found"
                                                                : "could not fetch the profile from %s", server);
            return;
        }
    } else {
        if (require_local_user(srv, user_id, resp) != 0) return;
        if (hs_store_profile_get(srv->store, user_id, &displayname, &avatar_url) < 0) {
            hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the profile");
            return;
        }
    }
    json_t *out = json_object();
    if (displayname) json_object_set_new(out, "displayname", json_string(displayname));
    if (avatar_url) json_object_set_new(out, "avatar_url", json_string(avatar_url));
    free(displayname);
    free(avatar_url);
    if (only) {
        json_t *v = json_object_get(out, only);
        if (!v) {
            json_decref(out);
            hs_response_error(resp, 404, "M_NOT_FOUND", "%s has no %s", user_id, only);
            return;
        }
        json_t *one = json_pack("{sO}", only, v);
        json_decref(out);
        out = one;
    }
    hs_response_json(resp, 200, out);
}

static void profile_get(const hs_request *req, hs_response *resp, void *ctx)
{
    answer_profile(ctx, req, resp, NULL);
}

static void displayname_get(const hs_request *req, hs_response *resp, void *ctx)
{
    answer_profile(ctx, req, resp, "displayname");
}

static void avatar_url_get(const hs_request *req, hs_response *resp, void *ctx)
{
    answer_profile(ctx, req, resp, "avatar_url");
}

static void field_put(const hs_request *req, hs_response *resp, hs_server *srv, hs_store_profile_field field,
                      const char *key)
{
    hs_access_identity who;
    int64_t now = hs_clock_wall_ms();
    if (hs_access_authenticate(srv->store, req, now, &who, resp) != 0) return;
    const char *user_id = hs_request_param(req, "userId");
    if (!user_id || !hs_is_valid_user_id(user_id)) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "not a user ID: %s", user_id ? user_id : "");
        return;
    }
    if (strcmp(user_id, who.user_id) != 0) {
        hs_response_error(resp, 403, "M_FORBIDDEN", "cannot change another user's %s", key);
        return;
    }
    char why[256];
    json_t *body = hs_request_json(req, why, sizeof why);
    if (!body) {
        hs_response_error(resp, 400, "M_NOT_JSON", "%s", why);
        return;
    }
    json_t *v = json_object_get(body, key);
    if (!v) {
        hs_response_error(resp, 400, "M_MISSING_PARAM", "missing '%s'", key);
        json_decref(body);
        return;
    }
    if (!json_is_string(v) && !json_is_null(v)) {
        hs_response_error(resp, 400, "M_BAD_JSON", "'%s' must be a string", key);
        json_decref(body);
        return;
    }
    hs_room_engine e = engine_of(srv);
    size_t failed = 0;
    hs_profile_status st = hs_profile_set(&e, who.user_id, field, json_string_value(v), now, &failed);
    json_decref(body);
    if (st == HS_PROFILE_TOO_LONG) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'%s' is longer than %d bytes", key,
                          field == HS_STORE_PROFILE_DISPLAYNAME ? HS_PROFILE_DISPLAYNAME_MAX
                                                                : HS_PROFILE_AVATAR_URL_MAX);
        return;
    }
    if (st != HS_PROFILE_OK) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot store the profile");
        return;
    }
    if (failed) hs_warn("profile", "%s's new %s did not reach %zu room(s)", who.user_id, key, failed);
    hs_notifier_wake(srv->notifier);
    hs_response_json(resp, 200, json_object());
}

static void displayname_put(const hs_request *req, hs_response *resp, void *ctx)
{
    field_put(req, resp, ctx, HS_STORE_PROFILE_DISPLAYNAME, "displayname");
}

static void avatar_url_put(const hs_request *req, hs_response *resp, void *ctx)
{
    field_put(req, resp, ctx, HS_STORE_PROFILE_AVATAR_URL, "avatar_url");
}

int hs_api_profile_register(hs_server *srv)
{
    static const hs_client_route routes[] = {
        {"GET", "/profile/{userId}", profile_get},
        {"GET", "/profile/{userId}/displayname", displayname_get},
        {"PUT", "/profile/{userId}/displayname", displayname_put},
        {"GET", "/profile/{userId}/avatar_url", avatar_url_get},
        {"PUT", "/profile/{userId}/avatar_url", avatar_url_put},
    };
    return hs_router_add_client_routes(srv->client_router, routes, sizeof routes / sizeof routes[0], srv);
}
