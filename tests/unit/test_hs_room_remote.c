/* Accepting remote PDUs (hs_room_remote) on real Synapse 1.67 events: room 1 (v10) of
 * tests/fixtures/synapse replayed in A's (localhost:8448) stream order through every
 * check, with the two servers' recorded keys. Every event Synapse accepted is accepted
 * here; the two events A soft-failed when B's split branch arrived are soft-failed here
 * too and stay out of the current state; the crafted event whose body was changed after
 * hashing is stored redacted; and the crafted bad events (non-members, power too low,
 * forced join, bad auth_events, a forged signature, a string power level in v10, an
 * integer beyond 2^53) are refused without touching the room. An event after a gap
 * too large to fetch is accepted on a state given for it. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_room_remote.h"
#include "server-core/hs_signing.h"
#include "server-core/hs_state_map.h"
#include "server-core/hs_store_fed_rooms.h"
#include "server-core/hs_store_history.h"
#include "server-core/hs_store_rooms.h"
#include "support/pgt.h"

#define FIX PG_SOURCE_DIR "/tests/fixtures/synapse/"
#define ROOM "!pPNQHWbFTxFqKiqhQL:localhost:8448"

static char *dir;
static hs_store *st;
static hs_signing_key key;
static hs_room_engine eng;
static hs_keyring ring;
static hs_room_remote rr;

static int fixture_key(void *ctx, const char *server, const char *key_id, int64_t valid_at, uint8_t out[32],
                       hs_err *err)
{
    (void)valid_at; /* the recorded keys expired a day after capture */
    const hs_verify_key *k = hs_keyring_find(ctx, server, key_id);
    if (!k) return hs_err_set(err, "no key %s of %s", key_id, server);
    memcpy(out, k->public_key, 32);
    return 0;
}

static void load_keys(const char *file)
{
    json_error_t je;
    json_t *doc = json_load_file(file, 0, &je);
    cr_assert_not_null(doc, "%s: %s", file, je.text);
    hs_err err;
    cr_assert_eq(hs_keyring_add_server_keys(&ring, doc, &err), 0, "%s", err.msg);
    json_decref(doc);
}

static void setup(void)
{
    dir = pgt_tmpdir();
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/remote.db", dir);
    size_t n;
    const hs_migration *m = hs_store_migrations(&n);
    cr_assert_eq(hs_store_open(path, m, n, &st, err, sizeof err), 0, "%s", err);
    cr_assert_eq(hs_signing_key_generate(&key), 0);
    eng = (hs_room_engine){st, "localhost:8450", &key, "10", NULL};
    hs_keyring_init(&ring);
    load_keys(FIX "keys-localhost_8448.json");
    load_keys(FIX "keys-localhost_8449.json");
    rr = (hs_room_remote){&eng, fixture_key, &ring};
}

static void teardown(void)
{
    hs_keyring_free(&ring);
    hs_store_close(st);
    pgt_rmtree(dir);
    free(dir);
}

TestSuite(hs_room_remote, .init = setup, .fini = teardown, .timeout = 120);

/* The PDU as sent on the wire: Synapse's stored copy with an `unsigned` like the one it
 * sends (an age), which the receiver must not keep. */
static json_t *wire_pdu(const json_t *line)
{
    json_t *pdu = json_deep_copy(json_object_get(line, "pdu"));
    json_object_set_new(pdu, "unsigned", json_pack("{si}", "age", 1234));
    return pdu;
}

/* Stores the create event directly, as a join would have (the room must exist before
 * anything can be accepted into it). */
static void bootstrap(const json_t *create_line)
{
    json_t *pdu = wire_pdu(create_line);
    json_object_del(pdu, "unsigned");
    hs_err err;
    char *text = hs_cjson_encode(pdu, 0, NULL, &err);
    hs_store_new_event ev = {
        .event_id = json_string_value(json_object_get(create_line, "event_id")), .room_id = ROOM,
        .type = "m.room.create", .state_key = "", .sender = "@alice:localhost:8448", .depth = 1,
        .origin_server_ts = 1, .pdu_json = text, .new_room_version = "10",
    };
    int64_t stream;
    cr_assert_eq(hs_store_event_append(st, &ev, &stream), 0);
    free(text);
    json_decref(pdu);
}

