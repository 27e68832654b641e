/* hs_stateres and hs_auth_chain on small synthetic rooms, one algorithm rule per test:
 * the reverse topological power ordering (sender level, then timestamp, then event ID),
 * mainline ordering of non-power events, the iterative auth checks dropping an event the
 * resolved power levels no longer allow, where v2.1 (room v12) and v2 differ, auth chains,
 * and the errors (unknown events, cycles); v1 is in test_hs_stateres_v1.c. Event IDs
 * here are made up; the lookup is a JSON object, so no hashing is involved. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "server-core/hs_auth_chain.h"
#include "server-core/hs_stateres.h"

typedef struct dag {
    json_t *events;   /* id -> pdu */
    bool v12;
} dag;

static const json_t *dag_get(void *ctx, const char *id, bool *rejected)
{
    *rejected = false;
    return json_object_get(((dag *)ctx)->events, id);
}

#define ALICE "@alice:a.test"
#define BOB "@bob:b.test"
#define CAROL "@carol:b.test"

static json_t *id_list(const char *ids)
{
    json_t *a = json_array();
    char *copy = strdup(ids), *save = NULL;
    for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) json_array_append_new(a, json_string(t));
    free(copy);
    return a;
}

/* Adds an event; `auth` lists its auth events without the create event, which is added
 * for versions before 12. content is stolen. */
static void ev(dag *d, const char *id, const char *type, const char *sender, const char *state_key, json_t *content,
               const char *auth, long long ts)
{
    char full[512];
    snprintf(full, sizeof full, "%s%s", d->v12 || strcmp(type, "m.room.create") == 0 ? "" : "$create ", auth);
    json_t *pdu = json_pack("{ss ss ss so sI sI so so}", "type", type, "sender", sender, "room_id", "!create",
                            "content", content, "origin_server_ts", (json_int_t)ts, "depth", (json_int_t)1,
                            "auth_events", id_list(full), "prev_events", json_array());
    if (state_key) json_object_set_new(pdu, "state_key", json_string(state_key));
    if (strcmp(type, "m.room.create") == 0 && d->v12) json_object_del(pdu, "room_id");
    json_object_set_new(d->events, id, pdu);
}

static json_t *pl_content(dag *d, int bob, int carol)
{
    json_t *users = json_pack("{si si}", BOB, bob, CAROL, carol);
    if (!d->v12) json_object_set_new(users, ALICE, json_integer(100));
    return json_pack("{so si si}", "users", users, "state_default", 50, "events_default", 0);
}

/* create, alice's join, power levels pl0 (bob 50, carol 50), public join rules, bob and
 * carol joined. */
static dag base(const char *version)
{
    dag d = {json_object(), strcmp(version, "12") == 0};
    json_t *cc = d.v12 ? json_pack("{ss}", "room_version", version)
                       : json_pack("{ss ss}", "room_version", version, "creator", ALICE);
    ev(&d, "$create", "m.room.create", ALICE, "", cc, "", 100);
    ev(&d, "$a_join", "m.room.member", ALICE, ALICE, json_pack("{ss}", "membership", "join"), "", 101);
    ev(&d, "$pl0", "m.room.power_levels", ALICE, "", pl_content(&d, 50, 50), "$a_join", 102);
    ev(&d, "$jr0", "m.room.join_rules", ALICE, "", json_pack("{ss}", "join_rule", "public"), "$a_join $pl0", 103);
    ev(&d, "$b_join", "m.room.member", BOB, BOB, json_pack("{ss}", "membership", "join"), "$pl0 $jr0", 104);
    ev(&d, "$c_join", "m.room.member", CAROL, CAROL, json_pack("{ss}", "membership", "join"), "$pl0 $jr0", 105);
    /* the create event's prev_events stay empty; the first join cites it */
    json_array_append_new(json_object_get(json_object_get(d.events, "$a_join"), "prev_events"), json_string("$create"));
    return d;
}

/* A state map of the given events, each at its own (type, state_key). */
static hs_state_map *S(dag *d, const char *ids)
{
    hs_state_map *m = hs_state_map_new();
    json_t *l = id_list(ids);
    size_t i;
    json_t *v;
    json_array_foreach(l, i, v) {
        const json_t *pdu = json_object_get(d->events, json_string_value(v));
        cr_assert_not_null(pdu, "%s", json_string_value(v));
        hs_state_map_set(m, json_string_value(json_object_get(pdu, "type")),
                         json_string_value(json_object_get(pdu, "state_key")), json_string_value(v));
    }
    json_decref(l);
    return m;
}

#define BASE "$create $a_join $pl0 $b_join $c_join "

/* Resolves two sets (and the same two in the other order, which must agree). The caller
 * frees the result. */
