/* hs_auth rule by rule: for each authorization rule one event the rule denies and one it
 * allows, built here with jansson, across the room versions where the rule differs
 * (v1, v5/v6, v7, v8/v9, v10, v11, v12). The room is a small state map: alice created
 * it (level 100), bob (50) and carol (0) are joined, unless a test changes that. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_auth.h"
#include "server-core/hs_base64.h"
#include "server-core/hs_canonical_json.h"

#define ALICE "@alice:a.org"
#define BOB "@bob:b.org"
#define CAROL "@carol:a.org"
#define DAVE "@dave:b.org"

typedef struct room {
    const hs_room_version *rv;
    hs_auth_map *map;
    const char *room_id;
    json_t *create;
} room;

static json_t *J(const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    json_error_t e;
    json_t *v = json_loads(buf, 0, &e);
    cr_assert_not_null(v, "bad test JSON %s: %s", buf, e.text);
    return v;
}

/* An event of the room; state_key NULL for a message. Content is JSON text. */
static json_t *ev(const room *r, const char *type, const char *state_key, const char *sender, const char *content)
{
    json_t *e = json_pack("{ss ss ss so s[s] s[]}", "type", type, "sender", sender, "room_id", r->room_id, "content",
                          J("%s", content), "prev_events", "$prev:a.org", "auth_events");
    if (state_key) json_object_set_new(e, "state_key", json_string(state_key));
    return e;
}

static void put(room *r, json_t *e, const char *id)
{
    cr_assert_eq(hs_auth_map_put(r->map, e, id), 0);
    json_decref(e);
}

static void member(room *r, const char *user, const char *membership)
{
    char content[64];
    snprintf(content, sizeof content, "{\"membership\":\"%s\"}", membership);
    put(r, ev(r, "m.room.member", user, user, content), NULL);
}

static void join_rule(room *r, const char *rule)
{
    char content[64];
    snprintf(content, sizeof content, "{\"join_rule\":\"%s\"}", rule);
    put(r, ev(r, "m.room.join_rules", "", ALICE, content), NULL);
}

/* The room for version `ver`: create (v12: "!CREATE" derived from "$CREATE"), power
 * levels, alice/bob/carol joined, public. */
static room mk(const char *ver)
{
    room r = {.rv = hs_room_version_get(ver), .map = hs_auth_map_new()};
    cr_assert_not_null(r.rv);
    r.room_id = r.rv->room_id_from_create ? "!CREATE" : "!room:a.org";
    json_t *create = json_pack("{ss ss ss s{ss} s[]}", "type", "m.room.create", "state_key", "", "sender", ALICE,
                               "content", "room_version", ver, "prev_events");
    if (!r.rv->room_id_from_create) json_object_set_new(create, "room_id", json_string(r.room_id));
    if (!r.rv->creator_from_sender)
        json_object_set_new(json_object_get(create, "content"), "creator", json_string(ALICE));
    r.create = create;
    cr_assert_eq(hs_auth_map_put(r.map, create, r.rv->room_id_from_create ? "$CREATE" : "$create:a.org"), 0);
    const char *users = r.rv->creators_infinite_power ? "{\"" BOB "\":50}" : "{\"" ALICE "\":100,\"" BOB "\":50}";
    char pl[512];
    snprintf(pl, sizeof pl,
             "{\"ban\":50,\"kick\":50,\"redact\":50,\"invite\":0,\"state_default\":50,\"events_default\":0,"
             "\"users_default\":0,\"events\":{\"m.room.power_levels\":100,\"m.room.name\":50},"
             "\"notifications\":{\"room\":50},\"users\":%s}",
             users);
    put(&r, ev(&r, "m.room.power_levels", "", ALICE, pl), NULL);
    member(&r, ALICE, "join");
    member(&r, BOB, "join");
    member(&r, CAROL, "join");
    join_rule(&r, "public");
    return r;
}

static void done(room *r)
{
    json_decref(r->create);
    hs_auth_map_free(r->map);
}

static hs_auth_result last;

/* Checks e (consumed) against r's state. */
static hs_auth_rule check(room *r, json_t *e)
{
    hs_auth_state st = hs_auth_map_state(r->map);
    hs_auth_rule rule = hs_auth_allowed(r->rv, e, &st, &last);
    cr_assert_eq(last.rule, rule);
    json_decref(e);
    return rule;
}

#define EXPECT(r, e, rule) cr_expect_eq(check(r, e), rule, "%s: %s", #e, last.msg)

/* ---- m.room.create ----------------------------------------------------------------- */

Test(hs_auth_create, prev_events_room_id_version_creator)
{
    room r = mk("10");
    json_t *c = json_deep_copy(r.create);
    EXPECT(&r, json_incref(c), HS_AUTH_OK);
    json_array_append_new(json_object_get(c, "prev_events"), json_string("$x:a.org"));
    EXPECT(&r, c, HS_AUTH_CREATE_PREV_EVENTS);

    c = json_deep_copy(r.create);
    json_object_set_new(c, "room_id", json_string("!room:evil.org"));
    EXPECT(&r, c, HS_AUTH_CREATE_ROOM_ID_DOMAIN);

    c = json_deep_copy(r.create);
    json_object_set_new(json_object_get(c, "content"), "room_version", json_string("99"));
    EXPECT(&r, c, HS_AUTH_CREATE_UNKNOWN_VERSION);

    c = json_deep_copy(r.create);
    json_object_del(json_object_get(c, "content"), "creator");
    EXPECT(&r, json_incref(c), HS_AUTH_CREATE_NO_CREATOR);
    room r11 = mk("11"); /* v11: the creator is the sender; no content.creator needed */
    EXPECT(&r11, c, HS_AUTH_OK);
    done(&r11);
    done(&r);
}

