/* The directory area end to end on a real loopback server, as a client sees it:
 * profiles (registration's default display name, reads without a token, own-profile
 * writes with the spec's errors, a new name showing up in every joined room's member
 * state), room aliases (round trip, 409, who may delete, createRoom's room_alias_name),
 * directory visibility, /publicRooms paging, search and room fields, the user
 * directory's visibility rules and limits, and /capabilities. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_accounts.h"
#include "server-core/hs_server.h"
#include "support/pgt_hs.h"
#include "support/pgt_matrix.h"

static pgt_hs hs;

static void start(void)
{
    hs.listener_max_body = 1 << 20;
    pgt_hs_start(&hs, "example.test", NULL);
}

static void stop(void)
{
    pgt_hs_stop(&hs);
}

TestSuite(hs_profile_api, .init = start, .fini = stop, .timeout = 120);
TestSuite(hs_directory_api, .init = start, .fini = stop, .timeout = 120);

/* ---- helpers ------------------------------------------------------------------------ */

/* call(method, token, &status, body, path format, ...): one request to this suite's server. */
#define call(method, token, status, body, ...) pgt_mx_callf(hs.base, method, token, status, body, __VA_ARGS__)

/* expect_ok(j, &status) / expect_error(j, &status, want, errcode): the status goes by
 * pointer so it is read after the call that makes `j` has run; both decref `j`. */
#define expect_ok pgt_mx_check_ok
#define expect_error pgt_mx_check_error

/* Percent-encodes a Matrix ID for a path segment (one of a few rotating buffers). */
static const char *enc(const char *id)
{
    static char bufs[4][512];
    static int next;
    return pgt_mx_enc(id, bufs[next++ % 4], sizeof bufs[0]);
}

static pgt_mx_login reg(const char *user)
{
    return pgt_mx_must_register(hs.base, user, "correct horse battery");
}

static char *create_room(const pgt_mx_login *u, const char *body)
{
    return pgt_mx_create_room(hs.base, u, body);
}

static void join(const pgt_mx_login *u, const char *room)
{
    long st;
    expect_ok(call("POST", u->token, &st, "{}", "/_matrix/client/v3/rooms/%s/join", enc(room)), &st);
}

/* The user's m.room.member content in the room as `viewer` reads it (caller decrefs). */
static json_t *member_state(const pgt_mx_login *viewer, const char *room, const char *user_id)
{
    long st;
    json_t *j = call("GET", viewer->token, &st, NULL, "/_matrix/client/v3/rooms/%s/state/m.room.member/%s", enc(room),
                     enc(user_id));
    cr_assert_eq(st, 200);
    return j;
}

/* ---- profiles ----------------------------------------------------------------------- */

Test(hs_profile_api, registration_default_and_reads)
{
    pgt_mx_login a = reg("alice");
    long st;
    /* No token needed to read a profile. */
    json_t *j = call("GET", NULL, &st, NULL, "/_matrix/client/v3/profile/%s", enc(a.user_id));
    cr_assert_eq(st, 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "displayname")), "alice");
    cr_assert_null(json_object_get(j, "avatar_url"));
    json_decref(j);
    j = call("GET", NULL, &st, NULL, "/_matrix/client/r0/profile/%s/displayname", enc(a.user_id));
    cr_assert_eq(st, 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "displayname")), "alice");
    cr_assert_eq(json_object_size(j), 1);
    json_decref(j);
    expect_error(call("GET", NULL, &st, NULL, "/_matrix/client/v3/profile/%s/avatar_url", enc(a.user_id)), &st, 404,
                 "M_NOT_FOUND");
    expect_error(call("GET", NULL, &st, NULL, "/_matrix/client/v3/profile/%s", enc("@nobody:example.test")), &st,
                 404, "M_NOT_FOUND");
    expect_error(call("GET", NULL, &st, NULL, "/_matrix/client/v3/profile/%s", enc("@someone:elsewhere.org")), &st,
                 404, "M_NOT_FOUND");
    expect_error(call("GET", NULL, &st, NULL, "/_matrix/client/v3/profile/notanid"), &st, 400, "M_INVALID_PARAM");
}

