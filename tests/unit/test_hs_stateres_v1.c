/* hs_stateres for room version 1 (state resolution v1) on hand-built forks. Each expected
 * answer is derived from the spec's text (Room Version 1, "State resolution"): R starts
 * as the union of the sets without conflicted keys; power levels, then join rules, then
 * memberships are resolved by depth ascending / sha1(event_id) descending, each event
 * checked against R with the previous winner and the first refusal ending the key; other
 * keys take the first allowed event by depth descending / sha1(event_id) ascending. No
 * fixture holds a v1 room (tests/fixtures/synapse has v6, v9 and v10 rooms only), so the
 * rooms are synthetic; event IDs are v1-style ("$x:a.test") and the lookup is a JSON
 * object. Where v1 and v2 answer differently the v2 answer is checked too, so a v1 room
 * resolved with v2 would fail. */
#include <criterion/criterion.h>
#include <gnutls/crypto.h>
#include <jansson.h>
#include <string.h>

#include "server-core/hs_auth_chain.h"
#include "server-core/hs_replay.h"
#include "server-core/hs_stateres.h"

#define ALICE "@alice:a.test"
#define BOB "@bob:b.test"
#define CAROL "@carol:b.test"
#define DAVE "@dave:c.test"
#define ROOM "!room:a.test"

static const json_t *pool_get(void *ctx, const char *id, bool *rejected)
{
    *rejected = false;
    return json_object_get(ctx, id);
}

static json_t *id_list(const char *ids)
{
    json_t *a = json_array();
    char *copy = strdup(ids), *save = NULL;
    for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) json_array_append_new(a, json_string(t));
    free(copy);
    return a;
}

/* Adds a v1 event; auth lists its auth events (the create event is added but for the
 * create event itself). content is stolen. */
static void ev(json_t *pool, const char *id, const char *type, const char *sender, const char *state_key, json_t *content,
               const char *auth, long long depth, long long ts)
{
    char full[512];
    bool create = strcmp(type, "m.room.create") == 0;
    snprintf(full, sizeof full, "%s%s", create ? "" : "$create:a.test ", auth);
    json_t *pdu = json_pack("{ss ss ss ss so sI sI so so}", "event_id", id, "type", type, "sender", sender, "room_id",
                            ROOM, "content", content, "origin_server_ts", (json_int_t)ts, "depth", (json_int_t)depth,
                            "auth_events", id_list(full), "prev_events", json_array());
    if (state_key) json_object_set_new(pdu, "state_key", json_string(state_key));
    json_object_set_new(pool, id, pdu);
}

static json_t *pl_content(int bob, int carol)
{
    return json_pack("{s{si si si} si si si si}", "users", ALICE, 100, BOB, bob, CAROL, carol, "state_default", 50,
                     "events_default", 0, "ban", 50, "kick", 50);
}

static json_t *member(const char *m) { return json_pack("{ss}", "membership", m); }

/* create, alice joined, power levels (alice 100, bob 50, carol 50), public join rules, bob
 * and carol joined: depths 1-6. */
static json_t *base(void)
{
    json_t *p = json_object();
    ev(p, "$create:a.test", "m.room.create", ALICE, "", json_pack("{ss}", "creator", ALICE), "", 1, 100);
    ev(p, "$a_join:a.test", "m.room.member", ALICE, ALICE, member("join"), "", 2, 101);
    json_array_append_new(json_object_get(json_object_get(p, "$a_join:a.test"), "prev_events"),
                          json_string("$create:a.test"));
    ev(p, "$pl0:a.test", "m.room.power_levels", ALICE, "", pl_content(50, 50), "$a_join:a.test", 3, 102);
    ev(p, "$jr0:a.test", "m.room.join_rules", ALICE, "", json_pack("{ss}", "join_rule", "public"),
       "$a_join:a.test $pl0:a.test", 4, 103);
    ev(p, "$b_join:b.test", "m.room.member", BOB, BOB, member("join"), "$pl0:a.test $jr0:a.test", 5, 104);
    ev(p, "$c_join:b.test", "m.room.member", CAROL, CAROL, member("join"), "$pl0:a.test $jr0:a.test", 6, 105);
    return p;
}

