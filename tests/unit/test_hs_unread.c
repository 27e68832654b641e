/* The unread counts of /sync (unread_notifications) end to end on a real hs_server over
 * loopback: messages from others count after the reader's receipt (public or private,
 * the later one) or join, mentions of the reader's display name also count as
 * highlights, the reader's own messages never count, a room muted by a room push rule
 * counts nothing, an incremental sync carries the room again when its counts changed
 * because of a receipt — even with a filter that hides the receipt itself — and a
 * room unread for long counts its newest HS_PUSH_UNREAD_SCAN events only. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_push_room.h"
#include "support/pgt.h"
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

TestSuite(hs_unread, .init = start, .fini = stop, .timeout = 120);

#define call(method, token, status, body, ...) pgt_mx_callf(hs.base, method, token, status, body, __VA_ARGS__)

static pgt_mx_login reg(const char *user)
{
    return pgt_mx_must_register(hs.base, user, "correct horse battery");
}

static void join(const pgt_mx_login *u, const char *room)
{
    long st;
    char r[512];
    const char *path_room = pgt_mx_enc(room, r, sizeof r);
    pgt_mx_check_ok(call("POST", u->token, &st, "{}", "/_matrix/client/v3/rooms/%s/join", path_room), &st);
}

static void receipt(const pgt_mx_login *u, const char *room, const char *type, const char *event_id)
{
    long st;
    char r[512], e[512];
    pgt_mx_check_ok(call("POST", u->token, &st, "{}", "/_matrix/client/v3/rooms/%s/receipt/%s/%s",
                         pgt_mx_enc(room, r, sizeof r), type, pgt_mx_enc(event_id, e, sizeof e)),
                    &st);
}

/* GET /sync with an optional since token and extra query. */
static json_t *do_sync(const pgt_mx_login *u, const char *since, const char *extra)
{
    long st;
    char s[512];
    json_t *j = call("GET", u->token, &st, NULL, "/_matrix/client/v3/sync?%s%s%s", since ? "since=" : "",
                     since ? pgt_mx_enc(since, s, sizeof s) : "", extra ? extra : "");
    cr_assert_eq(st, 200, "sync answered %ld", st);
    return j;
}

static const char *next_batch(const json_t *j)
{
    return json_string_value(json_object_get(j, "next_batch"));
}

/* Asserts the room's unread_notifications in sync answer `s`. */
static void expect_counts(const json_t *s, const char *room, long notes, long highlights, const char *when)
{
    json_t *jr = json_object_get(json_object_get(json_object_get(s, "rooms"), "join"), room);
    cr_assert_not_null(jr, "%s: the room is in the sync", when);
    json_t *u = json_object_get(jr, "unread_notifications");
    json_int_t n = json_integer_value(json_object_get(u, "notification_count"));
    json_int_t h = json_integer_value(json_object_get(u, "highlight_count"));
    cr_assert(json_is_integer(json_object_get(u, "notification_count")), "%s: notification_count present", when);
    cr_assert_eq(n, notes, "%s: notification_count %lld, want %ld", when, (long long)n, notes);
    cr_assert_eq(h, highlights, "%s: highlight_count %lld, want %ld", when, (long long)h, highlights);
}

static void set_display_name(const pgt_mx_login *u, const char *name)
{
    long st;
    char id[300], body[300];
    snprintf(body, sizeof body, "{\"displayname\":\"%s\"}", name);
    pgt_mx_check_ok(call("PUT", u->token, &st, body, "/_matrix/client/v3/profile/%s/displayname",
                         pgt_mx_enc(u->user_id, id, sizeof id)),
                    &st);
}

