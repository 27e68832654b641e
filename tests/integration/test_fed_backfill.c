/* Backfill across two real pinegate processes (localhost:PORT_A, localhost:PORT_B,
 * --dev configs): alice on A sends 180 messages into a public room; bob on B joins it by
 * alias, which brings the room's state (as outliers) and its latest 50 events (as
 * history). Paging /messages backwards on B from the join until `end` is absent must
 * then give every one of the 180 messages exactly once, in order, then the room's
 * creation events, ending with m.room.create - B fetches what it lacks from A with
 * /backfill while the client pages. B's initial sync shows the newest of that history
 * (limited, as the room's history is shared); none of it ever shows in an incremental
 * /sync as a new timeline event. A second pass is served from B's own store: it gives the same events
 * with A stopped, and paging forwards from the room's beginning gives them oldest
 * first. Two of B's users paging at once (their backfills racing) both get the
 * whole history, each event once. With A down, paging stops at what B holds with an
 * `end` token, from which the client continues once A is back. An event A sends
 * unsigned is left out, the rest of its batch kept. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sqlite3.h>
#include <string.h>

#include "support/pgt.h"
#include "support/pgt_fed.h"
#include "support/pgt_matrix.h"

#define MESSAGES 180
#define PAGE 25
#define MAX_PAGES 200

PGT_FED_SUITE_AB(fed_backfill, 300);

/* The bodies of the m.room.message events of a sync's timeline for room, in an array
 * (new reference). */
static json_t *sync_bodies(const json_t *sync, const char *room)
{
    json_t *out = json_array();
    json_t *tl = json_object_get(
        json_object_get(json_object_get(json_object_get(json_object_get(sync, "rooms"), "join"), room), "timeline"),
        "events");
    size_t i;
    json_t *ev;
    json_array_foreach(tl, i, ev) {
        const char *body = json_string_value(json_object_get(json_object_get(ev, "content"), "body"));
        if (body) json_array_append_new(out, json_string(body));
    }
    return out;
}

/* Pages /messages backwards on B as `u` from token `from` (64 bytes; "" for the newest
 * event) until `end` is absent or a chunk comes back empty; returns every event seen,
 * newest first (new reference), or NULL with the reason in err. *ended tells whether
 * the last answer had no `end`; `from` is left at the last `end` given. No Criterion
 * assertion: threads call it too. */
static json_t *page_from(const pgt_mx_login *u, const char *room, char from[64], bool *ended, char *err,
                         size_t err_len)
{
    char er[256], path[1024];
    pgt_mx_enc(room, er, sizeof er);
    json_t *all = json_array();
    *ended = false;
    for (int page = 0; page < MAX_PAGES; page++) {
        long st;
        snprintf(path, sizeof path, "/_matrix/client/v3/rooms/%s/messages?dir=b&limit=%d%s%s", er, PAGE,
                 from[0] ? "&from=" : "", from);
        json_t *r = pgt_mx_call(B.base, "GET", path, u->token, NULL, &st);
        if (st != 200) {
            snprintf(err, err_len, "messages page %d: HTTP %ld", page, st);
            json_decref(r);
            json_decref(all);
            return NULL;
        }
        json_t *chunk = json_object_get(r, "chunk");
        json_array_extend(all, chunk);
        const char *end = json_string_value(json_object_get(r, "end"));
        bool empty = json_array_size(chunk) == 0;
        if (end) snprintf(from, 64, "%s", end);
        json_decref(r);
        if (!end) {
            *ended = true;
            break;
        }
        if (empty) break;
    }
    return all;
}

static json_t *page_collect(const pgt_mx_login *u, const char *room, bool *ended, char *err, size_t err_len)
{
    char from[64] = "";
    return page_from(u, room, from, ended, err, err_len);
}

static json_t *page_all(const pgt_mx_login *u, const char *room, bool *ended)
{
    char err[256] = "";
    json_t *all = page_collect(u, room, ended, err, sizeof err);
    cr_assert_not_null(all, "%s", err);
    return all;
}

