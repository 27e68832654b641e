/* Outbound knocking across two real pinegate processes (A, B; --dev configs over loopback
 * HTTPS). Alice on A has a version-10 room with join rule knock and an alias; bob on B
 * knocks by the alias (query/directory on A, make_knock, send_knock): A's /sync shows
 * alice bob's knock with its reason, B's /sync shows bob the room under rooms.knock with
 * the stripped state A sent (join rule, name). Alice then invites bob (countersigned by
 * B), bob sees the invite and joins through A, and alice sees him joined. A knock is
 * withdrawn with a leave (make_leave/send_leave on A). Knocking on a public room of A is
 * refused with 403 and leaves nothing in bob's /sync. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/pgt.h"
#include "support/pgt_fed.h"
#include "support/pgt_matrix.h"

typedef pgt_fed_node node;

PGT_FED_SUITE_AB(fed_knock_out, 240);

static json_t *sync_of(const node *n, const pgt_mx_login *u)
{
    long st;
    json_t *r = pgt_mx_call(n->base, "GET", "/_matrix/client/v3/sync?timeout=0", u->token, NULL, &st);
    cr_assert_eq(st, 200, "sync on %s: %ld", n->name, st);
    return r;
}

static json_t *room_section(json_t *sync, const char *section, const char *room)
{
    return json_object_get(json_object_get(json_object_get(sync, "rooms"), section), room);
}

/* The reason of `user`'s knock in the timeline of joined `room` in `u`'s /sync on `n`,
 * or NULL (copied into buf). */
static const char *knock_reason_in_sync(const node *n, const pgt_mx_login *u, const char *room, const char *user,
                                        char *buf, size_t len)
{
    json_t *s = sync_of(n, u);
    json_t *tl = json_object_get(json_object_get(room_section(s, "join", room), "timeline"), "events");
    const char *found = NULL;
    size_t i;
    json_t *ev;
    json_array_foreach(tl, i, ev) {
        const char *type = json_string_value(json_object_get(ev, "type"));
        const char *sk = json_string_value(json_object_get(ev, "state_key"));
        json_t *c = json_object_get(ev, "content");
        const char *m = json_string_value(json_object_get(c, "membership"));
        if (type && strcmp(type, "m.room.member") == 0 && sk && strcmp(sk, user) == 0 && m &&
            strcmp(m, "knock") == 0) {
            const char *reason = json_string_value(json_object_get(c, "reason"));
            snprintf(buf, len, "%s", reason ? reason : "");
            found = buf;
        }
    }
    json_decref(s);
    return found;
}

static bool eventually_in_section(const node *n, const pgt_mx_login *u, const char *section, const char *room)
{
    for (int i = 0; i < 75; i++) {
        json_t *s = sync_of(n, u);
        bool in = room_section(s, section, room) != NULL;
        json_decref(s);
        if (in) return true;
        usleep(200 * 1000);
    }
    return false;
}