#define BASE "$create:a.test $a_join:a.test $pl0:a.test $jr0:a.test $b_join:b.test $c_join:b.test "

static hs_state_map *S(json_t *pool, const char *ids)
{
    hs_state_map *m = hs_state_map_new();
    json_t *l = id_list(ids);
    size_t i;
    json_t *v;
    json_array_foreach(l, i, v) {
        const json_t *pdu = json_object_get(pool, json_string_value(v));
        cr_assert_not_null(pdu, "%s", json_string_value(v));
        hs_state_map_set(m, json_string_value(json_object_get(pdu, "type")),
                         json_string_value(json_object_get(pdu, "state_key")), json_string_value(v));
    }
    json_decref(l);
    return m;
}

/* Resolves the sets (given as space-separated ID lists, NULL-terminated) for `version`, in
 * the given order and reversed; both must agree. The caller frees the result. */
static hs_state_map *resolve(json_t *pool, const char *version, const char *const *lists)
{
    hs_state_map *sets[8];
    const hs_state_map *fwd[8], *bwd[8];
    size_t n = 0;
    for (; lists[n]; n++) sets[n] = S(pool, lists[n]);
    for (size_t i = 0; i < n; i++) {
        fwd[i] = sets[i];
        bwd[n - 1 - i] = sets[i];
    }
    hs_event_lookup lk = {pool_get, pool};
    hs_err err = {{0}};
    hs_state_map *r1 = NULL, *r2 = NULL;
    cr_assert_eq(hs_stateres_resolve(hs_room_version_get(version), fwd, n, &lk, &r1, &err), 0, "%s", err.msg);
    cr_assert_eq(hs_stateres_resolve(hs_room_version_get(version), bwd, n, &lk, &r2, &err), 0, "%s", err.msg);
    cr_expect(hs_state_map_equal(r1, r2), "the order of the state sets changed the result");
    for (size_t i = 0; i < n; i++) hs_state_map_free(sets[i]);
    hs_state_map_free(r2);
    return r1;
}

static void expect_at(json_t *pool, const char *version, const char *const *lists, const char *type, const char *sk,
                      const char *want)
{
    hs_state_map *r = resolve(pool, version, lists);
    const char *got = hs_state_map_get(r, type, sk);
    cr_expect(got && strcmp(got, want) == 0, "v%s (%s, %s): want %s, got %s", version, type, sk, want,
              got ? got : "none");
    hs_state_map_free(r);
}

static int sha1_cmp(const char *a, const char *b)
{
    unsigned char x[20], y[20];
    cr_assert_eq(gnutls_hash_fast(GNUTLS_DIG_SHA1, a, strlen(a), x), 0);
    cr_assert_eq(gnutls_hash_fast(GNUTLS_DIG_SHA1, b, strlen(b), y), 0);
    return memcmp(x, y, sizeof x);
}

/* "Other" events: the highest depth wins, whatever the timestamps. Alice's deeper topic
 * is older than bob's; v2, which orders by mainline then timestamp, picks bob's newer one
 * instead. */
Test(hs_stateres_v1, other_events_highest_depth_wins)
{
    json_t *p = base();
    ev(p, "$t_a:a.test", "m.room.topic", ALICE, "", json_pack("{ss}", "topic", "a"), "$pl0:a.test $a_join:a.test", 10,
       1000);
    ev(p, "$t_b:b.test", "m.room.topic", BOB, "", json_pack("{ss}", "topic", "b"), "$pl0:a.test $b_join:b.test", 8, 2000);
    const char *const sets[] = {BASE "$t_a:a.test", BASE "$t_b:b.test", NULL};
    expect_at(p, "1", sets, "m.room.topic", "", "$t_a:a.test");
    expect_at(p, "2", sets, "m.room.topic", "", "$t_b:b.test");
    json_decref(p);
}

