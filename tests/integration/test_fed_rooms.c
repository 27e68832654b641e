/* Rooms across two real pinegate processes over loopback HTTPS (localhost:PORT_A and
 * localhost:PORT_B, --dev configs, self-signed certificates): alice on A creates a
 * public room with an alias; bob on B joins it by that alias (query/directory,
 * make_join, send_join, the returned state and auth chain checked, the room created on
 * B); both post and each sees the other's messages through /messages on its own server;
 * then B is stopped, alice posts, B is started again on the same data, and A's queue
 * delivers what B missed; a read receipt crosses as an m.receipt EDU. Invites to B's
 * users (one accepted by joining, one rejected by make_leave/send_leave); a conflict
 * made while the servers were apart resolves identically on both. Also: the read
 * endpoints refuse a server with no member in the room, make_join only for the
 * requester's own users and room versions, a forged PDU gets a per-PDU error, a retried
 * transaction ID the recorded answer, an oversized transaction 400. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <unistd.h>

#include "support/pgt.h"
#include "support/pgt_fed.h"
#include "support/pgt_matrix.h"

typedef pgt_fed_node node;

PGT_FED_SUITE_AB(fed_rooms, 240);

static char *enc(const char *s)
{
    static char buf[4][512];
    static int k;
    char *o = buf[k++ & 3], *p = o;
    for (; *s; s++) {
        if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || strchr("-._~", *s))
            *p++ = *s;
        else p += sprintf(p, "%%%02X", (unsigned char)*s);
    }
    *p = 0;
    return o;
}

static json_t *call(const node *n, const char *method, const char *token, const char *body, long *status,
                    const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static json_t *call(const node *n, const char *method, const char *token, const char *body, long *status,
                    const char *fmt, ...)
{
    char path[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    return pgt_mx_call(n->base, method, path, token, body, status);
}

static void send_text(const node *n, const pgt_mx_login *u, const char *room, const char *text, int txn)
{
    char body[256];
    snprintf(body, sizeof body, "{\"msgtype\":\"m.text\",\"body\":\"%s\"}", text);
    long st;
    json_t *r = call(n, "PUT", u->token, body, &st, "/_matrix/client/v3/rooms/%s/send/m.room.message/t%d", enc(room),
                     txn);
    cr_assert_eq(st, 200, "send on %s: %ld %s", n->name, st, json_dumps(r, 0));
    json_decref(r);
}

/* A room on A with alias #hall:A, and bob of B joined through it. */
static void joined_room(pgt_mx_login *alice, pgt_mx_login *bob, char *room, size_t room_len)
{
    cr_assert_eq(pgt_mx_register(A.base, "alice", "pw-alice-1", alice), 0);
    cr_assert_eq(pgt_mx_register(B.base, "bob", "pw-bob-1", bob), 0);
    long st;
    json_t *r = call(&A, "POST", alice->token, "{\"preset\":\"public_chat\",\"room_alias_name\":\"hall\",\"name\":\"Hall\"}",
                     &st, "/_matrix/client/v3/createRoom");
    cr_assert_eq(st, 200, "createRoom: %s", json_dumps(r, 0));
    snprintf(room, room_len, "%s", json_string_value(json_object_get(r, "room_id")));
    json_decref(r);
    char alias[128];
    snprintf(alias, sizeof alias, "#hall:%s", A.name);
    r = call(&B, "POST", bob->token, "{}", &st, "/_matrix/client/v3/join/%s", enc(alias));
    cr_assert_eq(st, 200, "join by alias on B: %ld %s", st, json_dumps(r, 0));
    cr_assert_str_eq(json_string_value(json_object_get(r, "room_id")), room);
    json_decref(r);
}

static bool sync_lists(const node *n, const pgt_mx_login *u, const char *section, const char *room);

