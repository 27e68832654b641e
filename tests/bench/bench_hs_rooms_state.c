/* bench_hs_rooms_state: the cost of keeping the state at every event. One room grows
 * through the room engine to MEMBERS joined members (one state event each) plus
 * MESSAGES messages, on a real SQLite store in a temporary directory; printed are the
 * append rate (events/s through hs_room_send: build, sign, auth, persist with state
 * groups), the time to resolve the whole state at a random event (hs_store_state_at_event,
 * up to HS_STORE_STATE_CHAIN_MAX deltas over a snapshot), a single-key lookup at an event,
 * and the database size. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server-core/hs_room.h"
#include "server-core/hs_store_accounts.h"
#include "server-core/hs_store_history.h"
#include "server-core/hs_store_rooms.h"
#include "bench/bench_support.h"

#define SERVER "bench.test"
#define MEMBERS 1000
#define MESSAGES 4000
#define LOOKUPS 300

static void must(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "bench_hs_rooms_state: %s failed\n", what);
        exit(1);
    }
}

static int collect_ids(void *ctx, const hs_store_event *ev)
{
    json_array_append_new(ctx, json_string(ev->event_id));
    return 0;
}

int main(void)
{
    char dir[] = "/tmp/bench-rooms-XXXXXX";
    must(mkdtemp(dir) != NULL, "mkdtemp");
    char path[256], err[512];
    snprintf(path, sizeof path, "%s/rooms.db", dir);
    size_t nm;
    const hs_migration *m = hs_store_migrations(&nm);
    hs_store *st;
    must(hs_store_open(path, m, nm, &st, err, sizeof err) == 0, err);
    hs_signing_key key;
    must(hs_signing_key_generate(&key) == 0, "key");
    hs_room_engine eng = {st, SERVER, &key, "10", NULL};
    must(hs_store_user_insert(st, "@owner:" SERVER, NULL, false, 1) == 0, "user");
    json_t *req = json_pack("{ss}", "preset", "public_chat");
    hs_room_result res;
    char *room = NULL;
    must(hs_room_create(&eng, "@owner:" SERVER, req, 1, &room, &res) == HS_ROOM_OK, res.msg);
    json_decref(req);

    double t0 = bs_now_s();
    json_t *join = json_pack("{ss}", "membership", "join");
    for (int i = 0; i < MEMBERS; i++) {
        char user[64];
        snprintf(user, sizeof user, "@u%d:" SERVER, i);
        must(hs_room_send(&eng, room, user, "m.room.member", user, join, NULL, 2 + i, NULL, &res) == HS_ROOM_OK,
             res.msg);
    }
    double t1 = bs_now_s();
    json_t *msg = json_pack("{ss, ss}", "msgtype", "m.text", "body", "hello");
    for (int i = 0; i < MESSAGES; i++) {
        char user[64];
        snprintf(user, sizeof user, "@u%d:" SERVER, i % MEMBERS);
        must(hs_room_send(&eng, room, user, "m.room.message", NULL, msg, NULL, 10000 + i, NULL, &res) == HS_ROOM_OK,
             res.msg);
    }
    double t2 = bs_now_s();
    json_decref(join);
    json_decref(msg);

    json_t *ids = json_array();
    must(hs_store_room_events(st, room, 0, false, 1000000, collect_ids, ids) > 0, "events");
    size_t n = json_array_size(ids);
    srand(7);
    double full = 0, one = 0;
    size_t entries = 0;
    for (int i = 0; i < LOOKUPS; i++) {
        const char *id = json_string_value(json_array_get(ids, (size_t)rand() % n));
        double a = bs_now_s();
        hs_state_map *map;
        must(hs_store_state_at_event(st, id, true, &map) == 0, "state_at_event");
        double b = bs_now_s();
        entries += hs_state_map_size(map);
        hs_state_map_free(map);
        char *pl = NULL;
        double c = bs_now_s();
        must(hs_store_state_at_event_get(st, id, true, "m.room.power_levels", "", &pl) == 0, "state_at_event_get");
        one += bs_now_s() - c;
        full += b - a;
        free(pl);
    }
    struct stat sb;
    must(stat(path, &sb) == 0, "stat");
    printf("bench_hs_rooms_state: %d member joins: %.0f events/s; %d messages: %.0f events/s\n", MEMBERS,
           MEMBERS / (t1 - t0), MESSAGES, MESSAGES / (t2 - t1));
    printf("bench_hs_rooms_state: whole state at a random event (avg %zu entries): %.2f ms; one key: %.3f ms\n",
           entries / LOOKUPS, full / LOOKUPS * 1e3, one / LOOKUPS * 1e3);
    printf("bench_hs_rooms_state: database %.1f MB for %zu events\n", (double)sb.st_size / 1e6, n);
    json_decref(ids);
    free(room);
    hs_store_close(st);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
