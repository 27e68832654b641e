/* The rooms API end to end: a real hs_server on an ephemeral loopback port, users
 * registered over HTTP and libcurl requests, checking what Matrix clients see -
 * createRoom presets through /state, joining a public room and talking, the spec's
 * errors (403 non-member, 404 unknown room, 413, unsupported version), transaction-ID
 * retries, /messages pagination both ways without gaps or duplicates, and everything
 * surviving a server restart on the same database. Then the room operations: kick, ban
 * and unban with their power levels, redactions hiding content in /event, /messages and
 * /context, relations paging and aggregation, /messages filters and tokens, members
 * filters, context, forget and joining by alias. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_server.h"
#include "server-core/hs_store_directory.h"
#include "server-core/hs_store_history.h"
#include "support/pgt.h"
#include "support/pgt_hs.h"
#include "support/pgt_matrix.h"

static char *dir;
static hs_server srv;
static hs_config cfg;
static char base[128];
static char err[1024];

static void boot(void)
{
    cr_assert_eq(hs_server_open(&srv, &cfg, err, sizeof err), 0, "%s", err);
    hs_httpd_config c = {
        .name = "client", .bind_address = "127.0.0.1", .port = 0, .threads = 2, .max_connections = 64,
        .max_body_bytes = 1 << 20, .router = srv.client_router, .metrics = srv.metrics,
    };
    srv.client = hs_httpd_start(&c, err, sizeof err);
    cr_assert_not_null(srv.client, "%s", err);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", hs_httpd_port(srv.client));
}

static void start(void)
{
    dir = pgt_tmpdir();
    hs_config_defaults(&cfg);
    snprintf(cfg.server_name, sizeof cfg.server_name, "example.test");
    cfg.threads = 2;
    cfg.shutdown_grace_seconds = 5;
    cfg.registration_enabled = true;
    cfg.rate_limits_enabled = false;
    pgt_hs_config_files(&cfg, dir);
    boot();
}

static void stop(void)
{
    hs_server_close(&srv);
    pgt_rmtree(dir);
    free(dir);
}

TestSuite(hs_rooms_api, .init = start, .fini = stop, .timeout = 120);

/* ---- helpers ------------------------------------------------------------------------ */

/* pgt_mx_callf on this suite's server. */
#define call(...) pgt_mx_callf(base, __VA_ARGS__)

static pgt_mx_login reg(const char *user)
{
    pgt_mx_login l;
    cr_assert_eq(pgt_mx_register(base, user, "correct horse battery", &l), 0, "register %s", user);
    return l;
}

/* Takes the status by pointer: it is read after `j`'s call has run. */
static void expect_error(json_t *j, const long *status_p, long want, const char *errcode)
{
    long status = *status_p;
    char *dump = json_dumps(j, 0);
    cr_assert_eq(status, want, "status %ld, want %ld: %s", status, want, dump);
    cr_assert_str_eq(json_string_value(json_object_get(j, "errcode")), errcode, "%s", dump);
    free(dump);
    json_decref(j);
}

static char *create_room(const pgt_mx_login *u, const char *body)
{
    long st;
    json_t *j = call("POST", u->token, &st, body, "/_matrix/client/v3/createRoom");
    char *dump = json_dumps(j, 0);
    cr_assert_eq(st, 200, "%s", dump);
    free(dump);
    char *room = strdup(json_string_value(json_object_get(j, "room_id")));
    json_decref(j);
    return room;
}

/* The content of the state event (type, "") from GET /rooms/{id}/state; borrowed from *all. */
static json_t *state_of(const pgt_mx_login *u, const char *room, const char *type, json_t **all)
{
    long st;
    char r[512];
    *all = call("GET", u->token, &st, NULL, "/_matrix/client/v3/rooms/%s/state", pgt_mx_enc(room, r, sizeof r));
    cr_assert_eq(st, 200);
    cr_assert(json_is_array(*all));
    size_t i;
    json_t *ev;
    json_array_foreach(*all, i, ev) {
        cr_assert_str_eq(json_string_value(json_object_get(ev, "room_id")), room);
        cr_assert(json_is_string(json_object_get(ev, "event_id")));
        cr_assert(json_is_integer(json_object_get(json_object_get(ev, "unsigned"), "age")));
        if (strcmp(json_string_value(json_object_get(ev, "type")), type) == 0 &&
            strcmp(json_string_value(json_object_get(ev, "state_key")), "") == 0)
            return json_object_get(ev, "content");
    }
    cr_assert_fail("no %s in the state of %s", type, room);
    return NULL;
}

static char *send_text(const pgt_mx_login *u, const char *room, const char *txn, const char *text, long want)
{
    long st;
    char r[512], body[512];
    snprintf(body, sizeof body, "{\"msgtype\":\"m.text\",\"body\":\"%s\"}", text);
    json_t *j = call("PUT", u->token, &st, body, "/_matrix/client/v3/rooms/%s/send/m.room.message/%s",
                     pgt_mx_enc(room, r, sizeof r), txn);
    char *dump = json_dumps(j, 0);
    cr_assert_eq(st, want, "send: %s", dump);
    free(dump);
    char *id = want == 200 ? strdup(json_string_value(json_object_get(j, "event_id"))) : NULL;
    if (want != 200) cr_assert_str_eq(json_string_value(json_object_get(j, "errcode")), "M_FORBIDDEN");
    json_decref(j);
    return id;
}

/* ---- tests -------------------------------------------------------------------------- */

Test(hs_rooms_api, presets_give_the_spec_state)
{
    pgt_mx_login a = reg("alice");
    pgt_mx_login b = reg("bob");
    static const struct {
        const char *preset, *join_rule, *guest;
    } cases[] = {{"private_chat", "invite", "can_join"},
                 {"public_chat", "public", "forbidden"},
                 {"trusted_private_chat", "invite", "can_join"}};
    for (size_t i = 0; i < 3; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"preset\":\"%s\",\"name\":\"room %zu\",\"topic\":\"about\",\"invite\":[\"%s\"]}",
                 cases[i].preset, i, b.user_id);
        char *room = create_room(&a, body);
        json_t *all;
        json_t *c = state_of(&a, room, "m.room.join_rules", &all);
        cr_assert_str_eq(json_string_value(json_object_get(c, "join_rule")), cases[i].join_rule);
        json_decref(all);
        c = state_of(&a, room, "m.room.guest_access", &all);
        cr_assert_str_eq(json_string_value(json_object_get(c, "guest_access")), cases[i].guest);
        json_decref(all);
        c = state_of(&a, room, "m.room.history_visibility", &all);
        cr_assert_str_eq(json_string_value(json_object_get(c, "history_visibility")), "shared");
        json_decref(all);
        c = state_of(&a, room, "m.room.power_levels", &all);
        json_t *users = json_object_get(c, "users");
        cr_assert_eq(json_integer_value(json_object_get(users, a.user_id)), 100);
        bool trusted = strcmp(cases[i].preset, "trusted_private_chat") == 0;
        cr_assert_eq(json_integer_value(json_object_get(users, b.user_id)), trusted ? 100 : 0);
        json_decref(all);
        c = state_of(&a, room, "m.room.topic", &all);
        cr_assert_str_eq(json_string_value(json_object_get(c, "topic")), "about");
        /* create, join, power levels, join rules, history, guest access, name, topic, invite */
        cr_assert_eq(json_array_size(all), 9, "%zu state events", json_array_size(all));
        json_decref(all);
        /* bob was invited: he can join even the invite-only ones */
        long st;
        char r[512];
        json_t *j = call("POST", b.token, &st, "{}", "/_matrix/client/v3/rooms/%s/join", pgt_mx_enc(room, r, sizeof r));
        cr_assert_eq(st, 200);
        json_decref(j);
        free(room);
    }
    long st;
    json_t *j = call("GET", b.token, &st, NULL, "/_matrix/client/v3/joined_rooms");
    cr_assert_eq(json_array_size(json_object_get(j, "joined_rooms")), 3);
    json_decref(j);
}