Test(hs_unread, messages_count_until_read_and_mentions_highlight)
{
    pgt_mx_login a = reg("alice"), b = reg("bob");
    set_display_name(&a, "Alice Liddell");
    char *room = pgt_mx_create_room(hs.base, &a, "{\"preset\":\"public_chat\"}");
    join(&b, room);
    json_t *s0 = do_sync(&a, NULL, NULL);
    expect_counts(s0, room, 0, 0, "before any message");

    char *e1 = pgt_mx_send_text(hs.base, &b, room, "first");
    char *e2 = pgt_mx_send_text(hs.base, &b, room, "second");
    char *e3 = pgt_mx_send_text(hs.base, &b, room, "are you there, Alice Liddell?");
    free(pgt_mx_send_text(hs.base, &a, room, "my own words"));
    json_t *s1 = do_sync(&a, next_batch(s0), NULL);
    expect_counts(s1, room, 3, 1, "three from bob, one a mention, one of alice's own");
    json_t *full = do_sync(&a, NULL, NULL);
    expect_counts(full, room, 3, 1, "initial sync after the messages");
    json_t *bob = do_sync(&b, NULL, NULL);
    expect_counts(bob, room, 1, 0, "bob counts alice's message after his join, not his own");

    receipt(&a, room, "m.read", e2);
    json_t *s2 = do_sync(&a, next_batch(s1), NULL);
    expect_counts(s2, room, 1, 1, "read up to the second: the mention is left");

    /* The private receipt is later than the public one, so it wins; a filter hiding
     * receipts must not hide the changed counts. */
    receipt(&a, room, "m.read.private", e3);
    json_t *s3 = do_sync(&a, next_batch(s2),
                         "&filter=%7B%22room%22%3A%7B%22ephemeral%22%3A%7B%22not_types%22%3A%5B%22*%22%5D%7D%7D%7D");
    expect_counts(s3, room, 0, 0, "private receipt on the last");

    /* An older public receipt does not move the read position back. */
    receipt(&a, room, "m.read", e1);
    json_t *s4 = do_sync(&a, NULL, NULL);
    expect_counts(s4, room, 0, 0, "older public receipt after a later private one");

    free(pgt_mx_send_text(hs.base, &b, room, "fourth"));
    json_t *s5 = do_sync(&a, next_batch(s3), NULL);
    expect_counts(s5, room, 1, 0, "a new message after the receipt");

    json_decref(s0);
    json_decref(s1);
    json_decref(full);
    json_decref(bob);
    json_decref(s2);
    json_decref(s3);
    json_decref(s4);
    json_decref(s5);
    free(e1);
    free(e2);
    free(e3);
    free(room);
}

Test(hs_unread, a_room_muted_by_a_push_rule_counts_nothing)
{
    pgt_mx_login a = reg("alice"), b = reg("bob");
    char *muted = pgt_mx_create_room(hs.base, &a, "{\"preset\":\"public_chat\"}");
    char *loud = pgt_mx_create_room(hs.base, &a, "{\"preset\":\"public_chat\"}");
    join(&b, muted);
    join(&b, loud);
    long st;
    char r[512];
    pgt_mx_check_ok(call("PUT", a.token, &st, "{\"actions\":[]}", "/_matrix/client/v3/pushrules/global/room/%s",
                         pgt_mx_enc(muted, r, sizeof r)),
                    &st);
    for (int i = 0; i < 2; i++) {
        free(pgt_mx_send_text(hs.base, &b, muted, "hush"));
        free(pgt_mx_send_text(hs.base, &b, loud, "hello"));
    }
    json_t *s = do_sync(&a, NULL, NULL);
    expect_counts(s, muted, 0, 0, "muted room");
    expect_counts(s, loud, 2, 0, "the other room");
    pgt_mx_check_ok(call("PUT", a.token, &st, "{\"actions\":[\"dont_notify\"]}",
                         "/_matrix/client/v3/pushrules/global/room/%s", r),
                    &st);
    json_t *s2 = do_sync(&a, NULL, NULL);
    expect_counts(s2, muted, 0, 0, "muted with dont_notify");
    json_decref(s);
    json_decref(s2);
    free(muted);
    free(loud);
}

Test(hs_unread, a_long_unread_room_counts_its_newest_events_only)
{
    pgt_mx_login a = reg("alice"), b = reg("bob");
    set_display_name(&a, "Alice Liddell");
    char *room = pgt_mx_create_room(hs.base, &a, "{\"preset\":\"public_chat\"}");
    join(&b, room);
    /* the oldest message mentions alice; the newest HS_PUSH_UNREAD_SCAN do not */
    free(pgt_mx_send_text(hs.base, &b, room, "Alice Liddell, the oldest"));
    for (int i = 0; i < HS_PUSH_UNREAD_SCAN + 1; i++) free(pgt_mx_send_text(hs.base, &b, room, "more"));
    json_t *s = do_sync(&a, NULL, "&filter=%7B%22room%22%3A%7B%22timeline%22%3A%7B%22limit%22%3A1%7D%7D%7D");
    expect_counts(s, room, HS_PUSH_UNREAD_SCAN, 0, "a room with more unread events than the scan cap");
    json_decref(s);
    free(room);
}
