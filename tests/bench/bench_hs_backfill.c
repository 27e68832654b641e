/* bench_hs_backfill: the store side of backfill. A room joined with a state of 1,000
 * members (stored as outliers), then 20,000 events of history stored below the join in
 * batches of 100 newest first (hs_store_backfill_put: one transaction per batch, each
 * event placed below everything, its state derived backwards - 5 member changes per
 * batch, half of them naming the membership they replaced), then the whole history
 * paged backwards 100 at a time the way /messages reads it. Prints events/s for both
 * and the state at the oldest event's lookup time. Checks what it measured: every
 * event stored once, the pages in order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench_support.h"
#include "server-core/hs_store.h"
#include "server-core/hs_store_fed_rooms.h"
#include "server-core/hs_store_history.h"
#include "server-core/hs_store_rooms.h"

#define ROOM "!bench:remote.test"
#define MEMBERS 1000
#define HISTORY 20000
#define BATCH 100

static void fail(const char *what)
{
    fprintf(stderr, "bench_hs_backfill: %s\n", what);
    exit(1);
}

static int count_page(void *ctx, const hs_store_event *ev)
{
    int64_t *prev = ctx;
    if (ev->stream >= *prev) fail("pages out of order");
    *prev = ev->stream;
    return 1;
}

int main(void)
{
    char dir[] = "/tmp/bench-backfill-XXXXXX";
    if (!mkdtemp(dir)) fail("mkdtemp");
    char path[256], err[512];
    snprintf(path, sizeof path, "%s/hs.db", dir);
    size_t nm;
    const hs_migration *m = hs_store_migrations(&nm);
    hs_store *st;
    if (hs_store_open(path, m, nm, &st, err, sizeof err) != 0) fail(err);

    /* The join: create + 1,000 member events as outliers, then our join. */
    static char ids[MEMBERS + 1][32], users[MEMBERS][48], texts[MEMBERS + 1][160];
    hs_store_new_event *others = calloc(MEMBERS + 1, sizeof *others);
    hs_state_map *state = hs_state_map_new();
    snprintf(ids[0], sizeof ids[0], "$create");
    snprintf(texts[0], sizeof texts[0], "{\"type\":\"m.room.create\",\"content\":{}}");
    others[0] = (hs_store_new_event){.event_id = ids[0], .room_id = ROOM, .type = "m.room.create", .state_key = "",
                                     .sender = "@u0:remote.test", .depth = 1, .pdu_json = texts[0]};
    hs_state_map_set(state, "m.room.create", "", ids[0]);
    for (int i = 0; i < MEMBERS; i++) {
        snprintf(ids[i + 1], sizeof ids[i + 1], "$m%d", i);
        snprintf(users[i], sizeof users[i], "@u%d:remote.test", i);
        snprintf(texts[i + 1], sizeof texts[i + 1], "{\"type\":\"m.room.member\",\"content\":{\"membership\":\"join\"}}");
        others[i + 1] = (hs_store_new_event){.event_id = ids[i + 1], .room_id = ROOM, .type = "m.room.member",
                                             .state_key = users[i], .sender = users[i], .depth = 2 + i,
                                             .pdu_json = texts[i + 1], .membership = "join"};
        hs_state_map_set(state, "m.room.member", users[i], ids[i + 1]);
    }
    hs_store_new_event join = {.event_id = "$join", .room_id = ROOM, .type = "m.room.member",
                               .state_key = "@me:local.test", .sender = "@me:local.test", .depth = HISTORY + 10,
                               .pdu_json = "{\"type\":\"m.room.member\",\"content\":{\"membership\":\"join\"}}",
                               .membership = "join"};
    int64_t stream;
    if (hs_store_fed_join_persist(st, ROOM, "10", "@u0:remote.test", others, MEMBERS + 1, state, &join, &stream) != 0)
        fail("join");

    /* History: HISTORY events below the join, newest first, BATCH per transaction. */
    static char hid[BATCH][32], htext[BATCH][160];
    hs_store_backfill_event rows[BATCH];
    char boundary[32] = "$join";
    double t0 = bs_now_s();
    size_t total = 0;
    for (int done = 0; done < HISTORY; done += BATCH) {
        for (int k = 0; k < BATCH; k++) {
            int n = HISTORY - done - k; /* depth order: newest first */
            snprintf(hid[k], sizeof hid[k], "$h%d", n);
            bool member = k % 20 == 0;
            int who = n % MEMBERS;
            snprintf(htext[k], sizeof htext[k], member ? "{\"type\":\"m.room.member\",\"content\":{\"membership\":\"join\"}}"
                                                      : "{\"type\":\"m.room.message\",\"content\":{\"body\":\"h%d\"}}",
                     n);
            rows[k] = (hs_store_backfill_event){
                .ev = {.event_id = hid[k], .room_id = ROOM, .type = member ? "m.room.member" : "m.room.message",
                       .state_key = member ? users[who] : NULL, .sender = users[who], .depth = 5 + n,
                       .pdu_json = htext[k], .membership = member ? "join" : NULL},
                .replaced = member && k % 40 == 0 ? ids[who + 1] : NULL,
            };
        }
        size_t stored;
        if (hs_store_backfill_put(st, ROOM, boundary, rows, BATCH, &stored) != 0 || stored != BATCH) fail("backfill");
        total += stored;
        snprintf(boundary, sizeof boundary, "%s", hid[BATCH - 1]);
    }
    double t_store = bs_now_s() - t0;

    /* Page the whole history backwards as /messages does. */
    t0 = bs_now_s();
    int64_t from = INT64_MAX, prev = INT64_MAX, last;
    long seen = 0;
    bool exhausted = false;
    while (!exhausted) {
        long n = hs_store_room_events_scan(st, ROOM, from, HS_STORE_NO_BOUND, true, BATCH, 5000, count_page, &prev,
                                           &last, &exhausted);
        if (n < 0) fail("scan");
        seen += n;
        from = last - 1;
    }
    double t_page = bs_now_s() - t0;
    if (seen != HISTORY + 1) fail("paging did not see every event once");

    t0 = bs_now_s();
    hs_state_map *at = NULL;
    char oldest[32];
    snprintf(oldest, sizeof oldest, "$h1");
    if (hs_store_state_at_event(st, oldest, true, &at) != 0) fail("state at the oldest event");
    double t_state = bs_now_s() - t0;
    size_t n_state = hs_state_map_size(at);
    hs_state_map_free(at);

    printf("backfill store: %zu events below a join (state %d members) in batches of %d: %.2f s, %.0f events/s\n",
           total, MEMBERS, BATCH, t_store, (double)total / t_store);
    printf("backfill paging: %ld events in pages of %d: %.3f s, %.0f events/s\n", seen, BATCH, t_page,
           (double)seen / t_page);
    printf("state after the oldest backfilled event: %zu entries in %.2f ms\n", n_state, t_state * 1000);

    hs_state_map_free(state);
    free(others);
    hs_store_close(st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