Test(hs_rooms_api, public_room_join_send_and_errors)
{
    pgt_mx_login a = reg("alice");
    pgt_mx_login b = reg("bob");
    pgt_mx_login c = reg("carol");
    char *room = create_room(&a, "{\"preset\":\"public_chat\"}");
    char r[512];
    long st;
    send_text(&b, room, "t0", "not yet", 403);
    json_t *j = call("POST", b.token, &st, "{}", "/_matrix/client/r0/join/%s", pgt_mx_enc(room, r, sizeof r));
    cr_assert_eq(st, 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "room_id")), room);
    json_decref(j);
    char *e1 = send_text(&a, room, "t1", "hello bob", 200);
    char *e2 = send_text(&b, room, "t1", "hello alice", 200);
    cr_assert_str_neq(e1, e2);
    /* carol never joined: she can neither write nor read */
    send_text(&c, room, "t1", "intruder", 403);
    expect_error(
        call("GET", c.token, &st, NULL, "/_matrix/client/v3/rooms/%s/messages?dir=b", pgt_mx_enc(room, r, sizeof r)),
        &st, 403, "M_FORBIDDEN");
    expect_error(call("GET", c.token, &st, NULL, "/_matrix/client/v3/rooms/%s/state", pgt_mx_enc(room, r, sizeof r)),
                 &st, 403, "M_FORBIDDEN");
    /* unknown room */
    expect_error(call("PUT", a.token, &st, "{\"body\":\"x\"}",
                      "/_matrix/client/v3/rooms/%%21nope%%3Aexample.test/send/m.room.message/t9"),
                 &st, 404, "M_NOT_FOUND");
    expect_error(call("GET", a.token, &st, NULL, "/_matrix/client/v3/rooms/%%21nope%%3Aexample.test/state"), &st, 404,
                 "M_NOT_FOUND");
    /* bob (power 0) may not rename the room: the auth rule is named */
    j = call("PUT", b.token, &st, "{\"name\":\"mine\"}", "/_matrix/client/v3/rooms/%s/state/m.room.name",
             pgt_mx_enc(room, r, sizeof r));
    cr_assert_eq(st, 403);
    cr_assert(strstr(json_string_value(json_object_get(j, "error")), "rule"), "%s",
              json_string_value(json_object_get(j, "error")));
    json_decref(j);
    /* alice may; state by key with and without the trailing state key */
    j = call("PUT", a.token, &st, "{\"name\":\"ours\"}", "/_matrix/client/v3/rooms/%s/state/m.room.name",
             pgt_mx_enc(room, r, sizeof r));
    cr_assert_eq(st, 200);
    json_decref(j);
    j = call("GET", b.token, &st, NULL, "/_matrix/client/v3/rooms/%s/state/m.room.name", pgt_mx_enc(room, r, sizeof r));
    cr_assert_eq(st, 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "name")), "ours");
    json_decref(j);
    j = call("PUT", a.token, &st, "{\"v\":2}", "/_matrix/client/v3/rooms/%s/state/org.example/k1",
             pgt_mx_enc(room, r, sizeof r));
    cr_assert_eq(st, 200);
    json_decref(j);
    j = call("GET", b.token, &st, NULL, "/_matrix/client/v3/rooms/%s/state/org.example/k1",
             pgt_mx_enc(room, r, sizeof r));
    cr_assert_eq(json_integer_value(json_object_get(j, "v")), 2);
    json_decref(j);
    expect_error(call("GET", b.token, &st, NULL, "/_matrix/client/v3/rooms/%s/state/org.example/k2",
                      pgt_mx_enc(room, r, sizeof r)),
                 &st, 404, "M_NOT_FOUND");
    /* the event endpoint, in client format */
    char e[256];
    j = call("GET", b.token, &st, NULL, "/_matrix/client/v3/rooms/%s/event/%s", pgt_mx_enc(room, r, sizeof r),
             pgt_mx_enc(e1, e, sizeof e));
    cr_assert_eq(st, 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "event_id")), e1);
    cr_assert_str_eq(json_string_value(json_object_get(j, "sender")), a.user_id);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "content"), "body")), "hello bob");
    cr_assert_null(json_object_get(j, "auth_events"), "client format has no PDU fields");
    cr_assert_null(json_object_get(json_object_get(j, "unsigned"), "transaction_id"), "not bob's transaction");
    json_decref(j);
    /* oversized event */
    size_t big = 70000;
    char *body = malloc(big + 64);
    int n = snprintf(body, 64, "{\"body\":\"");
    memset(body + n, 'x', big);
    snprintf(body + n + big, 8, "\"}");
    expect_error(call("PUT", a.token, &st, body, "/_matrix/client/v3/rooms/%s/send/m.room.message/big",
                      pgt_mx_enc(room, r, sizeof r)),
                 &st, 413, "M_TOO_LARGE");
    free(body);
    expect_error(call("POST", a.token, &st, "{\"room_version\":\"99\"}", "/_matrix/client/v3/createRoom"), &st, 400,
                 "M_UNSUPPORTED_ROOM_VERSION");
    /* leave, then reading is refused */
    j = call("POST", b.token, &st, "{}", "/_matrix/client/v3/rooms/%s/leave", pgt_mx_enc(room, r, sizeof r));
    cr_assert_eq(st, 200);
    json_decref(j);
    send_text(&b, room, "t2", "gone", 403);
    j = call("GET", b.token, &st, NULL, "/_matrix/client/v3/joined_rooms");
    cr_assert_eq(json_array_size(json_object_get(j, "joined_rooms")), 0);
    json_decref(j);
    /* invite carol into the invite-only flow of a private room */
    char *priv = create_room(&a, "{}");
    char p[512];
    expect_error(call("POST", c.token, &st, "{}", "/_matrix/client/v3/rooms/%s/join", pgt_mx_enc(priv, p, sizeof p)),
                 &st, 403, "M_FORBIDDEN");
    expect_error(call("POST", a.token, &st, "{\"user_id\":\"@ghost:example.test\"}",
                      "/_matrix/client/v3/rooms/%s/invite", pgt_mx_enc(priv, p, sizeof p)),
                 &st, 404, "M_NOT_FOUND");
    char ib[300];
    snprintf(ib, sizeof ib, "{\"user_id\":\"%s\"}", c.user_id);
    j = call("POST", a.token, &st, ib, "/_matrix/client/v3/rooms/%s/invite", pgt_mx_enc(priv, p, sizeof p));
    cr_assert_eq(st, 200);
    json_decref(j);
    j = call("POST", c.token, &st, "{}", "/_matrix/client/v3/rooms/%s/join", pgt_mx_enc(priv, p, sizeof p));
    cr_assert_eq(st, 200);
    json_decref(j);
    free(send_text(&c, priv, "t1", "thanks", 200));
    free(priv);
    free(e1);
    free(e2);
    free(room);
}

/* Counts the room's m.room.message events with `text` as body, reading all of /messages. */
static int count_bodies(const pgt_mx_login *u, const char *room, const char *text, const char **txn_seen)
{
    long st;
    char r[512];
    json_t *j = call("GET", u->token, &st, NULL, "/_matrix/client/v3/rooms/%s/messages?dir=b&limit=1000",
                     pgt_mx_enc(room, r, sizeof r));
    cr_assert_eq(st, 200);
    int n = 0;
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(j, "chunk"), i, ev) {
        const char *b = json_string_value(json_object_get(json_object_get(ev, "content"), "body"));
        if (b && strcmp(b, text) == 0) {
            n++;
            if (txn_seen) *txn_seen = json_string_value(json_object_get(json_object_get(ev, "unsigned"),
                                                                        "transaction_id"));
        }
    }
    json_decref(j);
    return n;
}