Test(hs_auth_create, v12_room_id_and_additional_creators)
{
    room r = mk("12");
    json_t *c = json_deep_copy(r.create);
    EXPECT(&r, json_incref(c), HS_AUTH_OK);
    json_object_set_new(c, "room_id", json_string("!room:a.org"));
    EXPECT(&r, c, HS_AUTH_CREATE_HAS_ROOM_ID);

    c = json_deep_copy(r.create);
    json_object_set_new(json_object_get(c, "content"), "additional_creators", J("[\"" BOB "\", \"not-a-user\"]"));
    EXPECT(&r, c, HS_AUTH_CREATE_BAD_ADDITIONAL_CREATORS);
    c = json_deep_copy(r.create);
    json_object_set_new(json_object_get(c, "content"), "additional_creators", J("[\"" BOB "\"]"));
    EXPECT(&r, c, HS_AUTH_OK);
    done(&r);
}

Test(hs_auth_create, v12_room_id_must_be_the_create_event_id)
{
    room r = mk("12");
    json_t *m = ev(&r, "m.room.message", NULL, BOB, "{}");
    EXPECT(&r, json_incref(m), HS_AUTH_OK);
    json_object_set_new(m, "room_id", json_string("!OTHER"));
    EXPECT(&r, m, HS_AUTH_ROOM_ID_NOT_CREATE);
    done(&r);
}

Test(hs_auth_create, missing_create_and_federate_false)
{
    room r = mk("10");
    hs_auth_map *empty = hs_auth_map_new();
    hs_auth_state st = hs_auth_map_state(empty);
    json_t *m = ev(&r, "m.room.message", NULL, BOB, "{}");
    cr_expect_eq(hs_auth_allowed(r.rv, m, &st, NULL), HS_AUTH_NO_CREATE);
    hs_auth_map_free(empty);
    EXPECT(&r, json_incref(m), HS_AUTH_OK);

    json_t *c = json_deep_copy(r.create);
    json_object_set_new(json_object_get(c, "content"), "m.federate", json_false());
    put(&r, c, "$create:a.org");
    EXPECT(&r, m, HS_AUTH_NOT_FEDERATED); /* bob is on b.org */
    EXPECT(&r, ev(&r, "m.room.message", NULL, CAROL, "{}"), HS_AUTH_OK);
    done(&r);
}

/* ---- auth_events selection ----------------------------------------------------------- */

static hs_auth_rule check_auth(room *r, const json_t *e, const char *const *keys, size_t n)
{
    hs_auth_entry a[8];
    for (size_t i = 0; i < n; i++) {
        const char *sep = strchr(keys[i], '|');
        char type[64];
        snprintf(type, sizeof type, "%.*s", (int)(sep - keys[i]), keys[i]);
        cr_assert(hs_auth_map_get(r->map, type, sep + 1, &a[i]), "%s", keys[i]);
    }
    return hs_auth_check_auth_events(r->rv, e, a, n, &last);
}

Test(hs_auth_auth_events, duplicates_unexpected_missing_create_wrong_room)
{
    room r = mk("10");
    json_t *m = ev(&r, "m.room.message", NULL, BOB, "{}");
    const char *good[] = {"m.room.create|", "m.room.power_levels|", "m.room.member|" BOB};
    cr_expect_eq(check_auth(&r, m, good, 3), HS_AUTH_OK, "%s", last.msg);
    const char *dup[] = {"m.room.create|", "m.room.power_levels|", "m.room.power_levels|"};
    cr_expect_eq(check_auth(&r, m, dup, 3), HS_AUTH_AUTH_EVENTS_DUPLICATE);
    const char *extra[] = {"m.room.create|", "m.room.join_rules|"}; /* not for a message */
    cr_expect_eq(check_auth(&r, m, extra, 2), HS_AUTH_AUTH_EVENTS_UNEXPECTED);
    const char *other_member[] = {"m.room.create|", "m.room.member|" CAROL};
    cr_expect_eq(check_auth(&r, m, other_member, 2), HS_AUTH_AUTH_EVENTS_UNEXPECTED);
    const char *nocreate[] = {"m.room.power_levels|"};
    cr_expect_eq(check_auth(&r, m, nocreate, 1), HS_AUTH_AUTH_EVENTS_NO_CREATE);
    json_object_set_new(m, "room_id", json_string("!elsewhere:a.org"));
    cr_expect_eq(check_auth(&r, m, good, 3), HS_AUTH_AUTH_EVENTS_WRONG_ROOM);
    json_decref(m);

    /* a join may cite the join rules and the target; an invite the target too */
    json_t *j = ev(&r, "m.room.member", DAVE, DAVE, "{\"membership\":\"join\"}");
    const char *jk[] = {"m.room.create|", "m.room.power_levels|", "m.room.join_rules|"};
    cr_expect_eq(check_auth(&r, j, jk, 3), HS_AUTH_OK, "%s", last.msg);
    json_decref(j);
    done(&r);
}

Test(hs_auth_auth_events, v12_create_must_not_be_selected)
{
    room r = mk("12");
    json_t *m = ev(&r, "m.room.message", NULL, BOB, "{}");
    const char *with_create[] = {"m.room.create|", "m.room.power_levels|", "m.room.member|" BOB};
    cr_expect_eq(check_auth(&r, m, with_create, 3), HS_AUTH_AUTH_EVENTS_UNEXPECTED);
    /* the create event has no room_id in v12, so in the check it is "another room" too;
     * without it the selection is fine and the room ID names the create event */
    cr_expect_eq(check_auth(&r, m, with_create + 1, 2), HS_AUTH_OK, "%s", last.msg);
    hs_auth_entry a[2], create = {r.create, "$CREATE"};
    hs_auth_map_get(r.map, "m.room.power_levels", "", &a[0]);
    hs_auth_map_get(r.map, "m.room.member", BOB, &a[1]);
    cr_expect_eq(hs_auth_check_with_auth_events(r.rv, m, a, 2, &create, &last), HS_AUTH_OK, "%s", last.msg);
    cr_expect_eq(hs_auth_check_with_auth_events(r.rv, m, a, 2, NULL, &last), HS_AUTH_NO_CREATE);
    json_decref(m);
    done(&r);
}

