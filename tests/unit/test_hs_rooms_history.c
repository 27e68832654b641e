/* The room store's history against the protocol core: after a long, mixed series of
 * state changes and messages made through the room engine (more state events than one
 * delta chain holds, so snapshots are crossed), the state before and after every event
 * read back from the state groups must equal what hs_replay computes from the stored
 * events alone; single-key lookups and stream positions must agree with it. The three
 * Synapse fixture rooms stored as A stored them must give Synapse's own state before and
 * after every event and serve redacted events as Synapse did. Plus the history the engine
 * records: redactions, relations and forgotten rooms. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_canonical_json.h"
#include "server-core/hs_replay.h"
#include "server-core/hs_room.h"
#include "server-core/hs_room_format.h"
#include "server-core/hs_store_accounts.h"
#include "server-core/hs_store_history.h"
#include "server-core/hs_store_rooms.h"
#include "support/pgt.h"
#include "test_hs_stateres_util.h"

#define SERVER "history.test"
#define NOW 1700000000000LL
#define USERS 6

static char *dir;
static hs_store *st;
static hs_signing_key key;
static hs_room_engine eng;
static char users[USERS][64];

static void setup(void)
{
    dir = pgt_tmpdir();
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/history.db", dir);
    size_t n;
    const hs_migration *m = hs_store_migrations(&n);
    cr_assert_eq(hs_store_open(path, m, n, &st, err, sizeof err), 0, "%s", err);
    cr_assert_eq(hs_signing_key_generate(&key), 0);
    eng = (hs_room_engine){st, SERVER, &key, "10"};
    for (int i = 0; i < USERS; i++) {
        snprintf(users[i], sizeof users[i], "@u%d:" SERVER, i);
        cr_assert_eq(hs_store_user_insert(st, users[i], NULL, false, NOW), 0);
    }
}

static void teardown(void)
{
    hs_store_close(st);
    pgt_rmtree(dir);
    free(dir);
}

TestSuite(hs_rooms_history, .init = setup, .fini = teardown, .timeout = 120);

static char *create_room(const char *version)
{
    char body[128];
    snprintf(body, sizeof body, "{\"preset\":\"public_chat\",\"room_version\":\"%s\"}", version);
    json_t *req = json_loads(body, 0, NULL);
    hs_room_result res;
    char *room = NULL;
    cr_assert_eq(hs_room_create(&eng, users[0], req, NOW, &room, &res), HS_ROOM_OK, "%s", res.msg);
    json_decref(req);
    return room;
}

static char *send_state(const char *room, const char *sender, const char *type, const char *skey, json_t *content)
{
    hs_room_result res;
    char *id = NULL;
    cr_assert_eq(hs_room_send(&eng, room, sender, type, skey, content, NULL, NOW, &id, &res), HS_ROOM_OK, "%s",
                 res.msg);
    json_decref(content);
    return id;
}

/* A deterministic mix of the state changes a room sees, plus messages. */
static void grow_room(const char *room, int steps)
{
    bool joined[USERS] = {true};
    unsigned x = 12345;
    for (int i = 0; i < steps; i++) {
        x = x * 1103515245u + 12345u;
        unsigned pick = (x >> 16) % 6;
        int u = 1 + (int)((x >> 8) % (USERS - 1));
        switch (pick) {
        case 0: free(send_state(room, users[0], "m.room.name", "", json_pack("{si}", "name", i))); break;
        case 1: free(send_state(room, users[0], "m.room.topic", "", json_pack("{si}", "topic", i))); break;
        case 2: {
            char k[8];
            snprintf(k, sizeof k, "k%u", (x >> 4) % 7);
            free(send_state(room, users[0], "org.example.state", k, json_pack("{si}", "v", i)));
            break;
        }
        case 3:
            free(send_state(room, users[u], "m.room.member", users[u],
                            json_pack("{ss}", "membership", joined[u] ? "leave" : "join")));
            joined[u] = !joined[u];
            break;
        default:
            free(send_state(room, users[0], "m.room.message", NULL, json_pack("{ss}", "body", "hi")));
        }
    }
}

typedef struct loaded {
    hs_replay *rep;
    json_t *order;
} loaded;

static int add_to_replay(void *ctx, const hs_store_event *ev)
{
    loaded *l = ctx;
    json_t *pdu = json_loads(ev->pdu_json, 0, NULL);
    hs_err err = {{0}};
    cr_assert_eq(hs_replay_add(l->rep, ev->event_id, pdu, &err), 0, "%s", err.msg);
    json_decref(pdu);
    json_array_append_new(l->order, json_string(ev->event_id));
    return 0;
}