Test(hs_profile_api, put_own_fields_with_spec_errors)
{
    pgt_mx_login a = reg("alice");
    pgt_mx_login b = reg("bob");
    long st;
    expect_ok(call("PUT", a.token, &st, "{\"displayname\":\"Alice Liddell\"}", "/_matrix/client/v3/profile/%s/displayname",
                   enc(a.user_id)),
              &st);
    expect_ok(call("PUT", a.token, &st, "{\"avatar_url\":\"mxc://example.test/abc\"}",
                   "/_matrix/client/v3/profile/%s/avatar_url", enc(a.user_id)),
              &st);
    json_t *j = call("GET", b.token, &st, NULL, "/_matrix/client/v3/profile/%s", enc(a.user_id));
    cr_assert_str_eq(json_string_value(json_object_get(j, "displayname")), "Alice Liddell");
    cr_assert_str_eq(json_string_value(json_object_get(j, "avatar_url")), "mxc://example.test/abc");
    json_decref(j);

    /* Someone else's profile, no token, bad bodies, over-long values. */
    expect_error(call("PUT", b.token, &st, "{\"displayname\":\"pwned\"}", "/_matrix/client/v3/profile/%s/displayname",
                      enc(a.user_id)),
                 &st, 403, "M_FORBIDDEN");
    expect_error(call("PUT", NULL, &st, "{\"displayname\":\"x\"}", "/_matrix/client/v3/profile/%s/displayname",
                      enc(a.user_id)),
                 &st, 401, "M_MISSING_TOKEN");
    expect_error(call("PUT", a.token, &st, "{\"displayname\":5}", "/_matrix/client/v3/profile/%s/displayname",
                      enc(a.user_id)),
                 &st, 400, "M_BAD_JSON");
    expect_error(call("PUT", a.token, &st, "{}", "/_matrix/client/v3/profile/%s/displayname", enc(a.user_id)), &st,
                 400, "M_MISSING_PARAM");
    expect_error(call("PUT", a.token, &st, "[1]", "/_matrix/client/v3/profile/%s/displayname", enc(a.user_id)), &st,
                 400, "M_NOT_JSON");
    char body[600], name[300];
    memset(name, 'n', 257);
    name[257] = 0;
    snprintf(body, sizeof body, "{\"displayname\":\"%s\"}", name);
    expect_error(call("PUT", a.token, &st, body, "/_matrix/client/v3/profile/%s/displayname", enc(a.user_id)), &st,
                 400, "M_INVALID_PARAM");
    name[256] = 0;
    snprintf(body, sizeof body, "{\"displayname\":\"%s\"}", name);
    expect_ok(call("PUT", a.token, &st, body, "/_matrix/client/v3/profile/%s/displayname", enc(a.user_id)), &st);

    /* An empty avatar URL clears it. */
    expect_ok(call("PUT", a.token, &st, "{\"avatar_url\":\"\"}", "/_matrix/client/v3/profile/%s/avatar_url",
                   enc(a.user_id)),
              &st);
    expect_error(call("GET", NULL, &st, NULL, "/_matrix/client/v3/profile/%s/avatar_url", enc(a.user_id)), &st, 404,
                 "M_NOT_FOUND");
}

Test(hs_profile_api, new_name_reaches_member_state_of_joined_rooms)
{
    pgt_mx_login a = reg("alice");
    pgt_mx_login b = reg("bob");
    char *shared = create_room(&b, "{\"preset\":\"public_chat\"}");
    char *own = create_room(&a, "{\"preset\":\"private_chat\"}");
    char *left = create_room(&b, "{\"preset\":\"public_chat\"}");
    join(&a, shared);
    join(&a, left);
    long st;
    expect_ok(call("POST", a.token, &st, "{}", "/_matrix/client/v3/rooms/%s/leave", enc(left)), &st);

    expect_ok(call("PUT", a.token, &st, "{\"displayname\":\"Queen Alice\"}", "/_matrix/client/v3/profile/%s/displayname",
                   enc(a.user_id)),
              &st);
    expect_ok(call("PUT", a.token, &st, "{\"avatar_url\":\"mxc://example.test/crown\"}",
                   "/_matrix/client/v3/profile/%s/avatar_url", enc(a.user_id)),
              &st);

    /* bob sees the new name and avatar in the room they share; alice's membership stays join. */
    json_t *m = member_state(&b, shared, a.user_id);
    cr_assert_str_eq(json_string_value(json_object_get(m, "membership")), "join");
    cr_assert_str_eq(json_string_value(json_object_get(m, "displayname")), "Queen Alice");
    cr_assert_str_eq(json_string_value(json_object_get(m, "avatar_url")), "mxc://example.test/crown");
    json_decref(m);
    m = member_state(&a, own, a.user_id);
    cr_assert_str_eq(json_string_value(json_object_get(m, "displayname")), "Queen Alice");
    cr_assert_str_eq(json_string_value(json_object_get(m, "membership")), "join");
    json_decref(m);
    /* The room alice left keeps her leave event. */
    m = member_state(&b, left, a.user_id);
    cr_assert_str_eq(json_string_value(json_object_get(m, "membership")), "leave");
    cr_assert_null(json_object_get(m, "displayname"));
    json_decref(m);

    /* Setting the same name again sends nothing: the last event of the room is unchanged. */
    json_t *before = call("GET", b.token, &st, NULL, "/_matrix/client/v3/rooms/%s/messages?dir=b&limit=1", enc(shared));
    expect_ok(call("PUT", a.token, &st, "{\"displayname\":\"Queen Alice\"}", "/_matrix/client/v3/profile/%s/displayname",
                   enc(a.user_id)),
              &st);
    json_t *after = call("GET", b.token, &st, NULL, "/_matrix/client/v3/rooms/%s/messages?dir=b&limit=1", enc(shared));
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(before, "chunk"), 0), "event_id")),
                     json_string_value(json_object_get(json_array_get(json_object_get(after, "chunk"), 0), "event_id")));
    json_decref(before);
    json_decref(after);

    /* Clearing the avatar removes it from the member event too. */
    expect_ok(call("PUT", a.token, &st, "{\"avatar_url\":null}", "/_matrix/client/v3/profile/%s/avatar_url",
                   enc(a.user_id)),
              &st);
    m = member_state(&b, shared, a.user_id);
    cr_assert_null(json_object_get(m, "avatar_url"));
    cr_assert_str_eq(json_string_value(json_object_get(m, "displayname")), "Queen Alice");
    json_decref(m);
    free(shared);
    free(own);
    free(left);
}