static hs_state_map *map_of(const json_t *obj)
{
    hs_state_map *m = hs_state_map_new();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        const char *bar = strchr(k, '|');
        char type[256];
        snprintf(type, sizeof type, "%.*s", (int)(bar - k), k);
        hs_state_map_set(m, type, bar + 1, json_string_value(v));
    }
    return m;
}

/* Synapse's state before the event on line `n` (0-based) of room 1's state-at file. */
static hs_state_map *state_before_line(int n)
{
    FILE *f = fopen(FIX "room-1-v10.state-at.jsonl", "r");
    cr_assert_not_null(f);
    char *line = NULL;
    size_t cap = 0;
    hs_state_map *m = NULL;
    for (int i = 0; getline(&line, &cap, f) > 0; i++) {
        if (i != n) continue;
        json_t *l = json_loads(line, 0, NULL);
        m = map_of(json_object_get(l, "state_before"));
        json_decref(l);
    }
    free(line);
    fclose(f);
    cr_assert_not_null(m);
    return m;
}

/* Lines [skip_from, skip_to] are not delivered (-1: none); the line after the gap is
 * accepted on Synapse's state before it. */
static int skip_from = -1, skip_to = -1;

/* Replays room 1 in A's order; returns the number of events accepted. */
static int replay(int *soft_failed, int *redacted)
{
    FILE *f = fopen(FIX "room-1-v10.jsonl", "r");
    cr_assert_not_null(f);
    char *line = NULL;
    size_t cap = 0;
    int accepted = 0, first = 1, n = -1;
    *soft_failed = *redacted = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *l = json_loads(line, JSON_ALLOW_NUL, NULL);
        cr_assert_not_null(l);
        const json_t *a = json_object_get(json_object_get(l, "servers"), "localhost:8448");
        n++;
        if (first) {
            bootstrap(l);
            first = 0;
        } else if (n >= skip_from && n <= skip_to) {
            /* not delivered */
        } else if (a) {
            json_t *pdu = wire_pdu(l);
            hs_remote_result res;
            hs_remote_status s = hs_room_remote_accept(&rr, ROOM, pdu, &res);
            if (n == skip_to + 1 && skip_to >= 0) {
                cr_assert_eq(s, HS_REMOTE_MISSING, "%s", res.msg);
                cr_assert(res.missing_prev);
                hs_state_map *before = state_before_line(n);
                s = hs_room_remote_accept_with_state(&rr, ROOM, pdu, before, &res);
                hs_state_map_free(before);
            }
            cr_assert_str_eq(res.event_id, json_string_value(json_object_get(l, "event_id")));
            bool soft = json_is_true(json_object_get(a, "soft_failed"));
            cr_assert_eq(s, soft ? HS_REMOTE_SOFT_FAILED : HS_REMOTE_ACCEPTED, "%s (%s): %s: %s", res.event_id,
                         json_string_value(json_array_get(json_object_get(l, "labels"), 0)),
                         hs_remote_status_str(s), res.msg);
            cr_assert_eq(res.redacted, json_is_true(json_object_get(l, "crafted")), "%s", res.event_id);
            if (s == HS_REMOTE_ACCEPTED) accepted++;
            *soft_failed += soft;
            *redacted += res.redacted;
            /* A second delivery changes nothing. */
            cr_assert_eq(hs_room_remote_accept(&rr, ROOM, pdu, &res), HS_REMOTE_DUPLICATE);
            json_decref(pdu);
        }
        json_decref(l);
    }
    free(line);
    fclose(f);
    return accepted;
}

static hs_state_map *expected_state(void)
{
    json_t *j = json_load_file(FIX "room-1-v10.state.json", 0, NULL);
    cr_assert_not_null(j);
    hs_state_map *m = map_of(j);
    json_decref(j);
    return m;
}

