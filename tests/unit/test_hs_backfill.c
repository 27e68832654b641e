/* Backfill and outliers in the room store: tokens with negative positions round-trip;
 * the state and auth chain of a remote join are outliers (kept out of every timeline
 * read - pages, /sync, search, notifications - still there as state); a backfilled
 * batch sorts below the join in order, turns the outliers it contains into history,
 * gets the state derived from its own events, stays out of /sync's range and of
 * notifications, and storing it twice stores nothing twice; an outlier arriving as an
 * event of the room joins the timeline. The fetching
 * itself (two real servers) is tests/integration/test_fed_backfill.c. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_store.h"
#include "server-core/hs_store_fed_rooms.h"
#include "server-core/hs_store_history.h"
#include "server-core/hs_store_rooms.h"
#include "server-core/hs_store_search.h"
#include "server-core/hs_store_sync.h"
#include "server-core/hs_sync_token.h"
#include "support/pgt.h"
#include "support/pgt_hs.h"

#define ROOM "!bf:remote.test"
#define ALICE "@alice:remote.test"
#define BOB "@bob:local.test"

static char *dir;
static hs_store *st;

static void setup(void)
{
    st = pgt_store_open(&dir, "bf.db");
}

static void teardown(void)
{
    pgt_store_close(st, dir);
}

TestSuite(hs_backfill, .init = setup, .fini = teardown, .timeout = 60);

Test(hs_backfill, negative_positions_round_trip_in_tokens)
{
    hs_sync_pos p;
    cr_assert_eq(hs_sync_token_parse_paging("s-42", &p), 0);
    cr_assert_eq(p.events, -42);
    cr_assert_eq(p.receipts, 0);
    hs_sync_pos q = {-999999999999999999, 1, 2, 3, 4, 5, 6}, r;
    char t[HS_SYNC_TOKEN_MAX];
    hs_sync_token_format(&q, t);
    cr_assert_str_eq(t, "s-999999999999999999_1_2_3_4_5_6");
    cr_assert_eq(hs_sync_token_parse_paging(t, &r), 0);
    cr_assert_eq(memcmp(&q, &r, sizeof q), 0);
    /* the old forms still parse */
    cr_assert_eq(hs_sync_token_parse_paging("s7", &r), 0);
    cr_assert_eq(r.events, 7);
    cr_assert_eq(hs_sync_token_parse_paging("s7_1_2_3_4_5_6", &r), 0);
    cr_assert_eq(r.presence, 6);
    /* one spelling per position, a sign on the events position only */
    const char *bad[] = {"s-0", "s--1", "s-", "s1_-2_3_4_5_6_7", "s-1_2_3_4_5_6_-7", "s+1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(hs_sync_token_parse_paging(bad[i], &r), -1, "accepted '%s'", bad[i]);
    /* /sync's own tokens are never negative and stay strict */
    cr_assert_eq(hs_sync_token_parse("s-42", &r), -1);
    cr_assert_eq(hs_sync_token_parse(t, &r), -1);
}

/* Rows of a small remote room: create C (depth 1), alice's join A (2), power levels
 * P (3), name N (4), messages M2 (5) and M3 (6); our join J (7). */
typedef struct ev_def {
    const char *id, *type, *state_key, *membership;
    int depth;
} ev_def;

static const ev_def C = {"$C", "m.room.create", "", NULL, 1};
static const ev_def A = {"$A", "m.room.member", ALICE, "join", 2};
static const ev_def P = {"$P", "m.room.power_levels", "", NULL, 3};
static const ev_def N = {"$N", "m.room.name", "", NULL, 4};
static const ev_def M2 = {"$M2", "m.room.message", NULL, NULL, 5};
static const ev_def M3 = {"$M3", "m.room.message", NULL, NULL, 6};
static const ev_def J = {"$J", "m.room.member", BOB, "join", 7};

static char texts[64][256];
static int n_texts;