static void assert_same_state(const hs_state_map *mine, const hs_state_map *want, const char *what, const char *id)
{
    if (hs_state_map_equal(mine, want)) return;
    char *a = json_dumps(hs_state_map_to_json(mine), JSON_SORT_KEYS);
    char *b = json_dumps(hs_state_map_to_json(want), JSON_SORT_KEYS);
    cr_assert_fail("state %s %s differs from replay:\nstore  %s\nreplay %s", what, id, a, b);
}

static void check_against_replay(const char *room, const char *version, size_t *n_events)
{
    loaded l = {hs_replay_new(hs_room_version_get(version)), json_array()};
    cr_assert_geq(hs_store_room_events(st, room, 0, false, 1000000, add_to_replay, &l), 1);
    hs_err err = {{0}};
    cr_assert_eq(hs_replay_run(l.rep, &err), 0, "%s", err.msg);
    size_t i;
    json_t *idj;
    json_array_foreach(l.order, i, idj) {
        const char *id = json_string_value(idj);
        hs_replay_info info;
        cr_assert_eq(hs_replay_get(l.rep, id, &info), 0);
        hs_state_map *before, *after;
        cr_assert_eq(hs_store_state_at_event(st, id, false, &before), 0);
        cr_assert_eq(hs_store_state_at_event(st, id, true, &after), 0);
        assert_same_state(before, info.state_before, "before", id);
        assert_same_state(after, info.state_after, "after", id);
        /* single-key lookups agree with the map */
        const char *name = hs_state_map_get(after, "m.room.name", "");
        char *got = NULL;
        int rc = hs_store_state_at_event_get(st, id, true, "m.room.name", "", &got);
        if (name) {
            cr_assert_eq(rc, 0);
            cr_assert_str_eq(got, name);
        } else {
            cr_assert_eq(rc, 1);
        }
        free(got);
        hs_state_map_free(before);
        hs_state_map_free(after);
    }
    *n_events = json_array_size(l.order);
    hs_replay_free(l.rep);
    json_decref(l.order);
}

Test(hs_rooms_history, state_at_every_event_matches_replay_across_snapshots)
{
    static const char *const versions[] = {"10", "11", "12"};
    for (size_t v = 0; v < 3; v++) {
        char *room = create_room(versions[v]);
        grow_room(room, 320);
        size_t n = 0;
        check_against_replay(room, versions[v], &n);
        cr_assert_gt(n, 320, "v%s: %zu events", versions[v], n);
        free(room);
    }
}

/* Appends a fixture line's PDU the way the room store persists an event. */
static void append_fixture_event(const json_t *line)
{
    const json_t *pdu = json_object_get(line, "pdu");
    const char *type = json_string_value(json_object_get(pdu, "type"));
    const json_t *content = json_object_get(pdu, "content");
    json_t *stored = json_deep_copy(pdu);
    json_object_del(stored, "unsigned");
    hs_err err = {{0}};
    char *text = hs_cjson_encode(stored, 0, NULL, &err);
    cr_assert_not_null(text, "%s", err.msg);
    const char *redacts = json_string_value(json_object_get(pdu, "redacts"));
    bool member = strcmp(type, "m.room.member") == 0, create = strcmp(type, "m.room.create") == 0;
    hs_store_new_event ev = {
        .event_id = json_string_value(json_object_get(line, "event_id")),
        .room_id = json_string_value(json_object_get(pdu, "room_id")), .type = type,
        .state_key = json_string_value(json_object_get(pdu, "state_key")),
        .sender = json_string_value(json_object_get(pdu, "sender")),
        .depth = json_integer_value(json_object_get(pdu, "depth")),
        .origin_server_ts = json_integer_value(json_object_get(pdu, "origin_server_ts")), .pdu_json = text,
        .membership = member ? json_string_value(json_object_get(content, "membership")) : NULL,
        .new_room_version = create ? json_string_value(json_object_get(line, "room_version")) : NULL,
        .redacts = strcmp(type, "m.room.redaction") == 0
                       ? (redacts ? redacts : json_string_value(json_object_get(content, "redacts")))
                       : NULL,
    };
    int64_t stream;
    cr_assert_eq(hs_store_event_append(st, &ev, &stream), 0, "%s", ev.event_id);
    free(text);
    json_decref(stored);
}

