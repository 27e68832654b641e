/* Search and notifications over history fetched from other servers: a backfilled batch
 * (stored below every other event, hs_store_history.h) is indexed by the next search
 * like new events are, outliers the batch turns into history become searchable, outliers
 * stay out, an outlier at the bottom that is promoted upwards does not hide the history
 * stored at its old position afterwards, /search's recent-order tokens carry negative
 * positions, and unread counts never count backfilled history even from a read receipt
 * on it. Store level, as /search and the unread count use it; the fetching itself is
 * tests/integration/test_fed_backfill.c. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_search.h"
#include "server-core/hs_store.h"
#include "server-core/hs_store_fed_rooms.h"
#include "server-core/hs_store_history.h"
#include "server-core/hs_store_rooms.h"
#include "server-core/hs_store_search.h"
#include "support/pgt.h"
#include "support/pgt_hs.h"

#define ROOM "!sb:remote.test"
#define ALICE "@alice:remote.test"
#define BOB "@bob:local.test"

static char *dir;
static hs_store *st;

static void setup(void)
{
    st = pgt_store_open(&dir, "sb.db");
}

static void teardown(void)
{
    pgt_store_close(st, dir);
}

TestSuite(hs_search_backfill, .init = setup, .fini = teardown, .timeout = 60);

/* Events of a remote room, oldest first: create, alice's join, power levels, a message
 * M1, the name N, a message M2, a topic X that is only ever an (auth) outlier, a
 * message M3; bob's join J. Every text has a word of its own. */
typedef struct ev_def {
    const char *id, *type, *state_key, *membership, *content;
    int depth;
} ev_def;

static const ev_def C = {"$C", "m.room.create", "", NULL, "\"creator\":\"" ALICE "\"", 1};
static const ev_def A = {"$A", "m.room.member", ALICE, "join", "\"membership\":\"join\"", 2};
static const ev_def P = {"$P", "m.room.power_levels", "", NULL, "", 3};
static const ev_def M1 = {"$M1", "m.room.message", NULL, NULL, "\"msgtype\":\"m.text\",\"body\":\"a wombat\"", 4};
static const ev_def N = {"$N", "m.room.name", "", NULL, "\"name\":\"Quokka lounge\"", 5};
static const ev_def M2 = {"$M2", "m.room.message", NULL, NULL, "\"msgtype\":\"m.text\",\"body\":\"a platypus\"", 6};
static const ev_def X = {"$X", "m.room.topic", "", NULL, "\"topic\":\"echidna talk\"", 7};
static const ev_def M3 = {"$M3", "m.room.message", NULL, NULL, "\"msgtype\":\"m.text\",\"body\":\"a numbat\"", 8};
static const ev_def J = {"$J", "m.room.member", BOB, "join", "\"membership\":\"join\"", 9};

static char texts[64][512];
static int n_texts;

static hs_store_new_event row(const ev_def *d)
{
    char *t = texts[n_texts++];
    const char *sender = d == &J ? BOB : ALICE;
    snprintf(t, 512, "{\"type\":\"%s\",\"room_id\":\"%s\",\"sender\":\"%s\",\"depth\":%d,\"content\":{%s}%s%s%s}",
             d->type, ROOM, sender, d->depth, d->content, d->state_key ? ",\"state_key\":\"" : "",
             d->state_key ? d->state_key : "", d->state_key ? "\"" : "");
    return (hs_store_new_event){.event_id = d->id, .room_id = ROOM, .type = d->type, .state_key = d->state_key,
                                .sender = sender, .depth = d->depth, .origin_server_ts = d->depth,
                                .pdu_json = t, .membership = d->membership};
}

/* Joins as a remote join does: C, A, P, N as outliers with that state, then J. */
static void join_room(void)
{
    hs_store_new_event others[] = {row(&C), row(&A), row(&P), row(&N)};
    hs_store_new_event jrow = row(&J);
    pgt_store_remote_join(st, ROOM, "10", ALICE, others, 4, &jrow);
}

typedef struct found {
    char ids[256];
    int64_t last_stream;
} found;

static int note_hit(void *ctx, int64_t stream, const char *event_id, const char *room_id, double rank)
{
    (void)room_id;
    (void)rank;
    found *f = ctx;
    strcat(f->ids, event_id);
    strcat(f->ids, " ");
    f->last_stream = stream;
    return 0;
}

/* The events a newest-first search for `word` finds (after catching up), "$A $B ". */
static void search(const char *word, int64_t before, found *f)
{
    cr_assert_geq(hs_store_search_catch_up(st), 0);
    char *match = hs_search_match(word, NULL);
    hs_store_search_query q = {.match = match, .rooms_json = "[\"" ROOM "\"]",
                               .keys_json = "[\"content.body\",\"content.name\",\"content.topic\"]",
                               .before_stream = before, .limit = 50};
    memset(f, 0, sizeof *f);
    cr_assert_eq(hs_store_search_events(st, &q, note_hit, f, NULL), 0);
    free(match);
}

static void assert_found(const char *word, const char *expected)
{
    found f;
    search(word, 0, &f);
    cr_assert_str_eq(f.ids, expected, "search '%s'", word);
}

/* Backfill M3, N, M2, P (newest first) below bob's join, with X an outlier of the batch
 * at the very bottom. */
