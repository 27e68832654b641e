/* Key backup end to end over HTTP: versions come and go, the current version is the
 * newest live one, a session is replaced only by a better copy, writes to a stale
 * version get M_WRONG_ROOM_KEYS_VERSION with the current one, users cannot see each
 * other's backups, and everything is still there after a restart. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_server.h"
#include "server-core/hs_store_backup.h"
#include "support/pgt_hs.h"
#include "support/pgt_matrix.h"

static pgt_hs hs;
static pgt_mx_login alice, bob;

static void start(void)
{
    pgt_hs_start(&hs, "backup.test", NULL);
    cr_assert_eq(pgt_mx_register(hs.base, "alice", "pw-alice-1", &alice), 0);
    cr_assert_eq(pgt_mx_register(hs.base, "bob", "pw-bob-1", &bob), 0);
}

static void stop(void)
{
    pgt_hs_stop(&hs);
}

TestSuite(hs_backup, .init = start, .fini = stop, .timeout = 60);

static json_t *call(const char *method, const char *token, const char *path, const char *body, long want)
{
    return pgt_mx_expect(hs.base, method, path, token, body, want);
}

static const char *const VERSION_BODY =
    "{\"algorithm\":\"m.megolm_backup.v1.curve25519-aes-sha2\",\"auth_data\":{\"public_key\":\"abc\"}}";

static char *session(int fmi, int fc, int verified, const char *tag)
{
    char *s;
    cr_assert(asprintf(&s,
                       "{\"first_message_index\":%d,\"forwarded_count\":%d,\"is_verified\":%s,"
                       "\"session_data\":{\"ciphertext\":\"%s\"}}",
                       fmi, fc, verified ? "true" : "false", tag) > 0);
    return s;
}

static const char *stored_tag(const char *version)
{
    char path[256];
    snprintf(path, sizeof path, "/_matrix/client/v3/room_keys/keys/!r:backup.test/S1?version=%s", version);
    json_t *j = call("GET", alice.token, path, NULL, 200);
    static char tag[64];
    snprintf(tag, sizeof tag, "%s",
             json_string_value(json_object_get(json_object_get(j, "session_data"), "ciphertext")));
    json_decref(j);
    return tag;
}

Test(hs_backup, no_backup_is_404_not_found)
{
    json_t *j = call("GET", alice.token, "/_matrix/client/v3/room_keys/version", NULL, 404);
    cr_assert_str_eq(json_string_value(json_object_get(j, "errcode")), "M_NOT_FOUND");
    json_decref(j);
}

Test(hs_backup, versions_and_the_better_copy_rule)
{
    json_t *v1 = call("POST", alice.token, "/_matrix/client/v3/room_keys/version", VERSION_BODY, 200);
    cr_assert_str_eq(json_string_value(json_object_get(v1, "version")), "1");
    json_decref(v1);

    char *s = session(5, 1, 0, "first");
    char path[256] = "/_matrix/client/v3/room_keys/keys/!r:backup.test/S1?version=1";
    json_t *j = call("PUT", alice.token, path, s, 200);
    free(s);
    cr_assert_eq(json_integer_value(json_object_get(j, "count")), 1);
    const char *etag1 = json_string_value(json_object_get(j, "etag"));
    char e1[32];
    snprintf(e1, sizeof e1, "%s", etag1);
    json_decref(j);

    s = session(7, 0, 0, "worse-index");
    json_decref(call("PUT", alice.token, path, s, 200));
    free(s);
    cr_assert_str_eq(stored_tag("1"), "first", "a higher first_message_index does not replace");

    s = session(5, 0, 0, "fewer-forwards");
    json_decref(call("PUT", alice.token, path, s, 200));
    free(s);
    cr_assert_str_eq(stored_tag("1"), "fewer-forwards");

    s = session(9, 3, 1, "verified");
    j = call("PUT", alice.token, path, s, 200);
    free(s);
    cr_assert_str_eq(stored_tag("1"), "verified", "verified beats everything");
    cr_assert_str_neq(json_string_value(json_object_get(j, "etag")), e1, "the etag changes with the keys");
    json_decref(j);

    j = call("GET", alice.token, "/_matrix/client/v3/room_keys/version", NULL, 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "version")), "1");
    cr_assert_eq(json_integer_value(json_object_get(j, "count")), 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "auth_data"), "public_key")), "abc");
    json_decref(j);

    j = call("GET", bob.token, "/_matrix/client/v3/room_keys/version", NULL, 404);
    json_decref(j);
    j = call("GET", bob.token, "/_matrix/client/v3/room_keys/keys?version=1", NULL, 404);
    json_decref(j);
}

Test(hs_backup, a_stale_version_is_refused_with_the_current_one)
{
    json_decref(call("POST", alice.token, "/_matrix/client/v3/room_keys/version", VERSION_BODY, 200));
    json_decref(call("POST", alice.token, "/_matrix/client/v3/room_keys/version", VERSION_BODY, 200));
    char *s = session(0, 0, 0, "x");
    char body[512];
    snprintf(body, sizeof body, "{\"rooms\":{\"!r:backup.test\":{\"sessions\":{\"S1\":%s}}}}", s);
    free(s);
    json_t *j = call("PUT", alice.token, "/_matrix/client/v3/room_keys/keys?version=1", body, 403);
    cr_assert_str_eq(json_string_value(json_object_get(j, "errcode")), "M_WRONG_ROOM_KEYS_VERSION");
    cr_assert_str_eq(json_string_value(json_object_get(j, "current_version")), "2");
    json_decref(j);
    json_decref(call("PUT", alice.token, "/_matrix/client/v3/room_keys/keys?version=2", body, 200));

    json_decref(call("DELETE", alice.token, "/_matrix/client/v3/room_keys/version/2", NULL, 200));
    j = call("GET", alice.token, "/_matrix/client/v3/room_keys/version", NULL, 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "version")), "1", "deleting 2 makes 1 current again");
    json_decref(j);
    json_decref(call("GET", alice.token, "/_matrix/client/v3/room_keys/keys?version=2", NULL, 404));
}

Test(hs_backup, bad_bodies_and_updates)
{
    json_decref(call("POST", alice.token, "/_matrix/client/v3/room_keys/version", "{\"algorithm\":\"x\"}", 400));
    json_decref(call("POST", alice.token, "/_matrix/client/v3/room_keys/version", VERSION_BODY, 200));
    json_decref(call("PUT", alice.token, "/_matrix/client/v3/room_keys/keys/!r:backup.test/S1?version=1",
                     "{\"first_message_index\":-1,\"forwarded_count\":0,\"is_verified\":false,\"session_data\":{}}",
                     400));
    json_decref(call("PUT", alice.token, "/_matrix/client/v3/room_keys/keys/!r:backup.test/S1", "{}", 400));
    json_decref(call("PUT", alice.token, "/_matrix/client/v3/room_keys/version/1",
                     "{\"algorithm\":\"other\",\"auth_data\":{}}", 400));
    json_decref(call("PUT", alice.token, "/_matrix/client/v3/room_keys/version/1",
                     "{\"algorithm\":\"m.megolm_backup.v1.curve25519-aes-sha2\",\"auth_data\":{\"public_key\":\"new\"},"
                     "\"version\":\"1\"}",
                     200));
    json_t *j = call("GET", alice.token, "/_matrix/client/v3/room_keys/version/1", NULL, 200);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "auth_data"), "public_key")), "new");
    json_decref(j);
    json_decref(call("GET", alice.token, "/_matrix/client/v3/room_keys/version/01", NULL, 404));
}

/* The body of a PUT /room_keys/keys with n sessions spread over two rooms. */
static char *many_sessions(int n)
{
    char *one = session(0, 0, 0, "c");
    json_t *data = json_loads(one, 0, NULL);
    free(one);
    json_t *even = json_object(), *odd = json_object();
    for (int i = 0; i < n; i++) {
        char sid[32];
        snprintf(sid, sizeof sid, "S%d", i);
        json_object_set(i % 2 ? odd : even, sid, data);
    }
    json_decref(data);
    json_t *body = json_pack("{s:{s:{s:o}, s:{s:o}}}", "rooms", "!even:backup.test", "sessions", even,
                             "!odd:backup.test", "sessions", odd);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return text;
}