/* Checks one full pass: the join, the messages newest first (all of m1..m<messages>
 * but m<skip>; 0 for none), then the room's creation events ending with m.room.create,
 * each event once. */
static void check_pass_of(const json_t *all, const char *joiner, int messages, int skip)
{
    json_t *ids = json_object();
    size_t i;
    json_t *ev;
    int next = messages; /* the message expected next, going back */
    json_array_foreach(all, i, ev) {
        const char *id = json_string_value(json_object_get(ev, "event_id"));
        cr_assert(id, "event without ID");
        cr_assert_null(json_object_get(ids, id), "event %s came twice", id);
        json_object_set_new(ids, id, json_true());
        const char *type = json_string_value(json_object_get(ev, "type"));
        if (strcmp(type, "m.room.message") == 0) {
            if (skip && next == skip) next--;
            char want[32];
            snprintf(want, sizeof want, "m%d", next--);
            const char *body = json_string_value(json_object_get(json_object_get(ev, "content"), "body"));
            cr_assert_str_eq(body ? body : "", want, "event %zu of the pages", i);
        }
    }
    json_decref(ids);
    if (skip && next == skip) next--;
    cr_assert_eq(next, 0, "%d messages missing", next);
    const json_t *first = json_array_get(all, 0);
    cr_assert_str_eq(json_string_value(json_object_get(first, "type")), "m.room.member");
    cr_assert_str_eq(json_string_value(json_object_get(first, "state_key")), joiner, "the pages begin at the join");
    const json_t *last = json_array_get(all, json_array_size(all) - 1);
    cr_assert_str_eq(json_string_value(json_object_get(last, "type")), "m.room.create",
                     "the room's history ends with its creation");
    /* alice's join and the room's initial state are there, once, before the messages */
    size_t n_state = json_array_size(all) - 1 - (size_t)messages + (skip ? 1 : 0);
    cr_assert_geq(n_state, 4, "creation events: %zu", n_state);
    cr_log_info("a pass: %zu events, %zu of them the room's creation", json_array_size(all), n_state);
}

static void check_pass(const json_t *all, const char *joiner)
{
    check_pass_of(all, joiner, MESSAGES, 0);
}

/* alice on A, a public room #lib:A of room version `version` with `messages` messages,
 * and bob of B joined by alias. Returns the room ID (caller frees). */
static char *history_room_of(pgt_mx_login *alice, pgt_mx_login *bob, const char *version, int messages)
{
    *alice = pgt_mx_must_register(A.base, "alice", "pw-alice-1");
    *bob = pgt_mx_must_register(B.base, "bob", "pw-bob-1");
    char body[256];
    snprintf(body, sizeof body,
             "{\"preset\":\"public_chat\",\"room_alias_name\":\"lib\",\"name\":\"Library\",\"room_version\":\"%s\"}",
             version);
    char *room = pgt_mx_create_room(A.base, alice, body);
    for (int i = 1; i <= messages; i++) {
        char text[32];
        snprintf(text, sizeof text, "m%d", i);
        free(pgt_mx_send_text(A.base, alice, room, text));
    }
    char alias[128], ea[256];
    snprintf(alias, sizeof alias, "#lib:%s", A.name);
    long st;
    json_t *r = pgt_mx_callf(B.base, "POST", bob->token, &st, "{}", "/_matrix/client/v3/join/%s",
                             pgt_mx_enc(alias, ea, sizeof ea));
    cr_assert_eq(st, 200, "join by alias on B: %ld %s", st, json_dumps(r, 0));
    json_decref(r);
    return room;
}

static char *history_room(pgt_mx_login *alice, pgt_mx_login *bob)
{
    return history_room_of(alice, bob, "10", MESSAGES);
}