/* ---- aliases ------------------------------------------------------------------------ */

Test(hs_directory_api, alias_round_trip_and_errors)
{
    pgt_mx_login a = reg("alice");
    pgt_mx_login b = reg("bob");
    char *room = create_room(&a, "{\"preset\":\"private_chat\"}");
    char *other = create_room(&a, "{\"preset\":\"private_chat\"}");
    char body[512];
    snprintf(body, sizeof body, "{\"room_id\":\"%s\"}", room);
    long st;
    expect_ok(call("PUT", a.token, &st, body, "/_matrix/client/v3/directory/room/%s", enc("#hall:example.test")), &st);

    json_t *j = call("GET", NULL, &st, NULL, "/_matrix/client/v3/directory/room/%s", enc("#hall:example.test"));
    cr_assert_eq(st, 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "room_id")), room);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "servers"), 0)), "example.test");
    json_decref(j);

    /* Taken, whichever room it would point to. */
    expect_error(call("PUT", a.token, &st, body, "/_matrix/client/v3/directory/room/%s", enc("#hall:example.test")),
                 &st, 409, "M_ROOM_IN_USE");
    char body2[512];
    snprintf(body2, sizeof body2, "{\"room_id\":\"%s\"}", other);
    expect_error(call("PUT", a.token, &st, body2, "/_matrix/client/v3/directory/room/%s", enc("#hall:example.test")),
                 &st, 409, "M_ROOM_IN_USE");
    expect_ok(call("PUT", a.token, &st, body, "/_matrix/client/r0/directory/room/%s", enc("#hall2:example.test")), &st);

    j = call("GET", a.token, &st, NULL, "/_matrix/client/v3/rooms/%s/aliases", enc(room));
    cr_assert_eq(st, 200);
    json_t *aliases = json_object_get(j, "aliases");
    cr_assert_eq(json_array_size(aliases), 2);
    cr_assert_str_eq(json_string_value(json_array_get(aliases, 0)), "#hall2:example.test");
    cr_assert_str_eq(json_string_value(json_array_get(aliases, 1)), "#hall:example.test");
    json_decref(j);
    expect_error(call("GET", b.token, &st, NULL, "/_matrix/client/v3/rooms/%s/aliases", enc(room)), &st, 403,
                 "M_FORBIDDEN");

    /* Grammar, other servers, unknown rooms, non-members, unknown aliases. */
    expect_error(call("PUT", a.token, &st, body, "/_matrix/client/v3/directory/room/nohash"), &st, 400,
                 "M_INVALID_PARAM");
    expect_error(call("PUT", a.token, &st, body, "/_matrix/client/v3/directory/room/%s", enc("#x:elsewhere.org")), &st,
                 400, "M_INVALID_PARAM");
    expect_error(call("GET", NULL, &st, NULL, "/_matrix/client/v3/directory/room/%s", enc("#x:elsewhere.org")), &st,
                 404, "M_NOT_FOUND");
    expect_error(call("PUT", a.token, &st, "{\"room_id\":\"!nope:example.test\"}",
                      "/_matrix/client/v3/directory/room/%s", enc("#ghost:example.test")),
                 &st, 404, "M_NOT_FOUND");
    expect_error(call("PUT", b.token, &st, body, "/_matrix/client/v3/directory/room/%s", enc("#squat:example.test")),
                 &st, 403, "M_FORBIDDEN");
    expect_error(call("PUT", a.token, &st, "{}", "/_matrix/client/v3/directory/room/%s", enc("#empty:example.test")),
                 &st, 400, "M_BAD_JSON");
    expect_error(call("PUT", NULL, &st, body, "/_matrix/client/v3/directory/room/%s", enc("#anon:example.test")), &st,
                 401, "M_MISSING_TOKEN");
    expect_error(call("GET", NULL, &st, NULL, "/_matrix/client/v3/directory/room/%s", enc("#squat:example.test")),
                 &st, 404, "M_NOT_FOUND");
    free(room);
    free(other);
}

Test(hs_directory_api, alias_delete_by_creator_or_room_admin_only)
{
    pgt_mx_login a = reg("alice");
    pgt_mx_login b = reg("bob");
    pgt_mx_login c = reg("carol");
    char *room = create_room(&a, "{\"preset\":\"public_chat\"}");
    join(&b, room);
    join(&c, room);
    char body[512];
    snprintf(body, sizeof body, "{\"room_id\":\"%s\"}", room);
    long st;
    expect_ok(call("PUT", b.token, &st, body, "/_matrix/client/v3/directory/room/%s", enc("#bobs:example.test")), &st);
    /* carol has power level 0; m.room.canonical_alias needs 50. */
    expect_error(call("DELETE", c.token, &st, NULL, "/_matrix/client/v3/directory/room/%s", enc("#bobs:example.test")),
                 &st, 403, "M_FORBIDDEN");
    json_t *j = call("GET", NULL, &st, NULL, "/_matrix/client/v3/directory/room/%s", enc("#bobs:example.test"));
    cr_assert_eq(st, 200, "a refused delete leaves the alias");
    json_decref(j);
    /* alice (100) may delete bob's alias; bob may delete his own even at level 0. */
    expect_ok(call("DELETE", a.token, &st, NULL, "/_matrix/client/v3/directory/room/%s", enc("#bobs:example.test")),
              &st);
    expect_error(call("GET", NULL, &st, NULL, "/_matrix/client/v3/directory/room/%s", enc("#bobs:example.test")), &st,
                 404, "M_NOT_FOUND");
    expect_ok(call("PUT", b.token, &st, body, "/_matrix/client/v3/directory/room/%s", enc("#bobs:example.test")), &st);
    expect_ok(call("DELETE", b.token, &st, NULL, "/_matrix/client/v3/directory/room/%s", enc("#bobs:example.test")),
              &st);
    expect_error(call("DELETE", b.token, &st, NULL, "/_matrix/client/v3/directory/room/%s", enc("#bobs:example.test")),
                 &st, 404, "M_NOT_FOUND");
    j = call("GET", a.token, &st, NULL, "/_matrix/client/v3/rooms/%s/aliases", enc(room));
    cr_assert_eq(json_array_size(json_object_get(j, "aliases")), 0);
    json_decref(j);
    free(room);
}

