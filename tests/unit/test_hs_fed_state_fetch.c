/* hs_fed_state_fetch against a scripted remote that answers with what a real Synapse
 * 1.160 sent (tests/fixtures/synapse-live: state_ids-vN.json and state-vN.json, rooms of
 * versions 10, 11 and 12). Synapse's /event answers were not recorded; the scripted
 * remote answers /event/{id} with that event's PDU as recorded in the /state answer,
 * wrapped as a transaction the way the spec says. Checked: the events we hold are taken
 * from the store and only the others are fetched (no /state asked); with nothing held,
 * or /state_ids unanswered, or an /event answering another event than the one asked
 * for, /state is asked instead and its answer checked; with neither answering, nothing.
 * Keys come from the recorded key documents only, so nothing reaches the network. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_event_id.h"
#include "server-core/hs_fed.h"
#include "server-core/hs_fed_state_fetch.h"
#include "server-core/hs_keys.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_store_fed_rooms.h"
#include "server-core/hs_store_federation.h"
#include "support/pgt.h"
#include "support/pgt_hs.h"
#include "support/pgt_live.h"

#define SYNAPSE "localhost:18448"

static pgt_hs hs;

/* What the scripted remote answers, and what it was asked. */
static json_t *state_ids_answer, *state_answer, *events_by_id;
static bool state_ids_down, state_down, events_lie;
static atomic_int n_state_ids, n_state, n_event;

static void reply_json(hs_fed_reply *reply, long status, const json_t *body)
{
    reply->status = status;
    reply->body = json_dumps(body, JSON_COMPACT);
    reply->body_len = strlen(reply->body);
}

