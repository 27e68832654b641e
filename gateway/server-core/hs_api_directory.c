/* hs_api_directory: room aliases and a room's directory visibility over HTTP, and the
 * registration of every directory-area route (see hs_api_directory.h).
 *
 * Aliases (spec "Room aliases"): PUT needs a valid alias of this server (else 400
 * M_INVALID_PARAM), a known room (404 M_NOT_FOUND) that the caller is joined to (403
 * M_FORBIDDEN, as Synapse's require_membership_for_aliases), and a free alias (409
 * M_ROOM_IN_USE). GET needs no token and answers the room and ["<our server>"]. DELETE
 * is allowed to the alias's creator and to room members who may send
 * m.room.canonical_alias (hs_directory_can_edit); others get 403 M_FORBIDDEN. Deleting
 * an alias also removes it from the room's m.room.canonical_alias event when the
 * deleting user may send that event (Synapse's behaviour); setting the canonical alias
 * is left to clients.
 * GET /rooms/{roomId}/aliases answers members, and anyone for a world_readable room.
 *
 * Visibility (spec "Listing rooms"): GET needs no token; PUT needs the same permission
 * as deleting someone else's alias. */
#include "server-core/hs_api_directory.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server-core/hs_access.h"
#include "server-core/hs_api_profile.h"
#include "server-core/hs_capabilities.h"
#include "server-core/hs_directory.h"
#include "server-core/hs_log.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_room.h"
#include "server-core/hs_server.h"
#include "server-core/hs_store_directory.h"
#include "server-core/hs_store_rooms.h"
#include "server-core/hs_clock.h"

/* The path's alias if it is a valid alias of this server; else answers 400 and NULL. */
static const char *local_alias_param(hs_server *srv, const hs_request *req, hs_response *resp)
{
    const char *alias = hs_request_param(req, "roomAlias");
    if (!alias || !hs_is_valid_room_alias(alias)) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "not a room alias: %s", alias ? alias : "");
        return NULL;
    }
    if (!hs_directory_alias_is_local(alias, srv->cfg.server_name)) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "room alias must be on this server (%s)",
                          srv->cfg.server_name);
        return NULL;
    }
    return alias;
}

/* Answers whether the caller may edit the room's directory entries: 0 when allowed,
 * else -1 after answering 404 (unknown room), 403 or 500. */
static int require_edit(hs_server *srv, const char *room_id, const char *user_id, hs_response *resp)
{
    bool allowed;
    int rc = hs_directory_can_edit(srv->store, room_id, user_id, &allowed);
    if (rc == 1) {
        hs_response_error(resp, 404, "M_NOT_FOUND", "unknown room %s", room_id);
        return -1;
    }
    if (rc < 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read room %s", room_id);
        return -1;
    }
    if (!allowed) {
        hs_response_error(resp, 403, "M_FORBIDDEN",
                          "you need to be in the room with the power to set its canonical alias");
        return -1;
    }
    return 0;
}

static void alias_put(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    int64_t now = hs_clock_wall_ms();
    if (hs_access_authenticate(srv->store, req, now, &who, resp) != 0) return;
    const char *alias = local_alias_param(srv, req, resp);
    if (!alias) return;
    char why[256];
    json_t *body = hs_request_json(req, why, sizeof why);
    if (!body) {
        hs_response_error(resp, 400, "M_NOT_JSON", "%s", why);
        return;
    }
    const char *room_id = json_string_value(json_object_get(body, "room_id"));
    char version[HS_STORE_ROOM_VERSION_MAX], membership[32];
    int rc;
    if (!room_id) {
        hs_response_error(resp, 400, "M_BAD_JSON", "'room_id' must be a string");
    } else if ((rc = hs_store_room_get(srv->store, room_id, version)) != 0) {
        hs_response_error(resp, rc == 1 ? 404 : 500, rc == 1 ? "M_NOT_FOUND" : "M_UNKNOWN", "unknown room %s",
                          room_id);
    } else if (hs_store_membership(srv->store, room_id, who.user_id, membership) != 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read room %s", room_id);
    } else if (strcmp(membership, "join") != 0) {
        hs_response_error(resp, 403, "M_FORBIDDEN", "you must be in the room to create an alias for it");
    } else if ((rc = hs_store_alias_put(srv->store, alias, room_id, who.user_id, now)) != 0) {
        if (rc == 1) hs_response_error(resp, 409, "M_ROOM_IN_USE", "room alias %s already exists", alias);
        else hs_response_error(resp, 500, "M_UNKNOWN", "cannot store the alias");
    } else {
        hs_response_json(resp, 200, json_object());
    }
    json_decref(body);
}

