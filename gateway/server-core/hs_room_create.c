/* hs_room_create: POST /createRoom as the room engine sees it (Client-Server API v1.12,
 * "Creation"). The request is checked completely first; then, under the room lock,
 * the events go out in the spec's order: create, the creator's join, power levels,
 * (canonical alias: aliases are not supported yet), join rules, history visibility,
 * guest access, the remaining initial_state, name, topic, and one invite per local
 * invitee. Users of other servers in `invite` are checked for form and given their power
 * level, but their invites need the invitee's server (hs_fed_invite_remote), which the
 * engine does not talk to: the Client-Server API sends them after the room exists.
 * Each event is its own durable append; a failure midway leaves a smaller room, never
 * an inconsistent one.
 *
 * Presets: private_chat and trusted_private_chat give join_rule invite, history
 * "shared", guest access can_join; trusted_private_chat also gives every invitee the
 * creator's power level; public_chat gives join_rule public and guest access forbidden.
 * initial_state entries for those three keys replace the preset's content in place. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_pdu.h"
#include "server-core/hs_profile.h"
#include "server-core/hs_room.h"
#include "server-core/hs_store_accounts.h"

#define CREATE_MAX_INVITES 100
#define CREATE_MAX_INITIAL_STATE 100

typedef struct state_ev {
    const char *type;
    const char *state_key;
    json_t *content;       /* owned */
} state_ev;

typedef struct plan {
    state_ev ev[CREATE_MAX_INITIAL_STATE + 8];
    size_t n;
} plan;

static hs_room_status bad(hs_room_result *res, hs_room_status st, const char *msg, const char *detail)
{
    res->status = st;
    snprintf(res->msg, sizeof res->msg, "%s%s", msg, detail ? detail : "");
    return st;
}

static void plan_add(plan *p, const char *type, const char *state_key, json_t *content)
{
    p->ev[p->n++] = (state_ev){type, state_key, content};
}

static void plan_free(plan *p)
{
    for (size_t i = 0; i < p->n; i++) json_decref(p->ev[i].content);
}

static json_t *default_power_levels(const hs_room_version *rv, const char *creator, const json_t *invites,
                                    bool trusted)
{
    json_t *users = json_object();
    /* v12 creators outrank every level and must not be listed. */
    if (!rv->creators_infinite_power) json_object_set_new(users, creator, json_integer(100));
    if (trusted) {
        size_t i;
        json_t *v;
        json_array_foreach(invites, i, v) json_object_set_new(users, json_string_value(v), json_integer(100));
    }
    return json_pack("{s:o, s:i, s:{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i}, s:i, s:i, s:i, s:i, s:i, s:i,"
                     " s:{s:i}}",
                     "users", users, "users_default", 0, "events", "m.room.name", 50, "m.room.power_levels", 100,
                     "m.room.history_visibility", 100, "m.room.canonical_alias", 50, "m.room.avatar", 50,
                     "m.room.tombstone", 100, "m.room.server_acl", 100, "m.room.encryption", 100,
                     "events_default", 0, "state_default", 50, "ban", 50, "kick", 50, "redact", 50, "invite", 0,
                     "notifications", "room", 50);
}

/* Checks the invite list: valid user IDs, and local ones existing users. */
static hs_room_status check_invites(const hs_room_engine *e, const json_t *invites, hs_room_result *res)
{
    if (!json_is_array(invites)) return bad(res, HS_ROOM_BAD_REQUEST, "'invite' must be an array", NULL);
    if (json_array_size(invites) > CREATE_MAX_INVITES)
        return bad(res, HS_ROOM_BAD_REQUEST, "too many invitees", NULL);
    size_t i;
    json_t *v;
    json_array_foreach(invites, i, v) {
        const char *uid = json_string_value(v);
        if (!uid || !hs_is_valid_user_id(uid))
            return bad(res, HS_ROOM_BAD_REQUEST, "'invite' holds an invalid user ID", NULL);
        const char *server = hs_id_server_name(uid);
        if (!server) return bad(res, HS_ROOM_BAD_REQUEST, "'invite' holds an invalid user ID", NULL);
        if (strcmp(server, e->server_name) != 0) continue;
        hs_store_user u;
        int rc = hs_store_user_get(e->store, uid, &u);
        if (rc < 0) return bad(res, HS_ROOM_ERROR, "cannot read users", NULL);
        if (rc == 1 || u.deactivated) return bad(res, HS_ROOM_NOT_FOUND, "unknown user ", uid);
    }
    return HS_ROOM_OK;
}