Test(hs_auth_auth_events, types_for_event)
{
    room r = mk("10");
    hs_auth_key k[HS_AUTH_MAX_KEYS];
    json_t *j = ev(&r, "m.room.member", DAVE, DAVE,
                   "{\"membership\":\"join\",\"join_authorised_via_users_server\":\"" ALICE "\"}");
    cr_expect_eq(hs_auth_types_for_event(r.rv, j, k), 5); /* create, PL, dave, join rules, alice */
    cr_expect_str_eq(k[4].state_key, ALICE);
    cr_expect(k[0].required);
    room r7 = mk("7"); /* no restricted joins before v8: the authoriser is not selected */
    cr_expect_eq(hs_auth_types_for_event(r7.rv, j, k), 4);
    done(&r7);
    json_decref(j);
    json_t *inv = ev(&r, "m.room.member", DAVE, BOB,
                     "{\"membership\":\"invite\",\"third_party_invite\":{\"signed\":{\"token\":\"tok\"}}}");
    cr_expect_eq(hs_auth_types_for_event(r.rv, inv, k), 6);
    cr_expect_str_eq(k[5].type, "m.room.third_party_invite");
    cr_expect_str_eq(k[5].state_key, "tok");
    json_decref(inv);
    room r12 = mk("12");
    json_t *m = ev(&r12, "m.room.message", NULL, BOB, "{}");
    cr_expect_eq(hs_auth_types_for_event(r12.rv, m, k), 2);
    cr_expect_str_eq(k[0].type, "m.room.power_levels");
    json_decref(m);
    done(&r12);
    done(&r);
}

/* ---- m.room.aliases (v1-5) ---------------------------------------------------------- */

Test(hs_auth_aliases, v5_domain_rule_v6_ordinary_state)
{
    room r = mk("5");
    /* dave is not in the room: v1-5 allow aliases by the server named in state_key */
    EXPECT(&r, ev(&r, "m.room.aliases", "b.org", DAVE, "{\"aliases\":[]}"), HS_AUTH_OK);
    EXPECT(&r, ev(&r, "m.room.aliases", "a.org", DAVE, "{\"aliases\":[]}"), HS_AUTH_ALIASES_DOMAIN);
    EXPECT(&r, ev(&r, "m.room.aliases", NULL, DAVE, "{\"aliases\":[]}"), HS_AUTH_ALIASES_NO_STATE_KEY);
    room r6 = mk("6");
    EXPECT(&r6, ev(&r6, "m.room.aliases", "b.org", DAVE, "{\"aliases\":[]}"), HS_AUTH_SENDER_NOT_JOINED);
    EXPECT(&r6, ev(&r6, "m.room.aliases", "b.org", BOB, "{\"aliases\":[]}"), HS_AUTH_OK);
    done(&r6);
    done(&r);
}

/* ---- joins ------------------------------------------------------------------------------ */

static json_t *join_ev(room *r, const char *user, const char *extra)
{
    char c[256];
    snprintf(c, sizeof c, "{\"membership\":\"join\"%s}", extra ? extra : "");
    return ev(r, "m.room.member", user, user, c);
}

Test(hs_auth_join, creator_first_join_by_version)
{
    const char *vers[] = {"1", "10", "11", "12"};
    for (size_t i = 0; i < 4; i++) {
        room r = mk(vers[i]);
        hs_auth_map_free(r.map); /* only the create event */
        r.map = hs_auth_map_new();
        hs_auth_map_put(r.map, r.create, r.rv->room_id_from_create ? "$CREATE" : "$create:a.org");
        json_t *j = join_ev(&r, ALICE, NULL);
        json_object_set_new(j, "prev_events",
                            J(r.rv->event_id_format == HS_EVENT_ID_V1 ? "[[\"$create:a.org\",{}]]"
                                                                      : (r.rv->room_id_from_create ? "[\"$CREATE\"]"
                                                                                                   : "[\"$create:a.org\"]")));
        EXPECT(&r, json_incref(j), HS_AUTH_OK);
        json_object_set_new(j, "prev_events", J("[\"$other:a.org\"]"));
        EXPECT(&r, j, HS_AUTH_JOIN_NOT_INVITED); /* no join rules yet: invite-only */
        EXPECT(&r, join_ev(&r, BOB, NULL), HS_AUTH_JOIN_NOT_INVITED);
        done(&r);
    }
}

/* v1-10 name the creator in content.creator; v11 takes the create event's sender. */
Test(hs_auth_join, creator_field_v10_sender_v11)
{
    const char *vers[] = {"10", "11"};
    for (size_t i = 0; i < 2; i++) {
        room r = mk(vers[i]);
        json_t *c = json_deep_copy(r.create);
        json_object_set_new(json_object_get(c, "content"), "creator", json_string(BOB));
        hs_auth_map_free(r.map);
        r.map = hs_auth_map_new();
        put(&r, c, "$create:a.org");
        json_t *j = join_ev(&r, BOB, NULL), *k = join_ev(&r, ALICE, NULL);
        json_object_set_new(j, "prev_events", J("[\"$create:a.org\"]"));
        json_object_set_new(k, "prev_events", J("[\"$create:a.org\"]"));
        EXPECT(&r, j, i == 0 ? HS_AUTH_OK : HS_AUTH_JOIN_NOT_INVITED);
        EXPECT(&r, k, i == 0 ? HS_AUTH_JOIN_NOT_INVITED : HS_AUTH_OK);
        done(&r);
    }
}

Test(hs_auth_join, sender_must_be_target_and_not_banned)
{
    room r = mk("10");
    EXPECT(&r, ev(&r, "m.room.member", DAVE, BOB, "{\"membership\":\"join\"}"), HS_AUTH_JOIN_SENDER_NOT_TARGET);
    EXPECT(&r, join_ev(&r, DAVE, NULL), HS_AUTH_OK);
    member(&r, DAVE, "ban");
    EXPECT(&r, join_ev(&r, DAVE, NULL), HS_AUTH_JOIN_BANNED);
    cr_expect(strstr(last.msg, "(rule 4.3.3)") != NULL, "%s", last.msg);
    done(&r);
}