Test(fed_knock_out, a_knock_by_alias_is_seen_on_both_servers_and_answered_with_an_invite)
{
    pgt_mx_login alice = pgt_mx_must_register(A.base, "alice", "pw-alice-1");
    pgt_mx_login bob = pgt_mx_must_register(B.base, "bob", "pw-bob-1");
    char *room = pgt_mx_create_room(A.base, &alice,
                                    "{\"room_version\":\"10\",\"preset\":\"private_chat\",\"name\":\"Knock here\","
                                    "\"room_alias_name\":\"knockable\",\"initial_state\":[{\"type\":"
                                    "\"m.room.join_rules\",\"state_key\":\"\",\"content\":{\"join_rule\":\"knock\"}}]}");
    char alias[128];
    snprintf(alias, sizeof alias, "#knockable:%s", A.name);

    long st;
    json_t *r = pgt_mx_callf(B.base, "POST", bob.token, &st, "{\"reason\":\"let me in\"}",
                             "/_matrix/client/v3/knock/%s", pgt_mx_enc_tmp(alias));
    cr_assert_eq(st, 200, "knock: %ld %s", st, json_dumps(r, 0));
    cr_assert_str_eq(json_string_value(json_object_get(r, "room_id")), room);
    json_decref(r);

    /* A: alice sees the knock, with its reason */
    char reason[64];
    cr_assert_not_null(knock_reason_in_sync(&A, &alice, room, bob.user_id, reason, sizeof reason),
                       "no knock of bob in alice's /sync");
    cr_assert_str_eq(reason, "let me in");

    /* B: bob sees the room under rooms.knock with A's stripped state */
    json_t *s = sync_of(&B, &bob);
    json_t *knocked = room_section(s, "knock", room);
    cr_assert_not_null(knocked, "rooms.knock lacks the room: %s", json_dumps(json_object_get(s, "rooms"), 0));
    bool rule = false, name = false, mine = false;
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(json_object_get(knocked, "knock_state"), "events"), i, ev) {
        const char *type = json_string_value(json_object_get(ev, "type"));
        json_t *c = json_object_get(ev, "content");
        if (!type) continue;
        const char *jr = json_string_value(json_object_get(c, "join_rule"));
        const char *nm = json_string_value(json_object_get(c, "name"));
        if (strcmp(type, "m.room.join_rules") == 0) rule = jr && strcmp(jr, "knock") == 0;
        if (strcmp(type, "m.room.name") == 0) name = nm && strcmp(nm, "Knock here") == 0;
        if (strcmp(type, "m.room.member") == 0)
            mine = strcmp(json_string_value(json_object_get(ev, "state_key")), bob.user_id) == 0 &&
                   strcmp(json_string_value(json_object_get(c, "membership")), "knock") == 0;
    }
    cr_assert(rule && name && mine, "knock_state lacks the join rule, name or the knock: %s", json_dumps(knocked, 0));
    cr_assert_null(room_section(s, "join", room));
    json_decref(s);

    /* alice lets bob in: an invite (countersigned by B), then bob joins */
    char body[256];
    snprintf(body, sizeof body, "{\"user_id\":\"%s\"}", bob.user_id);
    r = pgt_mx_callf(A.base, "POST", alice.token, &st, body, "/_matrix/client/v3/rooms/%s/invite",
                     pgt_mx_enc_tmp(room));
    cr_assert_eq(st, 200, "invite: %ld %s", st, json_dumps(r, 0));
    json_decref(r);
    cr_assert(eventually_in_section(&B, &bob, "invite", room), "the invite never showed in bob's /sync");
    r = pgt_mx_callf(B.base, "POST", bob.token, &st, "{}", "/_matrix/client/v3/join/%s", pgt_mx_enc_tmp(room));
    cr_assert_eq(st, 200, "join: %ld %s", st, json_dumps(r, 0));
    json_decref(r);
    cr_assert(eventually_in_section(&B, &bob, "join", room));
    pgt_fed_expect_membership(&A, &alice, room, bob.user_id, "join");
    free(room);
}

Test(fed_knock_out, knocking_on_a_public_room_is_refused_and_stores_nothing)
{
    pgt_mx_login alice = pgt_mx_must_register(A.base, "alice", "pw-alice-1");
    pgt_mx_login bob = pgt_mx_must_register(B.base, "bob", "pw-bob-1");
    char *room = pgt_mx_create_room(A.base, &alice, "{\"room_version\":\"10\",\"preset\":\"public_chat\"}");
    long st;
    json_t *r = pgt_mx_callf(B.base, "POST", bob.token, &st, "{}", "/_matrix/client/v3/knock/%s?via=%s",
                             pgt_mx_enc_tmp(room), pgt_mx_enc_tmp(A.name));
    cr_assert_eq(st, 403, "knock on a public room: %ld %s", st, json_dumps(r, 0));
    cr_assert_str_eq(json_string_value(json_object_get(r, "errcode")), "M_FORBIDDEN");
    json_decref(r);
    json_t *s = sync_of(&B, &bob);
    cr_assert_null(room_section(s, "knock", room));
    json_decref(s);
    free(room);
}

Test(fed_knock_out, a_knock_is_withdrawn_with_a_leave)
{
    pgt_mx_login alice = pgt_mx_must_register(A.base, "alice", "pw-alice-1");
    pgt_mx_login bob = pgt_mx_must_register(B.base, "bob", "pw-bob-1");
    char *room = pgt_mx_create_room(A.base, &alice,
                                    "{\"room_version\":\"10\",\"preset\":\"private_chat\",\"initial_state\":[{"
                                    "\"type\":\"m.room.join_rules\",\"state_key\":\"\",\"content\":{\"join_rule\":"
                                    "\"knock\"}}]}");
    long st;
    json_t *r = pgt_mx_callf(B.base, "POST", bob.token, &st, "{}", "/_matrix/client/v3/knock/%s?via=%s",
                             pgt_mx_enc_tmp(room), pgt_mx_enc_tmp(A.name));
    cr_assert_eq(st, 200, "knock: %ld %s", st, json_dumps(r, 0));
    json_decref(r);
    r = pgt_mx_callf(B.base, "POST", bob.token, &st, "{}", "/_matrix/client/v3/rooms/%s/leave", pgt_mx_enc_tmp(room));
    cr_assert_eq(st, 200, "withdraw: %ld %s", st, json_dumps(r, 0));
    json_decref(r);
    pgt_fed_expect_membership(&A, &alice, room, bob.user_id, "leave");
    json_t *s = sync_of(&B, &bob);
    cr_assert_null(room_section(s, "knock", room), "the withdrawn knock is still listed");
    json_decref(s);
    free(room);
}
