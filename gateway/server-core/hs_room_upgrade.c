/* hs_room_upgrade: the steps of a room upgrade (see hs_room_upgrade.h). The old room's
 * current state is read once into an auth map (redacted state counts in its redacted
 * form, as for the auth rules), and every event goes through the engine, so each one is
 * checked by the auth rules like any other client event. */
#include "server-core/hs_room_upgrade.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_auth.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_redact.h"
#include "server-core/hs_store_directory.h"
#include "server-core/hs_store_rooms.h"
#include "server-core/hs_store_search.h"

#define BANS_MAX 1000

static hs_room_status fail(hs_room_result *res, hs_room_status st, const char *msg)
{
    res->status = st;
    snprintf(res->msg, sizeof res->msg, "%s", msg);
    return st;
}

typedef struct old_room {
    const hs_room_version *rv;
    hs_auth_map *state;
    json_t *bans;        /* user IDs banned from the old room */
    int failed;
} old_room;

static int load_entry(void *ctx, const char *type, const char *state_key, const hs_store_event *ev)
{
    old_room *o = ctx;
    json_t *pdu = json_loads(ev->pdu_json, JSON_ALLOW_NUL, NULL);
    if (pdu && ev->redacted_by) {
        json_t *red = hs_redact(pdu, o->rv);
        json_decref(pdu);
        pdu = red;
    }
    if (!pdu || hs_auth_map_put(o->state, pdu, ev->event_id) != 0) {
        json_decref(pdu);
        o->failed = 1;
        return 1;
    }
    if (strcmp(type, "m.room.member") == 0 && json_array_size(o->bans) < BANS_MAX) {
        const char *m = json_string_value(json_object_get(hs_pdu_content(pdu), "membership"));
        if (m && strcmp(m, "ban") == 0) json_array_append_new(o->bans, json_string(state_key));
    }
    json_decref(pdu);
    return 0;
}

/* The content of the old room's (type, "") state, borrowed; NULL when absent. */
static json_t *old_content(const old_room *o, const char *type)
{
    hs_auth_entry e;
    return hs_auth_map_get(o->state, type, "", &e) ? hs_pdu_content(e.pdu) : NULL;
}

static long long level_of(const old_room *o, const json_t *pl, const char *key, long long dflt)
{
    long long v;
    const json_t *j = json_object_get(pl, key);
    return j && hs_auth_parse_level(o->rv, j, &v) ? v : dflt;
}

/* The level the old room asks for m.room.tombstone. */
static long long tombstone_level(const old_room *o)
{
    const json_t *pl = old_content(o, "m.room.power_levels");
    if (!pl) return 0;
    long long v;
    const json_t *ev = json_object_get(json_object_get(pl, "events"), "m.room.tombstone");
    return ev && hs_auth_parse_level(o->rv, ev, &v) ? v : level_of(o, pl, "state_default", 50);
}

/* The highest level any action in the old power levels needs, and at least `floor`. */
static long long highest_needed(const old_room *o, const json_t *pl, long long floor)
{
    static const char *const keys[] = {"state_default", "events_default", "ban", "kick", "redact", "invite"};
    long long max = floor;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        long long v = level_of(o, pl, keys[i], 0);
        if (v > max) max = v;
    }
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(pl, "events"), k, v) {
        long long l;
        if (hs_auth_parse_level(o->rv, v, &l) && l > max) max = l;
    }
    return max;
}

/* The createRoom request for the replacement room (new reference). Its power levels
 * give `user` the highest level the old ones mention, so every copy is allowed;
 * *final_pl is what the new room keeps afterwards (the old content with the user's own
 * level, new reference), NULL when the old room has no power levels. */
