/* bench_hs_search: POST /search on a server with many messages. A real server (scratch
 * store, no listeners; requests go through the client router) gets ROOMS rooms with
 * MESSAGES messages in all, each of three words drawn from a vocabulary of VOCAB words
 * plus a rare word in RARE messages. It times the first search (which indexes every
 * message into FTS5), one message sent and searched again (the incremental catch-up),
 * then searches for the rare word, a common word (rank and recent, first page of 10),
 * a common word with event context, and a page deep into recent results. Each answer is
 * checked for the expected count. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server-core/hs_accounts.h"
#include "server-core/hs_room.h"
#include "server-core/hs_server.h"
#include "bench/bench_support.h"

#define ROOMS 10
#define MESSAGES 10000
#define VOCAB 200
#define RARE 5
#define ROUNDS 20

static hs_server srv;
static char auth_header[200];

static json_t *search(const char *criteria, const char *next_batch)
{
    char body[1024], target[256];
    snprintf(body, sizeof body, "{\"search_categories\":{\"room_events\":{%s}}}", criteria);
    snprintf(target, sizeof target, "/_matrix/client/v3/search%s%s", next_batch ? "?next_batch=" : "",
             next_batch ? next_batch : "");
    json_t *j = bs_request(&srv, auth_header, "POST", target, body, strlen(body));
    json_t *re = json_incref(json_object_get(json_object_get(j, "search_categories"), "room_events"));
    json_decref(j);
    return re;
}

static void check(const char *label, json_t *re, long long count, size_t results)
{
    long long c = json_integer_value(json_object_get(re, "count"));
    size_t r = json_array_size(json_object_get(re, "results"));
    if ((count >= 0 && c != count) || r != results) {
        fprintf(stderr, "%s: count %lld results %zu, want %lld / %zu\n", label, c, r, count, results);
        exit(1);
    }
}

static void timed(const char *label, const char *criteria, const char *next_batch, long long count, size_t results)
{
    double t0 = bs_now_s();
    for (int i = 0; i < ROUNDS; i++) {
        json_t *re = search(criteria, next_batch);
        check(label, re, count, results);
        json_decref(re);
    }
    printf("%-56s %8.2f ms/request\n", label, (bs_now_s() - t0) * 1e3 / ROUNDS);
}

static int send_text(const hs_room_engine *e, const char *room, const char *sender, const char *text)
{
    json_t *c = json_pack("{ss ss}", "msgtype", "m.text", "body", text);
    hs_room_result res;
    hs_room_status st = hs_room_send(e, room, sender, "m.room.message", NULL, c, NULL, bs_wall_ms(), NULL, &res);
    json_decref(c);
    if (st != HS_ROOM_OK) fprintf(stderr, "send: %s\n", res.msg);
    return st == HS_ROOM_OK ? 0 : -1;
}

int main(void)
{
    char dir[] = "/tmp/bench_hs_search.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    hs_config cfg;
    bs_config(&cfg);
    if (bs_server_open(&srv, &cfg, dir) != 0) return 1;
    char user[HS_STORE_ID_MAX];
    if (hs_accounts_register(srv.store, cfg.server_name, "searcher", NULL, false, bs_wall_ms(), user) != HS_ACCOUNTS_OK)
        return 1;
    hs_accounts_session s;
    if (hs_accounts_login(srv.store, user, NULL, "bench", "127.0.0.1", bs_wall_ms(), &s) != HS_ACCOUNTS_OK) return 1;
    snprintf(auth_header, sizeof auth_header, "Bearer %s", s.access_token);
    hs_room_engine e = {srv.store, cfg.server_name, &srv.signing_key, cfg.default_room_version, srv.notifier};
    char *rooms[ROOMS];
    json_t *req = json_loads("{\"preset\":\"private_chat\"}", 0, NULL);
    for (int i = 0; i < ROOMS; i++) {
        hs_room_result res;
        if (hs_room_create(&e, user, req, bs_wall_ms(), &rooms[i], &res) != HS_ROOM_OK) return 1;
    }
    json_decref(req);
    double t0 = bs_now_s();
    srand(42);
    int word0 = 0;
    for (int i = 0; i < MESSAGES; i++) {
        char text[128];
        int a = i % VOCAB, b = rand() % VOCAB, c = rand() % VOCAB;
        if (a == 0 || b == 0 || c == 0) word0++;
        snprintf(text, sizeof text, "w%03d w%03d w%03d%s", a, b, c, i % (MESSAGES / RARE) == 7 ? " zebra" : "");
        if (send_text(&e, rooms[i % ROOMS], user, text) != 0) return 1;
    }
    printf("setup: %d rooms, %d messages in %.1f s\n", ROOMS, MESSAGES, bs_now_s() - t0);

    t0 = bs_now_s();
    json_t *re = search("\"search_term\":\"zebra\"", NULL);
    check("first search", re, RARE, RARE);
    json_decref(re);
    printf("%-56s %8.2f ms\n", "first search (indexes every message)", (bs_now_s() - t0) * 1e3);
    if (send_text(&e, rooms[0], user, "one more zebra") != 0) return 1;
    t0 = bs_now_s();
    re = search("\"search_term\":\"zebra\"", NULL);
    check("after one more message", re, RARE + 1, RARE + 1);
    json_decref(re);
    printf("%-56s %8.2f ms\n", "search after one new message (incremental index)", (bs_now_s() - t0) * 1e3);

    timed("rare word, rank (6 hits)", "\"search_term\":\"zebra\"", NULL, RARE + 1, RARE + 1);
    timed("common word w000, rank, first 10", "\"search_term\":\"w000\"", NULL, word0, 10);
    timed("common word w000, recent, first 10", "\"search_term\":\"w000\",\"order_by\":\"recent\"", NULL, word0, 10);
    timed("common word w000, recent, 10 with context 5+5 + profiles",
          "\"search_term\":\"w000\",\"order_by\":\"recent\",\"event_context\":{\"include_profile\":true}", NULL,
          word0, 10);
    char deep[32];
    snprintf(deep, sizeof deep, "t%d", MESSAGES / 2);
    timed("common word w000, recent, page from the middle", "\"search_term\":\"w000\",\"order_by\":\"recent\"", deep,
          word0, 10);
    timed("two words, one a prefix ('zebra w00'), rank", "\"search_term\":\"zebra w00\"", NULL, RARE, RARE);
    for (int i = 0; i < ROOMS; i++) free(rooms[i]);
    return bs_server_close(&srv, dir);
}