Test(fed_backfill, paging_past_the_join_fetches_all_history_once_in_order)
{
    pgt_mx_login alice, bob;
    char *room = history_room(&alice, &bob);
    long st;

    /* The initial sync shows the newest of the history fetched with the join (the
     * room's history is shared), in order up to the last message, and says there is
     * more (limited) for the client to page through. */
    json_t *sync = pgt_mx_callf(B.base, "GET", bob.token, &st, NULL, "/_matrix/client/v3/sync?timeout=0");
    cr_assert_eq(st, 200);
    json_t *joined = json_object_get(json_object_get(json_object_get(sync, "rooms"), "join"), room);
    cr_assert_not_null(joined);
    cr_assert(json_is_true(json_object_get(json_object_get(joined, "timeline"), "limited")));
    json_t *bodies = sync_bodies(sync, room);
    size_t nb = json_array_size(bodies);
    cr_assert(nb >= 1 && nb < (size_t)MESSAGES, "history in the initial sync: %s", json_dumps(bodies, 0));
    for (size_t i = 0; i < nb; i++) {
        char want[32];
        snprintf(want, sizeof want, "m%zu", MESSAGES - nb + 1 + i);
        cr_assert_str_eq(json_string_value(json_array_get(bodies, i)), want, "initial sync timeline %zu", i);
    }
    json_decref(bodies);
    char since[256];
    snprintf(since, sizeof since, "%s", json_string_value(json_object_get(sync, "next_batch")));
    json_decref(sync);

    /* The room's create event came with the join as an outlier: state, not timeline,
     * so no /context around it - until paging makes it history. */
    char er[256], ec[256];
    pgt_mx_enc(room, er, sizeof er);
    json_t *state = pgt_mx_callf(B.base, "GET", bob.token, &st, NULL, "/_matrix/client/v3/rooms/%s/state", er);
    cr_assert_eq(st, 200, "state: %ld", st);
    char create_id[256] = "";
    size_t k;
    json_t *ev;
    json_array_foreach(state, k, ev) {
        if (strcmp(json_string_value(json_object_get(ev, "type")), "m.room.create") == 0)
            snprintf(create_id, sizeof create_id, "%s", json_string_value(json_object_get(ev, "event_id")));
    }
    json_decref(state);
    cr_assert(create_id[0] == '$', "no create event in the state");
    pgt_mx_check_error(pgt_mx_callf(B.base, "GET", bob.token, &st, NULL, "/_matrix/client/v3/rooms/%s/context/%s",
                                    er, pgt_mx_enc(create_id, ec, sizeof ec)),
                       &st, 404, "M_NOT_FOUND");
    pgt_mx_check_ok(pgt_mx_callf(B.base, "GET", bob.token, &st, NULL, "/_matrix/client/v3/rooms/%s/event/%s", er, ec),
                    &st);

    bool ended;
    long t0 = pgt_now_ms();
    json_t *first = page_all(&bob, room, &ended);
    long fetched_ms = pgt_now_ms() - t0;
    cr_assert(ended, "the pages ended with an end token still there");
    check_pass(first, bob.user_id);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(first, json_array_size(first) - 1), "event_id")),
                     create_id);
    pgt_mx_check_ok(pgt_mx_callf(B.base, "GET", bob.token, &st, NULL, "/_matrix/client/v3/rooms/%s/context/%s", er, ec),
                    &st);

    /* What was fetched while paging is history, not news. */
    char es[512];
    sync = pgt_mx_callf(B.base, "GET", bob.token, &st, NULL, "/_matrix/client/v3/sync?timeout=0&since=%s",
                        pgt_mx_enc(since, es, sizeof es));
    cr_assert_eq(st, 200);
    bodies = sync_bodies(sync, room);
    cr_assert_eq(json_array_size(bodies), 0, "backfilled events in an incremental sync: %s", json_dumps(bodies, 0));
    json_decref(bodies);
    json_decref(sync);

    /* The second pass needs nothing from A. */
    cr_assert_eq(pgt_stop(&A.proc, SIGTERM, 10000), 0);
    t0 = pgt_now_ms();
    json_t *second = page_all(&bob, room, &ended);
    cr_log_info("paging %zu events in pages of %d: %ld ms with backfill from A, %ld ms from B's store",
                json_array_size(first), PAGE, fetched_ms, pgt_now_ms() - t0);
    cr_assert(ended, "the second pass did not end");
    cr_assert_eq(json_array_size(second), json_array_size(first));
    for (size_t i = 0; i < json_array_size(first); i++)
        cr_assert_str_eq(json_string_value(json_object_get(json_array_get(second, i), "event_id")),
                         json_string_value(json_object_get(json_array_get(first, i), "event_id")), "event %zu", i);
    /* Forwards from the room's beginning (no `from`): the same events, oldest first. */
    json_t *fwd = json_array();
    char from[64] = "";
    for (int page = 0; page < MAX_PAGES; page++) {
        char er2[256];
        json_t *r2 = pgt_mx_callf(B.base, "GET", bob.token, &st, NULL,
                                  "/_matrix/client/v3/rooms/%s/messages?dir=f&limit=%d%s%s",
                                  pgt_mx_enc(room, er2, sizeof er2), PAGE, from[0] ? "&from=" : "", from);
        cr_assert_eq(st, 200);
        json_array_extend(fwd, json_object_get(r2, "chunk"));
        const char *end = json_string_value(json_object_get(r2, "end"));
        bool more = end && json_array_size(json_object_get(r2, "chunk")) > 0;
        if (end) snprintf(from, sizeof from, "%s", end);
        json_decref(r2);
        if (!more) break;
    }
    cr_assert_eq(json_array_size(fwd), json_array_size(first));
    for (size_t i = 0; i < json_array_size(first); i++)
        cr_assert_str_eq(json_string_value(json_object_get(json_array_get(fwd, i), "event_id")),
                         json_string_value(json_object_get(json_array_get(first, json_array_size(first) - 1 - i),
                                                           "event_id")),
                         "forwards event %zu", i);
    json_decref(fwd);
    json_decref(first);
    json_decref(second);
    free(room);
}