/* Whether `text` is in the timeline of `room` in `u`'s initial /sync on `n`. */
static bool sync_has(const node *n, const pgt_mx_login *u, const char *room, const char *text)
{
    long st;
    json_t *r = call(n, "GET", u->token, NULL, &st, "/_matrix/client/v3/sync?timeout=0");
    json_t *tl = json_object_get(json_object_get(json_object_get(json_object_get(json_object_get(r, "rooms"), "join"),
                                                                 room), "timeline"), "events");
    bool found = false;
    size_t i;
    json_t *ev;
    json_array_foreach(tl, i, ev) {
        const char *body = json_string_value(json_object_get(json_object_get(ev, "content"), "body"));
        found |= body && strcmp(body, text) == 0;
    }
    json_decref(r);
    return found;
}

/* The ID of the event with body `text` in the latest 50 of `room` on `n`. */
static void event_id_of(const node *n, const pgt_mx_login *u, const char *room, const char *text, char *out,
                        size_t len)
{
    long st;
    json_t *r = call(n, "GET", u->token, NULL, &st, "/_matrix/client/v3/rooms/%s/messages?dir=b&limit=50", enc(room));
    out[0] = 0;
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(r, "chunk"), i, ev) {
        const char *body = json_string_value(json_object_get(json_object_get(ev, "content"), "body"));
        if (body && strcmp(body, text) == 0)
            snprintf(out, len, "%s", json_string_value(json_object_get(ev, "event_id")));
    }
    json_decref(r);
}

/* Whether `u`'s /sync on `n` shows `reader`'s m.read receipt on event_id in `room`. */
static bool sync_has_receipt(const node *n, const pgt_mx_login *u, const char *room, const char *event_id,
                             const char *reader)
{
    long st;
    json_t *r = call(n, "GET", u->token, NULL, &st, "/_matrix/client/v3/sync?timeout=0");
    json_t *eph = json_object_get(json_object_get(json_object_get(json_object_get(json_object_get(r, "rooms"), "join"),
                                                                  room), "ephemeral"), "events");
    bool found = false;
    size_t i;
    json_t *ev;
    json_array_foreach(eph, i, ev) {
        json_t *reads = json_object_get(json_object_get(json_object_get(ev, "content"), event_id), "m.read");
        found |= json_object_get(reads, reader) != NULL;
    }
    json_decref(r);
    return found;
}

Test(fed_rooms, join_by_alias_exchange_messages_and_catch_up_after_restart)
{
    pgt_mx_login alice, bob;
    char room[256];
    joined_room(&alice, &bob, room, sizeof room);

    /* B holds the room's state: its name came with the join. */
    long st;
    json_t *r = call(&B, "GET", bob.token, NULL, &st, "/_matrix/client/v3/rooms/%s/state/m.room.name", enc(room));
    cr_assert_eq(st, 200, "%s", json_dumps(r, 0));
    cr_assert_str_eq(json_string_value(json_object_get(r, "name")), "Hall");
    json_decref(r);
    /* A learns of bob's join (it was sent to A) and lists him. */
    r = call(&A, "GET", alice.token, NULL, &st, "/_matrix/client/v3/rooms/%s/joined_members", enc(room));
    cr_assert_eq(st, 200);
    cr_assert_not_null(json_object_get(json_object_get(r, "joined"), bob.user_id), "%s", json_dumps(r, 0));
    /* ...by his name: the join carries his profile, as a local join does. */
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(r, "joined"), bob.user_id),
                                                       "display_name")),
                     "bob", "%s", json_dumps(r, 0));
    json_decref(r);

    send_text(&A, &alice, room, "hello from A", 1);
    cr_assert(pgt_fed_wait_message(&B, &bob, room, "hello from A", 15000), "B never got A's message");
    send_text(&B, &bob, room, "hello from B", 1);
    cr_assert(pgt_fed_wait_message(&A, &alice, room, "hello from B", 15000), "A never got B's message");
    cr_assert(pgt_fed_sees_message(&B, &bob, room, "hello from B"));
    /* /sync on both sides shows the room with the other server's message. */
    cr_assert(sync_lists(&B, &bob, "join", room));
    cr_assert(sync_has(&B, &bob, room, "hello from A"));
    cr_assert(sync_has(&A, &alice, room, "hello from B"));
    /* bob's read receipt on A's message reaches A as an m.receipt EDU. */
    char eid[128];
    event_id_of(&B, &bob, room, "hello from A", eid, sizeof eid);
    cr_assert(eid[0]);
    r = call(&B, "POST", bob.token, "{}", &st, "/_matrix/client/v3/rooms/%s/receipt/m.read/%s", enc(room), enc(eid));
    cr_assert_eq(st, 200, "%s", json_dumps(r, 0));
    json_decref(r);
    bool receipt = false;
    for (int i = 0; i < 75 && !receipt; i++) {
        receipt = sync_has_receipt(&A, &alice, room, eid, bob.user_id);
        if (!receipt) usleep(200 * 1000);
    }
    cr_assert(receipt, "bob's receipt never showed on A");

    /* B goes down; A keeps talking; B comes back on the same data and catches up. */
    cr_assert_eq(pgt_stop(&B.proc, SIGTERM, 20000), 0);
    send_text(&A, &alice, room, "while B was away 1", 2);
    send_text(&A, &alice, room, "while B was away 2", 3);
    usleep(1500 * 1000); /* at least one delivery attempt fails and backs off */
    pgt_fed_serve(&B);
    cr_assert(pgt_fed_wait_message(&B, &bob, room, "while B was away 1", 60000), "B did not catch up");
    cr_assert(pgt_fed_wait_message(&B, &bob, room, "while B was away 2", 5000));
    /* And the room still works both ways. */
    send_text(&B, &bob, room, "back on B", 2);
    cr_assert(pgt_fed_wait_message(&A, &alice, room, "back on B", 15000));
}