Test(hs_auth_join, invite_only_and_knock_rules)
{
    room r = mk("6");
    join_rule(&r, "invite");
    EXPECT(&r, join_ev(&r, DAVE, NULL), HS_AUTH_JOIN_NOT_INVITED);
    member(&r, DAVE, "invite");
    EXPECT(&r, join_ev(&r, DAVE, NULL), HS_AUTH_OK);
    member(&r, DAVE, "leave");
    join_rule(&r, "knock"); /* v6 knows no knock rule: nobody may join */
    EXPECT(&r, join_ev(&r, DAVE, NULL), HS_AUTH_JOIN_RULE);
    member(&r, DAVE, "invite");
    EXPECT(&r, join_ev(&r, DAVE, NULL), HS_AUTH_JOIN_RULE);
    done(&r);
    room r7 = mk("7");
    join_rule(&r7, "knock");
    EXPECT(&r7, join_ev(&r7, DAVE, NULL), HS_AUTH_JOIN_NOT_INVITED);
    member(&r7, DAVE, "invite");
    EXPECT(&r7, join_ev(&r7, DAVE, NULL), HS_AUTH_OK);
    done(&r7);
}

static json_t *signed_by(json_t *e, const char *server)
{
    json_t *sigs = json_object();
    json_object_set_new(sigs, server, J("{\"ed25519:k\":\"AAAA\"}"));
    json_object_set_new(e, "signatures", sigs);
    return e;
}

Test(hs_auth_join, restricted_needs_joined_authoriser_able_to_invite)
{
    const char *via = ",\"join_authorised_via_users_server\":\"" ALICE "\"";
    room r = mk("8");
    join_rule(&r, "restricted");
    EXPECT(&r, join_ev(&r, DAVE, NULL), HS_AUTH_JOIN_RESTRICTED_AUTHORISER);
    EXPECT(&r, signed_by(join_ev(&r, DAVE, via), "a.org"), HS_AUTH_OK);
    EXPECT(&r, signed_by(join_ev(&r, DAVE, via), "b.org"), HS_AUTH_MEMBER_AUTHORISER_UNSIGNED);
    member(&r, ALICE, "leave");
    EXPECT(&r, signed_by(join_ev(&r, DAVE, via), "a.org"), HS_AUTH_JOIN_RESTRICTED_AUTHORISER);
    member(&r, ALICE, "join");
    /* carol (0) cannot invite once the invite level is 10 */
    put(&r, ev(&r, "m.room.power_levels", "", ALICE, "{\"invite\":10,\"users\":{\"" ALICE "\":100}}"), NULL);
    EXPECT(&r, signed_by(join_ev(&r, DAVE, ",\"join_authorised_via_users_server\":\"" CAROL "\""), "a.org"),
           HS_AUTH_JOIN_RESTRICTED_AUTHORISER);
    member(&r, DAVE, "invite"); /* an invite is enough on its own */
    EXPECT(&r, join_ev(&r, DAVE, NULL), HS_AUTH_OK);
    done(&r);

    room r7 = mk("7"); /* restricted did not exist in v7 */
    join_rule(&r7, "restricted");
    EXPECT(&r7, signed_by(join_ev(&r7, DAVE, via), "a.org"), HS_AUTH_JOIN_RULE);
    done(&r7);
}

Test(hs_auth_join, knock_restricted_v10_only)
{
    const char *via = ",\"join_authorised_via_users_server\":\"" ALICE "\"";
    room r = mk("10");
    join_rule(&r, "knock_restricted");
    EXPECT(&r, signed_by(join_ev(&r, DAVE, via), "a.org"), HS_AUTH_OK);
    EXPECT(&r, join_ev(&r, DAVE, NULL), HS_AUTH_JOIN_RESTRICTED_AUTHORISER);
    EXPECT(&r, ev(&r, "m.room.member", DAVE, DAVE, "{\"membership\":\"knock\"}"), HS_AUTH_OK);
    done(&r);
    room r9 = mk("9");
    join_rule(&r9, "knock_restricted");
    EXPECT(&r9, signed_by(join_ev(&r9, DAVE, via), "a.org"), HS_AUTH_JOIN_RULE);
    EXPECT(&r9, ev(&r9, "m.room.member", DAVE, DAVE, "{\"membership\":\"knock\"}"), HS_AUTH_KNOCK_JOIN_RULE);
    done(&r9);
}

/* ---- invites ------------------------------------------------------------------------- */

Test(hs_auth_invite, sender_target_level)
{
    room r = mk("10");
    const char *inv = "{\"membership\":\"invite\"}";
    EXPECT(&r, ev(&r, "m.room.member", DAVE, CAROL, inv), HS_AUTH_OK);
    EXPECT(&r, ev(&r, "m.room.member", DAVE, "@eve:b.org", inv), HS_AUTH_INVITE_SENDER_NOT_JOINED);
    EXPECT(&r, ev(&r, "m.room.member", BOB, CAROL, inv), HS_AUTH_INVITE_TARGET_JOINED_OR_BANNED);
    put(&r, ev(&r, "m.room.power_levels", "", ALICE, "{\"invite\":50,\"users\":{\"" ALICE "\":100,\"" BOB "\":50}}"),
        NULL);
    EXPECT(&r, ev(&r, "m.room.member", DAVE, CAROL, inv), HS_AUTH_INVITE_LEVEL);
    EXPECT(&r, ev(&r, "m.room.member", DAVE, BOB, inv), HS_AUTH_OK);
    done(&r);
}

/* A third-party invite signed by an identity server key pair made here. */
static json_t *tpi_invite(room *r, const char *sender, const char *mxid, const char *token, const uint8_t sk[64])
{
    json_t *signed_obj = json_pack("{ss ss ss}", "mxid", mxid, "sender", sender, "token", token);
    static const char *const skip[] = {"signatures", "unsigned", NULL};
    size_t len;
    char *msg = hs_cjson_encode_without(signed_obj, skip, 0, &len, NULL);
    uint8_t sig[64];
    crypto_sign_detached(sig, NULL, (const unsigned char *)msg, len, sk);
    free(msg);
    char *b64 = hs_b64_encode(sig, sizeof sig);
    json_object_set_new(signed_obj, "signatures", json_pack("{s{ss}}", "id.example", "ed25519:0", b64));
    free(b64);
    json_t *e = ev(r, "m.room.member", mxid, sender, "{\"membership\":\"invite\"}");
    json_object_set_new(json_object_get(e, "content"), "third_party_invite",
                        json_pack("{ss so}", "display_name", "d...", "signed", signed_obj));
    return e;
}