typedef struct pager {
    const pgt_mx_login *u;
    const char *room;
    json_t *all;
    bool ended;
    char err[256];
} pager;

static void *pager_run(void *arg)
{
    pager *p = arg;
    p->all = page_collect(p->u, p->room, &p->ended, p->err, sizeof p->err);
    return NULL;
}

/* Two of B's users page at once, so their backfills race: each must still see every
 * message once and in order, and the room's history on B has each event once. */
Test(fed_backfill, two_clients_paging_at_once_get_the_same_history)
{
    pgt_mx_login alice, bob;
    char *room = history_room(&alice, &bob);
    pgt_mx_login carol = pgt_mx_must_register(B.base, "carol", "pw-carol-1");
    char er[256];
    long st;
    pgt_mx_check_ok(pgt_mx_callf(B.base, "POST", carol.token, &st, "{}", "/_matrix/client/v3/join/%s",
                                 pgt_mx_enc(room, er, sizeof er)),
                    &st);
    pager p[2] = {{.u = &bob, .room = room}, {.u = &carol, .room = room}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) cr_assert_eq(pthread_create(&t[i], NULL, pager_run, &p[i]), 0);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++) {
        cr_assert_not_null(p[i].all, "%s", p[i].err);
        cr_assert(p[i].ended, "pager %d did not reach the end", i);
        /* the newest event is carol's own join; bob's comes right after it */
        cr_assert_str_eq(json_string_value(json_object_get(json_array_get(p[i].all, 0), "state_key")), carol.user_id);
        json_array_remove(p[i].all, 0);
        check_pass(p[i].all, bob.user_id);
    }
    cr_assert_eq(json_array_size(p[0].all), json_array_size(p[1].all));
    for (size_t i = 0; i < json_array_size(p[0].all); i++)
        cr_assert_str_eq(json_string_value(json_object_get(json_array_get(p[0].all, i), "event_id")),
                         json_string_value(json_object_get(json_array_get(p[1].all, i), "event_id")), "event %zu", i);
    json_decref(p[0].all);
    json_decref(p[1].all);
    free(room);
}