Test(hs_rooms_history, synapse_rooms_keep_synapse_state_at_every_event_and_redactions)
{
    hs_room_viewer viewer = {.user_id = "@alice:localhost:8448", .device_id = "D", .now_ms = NOW};
    for (size_t r = 0; r < SR_N_ROOMS; r++) {
        json_t *lines = sr_load_room(sr_rooms[r], ".jsonl"), *at = sr_load_room(sr_rooms[r], ".state-at.jsonl");
        /* What A persisted, in A's order, while the room is one chain (each event's only
         * prev event the one before it), which is how the room store appends: the scenario's
         * closing split and merge need state resolution, hs_room_remote's part. Events A
         * never stored or soft-failed (kept out of the room's state) are not appended. */
        json_t *stored = json_object();
        int64_t last_order = 0;
        const char *head = NULL;
        size_t i, redacted = 0;
        json_t *l;
        json_array_foreach(lines, i, l) {
            const json_t *a = json_object_get(json_object_get(l, "servers"), "localhost:8448");
            if (!a || json_is_true(json_object_get(a, "soft_failed"))) continue;
            const json_t *prev = json_object_get(json_object_get(l, "pdu"), "prev_events");
            if (head && (json_array_size(prev) != 1 || strcmp(json_string_value(json_array_get(prev, 0)), head) != 0))
                break;
            int64_t order = json_integer_value(json_object_get(a, "stream_ordering"));
            cr_assert_gt(order, last_order, "%s: the file is not in A's order", sr_rooms[r]);
            last_order = order;
            append_fixture_event(l);
            head = json_string_value(json_object_get(l, "event_id"));
            json_object_set_new(stored, head, json_true());
        }
        size_t compared = 0;
        json_array_foreach(at, i, l) {
            const char *id = json_string_value(json_object_get(l, "event_id"));
            if (!json_object_get(stored, id)) continue;
            hs_state_map *before, *after;
            char why[2048];
            cr_assert_eq(hs_store_state_at_event(st, id, false, &before), 0, "%s", id);
            cr_assert_eq(hs_store_state_at_event(st, id, true, &after), 0, "%s", id);
            cr_assert(sr_map_matches(before, json_object_get(l, "state_before"), why, sizeof why),
                      "%s: state before %s:%s", sr_rooms[r], id, why);
            cr_assert(sr_map_matches(after, json_object_get(l, "state_after"), why, sizeof why),
                      "%s: state after %s:%s", sr_rooms[r], id, why);
            hs_state_map_free(before);
            hs_state_map_free(after);
            compared++;
        }
        cr_assert_eq(compared, json_object_size(stored), "%s: every stored event has Synapse's state", sr_rooms[r]);
        /* Redacted events come back pruned as A served them, with their redaction. */
        json_array_foreach(lines, i, l) {
            const json_t *by = json_object_get(l, "redacted_by");
            const char *id = json_string_value(json_object_get(l, "event_id"));
            if (json_array_size(by) == 0 || !json_object_get(stored, id)) continue;
            json_t *c = hs_room_client_event_by_id(st, id, &viewer);
            cr_assert_not_null(c, "%s", id);
            json_t *want = json_object_get(json_object_get(json_object_get(l, "pdu_served"), "pdu"), "content");
            cr_assert(json_equal(json_object_get(c, "content"), want), "%s: %s is not pruned as Synapse pruned it",
                      sr_rooms[r], id);
            const json_t *because = json_object_get(json_object_get(c, "unsigned"), "redacted_because");
            cr_assert_str_eq(json_string_value(json_object_get(because, "event_id")),
                             json_string_value(json_array_get(by, 0)));
            json_decref(c);
            redacted++;
        }
        cr_assert_geq(redacted, 4, "%s: %zu redacted events checked", sr_rooms[r], redacted);
        cr_assert_gt(compared, 40, "%s: %zu events compared", sr_rooms[r], compared);
        json_decref(stored);
        json_decref(lines);
        json_decref(at);
    }
}

