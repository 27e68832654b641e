/* What the first /sync of a room shows of the history before the user's join: the
 * room's history visibility decides, event by event, as /messages does. With
 * "shared" a newcomer's first timeline holds the messages sent before they joined;
 * with "joined" it holds none of them (only their own join and what follows), and
 * an incremental sync that brings the join behaves the same. Real hs_server on
 * loopback. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_server.h"
#include "server-core/hs_store_sync.h"
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

TestSuite(hs_sync_history, .init = start, .fini = stop, .timeout = 60);

/* The bodies of the m.room.message events of a sync's timeline for room, joined by
 * spaces ("" when none). */
static const char *bodies(const json_t *sync, const char *room)
{
    static char out[1024];
    out[0] = '\0';
    json_t *events = json_object_get(
        json_object_get(json_object_get(json_object_get(json_object_get(sync, "rooms"), "join"), room), "timeline"),
        "events");
    cr_assert(json_is_array(events), "room %s not in the sync", room);
    size_t i;
    json_t *e;
    json_array_foreach(events, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "type")), "m.room.message") != 0) continue;
        const char *b = json_string_value(json_object_get(json_object_get(e, "content"), "body"));
        snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s", out[0] ? " " : "", b);
    }
    return out;
}

static json_t *sync(const pgt_mx_login *u, const char *since)
{
    long st;
    char s[512];
    json_t *j = pgt_mx_callf(hs.base, "GET", u->token, &st, NULL, "/_matrix/client/v3/sync?timeout=0%s%s",
                             since ? "&since=" : "", since ? pgt_mx_enc(since, s, sizeof s) : "");
    cr_assert_eq(st, 200);
    return j;
}

/* alice's public room with history_visibility `vis` and two messages; bob joins after
 * them and says something. Returns the room ID (caller frees). */
static char *room_with_history(const pgt_mx_login *alice, const pgt_mx_login *bob, const char *vis)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"preset\":\"public_chat\",\"initial_state\":[{\"type\":\"m.room.history_visibility\","
             "\"state_key\":\"\",\"content\":{\"history_visibility\":\"%s\"}}]}",
             vis);
    char *room = pgt_mx_create_room(hs.base, alice, body);
    free(pgt_mx_send_text(hs.base, alice, room, "before-1"));
    free(pgt_mx_send_text(hs.base, alice, room, "before-2"));
    long st;
    char r[512];
    pgt_mx_check_ok(pgt_mx_callf(hs.base, "POST", bob->token, &st, "{}", "/_matrix/client/v3/rooms/%s/join",
                                 pgt_mx_enc(room, r, sizeof r)),
                    &st);
    free(pgt_mx_send_text(hs.base, bob, room, "after"));
    return room;
}

Test(hs_sync_history, shared_history_is_in_a_newcomers_first_sync)
{
    pgt_mx_login alice = pgt_mx_must_register(hs.base, "alice", "pw-alice-1");
    pgt_mx_login bob = pgt_mx_must_register(hs.base, "bob", "pw-bob-1");
    char *room = room_with_history(&alice, &bob, "shared");
    json_t *j = sync(&bob, NULL);
    cr_assert_str_eq(bodies(j, room), "before-1 before-2 after");
    json_decref(j);
    free(room);
}

Test(hs_sync_history, joined_only_history_is_not)
{
    pgt_mx_login alice = pgt_mx_must_register(hs.base, "alice", "pw-alice-1");
    pgt_mx_login bob = pgt_mx_must_register(hs.base, "bob", "pw-bob-1");
    json_t *first = sync(&bob, NULL);
    char since[512];
    snprintf(since, sizeof since, "%s", json_string_value(json_object_get(first, "next_batch")));
    json_decref(first);
    char *room = room_with_history(&alice, &bob, "joined");
    json_t *j = sync(&bob, NULL);
    cr_assert_str_eq(bodies(j, room), "after", "initial sync");
    json_decref(j);
    j = sync(&bob, since);
    cr_assert_str_eq(bodies(j, room), "after", "incremental sync bringing the join");
    json_decref(j);
    j = sync(&alice, NULL);
    cr_assert_str_eq(bodies(j, room), "before-1 before-2 after", "alice was there all along");
    json_decref(j);
    free(room);
}

/* A filter stored before the wildcard limit (HS_FILTER_MAX_WILDCARDS) existed cannot be
 * used any more: the client is told to upload a valid one (400), not that the server
 * broke (500). */
Test(hs_sync_history, a_stored_filter_past_todays_limits_is_the_clients_to_fix)
{
    pgt_mx_login bob = pgt_mx_must_register(hs.base, "bob", "pw-bob-1");
    char f[4096] = "{\"room\":{\"timeline\":{\"types\":[";
    for (int i = 0; i < 40; i++) snprintf(f + strlen(f), sizeof f - strlen(f), "%s\"t%d.*\"", i ? "," : "", i);
    strcat(f, "]}}}");
    int64_t id;
    cr_assert_eq(hs_store_filter_put(hs.srv.store, bob.user_id, f, &id), 0);
    long st;
    json_t *j = pgt_mx_callf(hs.base, "GET", bob.token, &st, NULL, "/_matrix/client/v3/sync?timeout=0&filter=%lld",
                             (long long)id);
    pgt_mx_check_error(j, &st, 400, "M_INVALID_PARAM");
}