Test(hs_rooms_api, transaction_retry_is_idempotent)
{
    pgt_mx_login a = reg("alice");
    char *room = create_room(&a, "{}");
    char *first = send_text(&a, room, "same-txn", "only once", 200);
    char *again = send_text(&a, room, "same-txn", "only once", 200);
    cr_assert_str_eq(first, again);
    const char *txn = NULL;
    cr_assert_eq(count_bodies(&a, room, "only once", &txn), 1);
    free(first);
    free(again);
    free(room);
    (void)txn;
}

Test(hs_rooms_api, own_events_carry_the_transaction_id)
{
    pgt_mx_login a = reg("alice");
    char *room = create_room(&a, "{}");
    char *id = send_text(&a, room, "my-txn-7", "tagged", 200);
    long st;
    char r[512], e[256];
    json_t *j = call("GET", a.token, &st, NULL, "/_matrix/client/v3/rooms/%s/event/%s", pgt_mx_enc(room, r, sizeof r),
                     pgt_mx_enc(id, e, sizeof e));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "unsigned"), "transaction_id")),
                     "my-txn-7");
    json_decref(j);
    free(id);
    free(room);
}

/* Pages through /messages in `dir` with `limit`, collecting bodies; returns the count. */
static int paginate(const pgt_mx_login *u, const char *room, const char *direction, const char *from, int limit,
                    char bodies[][16], int cap, char *last_token, size_t tcap)
{
    char r[512], tok[64] = "";
    if (from) snprintf(tok, sizeof tok, "%s", from);
    int n = 0;
    for (int page = 0; page < 200; page++) {
        long st;
        char fromq[80] = "";
        if (tok[0]) snprintf(fromq, sizeof fromq, "&from=%s", tok);
        json_t *j = call("GET", u->token, &st, NULL, "/_matrix/client/v3/rooms/%s/messages?dir=%s&limit=%d%s",
                         pgt_mx_enc(room, r, sizeof r), direction, limit, fromq);
        cr_assert_eq(st, 200);
        cr_assert_leq(json_array_size(json_object_get(j, "chunk")), (size_t)limit);
        size_t i;
        json_t *ev;
        json_array_foreach(json_object_get(j, "chunk"), i, ev) {
            if (strcmp(json_string_value(json_object_get(ev, "type")), "m.room.message") != 0) continue;
            cr_assert_lt(n, cap);
            snprintf(bodies[n++], 16, "%s", json_string_value(json_object_get(json_object_get(ev, "content"), "body")));
        }
        const char *end = json_string_value(json_object_get(j, "end"));
        if (!end) {
            json_decref(j);
            break;
        }
        snprintf(tok, sizeof tok, "%s", end);
        snprintf(last_token, tcap, "%s", end);
        json_decref(j);
    }
    return n;
}

static void send_fifty(const pgt_mx_login *a, const pgt_mx_login *b, const char *room)
{
    for (int i = 0; i < 50; i++) {
        char txn[32], text[32];
        snprintf(txn, sizeof txn, "m%d", i);
        snprintf(text, sizeof text, "msg %02d", i);
        free(send_text(i % 2 ? b : a, room, txn, text, 200));
    }
}

static void check_fifty_both_ways(const pgt_mx_login *u, const char *room)
{
    char bodies[64][16], last[64] = "";
    int n = paginate(u, room, "b", NULL, 7, bodies, 64, last, sizeof last);
    cr_assert_eq(n, 50, "backwards: %d messages", n);
    for (int i = 0; i < 50; i++) {
        char want[16];
        snprintf(want, sizeof want, "msg %02d", 49 - i);
        cr_assert_str_eq(bodies[i], want, "backwards position %d", i);
    }
    n = paginate(u, room, "f", "s0", 6, bodies, 64, last, sizeof last);
    cr_assert_eq(n, 50, "forwards: %d messages", n);
    for (int i = 0; i < 50; i++) {
        char want[16];
        snprintf(want, sizeof want, "msg %02d", i);
        cr_assert_str_eq(bodies[i], want, "forwards position %d", i);
    }
}

Test(hs_rooms_api, messages_paginate_both_ways_and_survive_restart)
{
    pgt_mx_login a = reg("alice");
    pgt_mx_login b = reg("bob");
    char *room = create_room(&a, "{\"preset\":\"public_chat\",\"name\":\"durable\"}");
    char r[512];
    long st;
    json_t *j = call("POST", b.token, &st, "{}", "/_matrix/client/v3/join/%s", pgt_mx_enc(room, r, sizeof r));
    cr_assert_eq(st, 200);
    json_decref(j);
    send_fifty(&a, &b, room);
    check_fifty_both_ways(&b, room);
    expect_error(
        call("GET", a.token, &st, NULL, "/_matrix/client/v3/rooms/%s/messages?dir=x", pgt_mx_enc(room, r, sizeof r)),
        &st, 400, "M_INVALID_PARAM");

    /* restart on the same database */
    hs_server_close(&srv);
    boot();
    check_fifty_both_ways(&a, room);
    json_t *all;
    json_t *c = state_of(&a, room, "m.room.name", &all);
    cr_assert_str_eq(json_string_value(json_object_get(c, "name")), "durable");
    json_decref(all);
    j = call("GET", b.token, &st, NULL, "/_matrix/client/v3/joined_rooms");
    cr_assert_eq(json_array_size(json_object_get(j, "joined_rooms")), 1);
    json_decref(j);
    /* the transaction IDs survived too, and new events continue the graph */
    char *again = send_text(&a, room, "m0", "msg 00", 200);
    char bodies[64][16], last[64];
    cr_assert_eq(paginate(&a, room, "b", NULL, 100, bodies, 64, last, sizeof last), 50);
    char *after = send_text(&a, room, "after-restart", "new", 200);
    cr_assert_str_neq(again, after);
    free(again);
    free(after);
    free(room);
}

/* ---- room operations: kick, ban, redact, relations, filters, members, context ------- */