Test(fed_rooms, read_endpoints_need_a_member_and_transactions_are_idempotent)
{
    pgt_mx_login alice;
    cr_assert_eq(pgt_mx_register(A.base, "alice", "pw-alice-1", &alice), 0);
    long st;
    json_t *r = call(&A, "POST", alice.token, "{\"preset\":\"public_chat\"}", &st, "/_matrix/client/v3/createRoom");
    cr_assert_eq(st, 200);
    char room[256], uri[600];
    snprintf(room, sizeof room, "%s", json_string_value(json_object_get(r, "room_id")));
    json_decref(r);
    r = call(&A, "GET", alice.token, NULL, &st, "/_matrix/client/v3/rooms/%s/state/m.room.create", enc(room));
    json_decref(r);

    /* B has no member in the room: no state, no backfill. */
    json_t *ans;
    snprintf(uri, sizeof uri, "/_matrix/federation/v1/backfill/%s?v=%s&limit=5", enc(room), enc("$x"));
    cr_assert_eq(pgt_fed_call_as(&B, &A, true, "GET", uri, NULL, &ans), 403, "%s", json_dumps(ans, 0));
    json_decref(ans);
    /* make_join answers a template for B's own users only. */
    char user[128];
    snprintf(user, sizeof user, "@carol:%s", B.name);
    snprintf(uri, sizeof uri, "/_matrix/federation/v1/make_join/%s/%s?ver=10", enc(room), enc(user));
    cr_assert_eq(pgt_fed_call_as(&B, &A, true, "GET", uri, NULL, &ans), 200, "%s", json_dumps(ans, 0));
    cr_assert_str_eq(json_string_value(json_object_get(ans, "room_version")), "10");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(ans, "event"), "state_key")), user);
    json_decref(ans);
    snprintf(uri, sizeof uri, "/_matrix/federation/v1/make_join/%s/%s?ver=10", enc(room), enc(alice.user_id));
    cr_assert_eq(pgt_fed_call_as(&B, &A, true, "GET", uri, NULL, &ans), 403);
    json_decref(ans);
    snprintf(uri, sizeof uri, "/_matrix/federation/v1/make_join/%s/%s?ver=1", enc(room), enc(user));
    cr_assert_eq(pgt_fed_call_as(&B, &A, true, "GET", uri, NULL, &ans), 400, "%s", json_dumps(ans, 0));
    cr_assert_str_eq(json_string_value(json_object_get(ans, "errcode")), "M_INCOMPATIBLE_ROOM_VERSION");
    json_decref(ans);

    /* A forged PDU (not signed by B) gets a per-PDU error; a retry of the transaction ID
     * gets the same answer. */
    char body[1024];
    snprintf(body, sizeof body,
             "{\"origin\":\"%s\",\"origin_server_ts\":1,\"pdus\":[{\"type\":\"m.room.message\",\"room_id\":\"%s\","
             "\"sender\":\"%s\",\"content\":{\"body\":\"x\"},\"depth\":5,\"prev_events\":[],\"auth_events\":[],"
             "\"origin_server_ts\":1,\"hashes\":{\"sha256\":\"aaaa\"},\"signatures\":{}}]}",
             B.name, room, user);
    cr_assert_eq(pgt_fed_call_as(&B, &A, true, "PUT", "/_matrix/federation/v1/send/t1", body, &ans), 200, "%s",
                 json_dumps(ans, 0));
    char *first = json_dumps(ans, JSON_SORT_KEYS);
    const char *k;
    json_t *v;
    int n = 0;
    json_object_foreach(json_object_get(ans, "pdus"), k, v) {
        cr_assert_not_null(json_object_get(v, "error"), "%s", first);
        n++;
    }
    cr_assert_eq(n, 1, "%s", first);
    json_decref(ans);
    cr_assert_eq(pgt_fed_call_as(&B, &A, true, "PUT", "/_matrix/federation/v1/send/t1", body, &ans), 200);
    char *second = json_dumps(ans, JSON_SORT_KEYS);
    cr_assert_str_eq(first, second);
    free(first);
    free(second);
    json_decref(ans);
    /* Too many PDUs in one transaction. */
    json_t *big = json_pack("{sss[]}", "origin", B.name, "pdus");
    for (int i = 0; i < 51; i++) json_array_append_new(json_object_get(big, "pdus"), json_object());
    char *bigtext = json_dumps(big, JSON_COMPACT);
    cr_assert_eq(pgt_fed_call_as(&B, &A, true, "PUT", "/_matrix/federation/v1/send/t2", bigtext, &ans), 400);
    free(bigtext);
    json_decref(big);
    json_decref(ans);

    /* A walk back (get_missing_events, backfill) may start from a bounded number of
     * events: each is looked up. */
    json_t *walk = json_pack("{s[]s[]si}", "latest_events", "earliest_events", "limit", 10);
    for (int i = 0; i < 101; i++) json_array_append_new(json_object_get(walk, "latest_events"), json_string("$x"));
    char *walktext = json_dumps(walk, JSON_COMPACT);
    snprintf(uri, sizeof uri, "/_matrix/federation/v1/get_missing_events/%s", enc(room));
    cr_assert_eq(pgt_fed_call_as(&B, &A, true, "POST", uri, walktext, &ans), 400, "%s", json_dumps(ans, 0));
    cr_assert_str_eq(json_string_value(json_object_get(ans, "errcode")), "M_BAD_JSON");
    json_decref(ans);
    free(walktext);
    json_decref(walk);
    char many[1400];
    size_t at = (size_t)snprintf(many, sizeof many, "/_matrix/federation/v1/backfill/%s?limit=5", enc(room));
    for (int i = 0; i < 101; i++) at += (size_t)snprintf(many + at, sizeof many - at, "&v=%%24x");
    cr_assert_lt(at, sizeof many);
    cr_assert_eq(pgt_fed_call_as(&B, &A, true, "GET", many, NULL, &ans), 400, "%s",
                 json_dumps(ans, 0)); /* HS_HTTP_MAX_QUERY */
    json_decref(ans);
}

