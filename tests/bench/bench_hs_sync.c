/* bench_hs_sync: sync latency as a user sees it — one client sends a message over HTTP,
 * another client's long-polling /sync (already waiting) returns with it; the time from
 * starting the send to the sync's answer, median and p99 over MESSAGES sends. Then the
 * cost of a whole initial /sync for a user in ROOMS rooms of EVENTS messages each, and of
 * an incremental /sync with nothing new. A real server in this process on loopback;
 * libcurl clients on keep-alive connections. Each answer is checked.
 *
 * Then the memory of one initial /sync for a user in many rooms (BENCH_SYNC_ROOMS, default
 * 2000, of 10 messages each): the growth of the process's peak RSS (VmHWM, reset through
 * /proc/self/clear_refs just before) while the client router builds the answer, next to
 * the answer's size, and the time it takes. `bench_hs_sync N` runs only that part, for N
 * rooms. */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server-core/hs_accounts.h"
#include "server-core/hs_api_sync.h"
#include "server-core/hs_http.h"
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

/* ---- memory of one initial sync in many rooms -------------------------------------- */

/* A /proc/self/status field in kB, -1 when unreadable. */
static long status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':') kb = strtol(line + n + 1, NULL, 10);
    fclose(f);
    return kb;
}

/* Resets VmHWM to the current RSS (Linux: "5" into clear_refs); false when refused. */
static bool reset_peak(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return false;
    bool ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

/* `rooms` rooms of 10 messages that a new user is in, then one initial /sync of theirs
 * through the client router, measured. Returns 0, or 1 on a failed setup or answer. */
static int initial_sync_memory(hs_config *cfg, long rooms)
{
    hs_room_engine e = {srv.store, cfg->server_name, &srv.signing_key, cfg->default_room_version, srv.notifier};
    char owner[HS_STORE_ID_MAX], user[HS_STORE_ID_MAX], owner_token[256], token[256];
    bs_login(&srv, "mem_owner", owner, owner_token);
    bs_login(&srv, "mem_user", user, token);
    double t0 = bs_now_s();
    for (long i = 0; i < rooms; i++) {
        json_t *req = json_pack("{ss}", "preset", "public_chat");
        hs_room_result res;
        char *rid = NULL;
        if (hs_room_create(&e, owner, req, bs_wall_ms(), &rid, &res) != HS_ROOM_OK ||
            hs_room_membership(&e, rid, user, user, "join", bs_wall_ms(), NULL, &res) != HS_ROOM_OK)
            return 1;
        json_decref(req);
        for (int k = 0; k < 10; k++) {
            json_t *content = json_pack("{ssss}", "msgtype", "m.text", "body", "hello, this is a message");
            if (hs_room_send(&e, rid, k % 2 ? owner : user, "m.room.message", NULL, content, NULL, bs_wall_ms(), NULL,
                             &res) != HS_ROOM_OK)
                return 1;
            json_decref(content);
        }
        free(rid);
    }
    printf("setup: %ld rooms of 10 messages for the memory run in %.1f s\n", rooms, bs_now_s() - t0);

    char auth[300];
    snprintf(auth, sizeof auth, "Bearer %s", token);
    hs_kv headers[1] = {{"Authorization", auth}};
    hs_request req = {.method = "GET", .headers = headers, .n_headers = 1, .remote_addr = "127.0.0.1"};
    hs_response resp = {0};
    if (hs_request_parse_target(&req, "/_matrix/client/v3/sync") != 0) return 1;
    long rss0 = status_kb("VmRSS");
    bool peak_ok = reset_peak();
    t0 = bs_now_s();
    hs_router_dispatch(srv.client_router, &req, &resp);
    double took = bs_now_s() - t0;
    long hwm = status_kb("VmHWM");
    hs_request_clear(&req);
    json_t *j = resp.status == 200 ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
    size_t n = json_object_size(json_object_get(json_object_get(j, "rooms"), "join"));
    /* The text must be what jansson writes for its own parse: the answer is assembled
     * room by room, and must read exactly as a dump of one whole tree would. */
    char *again = j ? json_dumps(j, JSON_COMPACT) : NULL;
    bool same = again && strlen(again) == resp.body_len && memcmp(again, resp.body, resp.body_len) == 0;
    free(again);
    json_decref(j);
    if (!same) {
        fprintf(stderr, "initial sync of the memory run is not jansson's compact text of itself\n");
        return 1;
    }
    size_t len = resp.body_len;
    hs_response_clear(&resp);
    if (n != (size_t)rooms) {
        fprintf(stderr, "initial sync of the memory run has %zu joined rooms, not %ld\n", n, rooms);
        return 1;
    }
    if (peak_ok && rss0 >= 0 && hwm >= 0)
        printf("initial /sync, %ld joined rooms: %.1f MB answer, peak RSS +%.1f MB (%.1fx the answer), %.2f s\n",
               rooms, len / 1e6, (hwm - rss0) / 1e3, (hwm - rss0) * 1e3 / (double)len, took);
    else
        printf("initial /sync, %ld joined rooms: %.1f MB answer, %.2f s (peak RSS not measurable here)\n", rooms,
               len / 1e6, took);
    return 0;
}

int main(int argc, char **argv)
{
    const char *n_text = argc > 1 ? argv[1] : getenv("BENCH_SYNC_ROOMS");
    long mem_rooms = n_text ? strtol(n_text, NULL, 10) : 2000;
    if (mem_rooms < 1) {
        fprintf(stderr, "usage: bench_hs_sync [ROOMS]  (rooms for the memory run, default 2000)\n");
        return 2;
    }
    char dir[] = "/tmp/bench_hs_sync.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    hs_config cfg;
    bs_config(&cfg);
    if (bs_server_open(&srv, &cfg, dir) != 0) return 1;
    if (argc > 1) {
        int rc = initial_sync_memory(&cfg, mem_rooms);
        bs_server_close(&srv, dir);
        return rc;
    }
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
    if (initial_sync_memory(&cfg, mem_rooms) != 0) return 1;
    return bs_server_close(&srv, dir);
}