Test(hs_rooms_history, state_at_stream_positions_and_unknown_events)
{
    char *room = create_room("10");
    int64_t before_name;
    cr_assert_eq(hs_store_room_max_stream(st, room, &before_name), 0);
    char *name1 = send_state(room, users[0], "m.room.name", "", json_pack("{ss}", "name", "one"));
    free(send_state(room, users[0], "m.room.message", NULL, json_pack("{ss}", "body", "x")));
    int64_t mid;
    cr_assert_eq(hs_store_room_max_stream(st, room, &mid), 0);
    char *name2 = send_state(room, users[0], "m.room.name", "", json_pack("{ss}", "name", "two"));

    char *at = NULL, *got = NULL;
    cr_assert_eq(hs_store_event_at_stream(st, room, before_name, &at), 0);
    cr_assert_eq(hs_store_state_at_event_get(st, at, true, "m.room.name", "", &got), 1, "no name yet");
    free(at);
    cr_assert_eq(hs_store_event_at_stream(st, room, mid, &at), 0);
    cr_assert_eq(hs_store_state_at_event_get(st, at, true, "m.room.name", "", &got), 0);
    cr_assert_str_eq(got, name1);
    free(got);
    free(at);
    /* the state before the second rename still names the first */
    cr_assert_eq(hs_store_state_at_event_get(st, name2, false, "m.room.name", "", &got), 0);
    cr_assert_str_eq(got, name1);
    free(got);
    cr_assert_eq(hs_store_state_at_event_get(st, name2, true, "m.room.name", "", &got), 0);
    cr_assert_str_eq(got, name2);
    free(got);
    cr_assert_eq(hs_store_event_at_stream(st, room, 0, &at), 1);
    cr_assert_eq(hs_store_event_at_stream(st, "!nope:" SERVER, mid, &at), 1);
    hs_state_map *m = NULL;
    cr_assert_eq(hs_store_state_at_event(st, "$unknown", true, &m), 1);
    cr_assert_null(m);
    free(name1);
    free(name2);
    free(room);
}

static int count_relations(void *ctx, const hs_store_event *ev)
{
    (void)ev;
    (*(int *)ctx)++;
    return 0;
}

Test(hs_rooms_history, redactions_relations_and_forgetting_are_recorded)
{
    char *room = create_room("11");
    hs_room_result res;
    char *parent = send_state(room, users[0], "m.room.message", NULL, json_pack("{ss}", "body", "parent"));
    char *react = send_state(room, users[0], "m.reaction", NULL,
                             json_pack("{s{ssssss}}", "m.relates_to", "rel_type", "m.annotation", "event_id", parent,
                                       "key", "+1"));
    char *edit = send_state(room, users[0], "m.room.message", NULL,
                            json_pack("{ss, s{ssss}}", "body", "* edited", "m.relates_to", "rel_type", "m.replace",
                                      "event_id", parent));
    int n = 0;
    cr_assert_eq(hs_store_relations(st, room, parent, NULL, NULL, INT64_MAX, -1, true, 50, count_relations, &n), 2);
    n = 0;
    cr_assert_eq(hs_store_relations(st, room, parent, "m.annotation", "m.reaction", INT64_MAX, -1, true, 50,
                                    count_relations, &n),
                 1);
    /* a relation sent from another room does not count for this one */
    char *other = create_room("11");
    free(send_state(other, users[0], "m.room.message", NULL,
                    json_pack("{ss, s{ssss}}", "body", "elsewhere", "m.relates_to", "rel_type", "m.thread", "event_id",
                              parent)));
    hs_relation_summary sum;
    cr_assert_eq(hs_store_relation_summary(st, parent, users[0], users[0], &sum), 0);
    cr_assert_str_eq(sum.latest_replace, edit);
    cr_assert_eq(sum.thread_count, 0);
    hs_relation_summary_clear(&sum);
    n = 0;
    cr_assert_eq(hs_store_relations(st, room, parent, "m.thread", NULL, INT64_MAX, -1, true, 50, count_relations, &n),
                 0);
    free(other);

    char *redaction = NULL, *by = NULL;
    cr_assert_eq(hs_store_redaction_of(st, react, &by), 1);
    cr_assert_eq(hs_room_redact(&eng, room, users[0], react, "oops", NULL, NOW, &redaction, &res), HS_ROOM_OK, "%s",
                 res.msg);
    cr_assert_eq(hs_store_redaction_of(st, react, &by), 0);
    cr_assert_str_eq(by, redaction);
    free(by);
    hs_store_event ev;
    cr_assert_eq(hs_store_event_get(st, react, &ev), 0);
    cr_assert_str_eq(ev.redacted_by, redaction);
    /* served redacted even when the caller did not load redacted_by */
    free(ev.redacted_by);
    ev.redacted_by = NULL;
    hs_room_viewer who = {users[0], NULL, NOW, false};
    json_t *served = hs_room_client_event(st, &ev, &who);
    cr_assert_eq(json_object_size(json_object_get(served, "content")), 0);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(served, "unsigned"),
                                                                       "redacted_because"),
                                                       "event_id")),
                     redaction);
    json_decref(served);
    hs_store_event_clear(&ev);
    n = 0;
    cr_assert_eq(hs_store_relations(st, room, parent, "m.annotation", NULL, INT64_MAX, -1, true, 50, count_relations,
                                    &n),
                 0, "a redacted reaction no longer relates");

    /* u1 joins, cannot redact u0's event (power 0), may redact its own */
    free(send_state(room, users[1], "m.room.member", users[1], json_pack("{ss}", "membership", "join")));
    char *mine = send_state(room, users[1], "m.room.message", NULL, json_pack("{ss}", "body", "mine"));
    cr_assert_eq(hs_room_redact(&eng, room, users[1], parent, NULL, NULL, NOW, NULL, &res), HS_ROOM_FORBIDDEN);
    cr_assert_eq(hs_room_redact(&eng, room, users[1], mine, NULL, NULL, NOW, NULL, &res), HS_ROOM_OK, "%s", res.msg);
    cr_assert_eq(hs_room_redact(&eng, room, users[1], "$nope", NULL, NULL, NOW, NULL, &res), HS_ROOM_NOT_FOUND);

    cr_assert_eq(hs_store_room_forgotten(st, room, users[1]), 0);
    cr_assert_eq(hs_store_forget_room(st, room, users[1]), 0);
    cr_assert_eq(hs_store_room_forgotten(st, room, users[1]), 1);
    free(send_state(room, users[1], "m.room.member", users[1], json_pack("{ss}", "membership", "leave")));
    cr_assert_eq(hs_store_room_forgotten(st, room, users[1]), 1, "leaving keeps it forgotten");
    free(send_state(room, users[1], "m.room.member", users[1], json_pack("{ss}", "membership", "join")));
    cr_assert_eq(hs_store_room_forgotten(st, room, users[1]), 0, "joining again brings it back");
    free(parent);
    free(react);
    free(edit);
    free(redaction);
    free(mine);
    free(room);
}