static void alias_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    const char *alias = hs_request_param(req, "roomAlias");
    if (!alias || !hs_is_valid_room_alias(alias)) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "not a room alias: %s", alias ? alias : "");
        return;
    }
    if (!hs_directory_alias_is_local(alias, srv->cfg.server_name)) {
        hs_response_error(resp, 404, "M_NOT_FOUND", "room alias %s is not on this server", alias);
        return;
    }
    char *room_id = NULL;
    int rc = hs_store_alias_get(srv->store, alias, &room_id);
    if (rc != 0) {
        hs_response_error(resp, rc == 1 ? 404 : 500, rc == 1 ? "M_NOT_FOUND" : "M_UNKNOWN",
                          "room alias %s not found", alias);
        return;
    }
    hs_response_json(resp, 200, json_pack("{ss, s[s]}", "room_id", room_id, "servers", srv->cfg.server_name));
    free(room_id);
}

/* A copy of the content of the room's current m.room.canonical_alias, or NULL. */
static json_t *canonical_alias_content(hs_server *srv, const char *room_id)
{
    char *event_id = NULL;
    if (hs_store_state_get(srv->store, room_id, "m.room.canonical_alias", "", &event_id) != 0) return NULL;
    hs_store_event ev;
    int rc = hs_store_event_get(srv->store, event_id, &ev);
    free(event_id);
    if (rc != 0) return NULL;
    json_t *pdu = json_loads(ev.pdu_json, JSON_ALLOW_NUL, NULL);
    hs_store_event_clear(&ev);
    json_t *content = pdu ? json_deep_copy(hs_pdu_content(pdu)) : NULL;
    json_decref(pdu);
    if (!json_is_object(content)) {
        json_decref(content);
        return NULL;
    }
    return content;
}

/* After an alias is deleted: if the room's m.room.canonical_alias names it (as alias or
 * among alt_aliases), sends the event again without it, as `user_id`, so clients stop
 * showing an alias that no longer resolves (what Synapse does). Best effort: a user
 * without the power to send the event leaves it as it was. */
static void drop_from_canonical_alias(hs_server *srv, const char *room_id, const char *alias, const char *user_id)
{
    /* Read-modify-send under the room lock, so a concurrent change to the event is not lost. */
    hs_room_lock();
    json_t *content = canonical_alias_content(srv, room_id);
    if (!content) {
        hs_room_unlock();
        return;
    }
    bool changed = false;
    const char *main_alias = json_string_value(json_object_get(content, "alias"));
    if (main_alias && strcmp(main_alias, alias) == 0) {
        json_object_del(content, "alias");
        changed = true;
    }
    json_t *alt = json_object_get(content, "alt_aliases");
    for (size_t i = json_array_size(alt); i-- > 0;) {
        const char *a = json_string_value(json_array_get(alt, i));
        if (a && strcmp(a, alias) == 0) {
            json_array_remove(alt, i);
            changed = true;
        }
    }
    if (changed) {
        hs_room_engine e = {srv->store, srv->cfg.server_name, &srv->signing_key, srv->cfg.default_room_version,
                            srv->notifier};
        hs_room_result res;
        if (hs_room_send_locked(&e, room_id, user_id, "m.room.canonical_alias", "", content, NULL, NULL, hs_clock_wall_ms(),
                                NULL, &res) != HS_ROOM_OK)
            hs_info("directory", "alias %s deleted; %s may not update the canonical alias of %s: %s", alias, user_id,
                    room_id, res.msg);
    }
    hs_room_unlock();
    json_decref(content);
}