Test(hs_room_remote, synapse_room_replays_with_soft_failures_and_redaction)
{
    int soft, redacted;
    int accepted = replay(&soft, &redacted);
    cr_assert_gt(accepted, 60);
    cr_assert_eq(soft, 2, "A soft-failed exactly B's power levels and dave's message");
    cr_assert_eq(redacted, 1, "only R7's content hash does not match");

    hs_state_map *cur, *want = expected_state();
    cr_assert_eq(hs_store_fed_current_state(st, ROOM, &cur), 0);
    cr_assert(hs_state_map_equal(cur, want), "current state differs from Synapse's:\n%s\nwant\n%s",
              json_dumps(hs_state_map_to_json(cur), JSON_SORT_KEYS), json_dumps(hs_state_map_to_json(want), JSON_SORT_KEYS));
    hs_state_map_free(cur);
    hs_state_map_free(want);

    /* R7 is stored pruned: its body is gone. */
    hs_store_event ev;
    cr_assert_eq(hs_store_event_get(st, "$n7TyA5EUAe-knjxCw2gDTddrfpJcWqKtbvKr1tNRL2w", &ev), 0);
    json_t *p = json_loads(ev.pdu_json, 0, NULL);
    cr_assert_eq(json_object_size(json_object_get(p, "content")), 0);
    json_decref(p);
    hs_store_event_clear(&ev);
    /* What a sender puts in unsigned (an age) is not kept. */
    cr_assert_eq(hs_store_event_get(st, "$jyk0YGgru4HWEzWGO-eSEwx0AVqAH6qziQaSQhrTV2k", &ev), 0);
    p = json_loads(ev.pdu_json, 0, NULL);
    cr_assert_null(json_object_get(p, "unsigned"), "the sender's unsigned block was stored");
    cr_assert_not_null(json_object_get(p, "content"));
    json_decref(p);
    hs_store_event_clear(&ev);
}

/* Why each crafted event (tests/fixtures/synapse/README.md, "Crafted events") must be
 * refused: the part of our checker's message that names the failed check and rule, so
 * that an event refused by an earlier check for another reason fails the test. Labels
 * are matched on their "Rn " prefix. */
static const struct {
    const char *label;
    const char *reason;
} crafted_reasons[] = {
    {"R1 ", "sender is not joined to the room (rule 5): @eve:localhost:8449 is leave"},
    {"R2 ", "power level is below the level required for the event type (rule 7): m.room.power_levels: level 50 < 75"},
    {"R3 ", "power level is below the level required for the event type (rule 7): m.room.server_acl: level 50 < 100"},
    {"R4 ", "m.room.member join: sender does not match state_key (rule 4.3.2)"},
    {"R5 ", "sender is not joined to the room (rule 5): @dave:localhost:8449 is leave"},
    {"R6 ", "auth events: auth_events: no m.room.create event (rule 2.4)"},
    {"R8 ", "signatures: no valid signature of localhost:8449"},
    {"R9 ", "m.room.power_levels: users is not an object of user IDs to integers (rule 9.3)"},
    {"R10 ", "not canonical JSON: integer 9007199254740992 is outside the canonical JSON range"},
    {"R11 ", "auth_events: entry not allowed by the auth events selection (rule 2.2): (m.room.topic, )"},
    {"R12 ", "auth_events: duplicate entries for a type and state_key (rule 2.1): (m.room.power_levels, )"},
};

static const char *crafted_reason(const char *label)
{
    for (size_t i = 0; i < sizeof crafted_reasons / sizeof crafted_reasons[0]; i++)
        if (strncmp(label, crafted_reasons[i].label, strlen(crafted_reasons[i].label)) == 0)
            return crafted_reasons[i].reason;
    return NULL;
}