Test(hs_directory_api, server_admin_and_world_readable_rooms)
{
    pgt_mx_login a = reg("alice");
    pgt_mx_login d = reg("dave");
    /* A server admin, made the way the shared-secret admin API makes one. */
    char uid[HS_STORE_ID_MAX];
    cr_assert_eq(hs_accounts_register(hs.srv.store, "example.test", "root", "root password", true, 1, uid),
                 HS_ACCOUNTS_OK);
    long st;
    json_t *j = call("POST", NULL, &st,
                     "{\"type\":\"m.login.password\",\"identifier\":{\"type\":\"m.id.user\",\"user\":\"root\"},"
                     "\"password\":\"root password\"}",
                     "/_matrix/client/v3/login");
    cr_assert_eq(st, 200);
    char root_token[256];
    snprintf(root_token, sizeof root_token, "%s", json_string_value(json_object_get(j, "access_token")));
    json_decref(j);

    char *room = create_room(&a, "{\"preset\":\"private_chat\"}");
    char body[512];
    snprintf(body, sizeof body, "{\"room_id\":\"%s\"}", room);
    expect_ok(call("PUT", a.token, &st, body, "/_matrix/client/v3/directory/room/%s", enc("#attic:example.test")), &st);
    /* dave is not in the room: no alias list until its history is world_readable. */
    expect_error(call("GET", d.token, &st, NULL, "/_matrix/client/v3/rooms/%s/aliases", enc(room)), &st, 403,
                 "M_FORBIDDEN");
    expect_ok(call("PUT", a.token, &st, "{\"history_visibility\":\"world_readable\"}",
                   "/_matrix/client/v3/rooms/%s/state/m.room.history_visibility", enc(room)),
              &st);
    j = call("GET", d.token, &st, NULL, "/_matrix/client/v3/rooms/%s/aliases", enc(room));
    cr_assert_eq(st, 200);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "aliases"), 0)), "#attic:example.test");
    json_decref(j);
    /* The admin is not in the room either, yet may publish it and delete its alias. */
    expect_error(call("PUT", d.token, &st, "{\"visibility\":\"public\"}", "/_matrix/client/v3/directory/list/room/%s",
                      enc(room)),
                 &st, 403, "M_FORBIDDEN");
    expect_ok(call("PUT", root_token, &st, "{\"visibility\":\"public\"}", "/_matrix/client/v3/directory/list/room/%s",
                   enc(room)),
              &st);
    j = call("POST", d.token, &st, "{}", "/_matrix/client/v3/publicRooms");
    cr_assert_eq(json_array_size(json_object_get(j, "chunk")), 1);
    cr_assert(json_is_true(json_object_get(json_array_get(json_object_get(j, "chunk"), 0), "world_readable")));
    json_decref(j);
    expect_error(call("DELETE", d.token, &st, NULL, "/_matrix/client/v3/directory/room/%s", enc("#attic:example.test")),
                 &st, 403, "M_FORBIDDEN");
    expect_ok(call("DELETE", root_token, &st, NULL, "/_matrix/client/v3/directory/room/%s", enc("#attic:example.test")),
              &st);
    free(room);
}

