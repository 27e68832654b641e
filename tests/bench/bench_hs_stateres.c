/* bench_hs_stateres: (a) state resolution of a synthetic room version 10 room with 10,000
 * state events (members) split into two forks of 1,000 state events each (fork A: a power
 * levels change then 999 member updates citing it; fork B: a join rules change then 999
 * member updates of the same users), so 1,000 keys are conflicted and both the power
 * ordering and the mainline ordering have work; (b) room replay of the recorded Synapse
 * rooms (209 events, v6/v9/v10), in events per second. Results are checked, not only timed. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server-core/hs_replay.h"
#include "server-core/hs_stateres.h"

#define FIX PG_SOURCE_DIR "/tests/fixtures/synapse/"
#define N_MEMBERS 9996
#define FORK 1000
#define REPLAY_ROUNDS 20

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static const json_t *pool_get(void *ctx, const char *id, bool *rejected)
{
    *rejected = false;
    return json_object_get(ctx, id);
}

static void add(json_t *pool, const char *id, const char *type, const char *sender, const char *sk, json_t *content,
                json_t *auth, long long ts)
{
    json_t *pdu = json_pack("{ss ss ss ss so so sI sI s[]}", "type", type, "sender", sender, "state_key", sk,
                            "room_id", "!bench:a.test", "content", content, "auth_events", auth, "origin_server_ts",
                            (json_int_t)ts, "depth", (json_int_t)1, "prev_events");
    json_object_set_new(pool, id, pdu);
}

static void user(char *buf, size_t len, int i)
{
    snprintf(buf, len, "@u%d:b.test", i);
}

static void set(hs_state_map *m, json_t *pool, const char *id)
{
    const json_t *p = json_object_get(pool, id);
    hs_state_map_set(m, json_string_value(json_object_get(p, "type")), json_string_value(json_object_get(p, "state_key")), id);
}

static void bench_resolve(void)
{
    json_t *pool = json_object();
    long long ts = 1000;
    add(pool, "$create", "m.room.create", "@alice:a.test", "", json_pack("{ss ss}", "creator", "@alice:a.test", "room_version", "10"),
        json_pack("[]"), ts++);
    add(pool, "$alice", "m.room.member", "@alice:a.test", "@alice:a.test", json_pack("{ss}", "membership", "join"),
        json_pack("[s]", "$create"), ts++);
    json_t *pl = json_pack("{s{si} si si}", "users", "@alice:a.test", 100, "state_default", 50, "users_default", 0);
    add(pool, "$pl0", "m.room.power_levels", "@alice:a.test", "", json_incref(pl), json_pack("[ss]", "$create", "$alice"), ts++);
    add(pool, "$jr0", "m.room.join_rules", "@alice:a.test", "", json_pack("{ss}", "join_rule", "public"),
        json_pack("[sss]", "$create", "$pl0", "$alice"), ts++);
    hs_state_map *base = hs_state_map_new();
    set(base, pool, "$create");
    set(base, pool, "$alice");
    set(base, pool, "$pl0");
    set(base, pool, "$jr0");
    char u[64], id[64], prev[64];
    for (int i = 0; i < N_MEMBERS; i++) {
        user(u, sizeof u, i);
        snprintf(id, sizeof id, "$join%d", i);
        add(pool, id, "m.room.member", u, u, json_pack("{ss}", "membership", "join"),
            json_pack("[sss]", "$create", "$pl0", "$jr0"), ts++);
        set(base, pool, id);
    }
    hs_state_map *a = hs_state_map_copy(base), *b = hs_state_map_copy(base);
    json_object_set_new(pl, "events_default", json_integer(10));
    add(pool, "$plA", "m.room.power_levels", "@alice:a.test", "", pl, json_pack("[sss]", "$create", "$pl0", "$alice"), ts++);
    set(a, pool, "$plA");
    add(pool, "$jrB", "m.room.join_rules", "@alice:a.test", "", json_pack("{ss}", "join_rule", "invite"),
        json_pack("[sss]", "$create", "$pl0", "$alice"), ts++);
    set(b, pool, "$jrB");
    for (int i = 0; i < FORK - 1; i++) {
        user(u, sizeof u, i);
        snprintf(prev, sizeof prev, "$join%d", i);
        for (int side = 0; side < 2; side++) {
            snprintf(id, sizeof id, "$%c%d", side ? 'B' : 'A', i);
            add(pool, id, "m.room.member", u, u, json_pack("{ss ss}", "membership", "join", "displayname", side ? "B" : "A"),
                json_pack("[sss]", "$create", side ? "$pl0" : "$plA", prev), ts + (side ? 2 * i + 1 : 2 * i));
            set(side ? b : a, pool, id);
        }
    }
    printf("state sets: %zu and %zu state events, %d conflicted keys\n", hs_state_map_size(a), hs_state_map_size(b), FORK + 1);
    const hs_state_map *sets[2] = {a, b};
    hs_event_lookup lk = {pool_get, pool};
    const hs_room_version *rvs[1] = {hs_room_version_get("10")};
    for (int v = 0; v < 1; v++) {
        double best = 1e18;
        for (int round = 0; round < 5; round++) {
            hs_state_map *out = NULL;
            hs_err err = {{0}};
            double t0 = now_ms();
            if (hs_stateres_resolve(rvs[v], sets, 2, &lk, &out, &err) != 0) {
                fprintf(stderr, "resolve failed: %s\n", err.msg);
                exit(1);
            }
            double dt = now_ms() - t0;
            if (dt < best) best = dt;
            /* A's member updates cite the resolved power levels (mainline position 0), B's the
             * older ones (position 1), so A's sort last and win although B's are later; the
             * power levels and join rules changes both apply. */
            if (v == 0 && (strcmp(hs_state_map_get(out, "m.room.member", "@u5:b.test"), "$A5") != 0 ||
                           strcmp(hs_state_map_get(out, "m.room.power_levels", ""), "$plA") != 0 ||
                           strcmp(hs_state_map_get(out, "m.room.join_rules", ""), "$jrB") != 0)) {
                fprintf(stderr, "unexpected resolution result\n");
                exit(1);
            }
            hs_state_map_free(out);
        }
        printf("state resolution v2 (room v%s): %.1f ms (best of 5)\n", rvs[v]->id, best);
    }
    hs_state_map_free(a);
    hs_state_map_free(b);
    hs_state_map_free(base);
    json_decref(pool);
}