static hs_state_map *resolve2(dag *d, const char *version, const char *s1, const char *s2)
{
    hs_state_map *a = S(d, s1), *b = S(d, s2), *r1 = NULL, *r2 = NULL;
    const hs_state_map *fwd[2] = {a, b}, *bwd[2] = {b, a};
    hs_event_lookup lk = {dag_get, d};
    hs_err err = {{0}};
    cr_assert_eq(hs_stateres_resolve(hs_room_version_get(version), fwd, 2, &lk, &r1, &err), 0, "%s", err.msg);
    cr_assert_eq(hs_stateres_resolve(hs_room_version_get(version), bwd, 2, &lk, &r2, &err), 0, "%s", err.msg);
    cr_expect(hs_state_map_equal(r1, r2), "the order of the state sets changed the result");
    hs_state_map_free(a);
    hs_state_map_free(b);
    hs_state_map_free(r2);
    return r1;
}

static void expect_winner(dag *d, const char *version, const char *s1, const char *s2, const char *type,
                          const char *want)
{
    hs_state_map *r = resolve2(d, version, s1, s2);
    const char *got = hs_state_map_get(r, type, "");
    cr_expect(got && strcmp(got, want) == 0, "v%s %s: want %s, got %s", version, type, want, got ? got : "none");
    hs_state_map_free(r);
}

/* Two join rules changes by senders of equal level (bob, carol at 50): the earlier one is
 * applied first, so the later one wins; on equal timestamps the greater event ID does. */
Test(hs_stateres_power_order, equal_levels_tie_break_by_ts_then_id)
{
    const char *const versions[] = {"10", "12"};
    for (int v = 0; v < 2; v++) {
        for (int variant = 0; variant < 3; variant++) {
            dag d = base(versions[v]);
            long long tb = variant == 0 ? 1000 : variant == 1 ? 2000 : 1500, tc = variant == 0 ? 2000 : variant == 1 ? 1000 : 1500;
            ev(&d, "$jr_b", "m.room.join_rules", BOB, "", json_pack("{ss}", "join_rule", "invite"), "$pl0 $b_join", tb);
            ev(&d, "$jr_c", "m.room.join_rules", CAROL, "", json_pack("{ss}", "join_rule", "knock"), "$pl0 $c_join", tc);
            const char *want = variant == 1 ? "$jr_b" : "$jr_c";
            expect_winner(&d, versions[v], BASE "$jr_b", BASE "$jr_c", "m.room.join_rules", want);
            json_decref(d.events);
        }
    }
}

/* A higher sender level sorts first whatever the timestamps: alice's (100, or infinite as
 * v12 creator) later change is applied before bob's earlier one, so bob's wins. */
Test(hs_stateres_power_order, higher_level_applied_first)
{
    const char *const versions[] = {"10", "12"};
    for (int v = 0; v < 2; v++) {
        dag d = base(versions[v]);
        ev(&d, "$jr_a", "m.room.join_rules", ALICE, "", json_pack("{ss}", "join_rule", "invite"), "$pl0 $a_join", 5000);
        ev(&d, "$jr_b", "m.room.join_rules", BOB, "", json_pack("{ss}", "join_rule", "knock"), "$pl0 $b_join", 1000);
        expect_winner(&d, versions[v], BASE "$jr_a", BASE "$jr_b", "m.room.join_rules", "$jr_b");
        json_decref(d.events);
    }
}

/* Non-power events are ordered by mainline position first: carol's topic cites the newer
 * power levels pl1 (position 0), bob's cites pl0 (position 1), so bob's sorts first and
 * carol's wins although bob's is later. With equal positions the later timestamp wins. */
Test(hs_stateres_mainline, position_before_timestamp)
{
    dag d = base("10");
    json_t *plc = pl_content(&d, 50, 50);
    json_object_set_new(plc, "events", json_pack("{si}", "m.room.topic", 50));
    ev(&d, "$pl1", "m.room.power_levels", ALICE, "", plc, "$a_join $pl0", 200);
    ev(&d, "$t_bob", "m.room.topic", BOB, "", json_pack("{ss}", "topic", "bob"), "$pl0 $b_join", 5000);
    ev(&d, "$t_carol", "m.room.topic", CAROL, "", json_pack("{ss}", "topic", "carol"), "$pl1 $c_join", 1000);
    ev(&d, "$t_carol0", "m.room.topic", CAROL, "", json_pack("{ss}", "topic", "carol0"), "$pl0 $c_join", 1000);
    expect_winner(&d, "10", BASE "$pl1 $t_bob", BASE "$pl1 $t_carol", "m.room.topic", "$t_carol");
    expect_winner(&d, "10", BASE "$pl1 $t_bob", BASE "$pl1 $t_carol0", "m.room.topic", "$t_bob");
    json_decref(d.events);
}

