/* The room engine against the protocol core: rooms made by hs_room_create and grown by
 * hs_room_send must consist of real PDUs - each one valid in format, with a correct
 * content hash, our server's signature, an ID matching its reference hash, auth events
 * that authorise it - and replaying a room's stored events through hs_replay must give
 * exactly the current state the engine keeps. Plus the behaviours the engine owns:
 * preset state, refusal of non-members, transaction idempotency, unsupported versions. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_auth.h"
#include "server-core/hs_event_id.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_replay.h"
#include "server-core/hs_room.h"
#include "server-core/hs_signing.h"
#include "server-core/hs_store_accounts.h"
#include "server-core/hs_store_rooms.h"
#include "support/pgt.h"

#define SERVER "rooms.test"
#define ALICE "@alice:" SERVER
#define BOB "@bob:" SERVER
#define NOW 1700000000000LL

static char *dir;
static hs_store *st;
static hs_signing_key key;
static hs_room_engine eng;

static void setup(void)
{
    dir = pgt_tmpdir();
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/rooms.db", dir);
    size_t n;
    const hs_migration *m = hs_store_migrations(&n);
    cr_assert_eq(hs_store_open(path, m, n, &st, err, sizeof err), 0, "%s", err);
    cr_assert_eq(hs_signing_key_generate(&key), 0);
    eng = (hs_room_engine){st, SERVER, &key, "10"};
    cr_assert_eq(hs_store_user_insert(st, ALICE, NULL, false, NOW), 0);
    cr_assert_eq(hs_store_user_insert(st, BOB, NULL, false, NOW), 0);
}

static void teardown(void)
{
    hs_store_close(st);
    pgt_rmtree(dir);
    free(dir);
}

TestSuite(hs_rooms, .init = setup, .fini = teardown, .timeout = 60);

/* ---- helpers ------------------------------------------------------------------------ */

static char *create(const char *json)
{
    json_error_t je;
    json_t *req = json_loads(json, 0, &je);
    cr_assert_not_null(req, "%s", je.text);
    char *room = NULL;
    hs_room_result res;
    hs_room_status s = hs_room_create(&eng, ALICE, req, NOW, &room, &res);
    json_decref(req);
    cr_assert_eq(s, HS_ROOM_OK, "createRoom %s: %s", json, res.msg);
    return room;
}

static hs_room_status send_msg(const char *room, const char *sender, const char *body, char **id, hs_room_result *res)
{
    json_t *c = json_pack("{ss, ss}", "msgtype", "m.text", "body", body);
    hs_room_status s = hs_room_send(&eng, room, sender, "m.room.message", NULL, c, NULL, NOW + 5, id, res);
    json_decref(c);
    return s;
}

/* The content of the current state event at (type, key), parsed; caller decrefs. */
static json_t *state_content(const char *room, const char *type, const char *skey)
{
    char *id = NULL;
    cr_assert_eq(hs_store_state_get(st, room, type, skey, &id), 0, "no %s state", type);
    hs_store_event ev;
    cr_assert_eq(hs_store_event_get(st, id, &ev), 0);
    free(id);
    json_t *pdu = json_loads(ev.pdu_json, 0, NULL);
    hs_store_event_clear(&ev);
    json_t *c = json_incref(hs_pdu_content(pdu));
    json_decref(pdu);
    return c;
}

typedef struct room_events {
    json_t *by_id;   /* event_id -> PDU */
    json_t *order;   /* event IDs in stream order */
} room_events;

static int collect(void *ctx, const hs_store_event *ev)
{
    room_events *r = ctx;
    json_t *pdu = json_loads(ev->pdu_json, 0, NULL);
    cr_assert_not_null(pdu);
    json_object_set_new(r->by_id, ev->event_id, pdu);
    json_array_append_new(r->order, json_string(ev->event_id));
    return 0;
}

static room_events load_room(const char *room)
{
    room_events r = {json_object(), json_array()};
    cr_assert_geq(hs_store_room_events(st, room, 0, false, 1000000, collect, &r), 1);
    return r;
}

static int state_to_map(void *ctx, const char *type, const char *skey, const hs_store_event *ev)
{
    return hs_state_map_set(ctx, type, skey, ev->event_id);
}