static hs_store_new_event row(const ev_def *d)
{
    char *t = texts[n_texts++];
    snprintf(t, 256, "{\"type\":\"%s\",\"room_id\":\"%s\",\"sender\":\"%s\",\"depth\":%d,\"content\":{%s%s%s%s}}",
             d->type, ROOM, d == &J ? BOB : ALICE, d->depth, d->membership ? "\"membership\":\"" : "",
             d->membership ? d->membership : "", d->membership ? "\"" : "",
             strcmp(d->type, "m.room.name") == 0 ? "\"name\":\"Reading room\"" : "");
    return (hs_store_new_event){.event_id = d->id, .room_id = ROOM, .type = d->type, .state_key = d->state_key,
                                .sender = d == &J ? BOB : ALICE, .depth = d->depth, .origin_server_ts = d->depth,
                                .pdu_json = t, .membership = d->membership};
}

/* Joins the room as a remote join does: C, A, P, N as outliers with that state. */
static void join_room(void)
{
    hs_store_new_event others[] = {row(&C), row(&A), row(&P), row(&N)};
    hs_store_new_event jrow = row(&J);
    pgt_store_remote_join(st, ROOM, "10", ALICE, others, 4, &jrow);
}

/* A scan callback: takes every event, noting its ID. */
static int collect(void *ctx, const hs_store_event *ev)
{
    char *out = ctx;
    strcat(out, ev->event_id);
    strcat(out, " ");
    return 1;
}

static int collect_sync(void *ctx, const hs_store_sync_event *ev)
{
    char *out = ctx;
    strcat(out, ev->event_id);
    strcat(out, " ");
    return 0;
}

static long count_words(const char *s)
{
    long n = 0;
    for (; *s; s++) n += *s == ' ';
    return n;
}

/* The timeline read backwards from the top, as /messages does. */
static void timeline(char out[512])
{
    out[0] = 0;
    int64_t last;
    bool exhausted;
    long taken = hs_store_room_events_scan(st, ROOM, INT64_MAX, HS_STORE_NO_BOUND, true, 100, 1000, collect, out,
                                           &last, &exhausted);
    cr_assert_eq(taken, count_words(out));
    cr_assert(exhausted);
}

Test(hs_backfill, join_state_is_outliers_out_of_the_timeline)
{
    join_room();
    char seen[512];
    timeline(seen);
    cr_assert_str_eq(seen, "$J ", "a join's state and auth chain are not timeline events");
    hs_store_event ev;
    cr_assert_eq(hs_store_event_get(st, "$N", &ev), 0);
    cr_assert(ev.outlier);
    int64_t learned = ev.stream;
    hs_store_event_clear(&ev);
    int64_t max;
    cr_assert_eq(hs_store_room_max_stream(st, ROOM, &max), 0);
    /* an outlier's position says when it was learned (before the join), for /sync's
     * state section, but /sync's timeline leaves it out */
    cr_assert_gt(learned, 0);
    cr_assert_lt(learned, max);
    seen[0] = 0;
    cr_assert_eq(hs_store_sync_room_events(st, ROOM, 0, max, collect_sync, seen), 0);
    cr_assert_str_eq(seen, "$J ");
    cr_assert_eq(hs_store_room_oldest(st, ROOM, &ev), 0);
    cr_assert_str_eq(ev.event_id, "$J");
    cr_assert_eq(ev.stream, max);
    hs_store_event_clear(&ev);
    /* still the state */
    char *cur = NULL;
    cr_assert_eq(hs_store_state_get(st, ROOM, "m.room.name", "", &cur), 0);
    cr_assert_str_eq(cur, "$N");
    free(cur);
    /* forwards from the lowest position there is, too */
    seen[0] = 0;
    int64_t last;
    bool exhausted;
    cr_assert_eq(hs_store_room_events_scan(st, ROOM, INT64_MIN, HS_STORE_NO_BOUND, false, 100, 1000, collect, seen,
                                           &last, &exhausted),
                 1);
    cr_assert_str_eq(seen, "$J ");
}

static int count_notify(void *ctx, const hs_store_notify_event *ev)
{
    (void)ev;
    (*(long *)ctx)++;
    return 0;
}

/* Search and notifications are about the timeline too: alice's outliers are neither
 * indexed nor candidates for bob's notifications. */