/* Equal depths: the lowest sha1(event_id) wins. The IDs are picked so that their SHA-1
 * order is the opposite of their byte order (checked here), so a byte comparison would
 * pick the other one. */
Test(hs_stateres_v1, other_events_equal_depth_lowest_sha1_wins)
{
    char a[32], b[32], lower[32], higher[32];
    bool found = false;
    for (int i = 0; i < 50 && !found; i++) {
        snprintf(a, sizeof a, "$t%d:a.test", i);
        snprintf(b, sizeof b, "$t%d:b.test", i);
        found = (strcmp(a, b) < 0) != (sha1_cmp(a, b) < 0);
    }
    cr_assert(found, "no ID pair whose sha1 order differs from byte order");
    snprintf(lower, sizeof lower, "%s", sha1_cmp(a, b) < 0 ? a : b);
    snprintf(higher, sizeof higher, "%s", sha1_cmp(a, b) < 0 ? b : a);
    json_t *p = base();
    ev(p, lower, "m.room.topic", ALICE, "", json_pack("{ss}", "topic", "low"), "$pl0:a.test $a_join:a.test", 9, 1000);
    ev(p, higher, "m.room.topic", BOB, "", json_pack("{ss}", "topic", "high"), "$pl0:a.test $b_join:b.test", 9, 1000);
    char s1[512], s2[512];
    snprintf(s1, sizeof s1, BASE "%s", lower);
    snprintf(s2, sizeof s2, BASE "%s", higher);
    const char *const sets[] = {s1, s2, NULL};
    expect_at(p, "1", sets, "m.room.topic", "", lower);
    json_decref(p);
}

/* A ban against a concurrent power-level change: alice lowers bob to 0 on one side while
 * bob (50, ban level 50) bans dave (0) on the other. The power levels are resolved first
 * (pl0 at depth 3, then alice's pl1, allowed), and bob's ban is then checked against R
 * with pl1: bob is below the ban level, so dave's join stays. Without the demotion the
 * ban (deeper than dave's join, and allowed) wins. */
Test(hs_stateres_v1, ban_loses_to_concurrent_demotion)
{
    json_t *p = base();
    ev(p, "$d_join:c.test", "m.room.member", DAVE, DAVE, member("join"), "$pl0:a.test $jr0:a.test", 7, 150);
    ev(p, "$pl1:a.test", "m.room.power_levels", ALICE, "", pl_content(0, 50), "$pl0:a.test $a_join:a.test", 8, 200);
    ev(p, "$ban:b.test", "m.room.member", BOB, DAVE, member("ban"), "$pl0:a.test $b_join:b.test $d_join:c.test", 8,
       300);
    const char *const demoted[] = {BASE "$d_join:c.test $pl1:a.test", BASE "$ban:b.test", NULL};
    hs_state_map *r = resolve(p, "1", demoted);
    cr_expect_str_eq(hs_state_map_get(r, "m.room.power_levels", ""), "$pl1:a.test");
    cr_expect_str_eq(hs_state_map_get(r, "m.room.member", DAVE), "$d_join:c.test");
    hs_state_map_free(r);
    const char *const plain[] = {BASE "$d_join:c.test", BASE "$ban:b.test", NULL};
    expect_at(p, "1", plain, "m.room.member", DAVE, "$ban:b.test");
    json_decref(p);
}

/* Power levels: the first refusal ends the key. Three forks change the power levels:
 * alice demotes carol (depth 7), carol (50 in pl0) changes them (depth 8), alice again
 * (depth 9). In depth order: plA goes in; carol's is refused against plA (she is 0 there),
 * which stops the pass, so alice's deeper plC is never tried and plA stays. With carol's
 * fork left out, plC (allowed after plA) wins. */
