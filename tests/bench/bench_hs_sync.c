/* bench_hs_sync: sync latency as a user sees it — one client sends a message over HTTP,
 * another client's long-polling /sync (already waiting) returns with it; the time from
 * starting the send to the sync's answer, median and p99 over MESSAGES sends. Then the
 * cost of a whole initial /sync for a user in ROOMS rooms of EVENTS messages each, and of
 * an incremental /sync with nothing new. A real server in this process on loopback;
 * libcurl clients on keep-alive connections. Each answer is checked. */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server-core/hs_accounts.h"
#include "server-core/hs_api_sync.h"
#include "server-core/hs_room.h"
#include "server-core/hs_server.h"
#include "bench/bench_support.h"

#define MESSAGES 300
#define ROOMS 100
#define EVENTS 20
#define ROUNDS 20

static hs_server srv;
static char base[64];

/* One request that must answer 200 with JSON (exits otherwise). */
static json_t *call(CURL *c, const char *token, const char *method, const char *path, const char *body)
{
    return bs_call(c, base, token, method, path, body);
}

/* ---- latency: receiver thread long-polls, main thread sends ------------------------ */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int received;       /* messages seen by the receiver */
static bool polling;       /* the receiver is inside a /sync */
static double received_at[MESSAGES];
static char recv_token[256], room_id[256], since[256];

