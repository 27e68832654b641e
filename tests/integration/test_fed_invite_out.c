/* Outbound invites across two real pinegate processes (A, B; --dev configs over loopback
 * HTTPS): an invite of B's user is stored on A only after B countersigned it. A normal
 * invite: the event A stores carries both A's and B's signatures, and B's user sees it in
 * /sync. An invite of a user B does not have: B refuses, A's client gets the error and the
 * room holds no invite. With B stopped: the client gets an error and nothing is stored.
 * A direct chat made with createRoom (invite: [B's user], is_direct) reaches B's user as
 * an invite marked is_direct, and he joins it. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/pgt.h"
#include "support/pgt_fed.h"
#include "support/pgt_matrix.h"

PGT_FED_SUITE_AB(fed_invite_out, 240);

/* The stored PDUs (as JSON) of every m.room.member event for `user` in `room` on A. */
static json_t *stored_member_events(const char *room, const char *user)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/homeserver.db", A.dir);
    sqlite3 *db;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *q;
    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "SELECT pdu FROM events WHERE room_id = ?1 AND type = 'm.room.member'"
                                    " AND state_key = ?2",
                                    -1, &q, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_bind_text(q, 1, room, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, user, -1, SQLITE_STATIC);
    json_t *out = json_array();
    while (sqlite3_step(q) == SQLITE_ROW) {
        json_t *pdu = json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
        cr_assert_not_null(pdu);
        json_array_append_new(out, pdu);
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    return out;
}

static long invite(const pgt_mx_login *who, const char *room, const char *user, json_t **answer)
{
    char body[300];
    snprintf(body, sizeof body, "{\"user_id\":\"%s\"}", user);
    long st;
    *answer =
        pgt_mx_callf(A.base, "POST", who->token, &st, body, "/_matrix/client/v3/rooms/%s/invite", pgt_mx_enc_tmp(room));
    return st;
}

static long member_state(const pgt_mx_login *who, const char *room, const char *user)
{
    long st;
    json_t *r = pgt_mx_callf(A.base, "GET", who->token, &st, NULL, "/_matrix/client/v3/rooms/%s/state/m.room.member/%s",
                             pgt_mx_enc_tmp(room), pgt_mx_enc_tmp(user));
    json_decref(r);
    return st;
}

static bool sync_lists_invite(const pgt_mx_login *u, const char *room)
{
    long st;
    json_t *r = pgt_mx_call(B.base, "GET", "/_matrix/client/v3/sync?timeout=0", u->token, NULL, &st);
    bool found = json_object_get(json_object_get(json_object_get(r, "rooms"), "invite"), room) != NULL;
    json_decref(r);
    return found;
}

