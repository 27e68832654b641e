/* bench_hs_fed_join: the joining server's side of a join to a room with STATE_EVENTS
 * state events. A real server (store in BENCH_DIR, default /tmp) grows a room to that
 * size through the room engine (not timed); its send_join answer (the state and its auth
 * chain, as hs_fed_rooms builds it) is serialised as it would go on the wire; timed are
 * parsing it, checking it in full (hs_fed_state_validate: format, signatures, hashes,
 * auth of every event) and writing the room into a second store with our join
 * (hs_store_fed_join_persist); then MESSAGES messages arriving one after the other in
 * the joined room (hs_room_remote_accept). Network transfer and the resident's side
 * are not in it. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_support.h"
#include "server-core/hs_event_id.h"
#include "server-core/hs_fed_rooms.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_room_remote.h"
#include "server-core/hs_server.h"
#include "server-core/hs_signing.h"
#include "server-core/hs_store_fed_rooms.h"
#include "server-core/hs_store_rooms.h"

#define STATE_EVENTS 10000

static void must(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "bench_hs_fed_join: %s failed\n", what);
        exit(1);
    }
}

#define MESSAGES 200

/* The only other server here is a.test, whose key the bench holds. */
static int bench_key(void *ctx, const char *server, const char *key_id, int64_t valid_at, uint8_t out[32], hs_err *err)
{
    (void)valid_at;
    hs_server *srv = ctx;
    if (strcmp(server, "a.test") != 0 || strcmp(key_id, srv->signing_key.key_id) != 0)
        return hs_err_set(err, "unknown key");
    memcpy(out, srv->signing_key.public_key, 32);
    return 0;
}

static int add_state(void *ctx, const char *type, const char *state_key, const hs_store_event *ev)
{
    (void)type;
    (void)state_key;
    json_t **io = ctx;
    json_array_append_new(io[0], json_loads(ev->pdu_json, 0, NULL));
    json_array_append_new(io[1], json_string(ev->event_id));
    return 0;
}