static json_t *messages(const pgt_mx_login *u, const char *room, long want, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* POSTs {"user_id": target, "reason": ...} to /rooms/{room}/{op}; returns the status. */
static long member_op(const pgt_mx_login *u, const char *room, const char *op, const char *target)
{
    long st;
    char r[512], body[512];
    snprintf(body, sizeof body, "{\"user_id\":\"%s\",\"reason\":\"because %s\"}", target, op);
    json_t *j = call("POST", u->token, &st, body, "/_matrix/client/v3/rooms/%s/%s", pgt_mx_enc(room, r, sizeof r), op);
    if (st != 200) cr_assert_str_eq(json_string_value(json_object_get(j, "errcode")), "M_FORBIDDEN");
    json_decref(j);
    return st;
}

static long join(const pgt_mx_login *u, const char *room)
{
    long st;
    char r[512];
    json_decref(call("POST", u->token, &st, "{}", "/_matrix/client/v3/join/%s", pgt_mx_enc(room, r, sizeof r)));
    return st;
}

/* The member event content of `user` as `viewer` sees it (new reference). */
static json_t *member_content(const pgt_mx_login *viewer, const char *room, const char *user)
{
    long st;
    char r[512], u[256];
    json_t *j = call("GET", viewer->token, &st, NULL, "/_matrix/client/v3/rooms/%s/state/m.room.member/%s",
                     pgt_mx_enc(room, r, sizeof r), pgt_mx_enc(user, u, sizeof u));
    cr_assert_eq(st, 200);
    return j;
}

Test(hs_rooms_api, kick_ban_unban_need_power_and_change_membership)
{
    pgt_mx_login a = reg("alice"), b = reg("bob"), c = reg("carol");
    char *room = create_room(&a, "{\"preset\":\"public_chat\"}");
    cr_assert_eq(join(&b, room), 200);
    cr_assert_eq(join(&c, room), 200);
    /* bob has power 0: no kick, no ban */
    cr_assert_eq(member_op(&b, room, "kick", c.user_id), 403);
    cr_assert_eq(member_op(&b, room, "ban", c.user_id), 403);
    cr_assert_eq(member_op(&a, room, "kick", c.user_id), 200);
    json_t *m = member_content(&a, room, c.user_id);
    cr_assert_str_eq(json_string_value(json_object_get(m, "membership")), "leave");
    cr_assert_str_eq(json_string_value(json_object_get(m, "reason")), "because kick");
    json_decref(m);
    /* the kick shows what it replaced: carol's join */
    json_t *page = messages(&b, room, 200, "dir=b&limit=1");
    json_t *kick = json_array_get(json_object_get(page, "chunk"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(kick, "sender")), a.user_id);
    json_t *uns = json_object_get(kick, "unsigned");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(uns, "prev_content"), "membership")), "join");
    cr_assert_str_eq(json_string_value(json_object_get(uns, "prev_sender")), c.user_id);
    cr_assert(json_is_string(json_object_get(uns, "replaces_state")));
    json_decref(page);
    send_text(&c, room, "k1", "kicked", 403);
    /* a kicked user may come back to a public room; a banned one may not */
    cr_assert_eq(join(&c, room), 200);
    cr_assert_eq(member_op(&a, room, "ban", c.user_id), 200);
    m = member_content(&b, room, c.user_id);
    cr_assert_str_eq(json_string_value(json_object_get(m, "membership")), "ban");
    json_decref(m);
    long st;
    char r[512];
    expect_error(call("POST", c.token, &st, "{}", "/_matrix/client/v3/join/%s", pgt_mx_enc(room, r, sizeof r)), &st,
                 403, "M_FORBIDDEN");
    /* only the ban level unbans, and only a banned user */
    cr_assert_eq(member_op(&b, room, "unban", c.user_id), 403);
    cr_assert_eq(member_op(&a, room, "unban", b.user_id), 403);
    cr_assert_eq(member_op(&a, room, "unban", c.user_id), 200);
    cr_assert_eq(join(&c, room), 200);
    expect_error(call("POST", a.token, &st, "{\"reason\":\"x\"}", "/_matrix/client/v3/rooms/%s/kick",
                      pgt_mx_enc(room, r, sizeof r)),
                 &st, 400, "M_INVALID_PARAM");
    free(room);
}

static char *redact(const pgt_mx_login *u, const char *room, const char *event_id, const char *txn, long want)
{
    long st;
    char r[512], e[256];
    json_t *j = call("PUT", u->token, &st, "{\"reason\":\"spam\"}", "/_matrix/client/v3/rooms/%s/redact/%s/%s",
                     pgt_mx_enc(room, r, sizeof r), pgt_mx_enc(event_id, e, sizeof e), txn);
    cr_assert_eq(st, want);
    char *id = st == 200 ? strdup(json_string_value(json_object_get(j, "event_id"))) : NULL;
    json_decref(j);
    return id;
}

static json_t *get_event(const pgt_mx_login *u, const char *room, const char *event_id)
{
    long st;
    char r[512], e[256];
    json_t *j = call("GET", u->token, &st, NULL, "/_matrix/client/v3/rooms/%s/event/%s", pgt_mx_enc(room, r, sizeof r),
                     pgt_mx_enc(event_id, e, sizeof e));
    cr_assert_eq(st, 200);
    return j;
}

/* The event with `id` in a JSON array of client events, or NULL. */
static json_t *find_event(json_t *arr, const char *id)
{
    size_t i;
    json_t *ev;
    json_array_foreach(arr, i, ev) if (strcmp(json_string_value(json_object_get(ev, "event_id")), id) == 0) return ev;
    return NULL;
}

static void assert_redacted(const json_t *ev, const char *redaction_id)
{
    cr_assert_not_null(ev);
    cr_assert_eq(json_object_size(json_object_get(ev, "content")), 0, "content survived the redaction");
    const json_t *because = json_object_get(json_object_get(ev, "unsigned"), "redacted_because");
    cr_assert_str_eq(json_string_value(json_object_get(because, "event_id")), redaction_id);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(because, "content"), "reason")), "spam");
}

Test(hs_rooms_api, redaction_hides_content_everywhere)
{
    pgt_mx_login a = reg("alice"), b = reg("bob");
    char *room = create_room(&a, "{\"preset\":\"public_chat\",\"room_version\":\"11\"}");
    cr_assert_eq(join(&b, room), 200);
    char *secret = send_text(&a, room, "s1", "secret", 200);
    char *bobs = send_text(&b, room, "b1", "bob says", 200);
    free(send_text(&a, room, "s2", "after", 200));
    /* bob may not redact alice's message, but his own; alice (100) may redact anything */
    free(redact(&b, room, secret, "r0", 403));
    char *r1 = redact(&a, room, secret, "r1", 200);
    char *again = redact(&a, room, secret, "r1", 200);
    cr_assert_str_eq(r1, again, "a retried redaction is the same event");
    char *r2 = redact(&b, room, bobs, "r2", 200);
    free(redact(&a, room, "$unknown", "r3", 404));

    json_t *ev = get_event(&b, room, secret);
    assert_redacted(ev, r1);
    cr_assert_str_eq(json_string_value(json_object_get(ev, "type")), "m.room.message");
    json_decref(ev);
    ev = get_event(&a, room, r1);
    cr_assert_str_eq(json_string_value(json_object_get(ev, "redacts")), secret);
    json_decref(ev);

    long st;
    char r[512], e[256];
    json_t *j = call("GET", b.token, &st, NULL, "/_matrix/client/v3/rooms/%s/messages?dir=b&limit=50",
                     pgt_mx_enc(room, r, sizeof r));
    assert_redacted(find_event(json_object_get(j, "chunk"), secret), r1);
    assert_redacted(find_event(json_object_get(j, "chunk"), bobs), r2);
    json_decref(j);
    j = call("GET", b.token, &st, NULL, "/_matrix/client/v3/rooms/%s/context/%s?limit=4", pgt_mx_enc(room, r, sizeof r),
             pgt_mx_enc(bobs, e, sizeof e));
    cr_assert_eq(st, 200);
    assert_redacted(json_object_get(j, "event"), r2);
    assert_redacted(find_event(json_object_get(j, "events_before"), secret), r1);
    json_decref(j);
    free(secret);
    free(bobs);
    free(r1);
    free(again);
    free(r2);
    free(room);
}

static char *send_json(const pgt_mx_login *u, const char *room, const char *type, const char *txn, const char *body)
{
    long st;
    char r[512];
    json_t *j = call("PUT", u->token, &st, body, "/_matrix/client/v3/rooms/%s/send/%s/%s",
                     pgt_mx_enc(room, r, sizeof r), type, txn);
    cr_assert_eq(st, 200);
    char *id = strdup(json_string_value(json_object_get(j, "event_id")));
    json_decref(j);
    return id;
}