static void put_first_batch(void)
{
    hs_store_backfill_event b[] = {
        {row(&M3), NULL, false}, {row(&N), NULL, false}, {row(&M2), NULL, false},
        {row(&P), NULL, false},  {row(&X), NULL, true},
    };
    size_t stored;
    cr_assert_eq(hs_store_backfill_put(st, ROOM, "$J", b, sizeof b / sizeof b[0], &stored), 0);
    cr_assert_eq(stored, 4);
}

Test(hs_search_backfill, backfilled_history_is_searchable_and_outliers_are_not)
{
    join_room();
    assert_found("quokka", ""); /* the name is an outlier of the join */
    assert_found("numbat", "");
    put_first_batch();
    assert_found("numbat", "$M3 ");
    assert_found("platypus", "$M2 ");
    assert_found("quokka", "$N "); /* the outlier the batch turned into history */
    assert_found("echidna", "");   /* an auth outlier stays out */
    /* indexed once: the next catch-up has nothing to do */
    cr_assert_eq(hs_store_search_catch_up(st), 0);
    /* newest first over negative positions, paged by a position below zero */
    found f;
    search("a", 0, &f);
    cr_assert_str_eq(f.ids, "$M3 $M2 ");
    cr_assert_lt(f.last_stream, 0);
    hs_store_event m3;
    cr_assert_eq(hs_store_event_get(st, "$M3", &m3), 0);
    search("a", m3.stream, &f);
    cr_assert_str_eq(f.ids, "$M2 ", "a page after M3 starts below it");
    hs_store_event_clear(&m3);
}

/* X sits at the lowest position after the first batch; promoted to the top (it arrives
 * as an event of the room), its old position is the next one a backfilled event takes.
 * That event must be indexed too. */
Test(hs_search_backfill, history_stored_where_a_promoted_outlier_was_is_searchable)
{
    join_room();
    put_first_batch();
    hs_store_event x;
    cr_assert_eq(hs_store_event_get(st, "$X", &x), 0);
    int64_t bottom = x.stream;
    hs_store_event_clear(&x);
    assert_found("numbat", "$M3 ");
    hs_store_new_event xr = row(&X);
    const char *ext[] = {"$X"};
    hs_store_fed_event fe = {.ev = &xr, .before_from = "$J", .extremities = ext, .n_extremities = 1,
                             .head = HS_STORE_FED_HEAD_EXTEND};
    int64_t stream;
    cr_assert_eq(hs_store_fed_event_persist(st, &fe, &stream), 0);
    cr_assert_gt(stream, 0);
    assert_found("echidna", "$X "); /* a timeline event now, at the top */
    hs_store_backfill_event b[] = {{row(&M1), NULL, false}, {row(&A), NULL, false}, {row(&C), NULL, false}};
    size_t stored;
    cr_assert_eq(hs_store_backfill_put(st, ROOM, "$P", b, 3, &stored), 0);
    cr_assert_eq(stored, 3);
    hs_store_event m1;
    cr_assert_eq(hs_store_event_get(st, "$M1", &m1), 0);
    cr_assert_eq(m1.stream, bottom, "the setting this test is about: M1 took X's old position");
    hs_store_event_clear(&m1);
    assert_found("wombat", "$M1 ");
}

Test(hs_search_backfill, recent_order_tokens_carry_negative_positions)
{
    char t[32];
    int64_t v;
    hs_search_token_format(false, -42, t, sizeof t);
    cr_assert_str_eq(t, "t-42");
    cr_assert_eq(hs_search_token_parse(t, false, &v), 0);
    cr_assert_eq(v, -42);
    hs_search_token_format(false, 9007199254740993, t, sizeof t);
    cr_assert_eq(hs_search_token_parse(t, false, &v), 0);
    cr_assert_eq(v, 9007199254740993);
    const char *bad[] = {"r-1", "t-", "t-0", "t--1", "t+1", "t-1x", "t-1234567890123456789"};
    bool rank[] = {true, false, false, false, false, false, false};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(hs_search_token_parse(bad[i], rank[i], &v), -1, "accepted '%s'", bad[i]);
    cr_assert_eq(hs_search_token_parse("r7", true, &v), 0);
    cr_assert_eq(v, 7);
}

static int count_notify(void *ctx, const hs_store_notify_event *ev)
{
    (void)ev;
    (*(long *)ctx)++;
    return 0;
}

/* An unread count walks (read receipt, newest]; a receipt on backfilled history puts the
 * start below zero, and the history above it is still not unread news. */
Test(hs_search_backfill, unread_counts_and_notifications_leave_history_out)
{
    join_room();
    put_first_batch();
    int64_t max;
    cr_assert_eq(hs_store_room_max_stream(st, ROOM, &max), 0);
    hs_store_event p;
    cr_assert_eq(hs_store_event_get(st, "$P", &p), 0);
    long seen = 0;
    cr_assert_geq(hs_store_room_notify_candidates(st, ROOM, BOB, p.stream, max, 100, count_notify, &seen), 0);
    hs_store_event_clear(&p);
    cr_assert_eq(seen, 0, "%ld backfilled events counted as unread", seen);
    cr_assert_geq(hs_store_notify_candidates(st, "[\"" ROOM "\"]", BOB, 0, 100, count_notify, &seen), 0);
    cr_assert_eq(seen, 0);
}