int main(void)
{
    const char *base = getenv("BENCH_DIR");
    char dir[256], err[1024];
    snprintf(dir, sizeof dir, "%s/bench-fed-join-XXXXXX", base ? base : "/tmp");
    must(mkdtemp(dir) != NULL, "mkdtemp");
    hs_config cfg;
    hs_config_defaults(&cfg);
    snprintf(cfg.server_name, sizeof cfg.server_name, "a.test");
    snprintf(cfg.database_path, sizeof cfg.database_path, "%s/a.db", dir);
    snprintf(cfg.signing_key_path, sizeof cfg.signing_key_path, "%s/a.key", dir);
    hs_signing_key key;
    must(hs_signing_key_generate(&key) == 0 && hs_signing_key_save(cfg.signing_key_path, &key, err, sizeof err) == 0,
         "key");
    hs_server srv;
    must(hs_server_open(&srv, &cfg, err, sizeof err) == 0, err);
    hs_room_engine e = hs_fed_rooms_engine(&srv);
    json_t *req = json_pack("{ss}", "preset", "public_chat");
    char *room = NULL;
    hs_room_result res;
    must(hs_room_create(&e, "@owner:a.test", req, 1700000000000LL, &room, &res) == HS_ROOM_OK, res.msg);
    json_decref(req);
    fprintf(stderr, "growing the room to %d state events...\n", STATE_EVENTS);
    json_t *content = json_pack("{ss}", "v", "x");
    for (int i = 0; i < STATE_EVENTS; i++) {
        char sk[32];
        snprintf(sk, sizeof sk, "k%d", i);
        must(hs_room_send(&e, room, "@owner:a.test", "org.bench.state", sk, content, NULL, 1700000000000LL + i, NULL,
                          &res) == HS_ROOM_OK, res.msg);
    }
    json_decref(content);

    /* The answer, as send_join serves it. */
    json_t *io[2] = {json_array(), json_array()};
    must(hs_store_state_each(srv.store, room, add_state, io) == 0, "state");
    size_t n_state = json_array_size(io[1]);
    const char **ids = calloc(n_state, sizeof *ids);
    for (size_t i = 0; i < n_state; i++) ids[i] = json_string_value(json_array_get(io[1], i));
    const hs_room_version *rv = hs_room_remote_version(srv.store, room);
    hs_err herr;
    json_t *chain = hs_fed_rooms_auth_chain(&srv, rv, ids, n_state, &herr);
    must(chain != NULL, herr.msg);
    json_t *answer = json_pack("{soso}", "state", io[0], "auth_chain", chain);
    char *wire = json_dumps(answer, JSON_COMPACT);
    size_t wire_len = strlen(wire);
    json_decref(answer);

    double t0 = bs_now_s();
    json_t *parsed = json_loads(wire, 0, NULL);
    hs_fed_state_set set;
    char msg[512];
    must(hs_fed_state_validate(&srv, rv, room, json_object_get(parsed, "state"), json_object_get(parsed, "auth_chain"),
                               &set, msg, sizeof msg) == 0, msg);
    double t1 = bs_now_s();

    /* Our join and the write into a fresh store. */
    json_t *join = json_pack("{sssssssss{ss}sIsisos[]}", "type", "m.room.member", "room_id", room, "sender",
                             "@bob:a.test", "state_key", "@bob:a.test", "content", "membership", "join",
                             "origin_server_ts", (json_int_t)1700000100000LL, "depth", STATE_EVENTS + 10,
                             "auth_events", json_array(), "prev_events");
    must(hs_event_sign(join, rv, "a.test", &srv.signing_key, 1, &herr) == 0, herr.msg);
    char *join_id = hs_event_id_compute(join, rv, &herr);
    char *join_text = hs_cjson_encode(join, 0, NULL, &herr);
    char path[300];
    snprintf(path, sizeof path, "%s/b.db", dir);
    size_t nm;
    const hs_migration *m = hs_store_migrations(&nm);
    hs_store *b;
    must(hs_store_open(path, m, nm, &b, err, sizeof err) == 0, err);
    size_t total = json_array_size(set.order);
    hs_store_new_event *rows = calloc(total, sizeof *rows);
    char **texts = calloc(total, sizeof *texts);
    double t2 = bs_now_s();
    for (size_t i = 0; i < total; i++) {
        const char *id = json_string_value(json_array_get(set.order, i));
        const json_t *p = json_object_get(set.events, id);
        texts[i] = hs_cjson_encode(p, 0, NULL, &herr);
        rows[i] = (hs_store_new_event){.event_id = id, .room_id = room, .type = hs_pdu_type(p),
                                       .state_key = hs_pdu_state_key(p), .sender = hs_pdu_sender(p),
                                       .depth = hs_pdu_depth(p), .origin_server_ts = hs_pdu_origin_server_ts(p),
                                       .pdu_json = texts[i]};
    }
    hs_store_new_event jrow = {.event_id = join_id, .room_id = room, .type = "m.room.member",
                               .state_key = "@bob:a.test", .sender = "@bob:a.test", .depth = STATE_EVENTS + 10,
                               .origin_server_ts = 1700000100000LL, .pdu_json = join_text, .membership = "join"};
    int64_t stream;
    must(hs_store_fed_join_persist(b, room, rv->id, "@owner:a.test", rows, total, set.state, &jrow, &stream) == 0,
         "persist");
    double t3 = bs_now_s();
    printf("join to a room with %zu state events (%zu events with the auth chain, %.1f MiB answer):\n"
           "  parse + check in full: %.2f s (%.0f events/s)\n  write the room: %.2f s\n  total: %.2f s\n",
           n_state, total, (double)wire_len / (1 << 20), t1 - t0, (double)total / (t1 - t0), t3 - t2, t3 - t0 - (t2 - t1));

    /* Then messages arrive in the joined room, one after the other: inbound events/s in
     * a room of this size (every check of hs_room_remote_accept and the write). */
    hs_room_engine be = {b, "b.test", &srv.signing_key, "10", NULL};
    hs_room_remote rr = {&be, bench_key, &srv};
    char prev[128];
    snprintf(prev, sizeof prev, "%s", join_id);
    const char *auth_ids[3] = {hs_state_map_get(set.state, "m.room.create", ""),
                               hs_state_map_get(set.state, "m.room.power_levels", ""),
                               hs_state_map_get(set.state, "m.room.member", "@owner:a.test")};
    double t4 = bs_now_s();
    for (int i = 0; i < MESSAGES; i++) {
        json_t *msg_ev = json_pack("{sssssss{ss}sIsis[sss]s[s]}", "type", "m.room.message", "room_id", room, "sender",
                                   "@owner:a.test", "content", "body", "hello", "origin_server_ts",
                                   (json_int_t)1700000200000LL + i, "depth", STATE_EVENTS + 11 + i, "auth_events",
                                   auth_ids[0], auth_ids[1], auth_ids[2], "prev_events", prev);
        must(hs_event_sign(msg_ev, rv, "a.test", &srv.signing_key, 1, &herr) == 0, herr.msg);
        hs_remote_result rres;
        must(hs_room_remote_accept(&rr, room, msg_ev, &rres) == HS_REMOTE_ACCEPTED, rres.msg);
        snprintf(prev, sizeof prev, "%s", rres.event_id);
        json_decref(msg_ev);
    }
    double t5 = bs_now_s();
    printf("  then %d inbound messages in that room: %.2f s (%.0f events/s)\n", MESSAGES, t5 - t4,
           MESSAGES / (t5 - t4));

    for (size_t i = 0; i < total; i++) free(texts[i]);
    free(texts);
    free(rows);
    free(join_text);
    free(join_id);
    json_decref(join);
    hs_fed_state_set_clear(&set);
    json_decref(parsed);
    free(wire);
    free(ids);
    json_decref(io[1]);
    free(room);
    hs_store_close(b);
    hs_server_close(&srv);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
    return 0;
}