/* Auth reads a redacted state event in its redacted form: in v10 redaction drops
 * power_levels.invite, so after an admin redacts the power levels, the invite level
 * falls back to its default 0 and a plain member may invite. */
Test(hs_rooms_history, auth_sees_redacted_state_events_redacted)
{
    json_t *req = json_pack("{ss, ss, s{si}}", "preset", "public_chat", "room_version", "10",
                            "power_level_content_override", "invite", 50);
    hs_room_result res;
    char *room = NULL;
    cr_assert_eq(hs_room_create(&eng, users[0], req, NOW, &room, &res), HS_ROOM_OK, "%s", res.msg);
    json_decref(req);
    free(send_state(room, users[1], "m.room.member", users[1], json_pack("{ss}", "membership", "join")));
    cr_assert_eq(hs_room_membership(&eng, room, users[1], users[2], "invite", NOW, NULL, &res), HS_ROOM_FORBIDDEN);
    char *pl = NULL;
    cr_assert_eq(hs_store_state_get(st, room, "m.room.power_levels", "", &pl), 0);
    cr_assert_eq(hs_room_redact(&eng, room, users[0], pl, NULL, NULL, NOW, NULL, &res), HS_ROOM_OK, "%s", res.msg);
    cr_assert_eq(hs_room_membership(&eng, room, users[1], users[2], "invite", NOW, NULL, &res), HS_ROOM_OK, "%s",
                 res.msg);
    /* what stays after redaction still holds: u1 (power 0) may not kick */
    cr_assert_eq(hs_room_member_change(&eng, room, users[1], users[2], "leave", "no", NOW, NULL, &res),
                 HS_ROOM_FORBIDDEN);
    free(pl);
    free(room);
}

/* A repeated identical membership change is answered with the event already there. */
Test(hs_rooms_history, repeated_join_is_not_a_new_event)
{
    char *room = create_room("10");
    hs_room_result res;
    char *first = NULL, *again = NULL, *left = NULL, *back = NULL;
    cr_assert_eq(hs_room_membership(&eng, room, users[1], users[1], "join", NOW, &first, &res), HS_ROOM_OK, "%s",
                 res.msg);
    int64_t before, after;
    cr_assert_eq(hs_store_room_max_stream(st, room, &before), 0);
    cr_assert_eq(hs_room_membership(&eng, room, users[1], users[1], "join", NOW + 1, &again, &res), HS_ROOM_OK);
    cr_assert_eq(hs_store_room_max_stream(st, room, &after), 0);
    cr_assert_str_eq(first, again);
    cr_assert_eq(after, before, "no event was added");
    /* a different change is a new event, and so is the join after it */
    cr_assert_eq(hs_room_member_change(&eng, room, users[1], users[1], "leave", "bye", NOW + 2, &left, &res),
                 HS_ROOM_OK);
    cr_assert_eq(hs_room_membership(&eng, room, users[1], users[1], "join", NOW + 3, &back, &res), HS_ROOM_OK);
    cr_assert_str_neq(back, first);
    free(first);
    free(again);
    free(left);
    free(back);
    free(room);
}
