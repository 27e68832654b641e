/* bench_hs_room_remote: inbound PDUs per second through hs_room_remote_accept - format,
 * signature verification (keys from a keyring, as a warm cache would give them), content
 * hash, auth against auth events, state before (state groups; stateres at the merge),
 * soft-fail check and the SQLite write - on Synapse's recorded rooms (tests/fixtures/
 * synapse: v10, v9, v6; 205 events after the create events, including a network split,
 * a merge and two soft failures), each replayed into a fresh store. Prints events/s.
 * Every accepted event is one durable SQLite transaction (synchronous=FULL), so on a
 * disk the figure is mostly fsync; BENCH_DIR=/dev/shm shows the CPU cost alone. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_support.h"
#include "server-core/hs_room_remote.h"
#include "server-core/hs_signing.h"
#include "server-core/hs_store_rooms.h"

#define FIX PG_SOURCE_DIR "/tests/fixtures/synapse/"
#define ROUNDS 5

static hs_keyring ring;

static int ring_key(void *ctx, const char *server, const char *key_id, int64_t valid_at, uint8_t out[32], hs_err *err)
{
    (void)ctx;
    (void)valid_at;
    const hs_verify_key *k = hs_keyring_find(&ring, server, key_id);
    if (!k) return hs_err_set(err, "no key");
    memcpy(out, k->public_key, 32);
    return 0;
}

/* Replays one room into a fresh store; returns the events accepted or soft-failed and
 * adds the time spent accepting to *secs. */
static int replay(const char *file, double *secs)
{
    char dir[256], path[300], err[256];
    const char *base = getenv("BENCH_DIR");
    snprintf(dir, sizeof dir, "%s/bench_remote.XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(dir)) return -1;
    snprintf(path, sizeof path, "%s/b.db", dir);
    size_t nm;
    const hs_migration *m = hs_store_migrations(&nm);
    hs_store *st;
    if (hs_store_open(path, m, nm, &st, err, sizeof err) != 0) return -1;
    hs_signing_key key;
    hs_signing_key_generate(&key);
    hs_room_engine eng = {st, "localhost:8450", &key, "10", NULL};
    hs_room_remote rr = {&eng, ring_key, NULL};
    FILE *f = fopen(file, "r");
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    bool first = true;
    while (f && getline(&line, &cap, f) > 0) {
        json_t *l = json_loads(line, JSON_ALLOW_NUL, NULL);
        json_t *pdu = json_deep_copy(json_object_get(l, "pdu"));
        json_object_del(pdu, "unsigned");
        const char *room = json_string_value(json_object_get(pdu, "room_id"));
        if (first) {
            hs_err herr;
            char *text = hs_cjson_encode(pdu, 0, NULL, &herr);
            hs_store_new_event ev = {.event_id = json_string_value(json_object_get(l, "event_id")), .room_id = room,
                                     .type = "m.room.create", .state_key = "", .sender = "@alice:localhost:8448",
                                     .depth = 1, .origin_server_ts = 1, .pdu_json = text,
                                     .new_room_version = json_string_value(json_object_get(l, "room_version"))};
            int64_t stream;
            hs_store_event_append(st, &ev, &stream);
            free(text);
            first = false;
        } else if (json_object_get(json_object_get(l, "servers"), "localhost:8448")) {
            hs_remote_result res;
            double t0 = bs_now_s();
            hs_remote_status s = hs_room_remote_accept(&rr, room, pdu, &res);
            *secs += bs_now_s() - t0;
            if (s == HS_REMOTE_ACCEPTED || s == HS_REMOTE_SOFT_FAILED) n++;
            else fprintf(stderr, "%s: %s\n", res.event_id, res.msg);
        }
        json_decref(pdu);
        json_decref(l);
    }
    free(line);
    if (f) fclose(f);
    hs_store_close(st);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
    return n;
}

int main(void)
{
    hs_keyring_init(&ring);
    const char *keys[] = {FIX "keys-localhost_8448.json", FIX "keys-localhost_8449.json"};
    for (int i = 0; i < 2; i++) {
        json_t *doc = json_load_file(keys[i], 0, NULL);
        hs_err err;
        if (!doc || hs_keyring_add_server_keys(&ring, doc, &err) != 0) return 1;
        json_decref(doc);
    }
    const char *rooms[] = {FIX "room-1-v10.jsonl", FIX "room-2-v9.jsonl", FIX "room-3-v6.jsonl"};
    long events = 0;
    double secs = 0;
    for (int r = 0; r < ROUNDS; r++)
        for (int i = 0; i < 3; i++) {
            int n = replay(rooms[i], &secs);
            if (n < 0) return 1;
            events += n;
        }
    printf("inbound PDUs (verify + hash + auth + state + persist): %ld events in %.3f s = %.0f events/s\n", events,
           secs, (double)events / secs);
    hs_keyring_free(&ring);
    return 0;
}