static void alias_delete(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    if (hs_access_authenticate(srv->store, req, hs_clock_wall_ms(), &who, resp) != 0) return;
    const char *alias = local_alias_param(srv, req, resp);
    if (!alias) return;
    char *room_id = NULL, *creator = NULL;
    int rc = hs_store_alias_get(srv->store, alias, &room_id);
    if (rc == 0) rc = hs_store_alias_creator(srv->store, alias, &creator) == 0 ? 0 : -1;
    if (rc != 0) {
        hs_response_error(resp, rc == 1 ? 404 : 500, rc == 1 ? "M_NOT_FOUND" : "M_UNKNOWN",
                          "room alias %s not found", alias);
        free(room_id);
        return;
    }
    bool own = strcmp(creator, who.user_id) == 0;
    free(creator);
    if (!own && require_edit(srv, room_id, who.user_id, resp) != 0) {
        free(room_id);
        return;
    }
    rc = hs_store_alias_delete(srv->store, alias);
    if (rc < 0) hs_response_error(resp, 500, "M_UNKNOWN", "cannot delete the alias");
    else if (rc == 1) hs_response_error(resp, 404, "M_NOT_FOUND", "room alias %s not found", alias);
    else {
        drop_from_canonical_alias(srv, room_id, alias, who.user_id);
        hs_response_json(resp, 200, json_object());
    }
    free(room_id);
}

static void room_aliases_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    if (hs_access_authenticate(srv->store, req, hs_clock_wall_ms(), &who, resp) != 0) return;
    const char *room_id = hs_request_param(req, "roomId");
    if (!room_id || !hs_is_valid_room_id(room_id, NULL)) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "not a room ID: %s", room_id ? room_id : "");
        return;
    }
    /* Members, or anyone for a world_readable room; an unknown room looks the same as one
     * the caller is not in (403), as the spec lists no 404 here. */
    char membership[32];
    bool world_readable = false;
    if (hs_store_membership(srv->store, room_id, who.user_id, membership) != 0 ||
        hs_directory_world_readable(srv->store, room_id, &world_readable) != 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read room %s", room_id);
        return;
    }
    if (strcmp(membership, "join") != 0 && !world_readable) {
        hs_response_error(resp, 403, "M_FORBIDDEN", "you are not in room %s", room_id);
        return;
    }
    char **v;
    size_t n;
    if (hs_store_room_aliases(srv->store, room_id, &v, &n) != 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read aliases");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(arr, json_string(v[i]));
    hs_store_free_strings(v, n);
    hs_response_json(resp, 200, json_pack("{so}", "aliases", arr));
}

static void visibility_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    const char *room_id = hs_request_param(req, "roomId");
    bool is_public;
    int rc = hs_store_room_is_public(srv->store, room_id, &is_public);
    if (rc != 0) {
        hs_response_error(resp, rc == 1 ? 404 : 500, rc == 1 ? "M_NOT_FOUND" : "M_UNKNOWN", "unknown room %s",
                          room_id);
        return;
    }
    hs_response_json(resp, 200, json_pack("{ss}", "visibility", is_public ? "public" : "private"));
}

