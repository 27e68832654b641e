/* Restricted joins over federation between two real pinegate processes (MSC3083, room
 * version 10): A holds a public room S and a room R whose join rule admits S's members.
 * bob of B joins S, then R through B's client: A's make_join names alice (A's only
 * member, who may invite) in join_authorised_via_users_server, A countersigns the join
 * at send_join, and B's stored copy of the join carries A's valid signature (read back
 * from B over federation). carol of B, in no allowed room, is refused: 403 M_FORBIDDEN
 * from A's make_join and from B's client API, and nothing is stored. A room whose allow
 * list names a room A is not in gets 400 M_UNABLE_TO_AUTHORISE_JOIN from A's make_join
 * for a user of B (A cannot tell), one where nobody on A may invite 400
 * M_UNABLE_TO_GRANT_JOIN; B's client is answered A's errcode and status. A send_join
 * naming an authoriser of another server is refused with 400. Once B holds a room where
 * none of its users may invite, dave of B (in S) joins it through A: B's stored join
 * names alice and carries A's signature, and A holds the same join. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server-core/hs_event_id.h"
#include "server-core/hs_room_version.h"
#include "server-core/hs_signing.h"
#include "server-core/hs_signing_key.h"
#include "server-core/hs_xmatrix.h"
#include "support/pgt.h"
#include "support/pgt_fed.h"
#include "support/pgt_matrix.h"

typedef pgt_fed_node node;

static node A, B;

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

TestSuite(fed_restricted_join, .init = start, .fini = stop, .timeout = 240);

static const char *enc(const char *s)
{
    static char buf[8][512];
    static int k;
    return pgt_mx_enc(s, buf[k++ & 7], sizeof buf[0]);
}

static hs_signing_key key_of(const node *n)
{
    char path[1100], err[256];
    snprintf(path, sizeof path, "%s/signing.key", n->dir);
    hs_signing_key k;
    cr_assert_eq(hs_signing_key_load(path, &k, err, sizeof err), 0, "%s", err);
    return k;
}

/* A federation request from `from` to `to`'s listener, signed with from's key; *status
 * gets the HTTP status. Returns the JSON answer (caller decrefs). */
static json_t *fed(const node *from, const node *to, const char *method, const json_t *content, long *status,
                   const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static json_t *fed(const node *from, const node *to, const char *method, const json_t *content, long *status,
                   const char *fmt, ...)
{
    char target[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(target, sizeof target, fmt, ap);
    va_end(ap);
    hs_signing_key k = key_of(from);
    char x[HS_XMATRIX_MAX_HEADER], auth[HS_XMATRIX_MAX_HEADER + 32];
    hs_err err;
    cr_assert_eq(hs_xmatrix_sign(method, target, from->name, to->name, content, &k, x, sizeof x, &err), 0, "%s",
                 err.msg);
    snprintf(auth, sizeof auth, "Authorization: %s", x);
    const char *headers[] = {auth, NULL};
    char *body = content ? json_dumps(content, JSON_COMPACT) : NULL;
    pgt_req o = {.method = method, .body = body, .body_len = body ? strlen(body) : 0, .headers = headers,
                 .timeout_ms = 30000};
    char url[1200];
    snprintf(url, sizeof url, "https://127.0.0.1:%d%s", to->fport, target);
    pgt_http r = pgt_http_do(url, &o);
    free(body);
    *status = r.status;
    json_t *j = json_loads(r.body, 0, NULL);
    cr_assert_not_null(j, "%s %s: %ld %s", method, target, r.status, r.body);
    pgt_http_free(&r);
    return j;
}

static const char *errcode(const json_t *j)
{
    const char *c = json_string_value(json_object_get(j, "errcode"));
    return c ? c : "";
}

static char *restricted_room(const pgt_mx_login *alice, const char *allowed)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"room_version\":\"10\",\"preset\":\"private_chat\",\"name\":\"R\",\"initial_state\":[{\"type\":"
             "\"m.room.join_rules\",\"state_key\":\"\",\"content\":{\"join_rule\":\"restricted\",\"allow\":[{\"type\":"
             "\"m.room_membership\",\"room_id\":\"%s\"}]}}]}",
             allowed);
    return pgt_mx_create_room(A.base, alice, body);
}