Test(hs_backfill, outliers_are_not_searched_nor_notified)
{
    join_room();
    cr_assert_eq(hs_store_search_catch_up(st), 0, "an outlier name event was indexed");
    int64_t max;
    cr_assert_eq(hs_store_room_max_stream(st, ROOM, &max), 0);
    long seen = 0;
    cr_assert_geq(hs_store_room_notify_candidates(st, ROOM, BOB, 0, max, 100, count_notify, &seen), 0);
    cr_assert_eq(seen, 0);
    cr_assert_geq(hs_store_notify_candidates(st, "[\"" ROOM "\"]", BOB, 0, 100, count_notify, &seen), 0);
    cr_assert_eq(seen, 0);
}

static void assert_state(const char *event_id, bool after, const char *expected);

/* An event held as an outlier that arrives as an event of the room (over /send) goes
 * into the timeline where a new event would, with its state, once. */
Test(hs_backfill, an_outlier_arriving_as_an_event_joins_the_timeline)
{
    join_room();
    int64_t join_stream;
    cr_assert_eq(hs_store_room_max_stream(st, ROOM, &join_stream), 0);
    hs_store_new_event r = row(&N);
    const char *ext[] = {"$N"};
    hs_store_fed_event fe = {.ev = &r, .before_from = "$J", .extremities = ext, .n_extremities = 1,
                             .head = HS_STORE_FED_HEAD_EXTEND};
    int64_t stream;
    cr_assert_eq(hs_store_fed_event_persist(st, &fe, &stream), 0);
    cr_assert_gt(stream, join_stream);
    hs_store_event ev;
    cr_assert_eq(hs_store_event_get(st, "$N", &ev), 0);
    cr_assert(!ev.outlier);
    cr_assert_eq(ev.stream, stream);
    hs_store_event_clear(&ev);
    char seen[512];
    timeline(seen);
    cr_assert_str_eq(seen, "$N $J ");
    assert_state("$N", true, "$C $A $J $N $P ");
    cr_assert_eq(hs_store_fed_event_persist(st, &fe, &stream), 1, "a timeline event is stored once");
    /* a new event after it gets the next position */
    hs_store_new_event m = row(&M3);
    const char *ext2[] = {"$M3"};
    hs_store_fed_event fe2 = {.ev = &m, .before_from = "$N", .extremities = ext2, .n_extremities = 1,
                              .head = HS_STORE_FED_HEAD_EXTEND};
    int64_t next;
    cr_assert_eq(hs_store_fed_event_persist(st, &fe2, &next), 0);
    cr_assert_eq(next, stream + 1);
}

static void put_batch(size_t *stored)
{
    /* newest first; P replaces nothing known, A neither; an extra auth event X as an outlier */
    static const ev_def X = {"$X", "m.room.member", "@carol:remote.test", "leave", 2};
    hs_store_backfill_event b[] = {
        {row(&M3), NULL, false}, {row(&N), NULL, false}, {row(&M2), NULL, false}, {row(&P), NULL, false},
        {row(&A), NULL, false},  {row(&C), NULL, false}, {row(&X), NULL, true},
    };
    cr_assert_eq(hs_store_backfill_put(st, ROOM, "$J", b, sizeof b / sizeof b[0], stored), 0);
}

static void assert_state(const char *event_id, bool after, const char *expected)
{
    hs_state_map *map;
    cr_assert_eq(hs_store_state_at_event(st, event_id, after, &map), 0);
    hs_state_entry *e = NULL;
    long n = hs_state_map_entries(map, &e);
    char got[256] = "";
    /* entries come sorted by (type, state_key) */
    for (long i = 0; i < n; i++) {
        strcat(got, e[i].event_id);
        strcat(got, " ");
    }
    free(e);
    hs_state_map_free(map);
    cr_assert_str_eq(got, expected, "state %s %s", after ? "after" : "before", event_id);
}

