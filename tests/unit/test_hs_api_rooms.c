/* The rooms API end to end: a real hs_server on an ephemeral loopback port, users
 * registered over HTTP and libcurl requests, checking what Matrix clients see -
 * createRoom presets through /state, joining a public room and talking, the spec's
 * errors (403 non-member, 404 unknown room, 413, unsupported version), transaction-ID
 * retries, /messages pagination both ways without gaps or duplicates, and everything
 * surviving a server restart on the same database. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_server.h"
#include "support/pgt.h"
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
    snprintf(cfg.database_path, sizeof cfg.database_path, "%s/hs.db", dir);
    snprintf(cfg.signing_key_path, sizeof cfg.signing_key_path, "%s/signing.key", dir);
    hs_signing_key key;
    cr_assert_eq(hs_signing_key_generate(&key), 0);
    cr_assert_eq(hs_signing_key_save(cfg.signing_key_path, &key, err, sizeof err), 0, "%s", err);
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

static json_t *call(const char *method, const char *token, long *status, const char *body, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static json_t *call(const char *method, const char *token, long *status, const char *body, const char *fmt, ...)
{
    char path[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    json_t *j = pgt_mx_call(base, method, path, token, body, status);
    cr_assert_not_null(j, "%s %s: status %ld, no JSON", method, path, *status);
    return j;
}

/* Percent-encodes a Matrix ID for a path segment. */
static const char *enc(const char *id, char *buf, size_t cap)
{
    size_t o = 0;
    for (const char *p = id; *p && o + 4 < cap; p++) {
        if (strchr("!:$@#/+=", *p)) o += (size_t)snprintf(buf + o, cap - o, "%%%02X", (unsigned char)*p);
        else buf[o++] = *p;
    }
    buf[o] = 0;
    return buf;
}

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
    *all = call("GET", u->token, &st, NULL, "/_matrix/client/v3/rooms/%s/state", enc(room, r, sizeof r));
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
                     enc(room, r, sizeof r), txn);
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
        json_t *j = call("POST", b.token, &st, "{}", "/_matrix/client/v3/rooms/%s/join", enc(room, r, sizeof r));
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
    json_t *j = call("POST", b.token, &st, "{}", "/_matrix/client/r0/join/%s", enc(room, r, sizeof r));
    cr_assert_eq(st, 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "room_id")), room);
    json_decref(j);
    char *e1 = send_text(&a, room, "t1", "hello bob", 200);
    char *e2 = send_text(&b, room, "t1", "hello alice", 200);
    cr_assert_str_neq(e1, e2);
    /* carol never joined: she can neither write nor read */
    send_text(&c, room, "t1", "intruder", 403);
    expect_error(call("GET", c.token, &st, NULL, "/_matrix/client/v3/rooms/%s/messages?dir=b", enc(room, r, sizeof r)),
                 &st, 403, "M_FORBIDDEN");
    expect_error(call("GET", c.token, &st, NULL, "/_matrix/client/v3/rooms/%s/state", enc(room, r, sizeof r)), &st, 403,
                 "M_FORBIDDEN");
    /* unknown room */
    expect_error(call("PUT", a.token, &st, "{\"body\":\"x\"}",
                      "/_matrix/client/v3/rooms/%%21nope%%3Aexample.test/send/m.room.message/t9"),
                 &st, 404, "M_NOT_FOUND");
    expect_error(call("GET", a.token, &st, NULL, "/_matrix/client/v3/rooms/%%21nope%%3Aexample.test/state"), &st, 404,
                 "M_NOT_FOUND");
    /* bob (power 0) may not rename the room: the auth rule is named */
    j = call("PUT", b.token, &st, "{\"name\":\"mine\"}", "/_matrix/client/v3/rooms/%s/state/m.room.name",
             enc(room, r, sizeof r));
    cr_assert_eq(st, 403);
    cr_assert(strstr(json_string_value(json_object_get(j, "error")), "rule"), "%s",
              json_string_value(json_object_get(j, "error")));
    json_decref(j);
    /* alice may; state by key with and without the trailing state key */
    j = call("PUT", a.token, &st, "{\"name\":\"ours\"}", "/_matrix/client/v3/rooms/%s/state/m.room.name",
             enc(room, r, sizeof r));
    cr_assert_eq(st, 200);
    json_decref(j);
    j = call("GET", b.token, &st, NULL, "/_matrix/client/v3/rooms/%s/state/m.room.name", enc(room, r, sizeof r));
    cr_assert_eq(st, 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "name")), "ours");
    json_decref(j);
    j = call("PUT", a.token, &st, "{\"v\":2}", "/_matrix/client/v3/rooms/%s/state/org.example/k1",
             enc(room, r, sizeof r));
    cr_assert_eq(st, 200);
    json_decref(j);
    j = call("GET", b.token, &st, NULL, "/_matrix/client/v3/rooms/%s/state/org.example/k1", enc(room, r, sizeof r));
    cr_assert_eq(json_integer_value(json_object_get(j, "v")), 2);
    json_decref(j);
    expect_error(call("GET", b.token, &st, NULL, "/_matrix/client/v3/rooms/%s/state/org.example/k2",
                      enc(room, r, sizeof r)),
                 &st, 404, "M_NOT_FOUND");
    /* the event endpoint, in client format */
    char e[256];
    j = call("GET", b.token, &st, NULL, "/_matrix/client/v3/rooms/%s/event/%s", enc(room, r, sizeof r),
             enc(e1, e, sizeof e));
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
                      enc(room, r, sizeof r)),
                 &st, 413, "M_TOO_LARGE");
    free(body);
    expect_error(call("POST", a.token, &st, "{\"room_version\":\"99\"}", "/_matrix/client/v3/createRoom"), &st, 400,
                 "M_UNSUPPORTED_ROOM_VERSION");
    /* leave, then reading is refused */
    j = call("POST", b.token, &st, "{}", "/_matrix/client/v3/rooms/%s/leave", enc(room, r, sizeof r));
    cr_assert_eq(st, 200);
    json_decref(j);
    send_text(&b, room, "t2", "gone", 403);
    j = call("GET", b.token, &st, NULL, "/_matrix/client/v3/joined_rooms");
    cr_assert_eq(json_array_size(json_object_get(j, "joined_rooms")), 0);
    json_decref(j);
    /* invite carol into the invite-only flow of a private room */
    char *priv = create_room(&a, "{}");
    char p[512];
    expect_error(call("POST", c.token, &st, "{}", "/_matrix/client/v3/rooms/%s/join", enc(priv, p, sizeof p)), &st,
                 403, "M_FORBIDDEN");
    expect_error(call("POST", a.token, &st, "{\"user_id\":\"@ghost:example.test\"}",
                      "/_matrix/client/v3/rooms/%s/invite", enc(priv, p, sizeof p)),
                 &st, 404, "M_NOT_FOUND");
    char ib[300];
    snprintf(ib, sizeof ib, "{\"user_id\":\"%s\"}", c.user_id);
    j = call("POST", a.token, &st, ib, "/_matrix/client/v3/rooms/%s/invite", enc(priv, p, sizeof p));
    cr_assert_eq(st, 200);
    json_decref(j);
    j = call("POST", c.token, &st, "{}", "/_matrix/client/v3/rooms/%s/join", enc(priv, p, sizeof p));
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
                     enc(room, r, sizeof r));
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
    json_t *j = call("GET", a.token, &st, NULL, "/_matrix/client/v3/rooms/%s/event/%s", enc(room, r, sizeof r),
                     enc(id, e, sizeof e));
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
                         enc(room, r, sizeof r), direction, limit, fromq);
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
    json_t *j = call("POST", b.token, &st, "{}", "/_matrix/client/v3/join/%s", enc(room, r, sizeof r));
    cr_assert_eq(st, 200);
    json_decref(j);
    send_fifty(&a, &b, room);
    check_fifty_both_ways(&b, room);
    expect_error(call("GET", a.token, &st, NULL, "/_matrix/client/v3/rooms/%s/messages?dir=x", enc(room, r, sizeof r)),
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