static const char *membership_on(const node *n, const pgt_mx_login *u, const char *room, const char *user)
{
    static char out[32];
    long st;
    json_t *r = call(n, "GET", u->token, NULL, &st, "/_matrix/client/v3/rooms/%s/state/m.room.member/%s", enc(room),
                     enc(user));
    snprintf(out, sizeof out, "%s", st == 200 ? json_string_value(json_object_get(r, "membership")) : "");
    json_decref(r);
    return out;
}

/* Whether `u`'s initial /sync on `n` lists `room` in rooms.<section>. */
static bool sync_lists(const node *n, const pgt_mx_login *u, const char *section, const char *room)
{
    long st;
    json_t *r = call(n, "GET", u->token, NULL, &st, "/_matrix/client/v3/sync?timeout=0");
    bool found = json_object_get(json_object_get(json_object_get(r, "rooms"), section), room) != NULL;
    json_decref(r);
    return found;
}

Test(fed_rooms, invites_across_servers_accepted_and_rejected)
{
    pgt_mx_login alice, carol, dave;
    cr_assert_eq(pgt_mx_register(A.base, "alice", "pw-alice-1", &alice), 0);
    cr_assert_eq(pgt_mx_register(B.base, "carol", "pw-carol-1", &carol), 0);
    cr_assert_eq(pgt_mx_register(B.base, "dave", "pw-dave-1", &dave), 0);
    long st;
    json_t *r = call(&A, "POST", alice.token, "{\"preset\":\"private_chat\",\"name\":\"Secret\"}", &st,
                     "/_matrix/client/v3/createRoom");
    cr_assert_eq(st, 200);
    char room[256], body[300];
    snprintf(room, sizeof room, "%s", json_string_value(json_object_get(r, "room_id")));
    json_decref(r);
    /* Invite-only: without an invite B's users cannot get in. */
    r = call(&B, "POST", carol.token, "{}", &st, "/_matrix/client/v3/join/%s?server_name=%s", enc(room), enc(A.name));
    cr_assert_eq(st, 403, "%ld %s", st, json_dumps(r, 0));
    json_decref(r);

    snprintf(body, sizeof body, "{\"user_id\":\"%s\"}", carol.user_id);
    r = call(&A, "POST", alice.token, body, &st, "/_matrix/client/v3/rooms/%s/invite", enc(room));
    cr_assert_eq(st, 200, "%s", json_dumps(r, 0));
    json_decref(r);
    snprintf(body, sizeof body, "{\"user_id\":\"%s\"}", dave.user_id);
    r = call(&A, "POST", alice.token, body, &st, "/_matrix/client/v3/rooms/%s/invite", enc(room));
    cr_assert_eq(st, 200, "%s", json_dumps(r, 0));
    json_decref(r);

    /* The invites reach B (through A's queue) and show in /sync there. */
    bool seen = false;
    for (int i = 0; i < 100 && !seen; i++) {
        seen = sync_lists(&B, &carol, "invite", room) && sync_lists(&B, &dave, "invite", room);
        if (!seen) usleep(200 * 1000);
    }
    cr_assert(seen, "the invites never showed in B's /sync");

    /* dave rejects while B holds only the invites: make_leave/send_leave on A. */
    r = call(&B, "POST", dave.token, "{}", &st, "/_matrix/client/v3/rooms/%s/leave", enc(room));
    cr_assert_eq(st, 200, "reject: %s", json_dumps(r, 0));
    json_decref(r);
    cr_assert_str_eq(membership_on(&A, &alice, room, dave.user_id), "leave");
    cr_assert(!sync_lists(&B, &dave, "invite", room), "the rejected invite is still listed");

    /* carol accepts: a join by room ID through the inviting server. */
    r = call(&B, "POST", carol.token, "{}", &st, "/_matrix/client/v3/rooms/%s/join", enc(room));
    cr_assert_eq(st, 200, "join after invite: %s", json_dumps(r, 0));
    json_decref(r);
    cr_assert(sync_lists(&B, &carol, "join", room));
    cr_assert_str_eq(membership_on(&A, &alice, room, carol.user_id), "join");
    send_text(&B, &carol, room, "carol is in", 1);
    cr_assert(pgt_fed_wait_message(&A, &alice, room, "carol is in", 15000));
}