static void bench_replay(void)
{
    static const char *const rooms[] = {"room-1-v10", "room-2-v9", "room-3-v6"};
    json_t *all[3];
    size_t events = 0;
    for (int r = 0; r < 3; r++) {
        char path[512];
        snprintf(path, sizeof path, FIX "%s.jsonl", rooms[r]);
        FILE *f = fopen(path, "r");
        if (!f) {
            fprintf(stderr, "cannot open %s\n", path);
            exit(1);
        }
        all[r] = json_array();
        char *line = NULL;
        size_t cap = 0;
        while (getline(&line, &cap, f) > 0) json_array_append_new(all[r], json_loads(line, JSON_ALLOW_NUL, NULL));
        free(line);
        fclose(f);
    }
    double t0 = now_ms();
    for (int round = 0; round < REPLAY_ROUNDS; round++)
        for (int r = 0; r < 3; r++) {
            const json_t *first = json_array_get(all[r], 0);
            hs_replay *rp = hs_replay_new(hs_room_version_get(json_string_value(json_object_get(first, "room_version"))));
            size_t i;
            json_t *l;
            json_array_foreach(all[r], i, l) hs_replay_add(rp, json_string_value(json_object_get(l, "event_id")),
                                                           json_object_get(l, "pdu"), NULL);
            hs_err err = {{0}};
            if (hs_replay_run(rp, &err) != 0) {
                fprintf(stderr, "replay failed: %s\n", err.msg);
                exit(1);
            }
            events += hs_replay_count(rp);
            hs_replay_free(rp);
        }
    double dt = now_ms() - t0;
    printf("replay: %zu events in %.1f ms = %.0f events/s (3 fixture rooms x %d)\n", events, dt, events / (dt / 1e3),
           REPLAY_ROUNDS);
    for (int r = 0; r < 3; r++) json_decref(all[r]);
}

int main(void)
{
    bench_resolve();
    bench_replay();
    return 0;
}