/* The event ID of user's membership in room as `who` on `n` lists it (or NULL). */
static char *member_event_id(const node *n, const pgt_mx_login *who, const char *room, const char *user)
{
    long st;
    json_t *r = pgt_mx_callf(n->base, "GET", who->token, &st, NULL, "/_matrix/client/v3/rooms/%s/members", enc(room));
    cr_assert_eq(st, 200, "members: %s", json_dumps(r, 0));
    char *id = NULL;
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(r, "chunk"), i, ev) {
        const char *sk = json_string_value(json_object_get(ev, "state_key"));
        const char *m = json_string_value(json_object_get(json_object_get(ev, "content"), "membership"));
        if (sk && strcmp(sk, user) == 0 && m && strcmp(m, "join") == 0)
            id = strdup(json_string_value(json_object_get(ev, "event_id")));
    }
    json_decref(r);
    return id;
}

/* u of B joins room through A (server_name=A) and gets `want`, with `code` as errcode
 * unless NULL; `what` names the step in a failure. */
static void join_via_a(const pgt_mx_login *u, const char *room, long want, const char *code, const char *what)
{
    long st;
    json_t *r = pgt_mx_callf(B.base, "POST", u->token, &st, "{}", "/_matrix/client/v3/join/%s?server_name=%s",
                             enc(room), enc(A.name));
    cr_assert_eq(st, want, "%s: %ld %s", what, st, json_dumps(r, 0));
    if (code) cr_assert_str_eq(errcode(r), code, "%s", what);
    json_decref(r);
}

Test(fed_restricted_join, a_member_of_the_space_joins_countersigned_and_others_are_refused)
{
    pgt_mx_login alice = pgt_mx_must_register(A.base, "alice", "pw-alice-1");
    pgt_mx_login bob = pgt_mx_must_register(B.base, "bob", "pw-bob-1");
    pgt_mx_login carol = pgt_mx_must_register(B.base, "carol", "pw-carol-1");
    char *space = pgt_mx_create_room(A.base, &alice, "{\"room_version\":\"10\",\"preset\":\"public_chat\",\"name\":\"S\"}");
    char *room = restricted_room(&alice, space);
    long st;

    /* carol, in no allowed room: A refuses the template, B's client hears 403. */
    json_t *r = fed(&B, &A, "GET", NULL, &st, "/_matrix/federation/v1/make_join/%s/%s?ver=10", enc(room),
                    enc(carol.user_id));
    cr_assert_eq(st, 403, "%s", json_dumps(r, 0));
    cr_assert_str_eq(errcode(r), "M_FORBIDDEN");
    json_decref(r);
    join_via_a(&carol, room, 403, "M_FORBIDDEN", "carol's join");

    /* bob joins S, then R. */
    join_via_a(&bob, space, 200, NULL, "bob joins S");
    r = fed(&B, &A, "GET", NULL, &st, "/_matrix/federation/v1/make_join/%s/%s?ver=10", enc(room), enc(bob.user_id));
    cr_assert_eq(st, 200, "%s", json_dumps(r, 0));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(r, "event"), "content"),
                                                       "join_authorised_via_users_server")),
                     alice.user_id);
    json_decref(r);
    join_via_a(&bob, room, 200, NULL, "bob joins R");

    /* B's copy of the join, served by B to A: vouched for by alice, signed by A. */
    char *join_id = member_event_id(&B, &bob, room, bob.user_id);
    cr_assert_not_null(join_id, "B lists bob as joined");
    json_t *pdu = fed(&A, &B, "GET", NULL, &st, "/_matrix/federation/v1/event/%s", enc(join_id));
    cr_assert_eq(st, 200, "%s", json_dumps(pdu, 0));
    json_t *ev = json_array_get(json_object_get(pdu, "pdus"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(ev, "content"),
                                                       "join_authorised_via_users_server")),
                     alice.user_id);
    const hs_room_version *rv = hs_room_version_get("10");
    hs_signing_key ak = key_of(&A), bk = key_of(&B);
    hs_err err = {{0}};
    cr_assert_eq(hs_event_verify_signature(ev, rv, A.name, ak.key_id, ak.public_key, &err), 0, "A's: %s", err.msg);
    cr_assert_eq(hs_event_verify_signature(ev, rv, B.name, bk.key_id, bk.public_key, &err), 0, "B's: %s", err.msg);
    char *id = hs_event_id_compute(ev, rv, &err);
    cr_assert_str_eq(id, join_id);
    free(id);
    json_decref(pdu);

    /* A holds bob as joined; carol has no membership there. */
    char *on_a = member_event_id(&A, &alice, room, bob.user_id);
    cr_assert_not_null(on_a);
    cr_assert_str_eq(on_a, join_id);
    free(on_a);
    r = pgt_mx_callf(A.base, "GET", alice.token, &st, NULL, "/_matrix/client/v3/rooms/%s/state/m.room.member/%s",
                     enc(room), enc(carol.user_id));
    cr_assert_eq(st, 404, "carol's membership on A: %ld %s", st, json_dumps(r, 0));
    json_decref(r);
    free(join_id);
    free(room);
    free(space);
}