/* The event ID at (type, "") in `room` on `n`, through /state (its state event list). */
static void state_id(const node *n, const pgt_mx_login *u, const char *room, const char *type, char *out, size_t len)
{
    long st;
    json_t *r = call(n, "GET", u->token, NULL, &st, "/_matrix/client/v3/rooms/%s/state", enc(room));
    out[0] = 0;
    size_t i;
    json_t *ev;
    json_array_foreach(r, i, ev) {
        const char *t = json_string_value(json_object_get(ev, "type"));
        const char *sk = json_string_value(json_object_get(ev, "state_key"));
        if (t && sk && strcmp(t, type) == 0 && !sk[0])
            snprintf(out, len, "%s", json_string_value(json_object_get(ev, "event_id")));
    }
    json_decref(r);
}

static void put_state(const node *n, const pgt_mx_login *u, const char *room, const char *type, const char *body)
{
    long st;
    json_t *r = call(n, "PUT", u->token, body, &st, "/_matrix/client/v3/rooms/%s/state/%s", enc(room), type);
    cr_assert_eq(st, 200, "%s on %s: %s", type, n->name, json_dumps(r, 0));
    json_decref(r);
}

Test(fed_rooms, a_conflict_made_while_apart_resolves_identically_on_both_sides)
{
    pgt_mx_login alice, bob;
    cr_assert_eq(pgt_mx_register(A.base, "alice", "pw-alice-1", &alice), 0);
    cr_assert_eq(pgt_mx_register(B.base, "bob", "pw-bob-1", &bob), 0);
    char body[600], room[256], alias[128];
    snprintf(body, sizeof body,
             "{\"preset\":\"public_chat\",\"room_alias_name\":\"split\",\"power_level_content_override\":"
             "{\"users\":{\"%s\":100,\"%s\":100}}}",
             alice.user_id, bob.user_id);
    long st;
    json_t *r = call(&A, "POST", alice.token, body, &st, "/_matrix/client/v3/createRoom");
    cr_assert_eq(st, 200, "%s", json_dumps(r, 0));
    snprintf(room, sizeof room, "%s", json_string_value(json_object_get(r, "room_id")));
    json_decref(r);
    snprintf(alias, sizeof alias, "#split:%s", A.name);
    r = call(&B, "POST", bob.token, "{}", &st, "/_matrix/client/v3/join/%s", enc(alias));
    cr_assert_eq(st, 200, "%s", json_dumps(r, 0));
    json_decref(r);
    send_text(&A, &alice, room, "before the split", 1);
    cr_assert(pgt_fed_wait_message(&B, &bob, room, "before the split", 15000));

    /* Apart: each side changes the name (and B the topic) while the other is down. */
    cr_assert_eq(pgt_stop(&B.proc, SIGTERM, 20000), 0);
    put_state(&A, &alice, room, "m.room.name", "{\"name\":\"named on A\"}");
    cr_assert_eq(pgt_stop(&A.proc, SIGTERM, 20000), 0);
    pgt_fed_serve(&B);
    put_state(&B, &bob, room, "m.room.name", "{\"name\":\"named on B\"}");
    put_state(&B, &bob, room, "m.room.topic", "{\"topic\":\"topic from B\"}");
    pgt_fed_serve(&A);

    /* Together again: each receives the other's branch and resolves the fork. */
    char an[128], bn[128], at[128], bt[128];
    bool same = false;
    for (int i = 0; i < 300 && !same; i++) {
        state_id(&A, &alice, room, "m.room.name", an, sizeof an);
        state_id(&B, &bob, room, "m.room.name", bn, sizeof bn);
        state_id(&A, &alice, room, "m.room.topic", at, sizeof at);
        state_id(&B, &bob, room, "m.room.topic", bt, sizeof bt);
        same = at[0] && strcmp(an, bn) == 0 && strcmp(at, bt) == 0;
        if (!same) usleep(300 * 1000);
    }
    cr_assert(same, "A has name %s topic %s, B has name %s topic %s", an, at, bn, bt);
    /* And the merged room goes on: a message from each side reaches the other. */
    send_text(&A, &alice, room, "after the split from A", 2);
    send_text(&B, &bob, room, "after the split from B", 1);
    cr_assert(pgt_fed_wait_message(&B, &bob, room, "after the split from A", 30000));
    cr_assert(pgt_fed_wait_message(&A, &alice, room, "after the split from B", 30000));
    state_id(&A, &alice, room, "m.room.name", an, sizeof an);
    state_id(&B, &bob, room, "m.room.name", bn, sizeof bn);
    cr_assert_str_eq(an, bn);

    /* bob leaves (B's own copy of the room, sent to A); rejoining goes through A, the
     * server still in the room, since B's copy may be stale by then. */
    r = call(&B, "POST", bob.token, "{}", &st, "/_matrix/client/v3/rooms/%s/leave", enc(room));
    cr_assert_eq(st, 200, "%s", json_dumps(r, 0));
    json_decref(r);
    bool left = false;
    for (int i = 0; i < 100 && !left; i++) {
        left = strcmp(membership_on(&A, &alice, room, bob.user_id), "leave") == 0;
        if (!left) usleep(200 * 1000);
    }
    cr_assert(left, "A never saw bob leave");
    send_text(&A, &alice, room, "while bob was out", 3);
    r = call(&B, "POST", bob.token, "{}", &st, "/_matrix/client/v3/rooms/%s/join", enc(room));
    cr_assert_eq(st, 200, "rejoin: %s", json_dumps(r, 0));
    json_decref(r);
    cr_assert_str_eq(membership_on(&A, &alice, room, bob.user_id), "join");
    send_text(&A, &alice, room, "welcome back", 4);
    cr_assert(pgt_fed_wait_message(&B, &bob, room, "welcome back", 15000));
}