Test(hs_auth_invite, third_party_invite_signature)
{
    cr_assert(sodium_init() >= 0);
    uint8_t pk[32], sk[64], pk2[32], sk2[64];
    crypto_sign_keypair(pk, sk);
    crypto_sign_keypair(pk2, sk2);
    char *pk_b64 = hs_b64_encode(pk, 32);
    room r = mk("10");
    char content[256];
    snprintf(content, sizeof content, "{\"display_name\":\"d\",\"public_keys\":[{\"public_key\":\"%s\"}]}", pk_b64);
    put(&r, ev(&r, "m.room.third_party_invite", "tok", BOB, content), NULL);

    EXPECT(&r, tpi_invite(&r, BOB, DAVE, "tok", sk), HS_AUTH_OK);
    EXPECT(&r, tpi_invite(&r, BOB, DAVE, "tok", sk2), HS_AUTH_TPI_SIGNATURE);
    EXPECT(&r, tpi_invite(&r, CAROL, DAVE, "tok", sk), HS_AUTH_TPI_SENDER);
    EXPECT(&r, tpi_invite(&r, BOB, DAVE, "other", sk), HS_AUTH_TPI_NO_EVENT);
    json_t *e = tpi_invite(&r, BOB, DAVE, "tok", sk);
    json_object_set_new(e, "state_key", json_string("@eve:b.org"));
    EXPECT(&r, e, HS_AUTH_TPI_MXID);
    e = tpi_invite(&r, BOB, DAVE, "tok", sk);
    json_object_del(json_object_get(json_object_get(json_object_get(e, "content"), "third_party_invite"), "signed"),
                    "token");
    EXPECT(&r, e, HS_AUTH_TPI_SIGNED_FIELDS);
    e = tpi_invite(&r, BOB, DAVE, "tok", sk);
    json_object_set_new(json_object_get(e, "content"), "third_party_invite", json_object());
    EXPECT(&r, e, HS_AUTH_TPI_NO_SIGNED);
    /* the single public_key form works too */
    snprintf(content, sizeof content, "{\"public_key\":\"%s\"}", pk_b64);
    put(&r, ev(&r, "m.room.third_party_invite", "tok", BOB, content), NULL);
    EXPECT(&r, tpi_invite(&r, BOB, DAVE, "tok", sk), HS_AUTH_OK);
    member(&r, DAVE, "ban");
    EXPECT(&r, tpi_invite(&r, BOB, DAVE, "tok", sk), HS_AUTH_TPI_TARGET_BANNED);
    free(pk_b64);
    done(&r);
}

/* ---- leave, kick, ban, knock ------------------------------------------------------------- */

Test(hs_auth_leave, self_leave_kick_unban)
{
    room r = mk("10");
    const char *leave = "{\"membership\":\"leave\"}";
    EXPECT(&r, ev(&r, "m.room.member", CAROL, CAROL, leave), HS_AUTH_OK);
    EXPECT(&r, ev(&r, "m.room.member", DAVE, DAVE, leave), HS_AUTH_LEAVE_SELF_NOT_MEMBER);
    member(&r, DAVE, "invite");
    EXPECT(&r, ev(&r, "m.room.member", DAVE, DAVE, leave), HS_AUTH_OK); /* rejecting an invite */
    EXPECT(&r, ev(&r, "m.room.member", CAROL, BOB, leave), HS_AUTH_OK); /* bob 50 kicks carol 0 */
    EXPECT(&r, ev(&r, "m.room.member", BOB, CAROL, leave), HS_AUTH_LEAVE_KICK_LEVEL);
    EXPECT(&r, ev(&r, "m.room.member", ALICE, BOB, leave), HS_AUTH_LEAVE_KICK_LEVEL); /* 100 > 50 */
    EXPECT(&r, ev(&r, "m.room.member", CAROL, DAVE, leave), HS_AUTH_LEAVE_SENDER_NOT_JOINED);
    member(&r, DAVE, "ban");
    put(&r, ev(&r, "m.room.power_levels", "", ALICE, "{\"ban\":60,\"users\":{\"" ALICE "\":100,\"" BOB "\":50}}"),
        NULL);
    EXPECT(&r, ev(&r, "m.room.member", DAVE, BOB, leave), HS_AUTH_LEAVE_UNBAN_LEVEL);
    EXPECT(&r, ev(&r, "m.room.member", DAVE, ALICE, leave), HS_AUTH_OK);
    done(&r);
}

Test(hs_auth_leave, knocker_may_withdraw_from_v7)
{
    room r = mk("7");
    join_rule(&r, "knock");
    member(&r, DAVE, "knock");
    EXPECT(&r, ev(&r, "m.room.member", DAVE, DAVE, "{\"membership\":\"leave\"}"), HS_AUTH_OK);
    done(&r);
    room r6 = mk("6"); /* a "knock" membership in state is meaningless in v6 */
    member(&r6, DAVE, "knock");
    EXPECT(&r6, ev(&r6, "m.room.member", DAVE, DAVE, "{\"membership\":\"leave\"}"), HS_AUTH_LEAVE_SELF_NOT_MEMBER);
    done(&r6);
}

Test(hs_auth_ban, level_and_membership)
{
    room r = mk("10");
    const char *ban = "{\"membership\":\"ban\"}";
    EXPECT(&r, ev(&r, "m.room.member", DAVE, BOB, ban), HS_AUTH_OK);
    EXPECT(&r, ev(&r, "m.room.member", DAVE, CAROL, ban), HS_AUTH_BAN_LEVEL);
    EXPECT(&r, ev(&r, "m.room.member", ALICE, BOB, ban), HS_AUTH_BAN_LEVEL);
    EXPECT(&r, ev(&r, "m.room.member", CAROL, DAVE, ban), HS_AUTH_BAN_SENDER_NOT_JOINED);
    done(&r);
}