Test(hs_stateres_v1, power_levels_stop_at_first_refusal)
{
    json_t *p = base();
    ev(p, "$plA:a.test", "m.room.power_levels", ALICE, "", pl_content(50, 0), "$pl0:a.test $a_join:a.test", 7, 200);
    ev(p, "$plB:b.test", "m.room.power_levels", CAROL, "", pl_content(50, 50), "$pl0:a.test $c_join:b.test", 8, 300);
    json_object_set_new(json_object_get(json_object_get(p, "$plB:b.test"), "content"), "state_default",
                        json_integer(40));
    ev(p, "$plC:a.test", "m.room.power_levels", ALICE, "", pl_content(10, 0), "$pl0:a.test $a_join:a.test", 9, 400);
    const char *const three[] = {BASE "$plA:a.test", BASE "$plB:b.test", BASE "$plC:a.test", NULL};
    expect_at(p, "1", three, "m.room.power_levels", "", "$plA:a.test");
    const char *const two[] = {BASE "$plA:a.test", BASE "$plC:a.test", NULL};
    expect_at(p, "1", two, "m.room.power_levels", "", "$plC:a.test");
    json_decref(p);
}

/* Join rules are resolved before memberships, and memberships in depth order. Alice
 * makes the room invite-only (depth 7) on one fork, where bob also kicked dave (depth 8);
 * on the other fork dave rejoined (depth 9) while the room was public. The join rules go
 * first (jr0, then alice's jr1: allowed), then dave's key: the kick, then the rejoin,
 * checked against invite-only rules with dave kicked: refused, so the kick stays. If the
 * room stays public the rejoin wins; if dave's first join (not the kick) is on the
 * invite-only fork, the rejoin is a join by a joined user, allowed under invite-only. */
Test(hs_stateres_v1, memberships_after_join_rules_in_depth_order)
{
    json_t *p = base();
    ev(p, "$jr1:a.test", "m.room.join_rules", ALICE, "", json_pack("{ss}", "join_rule", "invite"),
       "$pl0:a.test $a_join:a.test", 7, 200);
    ev(p, "$d_join:c.test", "m.room.member", DAVE, DAVE, member("join"), "$pl0:a.test $jr0:a.test", 7, 210);
    ev(p, "$d_kick:b.test", "m.room.member", BOB, DAVE, member("leave"), "$pl0:a.test $b_join:b.test $d_join:c.test", 8,
       220);
    ev(p, "$d_rejoin:c.test", "m.room.member", DAVE, DAVE, member("join"), "$pl0:a.test $jr0:a.test $d_kick:b.test", 9,
       230);
    const char *const kicked[] = {BASE "$jr1:a.test $d_kick:b.test", BASE "$d_rejoin:c.test", NULL};
    hs_state_map *r = resolve(p, "1", kicked);
    cr_expect_str_eq(hs_state_map_get(r, "m.room.join_rules", ""), "$jr1:a.test");
    cr_expect_str_eq(hs_state_map_get(r, "m.room.member", DAVE), "$d_kick:b.test");
    hs_state_map_free(r);
    const char *const open[] = {BASE "$d_kick:b.test", BASE "$d_rejoin:c.test", NULL};
    expect_at(p, "1", open, "m.room.member", DAVE, "$d_rejoin:c.test");
    const char *const joined[] = {BASE "$jr1:a.test $d_join:c.test", BASE "$d_rejoin:c.test", NULL};
    expect_at(p, "1", joined, "m.room.member", DAVE, "$d_rejoin:c.test");
    json_decref(p);
}

/* A key only some sets hold is not a conflict in v1 (only different event IDs are): dave's
 * join on one fork stays even though the other fork made the room invite-only. v2 counts
 * a missing key as conflicted and checks the join against the resolved invite-only rules,
 * dropping it. */