Test(fed_rooms, a_gap_too_large_to_fetch_is_bridged_with_the_state_before_the_event)
{
    pgt_mx_login alice, bob;
    char room[256];
    joined_room(&alice, &bob, room, sizeof room);
    send_text(&A, &alice, room, "before the gap", 1);
    cr_assert(pgt_fed_wait_message(&B, &bob, room, "before the gap", 15000));

    /* B is away while A sends more than get_missing_events will fetch (and a topic);
     * then only A's latest event is sent. */
    cr_assert_eq(pgt_stop(&B.proc, SIGTERM, 20000), 0);
    put_state(&A, &alice, room, "m.room.topic", "{\"topic\":\"set during the gap\"}");
    for (int i = 0; i < 14; i++) {
        char text[32];
        snprintf(text, sizeof text, "missed %d", i);
        send_text(&A, &alice, room, text, 10 + i);
    }
    send_text(&A, &alice, room, "after the gap", 30);
    cr_assert_eq(pgt_stop(&A.proc, SIGTERM, 20000), 0);
    pgt_fed_queue_keep_latest(&A, &B);
    pgt_fed_serve(&A);
    pgt_fed_serve(&B);
    cr_assert(pgt_fed_wait_message(&B, &bob, room, "after the gap", 60000), "B never accepted the event after the gap");
    /* B took the state before it from A: the topic set during the gap is there. */
    long st;
    json_t *r = call(&B, "GET", bob.token, NULL, &st, "/_matrix/client/v3/rooms/%s/state/m.room.topic", enc(room));
    cr_assert_eq(st, 200, "%s", json_dumps(r, 0));
    cr_assert_str_eq(json_string_value(json_object_get(r, "topic")), "set during the gap");
    json_decref(r);
    /* The room goes on from there in both directions. */
    send_text(&B, &bob, room, "bob after the gap", 5);
    cr_assert(pgt_fed_wait_message(&A, &alice, room, "bob after the gap", 15000));
}