static hs_room_status opt_string(const json_t *req, const char *key, const char **out, hs_room_result *res)
{
    json_t *v = json_object_get(req, key);
    *out = NULL;
    if (!v || json_is_null(v)) return HS_ROOM_OK;
    if (!json_is_string(v)) return bad(res, HS_ROOM_BAD_REQUEST, "must be a string: ", key);
    *out = json_string_value(v);
    return HS_ROOM_OK;
}

/* Turns the request into the list of state events after the create and join. */
static hs_room_status build_plan(const hs_room_engine *e, const hs_room_version *rv, const char *creator,
                                 const json_t *req, const json_t *invites, plan *p, hs_room_result *res)
{
    const char *preset, *visibility, *name, *topic;
    if (opt_string(req, "preset", &preset, res) || opt_string(req, "visibility", &visibility, res) ||
        opt_string(req, "name", &name, res) || opt_string(req, "topic", &topic, res))
        return res->status;
    if (visibility && strcmp(visibility, "public") != 0 && strcmp(visibility, "private") != 0)
        return bad(res, HS_ROOM_BAD_REQUEST, "'visibility' must be public or private", NULL);
    if (!preset) preset = visibility && strcmp(visibility, "public") == 0 ? "public_chat" : "private_chat";
    bool is_public = strcmp(preset, "public_chat") == 0;
    bool trusted = strcmp(preset, "trusted_private_chat") == 0;
    if (!is_public && !trusted && strcmp(preset, "private_chat") != 0)
        return bad(res, HS_ROOM_BAD_REQUEST, "unknown preset ", preset);

    json_t *pl = default_power_levels(rv, creator, invites, trusted);
    json_t *override = json_object_get(req, "power_level_content_override");
    if (override && !json_is_null(override)) {
        if (!json_is_object(override)) {
            json_decref(pl);
            return bad(res, HS_ROOM_BAD_REQUEST, "'power_level_content_override' must be an object", NULL);
        }
        json_object_update(pl, override);
    }
    plan_add(p, "m.room.power_levels", "", pl);
    plan_add(p, "m.room.join_rules", "", json_pack("{ss}", "join_rule", is_public ? "public" : "invite"));
    plan_add(p, "m.room.history_visibility", "", json_pack("{ss}", "history_visibility", "shared"));
    plan_add(p, "m.room.guest_access", "", json_pack("{ss}", "guest_access", is_public ? "forbidden" : "can_join"));

    json_t *initial = json_object_get(req, "initial_state");
    if (initial && !json_is_array(initial))
        return bad(res, HS_ROOM_BAD_REQUEST, "'initial_state' must be an array", NULL);
    if (json_array_size(initial) > CREATE_MAX_INITIAL_STATE)
        return bad(res, HS_ROOM_BAD_REQUEST, "'initial_state' has too many events", NULL);
    size_t i;
    json_t *ev;
    json_array_foreach(initial, i, ev) {
        const char *type = json_string_value(json_object_get(ev, "type"));
        json_t *sk = json_object_get(ev, "state_key");
        const char *state_key = sk ? json_string_value(sk) : "";
        json_t *content = json_object_get(ev, "content");
        if (!type || !state_key || !json_is_object(content))
            return bad(res, HS_ROOM_BAD_REQUEST,
                       "'initial_state' entries need a string type, a string state_key and an object content",
                       NULL);
        bool replaced = false;
        for (size_t j = 1; j < 4 && !replaced; j++) {
            if (strcmp(p->ev[j].type, type) == 0 && strcmp(p->ev[j].state_key, state_key) == 0) {
                json_decref(p->ev[j].content);
                p->ev[j].content = json_deep_copy(content);
                replaced = true;
            }
        }
        if (!replaced) plan_add(p, type, state_key, json_deep_copy(content));
    }
    if (name) plan_add(p, "m.room.name", "", json_pack("{ss}", "name", name));
    if (topic) plan_add(p, "m.room.topic", "", json_pack("{ss}", "topic", topic));
    (void)e;
    return HS_ROOM_OK;
}

static void random_room_id(const char *server_name, char *out, size_t cap)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    char local[19];
    for (size_t i = 0; i < 18; i++) local[i] = alphabet[randombytes_uniform(sizeof alphabet - 1)];
    local[18] = 0;
    snprintf(out, cap, "!%s:%s", local, server_name);
}

