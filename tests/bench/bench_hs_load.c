/* bench_hs_load: the Client-Server API under load, as the issue asks it to be measured.
 *   1. messages/s through the HTTP API with N = 1, 4, 16 concurrent clients, each its own
 *      user on its own keep-alive connection, sending into rooms shared by all;
 *   2. the process's RSS after filling the server to ROOMS rooms and EVENTS events
 *      (BENCH_LOAD_EVENTS overrides the event count; the fill sends through the same HTTP
 *      API with 16 clients).
 * A real server in this process on loopback (client listener with the default thread
 * count); every answer is checked; synchronous=FULL, so each event is an fsync. */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_server.h"
#include "bench/bench_support.h"

#define ROOMS 1000
#define MAX_CLIENTS 16
/* a public_chat createRoom writes 6 events (create, the creator's join, power levels, join
 * rules, history visibility, guest access); the other 15 clients each join */
#define EVENTS_PER_ROOM (6 + MAX_CLIENTS - 1)

static hs_server srv;
static char base[64];
static char **room_paths;   /* percent-encoded room IDs */
static size_t n_rooms;

typedef struct client {
    char user_id[HS_STORE_ID_MAX];
    char token[256];
    CURL *curl;
    long sent, failed;
    long todo;
    unsigned seed;
} client;

static client clients[MAX_CLIENTS];

static void *send_loop(void *arg)
{
    client *c = arg;
    char path[512], body[128];
    for (long i = 0; i < c->todo; i++) {
        const char *room = room_paths[rand_r(&c->seed) % n_rooms];
        snprintf(path, sizeof path, "/_matrix/client/v3/rooms/%s/send/m.room.message/%s-%ld-%ld", room,
                 c->user_id + 1, c->sent + c->failed, (long)c->seed);
        snprintf(body, sizeof body, "{\"msgtype\":\"m.text\",\"body\":\"load message %ld\"}", i);
        if (bs_http(c->curl, base, c->token, "PUT", path, body, NULL) == 200) c->sent++;
        else c->failed++;
    }
    return NULL;
}

/* Runs `total` sends spread over n clients; returns messages per second. */
static double run(int n, long total, long *failed)
{
    pthread_t t[MAX_CLIENTS];
    for (int i = 0; i < n; i++) {
        clients[i].todo = total / n + (i < total % n);
        clients[i].sent = clients[i].failed = 0;
    }
    double t0 = bs_now_s();
    for (int i = 0; i < n; i++) pthread_create(&t[i], NULL, send_loop, &clients[i]);
    long sent = 0;
    *failed = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
        sent += clients[i].sent;
        *failed += clients[i].failed;
    }
    return (double)sent / (bs_now_s() - t0);
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
    if (f) fclose(f);
    return kib;
}

int main(void)
{
    char dir[] = "/tmp/bench_hs_load.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    hs_config cfg;
    bs_config(&cfg);
    if (bs_server_open(&srv, &cfg, dir) != 0) return 1;
    if (bs_listen(&srv, base, sizeof base) != 0) return 1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    long events = 100000;
    if (getenv("BENCH_LOAD_EVENTS")) events = atol(getenv("BENCH_LOAD_EVENTS"));

    for (int i = 0; i < MAX_CLIENTS; i++) {
        char local[32];
        snprintf(local, sizeof local, "load%d", i);
        bs_login(&srv, local, clients[i].user_id, clients[i].token);
        clients[i].curl = curl_easy_init();
        clients[i].seed = (unsigned)i + 1;
    }

    /* 1,000 public rooms, every client joined to each, created by client 0 */
    double t0 = bs_now_s();
    room_paths = calloc(ROOMS, sizeof *room_paths);
    char path[512];
    for (size_t r = 0; r < ROOMS; r++) {
        json_t *j = bs_call(clients[0].curl, base, clients[0].token, "POST", "/_matrix/client/v3/createRoom",
                            "{\"preset\":\"public_chat\"}");
        char enc[300];
        room_paths[r] = strdup(bs_enc(json_string_value(json_object_get(j, "room_id")), enc, sizeof enc));
        json_decref(j);
        n_rooms = r + 1;
        for (int i = 1; i < MAX_CLIENTS; i++) {
            snprintf(path, sizeof path, "/_matrix/client/v3/rooms/%s/join", enc);
            json_decref(bs_call(clients[i].curl, base, clients[i].token, "POST", path, "{}"));
        }
    }
    double setup_s = bs_now_s() - t0;
    printf("setup: %d rooms created, 15 users joined to each, in %.1f s (%.0f events/s)\n", ROOMS, setup_s,
           (double)(ROOMS * EVENTS_PER_ROOM) / setup_s);

    long done = 0, failed;
    int ns[] = {1, 4, 16};
    for (size_t k = 0; k < 3; k++) {
        long batch = 2000;
        double rate = run(ns[k], batch, &failed);
        done += batch - failed;
        printf("send through the HTTP API, %2d concurrent clients: %7.0f messages/s (%ld messages, %ld failed)\n",
               ns[k], rate, batch, failed);
        if (failed) return 1;
    }
    long fill = events - done - (long)ROOMS * EVENTS_PER_ROOM;
    long stored = done + (long)ROOMS * EVENTS_PER_ROOM;
    if (fill > 0) {
        t0 = bs_now_s();
        double rate = run(16, fill, &failed);
        printf("fill: %ld more messages with 16 clients at %.0f messages/s in %.0f s (%ld failed)\n", fill, rate,
               bs_now_s() - t0, failed);
        if (failed) return 1;
        stored += fill;
    }
    for (int i = 0; i < MAX_CLIENTS; i++) curl_easy_cleanup(clients[i].curl);
    /* what was written, not what was asked: setup and the rate runs alone exceed a small
     * BENCH_LOAD_EVENTS */
    printf("RSS after %d rooms and %ld events: %.1f MiB\n", ROOMS, stored, rss_kib() / 1024.0);
    for (size_t r = 0; r < n_rooms; r++) free(room_paths[r]);
    free(room_paths);
    curl_global_cleanup();
    return bs_server_close(&srv, dir);
}
