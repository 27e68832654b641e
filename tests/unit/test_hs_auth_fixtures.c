/* hs_auth against the recorded Synapse rooms (tests/fixtures/synapse, see its README):
 * every stored event passes the auth rules against its own auth_events and against the
 * state before it; the soft-failed events fail against the state A had when they arrived;
 * the crafted events Synapse rejected are denied for the same reason. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_auth.h"
#include "support/pgt.h"

#define FIX PG_SOURCE_DIR "/tests/fixtures/synapse/"

static const char *const rooms[] = {"room-1-v10", "room-2-v9", "room-3-v6"};

/* All lines of a .jsonl file as a JSON array. */
static json_t *load_lines(const char *path)
{
    char err[512];
    json_t *arr = pgt_load_jsonl(path, err, sizeof err);
    cr_assert_not_null(arr, "%s", err);
    return arr;
}

/* event_id -> line object, for a room file. */
static json_t *index_by_id(const json_t *lines)
{
    json_t *idx = json_object();
    size_t i;
    json_t *l;
    json_array_foreach(lines, i, l) json_object_set(idx, json_string_value(json_object_get(l, "event_id")), l);
    return idx;
}

static const hs_room_version *version_of(const json_t *line)
{
    const hs_room_version *rv = hs_room_version_get(json_string_value(json_object_get(line, "room_version")));
    cr_assert_not_null(rv);
    return rv;
}

/* Resolves the PDU's auth_events through idx into entries (at most 16). */
static size_t resolve_auth(const json_t *pdu, const json_t *idx, hs_auth_entry *out)
{
    size_t i, n = 0;
    json_t *id;
    json_array_foreach(json_object_get(pdu, "auth_events"), i, id) {
        const json_t *l = json_object_get(idx, json_string_value(id));
        cr_assert_not_null(l, "auth event %s not in the room file", json_string_value(id));
        cr_assert_lt(n, 16);
        out[n++] = (hs_auth_entry){json_object_get(l, "pdu"), json_string_value(id)};
    }
    return n;
}

/* A state map from a "type|state_key" -> event_id object. */
static hs_auth_map *map_from_ids(const json_t *ids, const json_t *idx)
{
    hs_auth_map *m = hs_auth_map_new();
    const char *k;
    json_t *id;
    json_object_foreach((json_t *)ids, k, id) {
        const json_t *l = json_object_get(idx, json_string_value(id));
        cr_assert_not_null(l, "state event %s not in the room file", json_string_value(id));
        cr_assert_eq(hs_auth_map_put(m, json_object_get(l, "pdu"), json_string_value(id)), 0);
    }
    return m;
}

Test(hs_auth_fixtures, every_event_allowed_by_its_auth_events)
{
    size_t total = 0;
    for (size_t r = 0; r < sizeof rooms / sizeof rooms[0]; r++) {
        char path[512];
        snprintf(path, sizeof path, FIX "%s.jsonl", rooms[r]);
        json_t *lines = load_lines(path), *idx = index_by_id(lines);
        size_t i;
        json_t *l;
        json_array_foreach(lines, i, l) {
            const json_t *pdu = json_object_get(l, "pdu");
            hs_auth_entry auth[16];
            size_t n = resolve_auth(pdu, idx, auth);
            hs_auth_result res;
            hs_auth_rule rule = hs_auth_check_with_auth_events(version_of(l), pdu, auth, n, NULL, &res);
            cr_expect_eq(rule, HS_AUTH_OK, "%s %s (%s): %s", rooms[r], json_string_value(json_object_get(l, "event_id")),
                         json_string_value(json_array_get(json_object_get(l, "labels"), 0)), res.msg);
            total++;
        }
        json_decref(idx);
        json_decref(lines);
    }
    cr_expect_eq(total, 209, "the README counts 209 events, saw %zu", total);
}

