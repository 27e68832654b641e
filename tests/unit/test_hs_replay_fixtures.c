/* hs_replay against the recorded Synapse rooms (tests/fixtures/synapse/README.md): the
 * replayed state before and after every event, the current state and the soft failures
 * are exactly what Synapse computed, including the merge after the network split, where
 * state resolution picks A's power levels and kick and B's name and topic; and the result
 * does not depend on the order the events are given in. */
#include "test_hs_stateres_util.h"

#include "server-core/hs_stateres.h"

static const char *label_of(const json_t *lines, const char *id)
{
    size_t i;
    json_t *l;
    json_array_foreach(lines, i, l) if (strcmp(json_string_value(json_object_get(l, "event_id")), id) == 0) return json_string_value(json_array_get(json_object_get(l, "labels"), 0));
    return "?";
}

static const char *id_with_label(const json_t *lines, const char *prefix)
{
    size_t i;
    json_t *l;
    json_array_foreach(lines, i, l) {
        const char *label = json_string_value(json_array_get(json_object_get(l, "labels"), 0));
        if (strncmp(label, prefix, strlen(prefix)) == 0) return json_string_value(json_object_get(l, "event_id"));
    }
    cr_assert_fail("no event labelled %s", prefix);
    return NULL;
}

Test(hs_replay_fixtures, current_state_matches_synapse)
{
    for (size_t r = 0; r < SR_N_ROOMS; r++) {
        json_t *lines = sr_load_room(sr_rooms[r], ".jsonl"), *expect = sr_load_room(sr_rooms[r], ".state.json");
        hs_replay *rp = sr_replay_lines(lines, NULL);
        char why[2048];
        cr_expect(sr_map_matches(hs_replay_current_state(rp), expect, why, sizeof why), "%s:%s", sr_rooms[r], why);
        const char *const *ext;
        cr_expect_eq(hs_replay_extremities(rp, &ext), 1, "%s: one forward extremity", sr_rooms[r]);
        hs_replay_free(rp);
        json_decref(expect);
        json_decref(lines);
    }
}

Test(hs_replay_fixtures, state_before_and_after_every_event)
{
    for (size_t r = 0; r < SR_N_ROOMS; r++) {
        json_t *lines = sr_load_room(sr_rooms[r], ".jsonl"), *at = sr_load_room(sr_rooms[r], ".state-at.jsonl");
        hs_replay *rp = sr_replay_lines(lines, NULL);
        size_t i, merges = 0;
        json_t *s;
        cr_expect_eq(json_array_size(at), json_array_size(lines));
        json_array_foreach(at, i, s) {
            const char *id = json_string_value(json_object_get(s, "event_id"));
            hs_replay_info info;
            cr_assert_eq(hs_replay_get(rp, id, &info), 0, "%s not replayed", id);
            cr_expect(!info.rejected, "%s %s rejected: %s", sr_rooms[r], label_of(lines, id), info.reason);
            char why[2048];
            cr_expect(sr_map_matches(info.state_before, json_object_get(s, "state_before"), why, sizeof why),
                      "%s %s state_before:%s", sr_rooms[r], label_of(lines, id), why);
            cr_expect(sr_map_matches(info.state_after, json_object_get(s, "state_after"), why, sizeof why),
                      "%s %s state_after:%s", sr_rooms[r], label_of(lines, id), why);
            merges += json_is_true(json_object_get(s, "merge"));
        }
        cr_expect_eq(merges, 1, "%s: the fixture has one merge", sr_rooms[r]);
        hs_replay_free(rp);
        json_decref(at);
        json_decref(lines);
    }
}

/* The README's table: at the merge, power levels come from A's branch (bob 50), dave's
 * member event is A's kick, name and topic come from B's branch. */
Test(hs_replay_fixtures, merge_resolution_winners)
{
    for (size_t r = 0; r < SR_N_ROOMS; r++) {
        json_t *lines = sr_load_room(sr_rooms[r], ".jsonl");
        hs_replay *rp = sr_replay_lines(lines, NULL);
        hs_replay_info info;
        cr_assert_eq(hs_replay_get(rp, id_with_label(lines, "final: message alice"), &info), 0);
        const hs_state_map *m = info.state_before;
        cr_expect_str_eq(hs_state_map_get(m, "m.room.power_levels", ""), id_with_label(lines, "split A: power levels"),
                         "%s", sr_rooms[r]);
        cr_expect_str_eq(hs_state_map_get(m, "m.room.member", "@dave:localhost:8449"),
                         id_with_label(lines, "split A: kick dave"), "%s", sr_rooms[r]);
        cr_expect_str_eq(hs_state_map_get(m, "m.room.name", ""), id_with_label(lines, "split B: name"), "%s", sr_rooms[r]);
        cr_expect_str_eq(hs_state_map_get(m, "m.room.topic", ""), id_with_label(lines, "split B: topic"), "%s", sr_rooms[r]);
        hs_replay_free(rp);
        json_decref(lines);
    }
}

/* Exactly the events Synapse (A) soft-failed are soft-failed: B's power levels change and
 * dave's message, two per room. */