Test(fed_restricted_join, a_room_a_is_not_in_cannot_be_judged_and_other_authorisers_are_refused)
{
    pgt_mx_login alice = pgt_mx_must_register(A.base, "alice", "pw-alice-1");
    pgt_mx_login bob = pgt_mx_must_register(B.base, "bob", "pw-bob-1");
    /* T lives on B only: A cannot know who is in it. */
    char *t = pgt_mx_create_room(B.base, &bob, "{\"room_version\":\"10\",\"preset\":\"public_chat\"}");
    char *room = restricted_room(&alice, t);
    long st;
    json_t *r = fed(&B, &A, "GET", NULL, &st, "/_matrix/federation/v1/make_join/%s/%s?ver=10", enc(room),
                    enc(bob.user_id));
    cr_assert_eq(st, 400, "%s", json_dumps(r, 0));
    cr_assert_str_eq(errcode(r), "M_UNABLE_TO_AUTHORISE_JOIN");
    json_decref(r);
    /* ...and B's client hears A's answer, not a federation failure. */
    join_via_a(&bob, room, 400, "M_UNABLE_TO_AUTHORISE_JOIN", "bob's join");

    /* A join that names a user of B as its authoriser: A vouches only for its own. */
    char *space = pgt_mx_create_room(A.base, &alice, "{\"room_version\":\"10\",\"preset\":\"public_chat\"}");
    char *room2 = restricted_room(&alice, space);
    join_via_a(&bob, space, 200, NULL, "bob joins S");
    r = fed(&B, &A, "GET", NULL, &st, "/_matrix/federation/v1/make_join/%s/%s?ver=10", enc(room2), enc(bob.user_id));
    cr_assert_eq(st, 200, "%s", json_dumps(r, 0));
    json_t *ev = json_deep_copy(json_object_get(r, "event"));
    json_decref(r);
    json_object_set_new(json_object_get(ev, "content"), "join_authorised_via_users_server", json_string(bob.user_id));
    const hs_room_version *rv = hs_room_version_get("10");
    hs_signing_key bk = key_of(&B);
    hs_err err = {{0}};
    cr_assert_eq(hs_event_sign(ev, rv, B.name, &bk, 1, &err), 0, "%s", err.msg);
    char *id = hs_event_id_compute(ev, rv, &err);
    r = fed(&B, &A, "PUT", ev, &st, "/_matrix/federation/v2/send_join/%s/%s", enc(room2), enc(id));
    cr_assert_eq(st, 400, "%s", json_dumps(r, 0));
    cr_assert_not_null(strstr(json_string_value(json_object_get(r, "error")), "vouches"), "%s", json_dumps(r, 0));
    json_decref(r);

    /* A room of S's members where nobody on A may invite: bob qualifies, A cannot vouch,
     * and B's client hears so. */
    char body[1024];
    snprintf(body, sizeof body,
             "{\"room_version\":\"10\",\"preset\":\"private_chat\",\"power_level_content_override\":{\"invite\":"
             "101},\"initial_state\":[{\"type\":\"m.room.join_rules\",\"state_key\":\"\",\"content\":{\"join_rule\":"
             "\"restricted\",\"allow\":[{\"type\":\"m.room_membership\",\"room_id\":\"%s\"}]}}]}",
             space);
    char *room3 = pgt_mx_create_room(A.base, &alice, body);
    join_via_a(&bob, room3, 400, "M_UNABLE_TO_GRANT_JOIN", "bob's join");
    free(room3);
    free(id);
    json_decref(ev);
    free(room2);
    free(space);
    free(room);
    free(t);
}