static json_t *create_request(const old_room *o, const hs_room_version *nrv, const char *room_id,
                              const char *last_event, const char *user, long long user_level, bool was_public,
                              json_t **final_pl)
{
    json_t *creation = json_pack("{s{ssss}}", "predecessor", "room_id", room_id, "event_id", last_event);
    json_t *old_create = old_content(o, "m.room.create");
    json_t *type = json_object_get(old_create, "type");
    if (json_is_string(type)) json_object_set(creation, "type", type);
    json_t *federate = json_object_get(old_create, "m.federate");
    if (json_is_boolean(federate)) json_object_set(creation, "m.federate", federate);

    static const char *const copied[] = {"m.room.server_acl", "m.room.encryption", "m.room.name",
                                         "m.room.avatar", "m.room.topic", "m.room.guest_access",
                                         "m.room.history_visibility", "m.room.join_rules"};
    json_t *initial = json_array();
    for (size_t i = 0; i < sizeof copied / sizeof copied[0]; i++) {
        json_t *c = old_content(o, copied[i]);
        if (c && json_object_size(c))
            json_array_append_new(initial, json_pack("{ss ss sO}", "type", copied[i], "state_key", "", "content", c));
    }
    const char *rule = json_string_value(json_object_get(old_content(o, "m.room.join_rules"), "join_rule"));
    json_t *req = json_pack("{ss ss ss so so}", "room_version", nrv->id, "preset",
                            rule && strcmp(rule, "public") == 0 ? "public_chat" : "private_chat", "visibility",
                            was_public ? "public" : "private", "creation_content", creation, "initial_state", initial);

    *final_pl = NULL;
    json_t *pl = old_content(o, "m.room.power_levels");
    if (pl) {
        json_t *initial_pl = json_deep_copy(pl), *fin = json_deep_copy(pl);
        json_t *users = json_object_get(initial_pl, "users");
        if (!json_is_object(users)) json_object_set_new(initial_pl, "users", users = json_object());
        json_t *fusers = json_object_get(fin, "users");
        if (!json_is_object(fusers)) json_object_set_new(fin, "users", fusers = json_object());
        if (nrv->creators_infinite_power) {
            /* The creator of a v12 room outranks every level and must not be listed. */
            json_object_del(users, user);
            json_object_del(fusers, user);
        } else {
            long long temp = highest_needed(o, pl, user_level == HS_AUTH_PL_INFINITE ? 100 : user_level);
            json_object_set_new(users, user, json_integer(temp));
            json_object_set_new(fusers, user,
                                json_integer(user_level == HS_AUTH_PL_INFINITE ? temp : user_level));
        }
        json_object_set_new(req, "power_level_content_override", initial_pl);
        *final_pl = fin;
    }
    return req;
}

/* Moves the local aliases and the canonical alias event to the new room. Best effort. */
static void move_aliases(const hs_room_engine *e, const old_room *o, const char *old_id, const char *new_id,
                         const char *user, int64_t now_ms)
{
    char **aliases = NULL;
    size_t n = 0;
    if (hs_store_room_aliases(e->store, old_id, &aliases, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            char *creator = NULL;
            if (hs_store_alias_creator(e->store, aliases[i], &creator) != 0) continue;
            if (hs_store_alias_delete(e->store, aliases[i]) == 0)
                hs_store_alias_put(e->store, aliases[i], new_id, creator, now_ms);
            free(creator);
        }
        hs_store_free_strings(aliases, n);
    }
    json_t *canonical = old_content(o, "m.room.canonical_alias");
    if (canonical && json_object_size(canonical)) {
        hs_room_result ignored;
        if (hs_room_send(e, new_id, user, "m.room.canonical_alias", "", canonical, NULL, now_ms, NULL, &ignored) ==
            HS_ROOM_OK) {
            json_t *empty = json_object();
            hs_room_send(e, old_id, user, "m.room.canonical_alias", "", empty, NULL, now_ms, NULL, &ignored);
            json_decref(empty);
        }
    }
}

/* Raises events_default and invite of the old room to max(50, users_default + 1). */
static void restrict_old(const hs_room_engine *e, const old_room *o, const char *old_id, const char *user,
                         int64_t now_ms)
{
    json_t *pl = old_content(o, "m.room.power_levels");
    if (!pl) return;
    long long floor = level_of(o, pl, "users_default", 0) + 1;
    if (floor < 50) floor = 50;
    json_t *c = json_deep_copy(pl);
    bool changed = false;
    static const char *const keys[] = {"events_default", "invite"};
    for (size_t i = 0; i < 2; i++) {
        if (level_of(o, pl, keys[i], 0) < floor) {
            json_object_set_new(c, keys[i], json_integer(floor));
            changed = true;
        }
    }
    hs_room_result ignored;
    if (changed) hs_room_send(e, old_id, user, "m.room.power_levels", "", c, NULL, now_ms, NULL, &ignored);
    json_decref(c);
}