Test(hs_auth_knock, v6_unknown_v7_allowed)
{
    const char *knock = "{\"membership\":\"knock\"}";
    room r6 = mk("6");
    join_rule(&r6, "knock");
    EXPECT(&r6, ev(&r6, "m.room.member", DAVE, DAVE, knock), HS_AUTH_MEMBER_UNKNOWN);
    done(&r6);
    room r = mk("7");
    EXPECT(&r, ev(&r, "m.room.member", DAVE, DAVE, knock), HS_AUTH_KNOCK_JOIN_RULE); /* public */
    join_rule(&r, "knock");
    EXPECT(&r, ev(&r, "m.room.member", DAVE, DAVE, knock), HS_AUTH_OK);
    EXPECT(&r, ev(&r, "m.room.member", DAVE, BOB, knock), HS_AUTH_KNOCK_SENDER_NOT_TARGET);
    EXPECT(&r, ev(&r, "m.room.member", BOB, BOB, knock), HS_AUTH_KNOCK_MEMBERSHIP);
    EXPECT(&r, ev(&r, "m.room.member", DAVE, DAVE, "{\"membership\":\"dance\"}"), HS_AUTH_MEMBER_UNKNOWN);
    EXPECT(&r, ev(&r, "m.room.member", DAVE, DAVE, "{}"), HS_AUTH_MEMBER_MALFORMED);
    done(&r);
}

/* ---- other events ----------------------------------------------------------------------- */

Test(hs_auth_events, sender_membership_levels_state_keys)
{
    room r = mk("10");
    EXPECT(&r, ev(&r, "m.room.message", NULL, CAROL, "{}"), HS_AUTH_OK);
    EXPECT(&r, ev(&r, "m.room.message", NULL, DAVE, "{}"), HS_AUTH_SENDER_NOT_JOINED);
    EXPECT(&r, ev(&r, "m.room.name", "", BOB, "{}"), HS_AUTH_OK);
    EXPECT(&r, ev(&r, "m.room.name", "", CAROL, "{}"), HS_AUTH_EVENT_LEVEL);
    EXPECT(&r, ev(&r, "m.room.topic", "", CAROL, "{}"), HS_AUTH_EVENT_LEVEL); /* state_default 50 */
    EXPECT(&r, ev(&r, "org.example.x", CAROL, CAROL, "{}"), HS_AUTH_EVENT_LEVEL);
    EXPECT(&r, ev(&r, "org.example.x", "@carol", BOB, "{}"), HS_AUTH_STATE_KEY_USER);
    EXPECT(&r, ev(&r, "org.example.x", BOB, BOB, "{}"), HS_AUTH_OK);
    EXPECT(&r, ev(&r, "m.room.third_party_invite", "t", CAROL, "{}"), HS_AUTH_OK); /* invite 0 */
    put(&r, ev(&r, "m.room.power_levels", "", ALICE, "{\"invite\":10,\"users\":{\"" ALICE "\":100}}"), NULL);
    EXPECT(&r, ev(&r, "m.room.third_party_invite", "t", CAROL, "{}"), HS_AUTH_TPI_EVENT_LEVEL);
    done(&r);
}

Test(hs_auth_events, no_power_levels_creator_has_100)
{
    room r = mk("10");
    hs_auth_map *m = hs_auth_map_new();
    hs_auth_entry e;
    hs_auth_map_get(r.map, "m.room.create", "", &e);
    hs_auth_map_put(m, (json_t *)e.pdu, "$create:a.org");
    hs_auth_map_get(r.map, "m.room.member", ALICE, &e);
    hs_auth_map_put(m, (json_t *)e.pdu, NULL);
    hs_auth_map_get(r.map, "m.room.member", BOB, &e);
    hs_auth_map_put(m, (json_t *)e.pdu, NULL);
    hs_auth_map_free(r.map);
    r.map = m;
    EXPECT(&r, ev(&r, "m.room.name", "", ALICE, "{}"), HS_AUTH_OK);
    EXPECT(&r, ev(&r, "m.room.name", "", BOB, "{}"), HS_AUTH_EVENT_LEVEL); /* 0 < 50 */
    hs_auth_state st = hs_auth_map_state(r.map);
    cr_expect_eq(hs_auth_user_level(r.rv, &st, ALICE), 100);
    cr_expect_eq(hs_auth_user_level(r.rv, &st, BOB), 0);
    done(&r);
}

Test(hs_auth_redaction, v1_domain_rule_v3_deferred)
{
    room r = mk("1");
    json_t *red = ev(&r, "m.room.redaction", NULL, CAROL, "{}");
    json_object_set_new(red, "event_id", json_string("$r1:a.org"));
    json_object_set_new(red, "redacts", json_string("$m1:b.org"));
    EXPECT(&r, json_deep_copy(red), HS_AUTH_REDACT_LEVEL);
    cr_expect(strstr(last.msg, "(rule 11.3)") != NULL, "%s", last.msg);
    json_object_set_new(red, "redacts", json_string("$m1:a.org")); /* same server */
    EXPECT(&r, json_deep_copy(red), HS_AUTH_OK);
    json_object_set_new(red, "sender", json_string(BOB)); /* redact level 50 */
    json_object_set_new(red, "redacts", json_string("$m1:c.org"));
    EXPECT(&r, json_deep_copy(red), HS_AUTH_OK);
    room r3 = mk("3");
    json_object_set_new(red, "sender", json_string(CAROL));
    EXPECT(&r3, red, HS_AUTH_OK); /* v3+: the server decides when it holds the target */
    done(&r3);
    done(&r);
}

/* ---- power levels ------------------------------------------------------------------------ */

static json_t *pl(room *r, const char *sender, const char *content)
{
    return ev(r, "m.room.power_levels", "", sender, content);
}