Test(hs_directory_api, create_room_alias_name)
{
    pgt_mx_login a = reg("alice");
    char *room = create_room(&a, "{\"preset\":\"public_chat\",\"room_alias_name\":\"lobby\"}");
    long st;
    json_t *j = call("GET", NULL, &st, NULL, "/_matrix/client/v3/directory/room/%s", enc("#lobby:example.test"));
    cr_assert_eq(st, 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "room_id")), room);
    json_decref(j);
    j = call("GET", a.token, &st, NULL, "/_matrix/client/v3/rooms/%s/state/m.room.canonical_alias", enc(room));
    cr_assert_eq(st, 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "alias")), "#lobby:example.test");
    json_decref(j);
    expect_error(call("POST", a.token, &st, "{\"room_alias_name\":\"lobby\"}", "/_matrix/client/v3/createRoom"), &st,
                 409, "M_ROOM_IN_USE");
    expect_error(call("POST", a.token, &st, "{\"room_alias_name\":\"a:b\"}", "/_matrix/client/v3/createRoom"), &st,
                 400, "M_INVALID_PARAM");
    /* The refused requests created no rooms. */
    j = call("GET", a.token, &st, NULL, "/_matrix/client/v3/joined_rooms");
    cr_assert_eq(json_array_size(json_object_get(j, "joined_rooms")), 1);
    json_decref(j);

    /* Deleting an alias takes it out of the canonical alias event too (alias and alt_aliases). */
    char body[512];
    snprintf(body, sizeof body, "{\"room_id\":\"%s\"}", room);
    expect_ok(call("PUT", a.token, &st, body, "/_matrix/client/v3/directory/room/%s", enc("#porch:example.test")), &st);
    expect_ok(call("PUT", a.token, &st,
                   "{\"alias\":\"#lobby:example.test\",\"alt_aliases\":[\"#porch:example.test\",\"#lobby:example.test\"]}",
                   "/_matrix/client/v3/rooms/%s/state/m.room.canonical_alias", enc(room)),
              &st);
    expect_ok(call("DELETE", a.token, &st, NULL, "/_matrix/client/v3/directory/room/%s", enc("#lobby:example.test")),
              &st);
    j = call("GET", a.token, &st, NULL, "/_matrix/client/v3/rooms/%s/state/m.room.canonical_alias", enc(room));
    cr_assert_eq(st, 200);
    cr_assert_null(json_object_get(j, "alias"));
    json_t *alt = json_object_get(j, "alt_aliases");
    cr_assert_eq(json_array_size(alt), 1);
    cr_assert_str_eq(json_string_value(json_array_get(alt, 0)), "#porch:example.test");
    json_decref(j);
    free(room);
}

/* ---- room directory ------------------------------------------------------------------ */

Test(hs_directory_api, visibility_get_put)
{
    pgt_mx_login a = reg("alice");
    pgt_mx_login b = reg("bob");
    char *pub = create_room(&a, "{\"visibility\":\"public\",\"preset\":\"public_chat\"}");
    char *priv = create_room(&a, "{}");
    long st;
    json_t *j = call("GET", NULL, &st, NULL, "/_matrix/client/v3/directory/list/room/%s", enc(pub));
    cr_assert_eq(st, 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "visibility")), "public");
    json_decref(j);
    j = call("GET", NULL, &st, NULL, "/_matrix/client/v3/directory/list/room/%s", enc(priv));
    cr_assert_str_eq(json_string_value(json_object_get(j, "visibility")), "private");
    json_decref(j);
    expect_error(call("GET", NULL, &st, NULL, "/_matrix/client/v3/directory/list/room/%s", enc("!nope:example.test")),
                 &st, 404, "M_NOT_FOUND");

    expect_error(call("PUT", b.token, &st, "{\"visibility\":\"private\"}", "/_matrix/client/v3/directory/list/room/%s",
                      enc(pub)),
                 &st, 403, "M_FORBIDDEN");
    expect_error(call("PUT", a.token, &st, "{\"visibility\":\"hidden\"}", "/_matrix/client/v3/directory/list/room/%s",
                      enc(pub)),
                 &st, 400, "M_INVALID_PARAM");
    expect_error(call("PUT", a.token, &st, "{\"visibility\":\"public\"}", "/_matrix/client/v3/directory/list/room/%s",
                      enc("!nope:example.test")),
                 &st, 404, "M_NOT_FOUND");
    expect_ok(call("PUT", a.token, &st, "{\"visibility\":\"private\"}", "/_matrix/client/v3/directory/list/room/%s",
                   enc(pub)),
              &st);
    expect_ok(call("PUT", a.token, &st, "{\"visibility\":\"public\"}", "/_matrix/client/v3/directory/list/room/%s",
                   enc(priv)),
              &st);
    j = call("GET", NULL, &st, NULL, "/_matrix/client/v3/directory/list/room/%s", enc(pub));
    cr_assert_str_eq(json_string_value(json_object_get(j, "visibility")), "private");
    json_decref(j);
    j = call("GET", NULL, &st, NULL, "/_matrix/client/v3/publicRooms");
    cr_assert_eq(st, 200);
    cr_assert_eq(json_array_size(json_object_get(j, "chunk")), 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(j, "chunk"), 0), "room_id")),
                     priv);
    json_decref(j);
    free(pub);
    free(priv);
}

