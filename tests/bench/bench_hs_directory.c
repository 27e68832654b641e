/* bench_hs_directory: how the directory's read endpoints scale with a server's size.
 * A real server (scratch store, no listeners; requests go through the client router)
 * gets USERS users and ROOMS published public rooms with names and topics, each user
 * joined to a few rooms; then it times GET /publicRooms (first page of 20: every
 * published room is summarised and sorted per request), a POST /publicRooms search, and
 * POST /user_directory/search for a term matching one user and one matching all. Each
 * answer is checked for the expected number of entries. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server-core/hs_accounts.h"
#include "server-core/hs_room.h"
#include "server-core/hs_server.h"
#include "bench/bench_support.h"

#define USERS 500
#define ROOMS 1000
#define ROUNDS 20

static hs_server srv;
static char auth_header[200];

/* Runs the request ROUNDS times; prints the mean and checks the size of `key`. */
static void timed(const char *label, const char *method, const char *target, const char *body, const char *key,
                  size_t want)
{
    double t0 = bs_now_s();
    for (int i = 0; i < ROUNDS; i++) {
        json_t *j = bs_request(&srv, auth_header, method, target, body, body ? strlen(body) : 0);
        size_t got = json_array_size(json_object_get(j, key));
        if (got != want) {
            fprintf(stderr, "%s: %zu entries, want %zu\n", label, got, want);
            exit(1);
        }
        json_decref(j);
    }
    printf("%-52s %8.2f ms/request\n", label, (bs_now_s() - t0) * 1e3 / ROUNDS);
}

int main(void)
{
    char dir[] = "/tmp/bench_hs_directory.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    hs_config cfg;
    bs_config(&cfg);
    if (bs_server_open(&srv, &cfg, dir) != 0) return 1;
    static char users[USERS][HS_STORE_ID_MAX];
    double t0 = bs_now_s();
    for (int i = 0; i < USERS; i++) {
        char lp[32];
        snprintf(lp, sizeof lp, "user%03d", i);
        /* No password: argon2id per user would dominate the setup. */
        if (hs_accounts_register(srv.store, cfg.server_name, lp, NULL, false, bs_wall_ms(), users[i]) != HS_ACCOUNTS_OK)
            return 1;
    }
    hs_accounts_session s;
    if (hs_accounts_login(srv.store, users[0], NULL, "bench", "127.0.0.1", bs_wall_ms(), &s) != HS_ACCOUNTS_OK) return 1;
    snprintf(auth_header, sizeof auth_header, "Bearer %s", s.access_token);
    hs_room_engine e = {srv.store, cfg.server_name, &srv.signing_key, cfg.default_room_version, srv.notifier};
    for (int i = 0; i < ROOMS; i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"preset\":\"public_chat\",\"visibility\":\"public\",\"name\":\"room %04d\",\"topic\":\"t%d\"}", i,
                 i);
        json_t *req = json_loads(body, 0, NULL);
        hs_room_result res;
        char *room_id = NULL;
        if (hs_room_create(&e, users[i % USERS], req, bs_wall_ms(), &room_id, &res) != HS_ROOM_OK) {
            fprintf(stderr, "createRoom: %s\n", res.msg);
            return 1;
        }
        /* Two more members per room, so rooms differ little in size (a realistic sort). */
        for (int k = 1; k <= 2; k++)
            if (hs_room_membership(&e, room_id, users[(i + 37 * k) % USERS], users[(i + 37 * k) % USERS], "join",
                                   bs_wall_ms(), NULL, &res) != HS_ROOM_OK)
                return 1;
        json_decref(req);
        free(room_id);
    }
    printf("setup: %d users, %d public rooms (3 members each) in %.1f s\n", USERS, ROOMS, bs_now_s() - t0);

    timed("GET /publicRooms?limit=20", "GET", "/_matrix/client/v3/publicRooms?limit=20", NULL, "chunk", 20);
    timed("POST /publicRooms search 'room 0042'", "POST", "/_matrix/client/v3/publicRooms",
          "{\"filter\":{\"generic_search_term\":\"room 0042\"}}", "chunk", 1);
    timed("POST /user_directory/search 'user042' (1 match)", "POST", "/_matrix/client/v3/user_directory/search",
          "{\"search_term\":\"user042\"}", "results", 1);
    timed("POST /user_directory/search 'user' (limit 10 of 500)", "POST", "/_matrix/client/v3/user_directory/search",
          "{\"search_term\":\"user\"}", "results", 10);
    return bs_server_close(&srv, dir);
}
