/* POST /rooms/{roomId}/upgrade end to end on a real server: the new room has the
 * requested version, the predecessor and the old room's name, topic, avatar, join
 * rules, history visibility, guest access, encryption, server ACL, power levels (with a
 * moderator's level kept) and bans; the alias and directory entry move; the old room
 * gets the tombstone and power levels that stop ordinary members from talking and
 * inviting; a member of the old room can join the new one. Errors: a member below the
 * tombstone level (403), a non-member (403), unknown versions (400), bad bodies. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/pgt_hs.h"
#include "support/pgt_matrix.h"

static pgt_hs hs;
static pgt_mx_login alice, bob, carol;

static void start(void)
{
    pgt_hs_start(&hs, "upgrade.test", NULL);
    cr_assert_eq(pgt_mx_register(hs.base, "alice", "pw-alice-1", &alice), 0);
    cr_assert_eq(pgt_mx_register(hs.base, "bob", "pw-bob-1", &bob), 0);
    cr_assert_eq(pgt_mx_register(hs.base, "carol", "pw-carol-1", &carol), 0);
}

static void stop(void)
{
    pgt_hs_stop(&hs);
}

TestSuite(hs_upgrade, .init = start, .fini = stop, .timeout = 60);

static json_t *call(const char *method, const char *token, const char *path, const char *body, long want)
{
    return pgt_mx_expect(hs.base, method, path, token, body, want);
}

static json_t *state(const pgt_mx_login *who, const char *room, const char *type, const char *key, long want)
{
    char path[512];
    snprintf(path, sizeof path, "/_matrix/client/v3/rooms/%s/state/%s%s%s", room, type, key[0] ? "/" : "", key);
    return call("GET", who->token, path, NULL, want);
}

static const char *str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* Asserts that the state event's content has `field` == want (as alice sees it). */
static void expect_state_str(const char *room, const char *type, const char *key, const char *field, const char *want)
{
    json_t *j = state(&alice, room, type, key, 200);
    cr_assert_str_eq(str(j, field), want, "%s/%s: %s", type, key, field);
    json_decref(j);
}

static char *upgrade(const pgt_mx_login *who, const char *room, const char *version)
{
    char path[512], body[128];
    snprintf(path, sizeof path, "/_matrix/client/v3/rooms/%s/upgrade", room);
    snprintf(body, sizeof body, "{\"new_version\":\"%s\"}", version);
    json_t *j = call("POST", who->token, path, body, 200);
    char *id = strdup(str(j, "replacement_room"));
    json_decref(j);
    return id;
}

