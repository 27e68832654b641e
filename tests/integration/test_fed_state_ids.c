/* Bridging a large gap with /state_ids across two real pinegate processes (loopback
 * HTTPS, --dev configs): bob on B is in alice's room on A; B is stopped while A sends a
 * topic change and 30 messages; A then sends one more, and its queue is cut to that
 * last event (what a sender that only sends its latest event after an outage leaves B
 * with). B cannot fetch 30 events with get_missing_events, so it asks A for the state
 * before the event: with /state_ids, taking what it holds from its own store and only
 * the missing topic with /event - never the whole state with /state (A's /metrics
 * counts the requests it answered, by route). B accepts the event and ends with the
 * same room state as A. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <unistd.h>

#include "support/pgt.h"
#include "support/pgt_fed.h"
#include "support/pgt_matrix.h"

static pgt_fed_node A, B;

static void start(void)
{
    pgt_fed_make(&A);
    pgt_fed_make(&B);
}

static void stop(void)
{
    pgt_fed_destroy(&A);
    pgt_fed_destroy(&B);
}

TestSuite(fed_state_ids, .init = start, .fini = stop, .timeout = 240);

static void send_text(const pgt_fed_node *n, const pgt_mx_login *u, const char *room, const char *text, int txn)
{
    char body[256], enc[512];
    snprintf(body, sizeof body, "{\"msgtype\":\"m.text\",\"body\":\"%s\"}", text);
    long st;
    pgt_mx_check_ok(pgt_mx_callf(n->base, "PUT", u->token, &st, body,
                                 "/_matrix/client/v3/rooms/%s/send/m.room.message/t%d",
                                 pgt_mx_enc(room, enc, sizeof enc), txn),
                    &st);
}

/* Whether `text` shows in the latest 50 events of /messages for `u` on `n`. */
static bool sees(const pgt_fed_node *n, const pgt_mx_login *u, const char *room, const char *text)
{
    char enc[512];
    long st;
    json_t *r = pgt_mx_callf(n->base, "GET", u->token, &st, NULL, "/_matrix/client/v3/rooms/%s/messages?dir=b&limit=50",
                             pgt_mx_enc(room, enc, sizeof enc));
    bool found = false;
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(r, "chunk"), i, ev) {
        const char *body = json_string_value(json_object_get(json_object_get(ev, "content"), "body"));
        found |= body && strcmp(body, text) == 0;
    }
    json_decref(r);
    return found;
}

static bool eventually_sees(const pgt_fed_node *n, const pgt_mx_login *u, const char *room, const char *text, int ms)
{
    for (int waited = 0; waited <= ms; waited += 200) {
        if (sees(n, u, room, text)) return true;
        usleep(200 * 1000);
    }
    return false;
}

/* The room's current state on `n` as "type|state_key" -> event ID. */
static json_t *state_of(const pgt_fed_node *n, const pgt_mx_login *u, const char *room)
{
    char enc[512];
    long st;
    json_t *r = pgt_mx_callf(n->base, "GET", u->token, &st, NULL, "/_matrix/client/v3/rooms/%s/state",
                             pgt_mx_enc(room, enc, sizeof enc));
    cr_assert_eq(st, 200, "state on %s: %ld", n->name, st);
    json_t *out = json_object();
    size_t i;
    json_t *ev;
    json_array_foreach(r, i, ev) {
        char key[512];
        snprintf(key, sizeof key, "%s|%s", json_string_value(json_object_get(ev, "type")),
                 json_string_value(json_object_get(ev, "state_key")));
        json_object_set(out, key, json_object_get(ev, "event_id"));
    }
    json_decref(r);
    return out;
}