static void visibility_put(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    if (hs_access_authenticate(srv->store, req, hs_clock_wall_ms(), &who, resp) != 0) return;
    const char *room_id = hs_request_param(req, "roomId");
    char why[256];
    json_t *body = hs_request_json(req, why, sizeof why);
    if (!body) {
        hs_response_error(resp, 400, "M_NOT_JSON", "%s", why);
        return;
    }
    json_t *jv = json_object_get(body, "visibility");
    const char *v = jv ? json_string_value(jv) : "public"; /* the spec's default */
    if (!v || (strcmp(v, "public") != 0 && strcmp(v, "private") != 0)) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'visibility' must be public or private");
    } else if (require_edit(srv, room_id, who.user_id, resp) == 0) {
        int rc = hs_store_room_set_public(srv->store, room_id, strcmp(v, "public") == 0);
        if (rc == 0) hs_response_json(resp, 200, json_object());
        else hs_response_error(resp, rc == 1 ? 404 : 500, rc == 1 ? "M_NOT_FOUND" : "M_UNKNOWN",
                               "cannot update room %s", room_id);
    }
    json_decref(body);
}

/* ---- createRoom's room_alias_name ----------------------------------------------------- */

int hs_api_directory_create_room_prepare(hs_server *srv, json_t *request, char **alias, hs_response *resp)
{
    *alias = NULL;
    json_t *name = json_object_get(request, "room_alias_name");
    if (!name || json_is_null(name)) return 0;
    char buf[HS_ID_MAX_BYTES + 1];
    if (!json_is_string(name) ||
        hs_directory_alias_from_name(json_string_value(name), srv->cfg.server_name, buf, sizeof buf) != 0) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'room_alias_name' does not make a valid room alias");
        return -1;
    }
    char *existing = NULL;
    int rc = hs_store_alias_get(srv->store, buf, &existing);
    free(existing);
    if (rc != 1) {
        hs_response_error(resp, rc == 0 ? 409 : 500, rc == 0 ? "M_ROOM_IN_USE" : "M_UNKNOWN",
                          "room alias %s already exists", buf);
        return -1;
    }
    json_t *initial = json_object_get(request, "initial_state");
    if (!initial || json_is_null(initial)) {
        initial = json_array();
        json_object_set_new(request, "initial_state", initial);
    }
    if (json_is_array(initial)) {
        size_t i;
        json_t *ev;
        bool has = false;
        json_array_foreach(initial, i, ev) {
            const char *type = json_string_value(json_object_get(ev, "type"));
            if (type && strcmp(type, "m.room.canonical_alias") == 0) has = true;
        }
        if (!has)
            json_array_append_new(initial, json_pack("{ss, ss, s{ss}}", "type", "m.room.canonical_alias",
                                                     "state_key", "", "content", "alias", buf));
    }
    *alias = strdup(buf);
    if (!*alias) {
        hs_response_error(resp, 500, "M_UNKNOWN", "out of memory");
        return -1;
    }
    return 0;
}

int hs_api_directory_create_room_finish(hs_server *srv, const char *alias, const char *room_id, const char *creator,
                                        int64_t now_ms)
{
    if (!alias) return 0;
    int rc = hs_store_alias_put(srv->store, alias, room_id, creator, now_ms);
    if (rc != 0) hs_warn("directory", "room %s was created but its alias %s could not be recorded", room_id, alias);
    return rc;
}

int hs_api_directory_register(hs_server *srv)
{
    static const hs_client_route routes[] = {
        {"PUT", "/directory/room/{roomAlias}", alias_put},
        {"GET", "/directory/room/{roomAlias}", alias_get},
        {"DELETE", "/directory/room/{roomAlias}", alias_delete},
        {"GET", "/rooms/{roomId}/aliases", room_aliases_get},
        {"GET", "/directory/list/room/{roomId}", visibility_get},
        {"PUT", "/directory/list/room/{roomId}", visibility_put},
    };
    if (hs_router_add_client_routes(srv->client_router, routes, sizeof routes / sizeof routes[0], srv) != 0)
        return -1;
    return hs_api_profile_register(srv) == 0 && hs_api_directory_public_register(srv) == 0 &&
                   hs_api_directory_users_register(srv) == 0 && hs_capabilities_register(srv) == 0
               ? 0
               : -1;
}