Test(hs_room_remote, crafted_bad_events_are_refused_and_change_nothing)
{
    int soft, redacted;
    replay(&soft, &redacted);
    hs_state_map *before;
    cr_assert_eq(hs_store_fed_current_state(st, ROOM, &before), 0);
    char **ext0;
    size_t n0;
    int64_t d0;
    cr_assert_eq(hs_store_room_extremities(st, ROOM, &ext0, &n0, &d0), 0);

    FILE *f = fopen(FIX "room-1-v10.crafted.jsonl", "r");
    cr_assert_not_null(f);
    char *line = NULL;
    size_t cap = 0;
    int refused = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *l = json_loads(line, JSON_ALLOW_NUL, NULL);
        const char *label = json_string_value(json_object_get(l, "label"));
        const char *expected = json_string_value(json_object_get(l, "expected"));
        if (strcmp(expected, "accepted redacted") == 0) {
            json_decref(l);
            continue;
        }
        json_t *pdu = json_deep_copy(json_object_get(l, "pdu_sent"));
        hs_remote_result res;
        hs_remote_status s = hs_room_remote_accept(&rr, ROOM, pdu, &res);
        cr_assert(s == HS_REMOTE_REJECTED, "%s: %s: %s", label, hs_remote_status_str(s), res.msg);
        hs_store_event ev;
        const char *id = json_string_value(json_object_get(l, "event_id"));
        cr_assert_eq(hs_store_event_get(st, id, &ev), 1, "%s was stored", label);
        const char *reason = crafted_reason(label);
        cr_assert_not_null(reason, "%s: no expected reason listed for it", label);
        cr_assert(strstr(res.msg, reason), "%s was refused for another reason: %s (expected ...%s...)", label,
                  res.msg, reason);
        refused++;
        json_decref(pdu);
        json_decref(l);
    }
    free(line);
    fclose(f);
    cr_assert_eq(refused, 11);

    hs_state_map *after;
    cr_assert_eq(hs_store_fed_current_state(st, ROOM, &after), 0);
    cr_assert(hs_state_map_equal(before, after), "a refused event changed the state");
    char **ext1;
    size_t n1;
    int64_t d1;
    cr_assert_eq(hs_store_room_extremities(st, ROOM, &ext1, &n1, &d1), 0);
    cr_assert_eq(n0, n1);
    for (size_t i = 0; i < n0; i++) cr_assert_str_eq(ext0[i], ext1[i]);
    hs_store_free_strings(ext0, n0);
    hs_store_free_strings(ext1, n1);
    hs_state_map_free(before);
    hs_state_map_free(after);
}

Test(hs_room_remote, unknown_room_and_missing_prev_events)
{
    FILE *f = fopen(FIX "room-1-v10.jsonl", "r");
    char *line = NULL;
    size_t cap = 0;
    cr_assert(getline(&line, &cap, f) > 0);
    json_t *create = json_loads(line, 0, NULL);
    cr_assert(getline(&line, &cap, f) > 0);
    cr_assert(getline(&line, &cap, f) > 0);
    json_t *third = json_loads(line, 0, NULL);
    free(line);
    fclose(f);
    json_t *pdu = wire_pdu(third);
    hs_remote_result res;
    cr_assert_eq(hs_room_remote_accept(&rr, ROOM, pdu, &res), HS_REMOTE_REJECTED, "not in the room yet");
    bootstrap(create);
    /* The third event cites the second, which we do not hold. */
    cr_assert_eq(hs_room_remote_accept(&rr, ROOM, pdu, &res), HS_REMOTE_MISSING, "%s", res.msg);
    cr_assert(strstr(res.msg, "$znupsYZ0tvYV-GDsnGcUFbO1c5CMoVjf9kMe51bOY8Y"), "%s", res.msg);
    json_decref(pdu);
    json_decref(create);
    json_decref(third);
}

Test(hs_room_remote, a_gap_is_bridged_with_a_state_another_server_vouched_for)
{
    /* The message, its edit and two reactions (lines 35-38) never arrive; the power
     * levels redaction after them cannot find its prev_event, and is accepted on the
     * state before it (what /state would answer). The room then goes on as before. */
    skip_from = 35;
    skip_to = 38;
    int soft, redacted;
    replay(&soft, &redacted);
    skip_from = skip_to = -1;
    cr_assert_eq(soft, 2);
    hs_state_map *cur, *want = expected_state();
    cr_assert_eq(hs_store_fed_current_state(st, ROOM, &cur), 0);
    cr_assert(hs_state_map_equal(cur, want), "the gap changed the final state");
    hs_state_map_free(cur);
    hs_state_map_free(want);
    hs_store_event ev;
    cr_assert_eq(hs_store_event_get(st, "$F9W8XFR3G3mRYi_ERLWXrmGf7ICjKj37vblQ32FKV6w", &ev), 1,
                 "a skipped event was stored");
}