Test(hs_backfill, a_batch_sorts_below_in_order_with_its_state)
{
    join_room();
    size_t stored;
    put_batch(&stored);
    cr_assert_eq(stored, 6);
    char seen[512];
    timeline(seen);
    cr_assert_str_eq(seen, "$J $M3 $N $M2 $P $A $C ");
    /* orderings: negative, descending newest first, the outliers turned history */
    int64_t prev = INT64_MAX;
    const char *order[] = {"$M3", "$N", "$M2", "$P", "$A", "$C"};
    for (size_t i = 0; i < 6; i++) {
        hs_store_event ev;
        cr_assert_eq(hs_store_event_get(st, order[i], &ev), 0);
        cr_assert_lt(ev.stream, 0);
        cr_assert_lt(ev.stream, prev);
        cr_assert(!ev.outlier, "%s is history now", order[i]);
        prev = ev.stream;
        hs_store_event_clear(&ev);
    }
    hs_store_event x;
    cr_assert_eq(hs_store_event_get(st, "$X", &x), 0);
    cr_assert(x.outlier);
    hs_store_event_clear(&x);
    /* state derived backwards from the join (entries sorted by type: create, member,
     * name, power_levels) */
    assert_state("$M3", true, "$C $A $N $P ");
    assert_state("$M3", false, "$C $A $N $P ");
    assert_state("$N", false, "$C $A $P ");
    assert_state("$M2", false, "$C $A $P ");
    assert_state("$P", false, "$C $A ");
    assert_state("$A", false, "$C ");
    assert_state("$C", false, "");
    assert_state("$C", true, "$C ");
    /* the room's current state and head are untouched */
    assert_state("$J", true, "$C $A $J $N $P ");
    /* /sync's range (after 0) never has them */
    int64_t max;
    cr_assert_eq(hs_store_room_max_stream(st, ROOM, &max), 0);
    seen[0] = 0;
    cr_assert_eq(hs_store_sync_room_events(st, ROOM, 0, max, collect_sync, seen), 0);
    cr_assert_str_eq(seen, "$J ");
    hs_store_event oldest;
    cr_assert_eq(hs_store_room_oldest(st, ROOM, &oldest), 0);
    cr_assert_str_eq(oldest.event_id, "$C");
    hs_store_event_clear(&oldest);
    /* history is not news: bob's notifications never list alice's old messages */
    long notified = 0;
    cr_assert_geq(hs_store_notify_candidates(st, "[\"" ROOM "\"]", BOB, 0, 100, count_notify, &notified), 0);
    cr_assert_eq(notified, 0);
}

Test(hs_backfill, the_same_batch_twice_stores_nothing_twice)
{
    join_room();
    size_t stored;
    put_batch(&stored);
    cr_assert_eq(stored, 6);
    hs_store_event before;
    cr_assert_eq(hs_store_event_get(st, "$M2", &before), 0);
    put_batch(&stored);
    cr_assert_eq(stored, 0);
    char seen[512];
    timeline(seen);
    cr_assert_str_eq(seen, "$J $M3 $N $M2 $P $A $C ");
    hs_store_event again;
    cr_assert_eq(hs_store_event_get(st, "$M2", &again), 0);
    cr_assert_eq(again.stream, before.stream, "an event keeps its position");
    hs_store_event_clear(&before);
    hs_store_event_clear(&again);
}

/* An event ID taken by another room's event is not this room's history: skipped, and
 * the state of what is older goes on from the event before it. */
Test(hs_backfill, an_id_of_another_room_is_skipped)
{
    hs_state_map *empty = hs_state_map_new();
    hs_store_new_event other = {.event_id = "$M2", .room_id = "!other:remote.test", .type = "m.room.member",
                                .state_key = BOB, .sender = BOB, .depth = 1, .pdu_json = "{}", .membership = "join"};
    int64_t stream;
    cr_assert_eq(hs_store_fed_join_persist(st, "!other:remote.test", "10", BOB, NULL, 0, empty, &other, &stream), 0);
    hs_state_map_free(empty);
    join_room();
    size_t stored;
    put_batch(&stored);
    cr_assert_eq(stored, 5);
    char seen[512];
    timeline(seen);
    cr_assert_str_eq(seen, "$J $M3 $N $P $A $C ");
    assert_state("$P", true, "$C $A $P ");
    assert_state("$P", false, "$C $A ");
}

Test(hs_backfill, the_boundary_must_be_a_timeline_event)
{
    join_room();
    size_t stored = 99;
    hs_store_backfill_event b[] = {{row(&M2), NULL, false}};
    cr_assert_eq(hs_store_backfill_put(st, ROOM, "$N", b, 1, &stored), 1, "an outlier is no boundary");
    cr_assert_eq(stored, 0);
    cr_assert_eq(hs_store_backfill_put(st, ROOM, "$nope", b, 1, &stored), 1);
    char seen[512];
    timeline(seen);
    cr_assert_str_eq(seen, "$J ");
}