/* Steps 2 and 3: the new room with its state, bans, final power levels and aliases. */
static hs_room_status build_new_room(const hs_room_engine *e, const old_room *o, const hs_room_version *nrv,
                                     const char *room_id, const char *user, long long user_level, int64_t now_ms,
                                     char **new_id, hs_room_result *res)
{
    char *last = NULL;
    bool was_public = false;
    int rc = hs_store_room_last_event(e->store, room_id, &last);
    if (rc != 0 || hs_store_room_is_public(e->store, room_id, &was_public) < 0) {
        free(last);
        return fail(res, HS_ROOM_ERROR, "cannot read the old room");
    }
    json_t *final_pl = NULL;
    json_t *req = create_request(o, nrv, room_id, last, user, user_level, was_public, &final_pl);
    free(last);
    hs_room_status st = hs_room_create(e, user, req, now_ms, new_id, res);
    json_decref(req);
    size_t i;
    json_t *v;
    json_array_foreach(o->bans, i, v) {
        if (st != HS_ROOM_OK) break;
        if (strcmp(json_string_value(v), user) == 0) continue;
        st = hs_room_member_change(e, *new_id, user, json_string_value(v), "ban", NULL, now_ms, NULL, res);
    }
    if (st == HS_ROOM_OK) move_aliases(e, o, room_id, *new_id, user, now_ms);
    if (st == HS_ROOM_OK && final_pl)
        st = hs_room_send(e, *new_id, user, "m.room.power_levels", "", final_pl, NULL, now_ms, NULL, res);
    json_decref(final_pl);
    if (st == HS_ROOM_OK && was_public) hs_store_room_set_public(e->store, room_id, false);
    return st;
}

hs_room_status hs_room_upgrade(const hs_room_engine *e, const char *room_id, const char *user,
                               const char *new_version, int64_t now_ms, char **new_room_id, hs_room_result *res)
{
    *new_room_id = NULL;
    res->status = HS_ROOM_OK;
    res->msg[0] = 0;
    const hs_room_version *nrv = hs_room_version_for_new_room(new_version);
    if (!nrv) return fail(res, HS_ROOM_UNSUPPORTED_VERSION, "this server cannot create rooms of that version");
    char version[HS_STORE_ROOM_VERSION_MAX], membership[32];
    int rc = hs_store_room_get(e->store, room_id, version);
    if (rc == 1) return fail(res, HS_ROOM_NOT_FOUND, "unknown room");
    if (rc != 0 || hs_store_membership(e->store, room_id, user, membership) != 0)
        return fail(res, HS_ROOM_ERROR, "cannot read the room");
    if (strcmp(membership, "join") != 0) return fail(res, HS_ROOM_FORBIDDEN, "you are not joined to the room");
    old_room o = {.rv = hs_room_version_get(version), .state = hs_auth_map_new(), .bans = json_array()};
    hs_room_status st = HS_ROOM_OK;
    if (!o.rv || !o.state || hs_store_state_each(e->store, room_id, load_entry, &o) != 0 || o.failed) {
        st = fail(res, HS_ROOM_ERROR, "cannot read the room's state");
        goto out;
    }
    hs_auth_state state = hs_auth_map_state(o.state);
    long long level = hs_auth_user_level(o.rv, &state, user);
    if (level < tombstone_level(&o)) {
        st = fail(res, HS_ROOM_FORBIDDEN, "you may not send m.room.tombstone in this room");
        goto out;
    }
    st = build_new_room(e, &o, nrv, room_id, user, level, now_ms, new_room_id, res);
    if (st == HS_ROOM_OK) {
        json_t *tomb = json_pack("{ss ss}", "body", "This room has been replaced", "replacement_room", *new_room_id);
        st = hs_room_send(e, room_id, user, "m.room.tombstone", "", tomb, NULL, now_ms, NULL, res);
        json_decref(tomb);
    }
    if (st == HS_ROOM_OK) restrict_old(e, &o, room_id, user, now_ms);
out:
    if (st != HS_ROOM_OK) {
        free(*new_room_id);
        *new_room_id = NULL;
    }
    hs_auth_map_free(o.state);
    json_decref(o.bans);
    return st;
}