/* The remote events built here are signed by the room's own server (its key is the
 * only one this test's key source knows), which is all hs_room_remote needs. */
static int own_key(void *ctx, const char *server, const char *key_id, int64_t valid_at, uint8_t out[32], hs_err *err)
{
    (void)valid_at;
    const hs_signing_key *k = ctx;
    if (strcmp(server, "a.test") != 0 || strcmp(key_id, k->key_id) != 0) return hs_err_set(err, "unknown key");
    memcpy(out, k->public_key, 32);
    return 0;
}

Test(hs_room_remote, long_runs_of_state_events_keep_the_state_at_every_event)
{
    /* 250 state events extending the head one by one cross two delta-chain snapshots
     * (HS_STORE_STATE_CHAIN_MAX); the state after each must hold exactly the keys sent
     * so far, and the current state the last. */
    hs_room_engine a = {st, "a.test", &key, "10", NULL};
    json_t *req = json_pack("{ss}", "preset", "public_chat");
    char *room = NULL;
    hs_room_result rres;
    cr_assert_eq(hs_room_create(&a, "@owner:a.test", req, 1700000000000LL, &room, &rres), HS_ROOM_OK, "%s",
                 rres.msg);
    json_decref(req);
    hs_room_remote own = {&eng, own_key, &key};
    const hs_room_version *rv = hs_room_remote_version(st, room);
    char *create = NULL, *pl = NULL, *member = NULL;
    cr_assert_eq(hs_store_state_get(st, room, "m.room.create", "", &create), 0);
    cr_assert_eq(hs_store_state_get(st, room, "m.room.power_levels", "", &pl), 0);
    cr_assert_eq(hs_store_state_get(st, room, "m.room.member", "@owner:a.test", &member), 0);
    char **ext;
    size_t n_ext;
    int64_t depth;
    cr_assert_eq(hs_store_room_extremities(st, room, &ext, &n_ext, &depth), 0);
    char prev[128], ids[250][128];
    snprintf(prev, sizeof prev, "%s", ext[0]);
    hs_store_free_strings(ext, n_ext);
    for (int i = 0; i < 250; i++) {
        char sk[16];
        snprintf(sk, sizeof sk, "k%d", i);
        json_t *ev = json_pack("{sssssssss{si}sIsIs[sss]s[s]}", "type", "org.test.state", "room_id", room, "sender",
                               "@owner:a.test", "state_key", sk, "content", "i", i, "origin_server_ts",
                               (json_int_t)1700000001000LL + i, "depth", (json_int_t)depth + 1 + i, "auth_events",
                               create, pl, member, "prev_events", prev);
        hs_err err;
        cr_assert_eq(hs_event_sign(ev, rv, "a.test", &key, 1, &err), 0, "%s", err.msg);
        hs_remote_result res;
        cr_assert_eq(hs_room_remote_accept(&own, room, ev, &res), HS_REMOTE_ACCEPTED, "%d: %s", i, res.msg);
        snprintf(prev, sizeof prev, "%s", res.event_id);
        snprintf(ids[i], sizeof ids[i], "%s", res.event_id);
        json_decref(ev);
    }
    for (int i = 0; i < 250; i += 37) {
        hs_state_map *at;
        cr_assert_eq(hs_store_state_at_event(st, ids[i], true, &at), 0);
        for (int k = 0; k < 250; k++) {
            char sk[16];
            snprintf(sk, sizeof sk, "k%d", k);
            const char *got = hs_state_map_get(at, "org.test.state", sk);
            if (k <= i) cr_assert(got && strcmp(got, ids[k]) == 0, "state after %d lacks k%d", i, k);
            else cr_assert_null(got, "state after %d has k%d", i, k);
        }
        hs_state_map_free(at);
    }
    hs_state_map *cur, *last;
    cr_assert_eq(hs_store_fed_current_state(st, room, &cur), 0);
    cr_assert_eq(hs_store_state_at_event(st, ids[249], true, &last), 0);
    cr_assert(hs_state_map_equal(cur, last));
    hs_state_map_free(cur);
    hs_state_map_free(last);
    free(create);
    free(pl);
    free(member);
    free(room);
}