Test(hs_stateres_v1, key_missing_from_a_set_is_not_conflicted)
{
    json_t *p = base();
    ev(p, "$jr1:a.test", "m.room.join_rules", ALICE, "", json_pack("{ss}", "join_rule", "invite"),
       "$pl0:a.test $a_join:a.test", 7, 200);
    ev(p, "$d_join:c.test", "m.room.member", DAVE, DAVE, member("join"), "$pl0:a.test $jr0:a.test", 7, 210);
    const char *const sets[] = {BASE "$jr1:a.test", BASE "$d_join:c.test", NULL};
    hs_state_map *r = resolve(p, "1", sets);
    cr_expect_str_eq(hs_state_map_get(r, "m.room.join_rules", ""), "$jr1:a.test");
    cr_expect_str_eq(hs_state_map_get(r, "m.room.member", DAVE), "$d_join:c.test");
    hs_state_map_free(r);
    r = resolve(p, "2", sets);
    cr_expect_null(hs_state_map_get(r, "m.room.member", DAVE), "v2 drops dave's join");
    hs_state_map_free(r);
    json_decref(p);
}

/* No candidate of an "other" key passes: the spec's loop ends with the last one tried, the
 * shallowest. Both topics are by bob, demoted to 0 on a third fork, so neither is allowed
 * in R; the depth-8 one is kept. When carol (still 50) wrote a depth-8 topic, bob's deeper
 * refused topic is passed over for hers, and bob's shallower one is not kept. */
Test(hs_stateres_v1, other_key_none_allowed_keeps_shallowest)
{
    json_t *p = base();
    ev(p, "$pl1:a.test", "m.room.power_levels", ALICE, "", pl_content(0, 50), "$pl0:a.test $a_join:a.test", 7, 200);
    ev(p, "$t7:b.test", "m.room.topic", BOB, "", json_pack("{ss}", "topic", "7"), "$pl0:a.test $b_join:b.test", 7, 300);
    ev(p, "$t8:b.test", "m.room.topic", BOB, "", json_pack("{ss}", "topic", "8"), "$pl0:a.test $b_join:b.test", 8, 300);
    ev(p, "$t8c:b.test", "m.room.topic", CAROL, "", json_pack("{ss}", "topic", "8c"), "$pl0:a.test $c_join:b.test", 8,
       300);
    ev(p, "$t9:b.test", "m.room.topic", BOB, "", json_pack("{ss}", "topic", "9"), "$pl0:a.test $b_join:b.test", 9, 400);
    const char *const none[] = {BASE "$pl1:a.test", BASE "$t8:b.test", BASE "$t9:b.test", NULL};
    hs_state_map *r = resolve(p, "1", none);
    cr_expect_str_eq(hs_state_map_get(r, "m.room.power_levels", ""), "$pl1:a.test");
    cr_expect_str_eq(hs_state_map_get(r, "m.room.topic", ""), "$t8:b.test");
    hs_state_map_free(r);
    const char *const carol[] = {BASE "$pl1:a.test $t7:b.test", BASE "$t8c:b.test", BASE "$t9:b.test", NULL};
    expect_at(p, "1", carol, "m.room.topic", "", "$t8c:b.test");
    json_decref(p);
}

/* Unknown conflicted events and events filed under the wrong key are errors naming them. */
Test(hs_stateres_v1, errors_name_the_event)
{
    json_t *p = base();
    hs_state_map *a = S(p, BASE), *b = S(p, BASE), *out = NULL;
    const hs_state_map *sets[2] = {a, b};
    hs_event_lookup lk = {pool_get, p};
    hs_err err = {{0}};
    hs_state_map_set(b, "m.room.topic", "", "$nowhere:a.test");
    hs_state_map_set(a, "m.room.topic", "", "$jr0:a.test");
    cr_expect_eq(hs_stateres_resolve(hs_room_version_get("1"), sets, 2, &lk, &out, &err), -1);
    cr_expect(strstr(err.msg, "$nowhere:a.test") || strstr(err.msg, "not that state event"), "%s", err.msg);
    cr_expect_null(out);
    hs_state_map_free(a);
    hs_state_map_free(b);
    json_decref(p);
}

