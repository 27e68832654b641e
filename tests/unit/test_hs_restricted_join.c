/* Restricted joins into rooms this server holds (MSC3083, hs_room_restricted): a local
 * user joined to an allowed room joins a restricted room and the stored join names the
 * local member with the highest power level (ties: the smallest user ID) in
 * join_authorised_via_users_server, carries our signature and passes the auth rules
 * against its own auth events; a user in none of the allowed rooms, or a room where
 * nobody may invite, is refused with 403 M_FORBIDDEN and nothing is stored; an invited
 * user needs no authoriser; in v12 the creator (above every level) vouches. For users
 * of other servers the module answers "not a member" when we are in every allowed room
 * and "cannot tell" when we are not (the spec's M_UNABLE_TO_AUTHORISE_JOIN). make_join (asked by this server itself, through the
 * federation router) gives a template whose field set is Synapse's recorded one for a
 * restricted room, plus the `origin` the spec requires. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_auth.h"
#include "server-core/hs_http.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_room_restricted.h"
#include "server-core/hs_room_version.h"
#include "server-core/hs_signing.h"
#include "server-core/hs_store_rooms.h"
#include "server-core/hs_xmatrix.h"
#include "support/pgt_hs.h"
#include "support/pgt_live.h"
#include "support/pgt_matrix.h"

#define SERVER "restricted.test"

static pgt_hs hs;
static pgt_mx_login alice, bob, carol, aaron;
static char *space; /* S: a private room alice and bob are in */

static json_t *call(const char *method, const pgt_mx_login *who, const char *path, const char *body, long want)
{
    return pgt_mx_expect(hs.base, method, path, who->token, body, want);
}

static const char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static const char *fmt(const char *f, ...)
{
    static char bufs[4][2048];
    static int i;
    char *b = bufs[i++ % 4];
    va_list ap;
    va_start(ap, f);
    vsnprintf(b, 2048, f, ap);
    va_end(ap);
    return b;
}

static const char *enc(const char *s)
{
    static char buf[4][512];
    static int k;
    return pgt_mx_enc(s, buf[k++ & 3], sizeof buf[0]);
}

static void start(void)
{
    pgt_hs_start(&hs, SERVER, NULL);
    alice = pgt_mx_must_register(hs.base, "alice", "pw-alice-1");
    bob = pgt_mx_must_register(hs.base, "bob", "pw-bob-1");
    carol = pgt_mx_must_register(hs.base, "carol", "pw-carol-1");
    aaron = pgt_mx_must_register(hs.base, "aaron", "pw-aaron-1");
    space = pgt_mx_create_room(hs.base, &alice, "{\"preset\":\"private_chat\",\"name\":\"S\"}");
    json_decref(call("POST", &alice, fmt("/_matrix/client/v3/rooms/%s/invite", enc(space)),
                     fmt("{\"user_id\":\"%s\"}", bob.user_id), 200));
    json_decref(call("POST", &bob, fmt("/_matrix/client/v3/rooms/%s/join", enc(space)), "{}", 200));
}

static void stop(void)
{
    free(space);
    pgt_hs_stop(&hs);
}

TestSuite(hs_restricted_join, .init = start, .fini = stop, .timeout = 60);

/* A v10 room of alice's whose join rule is `rule` with an allow list naming `allowed`;
 * `extra` adds createRoom keys (a leading comma). Returns the room ID (malloc'd). */
static char *restricted_room(const char *rule, const char *allowed, const char *extra)
{
    return pgt_mx_create_room(
        hs.base, &alice,
        fmt("{\"room_version\":\"10\",\"preset\":\"private_chat\",\"initial_state\":[{\"type\":\"m.room.join_rules\","
            "\"state_key\":\"\",\"content\":{\"join_rule\":\"%s\",\"allow\":[{\"type\":\"m.room_membership\","
            "\"room_id\":\"%s\"}]}}]%s}",
            rule, allowed, extra ? extra : ""));
}

/* The current membership event of user in room, as stored (new reference). */
static json_t *member_event(const char *room, const char *user, char **event_id)
{
    char *id = NULL;
    cr_assert_eq(hs_store_state_get(hs.srv.store, room, "m.room.member", user, &id), 0, "%s has no membership", user);
    hs_store_event ev;
    cr_assert_eq(hs_store_event_get(hs.srv.store, id, &ev), 0);
    json_t *pdu = json_loads(ev.pdu_json, 0, NULL);
    hs_store_event_clear(&ev);
    cr_assert_not_null(pdu);
    if (event_id) *event_id = id;
    else free(id);
    return pdu;
}

static const char *authoriser_of(const json_t *pdu)
{
    return json_string_value(json_object_get(hs_pdu_content(pdu), "join_authorised_via_users_server"));
}