/* One PUT writes at most 10,000 sessions (one transaction on the shared connection);
 * a bigger one is refused whole and stores nothing. */
Test(hs_backup, one_put_holds_at_most_10000_sessions)
{
    json_decref(call("POST", alice.token, "/_matrix/client/v3/room_keys/version", VERSION_BODY, 200));
    const char *path = "/_matrix/client/v3/room_keys/keys?version=1";
    char *body = many_sessions(10001);
    json_decref(call("PUT", alice.token, path, body, 400));
    free(body);
    json_t *j = call("GET", alice.token, "/_matrix/client/v3/room_keys/version/1", NULL, 200);
    cr_assert_eq(json_integer_value(json_object_get(j, "count")), 0, "the refused PUT stored nothing");
    json_decref(j);
    body = many_sessions(10000);
    j = call("PUT", alice.token, path, body, 200);
    free(body);
    cr_assert_eq(json_integer_value(json_object_get(j, "count")), 10000);
    json_decref(j);
}

/* A user's versions hold at most max_sessions sessions in all
 * (HS_STORE_BACKUP_SESSIONS_PER_USER over HTTP; a small limit here): a write that would
 * pass it stores nothing, a better copy of a stored session still fits, and a new
 * version does not reset the count; deleting the old version does. */
Test(hs_backup, backups_hold_at_most_their_session_limit)
{
    json_decref(call("POST", alice.token, "/_matrix/client/v3/room_keys/version", VERSION_BODY, 200));
    hs_store *st = hs.srv.store;
    int64_t count = -1, etag;
    char *one = session(5, 0, 0, "c");
    json_t *data = json_loads(one, 0, NULL);
    free(one);
    json_t *two = json_pack("{s:{s:{s:O, s:O}}}", "!r:backup.test", "sessions", "S1", data, "S2", data);
    cr_assert_eq(hs_store_backup_put(st, alice.user_id, 1, two, 2, &count, &etag), 0);
    cr_assert_eq(count, 2);
    json_t *third = json_pack("{s:{s:{s:O}}}", "!r:backup.test", "sessions", "S3", data);
    cr_assert_eq(hs_store_backup_put(st, alice.user_id, 1, third, 2, &count, &etag), 2);
    json_t *j = call("GET", alice.token, "/_matrix/client/v3/room_keys/version/1", NULL, 200);
    cr_assert_eq(json_integer_value(json_object_get(j, "count")), 2, "the refused write stored nothing");
    json_decref(j);
    json_object_set_new(data, "first_message_index", json_integer(0));
    json_t *better = json_pack("{s:{s:{s:O}}}", "!r:backup.test", "sessions", "S1", data);
    cr_assert_eq(hs_store_backup_put(st, alice.user_id, 1, better, 2, &count, &etag), 0);
    cr_assert_eq(count, 2);
    json_decref(call("POST", alice.token, "/_matrix/client/v3/room_keys/version", VERSION_BODY, 200));
    cr_assert_eq(hs_store_backup_put(st, alice.user_id, 2, third, 2, &count, &etag), 2);
    json_decref(call("DELETE", alice.token, "/_matrix/client/v3/room_keys/version/1", NULL, 200));
    cr_assert_eq(hs_store_backup_put(st, alice.user_id, 2, third, 2, &count, &etag), 0);
    cr_assert_eq(count, 1);
    json_decref(better);
    json_decref(third);
    json_decref(two);
    json_decref(data);
}