Test(hs_replay_fixtures, soft_failures_match_synapse)
{
    for (size_t r = 0; r < SR_N_ROOMS; r++) {
        json_t *lines = sr_load_room(sr_rooms[r], ".jsonl");
        hs_replay *rp = sr_replay_lines(lines, NULL);
        size_t i, soft = 0;
        json_t *l;
        json_array_foreach(lines, i, l) {
            const char *id = json_string_value(json_object_get(l, "event_id"));
            bool want = json_is_true(
                json_object_get(json_object_get(json_object_get(l, "servers"), "localhost:8448"), "soft_failed"));
            hs_replay_info info;
            cr_assert_eq(hs_replay_get(rp, id, &info), 0);
            cr_expect_eq(info.soft_failed, want, "%s %s: soft_failed %d, Synapse %d (%s)", sr_rooms[r], label_of(lines, id),
                         info.soft_failed, want, info.reason);
            soft += info.soft_failed;
        }
        cr_expect_eq(soft, 2, "%s", sr_rooms[r]);
        hs_replay_free(rp);
        json_decref(lines);
    }
}

/* Deterministic: reversed and pseudo-randomly shuffled input gives the same processing
 * order, per-event states, soft failures and current state. */
Test(hs_replay_fixtures, input_order_does_not_matter)
{
    for (size_t r = 0; r < SR_N_ROOMS; r++) {
        json_t *lines = sr_load_room(sr_rooms[r], ".jsonl");
        size_t n = json_array_size(lines);
        hs_replay *base = sr_replay_lines(lines, NULL);
        size_t *perm = malloc(n * sizeof *perm);
        for (unsigned round = 0; round < 4; round++) {
            for (size_t k = 0; k < n; k++) perm[k] = round == 0 ? n - 1 - k : k;
            unsigned seed = 12345u + round;
            for (size_t k = n - 1; round && k > 0; k--) {
                seed = seed * 1103515245u + 12345u;
                size_t j = (seed >> 8) % (k + 1), t = perm[k];
                perm[k] = perm[j];
                perm[j] = t;
            }
            hs_replay *rp = sr_replay_lines(lines, perm);
            cr_expect(hs_state_map_equal(hs_replay_current_state(rp), hs_replay_current_state(base)), "%s round %u",
                      sr_rooms[r], round);
            for (size_t k = 0; k < n; k++) {
                cr_expect_str_eq(hs_replay_order(rp, k), hs_replay_order(base, k));
                hs_replay_info a, b;
                cr_assert_eq(hs_replay_get(rp, hs_replay_order(base, k), &a), 0);
                cr_assert_eq(hs_replay_get(base, hs_replay_order(base, k), &b), 0);
                cr_expect(hs_state_map_equal(a.state_before, b.state_before));
                cr_expect(hs_state_map_equal(a.state_after, b.state_after));
                cr_expect_eq(a.soft_failed, b.soft_failed);
            }
            hs_replay_free(rp);
        }
        free(perm);
        hs_replay_free(base);
        json_decref(lines);
    }
}

/* Resolving the merge directly: the states after the two branch tips, in either order,
 * resolve to Synapse's state before the merge event. */
Test(hs_replay_fixtures, resolve_merge_from_branch_states)
{
    for (size_t r = 0; r < SR_N_ROOMS; r++) {
        json_t *lines = sr_load_room(sr_rooms[r], ".jsonl"), *at = sr_load_room(sr_rooms[r], ".state-at.jsonl");
        hs_replay *rp = sr_replay_lines(lines, NULL);
        hs_event_lookup lk = hs_replay_lookup(rp);
        size_t i;
        json_t *s;
        json_array_foreach(at, i, s) {
            if (!json_is_true(json_object_get(s, "merge"))) continue;
            const json_t *prevs = json_object_get(s, "prev_events");
            hs_replay_info p0, p1;
            cr_assert_eq(hs_replay_get(rp, json_string_value(json_array_get(prevs, 0)), &p0), 0);
            cr_assert_eq(hs_replay_get(rp, json_string_value(json_array_get(prevs, 1)), &p1), 0);
            const hs_state_map *fwd[2] = {p0.state_after, p1.state_after}, *bwd[2] = {p1.state_after, p0.state_after};
            hs_state_map *a = NULL, *b = NULL;
            hs_err err = {{0}};
            cr_assert_eq(hs_stateres_resolve(sr_room_version(lines), fwd, 2, &lk, &a, &err), 0, "%s", err.msg);
            cr_assert_eq(hs_stateres_resolve(sr_room_version(lines), bwd, 2, &lk, &b, &err), 0, "%s", err.msg);
            char why[2048];
            cr_expect(sr_map_matches(a, json_object_get(s, "state_before"), why, sizeof why), "%s:%s", sr_rooms[r], why);
            cr_expect(hs_state_map_equal(a, b));
            hs_state_map_free(a);
            hs_state_map_free(b);
        }
        hs_replay_free(rp);
        json_decref(at);
        json_decref(lines);
    }
}