/* Pages through /relations/{parent}{suffix} with `limit`; returns the event IDs seen. */
static json_t *relation_ids(const pgt_mx_login *u, const char *room, const char *parent, const char *suffix,
                            const char *query)
{
    char r[512], e[256], tok[64] = "";
    json_t *ids = json_array();
    for (int page = 0; page < 50; page++) {
        long st;
        char from[80] = "";
        if (tok[0]) snprintf(from, sizeof from, "&from=%s", tok);
        json_t *j = call("GET", u->token, &st, NULL, "/_matrix/client/v1/rooms/%s/relations/%s%s?%s%s",
                         pgt_mx_enc(room, r, sizeof r), pgt_mx_enc(parent, e, sizeof e), suffix, query, from);
        cr_assert_eq(st, 200);
        size_t i;
        json_t *ev;
        json_array_foreach(json_object_get(j, "chunk"), i, ev) json_array_append(ids, json_object_get(ev, "event_id"));
        const char *next = json_string_value(json_object_get(j, "next_batch"));
        if (next) snprintf(tok, sizeof tok, "%s", next);
        json_decref(j);
        if (!next) break;
    }
    return ids;
}

Test(hs_rooms_api, relations_page_and_aggregate)
{
    pgt_mx_login a = reg("alice"), b = reg("bob");
    char *room = create_room(&a, "{\"preset\":\"public_chat\"}");
    cr_assert_eq(join(&b, room), 200);
    char *parent = send_text(&a, room, "p", "parent", 200);
    char body[512], txn[16];
    char *react[3], *edit[2], *thread[2];
    const char *keys[3] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        snprintf(body, sizeof body, "{\"m.relates_to\":{\"rel_type\":\"m.annotation\",\"event_id\":\"%s\",\"key\":\"%s\"}}",
                 parent, keys[i]);
        snprintf(txn, sizeof txn, "re%d", i);
        react[i] = send_json(i ? &b : &a, room, "m.reaction", txn, body);
    }
    for (int i = 0; i < 2; i++) {
        snprintf(body, sizeof body,
                 "{\"body\":\"* v%d\",\"m.new_content\":{\"body\":\"v%d\"},"
                 "\"m.relates_to\":{\"rel_type\":\"m.replace\",\"event_id\":\"%s\"}}",
                 i, i, parent);
        snprintf(txn, sizeof txn, "ed%d", i);
        edit[i] = send_json(&a, room, "m.room.message", txn, body);
        snprintf(body, sizeof body, "{\"body\":\"reply %d\",\"m.relates_to\":{\"rel_type\":\"m.thread\",\"event_id\":\"%s\"}}",
                 i, parent);
        snprintf(txn, sizeof txn, "th%d", i);
        thread[i] = send_json(&b, room, "m.room.message", txn, body);
    }
    free(send_text(&a, room, "unrelated", "unrelated", 200));
    /* everything, newest first, in pages of two without gaps or repeats */
    json_t *all = relation_ids(&b, room, parent, "", "limit=2");
    cr_assert_eq(json_array_size(all), 7);
    cr_assert_str_eq(json_string_value(json_array_get(all, 0)), thread[1]);
    cr_assert_str_eq(json_string_value(json_array_get(all, 6)), react[0]);
    json_decref(all);
    json_t *ann = relation_ids(&b, room, parent, "/m.annotation", "limit=1&dir=f");
    cr_assert_eq(json_array_size(ann), 3);
    for (int i = 0; i < 3; i++) cr_assert_str_eq(json_string_value(json_array_get(ann, i)), react[i]);
    json_decref(ann);
    json_t *typed = relation_ids(&b, room, parent, "/m.annotation/m.reaction", "");
    cr_assert_eq(json_array_size(typed), 3);
    json_decref(typed);
    json_t *none = relation_ids(&b, room, parent, "/m.annotation/m.room.message", "");
    cr_assert_eq(json_array_size(none), 0);
    json_decref(none);
    /* the parent carries the latest edit and the thread summary */
    json_t *ev = get_event(&b, room, parent);
    json_t *rel = json_object_get(json_object_get(ev, "unsigned"), "m.relations");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(rel, "m.replace"), "event_id")), edit[1]);
    json_t *th = json_object_get(rel, "m.thread");
    cr_assert_eq(json_integer_value(json_object_get(th, "count")), 2);
    cr_assert(json_is_true(json_object_get(th, "current_user_participated")));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(th, "latest_event"), "event_id")), thread[1]);
    json_decref(ev);
    /* a redacted reaction leaves the relations */
    free(redact(&b, room, react[1], "rr", 200));
    ann = relation_ids(&a, room, parent, "/m.annotation", "");
    cr_assert_eq(json_array_size(ann), 2);
    json_decref(ann);
    long st;
    char r[512];
    expect_error(call("GET", a.token, &st, NULL, "/_matrix/client/v1/rooms/%s/relations/%%24nope",
                      pgt_mx_enc(room, r, sizeof r)),
                 &st, 404, "M_NOT_FOUND");
    for (int i = 0; i < 3; i++) free(react[i]);
    for (int i = 0; i < 2; i++) {
        free(edit[i]);
        free(thread[i]);
    }
    free(parent);
    free(room);
}

/* GET /messages with a query; returns the answer (status checked). */
static json_t *messages(const pgt_mx_login *u, const char *room, long want, const char *fmt, ...)
{
    char q[2048], r[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    long st;
    json_t *j =
        call("GET", u->token, &st, NULL, "/_matrix/client/v3/rooms/%s/messages?%s", pgt_mx_enc(room, r, sizeof r), q);
    char *dump = json_dumps(j, 0);
    cr_assert_eq(st, want, "%s: %s", q, dump);
    free(dump);
    return j;
}

/* The bodies of a chunk's m.room.message events joined with ',' into out. */
static const char *bodies_of(const json_t *j, char *out, size_t cap)
{
    size_t o = 0, i;
    json_t *ev;
    out[0] = 0;
    json_array_foreach(json_object_get(j, "chunk"), i, ev) {
        const char *b = json_string_value(json_object_get(json_object_get(ev, "content"), "body"));
        if (b) o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? "," : "", b);
    }
    return out;
}