/* A v1 room replayed end to end (hs_replay: every event checked, forks merged through
 * hs_stateres): alice makes the room invite-only (depth 7) while dave joins on a parallel
 * branch (depth 7); dave's join arrives second and is soft-failed, and alice's message
 * then merges both branches. The state before the merge is the v1 resolution of the two
 * branches: the join rules conflict resolves to alice's invite-only rules, and dave's
 * membership, present on one branch only, is no conflict, so he stays joined. The same
 * events replayed as room version 2 drop dave's join (checked against the resolved
 * invite-only rules). */
Test(hs_stateres_v1, replayed_fork_merges_with_v1)
{
    const char *const versions[] = {"1", "2"};
    const bool dave_joined[] = {true, false};
    for (int v = 0; v < 2; v++) {
        json_t *p = base();
        const char *chain[] = {"$create:a.test", "$a_join:a.test", "$pl0:a.test", "$jr0:a.test", "$b_join:b.test",
                               "$c_join:b.test"};
        /* base() links the first join to the create event; the rest form a line */
        for (size_t i = 2; i < sizeof chain / sizeof chain[0]; i++)
            json_array_append_new(json_object_get(json_object_get(p, chain[i]), "prev_events"),
                                  json_string(chain[i - 1]));
        ev(p, "$jr1:a.test", "m.room.join_rules", ALICE, "", json_pack("{ss}", "join_rule", "invite"),
           "$pl0:a.test $a_join:a.test", 7, 200);
        ev(p, "$d_join:c.test", "m.room.member", DAVE, DAVE, member("join"), "$pl0:a.test $jr0:a.test", 7, 300);
        ev(p, "$merge:a.test", "m.room.message", ALICE, NULL, json_pack("{ss ss}", "msgtype", "m.text", "body", "hi"),
           "$pl0:a.test $a_join:a.test", 8, 400);
        json_array_append_new(json_object_get(json_object_get(p, "$jr1:a.test"), "prev_events"),
                              json_string("$c_join:b.test"));
        json_array_append_new(json_object_get(json_object_get(p, "$d_join:c.test"), "prev_events"),
                              json_string("$c_join:b.test"));
        json_t *mp = json_object_get(json_object_get(p, "$merge:a.test"), "prev_events");
        json_array_append_new(mp, json_string("$jr1:a.test"));
        json_array_append_new(mp, json_string("$d_join:c.test"));
        hs_replay *r = hs_replay_new(hs_room_version_get(versions[v]));
        const char *id;
        json_t *pdu;
        hs_err err = {{0}};
        json_object_foreach(p, id, pdu) cr_assert_eq(hs_replay_add(r, id, pdu, &err), 0, "%s", err.msg);
        cr_assert_eq(hs_replay_run(r, &err), 0, "v%s: %s", versions[v], err.msg);
        hs_replay_info info;
        cr_assert_eq(hs_replay_get(r, "$d_join:c.test", &info), 0);
        cr_expect(info.soft_failed && !info.rejected, "v%s: dave's join should be soft-failed", versions[v]);
        cr_assert_eq(hs_replay_get(r, "$merge:a.test", &info), 0);
        cr_expect(!info.rejected, "v%s: the merge was rejected: %s", versions[v], info.reason);
        cr_expect_str_eq(hs_state_map_get(info.state_before, "m.room.join_rules", ""), "$jr1:a.test");
        const char *d = hs_state_map_get(info.state_before, "m.room.member", DAVE);
        cr_expect_eq(d != NULL, dave_joined[v], "v%s: dave's membership before the merge: %s", versions[v],
                     d ? d : "none");
        hs_replay_free(r);
        json_decref(p);
    }
}