Test(hs_auth_power, string_levels_v9_not_v10)
{
    const char *c = "{\"users\":{\"" ALICE "\":100,\"" BOB "\":50,\"" DAVE "\":\"25\"},\"ban\":\" +050 \","
                    "\"events\":{\"m.room.power_levels\":100,\"m.room.name\":\"50\"},\"notifications\":{\"room\":50}}";
    room r9 = mk("9");
    EXPECT(&r9, pl(&r9, ALICE, c), HS_AUTH_OK);
    done(&r9);
    room r = mk("10");
    EXPECT(&r, pl(&r, ALICE, c), HS_AUTH_PL_NOT_INTEGER);
    EXPECT(&r, pl(&r, ALICE, "{\"users\":{\"" ALICE "\":100},\"events\":{\"m.room.name\":\"50\"}}"),
           HS_AUTH_PL_MAP_NOT_INTEGER);
    EXPECT(&r, pl(&r, ALICE, "{\"users\":{\"" ALICE "\":100,\"" DAVE "\":\"25\"}}"), HS_AUTH_PL_USERS_INVALID);
    EXPECT(&r, pl(&r, ALICE, "{\"users\":{\"" ALICE "\":100,\"dave\":25}}"), HS_AUTH_PL_USERS_INVALID);
    EXPECT(&r, pl(&r, ALICE, "{\"users\":{\"" ALICE "\":100,\"" DAVE "\":25}}"), HS_AUTH_OK);
    done(&r);
    room r9b = mk("9");
    EXPECT(&r9b, pl(&r9b, ALICE, "{\"users\":{\"" ALICE "\":100,\"" DAVE "\":\"2 5\"}}"), HS_AUTH_PL_USERS_INVALID);
    EXPECT(&r9b, pl(&r9b, ALICE, "{\"users\":{\"" ALICE "\":100,\"" DAVE "\":2.5}}"), HS_AUTH_PL_USERS_INVALID);
    done(&r9b);
    room r5 = mk("5"); /* v1-5 truncate floats */
    EXPECT(&r5, pl(&r5, ALICE, "{\"users\":{\"" ALICE "\":100,\"" DAVE "\":25.9}}"), HS_AUTH_OK);
    done(&r5);
}

Test(hs_auth_power, user_levels)
{
    room r = mk("10");
    put(&r, pl(&r, ALICE, "{\"users\":{\"" ALICE "\":100,\"" BOB "\":75,\"" CAROL "\":50},\"events\":"
                          "{\"m.room.power_levels\":75}}"),
        NULL);
    /* bob (75) may lower himself, raise carol up to his own level, not above it */
    EXPECT(&r, pl(&r, BOB, "{\"users\":{\"" ALICE "\":100,\"" BOB "\":60,\"" CAROL "\":50},\"events\":{\"m.room.power_levels\":75}}"),
           HS_AUTH_OK);
    EXPECT(&r, pl(&r, BOB, "{\"users\":{\"" ALICE "\":100,\"" BOB "\":75,\"" CAROL "\":75},\"events\":{\"m.room.power_levels\":75}}"),
           HS_AUTH_OK);
    EXPECT(&r, pl(&r, BOB, "{\"users\":{\"" ALICE "\":100,\"" BOB "\":76,\"" CAROL "\":50},\"events\":{\"m.room.power_levels\":75}}"),
           HS_AUTH_PL_USER_NEW_ABOVE_SENDER);
    EXPECT(&r, pl(&r, BOB, "{\"users\":{\"" ALICE "\":100,\"" BOB "\":75,\"" CAROL "\":80},\"events\":{\"m.room.power_levels\":75}}"),
           HS_AUTH_PL_USER_NEW_ABOVE_SENDER);
    /* bob cannot demote or remove alice (100 >= 75) */
    EXPECT(&r, pl(&r, BOB, "{\"users\":{\"" ALICE "\":10,\"" BOB "\":75,\"" CAROL "\":50},\"events\":{\"m.room.power_levels\":75}}"),
           HS_AUTH_PL_USER_OLD_NOT_BELOW_SENDER);
    EXPECT(&r, pl(&r, BOB, "{\"users\":{\"" BOB "\":75,\"" CAROL "\":50},\"events\":{\"m.room.power_levels\":75}}"),
           HS_AUTH_PL_USER_OLD_NOT_BELOW_SENDER);
    /* nor change the event level he does not reach, nor a default above him */
    EXPECT(&r, pl(&r, BOB, "{\"users\":{\"" ALICE "\":100,\"" BOB "\":75,\"" CAROL "\":50},\"events\":{\"m.room.power_levels\":80}}"),
           HS_AUTH_PL_MAP_NEW_ABOVE_SENDER);
    EXPECT(&r, pl(&r, BOB, "{\"users\":{\"" ALICE "\":100,\"" BOB "\":75,\"" CAROL "\":50},\"events\":{\"m.room.power_levels\":75},\"kick\":90}"),
           HS_AUTH_PL_DEFAULTS_ABOVE_SENDER);
    EXPECT(&r, pl(&r, BOB, "{\"users\":{\"" ALICE "\":100,\"" BOB "\":75,\"" CAROL "\":50},\"events\":{\"m.room.power_levels\":75},\"kick\":70}"),
           HS_AUTH_OK);
    done(&r);
}

Test(hs_auth_power, removing_an_event_level_above_sender)
{
    room r = mk("10");
    put(&r, pl(&r, ALICE, "{\"users\":{\"" ALICE "\":100,\"" BOB "\":75},\"events\":{\"m.room.power_levels\":75,\"m.room.tombstone\":100}}"),
        NULL);
    EXPECT(&r, pl(&r, BOB, "{\"users\":{\"" ALICE "\":100,\"" BOB "\":75},\"events\":{\"m.room.power_levels\":75}}"),
           HS_AUTH_PL_MAP_OLD_ABOVE_SENDER);
    done(&r);
}

Test(hs_auth_power, notifications_checked_from_v6)
{
    const char *before = "{\"users\":{\"" ALICE "\":100,\"" BOB "\":75},\"events\":{\"m.room.power_levels\":75},"
                         "\"notifications\":{\"room\":100}}";
    const char *after = "{\"users\":{\"" ALICE "\":100,\"" BOB "\":75},\"events\":{\"m.room.power_levels\":75},"
                        "\"notifications\":{\"room\":20}}";
    room r5 = mk("5");
    put(&r5, pl(&r5, ALICE, before), NULL);
    EXPECT(&r5, pl(&r5, BOB, after), HS_AUTH_OK);
    done(&r5);
    room r6 = mk("6");
    put(&r6, pl(&r6, ALICE, before), NULL);
    EXPECT(&r6, pl(&r6, BOB, after), HS_AUTH_PL_MAP_OLD_ABOVE_SENDER);
    cr_expect(strstr(last.msg, "(rule 9.4)") != NULL, "%s", last.msg);
    done(&r6);
}