Test(hs_directory_api, public_rooms_paging_search_and_fields)
{
    pgt_mx_login a = reg("alice");
    pgt_mx_login b = reg("bob");
    pgt_mx_login c = reg("carol");
    /* Five published rooms with 1..3 members, one unpublished. */
    static const char *const names[] = {"Alpha", "Bravo", "Charlie Zebra", "Delta", "Echo"};
    char *rooms[5];
    for (int i = 0; i < 5; i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"visibility\":\"public\",\"preset\":\"public_chat\",\"name\":\"%s\",\"topic\":\"topic %d\"}",
                 names[i], i);
        rooms[i] = create_room(&a, body);
    }
    char *hidden = create_room(&a, "{\"preset\":\"public_chat\",\"name\":\"Zebra hidden\"}");
    join(&b, rooms[3]);
    join(&c, rooms[3]);
    join(&b, rooms[1]);
    long st;
    char alias_body[512];
    snprintf(alias_body, sizeof alias_body, "{\"room_id\":\"%s\"}", rooms[4]);
    expect_ok(call("PUT", a.token, &st, alias_body, "/_matrix/client/v3/directory/room/%s", enc("#echo:example.test")),
              &st);
    snprintf(alias_body, sizeof alias_body, "{\"alias\":\"#echo:example.test\"}");
    expect_ok(call("PUT", a.token, &st, alias_body, "/_matrix/client/v3/rooms/%s/state/m.room.canonical_alias",
                   enc(rooms[4])),
              &st);

    /* Page through two at a time: every published room exactly once, most members first. */
    char since[64] = "";
    json_t *seen = json_array();
    int pages = 0;
    for (;;) {
        json_t *j = since[0] ? call("GET", NULL, &st, NULL, "/_matrix/client/v3/publicRooms?limit=2&since=%s", since)
                             : call("GET", NULL, &st, NULL, "/_matrix/client/v3/publicRooms?limit=2");
        cr_assert_eq(st, 200);
        pages++;
        cr_assert_eq(json_integer_value(json_object_get(j, "total_room_count_estimate")), 5);
        json_t *chunk = json_object_get(j, "chunk");
        cr_assert_leq(json_array_size(chunk), 2);
        if (pages > 1) cr_assert(json_is_string(json_object_get(j, "prev_batch")), "page %d has prev_batch", pages);
        else cr_assert_null(json_object_get(j, "prev_batch"));
        size_t i;
        json_t *r;
        json_array_foreach(chunk, i, r) json_array_append(seen, r);
        const char *next = json_string_value(json_object_get(j, "next_batch"));
        if (!next) {
            json_decref(j);
            break;
        }
        snprintf(since, sizeof since, "%s", next);
        json_decref(j);
        cr_assert_lt(pages, 5);
    }
    cr_assert_eq(pages, 3);
    cr_assert_eq(json_array_size(seen), 5);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(seen, 0), "room_id")), rooms[3]);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(seen, 0), "num_joined_members")), 3);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(seen, 1), "room_id")), rooms[1]);
    for (size_t i = 0; i < 5; i++) {
        json_t *r = json_array_get(seen, i);
        cr_assert_str_neq(json_string_value(json_object_get(r, "room_id")), hidden);
        for (size_t k = i + 1; k < 5; k++)
            cr_assert_str_neq(json_string_value(json_object_get(r, "room_id")),
                              json_string_value(json_object_get(json_array_get(seen, k), "room_id")));
        cr_assert(json_is_false(json_object_get(r, "world_readable")));
        cr_assert(json_is_false(json_object_get(r, "guest_can_join")));
        cr_assert_str_eq(json_string_value(json_object_get(r, "join_rule")), "public");
        cr_assert(json_is_string(json_object_get(r, "name")));
        cr_assert(json_is_string(json_object_get(r, "topic")));
        if (i >= 2) cr_assert_eq(json_integer_value(json_object_get(r, "num_joined_members")), 1);
    }
    json_decref(seen);

    /* Search by name (case-insensitive), by canonical alias; POST needs a token. */
    json_t *j = call("POST", a.token, &st, "{\"filter\":{\"generic_search_term\":\"zEbRa\"}}",
                     "/_matrix/client/v3/publicRooms");
    cr_assert_eq(st, 200);
    cr_assert_eq(json_array_size(json_object_get(j, "chunk")), 1, "the unpublished zebra room is not listed");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(j, "chunk"), 0), "name")),
                     "Charlie Zebra");
    json_decref(j);
    j = call("POST", b.token, &st, "{\"limit\":5,\"filter\":{\"generic_search_term\":\"#echo\"}}",
             "/_matrix/client/v3/publicRooms");
    cr_assert_eq(json_array_size(json_object_get(j, "chunk")), 1);
    json_t *echo = json_array_get(json_object_get(j, "chunk"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(echo, "canonical_alias")), "#echo:example.test");
    cr_assert_str_eq(json_string_value(json_object_get(echo, "room_id")), rooms[4]);
    json_decref(j);
    j = call("POST", a.token, &st, "{\"limit\":2,\"since\":\"p4\"}", "/_matrix/client/v3/publicRooms");
    cr_assert_eq(json_array_size(json_object_get(j, "chunk")), 1);
    cr_assert_null(json_object_get(j, "next_batch"));
    json_decref(j);
    expect_error(call("POST", NULL, &st, "{}", "/_matrix/client/v3/publicRooms"), &st, 401, "M_MISSING_TOKEN");
    expect_error(call("GET", NULL, &st, NULL, "/_matrix/client/v3/publicRooms?since=garbage"), &st, 400,
                 "M_INVALID_PARAM");
    expect_error(call("GET", NULL, &st, NULL, "/_matrix/client/v3/publicRooms?limit=-1"), &st, 400, "M_INVALID_PARAM");
    expect_error(call("POST", a.token, &st, "{\"filter\":{\"generic_search_term\":7}}", "/_matrix/client/v3/publicRooms"),
                 &st, 400, "M_INVALID_PARAM");
    for (int i = 0; i < 5; i++) free(rooms[i]);
    free(hidden);
}