Test(hs_auth_fixtures, every_event_allowed_by_its_state_before)
{
    for (size_t r = 0; r < sizeof rooms / sizeof rooms[0]; r++) {
        char path[512];
        snprintf(path, sizeof path, FIX "%s.jsonl", rooms[r]);
        json_t *lines = load_lines(path), *idx = index_by_id(lines);
        snprintf(path, sizeof path, FIX "%s.state-at.jsonl", rooms[r]);
        json_t *at = load_lines(path);
        cr_assert_gt(json_array_size(at), 50);
        size_t i;
        json_t *s;
        json_array_foreach(at, i, s) {
            const char *id = json_string_value(json_object_get(s, "event_id"));
            const json_t *l = json_object_get(idx, id);
            cr_assert_not_null(l, "%s not in the room file", id);
            hs_auth_map *m = map_from_ids(json_object_get(s, "state_before"), idx);
            hs_auth_state st = hs_auth_map_state(m);
            hs_auth_result res;
            hs_auth_rule rule = hs_auth_allowed(version_of(l), json_object_get(l, "pdu"), &st, &res);
            cr_expect_eq(rule, HS_AUTH_OK, "%s %s (%s): %s", rooms[r], id,
                         json_string_value(json_array_get(json_object_get(l, "labels"), 0)), res.msg);
            hs_auth_map_free(m);
        }
        json_decref(at);
        json_decref(idx);
        json_decref(lines);
    }
}

/* Soft failure: A stored its own split branch first, so when B's branch arrived A's
 * current state was the state after A's last own event before it in A's stream. Against
 * that state exactly the two events A soft-failed are denied (bob at 50 cannot change
 * power levels that need 75; dave was kicked), while B's other branch events pass. */
Test(hs_auth_fixtures, soft_failed_events_fail_against_current_state)
{
    for (size_t r = 0; r < sizeof rooms / sizeof rooms[0]; r++) {
        char path[512];
        snprintf(path, sizeof path, FIX "%s.jsonl", rooms[r]);
        json_t *lines = load_lines(path), *idx = index_by_id(lines);
        snprintf(path, sizeof path, FIX "%s.state-at.jsonl", rooms[r]);
        json_t *at = load_lines(path), *at_idx = index_by_id(at);

        const json_t *a_current = NULL; /* state_after of A's latest own split event */
        int soft = 0, denied = 0, b_branch = 0;
        size_t i;
        json_t *l;
        json_array_foreach(lines, i, l) {
            const char *label = json_string_value(json_array_get(json_object_get(l, "labels"), 0));
            const char *id = json_string_value(json_object_get(l, "event_id"));
            if (strncmp(label, "split A:", 8) == 0)
                a_current = json_object_get(json_object_get(at_idx, id), "state_after");
            if (strncmp(label, "split B:", 8) != 0) continue;
            cr_assert_not_null(a_current, "A's branch precedes B's in A's stream");
            b_branch++;
            bool sf = json_is_true(json_object_get(
                json_object_get(json_object_get(l, "servers"), "localhost:8448"), "soft_failed"));
            hs_auth_map *m = map_from_ids(a_current, idx);
            hs_auth_state st = hs_auth_map_state(m);
            hs_auth_result res;
            hs_auth_rule rule = hs_auth_allowed(version_of(l), json_object_get(l, "pdu"), &st, &res);
            cr_expect_eq(rule != HS_AUTH_OK, sf, "%s %s: soft_failed=%d but %s", rooms[r], label, sf, res.msg);
            soft += sf;
            denied += rule != HS_AUTH_OK;
            hs_auth_map_free(m);
        }
        cr_expect_eq(soft, 2, "%s: two soft-failed events", rooms[r]);
        cr_expect_eq(denied, 2);
        cr_expect_gt(b_branch, 3);
        json_decref(at_idx);
        json_decref(at);
        json_decref(idx);
        json_decref(lines);
    }
}