static void *receiver(void *arg)
{
    (void)arg;
    CURL *c = curl_easy_init();
    char path[1024], e[256];
    while (received < MESSAGES) {
        snprintf(path, sizeof path, "/_matrix/client/v3/sync?timeout=30000&since=%s", bs_enc(since, e, sizeof e));
        pthread_mutex_lock(&mu);
        polling = true;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
        json_t *j = call(c, recv_token, "GET", path, NULL);
        double t = bs_now_s();
        json_t *tl = json_object_get(
            json_object_get(json_object_get(json_object_get(json_object_get(j, "rooms"), "join"), room_id), "timeline"),
            "events");
        pthread_mutex_lock(&mu);
        polling = false;
        size_t i;
        json_t *ev;
        json_array_foreach(tl, i, ev) if (strcmp(json_string_value(json_object_get(ev, "type")), "m.room.message") ==
                                          0) received_at[received++] = t;
        snprintf(since, sizeof since, "%s", json_string_value(json_object_get(j, "next_batch")));
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
        json_decref(j);
    }
    curl_easy_cleanup(c);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(void)
{
    char dir[] = "/tmp/bench_hs_sync.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    hs_config cfg;
    bs_config(&cfg);
    if (bs_server_open(&srv, &cfg, dir) != 0) return 1;
    if (bs_listen(&srv, base, sizeof base) != 0) return 1;
    curl_global_init(CURL_GLOBAL_DEFAULT);

    char alice[HS_STORE_ID_MAX], bob[HS_STORE_ID_MAX], send_token[256];
    bs_login(&srv, "alice", alice, send_token);
    bs_login(&srv, "bob", bob, recv_token);
    CURL *c = curl_easy_init();
    json_t *j = call(c, send_token, "POST", "/_matrix/client/v3/createRoom", "{\"preset\":\"public_chat\"}");
    snprintf(room_id, sizeof room_id, "%s", json_string_value(json_object_get(j, "room_id")));
    json_decref(j);
    char r[512], path[1024];
    bs_enc(room_id, r, sizeof r);
    snprintf(path, sizeof path, "/_matrix/client/v3/rooms/%s/join", r);
    json_decref(call(c, recv_token, "POST", path, "{}"));
    j = call(c, recv_token, "GET", "/_matrix/client/v3/sync", NULL);
    snprintf(since, sizeof since, "%s", json_string_value(json_object_get(j, "next_batch")));
    json_decref(j);

    pthread_t th;
    pthread_create(&th, NULL, receiver, NULL);
    static double lat[MESSAGES];
    for (int i = 0; i < MESSAGES; i++) {
        /* send only once the receiver is waiting inside its /sync (as a live client is) */
        pthread_mutex_lock(&mu);
        while (!polling || received != i) pthread_cond_wait(&cv, &mu);
        pthread_mutex_unlock(&mu);
        while (hs_api_sync_waiting(srv.sync) == 0) {
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
        }
        snprintf(path, sizeof path, "/_matrix/client/v3/rooms/%s/send/m.room.message/b%d", r, i);
        double t0 = bs_now_s();
        json_decref(call(c, send_token, "PUT", path, "{\"msgtype\":\"m.text\",\"body\":\"ping\"}"));
        pthread_mutex_lock(&mu);
        while (received <= i) pthread_cond_wait(&cv, &mu);
        lat[i] = received_at[i] - t0;
        pthread_mutex_unlock(&mu);
    }
    pthread_join(th, NULL);
    qsort(lat, MESSAGES, sizeof lat[0], cmp);
    printf("send -> other client's long-poll /sync returns (%d messages): median %.2f ms, p99 %.2f ms, max %.2f ms\n",
           MESSAGES, lat[MESSAGES / 2] * 1e3, lat[MESSAGES * 99 / 100] * 1e3, lat[MESSAGES - 1] * 1e3);

    /* initial and empty incremental sync for a user in ROOMS rooms */
    hs_room_engine e = {srv.store, cfg.server_name, &srv.signing_key, cfg.default_room_version, srv.notifier};
    double t0 = bs_now_s();
    for (int i = 0; i < ROOMS; i++) {
        json_t *req = json_pack("{ss}", "preset", "public_chat");
        hs_room_result res;
        char *rid = NULL;
        if (hs_room_create(&e, alice, req, bs_wall_ms(), &rid, &res) != HS_ROOM_OK ||
            hs_room_membership(&e, rid, bob, bob, "join", bs_wall_ms(), NULL, &res) != HS_ROOM_OK)
            return 1;
        for (int k = 0; k < EVENTS; k++) {
            json_t *content = json_pack("{ssss}", "msgtype", "m.text", "body", "hello");
            if (hs_room_send(&e, rid, k % 2 ? alice : bob, "m.room.message", NULL, content, NULL, bs_wall_ms(), NULL,
                             &res) != HS_ROOM_OK)
                return 1;
            json_decref(content);
        }
        json_decref(req);
        free(rid);
    }
    printf("setup: %d more rooms of %d messages in %.1f s\n", ROOMS, EVENTS, bs_now_s() - t0);
    t0 = bs_now_s();
    char token[256] = "";
    for (int i = 0; i < ROUNDS; i++) {
        j = call(c, recv_token, "GET", "/_matrix/client/v3/sync", NULL);
        size_t n = json_object_size(json_object_get(json_object_get(j, "rooms"), "join"));
        if (n != ROOMS + 1) {
            fprintf(stderr, "initial sync has %zu rooms\n", n);
            return 1;
        }
        snprintf(token, sizeof token, "%s", json_string_value(json_object_get(j, "next_batch")));
        json_decref(j);
    }
    printf("initial /sync, %d joined rooms (timeline limit 10):     %8.2f ms\n", ROOMS + 1,
           (bs_now_s() - t0) * 1e3 / ROUNDS);
    char e2[256];
    snprintf(path, sizeof path, "/_matrix/client/v3/sync?timeout=0&since=%s", bs_enc(token, e2, sizeof e2));
    t0 = bs_now_s();
    for (int i = 0; i < ROUNDS * 10; i++) {
        j = call(c, recv_token, "GET", path, NULL);
        if (json_object_size(json_object_get(json_object_get(j, "rooms"), "join")) != 0) return 1;
        json_decref(j);
    }
    printf("incremental /sync with nothing new, %d joined rooms:      %8.2f ms\n", ROOMS + 1,
           (bs_now_s() - t0) * 1e3 / (ROUNDS * 10));
    curl_easy_cleanup(c);
    curl_global_cleanup();
    return bs_server_close(&srv, dir);
}