Test(hs_upgrade, new_room_has_the_state_old_room_the_tombstone)
{
    char body[2048];
    snprintf(body, sizeof body,
             "{\"preset\":\"public_chat\",\"visibility\":\"public\",\"room_version\":\"10\",\"name\":\"Old hall\","
             "\"topic\":\"the old topic\",\"room_alias_name\":\"hall\",\"initial_state\":["
             "{\"type\":\"m.room.avatar\",\"content\":{\"url\":\"mxc://upgrade.test/avatar\"}},"
             "{\"type\":\"m.room.encryption\",\"content\":{\"algorithm\":\"m.megolm.v1.aes-sha2\"}},"
             "{\"type\":\"m.room.server_acl\",\"content\":{\"allow\":[\"*\"],\"deny\":[\"evil.example\"],"
             "\"allow_ip_literals\":false}},"
             "{\"type\":\"m.room.history_visibility\",\"content\":{\"history_visibility\":\"joined\"}}],"
             "\"power_level_content_override\":{\"users\":{\"%s\":100,\"%s\":50}}}",
             alice.user_id, bob.user_id);
    json_t *j = call("POST", alice.token, "/_matrix/client/v3/createRoom", body, 200);
    char *old = strdup(str(j, "room_id"));
    json_decref(j);
    char path[512];
    snprintf(path, sizeof path, "/_matrix/client/v3/join/%s", old);
    json_decref(call("POST", bob.token, path, "{}", 200));
    snprintf(path, sizeof path, "/_matrix/client/v3/rooms/%s/ban", old);
    json_decref(call("POST", alice.token, path, "{\"user_id\":\"@mallory:upgrade.test\"}", 200));

    /* bob (50) may not send the tombstone (100); carol is not in the room */
    snprintf(path, sizeof path, "/_matrix/client/v3/rooms/%s/upgrade", old);
    j = call("POST", bob.token, path, "{\"new_version\":\"11\"}", 403);
    cr_assert_str_eq(str(j, "errcode"), "M_FORBIDDEN");
    json_decref(j);
    j = call("POST", carol.token, path, "{\"new_version\":\"11\"}", 403);
    json_decref(j);

    char *neu = upgrade(&alice, old, "11");
    cr_assert_str_neq(neu, old);

    /* the new room: version, predecessor and the copied state */
    j = state(&alice, neu, "m.room.create", "", 200);
    cr_assert_str_eq(str(j, "room_version"), "11");
    cr_assert_str_eq(str(json_object_get(j, "predecessor"), "room_id"), old);
    cr_assert(json_is_string(json_object_get(json_object_get(j, "predecessor"), "event_id")));
    json_decref(j);
    static const char *const copied[][3] = {
        {"m.room.name", "name", "Old hall"},
        {"m.room.topic", "topic", "the old topic"},
        {"m.room.avatar", "url", "mxc://upgrade.test/avatar"},
        {"m.room.encryption", "algorithm", "m.megolm.v1.aes-sha2"},
        {"m.room.join_rules", "join_rule", "public"},
        {"m.room.history_visibility", "history_visibility", "joined"},
        {"m.room.guest_access", "guest_access", "forbidden"},
    };
    for (size_t i = 0; i < sizeof copied / sizeof copied[0]; i++)
        expect_state_str(neu, copied[i][0], "", copied[i][1], copied[i][2]);
    j = state(&alice, neu, "m.room.server_acl", "", 200);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "deny"), 0)), "evil.example");
    json_decref(j);
    j = state(&alice, neu, "m.room.power_levels", "", 200);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "users"), alice.user_id)), 100);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "users"), bob.user_id)), 50);
    json_decref(j);
    expect_state_str(neu, "m.room.member", "@mallory:upgrade.test", "membership", "ban");

    /* the alias moved, and the directory entry */
    j = call("GET", NULL, "/_matrix/client/v3/directory/room/%23hall:upgrade.test", NULL, 200);
    cr_assert_str_eq(str(j, "room_id"), neu);
    json_decref(j);
    expect_state_str(neu, "m.room.canonical_alias", "", "alias", "#hall:upgrade.test");
    snprintf(path, sizeof path, "/_matrix/client/v3/directory/list/room/%s", neu);
    j = call("GET", NULL, path, NULL, 200);
    cr_assert_str_eq(str(j, "visibility"), "public");
    json_decref(j);
    snprintf(path, sizeof path, "/_matrix/client/v3/directory/list/room/%s", old);
    j = call("GET", NULL, path, NULL, 200);
    cr_assert_str_eq(str(j, "visibility"), "private");
    json_decref(j);

    /* the old room: tombstone, restricted power levels */
    j = state(&alice, old, "m.room.tombstone", "", 200);
    cr_assert_str_eq(str(j, "replacement_room"), neu);
    cr_assert(json_is_string(json_object_get(j, "body")));
    json_decref(j);
    j = state(&alice, old, "m.room.power_levels", "", 200);
    cr_assert_eq(json_integer_value(json_object_get(j, "events_default")), 50);
    cr_assert_eq(json_integer_value(json_object_get(j, "invite")), 50);
    json_decref(j);
    /* carol joins the old public room but cannot talk there any more */
    snprintf(path, sizeof path, "/_matrix/client/v3/join/%s", old);
    json_decref(call("POST", carol.token, path, "{}", 200));
    snprintf(path, sizeof path, "/_matrix/client/v3/rooms/%s/send/m.room.message/t1", old);
    j = call("PUT", carol.token, path, "{\"msgtype\":\"m.text\",\"body\":\"hello?\"}", 403);
    cr_assert_str_eq(str(j, "errcode"), "M_FORBIDDEN");
    json_decref(j);

    /* a member of the old room follows the tombstone and talks in the new room */
    snprintf(path, sizeof path, "/_matrix/client/v3/join/%s", neu);
    json_decref(call("POST", bob.token, path, "{}", 200));
    snprintf(path, sizeof path, "/_matrix/client/v3/rooms/%s/send/m.room.message/t2", neu);
    json_decref(call("PUT", bob.token, path, "{\"msgtype\":\"m.text\",\"body\":\"moved\"}", 200));
    free(old);
    free(neu);
}