Test(fed_invite_out, stored_only_once_the_invitee_server_signed)
{
    pgt_mx_login alice = pgt_mx_must_register(A.base, "alice", "pw-alice-1");
    pgt_mx_login carol = pgt_mx_must_register(B.base, "carol", "pw-carol-1");
    pgt_mx_login dave = pgt_mx_must_register(B.base, "dave", "pw-dave-1");
    char *room = pgt_mx_create_room(A.base, &alice, "{\"preset\":\"private_chat\",\"name\":\"Signed\"}");

    /* the normal case: stored with both signatures, seen on B */
    json_t *r;
    long st = invite(&alice, room, carol.user_id, &r);
    cr_assert_eq(st, 200, "invite: %ld %s", st, json_dumps(r, 0));
    json_decref(r);
    json_t *evs = stored_member_events(room, carol.user_id);
    cr_assert_eq(json_array_size(evs), 1, "one invite stored, got %zu", json_array_size(evs));
    json_t *sigs = json_object_get(json_array_get(evs, 0), "signatures");
    cr_assert(json_object_get(sigs, A.name) && json_object_get(sigs, B.name),
              "the stored invite lacks a signature: %s", json_dumps(sigs, 0));
    json_decref(evs);
    bool seen = false;
    for (int i = 0; i < 50 && !seen; i++) {
        seen = sync_lists_invite(&carol, room);
        if (!seen) usleep(200 * 1000);
    }
    cr_assert(seen, "carol's invite never showed in B's /sync");

    /* B refuses an invite of a user it does not have: an error, nothing stored */
    char ghost[128];
    snprintf(ghost, sizeof ghost, "@ghost:%s", B.name);
    st = invite(&alice, room, ghost, &r);
    cr_assert_neq(st, 200, "inviting a user B does not have succeeded: %s", json_dumps(r, 0));
    json_decref(r);
    cr_assert_eq(member_state(&alice, room, ghost), 404, "the refused invite is in the room state");
    evs = stored_member_events(room, ghost);
    cr_assert_eq(json_array_size(evs), 0, "a refused invite was stored");
    json_decref(evs);

    /* B stopped: an error naming B, nothing stored. 500 M_UNKNOWN as Synapse answers
     * (its RequestSendFailed is no SynapseError, so it becomes a 500), but saying why. */
    cr_assert_eq(pgt_stop(&B.proc, SIGTERM, 10000), 0);
    st = invite(&alice, room, dave.user_id, &r);
    cr_assert_eq(st, 500, "inviting a user of a stopped server: %ld %s", st, json_dumps(r, 0));
    cr_assert_str_eq(json_string_value(json_object_get(r, "errcode")), "M_UNKNOWN", "%s", json_dumps(r, 0));
    const char *msg = json_string_value(json_object_get(r, "error"));
    cr_assert(msg && strstr(msg, B.name) && strstr(msg, "cannot be reached"), "the error names B: %s",
              json_dumps(r, 0));
    json_decref(r);
    cr_assert_eq(member_state(&alice, room, dave.user_id), 404, "the failed invite is in the room state");
    evs = stored_member_events(room, dave.user_id);
    cr_assert_eq(json_array_size(evs), 0, "an unsigned invite was stored");
    json_decref(evs);
    free(room);
}

Test(fed_invite_out, create_room_with_a_remote_invitee_makes_a_direct_chat)
{
    pgt_mx_login alice = pgt_mx_must_register(A.base, "alice", "pw-alice-1");
    pgt_mx_login carol = pgt_mx_must_register(B.base, "carol", "pw-carol-1");
    char body[300];
    snprintf(body, sizeof body, "{\"preset\":\"trusted_private_chat\",\"is_direct\":true,\"invite\":[\"%s\"]}",
             carol.user_id);
    char *room = pgt_mx_create_room(A.base, &alice, body);
    json_t *evs = stored_member_events(room, carol.user_id);
    cr_assert_eq(json_array_size(evs), 1);
    json_t *sigs = json_object_get(json_array_get(evs, 0), "signatures");
    cr_assert(json_object_get(sigs, A.name) && json_object_get(sigs, B.name), "%s", json_dumps(sigs, 0));
    json_decref(evs);
    /* B's /sync: the invite, its member event marked is_direct */
    bool direct = false;
    for (int i = 0; i < 50 && !direct; i++) {
        long st;
        json_t *r = pgt_mx_call(B.base, "GET", "/_matrix/client/v3/sync?timeout=0", carol.token, NULL, &st);
        json_t *inv = json_object_get(json_object_get(json_object_get(r, "rooms"), "invite"), room);
        size_t k;
        json_t *ev;
        json_array_foreach(json_object_get(json_object_get(inv, "invite_state"), "events"), k, ev) {
            const char *sk = json_string_value(json_object_get(ev, "state_key"));
            if (sk && strcmp(sk, carol.user_id) == 0)
                direct = json_is_true(json_object_get(json_object_get(ev, "content"), "is_direct"));
        }
        json_decref(r);
        if (!direct) usleep(200 * 1000);
    }
    cr_assert(direct, "carol's invite is missing or not marked is_direct");
    long st;
    json_t *r =
        pgt_mx_callf(B.base, "POST", carol.token, &st, "{}", "/_matrix/client/v3/join/%s", pgt_mx_enc_tmp(room));
    cr_assert_eq(st, 200, "join: %ld %s", st, json_dumps(r, 0));
    json_decref(r);
    pgt_fed_expect_membership(&A, &alice, room, carol.user_id, "join");
    free(room);
}