Test(hs_auth_power, first_power_levels_event_needs_no_comparison)
{
    room r = mk("10");
    hs_auth_map *m = hs_auth_map_new();
    hs_auth_entry e;
    hs_auth_map_get(r.map, "m.room.create", "", &e);
    hs_auth_map_put(m, (json_t *)e.pdu, "$create:a.org");
    hs_auth_map_get(r.map, "m.room.member", ALICE, &e);
    hs_auth_map_put(m, (json_t *)e.pdu, NULL);
    hs_auth_map_free(r.map);
    r.map = m;
    EXPECT(&r, pl(&r, ALICE, "{\"users\":{\"" ALICE "\":1000,\"" BOB "\":900}}"), HS_AUTH_OK);
    done(&r);
}

Test(hs_auth_power, v12_creators_infinite_and_not_in_users)
{
    room r = mk("12");
    /* alice created the room: she may not appear in users, but outranks everyone */
    EXPECT(&r, pl(&r, ALICE, "{\"users\":{\"" ALICE "\":100}}"), HS_AUTH_PL_USERS_HAS_CREATOR);
    EXPECT(&r, pl(&r, ALICE, "{\"users\":{\"" BOB "\":1000000}}"), HS_AUTH_OK);
    hs_auth_state st = hs_auth_map_state(r.map);
    cr_expect_eq(hs_auth_user_level(r.rv, &st, ALICE), HS_AUTH_PL_INFINITE);

    /* an additional creator outranks a user at the top of the power levels event */
    json_t *c = json_deep_copy(r.create);
    json_object_set_new(json_object_get(c, "content"), "additional_creators", J("[\"" DAVE "\"]"));
    put(&r, c, "$CREATE");
    member(&r, DAVE, "join");
    put(&r, pl(&r, ALICE, "{\"users\":{\"" BOB "\":9007199254740991}}"), NULL);
    EXPECT(&r, ev(&r, "m.room.member", BOB, DAVE, "{\"membership\":\"ban\"}"), HS_AUTH_OK);
    EXPECT(&r, ev(&r, "m.room.member", DAVE, BOB, "{\"membership\":\"ban\"}"), HS_AUTH_BAN_LEVEL);
    EXPECT(&r, ev(&r, "m.room.member", ALICE, DAVE, "{\"membership\":\"ban\"}"), HS_AUTH_BAN_LEVEL); /* equal */
    EXPECT(&r, pl(&r, DAVE, "{\"users\":{\"" DAVE "\":1}}"), HS_AUTH_PL_USERS_HAS_CREATOR);
    done(&r);

    /* the same in v11: bob at the maximum cannot be banned by dave, who is just a user */
    room r11 = mk("11");
    member(&r11, DAVE, "join");
    put(&r11, pl(&r11, ALICE, "{\"users\":{\"" ALICE "\":100,\"" BOB "\":100,\"" DAVE "\":100}}"), NULL);
    EXPECT(&r11, ev(&r11, "m.room.member", BOB, DAVE, "{\"membership\":\"ban\"}"), HS_AUTH_BAN_LEVEL);
    done(&r11);
}

/* ---- rule numbering ------------------------------------------------------------------------ */

Test(hs_auth_rules, rule_numbers_follow_the_version)
{
    char b[16];
    cr_expect_str_eq(hs_auth_rule_ref(hs_room_version_get("1"), HS_AUTH_JOIN_BANNED, b, sizeof b), "5.2.3");
    cr_expect_str_eq(hs_auth_rule_ref(hs_room_version_get("6"), HS_AUTH_JOIN_BANNED, b, sizeof b), "4.2.3");
    cr_expect_str_eq(hs_auth_rule_ref(hs_room_version_get("10"), HS_AUTH_JOIN_BANNED, b, sizeof b), "4.3.3");
    cr_expect_str_eq(hs_auth_rule_ref(hs_room_version_get("12"), HS_AUTH_JOIN_BANNED, b, sizeof b), "5.3.3");
    cr_expect_str_eq(hs_auth_rule_ref(hs_room_version_get("9"), HS_AUTH_PL_USERS_INVALID, b, sizeof b), "9.1");
    cr_expect_str_eq(hs_auth_rule_ref(hs_room_version_get("10"), HS_AUTH_PL_USERS_INVALID, b, sizeof b), "9.3");
    cr_expect_str_eq(hs_auth_rule_ref(hs_room_version_get("12"), HS_AUTH_PL_USER_NEW_ABOVE_SENDER, b, sizeof b),
                     "10.10");
    cr_expect_str_eq(hs_auth_rule_ref(hs_room_version_get("12"), HS_AUTH_AUTH_EVENTS_DUPLICATE, b, sizeof b), "3.1");
    cr_expect_str_eq(hs_auth_rule_ref(hs_room_version_get("7"), HS_AUTH_MEMBER_UNKNOWN, b, sizeof b), "4.7");
    cr_expect_str_eq(hs_auth_rule_ref(hs_room_version_get("8"), HS_AUTH_MEMBER_UNKNOWN, b, sizeof b), "4.8");
    for (int i = 0; i < HS_AUTH_RULE_COUNT; i++) cr_expect_str_neq(hs_auth_rule_str(i), "unknown rule");
}

Test(hs_auth_rules, map_copy_is_independent)
{
    room r = mk("10");
    hs_auth_map *copy = hs_auth_map_copy(r.map);
    member(&r, DAVE, "join");
    hs_auth_entry e;
    cr_expect(hs_auth_map_get(r.map, "m.room.member", DAVE, &e));
    cr_expect_not(hs_auth_map_get(copy, "m.room.member", DAVE, &e));
    cr_expect_eq(hs_auth_map_size(copy) + 1, hs_auth_map_size(r.map));
    hs_auth_map_free(copy);
    done(&r);
}