Test(hs_rooms_api, messages_filters_tokens_and_lazy_members)
{
    pgt_mx_login a = reg("alice"), b = reg("bob");
    char *room = create_room(&a, "{\"preset\":\"public_chat\"}");
    cr_assert_eq(join(&b, room), 200);
    for (int i = 0; i < 10; i++) {
        char txn[16], body[128];
        snprintf(txn, sizeof txn, "f%d", i);
        if (i % 3 == 0)
            snprintf(body, sizeof body, "{\"msgtype\":\"m.image\",\"body\":\"m%d\",\"url\":\"mxc://x/%d\"}", i, i);
        else snprintf(body, sizeof body, "{\"msgtype\":\"m.text\",\"body\":\"m%d\"}", i);
        free(send_json(i % 2 ? &b : &a, room, i == 9 ? "org.example.custom" : "m.room.message", txn, body));
    }
    char got[512], f[512], fq[1024];
    json_t *j;
    snprintf(f, sizeof f, "{\"types\":[\"m.room.message\"],\"senders\":[\"%s\"]}", b.user_id);
    j = messages(&a, room, 200, "dir=b&filter=%s", pgt_mx_enc(f, fq, sizeof fq));
    cr_assert_str_eq(bodies_of(j, got, sizeof got), "m7,m5,m3,m1");
    json_decref(j);
    j = messages(&a, room, 200, "dir=f&filter=%s", pgt_mx_enc("{\"not_types\":[\"m.room.*\"]}", fq, sizeof fq));
    cr_assert_str_eq(bodies_of(j, got, sizeof got), "m9");
    json_decref(j);
    j = messages(&a, room, 200, "dir=b&filter=%s", pgt_mx_enc("{\"contains_url\":true}", fq, sizeof fq));
    cr_assert_str_eq(bodies_of(j, got, sizeof got), "m9,m6,m3,m0");
    json_decref(j);
    snprintf(f, sizeof f, "{\"not_senders\":[\"%s\"],\"types\":[\"m.room.message\"],\"limit\":2}", a.user_id);
    j = messages(&a, room, 200, "dir=b&filter=%s", pgt_mx_enc(f, fq, sizeof fq));
    cr_assert_str_eq(bodies_of(j, got, sizeof got), "m7,m5", "the filter's limit applies");
    cr_assert_not_null(json_object_get(j, "end"));
    json_decref(j);

    /* `to`: the 5 newest, then from the start up to them, with nothing in between */
    j = messages(&a, room, 200, "dir=b&limit=5");
    cr_assert_str_eq(bodies_of(j, got, sizeof got), "m9,m8,m7,m6,m5");
    char mark[64], newest[64];
    snprintf(mark, sizeof mark, "%s", json_string_value(json_object_get(j, "end")));
    snprintf(newest, sizeof newest, "%s", json_string_value(json_object_get(j, "start")));
    json_decref(j);
    j = messages(&a, room, 200, "dir=f&from=s0&to=%s&limit=100", mark);
    bodies_of(j, got, sizeof got);
    cr_assert(strstr(got, "m0,m1,m2,m3,m4") && !strstr(got, "m5"), "%s", got);
    cr_assert_null(json_object_get(j, "end"), "the range ended at `to`");
    json_decref(j);
    j = messages(&a, room, 200, "dir=b&to=%s&limit=100", mark);
    cr_assert_str_eq(bodies_of(j, got, sizeof got), "m9,m8,m7,m6,m5");
    json_decref(j);
    /* a /sync token works as `from` through its events part */
    j = messages(&a, room, 200, "dir=b&limit=3&from=%s_7_0_3_0_0_1", newest);
    cr_assert_str_eq(bodies_of(j, got, sizeof got), "m9,m8,m7");
    json_decref(j);
    expect_error(messages(&a, room, 400, "dir=b&from=x12"), &(long){400}, 400, "M_INVALID_PARAM");
    expect_error(messages(&a, room, 400, "dir=b&filter=%s", pgt_mx_enc("{\"types\":7}", fq, sizeof fq)), &(long){400},
                 400, "M_INVALID_PARAM");

    /* lazy loading: the members of the senders shown, nobody else's */
    snprintf(f, sizeof f, "{\"lazy_load_members\":true,\"senders\":[\"%s\"]}", b.user_id);
    j = messages(&a, room, 200, "dir=b&limit=3&filter=%s", pgt_mx_enc(f, fq, sizeof fq));
    json_t *state = json_object_get(j, "state");
    cr_assert_eq(json_array_size(state), 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(state, 0), "state_key")), b.user_id);
    json_decref(j);
    free(room);
}

/* The user IDs of a /members chunk joined with ','. */
static const char *member_ids(const pgt_mx_login *u, const char *room, const char *query, char *out, size_t cap)
{
    long st;
    char r[512];
    json_t *j =
        call("GET", u->token, &st, NULL, "/_matrix/client/v3/rooms/%s/members%s", pgt_mx_enc(room, r, sizeof r), query);
    cr_assert_eq(st, 200);
    size_t o = 0, i;
    json_t *ev;
    out[0] = 0;
    json_array_foreach(json_object_get(j, "chunk"), i, ev) {
        cr_assert_str_eq(json_string_value(json_object_get(ev, "type")), "m.room.member");
        o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? "," : "",
                              json_string_value(json_object_get(ev, "state_key")));
    }
    json_decref(j);
    return out;
}

Test(hs_rooms_api, members_filters_at_and_joined_members)
{
    pgt_mx_login a = reg("alice"), b = reg("bob"), c = reg("carol"), d = reg("dave");
    char *room = create_room(&a, "{\"preset\":\"public_chat\"}");
    cr_assert_eq(join(&b, room), 200);
    json_t *j = messages(&a, room, 200, "dir=b&limit=1");
    char before_dave[64];
    snprintf(before_dave, sizeof before_dave, "%s", json_string_value(json_object_get(j, "start")));
    json_decref(j);
    cr_assert_eq(join(&d, room), 200);
    long st;
    char r[512], ib[300];
    json_decref(call("POST", d.token, &st, "{}", "/_matrix/client/v3/rooms/%s/leave", pgt_mx_enc(room, r, sizeof r)));
    snprintf(ib, sizeof ib, "{\"user_id\":\"%s\"}", c.user_id);
    json_decref(call("POST", a.token, &st, ib, "/_matrix/client/v3/rooms/%s/invite", pgt_mx_enc(room, r, sizeof r)));
    char got[1024], want[1024], q[128];
    /* current state is sorted by state key */
    snprintf(want, sizeof want, "%s,%s,%s,%s", a.user_id, b.user_id, c.user_id, d.user_id);
    cr_assert_str_eq(member_ids(&a, room, "", got, sizeof got), want);
    snprintf(want, sizeof want, "%s,%s", a.user_id, b.user_id);
    cr_assert_str_eq(member_ids(&a, room, "?membership=join", got, sizeof got), want);
    snprintf(want, sizeof want, "%s,%s", c.user_id, d.user_id);
    cr_assert_str_eq(member_ids(&a, room, "?not_membership=join", got, sizeof got), want);
    cr_assert_str_eq(member_ids(&a, room, "?membership=leave", got, sizeof got), d.user_id);
    /* at a token from before dave came: only alice and bob */
    snprintf(q, sizeof q, "?at=%s", before_dave);
    snprintf(want, sizeof want, "%s,%s", a.user_id, b.user_id);
    cr_assert_str_eq(member_ids(&a, room, q, got, sizeof got), want);
    j = call("GET", b.token, &st, NULL, "/_matrix/client/v3/rooms/%s/joined_members", pgt_mx_enc(room, r, sizeof r));
    cr_assert_eq(st, 200);
    json_t *joined = json_object_get(j, "joined");
    cr_assert_eq(json_object_size(joined), 2);
    cr_assert(json_is_object(json_object_get(joined, a.user_id)) && json_is_object(json_object_get(joined, b.user_id)));
    /* joins carry the profile (registration sets the display name to the localpart) */
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(joined, a.user_id), "display_name")), "alice");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(joined, b.user_id), "display_name")), "bob");
    json_decref(j);
    expect_error(
        call("GET", d.token, &st, NULL, "/_matrix/client/v3/rooms/%s/joined_members", pgt_mx_enc(room, r, sizeof r)),
        &st, 403, "M_FORBIDDEN");
    free(room);
}

Test(hs_rooms_api, forget_only_after_leaving)
{
    pgt_mx_login a = reg("alice"), b = reg("bob");
    char *room = create_room(&a, "{\"preset\":\"public_chat\"}");
    cr_assert_eq(join(&b, room), 200);
    long st;
    char r[512];
    expect_error(call("POST", b.token, &st, "{}", "/_matrix/client/v3/rooms/%s/forget", pgt_mx_enc(room, r, sizeof r)),
                 &st, 400, "M_UNKNOWN");
    json_decref(call("POST", b.token, &st, "{}", "/_matrix/client/v3/rooms/%s/leave", pgt_mx_enc(room, r, sizeof r)));
    cr_assert_eq(hs_store_room_forgotten(srv.store, room, b.user_id), 0);
    json_decref(call("POST", b.token, &st, "{}", "/_matrix/client/v3/rooms/%s/forget", pgt_mx_enc(room, r, sizeof r)));
    cr_assert_eq(st, 200);
    cr_assert_eq(hs_store_room_forgotten(srv.store, room, b.user_id), 1);
    expect_error(call("POST", b.token, &st, "{}", "/_matrix/client/v3/rooms/%%21nope%%3Aexample.test/forget"), &st,
                 404, "M_NOT_FOUND");
    cr_assert_eq(join(&b, room), 200);
    cr_assert_eq(hs_store_room_forgotten(srv.store, room, b.user_id), 0, "rejoining un-forgets");
    free(room);
}