/* Every stored event is a real PDU, and a replay gives the engine's current state. */
static void verify_room(const char *room, const char *version)
{
    const hs_room_version *rv = hs_room_version_get(version);
    cr_assert_not_null(rv);
    room_events r = load_room(room);
    hs_replay *rep = hs_replay_new(rv);
    const json_t *create = NULL;
    const char *create_id = NULL;
    size_t i;
    json_t *idj;
    json_array_foreach(r.order, i, idj) {
        const char *id = json_string_value(idj);
        json_t *pdu = json_object_get(r.by_id, id);
        hs_err err = {{0}};
        cr_assert_eq(hs_pdu_validate(pdu, rv, &err), 0, "%s: %s", id, err.msg);
        cr_assert_eq(hs_event_check_content_hash(pdu, &err), 0, "%s: %s", id, err.msg);
        cr_assert_eq(hs_event_verify_signature(pdu, rv, SERVER, key.key_id, key.public_key, &err), 0, "%s: %s", id,
                     err.msg);
        char *computed = hs_event_id_compute(pdu, rv, &err);
        cr_assert_str_eq(computed, id);
        free(computed);
        if (strcmp(hs_pdu_type(pdu), "m.room.create") == 0) {
            create = pdu;
            create_id = id;
            if (rv->room_id_from_create) {
                char *rid = hs_room_id_from_create(pdu, rv, &err);
                cr_assert_str_eq(rid, room);
                free(rid);
            }
        } else {
            cr_assert_str_eq(hs_pdu_room_id(pdu), room);
        }
        hs_auth_entry auth[16];
        size_t na = hs_pdu_auth_event_count(pdu);
        cr_assert_leq(na, 16);
        for (size_t k = 0; k < na; k++) {
            const char *aid = hs_pdu_auth_event(pdu, k);
            auth[k] = (hs_auth_entry){json_object_get(r.by_id, aid), aid};
            cr_assert_not_null(auth[k].pdu, "%s cites unknown auth event %s", id, aid);
        }
        hs_auth_entry cent = {create, create_id};
        hs_auth_result ar;
        cr_assert_eq(hs_auth_check_with_auth_events(rv, pdu, auth, na, create ? &cent : NULL, &ar), HS_AUTH_OK,
                     "%s: %s", id, ar.msg);
        cr_assert_eq(hs_replay_add(rep, id, pdu, &err), 0, "%s", err.msg);
    }
    hs_err err = {{0}};
    cr_assert_eq(hs_replay_run(rep, &err), 0, "%s", err.msg);
    json_array_foreach(r.order, i, idj) {
        hs_replay_info info;
        cr_assert_eq(hs_replay_get(rep, json_string_value(idj), &info), 0);
        cr_assert(!info.rejected && !info.soft_failed, "%s: %s", info.event_id, info.reason);
    }
    hs_state_map *mine = hs_state_map_new();
    cr_assert_eq(hs_store_state_each(st, room, state_to_map, mine), 0);
    cr_assert(hs_state_map_equal(mine, hs_replay_current_state(rep)), "replayed state differs from the engine's");
    const char *const *ext;
    size_t next = hs_replay_extremities(rep, &ext);
    char **sext;
    size_t nsext;
    int64_t depth;
    cr_assert_eq(hs_store_room_extremities(st, room, &sext, &nsext, &depth), 0);
    cr_assert_eq(next, nsext);
    for (size_t k = 0; k < next; k++) cr_assert_str_eq(ext[k], sext[k]);
    hs_store_free_strings(sext, nsext);
    hs_state_map_free(mine);
    hs_replay_free(rep);
    json_decref(r.by_id);
    json_decref(r.order);
}

/* Asserts that the room's current (type, state_key) event has content.field == want. */
static void expect_content_str(const char *room, const char *type, const char *skey, const char *field,
                               const char *want)
{
    json_t *c = state_content(room, type, skey);
    cr_assert_str_eq(json_string_value(json_object_get(c, field)), want, "%s %s", type, field);
    json_decref(c);
}

/* ---- tests -------------------------------------------------------------------------- */

