/* The text of a /sync answer, which hs_sync writes out room by room instead of dumping
 * one JSON tree of the whole answer: with several rooms in each of rooms.join, invite
 * and leave it must still be one well-formed object that reads exactly as jansson's
 * compact dump of itself (so clients see the same bytes a whole-tree dump gave), with
 * every room in its section and the sections after rooms intact. Real hs_server on
 * loopback, raw HTTP so the body is seen as sent.
 *
 * The memory this saves is measured by tests/bench/bench_hs_sync.c, not here: under
 * ASan freed memory sits in quarantine, so RSS says nothing about what is kept alive. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/pgt.h"
#include "support/pgt_hs.h"
#include "support/pgt_matrix.h"

static pgt_hs hs;

static void start(void)
{
    pgt_hs_start(&hs, "example.test", NULL);
}

static void stop(void)
{
    pgt_hs_stop(&hs);
}

TestSuite(hs_sync_text, .init = start, .fini = stop, .timeout = 60);

/* `who` does `action` (join, leave) in room, or invites `target` when action is "invite". */
static void act(const pgt_mx_login *who, const char *room, const char *action, const char *target)
{
    long st;
    char r[512], body[512];
    snprintf(body, sizeof body, target ? "{\"user_id\":\"%s\"}" : "{}", target);
    pgt_mx_check_ok(pgt_mx_callf(hs.base, "POST", who->token, &st, body, "/_matrix/client/v3/rooms/%s/%s",
                                 pgt_mx_enc(room, r, sizeof r), action),
                    &st);
}

Test(hs_sync_text, answer_with_rooms_in_every_section_is_one_canonical_object)
{
    pgt_mx_login alice = pgt_mx_must_register(hs.base, "alice", "pw-alice-1");
    pgt_mx_login bob = pgt_mx_must_register(hs.base, "bob", "pw-bob-1");
    char *joined[3], *invited[2], *left[2];
    for (int i = 0; i < 3; i++) {
        joined[i] = pgt_mx_create_room(hs.base, &alice, "{\"preset\":\"public_chat\"}");
        act(&bob, joined[i], "join", NULL);
        long st;
        char r[512];
        pgt_mx_check_ok(pgt_mx_callf(hs.base, "PUT", alice.token, &st,
                                     "{\"msgtype\":\"m.text\",\"body\":\"quote \\\" backslash \\\\ and é\"}",
                                     "/_matrix/client/v3/rooms/%s/send/m.room.message/t%d",
                                     pgt_mx_enc(joined[i], r, sizeof r), i),
                        &st);
    }
    for (int i = 0; i < 2; i++) {
        invited[i] = pgt_mx_create_room(hs.base, &alice, "{\"preset\":\"private_chat\"}");
        act(&alice, invited[i], "invite", bob.user_id);
        left[i] = pgt_mx_create_room(hs.base, &alice, "{\"preset\":\"public_chat\"}");
        act(&bob, left[i], "join", NULL);
        act(&bob, left[i], "leave", NULL);
    }

    char url[1024], f[256], auth[300];
    snprintf(url, sizeof url, "%s/_matrix/client/v3/sync?timeout=0&filter=%s", hs.base,
             pgt_mx_enc("{\"room\":{\"include_leave\":true}}", f, sizeof f));
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", bob.token);
    const char *headers[] = {auth, NULL};
    pgt_http r = pgt_http_do(url, &(pgt_req){.headers = headers});
    cr_assert_eq(r.status, 200, "sync: %ld %s", r.status, r.body);
    json_error_t err;
    json_t *j = json_loadb(r.body, r.body_len, 0, &err);
    cr_assert(j, "the answer is not JSON: %s at %d", err.text, err.position);
    char *again = json_dumps(j, JSON_COMPACT);
    cr_assert(again && strlen(again) == r.body_len && memcmp(again, r.body, r.body_len) == 0,
              "the answer is not jansson's compact text of itself:\n%s\n%s", r.body, again);
    free(again);

    json_t *rooms = json_object_get(j, "rooms");
    json_t *join = json_object_get(rooms, "join"), *invite = json_object_get(rooms, "invite"),
           *leave = json_object_get(rooms, "leave");
    cr_assert_eq(json_object_size(join), 3);
    cr_assert_eq(json_object_size(invite), 2);
    cr_assert_eq(json_object_size(leave), 2);
    cr_assert(json_is_object(json_object_get(rooms, "knock")));
    cr_assert_eq(json_object_size(json_object_get(rooms, "knock")), 0);
    for (int i = 0; i < 3; i++) {
        json_t *events = json_object_get(json_object_get(json_object_get(join, joined[i]), "timeline"), "events");
        json_t *last = json_array_get(events, json_array_size(events) - 1);
        cr_assert_str_eq(json_string_value(json_object_get(json_object_get(last, "content"), "body")),
                         "quote \" backslash \\ and é", "room %s", joined[i]);
        free(joined[i]);
    }
    for (int i = 0; i < 2; i++) {
        cr_assert(json_is_array(json_object_get(json_object_get(json_object_get(invite, invited[i]), "invite_state"),
                                                "events")));
        cr_assert(json_is_object(json_object_get(leave, left[i])), "left room %s missing", left[i]);
        free(invited[i]);
        free(left[i]);
    }
    /* the sections written after rooms */
    cr_assert(json_is_string(json_object_get(j, "next_batch")));
    json_t *global = json_object_get(json_object_get(j, "account_data"), "events");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(global, 0), "type")), "m.push_rules");
    cr_assert(json_is_array(json_object_get(json_object_get(j, "presence"), "events")));
    cr_assert(json_is_array(json_object_get(json_object_get(j, "to_device"), "events")));
    cr_assert(json_is_array(json_object_get(json_object_get(j, "device_lists"), "changed")));
    cr_assert(json_is_object(json_object_get(j, "device_one_time_keys_count")));
    cr_assert(json_is_array(json_object_get(j, "device_unused_fallback_key_types")));
    json_decref(j);
    pgt_http_free(&r);
}