Test(hs_rooms_api, context_around_an_event)
{
    pgt_mx_login a = reg("alice");
    char *room = create_room(&a, "{\"name\":\"ctx\"}");
    char *ids[9];
    for (int i = 0; i < 9; i++) {
        char txn[16], text[16];
        snprintf(txn, sizeof txn, "c%d", i);
        snprintf(text, sizeof text, "c%d", i);
        ids[i] = send_text(&a, room, txn, text, 200);
    }
    long st;
    char r[512], e[256], got[256];
    json_t *j = call("GET", a.token, &st, NULL, "/_matrix/client/v3/rooms/%s/context/%s?limit=4",
                     pgt_mx_enc(room, r, sizeof r), pgt_mx_enc(ids[4], e, sizeof e));
    cr_assert_eq(st, 200);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "event"), "event_id")), ids[4]);
    json_t *tmp = json_pack("{sO}", "chunk", json_object_get(j, "events_before"));
    cr_assert_str_eq(bodies_of(tmp, got, sizeof got), "c3,c2");
    json_decref(tmp);
    tmp = json_pack("{sO}", "chunk", json_object_get(j, "events_after"));
    cr_assert_str_eq(bodies_of(tmp, got, sizeof got), "c5,c6");
    json_decref(tmp);
    bool has_name = false;
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(j, "state"), i, ev) has_name |=
        strcmp(json_string_value(json_object_get(ev, "type")), "m.room.name") == 0;
    cr_assert(has_name, "the state at the event is included");
    /* the tokens continue exactly where the context ends */
    char start[64], end[64];
    snprintf(start, sizeof start, "%s", json_string_value(json_object_get(j, "start")));
    snprintf(end, sizeof end, "%s", json_string_value(json_object_get(j, "end")));
    json_decref(j);
    j = messages(&a, room, 200, "dir=b&limit=2&from=%s", start);
    cr_assert_str_eq(bodies_of(j, got, sizeof got), "c1,c0");
    json_decref(j);
    j = messages(&a, room, 200, "dir=f&limit=2&from=%s", end);
    cr_assert_str_eq(bodies_of(j, got, sizeof got), "c7,c8");
    json_decref(j);
    expect_error(
        call("GET", a.token, &st, NULL, "/_matrix/client/v3/rooms/%s/context/%%24nope", pgt_mx_enc(room, r, sizeof r)),
        &st, 404, "M_NOT_FOUND");
    for (int k = 0; k < 9; k++) free(ids[k]);
    free(room);
}

Test(hs_rooms_api, join_by_local_alias)
{
    pgt_mx_login a = reg("alice"), b = reg("bob");
    char *room = create_room(&a, "{\"preset\":\"public_chat\"}");
    cr_assert_eq(hs_store_alias_put(srv.store, "#lobby:example.test", room, a.user_id, 1), 0);
    long st;
    json_t *j = call("POST", b.token, &st, "{}", "/_matrix/client/v3/join/%%23lobby%%3Aexample.test");
    cr_assert_eq(st, 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "room_id")), room);
    json_decref(j);
    free(send_text(&b, room, "via-alias", "joined by alias", 200));
    expect_error(call("POST", b.token, &st, "{}", "/_matrix/client/v3/join/%%23nowhere%%3Aexample.test"), &st, 404,
                 "M_NOT_FOUND");
    free(room);
}

Test(hs_rooms_api, history_visibility_for_former_members_and_joined_rooms)
{
    pgt_mx_login a = reg("alice"), b = reg("bob"), c = reg("carol");
    char *room = create_room(&a, "{\"preset\":\"public_chat\"}");
    cr_assert_eq(join(&b, room), 200);
    char *seen = send_text(&a, room, "v1", "while bob was in", 200);
    long st;
    char r[512], e[256], got[512];
    json_decref(call("POST", b.token, &st, "{}", "/_matrix/client/v3/rooms/%s/leave", pgt_mx_enc(room, r, sizeof r)));
    char *hidden = send_text(&a, room, "v2", "after bob left", 200);
    /* bob, gone: the history up to his leave, nothing after */
    json_t *j = messages(&b, room, 200, "dir=b&limit=50");
    bodies_of(j, got, sizeof got);
    cr_assert(strstr(got, "while bob was in") && !strstr(got, "after bob left"), "%s", got);
    json_decref(j);
    json_decref(get_event(&b, room, seen));
    expect_error(call("GET", b.token, &st, NULL, "/_matrix/client/v3/rooms/%s/event/%s", pgt_mx_enc(room, r, sizeof r),
                      pgt_mx_enc(hidden, e, sizeof e)),
                 &st, 404, "M_NOT_FOUND");
    expect_error(call("GET", b.token, &st, NULL, "/_matrix/client/v3/rooms/%s/context/%s",
                      pgt_mx_enc(room, r, sizeof r), pgt_mx_enc(hidden, e, sizeof e)),
                 &st, 404, "M_NOT_FOUND");
    /* the state and members bob reads are frozen at his leave */
    json_decref(call("PUT", a.token, &st, "{\"name\":\"renamed after bob\"}",
                     "/_matrix/client/v3/rooms/%s/state/m.room.name", pgt_mx_enc(room, r, sizeof r)));
    cr_assert_eq(st, 200);
    expect_error(call("GET", b.token, &st, NULL, "/_matrix/client/v3/rooms/%s/state/m.room.name",
                      pgt_mx_enc(room, r, sizeof r)),
                 &st, 404, "M_NOT_FOUND");
    j = call("GET", a.token, &st, NULL, "/_matrix/client/v3/rooms/%s/state/m.room.name", pgt_mx_enc(room, r, sizeof r));
    cr_assert_str_eq(json_string_value(json_object_get(j, "name")), "renamed after bob");
    json_decref(j);
    char want[600];
    snprintf(want, sizeof want, "%s,%s", a.user_id, b.user_id);
    cr_assert_str_eq(member_ids(&b, room, "?membership=leave", got, sizeof got), b.user_id);
    cr_assert_str_eq(member_ids(&b, room, "", got, sizeof got), want);
    /* after forgetting, nothing at all */
    json_decref(call("POST", b.token, &st, "{}", "/_matrix/client/v3/rooms/%s/forget", pgt_mx_enc(room, r, sizeof r)));
    expect_error(messages(&b, room, 403, "dir=b"), &(long){403}, 403, "M_FORBIDDEN");
    expect_error(call("GET", b.token, &st, NULL, "/_matrix/client/v3/rooms/%s/state", pgt_mx_enc(room, r, sizeof r)),
                 &st, 403, "M_FORBIDDEN");

    /* "joined" from now on: a newcomer sees nothing sent under it before their join, but
     * what was sent while the room was "shared" stays visible to any member */
    json_decref(call("PUT", a.token, &st, "{\"history_visibility\":\"joined\"}",
                     "/_matrix/client/v3/rooms/%s/state/m.room.history_visibility", pgt_mx_enc(room, r, sizeof r)));
    cr_assert_eq(st, 200);
    free(send_text(&a, room, "v3", "before carol", 200));
    cr_assert_eq(join(&c, room), 200);
    free(send_text(&a, room, "v4", "welcome carol", 200));
    j = messages(&c, room, 200, "dir=b&limit=50");
    bodies_of(j, got, sizeof got);
    cr_assert_str_eq(got, "welcome carol,after bob left,while bob was in");
    bool own_join = false, change = false;
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(j, "chunk"), i, ev) {
        const char *type = json_string_value(json_object_get(ev, "type"));
        own_join |= strcmp(type, "m.room.member") == 0 &&
                    strcmp(json_string_value(json_object_get(ev, "state_key")), c.user_id) == 0;
        change |= strcmp(type, "m.room.history_visibility") == 0 &&
                  strcmp(json_string_value(json_object_get(json_object_get(ev, "content"), "history_visibility")),
                         "joined") == 0;
    }
    cr_assert(own_join, "carol sees her own join");
    cr_assert(change, "the change to joined is visible under the old setting");
    json_decref(j);
    /* alice, joined all along, still sees everything */
    j = messages(&a, room, 200, "dir=b&limit=50");
    bodies_of(j, got, sizeof got);
    cr_assert_str_eq(got, "welcome carol,before carol,after bob left,while bob was in");
    json_decref(j);
    free(seen);
    free(hidden);
    free(room);
}