Test(hs_upgrade, low_creator_level_and_errors)
{
    /* alice's level is 60 and the tombstone needs 60: the copy still works (her level is
     * raised while copying) and she keeps 60 in the new room */
    char body[1024];
    snprintf(body, sizeof body,
             "{\"preset\":\"private_chat\",\"power_level_content_override\":{\"users\":{\"%s\":60},"
             "\"state_default\":60,\"events\":{\"m.room.tombstone\":60,\"m.room.power_levels\":60}}}",
             alice.user_id);
    json_t *j = call("POST", alice.token, "/_matrix/client/v3/createRoom", body, 200);
    char *old = strdup(str(j, "room_id"));
    json_decref(j);
    char *neu = upgrade(&alice, old, "10");
    j = state(&alice, neu, "m.room.power_levels", "", 200);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "users"), alice.user_id)), 60);
    cr_assert_eq(json_integer_value(json_object_get(j, "state_default")), 60);
    json_decref(j);
    expect_state_str(neu, "m.room.join_rules", "", "join_rule", "invite");

    char path[512];
    snprintf(path, sizeof path, "/_matrix/client/v3/rooms/%s/upgrade", neu);
    j = call("POST", alice.token, path, "{\"new_version\":\"999\"}", 400);
    cr_assert_str_eq(str(j, "errcode"), "M_UNSUPPORTED_ROOM_VERSION");
    json_decref(j);
    j = call("POST", alice.token, path, "{}", 400);
    cr_assert_str_eq(str(j, "errcode"), "M_BAD_JSON");
    json_decref(j);
    j = call("POST", alice.token, "/_matrix/client/v3/rooms/!nope:upgrade.test/upgrade", "{\"new_version\":\"10\"}",
             404);
    json_decref(j);
    free(old);
    free(neu);
}

Test(hs_upgrade, to_version_12_creator_outranks_all)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"preset\":\"public_chat\",\"name\":\"to twelve\",\"power_level_content_override\":"
             "{\"users\":{\"%s\":100,\"%s\":50}}}",
             alice.user_id, bob.user_id);
    json_t *j = call("POST", alice.token, "/_matrix/client/v3/createRoom", body, 200);
    char *old = strdup(str(j, "room_id"));
    json_decref(j);
    char *neu = upgrade(&alice, old, "12");
    j = state(&alice, neu, "m.room.create", "", 200);
    cr_assert_str_eq(str(j, "room_version"), "12");
    cr_assert_str_eq(str(json_object_get(j, "predecessor"), "room_id"), old);
    json_decref(j);
    /* a v12 creator must not be listed in users; other users keep their levels */
    j = state(&alice, neu, "m.room.power_levels", "", 200);
    cr_assert_null(json_object_get(json_object_get(j, "users"), alice.user_id));
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "users"), bob.user_id)), 50);
    json_decref(j);
    expect_state_str(neu, "m.room.name", "", "name", "to twelve");
    char path[512];
    snprintf(path, sizeof path, "/_matrix/client/v3/join/%s", neu);
    json_decref(call("POST", bob.token, path, "{}", 200));
    free(old);
    free(neu);
}