Test(hs_rooms, private_chat_preset_state)
{
    char *room = create("{\"preset\":\"private_chat\",\"name\":\"Secret\",\"topic\":\"t\"}");
    cr_assert(room[0] == '!' && strstr(room, ":" SERVER));
    expect_content_str(room, "m.room.join_rules", "", "join_rule", "invite");
    expect_content_str(room, "m.room.history_visibility", "", "history_visibility", "shared");
    expect_content_str(room, "m.room.guest_access", "", "guest_access", "can_join");
    json_t *c = state_content(room, "m.room.power_levels", "");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(c, "users"), ALICE)), 100);
    cr_assert_eq(json_integer_value(json_object_get(c, "state_default")), 50);
    json_decref(c);
    expect_content_str(room, "m.room.name", "", "name", "Secret");
    c = state_content(room, "m.room.create", "");
    cr_assert_str_eq(json_string_value(json_object_get(c, "room_version")), "10");
    cr_assert_str_eq(json_string_value(json_object_get(c, "creator")), ALICE);
    json_decref(c);
    /* Bob is not invited: the join rule keeps him out. */
    hs_room_result res;
    cr_assert_eq(hs_room_membership(&eng, room, BOB, BOB, "join", NOW, NULL, &res), HS_ROOM_FORBIDDEN);
    verify_room(room, "10");
    free(room);
}

Test(hs_rooms, public_chat_second_user_joins_and_both_send)
{
    char *room = create("{\"preset\":\"public_chat\"}");
    expect_content_str(room, "m.room.join_rules", "", "join_rule", "public");
    expect_content_str(room, "m.room.guest_access", "", "guest_access", "forbidden");
    hs_room_result res;
    cr_assert_eq(send_msg(room, BOB, "before joining", NULL, &res), HS_ROOM_FORBIDDEN);
    cr_assert(strstr(res.msg, "not") != NULL, "the auth rule says why: %s", res.msg);
    cr_assert_eq(hs_room_membership(&eng, room, BOB, BOB, "join", NOW, NULL, &res), HS_ROOM_OK, "%s", res.msg);
    cr_assert_eq(send_msg(room, ALICE, "hi bob", NULL, &res), HS_ROOM_OK, "%s", res.msg);
    cr_assert_eq(send_msg(room, BOB, "hi alice", NULL, &res), HS_ROOM_OK, "%s", res.msg);
    /* Bob has power 0 < state_default 50. */
    json_t *name = json_pack("{ss}", "name", "bob's");
    cr_assert_eq(hs_room_send(&eng, room, BOB, "m.room.name", "", name, NULL, NOW, NULL, &res), HS_ROOM_FORBIDDEN);
    json_decref(name);
    cr_assert_eq(hs_room_membership(&eng, room, BOB, BOB, "leave", NOW, NULL, &res), HS_ROOM_OK, "%s", res.msg);
    cr_assert_eq(send_msg(room, BOB, "after leaving", NULL, &res), HS_ROOM_FORBIDDEN);
    char **ids;
    size_t n;
    cr_assert_eq(hs_store_joined_rooms(st, BOB, &ids, &n), 0);
    cr_assert_eq(n, 0);
    hs_store_free_strings(ids, n);
    verify_room(room, "10");
    free(room);
}

Test(hs_rooms, trusted_private_chat_invitees_get_creator_power)
{
    char *room = create("{\"preset\":\"trusted_private_chat\",\"invite\":[\"" BOB "\"],\"is_direct\":true}");
    json_t *c = state_content(room, "m.room.power_levels", "");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(c, "users"), BOB)), 100);
    json_decref(c);
    c = state_content(room, "m.room.member", BOB);
    cr_assert_str_eq(json_string_value(json_object_get(c, "membership")), "invite");
    cr_assert(json_is_true(json_object_get(c, "is_direct")));
    json_decref(c);
    hs_room_result res;
    cr_assert_eq(hs_room_membership(&eng, room, BOB, BOB, "join", NOW, NULL, &res), HS_ROOM_OK, "%s", res.msg);
    cr_assert_eq(send_msg(room, BOB, "thanks", NULL, &res), HS_ROOM_OK, "%s", res.msg);
    verify_room(room, "10");
    free(room);
}