static const char *membership_of(const char *room, const char *user)
{
    static char m[32];
    cr_assert_eq(hs_store_membership(hs.srv.store, room, user, m), 0);
    return m;
}

/* The join against its own auth events, as any server receiving it checks it. */
static void assert_join_valid(const json_t *join)
{
    const hs_room_version *rv = hs_room_version_get("10");
    hs_auth_entry auth[HS_PDU_MAX_AUTH_EVENTS];
    json_t *pdus[HS_PDU_MAX_AUTH_EVENTS];
    size_t n = hs_pdu_auth_event_count(join);
    bool cites_authoriser = false;
    for (size_t i = 0; i < n; i++) {
        auth[i].event_id = hs_pdu_auth_event(join, i);
        hs_store_event ev;
        cr_assert_eq(hs_store_event_get(hs.srv.store, auth[i].event_id, &ev), 0);
        auth[i].pdu = pdus[i] = json_loads(ev.pdu_json, 0, NULL);
        hs_store_event_clear(&ev);
        const char *sk = hs_pdu_state_key(pdus[i]);
        cites_authoriser |= strcmp(hs_pdu_type(pdus[i]), "m.room.member") == 0 && sk && strcmp(sk, authoriser_of(join)) == 0;
    }
    cr_assert(cites_authoriser, "the authoriser's membership is among the auth events");
    hs_auth_result ar;
    cr_assert_eq(hs_auth_check_with_auth_events(rv, join, auth, n, NULL, &ar), HS_AUTH_OK, "%s", ar.msg);
    const char *signers[4];
    hs_err err = {{0}};
    int ns = hs_event_required_signers(join, rv, signers, 4, &err);
    cr_assert_geq(ns, 1, "%s", err.msg);
    for (int i = 0; i < ns; i++) cr_assert_str_eq(signers[i], SERVER);
    cr_assert_eq(hs_event_verify_signature(join, rv, SERVER, hs.srv.signing_key.key_id, hs.srv.signing_key.public_key,
                                           &err),
                 0, "%s", err.msg);
    for (size_t i = 0; i < n; i++) json_decref(pdus[i]);
}

Test(hs_restricted_join, a_member_of_the_allowed_room_joins_vouched_for_by_alice)
{
    char *room = restricted_room("restricted", space, NULL);
    json_decref(call("POST", &bob, fmt("/_matrix/client/v3/join/%s", enc(room)), "{}", 200));
    cr_assert_str_eq(membership_of(room, bob.user_id), "join");
    json_t *join = member_event(room, bob.user_id, NULL);
    cr_assert_str_eq(authoriser_of(join), alice.user_id);
    assert_join_valid(join);
    json_decref(join);

    /* knock_restricted (v10) admits the same way. */
    char *kroom = restricted_room("knock_restricted", space, NULL);
    json_decref(call("POST", &bob, fmt("/_matrix/client/v3/rooms/%s/join", enc(kroom)), "{}", 200));
    join = member_event(kroom, bob.user_id, NULL);
    cr_assert_str_eq(authoriser_of(join), alice.user_id);
    json_decref(join);
    free(kroom);

    /* v12: the creator is not in power_levels.users but outranks everyone. */
    char *v12 = pgt_mx_create_room(
        hs.base, &alice,
        fmt("{\"room_version\":\"12\",\"preset\":\"private_chat\",\"initial_state\":[{\"type\":"
            "\"m.room.join_rules\",\"state_key\":\"\",\"content\":{\"join_rule\":\"restricted\",\"allow\":[{"
            "\"type\":\"m.room_membership\",\"room_id\":\"%s\"}]}}]}",
            space));
    json_decref(call("POST", &bob, fmt("/_matrix/client/v3/join/%s", enc(v12)), "{}", 200));
    join = member_event(v12, bob.user_id, NULL);
    cr_assert_str_eq(authoriser_of(join), alice.user_id);
    json_decref(join);
    free(v12);
    free(room);
}

Test(hs_restricted_join, a_user_in_no_allowed_room_is_refused)
{
    char *room = restricted_room("restricted", space, NULL);
    json_t *j = call("POST", &carol, fmt("/_matrix/client/v3/join/%s", enc(room)), "{}", 403);
    cr_assert_str_eq(json_string_value(json_object_get(j, "errcode")), "M_FORBIDDEN");
    cr_assert(strstr(json_string_value(json_object_get(j, "error")), "allowed") ||
                  strstr(json_string_value(json_object_get(j, "error")), "may join"),
              "%s", json_string_value(json_object_get(j, "error")));
    json_decref(j);
    cr_assert_str_eq(membership_of(room, carol.user_id), "");

    /* An empty allow list admits nobody without an invite. */
    char *closed = pgt_mx_create_room(
        hs.base, &alice,
        "{\"room_version\":\"10\",\"preset\":\"private_chat\",\"initial_state\":[{\"type\":\"m.room.join_rules\","
        "\"state_key\":\"\",\"content\":{\"join_rule\":\"restricted\",\"allow\":[]}}]}");
    j = call("POST", &bob, fmt("/_matrix/client/v3/join/%s", enc(closed)), "{}", 403);
    json_decref(j);
    cr_assert_str_eq(membership_of(closed, bob.user_id), "");
    free(closed);
    free(room);
}