static const struct {
    const char *label;
    hs_auth_rule rule;
} crafted_expect[] = {
    {"R1", HS_AUTH_SENDER_NOT_JOINED},
    {"R2", HS_AUTH_EVENT_LEVEL},
    {"R3", HS_AUTH_EVENT_LEVEL},
    {"R4", HS_AUTH_JOIN_SENDER_NOT_TARGET},
    {"R5", HS_AUTH_SENDER_NOT_JOINED},
    {"R6", HS_AUTH_AUTH_EVENTS_NO_CREATE},
    {"R9", HS_AUTH_PL_USERS_INVALID},
    {"R11", HS_AUTH_AUTH_EVENTS_UNEXPECTED},
    {"R12", HS_AUTH_AUTH_EVENTS_DUPLICATE},
};

static json_t *crafted_case(const json_t *crafted, const char *label)
{
    size_t i;
    json_t *c;
    json_array_foreach(crafted, i, c) {
        const char *l = json_string_value(json_object_get(c, "label"));
        size_t n = strlen(label);
        if (strncmp(l, label, n) == 0 && l[n] == ' ') return c; /* "R1 message from ..." */
    }
    cr_assert_fail("crafted case %s missing", label);
    return NULL;
}

Test(hs_auth_fixtures, crafted_rejections_denied_with_the_rule)
{
    json_t *lines = load_lines(FIX "room-1-v10.jsonl"), *idx = index_by_id(lines);
    json_t *crafted = load_lines(FIX "room-1-v10.crafted.jsonl");
    const hs_room_version *rv = hs_room_version_get("10");
    for (size_t k = 0; k < sizeof crafted_expect / sizeof crafted_expect[0]; k++) {
        const json_t *c = crafted_case(crafted, crafted_expect[k].label);
        const char *outcome = json_string_value(json_object_get(c, "outcome"));
        cr_assert(strcmp(outcome, "rejected") == 0 || strcmp(outcome, "not stored") == 0);
        const json_t *pdu = json_object_get(c, "pdu_sent");
        hs_auth_entry auth[16];
        size_t n = resolve_auth(pdu, idx, auth);
        hs_auth_result res;
        hs_auth_rule rule = hs_auth_check_with_auth_events(rv, pdu, auth, n, NULL, &res);
        cr_expect_eq(rule, crafted_expect[k].rule, "%s: got \"%s\", expected \"%s\"", crafted_expect[k].label,
                     res.msg, hs_auth_rule_str(crafted_expect[k].rule));
        cr_expect_eq(res.rule, rule);
    }
    /* R7 (accepted, content pruned) passes in the form Synapse stored it. */
    const json_t *r7 = crafted_case(crafted, "R7");
    const json_t *stored = json_object_get(r7, "pdu_stored");
    hs_auth_entry auth[16];
    size_t n = resolve_auth(stored, idx, auth);
    cr_expect_eq(hs_auth_check_with_auth_events(rv, stored, auth, n, NULL, NULL), HS_AUTH_OK);
    json_decref(crafted);
    json_decref(idx);
    json_decref(lines);
}

/* R9's string level "25" is exactly what v1-9 still accept: under v9 rules the same
 * event against the same auth events is allowed (bob at 75 sets dave to 25). */
Test(hs_auth_fixtures, crafted_string_level_allowed_in_v9)
{
    json_t *lines = load_lines(FIX "room-1-v10.jsonl"), *idx = index_by_id(lines);
    json_t *crafted = load_lines(FIX "room-1-v10.crafted.jsonl");
    const json_t *pdu = json_object_get(crafted_case(crafted, "R9"), "pdu_sent");
    hs_auth_entry auth[16];
    size_t n = resolve_auth(pdu, idx, auth);
    hs_auth_result res;
    cr_expect_eq(hs_auth_check_with_auth_events(hs_room_version_get("9"), pdu, auth, n, NULL, &res), HS_AUTH_OK,
                 "%s", res.msg);
    cr_expect_eq(hs_auth_check_with_auth_events(hs_room_version_get("10"), pdu, auth, n, NULL, &res),
                 HS_AUTH_PL_USERS_INVALID);
    cr_expect(strstr(res.msg, "rule 9.3") != NULL, "%s", res.msg);
    json_decref(crafted);
    json_decref(idx);
    json_decref(lines);
}