/* Requests of federation route `route` that `n` answered with a 2xx since it started. */
static long answered(const pgt_fed_node *n, const char *route)
{
    char url[256], needle[256];
    snprintf(url, sizeof url, "%s/metrics", n->base);
    pgt_http r = pgt_http_do(url, &(pgt_req){0});
    cr_assert_eq(r.status, 200, "metrics on %s: %ld %s", n->name, r.status, r.error);
    snprintf(needle, sizeof needle, "pinegate_http_requests_total{listener=\"federation\",route=\"%s\",code=\"2xx\"} ",
             route);
    const char *at = strstr(r.body, needle);
    long count = at ? strtol(at + strlen(needle), NULL, 10) : 0;
    pgt_http_free(&r);
    return count;
}

Test(fed_state_ids, a_large_gap_is_bridged_with_state_ids_fetching_only_what_is_missing)
{
    pgt_mx_login alice, bob;
    cr_assert_eq(pgt_mx_register(A.base, "alice", "pw-alice-1", &alice), 0);
    cr_assert_eq(pgt_mx_register(B.base, "bob", "pw-bob-1", &bob), 0);
    char *room = pgt_mx_create_room(A.base, &alice,
                                    "{\"preset\":\"public_chat\",\"room_alias_name\":\"gap\",\"name\":\"Gap\"}");
    char alias[128], enc[512];
    snprintf(alias, sizeof alias, "#gap:%s", A.name);
    long st;
    pgt_mx_check_ok(pgt_mx_callf(B.base, "POST", bob.token, &st, "{}", "/_matrix/client/v3/join/%s",
                                 pgt_mx_enc(alias, enc, sizeof enc)),
                    &st);
    send_text(&A, &alice, room, "before the gap", 1);
    cr_assert(eventually_sees(&B, &bob, room, "before the gap", 15000));

    cr_assert_eq(pgt_stop(&B.proc, SIGTERM, 20000), 0);
    pgt_mx_check_ok(pgt_mx_callf(A.base, "PUT", alice.token, &st, "{\"topic\":\"set while B was away\"}",
                                 "/_matrix/client/v3/rooms/%s/state/m.room.topic", pgt_mx_enc(room, enc, sizeof enc)),
                    &st);
    for (int i = 0; i < 30; i++) {
        char text[32];
        snprintf(text, sizeof text, "missed %d", i);
        send_text(&A, &alice, room, text, 10 + i);
    }
    send_text(&A, &alice, room, "after the gap", 100);
    cr_assert_eq(pgt_stop(&A.proc, SIGTERM, 20000), 0);
    pgt_fed_queue_keep_latest(&A, &B);
    pgt_fed_serve(&A); /* A's counters start from zero here */
    pgt_fed_serve(&B);
    cr_assert(eventually_sees(&B, &bob, room, "after the gap", 60000), "B never accepted the event after the gap");

    json_t *on_a = state_of(&A, &alice, room), *on_b = state_of(&B, &bob, room);
    cr_assert(json_equal(on_a, on_b), "A: %s\nB: %s", json_dumps(on_a, JSON_SORT_KEYS),
              json_dumps(on_b, JSON_SORT_KEYS));
    cr_assert_not_null(json_object_get(on_b, "m.room.topic|"));
    json_decref(on_a);
    json_decref(on_b);
    json_t *topic = pgt_mx_callf(B.base, "GET", bob.token, &st, NULL, "/_matrix/client/v3/rooms/%s/state/m.room.topic",
                                 pgt_mx_enc(room, enc, sizeof enc));
    cr_assert_eq(st, 200);
    cr_assert_str_eq(json_string_value(json_object_get(topic, "topic")), "set while B was away");
    json_decref(topic);

    /* How B got that state: from /state_ids and /event, not /state. */
    cr_assert_geq(answered(&A, "/_matrix/federation/v1/state_ids/{roomId}"), 1, "B never asked /state_ids");
    cr_assert_geq(answered(&A, "/_matrix/federation/v1/event/{eventId}"), 1, "B never fetched the missing topic");
    cr_assert_eq(answered(&A, "/_matrix/federation/v1/state/{roomId}"), 0, "B asked for the whole state");

    send_text(&B, &bob, room, "bob after the gap", 5);
    cr_assert(eventually_sees(&A, &alice, room, "bob after the gap", 15000));
    free(room);
}