Test(hs_restricted_join, an_invited_user_needs_no_authoriser)
{
    char *room = restricted_room("restricted", space, NULL);
    json_decref(call("POST", &alice, fmt("/_matrix/client/v3/rooms/%s/invite", enc(room)),
                     fmt("{\"user_id\":\"%s\"}", carol.user_id), 200));
    json_decref(call("POST", &carol, fmt("/_matrix/client/v3/join/%s", enc(room)), "{}", 200));
    json_t *join = member_event(room, carol.user_id, NULL);
    cr_assert_null(authoriser_of(join));
    json_decref(join);
    free(room);
}

Test(hs_restricted_join, nobody_able_to_invite_means_no_join)
{
    char *room = restricted_room("restricted", space, ",\"power_level_content_override\":{\"invite\":101}");
    json_t *j = call("POST", &bob, fmt("/_matrix/client/v3/join/%s", enc(room)), "{}", 403);
    cr_assert_str_eq(json_string_value(json_object_get(j, "errcode")), "M_FORBIDDEN");
    cr_assert_not_null(strstr(json_string_value(json_object_get(j, "error")), "invite"));
    json_decref(j);
    cr_assert_str_eq(membership_of(room, bob.user_id), "");
    free(room);
}

Test(hs_restricted_join, the_authoriser_is_the_highest_level_then_the_smallest_id)
{
    /* aaron and alice both at 100: "@aaron" sorts first. */
    char *room = restricted_room(
        "restricted", space, fmt(",\"power_level_content_override\":{\"users\":{\"%s\":100,\"%s\":100}}",
                                 alice.user_id, aaron.user_id));
    json_decref(call("POST", &alice, fmt("/_matrix/client/v3/rooms/%s/invite", enc(room)),
                     fmt("{\"user_id\":\"%s\"}", aaron.user_id), 200));
    json_decref(call("POST", &aaron, fmt("/_matrix/client/v3/join/%s", enc(room)), "{}", 200));
    json_decref(call("POST", &bob, fmt("/_matrix/client/v3/join/%s", enc(room)), "{}", 200));
    json_t *join = member_event(room, bob.user_id, NULL);
    cr_assert_str_eq(authoriser_of(join), aaron.user_id);
    assert_join_valid(join);
    json_decref(join);

    /* A higher level wins over the smaller ID. */
    char *room2 = restricted_room(
        "restricted", space, fmt(",\"power_level_content_override\":{\"users\":{\"%s\":100,\"%s\":50}}",
                                 alice.user_id, aaron.user_id));
    json_decref(call("POST", &alice, fmt("/_matrix/client/v3/rooms/%s/invite", enc(room2)),
                     fmt("{\"user_id\":\"%s\"}", aaron.user_id), 200));
    json_decref(call("POST", &aaron, fmt("/_matrix/client/v3/join/%s", enc(room2)), "{}", 200));
    char *who = NULL;
    cr_assert_eq(hs_room_restricted_authoriser(hs.srv.store, hs_room_version_get("10"), room2, SERVER, &who), 0);
    cr_assert_str_eq(who, alice.user_id);
    free(who);
    free(room2);
    free(room);
}