Test(fed_restricted_join, a_join_only_another_server_can_vouch_for_goes_through_it)
{
    pgt_mx_login alice = pgt_mx_must_register(A.base, "alice", "pw-alice-1");
    pgt_mx_login bob = pgt_mx_must_register(B.base, "bob", "pw-bob-1");
    pgt_mx_login dave = pgt_mx_must_register(B.base, "dave", "pw-dave-1");
    char *space = pgt_mx_create_room(A.base, &alice, "{\"room_version\":\"10\",\"preset\":\"public_chat\"}");
    /* Inviting takes power 50: alice (100) may, bob and dave (0) may not. */
    char body[1024];
    snprintf(body, sizeof body,
             "{\"room_version\":\"10\",\"preset\":\"private_chat\",\"power_level_content_override\":{\"invite\":50},"
             "\"initial_state\":[{\"type\":\"m.room.join_rules\",\"state_key\":\"\",\"content\":{\"join_rule\":"
             "\"restricted\",\"allow\":[{\"type\":\"m.room_membership\",\"room_id\":\"%s\"}]}}]}",
             space);
    char *room = pgt_mx_create_room(A.base, &alice, body);
    long st;
    join_via_a(&bob, space, 200, NULL, "bob joins S");
    join_via_a(&dave, space, 200, NULL, "dave joins S");
    join_via_a(&bob, room, 200, NULL, "bob joins R");

    /* B holds R now, but nobody on B may invite: dave's join goes through A. */
    json_t *r = pgt_mx_callf(B.base, "POST", dave.token, &st, "{}", "/_matrix/client/v3/join/%s", enc(room));
    cr_assert_eq(st, 200, "dave joins R: %ld %s", st, json_dumps(r, 0));
    json_decref(r);
    char *join_id = member_event_id(&B, &dave, room, dave.user_id);
    cr_assert_not_null(join_id, "B lists dave as joined");
    json_t *pdu = fed(&A, &B, "GET", NULL, &st, "/_matrix/federation/v1/event/%s", enc(join_id));
    cr_assert_eq(st, 200, "%s", json_dumps(pdu, 0));
    json_t *ev = json_array_get(json_object_get(pdu, "pdus"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(ev, "content"),
                                                       "join_authorised_via_users_server")),
                     alice.user_id);
    const hs_room_version *rv = hs_room_version_get("10");
    hs_signing_key ak = key_of(&A);
    hs_err err = {{0}};
    cr_assert_eq(hs_event_verify_signature(ev, rv, A.name, ak.key_id, ak.public_key, &err), 0, "A's: %s", err.msg);
    json_decref(pdu);
    char *on_a = member_event_id(&A, &alice, room, dave.user_id);
    cr_assert_not_null(on_a, "A lists dave as joined");
    cr_assert_str_eq(on_a, join_id);
    free(on_a);
    free(join_id);
    free(room);
    free(space);
}