/* The mainline is that of the power levels in the partially resolved state. In v2.1 that
 * state starts empty, so when the power levels are not conflicted it has none, every
 * position is the same, and the timestamps decide: bob's later topic wins where v2 picks
 * carol's (previous test). When the power levels are conflicted the mainline is back. */
Test(hs_stateres_mainline, v21_mainline_from_resolved_power_events_only)
{
    dag d = base("12");
    json_t *plc = pl_content(&d, 50, 50);
    json_object_set_new(plc, "events", json_pack("{si}", "m.room.topic", 50));
    ev(&d, "$pl1", "m.room.power_levels", ALICE, "", plc, "$a_join $pl0", 200);
    ev(&d, "$t_bob", "m.room.topic", BOB, "", json_pack("{ss}", "topic", "bob"), "$pl0 $b_join", 5000);
    ev(&d, "$t_carol", "m.room.topic", CAROL, "", json_pack("{ss}", "topic", "carol"), "$pl1 $c_join", 1000);
    expect_winner(&d, "12", BASE "$pl1 $t_bob", BASE "$pl1 $t_carol", "m.room.topic", "$t_bob");
    expect_winner(&d, "12", BASE "$t_bob", BASE "$pl1 $t_carol", "m.room.topic", "$t_carol");
    json_decref(d.events);
}

/* Alice lowers bob to 0 on one side while bob changes the topic on the other: the power
 * levels are resolved first, and bob's topic then fails the iterative auth check, so the
 * old topic stays. Without the demotion bob's later topic wins. */
Test(hs_stateres_iterative, resolved_power_levels_reject_event)
{
    const char *const versions[] = {"10", "12"};
    for (int v = 0; v < 2; v++) {
        dag d = base(versions[v]);
        ev(&d, "$t0", "m.room.topic", ALICE, "", json_pack("{ss}", "topic", "old"), "$pl0 $a_join", 300);
        ev(&d, "$pl_a", "m.room.power_levels", ALICE, "", pl_content(&d, 0, 50), "$pl0 $a_join", 1000);
        ev(&d, "$t_b", "m.room.topic", BOB, "", json_pack("{ss}", "topic", "bob"), "$pl0 $b_join", 2000);
        hs_state_map *r = resolve2(&d, versions[v], BASE "$t0 $pl_a", BASE "$t0 $t_b");
        cr_expect_str_eq(hs_state_map_get(r, "m.room.power_levels", ""), "$pl_a");
        cr_expect_str_eq(hs_state_map_get(r, "m.room.topic", ""), "$t0", "v%s: bob's topic must be dropped", versions[v]);
        hs_state_map_free(r);
        expect_winner(&d, versions[v], BASE "$t0", BASE "$t0 $t_b", "m.room.topic", "$t_b");
        json_decref(d.events);
    }
}

/* Bob changed the join rules, and both sides have since seen alice ban bob (unconflicted).
 * v2 checks the conflicted join rules against the unconflicted state, where bob is banned,
 * so alice's jr0 stays. v2.1 starts the power events' checks from an empty state, checking
 * bob's change against its own auth events (and bob's join, now in the conflicted
 * subgraph), so bob's change wins; the ban itself stays in both. */
Test(hs_stateres_v21, empty_start_and_subgraph_differ_from_v2)
{
    const char *const versions[] = {"11", "12"};
    const char *const want[] = {"$jr0", "$jr_b"};
    for (int v = 0; v < 2; v++) {
        dag d = base(versions[v]);
        ev(&d, "$jr_b", "m.room.join_rules", BOB, "", json_pack("{ss}", "join_rule", "invite"), "$pl0 $b_join", 1000);
        ev(&d, "$ban_b", "m.room.member", ALICE, BOB, json_pack("{ss}", "membership", "ban"), "$pl0 $a_join $b_join", 2000);
        hs_state_map *r = resolve2(&d, versions[v], BASE "$jr0 $ban_b", BASE "$jr_b $ban_b");
        cr_expect_str_eq(hs_state_map_get(r, "m.room.join_rules", ""), want[v], "v%s", versions[v]);
        cr_expect_str_eq(hs_state_map_get(r, "m.room.member", BOB), "$ban_b");
        hs_state_map_free(r);
        json_decref(d.events);
    }
}