Test(hs_directory_api, public_rooms_room_types_and_server)
{
    pgt_mx_login a = reg("alice");
    char *space = create_room(&a, "{\"visibility\":\"public\",\"preset\":\"public_chat\",\"name\":\"Space\","
                                  "\"creation_content\":{\"type\":\"m.space\"}}");
    char *plain = create_room(&a, "{\"visibility\":\"public\",\"preset\":\"public_chat\",\"name\":\"Plain\"}");
    long st;
    json_t *j = call("POST", a.token, &st, "{\"filter\":{\"room_types\":[\"m.space\"]}}", "/_matrix/client/v3/publicRooms");
    cr_assert_eq(st, 200);
    cr_assert_eq(json_array_size(json_object_get(j, "chunk")), 1);
    json_t *r = json_array_get(json_object_get(j, "chunk"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(r, "room_id")), space);
    cr_assert_str_eq(json_string_value(json_object_get(r, "room_type")), "m.space");
    json_decref(j);
    j = call("POST", a.token, &st, "{\"filter\":{\"room_types\":[null]}}", "/_matrix/client/v3/publicRooms");
    cr_assert_eq(json_array_size(json_object_get(j, "chunk")), 1);
    r = json_array_get(json_object_get(j, "chunk"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(r, "room_id")), plain);
    cr_assert_null(json_object_get(r, "room_type"));
    json_decref(j);
    j = call("POST", a.token, &st, "{\"filter\":{\"room_types\":[null,\"m.space\"]}}", "/_matrix/client/v3/publicRooms");
    cr_assert_eq(json_array_size(json_object_get(j, "chunk")), 2);
    json_decref(j);
    /* Our own server name is this directory; another server's is asked over federation,
     * only for a user (it costs a request) and here with no transport: 502. */
    j = call("GET", NULL, &st, NULL, "/_matrix/client/v3/publicRooms?server=example.test");
    cr_assert_eq(st, 200);
    cr_assert_eq(json_array_size(json_object_get(j, "chunk")), 2);
    json_decref(j);
    expect_error(call("GET", NULL, &st, NULL, "/_matrix/client/v3/publicRooms?server=elsewhere.org"), &st, 401,
                 "M_MISSING_TOKEN");
    expect_error(call("GET", a.token, &st, NULL, "/_matrix/client/v3/publicRooms?server=elsewhere.org"), &st, 502,
                 "M_UNKNOWN");
    expect_error(call("POST", a.token, &st, "{\"filter\":{\"room_types\":\"m.space\"}}", "/_matrix/client/v3/publicRooms"),
                 &st, 400, "M_BAD_JSON");
    /* Each listed type is compared with every room: the list is short. */
    char types[512] = "{\"filter\":{\"room_types\":[null";
    for (int i = 1; i < 16; i++) strcat(types, ",\"t\"");
    j = call("POST", a.token, &st, strcat(types, "]}}"), "/_matrix/client/v3/publicRooms");
    cr_assert_eq(st, 200, "16 room types are fine");
    json_decref(j);
    types[strlen(types) - 3] = '\0';
    expect_error(call("POST", a.token, &st, strcat(types, ",null]}}"), "/_matrix/client/v3/publicRooms"), &st, 400,
                 "M_BAD_JSON");
    free(space);
    free(plain);
}

/* Unauthenticated GET /publicRooms without a limit still gets one bounded page (100
 * rooms) with a next_batch for the rest, so the answer does not grow with the server. */
Test(hs_directory_api, public_rooms_pages_are_bounded)
{
    pgt_mx_login a = reg("alice");
    for (int i = 0; i < 101; i++) free(create_room(&a, "{\"visibility\":\"public\"}"));
    long st;
    static const char *const asks[] = {"", "?limit=1000"};
    for (size_t k = 0; k < 2; k++) {
        json_t *j = call("GET", NULL, &st, NULL, "/_matrix/client/v3/publicRooms%s", asks[k]);
        cr_assert_eq(st, 200);
        cr_assert_eq(json_array_size(json_object_get(j, "chunk")), 100, "%s", asks[k]);
        cr_assert_eq(json_integer_value(json_object_get(j, "total_room_count_estimate")), 101);
        cr_assert_str_eq(json_string_value(json_object_get(j, "next_batch")), "p100");
        json_decref(j);
    }
    json_t *j = call("POST", a.token, &st, "{\"limit\":1000}", "/_matrix/client/v3/publicRooms");
    cr_assert_eq(st, 200);
    cr_assert_eq(json_array_size(json_object_get(j, "chunk")), 100);
    json_decref(j);
    j = call("GET", NULL, &st, NULL, "/_matrix/client/v3/publicRooms?since=p100");
    cr_assert_eq(json_array_size(json_object_get(j, "chunk")), 1);
    cr_assert_null(json_object_get(j, "next_batch"));
    cr_assert_str_eq(json_string_value(json_object_get(j, "prev_batch")), "p0");
    json_decref(j);
}

/* ---- user directory ------------------------------------------------------------------- */

static json_t *search_users(const pgt_mx_login *u, const char *body)
{
    long st;
    json_t *j = call("POST", u->token, &st, body, "/_matrix/client/v3/user_directory/search");
    cr_assert_eq(st, 200);
    return j;
}

static bool has_user(const json_t *j, const char *user_id)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(j, "results"), i, r)
        if (strcmp(json_string_value(json_object_get(r, "user_id")), user_id) == 0) return true;
    return false;
}