Test(hs_rooms, overrides_and_initial_state)
{
    char *room = create("{\"preset\":\"private_chat\",\"power_level_content_override\":{\"events_default\":20},"
                        "\"initial_state\":[{\"type\":\"m.room.history_visibility\",\"content\":"
                        "{\"history_visibility\":\"joined\"}},{\"type\":\"org.example.thing\",\"state_key\":\"k\","
                        "\"content\":{\"v\":1}}],\"creation_content\":{\"m.federate\":false}}");
    json_t *c = state_content(room, "m.room.power_levels", "");
    cr_assert_eq(json_integer_value(json_object_get(c, "events_default")), 20);
    cr_assert_eq(json_integer_value(json_object_get(c, "ban")), 50, "the rest of the defaults stay");
    json_decref(c);
    expect_content_str(room, "m.room.history_visibility", "", "history_visibility", "joined");
    c = state_content(room, "org.example.thing", "k");
    cr_assert_eq(json_integer_value(json_object_get(c, "v")), 1);
    json_decref(c);
    c = state_content(room, "m.room.create", "");
    cr_assert(json_is_false(json_object_get(c, "m.federate")));
    json_decref(c);
    verify_room(room, "10");
    free(room);
}

Test(hs_rooms, every_new_room_version_makes_real_pdus)
{
    static const char *const versions[] = {"3", "4", "5", "6", "7", "8", "9", "10", "11", "12"};
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        char req[256];
        snprintf(req, sizeof req, "{\"room_version\":\"%s\",\"preset\":\"public_chat\",\"name\":\"v%s\"}",
                 versions[i], versions[i]);
        char *room = create(req);
        hs_room_result res;
        cr_assert_eq(hs_room_membership(&eng, room, BOB, BOB, "join", NOW, NULL, &res), HS_ROOM_OK, "v%s: %s",
                     versions[i], res.msg);
        for (int k = 0; k < 3; k++)
            cr_assert_eq(send_msg(room, k % 2 ? ALICE : BOB, "m", NULL, &res), HS_ROOM_OK, "%s", res.msg);
        verify_room(room, versions[i]);
        free(room);
    }
}

Test(hs_rooms, unsupported_versions_and_bad_requests)
{
    hs_room_result res;
    char *room = NULL;
    static const char *const bad_versions[] = {"1", "2", "13", "foo"};
    for (size_t i = 0; i < 4; i++) {
        json_t *req = json_pack("{ss}", "room_version", bad_versions[i]);
        cr_assert_eq(hs_room_create(&eng, ALICE, req, NOW, &room, &res), HS_ROOM_UNSUPPORTED_VERSION);
        json_decref(req);
    }
    json_t *req = json_pack("{ss}", "preset", "party");
    cr_assert_eq(hs_room_create(&eng, ALICE, req, NOW, &room, &res), HS_ROOM_BAD_REQUEST);
    json_decref(req);
    req = json_pack("{s[s]}", "invite", "@nobody:" SERVER);
    cr_assert_eq(hs_room_create(&eng, ALICE, req, NOW, &room, &res), HS_ROOM_NOT_FOUND);
    json_decref(req);
    /* The lists a client sends are capped at 100 entries each (one event per entry). */
    json_t *invites = json_array(), *initial = json_array();
    for (int i = 0; i < 101; i++) {
        json_array_append_new(invites, json_string(BOB));
        json_array_append_new(initial, json_pack("{ss ss s{}}", "type", "org.example.s", "state_key",
                                                 "k", "content"));
    }
    req = json_pack("{sO}", "invite", invites);
    cr_assert_eq(hs_room_create(&eng, ALICE, req, NOW, &room, &res), HS_ROOM_BAD_REQUEST);
    json_decref(req);
    req = json_pack("{sO}", "initial_state", initial);
    cr_assert_eq(hs_room_create(&eng, ALICE, req, NOW, &room, &res), HS_ROOM_BAD_REQUEST);
    json_decref(req);
    json_array_remove(invites, 0);
    json_array_remove(initial, 0);
    req = json_pack("{so so}", "invite", invites, "initial_state", initial);
    cr_assert_eq(hs_room_create(&eng, ALICE, req, NOW, &room, &res), HS_ROOM_OK, "100 of each: %s", res.msg);
    json_decref(req);
    free(room);
    room = NULL;
    json_t *c = json_pack("{ss}", "body", "x");
    cr_assert_eq(hs_room_send(&eng, "!nope:" SERVER, ALICE, "m.room.message", NULL, c, NULL, NOW, NULL, &res),
                 HS_ROOM_NOT_FOUND);
    json_decref(c);
}