Test(hs_restricted_join, users_of_other_servers_are_judged_on_what_we_hold)
{
    const hs_room_version *rv = hs_room_version_get("10");
    char msg[400];
    char *room = restricted_room("restricted", space, NULL);
    /* We are in S, so a remote user absent from it is simply not a member. */
    cr_assert_eq(hs_room_restricted_admits(hs.srv.store, rv, room, "@zed:elsewhere.test", SERVER, msg, sizeof msg),
                 HS_RESTRICTED_NOT_MEMBER, "%s", msg);
    cr_assert_eq(hs_room_restricted_admits(hs.srv.store, rv, room, bob.user_id, SERVER, msg, sizeof msg),
                 HS_RESTRICTED_ADMITTED, "%s", msg);

    /* A room we are not in: we cannot tell for a remote user; our own users are never
     * in a room we are not in. */
    char *far = restricted_room("restricted", "!unknown:elsewhere.test", NULL);
    cr_assert_eq(hs_room_restricted_admits(hs.srv.store, rv, far, "@zed:elsewhere.test", SERVER, msg, sizeof msg),
                 HS_RESTRICTED_CANNOT_TELL, "%s", msg);
    cr_assert_eq(hs_room_restricted_admits(hs.srv.store, rv, far, carol.user_id, SERVER, msg, sizeof msg),
                 HS_RESTRICTED_NOT_MEMBER, "%s", msg);

    /* Not restricted in v7 (no such join rule there), nor in a public room. */
    char *pub = pgt_mx_create_room(hs.base, &alice, "{\"room_version\":\"10\",\"preset\":\"public_chat\"}");
    cr_assert_eq(hs_room_restricted_admits(hs.srv.store, rv, pub, "@zed:elsewhere.test", SERVER, msg, sizeof msg),
                 HS_RESTRICTED_NOT_NEEDED);
    cr_assert_eq(hs_room_restricted_admits(hs.srv.store, hs_room_version_get("7"), room, "@zed:elsewhere.test",
                                           SERVER, msg, sizeof msg),
                 HS_RESTRICTED_NOT_NEEDED);
    free(pub);
    free(far);
    free(room);
}

/* make_join asked by this server itself (its own key signs the request, its own user
 * joins), through the federation router the HTTPS listener serves. */
static json_t *make_join(const char *room, const char *user, int *status)
{
    char target[1024];
    snprintf(target, sizeof target, "/_matrix/federation/v1/make_join/%s/%s?ver=10", enc(room), enc(user));
    char x[HS_XMATRIX_MAX_HEADER];
    hs_err err = {{0}};
    cr_assert_eq(hs_xmatrix_sign("GET", target, SERVER, SERVER, NULL, &hs.srv.signing_key, x, sizeof x, &err), 0,
                 "%s", err.msg);
    hs_kv headers[] = {{"Authorization", x}};
    hs_request req = {.method = "GET", .remote_addr = "127.0.0.1", .headers = headers, .n_headers = 1};
    cr_assert_eq(hs_request_parse_target(&req, target), 0);
    hs_response resp = {0};
    hs_router_dispatch(hs.srv.federation_router, &req, &resp);
    json_t *j = json_loadb(resp.body, resp.body_len, 0, NULL);
    *status = resp.status;
    hs_response_clear(&resp);
    hs_request_clear(&req);
    cr_assert_not_null(j);
    return j;
}

Test(hs_restricted_join, make_join_template_has_synapses_fields)
{
    char *room = restricted_room("restricted", space, NULL);
    int status = 0;
    json_t *j = make_join(room, bob.user_id, &status);
    cr_assert_eq(status, 200, "%s", json_dumps(j, 0));
    json_t *ev = json_object_get(j, "event");
    cr_assert_str_eq(authoriser_of(ev), alice.user_id);

    json_t *fx = pgt_live_load("make_join-restricted-v10.json");
    json_t *theirs = json_object_get(json_object_get(fx, "response"), "event");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(fx, "response"), "room_version")),
                     json_string_value(json_object_get(j, "room_version")));
    const char *key;
    json_t *v;
    json_object_foreach(theirs, key, v) {
        json_t *ours = json_object_get(ev, key);
        cr_assert_not_null(ours, "our template lacks %s", key);
        cr_assert_eq(json_typeof(ours), json_typeof(v), "%s", key);
    }
    json_object_foreach(ev, key, v)
        cr_assert(json_object_get(theirs, key) || strcmp(key, "origin") == 0, "unexpected %s in our template", key);
    json_object_foreach(json_object_get(theirs, "content"), key, v)
        cr_assert_not_null(json_object_get(hs_pdu_content(ev), key), "content lacks %s", key);
    cr_assert_eq(json_object_size(hs_pdu_content(ev)), json_object_size(json_object_get(theirs, "content")));
    json_decref(fx);
    json_decref(j);

    /* carol is in no allowed room: 403 M_FORBIDDEN, as Synapse answers. */
    j = make_join(room, carol.user_id, &status);
    cr_assert_eq(status, 403);
    cr_assert_str_eq(json_string_value(json_object_get(j, "errcode")), "M_FORBIDDEN");
    json_decref(j);

    /* Where nobody may invite: 400 M_UNABLE_TO_GRANT_JOIN (another resident may). */
    char *locked = restricted_room("restricted", space, ",\"power_level_content_override\":{\"invite\":101}");
    j = make_join(locked, bob.user_id, &status);
    cr_assert_eq(status, 400);
    cr_assert_str_eq(json_string_value(json_object_get(j, "errcode")), "M_UNABLE_TO_GRANT_JOIN");
    json_decref(j);
    free(locked);
    free(room);
}