static hs_room_status profile_failed(hs_room_result *res, const char *user_id)
{
    if (res) {
        res->status = HS_ROOM_ERROR;
        snprintf(res->msg, sizeof res->msg, "cannot read the profile of %s", user_id);
    }
    return HS_ROOM_ERROR;
}

hs_room_status hs_room_create(const hs_room_engine *e, const char *creator, const json_t *req, int64_t now_ms,
                              char **room_id_out, hs_room_result *res)
{
    *room_id_out = NULL;
    res->status = HS_ROOM_OK;
    res->msg[0] = 0;
    if (!json_is_object(req)) return bad(res, HS_ROOM_BAD_REQUEST, "the body must be a JSON object", NULL);
    const char *version;
    if (opt_string(req, "room_version", &version, res)) return res->status;
    if (!version) version = e->default_room_version;
    const hs_room_version *rv = hs_room_version_for_new_room(version);
    if (!rv) return bad(res, HS_ROOM_UNSUPPORTED_VERSION, "unsupported room version ", version);
    json_t *creation = json_object_get(req, "creation_content");
    if (creation && !json_is_null(creation) && !json_is_object(creation))
        return bad(res, HS_ROOM_BAD_REQUEST, "'creation_content' must be an object", NULL);
    json_t *invites = json_object_get(req, "invite");
    json_t *no_invites = json_array();
    if (!invites || json_is_null(invites)) invites = no_invites;
    json_t *is_direct = json_object_get(req, "is_direct");
    if (is_direct && !json_is_boolean(is_direct)) {
        json_decref(no_invites);
        return bad(res, HS_ROOM_BAD_REQUEST, "'is_direct' must be a boolean", NULL);
    }
    plan p = {.n = 0};
    hs_room_status st = check_invites(e, invites, res);
    if (st == HS_ROOM_OK) st = build_plan(e, rv, creator, req, invites, &p, res);
    if (st != HS_ROOM_OK) goto out;

    json_t *create = json_is_object(creation) ? json_deep_copy(creation) : json_object();
    json_object_set_new(create, "room_version", json_string(rv->id));
    if (!rv->creator_from_sender) json_object_set_new(create, "creator", json_string(creator));
    else json_object_del(create, "creator");
    const char *visibility = json_string_value(json_object_get(req, "visibility"));
    char room_id[300];
    random_room_id(e->server_name, room_id, sizeof room_id);
    char *derived = NULL;
    hs_room_new nr = {.rv = rv, .is_public = visibility && strcmp(visibility, "public") == 0,
                      .room_id_out = &derived};

    hs_room_lock();
    st = hs_room_send_locked(e, room_id, creator, "m.room.create", "", create, NULL, &nr, now_ms, NULL, res);
    json_decref(create);
    const char *rid = derived ? derived : room_id;
    json_t *join = json_pack("{ss}", "membership", "join");
    if (st == HS_ROOM_OK && hs_profile_member_content(e->store, creator, join) != 0)
        st = profile_failed(res, creator);
    if (st == HS_ROOM_OK)
        st = hs_room_send_locked(e, rid, creator, "m.room.member", creator, join, NULL, NULL, now_ms, NULL, res);
    json_decref(join);
    for (size_t i = 0; i < p.n && st == HS_ROOM_OK; i++)
        st = hs_room_send_locked(e, rid, creator, p.ev[i].type, p.ev[i].state_key, p.ev[i].content, NULL, NULL,
                                 now_ms, NULL, res);
    size_t i;
    json_t *v;
    json_array_foreach(invites, i, v) {
        if (st != HS_ROOM_OK) break;
        if (strcmp(hs_id_server_name(json_string_value(v)), e->server_name) != 0) continue;
        json_t *c = json_pack("{ss}", "membership", "invite");
        if (json_is_true(is_direct)) json_object_set_new(c, "is_direct", json_true());
        if (hs_profile_member_content(e->store, json_string_value(v), c) != 0)
            st = profile_failed(res, json_string_value(v));
        if (st == HS_ROOM_OK)
            st = hs_room_send_locked(e, rid, creator, "m.room.member", json_string_value(v), c, NULL, NULL, now_ms,
                                 NULL, res);
        json_decref(c);
    }
    hs_room_unlock();
    if (st == HS_ROOM_OK) {
        *room_id_out = derived ? derived : strdup(room_id);
        derived = NULL;
    }
    free(derived);
out:
    plan_free(&p);
    json_decref(no_invites);
    return st;
}