Test(hs_rooms, oversized_event_is_refused)
{
    char *room = create("{}");
    size_t big = 70000;
    char *s = malloc(big + 1);
    memset(s, 'a', big);
    s[big] = 0;
    hs_room_result res;
    cr_assert_eq(send_msg(room, ALICE, s, NULL, &res), HS_ROOM_TOO_LARGE, "%s", res.msg);
    free(s);
    int64_t before, after;
    cr_assert_eq(hs_store_room_max_stream(st, room, &before), 0);
    cr_assert_eq(send_msg(room, ALICE, "small", NULL, &res), HS_ROOM_OK);
    cr_assert_eq(hs_store_room_max_stream(st, room, &after), 0);
    cr_assert_gt(after, before);
    verify_room(room, "10");
    free(room);
}

static int count_events(void *ctx, const hs_store_event *ev)
{
    (void)ev;
    (*(int *)ctx)++;
    return 0;
}

Test(hs_rooms, transaction_id_retry_returns_the_same_event)
{
    char *room = create("{}");
    hs_room_txn txn = {ALICE, "DEV1", "txn-1"};
    json_t *c = json_pack("{ss, ss}", "msgtype", "m.text", "body", "once");
    hs_room_result res;
    char *a = NULL, *b = NULL, *other = NULL;
    int before = 0, after = 0;
    hs_store_room_events(st, room, 0, false, 100000, count_events, &before);
    cr_assert_eq(hs_room_send(&eng, room, ALICE, "m.room.message", NULL, c, &txn, NOW, &a, &res), HS_ROOM_OK);
    cr_assert_eq(hs_room_send(&eng, room, ALICE, "m.room.message", NULL, c, &txn, NOW + 9, &b, &res), HS_ROOM_OK);
    cr_assert_str_eq(a, b);
    hs_store_room_events(st, room, 0, false, 100000, count_events, &after);
    cr_assert_eq(after, before + 1);
    hs_room_txn txn2 = {ALICE, "DEV2", "txn-1"};
    cr_assert_eq(hs_room_send(&eng, room, ALICE, "m.room.message", NULL, c, &txn2, NOW, &other, &res), HS_ROOM_OK);
    cr_assert_str_neq(a, other, "another device's txnId is another transaction");
    hs_store_event ev;
    cr_assert_eq(hs_store_event_get(st, a, &ev), 0);
    cr_assert_str_eq(ev.txn_id, "txn-1");
    cr_assert_str_eq(ev.txn_device, "DEV1");
    hs_store_event_clear(&ev);
    json_decref(c);
    free(a);
    free(b);
    free(other);
    free(room);
}

Test(hs_rooms, prev_events_chain_and_depth_grow)
{
    char *room = create("{}");
    hs_room_result res;
    char *first = NULL, *second = NULL;
    cr_assert_eq(send_msg(room, ALICE, "1", &first, &res), HS_ROOM_OK);
    cr_assert_eq(send_msg(room, ALICE, "2", &second, &res), HS_ROOM_OK);
    hs_store_event a, b;
    cr_assert_eq(hs_store_event_get(st, first, &a), 0);
    cr_assert_eq(hs_store_event_get(st, second, &b), 0);
    json_t *pa = json_loads(a.pdu_json, 0, NULL), *pb = json_loads(b.pdu_json, 0, NULL);
    cr_assert_eq(hs_pdu_prev_event_count(pb), 1);
    cr_assert_str_eq(hs_pdu_prev_event(pb, 0), first);
    cr_assert_eq(hs_pdu_depth(pb), hs_pdu_depth(pa) + 1);
    cr_assert_gt(b.stream, a.stream);
    json_decref(pa);
    json_decref(pb);
    hs_store_event_clear(&a);
    hs_store_event_clear(&b);
    free(first);
    free(second);
    free(room);
}