static bool starts(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

static int scripted(void *ctx, const hs_fed_out *req, hs_fed_reply *reply, hs_err *err)
{
    (void)ctx;
    (void)err;
    cr_assert_str_eq(req->destination, SYNAPSE);
    cr_assert_str_eq(req->method, "GET");
    cr_assert(req->sign, "federation reads are signed");
    json_t *none = json_pack("{ss}", "errcode", "M_UNKNOWN");
    if (starts(req->target, "/_matrix/federation/v1/state_ids/")) {
        atomic_fetch_add(&n_state_ids, 1);
        if (state_ids_down) reply_json(reply, 500, none);
        else reply_json(reply, 200, state_ids_answer);
    } else if (starts(req->target, "/_matrix/federation/v1/state/")) {
        atomic_fetch_add(&n_state, 1);
        if (state_down) reply_json(reply, 500, none);
        else reply_json(reply, 200, state_answer);
    } else if (starts(req->target, "/_matrix/federation/v1/event/%24")) {
        atomic_fetch_add(&n_event, 1);
        char id[300];
        snprintf(id, sizeof id, "$%s", req->target + strlen("/_matrix/federation/v1/event/%24"));
        json_t *pdu = json_object_get(events_by_id, id);
        if (pdu && events_lie) { /* some other event of the room */
            const char *other;
            json_t *p;
            json_object_foreach(events_by_id, other, p) if (strcmp(other, id) != 0) pdu = p;
        }
        json_t *txn = json_pack("{sssIs[O]}", "origin", SYNAPSE, "origin_server_ts", (json_int_t)1795487207343,
                                "pdus", pdu);
        if (pdu) reply_json(reply, 200, txn);
        else reply_json(reply, 404, none);
        json_decref(txn);
    } else {
        cr_assert_fail("unexpected request %s", req->target);
    }
    json_decref(none);
    return 0;
}

static void setup(void)
{
    pgt_hs_start(&hs, "live.test", NULL);
    pgt_live_cache_keys(hs.srv.store, "keys-localhost_18448.json", SYNAPSE);
    pgt_live_cache_keys(hs.srv.store, "keys-localhost_28448.json", "localhost:28448");
    hs_fed_transport t = {.request = scripted};
    hs_fed_set_transport(&hs.srv, &t);
}

static void teardown(void)
{
    pgt_hs_stop(&hs);
    json_decref(state_ids_answer);
    json_decref(state_answer);
    json_decref(events_by_id);
}

TestSuite(hs_fed_state_fetch, .init = setup, .fini = teardown, .timeout = 60);

typedef struct room {
    const hs_room_version *rv;
    const char *room_id;
    const char *event_id; /* the event the state is before */
} room;

/* Loads room version `version`'s recorded answers into the scripted remote. */
static room load_room(const char *version)
{
    char file[64];
    snprintf(file, sizeof file, "state-v%s.json", version);
    json_t *fx = pgt_live_load(file);
    snprintf(file, sizeof file, "state_ids-v%s.json", version);
    json_t *ids = pgt_live_load(file);
    static char room_id[256], event_id[256];
    snprintf(room_id, sizeof room_id, "%s", json_string_value(json_object_get(fx, "room_id")));
    const char *q = strstr(json_string_value(json_object_get(fx, "uri")), "event_id=%24");
    cr_assert_not_null(q);
    snprintf(event_id, sizeof event_id, "$%s", q + strlen("event_id=%24"));
    room r = {hs_room_version_get(version), room_id, event_id};
    cr_assert_not_null(r.rv);
    state_answer = json_incref(json_object_get(fx, "response"));
    state_ids_answer = json_incref(json_object_get(ids, "response"));
    events_by_id = json_object();
    const char *lists[] = {"pdus", "auth_chain"};
    for (int l = 0; l < 2; l++) {
        size_t i;
        json_t *pdu;
        json_array_foreach(json_object_get(state_answer, lists[l]), i, pdu) {
            hs_err err = {{0}};
            char *id = hs_event_id_compute(pdu, r.rv, &err);
            cr_assert_not_null(id, "%s", err.msg);
            json_object_set(events_by_id, id, pdu);
            free(id);
        }
    }
    json_decref(ids);
    json_decref(fx);
    return r;
}

/* Stores every event the remote knows but `leave_out` of them, as a room of ours would
 * hold them: the room made by its first membership event, the rest outliers. */
static void hold_all_but(const room *r, size_t leave_out)
{
    size_t n = json_object_size(events_by_id), k = 1, skipped = 0;
    hs_store_new_event *rows = calloc(n, sizeof *rows);
    char **texts = calloc(n, sizeof *texts);
    const char *id;
    json_t *pdu;
    bool have_room = false;
    json_object_foreach(events_by_id, id, pdu) {
        const char *type = hs_pdu_type(pdu);
        bool makes_room = !have_room && strcmp(type, "m.room.member") == 0;
        if (!makes_room && skipped < leave_out) {
            skipped++;
            continue;
        }
        size_t at = makes_room ? 0 : k++;
        have_room |= makes_room;
        hs_err err = {{0}};
        texts[at] = hs_cjson_encode(pdu, 0, NULL, &err);
        cr_assert_not_null(texts[at], "%s", err.msg);
        rows[at] = (hs_store_new_event){
            .event_id = id, .room_id = r->room_id, .type = type, .state_key = hs_pdu_state_key(pdu),
            .sender = hs_pdu_sender(pdu), .depth = hs_pdu_depth(pdu), .origin_server_ts = hs_pdu_origin_server_ts(pdu),
            .pdu_json = texts[at],
            .membership = strcmp(type, "m.room.member") == 0
                              ? json_string_value(json_object_get(hs_pdu_content(pdu), "membership")) : NULL,
        };
    }
    cr_assert(have_room && skipped == leave_out);
    cr_assert_eq(hs_store_fed_stub_membership(hs.srv.store, r->rv->id, &rows[0]), 0);
    hs_state_map *state = hs_state_map_new();
    cr_assert_eq(hs_store_fed_outliers_put(hs.srv.store, r->room_id, rows + 1, k - 1, state), 0);
    hs_state_map_free(state);
    for (size_t i = 0; i < k; i++) free(texts[i]);
    free(texts);
    free(rows);
}

/* The checked state holds exactly the events /state_ids names as the state. */
static void assert_state_matches(const hs_fed_state_set *set)
{
    const json_t *pdu_ids = json_object_get(state_ids_answer, "pdu_ids");
    cr_assert_eq(hs_state_map_size(set->state), json_array_size(pdu_ids));
    size_t i;
    json_t *v;
    json_array_foreach(pdu_ids, i, v) cr_assert_not_null(json_object_get(set->events, json_string_value(v)));
    json_array_foreach(json_object_get(state_ids_answer, "auth_chain_ids"), i, v)
        cr_assert_not_null(json_object_get(set->events, json_string_value(v)));
}

static void only_the_missing_are_fetched(const char *version)
{
    room r = load_room(version);
    hold_all_but(&r, 2);
    hs_fed_state_set set;
    hs_fed_state_fetch_stats st;
    char msg[512];
    cr_assert_eq(hs_fed_state_fetch(&hs.srv, r.rv, SYNAPSE, r.room_id, r.event_id, &set, &st, msg, sizeof msg), 0,
                 "v%s: %s", version, msg);
    cr_assert(st.via_state_ids && !st.via_state, "v%s", version);
    cr_assert_eq(st.ids, json_object_size(events_by_id), "v%s", version);
    cr_assert_eq(st.fetched, 2, "v%s", version);
    cr_assert_eq(st.held, st.ids - 2, "v%s", version);
    cr_assert_eq(atomic_load(&n_state_ids), 1);
    cr_assert_eq(atomic_load(&n_event), 2, "only the two events not held are fetched");
    cr_assert_eq(atomic_load(&n_state), 0, "the whole state is not asked for");
    assert_state_matches(&set);
    hs_fed_state_set_clear(&set);
}

Test(hs_fed_state_fetch, only_the_missing_are_fetched_v10) { only_the_missing_are_fetched("10"); }
Test(hs_fed_state_fetch, only_the_missing_are_fetched_v11) { only_the_missing_are_fetched("11"); }
Test(hs_fed_state_fetch, only_the_missing_are_fetched_v12) { only_the_missing_are_fetched("12"); }

/* Runs a fetch expected to end on /state and checks its result. */
static void expect_state_path(const room *r, int events_asked)
{
    hs_fed_state_set set;
    hs_fed_state_fetch_stats st;
    char msg[512];
    cr_assert_eq(hs_fed_state_fetch(&hs.srv, r->rv, SYNAPSE, r->room_id, r->event_id, &set, &st, msg, sizeof msg), 0,
                 "%s", msg);
    cr_assert(st.via_state && !st.via_state_ids);
    cr_assert_eq(atomic_load(&n_state), 1);
    cr_assert_eq(atomic_load(&n_event), events_asked);
    assert_state_matches(&set);
    hs_fed_state_set_clear(&set);
}

Test(hs_fed_state_fetch, more_than_half_missing_asks_the_whole_state)
{
    room r = load_room("11");
    expect_state_path(&r, 0);
    cr_assert_eq(atomic_load(&n_state_ids), 1);
}

Test(hs_fed_state_fetch, no_state_ids_answer_asks_the_whole_state)
{
    room r = load_room("10");
    hold_all_but(&r, 1);
    state_ids_down = true;
    expect_state_path(&r, 0);
}

Test(hs_fed_state_fetch, an_event_answered_under_another_id_is_refused)
{
    room r = load_room("12");
    hold_all_but(&r, 1);
    events_lie = true;
    expect_state_path(&r, 1);
}

Test(hs_fed_state_fetch, nothing_answered_gives_nothing)
{
    room r = load_room("11");
    hold_all_but(&r, 1);
    state_ids_down = state_down = true;
    hs_fed_state_set set;
    hs_fed_state_fetch_stats st;
    char msg[512];
    cr_assert_eq(hs_fed_state_fetch(&hs.srv, r.rv, SYNAPSE, r.room_id, r.event_id, &set, &st, msg, sizeof msg), 1);
    cr_assert(!st.via_state && !st.via_state_ids);
    cr_assert_null(set.state);
}

Test(hs_fed_state_fetch, a_state_failing_the_checks_is_refused)
{
    room r = load_room("10");
    hold_all_but(&r, 1);
    /* /state_ids names an event that /event does not bring, so /state decides; one of
     * its events claims another room. */
    json_array_append_new(json_object_get(state_ids_answer, "pdu_ids"), json_string("$notthere"));
    json_object_set_new(json_array_get(json_object_get(state_answer, "pdus"), 0), "room_id",
                        json_string("!other:localhost:18448"));
    hs_fed_state_set set;
    char msg[512];
    cr_assert_eq(hs_fed_state_fetch(&hs.srv, r.rv, SYNAPSE, r.room_id, r.event_id, &set, NULL, msg, sizeof msg), -1);
    cr_assert(strstr(msg, "another room"), "%s", msg);
    cr_assert_eq(atomic_load(&n_event), 2, "the event not held and the unknown one");
    cr_assert_eq(atomic_load(&n_state), 1, "the failed /state_ids path asks /state");
    cr_assert_null(set.state);
}