/* With A down, paging past what B holds answers what B holds and an `end` to come back
 * with (never an error); once A is back, paging on from that `end` gets the rest. */
Test(fed_backfill, an_unreachable_server_leaves_an_end_to_retry_from)
{
    pgt_mx_login alice, bob;
    char *room = history_room(&alice, &bob);
    cr_assert_eq(pgt_stop(&A.proc, SIGTERM, 10000), 0);
    char from[64] = "", err[256] = "";
    bool ended;
    json_t *held = page_from(&bob, room, from, &ended, err, sizeof err);
    cr_assert_not_null(held, "%s", err);
    cr_assert(!ended, "the history ended while A could not be asked");
    cr_assert(from[0], "no end token to retry from");
    /* the join and the 50 events that came with it */
    cr_assert_eq(json_array_size(held), 51, "%zu events held", json_array_size(held));
    pgt_fed_serve(&A);
    json_t *rest = page_from(&bob, room, from, &ended, err, sizeof err);
    cr_assert_not_null(rest, "%s", err);
    cr_assert(ended, "the pages did not end once A was back");
    json_array_extend(held, rest);
    check_pass(held, bob.user_id);
    json_decref(rest);
    json_decref(held);
    free(room);
}

/* Room version 12: events do not cite the create event among their auth events, so
 * the check takes the room's own; the rest is the same. */
Test(fed_backfill, a_v12_room_backfills_the_same_way)
{
    pgt_mx_login alice, bob;
    char *room = history_room_of(&alice, &bob, "12", MESSAGES);
    bool ended;
    json_t *all = page_all(&bob, room, &ended);
    cr_assert(ended, "the pages did not end");
    check_pass(all, bob.user_id);
    json_decref(all);
    free(room);
}

/* A server that sends one bad event among its history (m100 without signatures - its
 * database tampered with while it was stopped): B leaves that event out and keeps the
 * rest of the batch and everything older, instead of refusing the whole batch. */
Test(fed_backfill, a_bad_event_is_left_out_and_the_rest_kept)
{
    pgt_mx_login alice = pgt_mx_must_register(A.base, "alice", "pw-alice-1");
    pgt_mx_login bob = pgt_mx_must_register(B.base, "bob", "pw-bob-1");
    char *room = pgt_mx_create_room(A.base, &alice, "{\"preset\":\"public_chat\",\"room_alias_name\":\"lib\"}");
    for (int i = 1; i <= MESSAGES; i++) {
        char text[32];
        snprintf(text, sizeof text, "m%d", i);
        free(pgt_mx_send_text(A.base, &alice, room, text));
    }
    cr_assert_eq(pgt_stop(&A.proc, SIGTERM, 10000), 0);
    char path[1200];
    snprintf(path, sizeof path, "%s/homeserver.db", A.dir);
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    char *err = NULL;
    cr_assert_eq(sqlite3_exec(db,
                              "UPDATE events SET pdu = json_remove(pdu, '$.signatures')"
                              " WHERE json_extract(pdu, '$.content.body') = 'm100'",
                              NULL, NULL, &err),
                 SQLITE_OK, "%s", err ? err : "");
    cr_assert_eq(sqlite3_changes(db), 1);
    sqlite3_close(db);
    pgt_fed_serve(&A);
    char alias[128], ea[256];
    snprintf(alias, sizeof alias, "#lib:%s", A.name);
    long st;
    pgt_mx_check_ok(pgt_mx_callf(B.base, "POST", bob.token, &st, "{}", "/_matrix/client/v3/join/%s",
                                 pgt_mx_enc(alias, ea, sizeof ea)),
                    &st);
    bool ended;
    json_t *all = page_all(&bob, room, &ended);
    cr_assert(ended, "the pages did not end");
    check_pass_of(all, bob.user_id, MESSAGES, 100);
    json_decref(all);
    free(room);
}