Test(hs_directory_api, user_directory_search_visibility_and_limits)
{
    pgt_mx_login a = reg("alice");
    pgt_mx_login b = reg("bob");
    pgt_mx_login c = reg("carol");
    pgt_mx_login d = reg("dave");
    pgt_mx_login e = reg("eve");
    char *pub = create_room(&a, "{\"preset\":\"public_chat\"}");
    join(&b, pub);
    char *priv = create_room(&c, "{\"preset\":\"public_chat\"}");
    join(&d, priv);
    long st;
    /* carol's room becomes invite-only: dave is now findable only by those who share it. */
    expect_ok(call("PUT", c.token, &st, "{\"join_rule\":\"invite\"}", "/_matrix/client/v3/rooms/%s/state/m.room.join_rules",
                   enc(priv)),
              &st);
    expect_ok(call("PUT", b.token, &st, "{\"displayname\":\"Robert Zed\"}", "/_matrix/client/v3/profile/%s/displayname",
                   enc(b.user_id)),
              &st);

    json_t *j = search_users(&a, "{\"search_term\":\"dave\"}");
    cr_assert_not(has_user(j, d.user_id), "dave shares no room with alice and is in no public room");
    json_decref(j);
    j = search_users(&c, "{\"search_term\":\"DAVE\"}");
    cr_assert(has_user(j, d.user_id));
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(j, "results"), 0),
                                                       "display_name")),
                     "dave");
    json_decref(j);
    /* bob is in a public room: anyone finds him, by ID or by his new display name. */
    j = search_users(&d, "{\"search_term\":\"zed\"}");
    cr_assert(has_user(j, b.user_id));
    cr_assert_eq(json_array_size(json_object_get(j, "results")), 1);
    cr_assert(json_is_false(json_object_get(j, "limited")));
    json_decref(j);
    j = search_users(&e, "{\"search_term\":\"@bob:\"}");
    cr_assert(has_user(j, b.user_id));
    json_decref(j);
    /* eve is in no room: nobody finds her. */
    j = search_users(&a, "{\"search_term\":\"eve\"}");
    cr_assert_not(has_user(j, e.user_id));
    json_decref(j);
    /* alice and bob both match "example.test"; limit 1 says limited. */
    j = search_users(&e, "{\"search_term\":\"example.test\",\"limit\":1}");
    cr_assert_eq(json_array_size(json_object_get(j, "results")), 1);
    cr_assert(json_is_true(json_object_get(j, "limited")));
    json_decref(j);
    j = search_users(&e, "{\"search_term\":\"example.test\"}");
    cr_assert_eq(json_array_size(json_object_get(j, "results")), 2);
    cr_assert(json_is_false(json_object_get(j, "limited")));
    json_decref(j);
    expect_error(call("POST", a.token, &st, "{}", "/_matrix/client/v3/user_directory/search"), &st, 400,
                 "M_MISSING_PARAM");
    expect_error(call("POST", a.token, &st, "{\"search_term\":\"x\",\"limit\":\"3\"}",
                      "/_matrix/client/v3/user_directory/search"),
                 &st, 400, "M_INVALID_PARAM");
    expect_error(call("POST", NULL, &st, "{\"search_term\":\"x\"}", "/_matrix/client/v3/user_directory/search"), &st,
                 401, "M_MISSING_TOKEN");
    free(pub);
    free(priv);
}

/* ---- capabilities ----------------------------------------------------------------------- */

Test(hs_directory_api, capabilities)
{
    pgt_mx_login a = reg("alice");
    long st;
    expect_error(call("GET", NULL, &st, NULL, "/_matrix/client/v3/capabilities"), &st, 401, "M_MISSING_TOKEN");
    json_t *j = call("GET", a.token, &st, NULL, "/_matrix/client/v3/capabilities");
    cr_assert_eq(st, 200);
    json_t *caps = json_object_get(j, "capabilities");
    json_t *rv = json_object_get(caps, "m.room_versions");
    cr_assert_str_eq(json_string_value(json_object_get(rv, "default")), hs.cfg.default_room_version);
    json_t *avail = json_object_get(rv, "available");
    cr_assert_str_eq(json_string_value(json_object_get(avail, hs.cfg.default_room_version)), "stable");
    cr_assert_str_eq(json_string_value(json_object_get(avail, "10")), "stable");
    cr_assert_null(json_object_get(avail, "1"), "createRoom refuses v1, so it is not offered");
    cr_assert(json_is_true(json_object_get(json_object_get(caps, "m.change_password"), "enabled")));
    cr_assert(json_is_true(json_object_get(json_object_get(caps, "m.set_displayname"), "enabled")));
    cr_assert(json_is_true(json_object_get(json_object_get(caps, "m.set_avatar_url"), "enabled")));
    cr_assert(json_is_false(json_object_get(json_object_get(caps, "m.3pid_changes"), "enabled")));
    json_decref(j);
    /* Every advertised version really creates a room. */
    j = call("GET", a.token, &st, NULL, "/_matrix/client/v3/capabilities");
    const char *ver;
    json_t *v;
    json_object_foreach(json_object_get(json_object_get(json_object_get(j, "capabilities"), "m.room_versions"),
                                        "available"), ver, v) {
        char body[128];
        snprintf(body, sizeof body, "{\"room_version\":\"%s\"}", ver);
        free(create_room(&a, body));
    }
    json_decref(j);
}