/* GET /v1/rooms/{room}/threads with a query; returns the root event IDs joined with ','
 * and the next_batch token (or "") in next. */
static const char *thread_roots(const pgt_mx_login *u, const char *room, const char *query, char *out, size_t cap,
                                char next[64])
{
    long st;
    char r[512];
    json_t *j = call("GET", u->token, &st, NULL, "/_matrix/client/v1/rooms/%s/threads?%s",
                     pgt_mx_enc(room, r, sizeof r), query);
    cr_assert_eq(st, 200);
    size_t o = 0, i;
    json_t *ev;
    out[0] = 0;
    json_array_foreach(json_object_get(j, "chunk"), i, ev) {
        cr_assert(json_is_object(json_object_get(json_object_get(json_object_get(ev, "unsigned"), "m.relations"),
                                                 "m.thread")),
                  "each root carries its thread summary");
        o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? "," : "",
                              json_string_value(json_object_get(ev, "event_id")));
    }
    const char *nb = json_string_value(json_object_get(j, "next_batch"));
    snprintf(next, 64, "%s", nb ? nb : "");
    json_decref(j);
    return out;
}

Test(hs_rooms_api, threads_list_newest_activity_first)
{
    pgt_mx_login a = reg("alice"), b = reg("bob"), c = reg("carol");
    char *room = create_room(&a, "{\"preset\":\"public_chat\"}");
    cr_assert_eq(join(&b, room), 200);
    cr_assert_eq(join(&c, room), 200);
    char *root1 = send_text(&a, room, "r1", "first thread", 200);
    char *root2 = send_text(&a, room, "r2", "second thread", 200);
    free(send_text(&a, room, "plain", "no thread here", 200));
    char body[512];
    snprintf(body, sizeof body, "{\"body\":\"in 2\",\"m.relates_to\":{\"rel_type\":\"m.thread\",\"event_id\":\"%s\"}}",
             root2);
    free(send_json(&b, room, "m.room.message", "t2", body));
    snprintf(body, sizeof body, "{\"body\":\"in 1\",\"m.relates_to\":{\"rel_type\":\"m.thread\",\"event_id\":\"%s\"}}",
             root1);
    free(send_json(&a, room, "m.room.message", "t1", body));
    char got[1024], want[1024], next[64];
    snprintf(want, sizeof want, "%s,%s", root1, root2);
    cr_assert_str_eq(thread_roots(&c, room, "", got, sizeof got, next), want, "root1 was active last");
    cr_assert_str_eq(thread_roots(&b, room, "include=participated", got, sizeof got, next), root2);
    cr_assert_str_eq(thread_roots(&c, room, "include=participated", got, sizeof got, next), "");
    /* one per page */
    cr_assert_str_eq(thread_roots(&c, room, "limit=1", got, sizeof got, next), root1);
    char q[128];
    snprintf(q, sizeof q, "limit=1&from=%s", next);
    cr_assert_str_eq(thread_roots(&c, room, q, got, sizeof got, next), root2);
    long st;
    char r[512];
    expect_error(call("GET", c.token, &st, NULL, "/_matrix/client/v1/rooms/%s/threads?include=some",
                      pgt_mx_enc(room, r, sizeof r)),
                 &st, 400, "M_INVALID_PARAM");
    free(root1);
    free(root2);
    free(room);
}

Test(hs_rooms_api, timestamp_to_event_finds_the_nearest_visible_event)
{
    pgt_mx_login a = reg("alice");
    char *room = create_room(&a, "{}");
    char *e1 = send_text(&a, room, "ts1", "one", 200);
    json_t *ev = get_event(&a, room, e1);
    long long t1 = (long long)json_integer_value(json_object_get(ev, "origin_server_ts"));
    json_decref(ev);
    long st;
    char r[512];
    json_t *j = call("GET", a.token, &st, NULL, "/_matrix/client/v1/rooms/%s/timestamp_to_event?ts=%lld&dir=b",
                     pgt_mx_enc(room, r, sizeof r), t1 + 60000);
    cr_assert_eq(st, 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "event_id")), e1, "the latest event before a later time");
    cr_assert_eq(json_integer_value(json_object_get(j, "origin_server_ts")), t1);
    json_decref(j);
    j = call("GET", a.token, &st, NULL, "/_matrix/client/v1/rooms/%s/timestamp_to_event?ts=0&dir=f",
             pgt_mx_enc(room, r, sizeof r));
    cr_assert_eq(st, 200);
    json_t *first = get_event(&a, room, json_string_value(json_object_get(j, "event_id")));
    cr_assert_str_eq(json_string_value(json_object_get(first, "type")), "m.room.create", "the room's first event");
    json_decref(first);
    json_decref(j);
    expect_error(call("GET", a.token, &st, NULL, "/_matrix/client/v1/rooms/%s/timestamp_to_event?ts=%lld&dir=f",
                      pgt_mx_enc(room, r, sizeof r), t1 + 60000),
                 &st, 404, "M_NOT_FOUND");
    expect_error(call("GET", a.token, &st, NULL, "/_matrix/client/v1/rooms/%s/timestamp_to_event?ts=x&dir=f",
                      pgt_mx_enc(room, r, sizeof r)),
                 &st, 400, "M_INVALID_PARAM");
    free(e1);
    free(room);
}

Test(hs_rooms_api, messages_and_context_limits_are_capped_at_1000)
{
    pgt_mx_login a = reg("capper");
    char *room = create_room(&a, "{\"preset\":\"private_chat\"}");
    char txn[32], text[32], *mid = NULL;
    for (int i = 0; i < 1001; i++) {
        snprintf(txn, sizeof txn, "cap%d", i);
        snprintf(text, sizeof text, "m%d", i);
        char *id = send_text(&a, room, txn, text, 200);
        if (i == 500) mid = id;
        else free(id);
    }
    json_t *j = messages(&a, room, 200, "dir=b&limit=100000");
    cr_assert_eq(json_array_size(json_object_get(j, "chunk")), 1000);
    cr_assert_not_null(json_object_get(j, "end"), "more history behind the page");
    json_decref(j);
    long st;
    char r[512], e[256];
    j = call("GET", a.token, &st, NULL, "/_matrix/client/v3/rooms/%s/context/%s?limit=100000",
             pgt_mx_enc(room, r, sizeof r), pgt_mx_enc(mid, e, sizeof e));
    cr_assert_eq(st, 200);
    cr_assert_eq(json_array_size(json_object_get(j, "events_before")), 500);
    cr_assert_eq(json_array_size(json_object_get(j, "events_after")), 500);
    json_decref(j);
    free(mid);
    free(room);
}