/* Session data and auth_data are stored verbatim: at most 16 KiB each, and room and
 * session IDs at most 255 bytes. */
Test(hs_backup, oversized_data_and_ids_are_refused)
{
    char *pad = malloc(16400);
    cr_assert_not_null(pad);
    memset(pad, 'x', 16399);
    pad[16399] = 0;
    char *body;
    cr_assert(asprintf(&body, "{\"algorithm\":\"a\",\"auth_data\":{\"k\":\"%s\"}}", pad) > 0);
    json_decref(call("POST", alice.token, "/_matrix/client/v3/room_keys/version", body, 400));
    free(body);
    json_decref(call("POST", alice.token, "/_matrix/client/v3/room_keys/version", VERSION_BODY, 200));
    char *big = session(0, 0, 0, pad);
    json_decref(call("PUT", alice.token, "/_matrix/client/v3/room_keys/keys/!r:backup.test/S1?version=1", big, 400));
    free(big);
    pad[256] = 0;
    char path[512];
    snprintf(path, sizeof path, "/_matrix/client/v3/room_keys/keys/!r:backup.test/%s?version=1", pad);
    char *small = session(0, 0, 0, "c");
    json_decref(call("PUT", alice.token, path, small, 400));
    json_t *j = call("PUT", alice.token, "/_matrix/client/v3/room_keys/keys/!r:backup.test/S1?version=1", small, 200);
    cr_assert_eq(json_integer_value(json_object_get(j, "count")), 1, "only the fitting session was stored");
    json_decref(j);
    free(small);
    free(pad);
}

Test(hs_backup, keys_survive_a_restart_and_delete_by_room)
{
    json_decref(call("POST", alice.token, "/_matrix/client/v3/room_keys/version", VERSION_BODY, 200));
    char *s = session(0, 0, 1, "kept");
    json_decref(call("PUT", alice.token, "/_matrix/client/v3/room_keys/keys/!r:backup.test/S1?version=1", s, 200));
    json_decref(call("PUT", alice.token, "/_matrix/client/v3/room_keys/keys/!other:backup.test/S2?version=1", s, 200));
    free(s);
    pgt_hs_restart(&hs);
    json_t *j = call("GET", alice.token, "/_matrix/client/v3/room_keys/keys?version=1", NULL, 200);
    cr_assert_eq(json_object_size(json_object_get(j, "rooms")), 2);
    json_decref(j);
    j = call("DELETE", alice.token, "/_matrix/client/v3/room_keys/keys/!other:backup.test?version=1", NULL, 200);
    cr_assert_eq(json_integer_value(json_object_get(j, "count")), 1);
    json_decref(j);
    j = call("GET", alice.token, "/_matrix/client/v3/room_keys/keys/!other:backup.test?version=1", NULL, 200);
    cr_assert_eq(json_object_size(json_object_get(j, "sessions")), 0);
    json_decref(j);
    cr_assert_str_eq(stored_tag("1"), "kept");
}