Test(hs_stateres_basic, trivial_cases)
{
    dag d = base("10");
    hs_event_lookup lk = {dag_get, &d};
    hs_state_map *a = S(&d, BASE "$jr0"), *out = NULL;
    hs_err err = {{0}};
    cr_assert_eq(hs_stateres_resolve(hs_room_version_get("10"), NULL, 0, &lk, &out, &err), 0);
    cr_expect_eq(hs_state_map_size(out), 0);
    hs_state_map_free(out);
    const hs_state_map *one[1] = {a};
    cr_assert_eq(hs_stateres_resolve(hs_room_version_get("10"), one, 1, &lk, &out, &err), 0);
    cr_expect(hs_state_map_equal(out, a));
    hs_state_map_free(out);
    hs_state_map_free(a);
    json_decref(d.events);
}

Test(hs_stateres_basic, errors_are_reported)
{
    dag d = base("10");
    hs_event_lookup lk = {dag_get, &d};
    hs_err err = {{0}};
    hs_state_map *a = S(&d, BASE "$jr0"), *b = S(&d, BASE "$jr0"), *out = NULL;
    const hs_state_map *sets[2] = {a, b};
    /* an unknown event in a state set */
    hs_state_map_set(b, "m.room.topic", "", "$nowhere");
    cr_expect_eq(hs_stateres_resolve(hs_room_version_get("10"), sets, 2, &lk, &out, &err), -1);
    cr_expect(strstr(err.msg, "$nowhere") != NULL, "%s", err.msg);
    cr_expect_null(out);
    /* an event filed under another key */
    hs_state_map_set(b, "m.room.topic", "", "$jr0");
    cr_expect_eq(hs_stateres_resolve(hs_room_version_get("10"), sets, 2, &lk, &out, &err), -1);
    cr_expect(strstr(err.msg, "not that state event") != NULL, "%s", err.msg);
    /* an unknown auth event */
    ev(&d, "$t_x", "m.room.topic", BOB, "", json_pack("{ss}", "topic", "x"), "$pl0 $b_join $ghost", 10);
    hs_state_map_set(b, "m.room.topic", "", "$t_x");
    cr_expect_eq(hs_stateres_resolve(hs_room_version_get("10"), sets, 2, &lk, &out, &err), -1);
    cr_expect(strstr(err.msg, "$ghost") != NULL && strstr(err.msg, "$t_x") != NULL, "%s", err.msg);
    hs_state_map_free(a);
    hs_state_map_free(b);
    json_decref(d.events);
}

/* Two conflicting power events citing each other (only possible with forged IDs) cannot
 * be ordered: an error, not a hang or a crash. */
Test(hs_stateres_basic, auth_cycle_is_an_error)
{
    dag d = base("10");
    ev(&d, "$jr_x", "m.room.join_rules", ALICE, "", json_pack("{ss}", "join_rule", "invite"), "$pl0 $a_join $jr_y", 10);
    ev(&d, "$jr_y", "m.room.join_rules", ALICE, "", json_pack("{ss}", "join_rule", "knock"), "$pl0 $a_join $jr_x", 11);
    hs_event_lookup lk = {dag_get, &d};
    hs_state_map *a = S(&d, BASE "$jr_x"), *b = S(&d, BASE "$jr_y"), *out = NULL;
    const hs_state_map *sets[2] = {a, b};
    hs_err err = {{0}};
    cr_expect_eq(hs_stateres_resolve(hs_room_version_get("10"), sets, 2, &lk, &out, &err), -1);
    cr_expect(strstr(err.msg, "cycle") != NULL, "%s", err.msg);
    hs_state_map_free(a);
    hs_state_map_free(b);
    json_decref(d.events);
}

Test(hs_stateres_auth_chain, ancestors_sorted_and_unknown_named)
{
    dag d = base("10");
    hs_event_lookup lk = {dag_get, &d};
    hs_err err = {{0}};
    const char *ids[] = {"$b_join"};
    json_t *chain = hs_auth_chain_ids(hs_room_version_get("10"), &lk, ids, 1, &err);
    cr_assert_not_null(chain, "%s", err.msg);
    json_t *want = json_pack("[ssss]", "$a_join", "$create", "$jr0", "$pl0");
    cr_expect(json_equal(chain, want), "%s", json_dumps(chain, 0));
    json_decref(chain);
    json_decref(want);
    const char *two[] = {"$create", "$a_join"};
    chain = hs_auth_chain_ids(hs_room_version_get("10"), &lk, two, 2, &err);
    want = json_pack("[s]", "$create");
    cr_expect(json_equal(chain, want), "a start is reported when it is another start's ancestor");
    json_decref(chain);
    json_decref(want);
    ev(&d, "$t_x", "m.room.topic", BOB, "", json_pack("{ss}", "topic", "x"), "$pl0 $ghost", 10);
    const char *bad[] = {"$t_x"};
    cr_expect_null(hs_auth_chain_ids(hs_room_version_get("10"), &lk, bad, 1, &err));
    cr_expect(strstr(err.msg, "$ghost") != NULL, "%s", err.msg);
    json_decref(d.events);
}
