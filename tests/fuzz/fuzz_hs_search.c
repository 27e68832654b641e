/* Fuzz target: arbitrary bodies into POST /search of a real server (store in a scratch
 * directory, no listeners) whose one user is in a room with a few messages, so the FTS5
 * query, paging, context and grouping paths all run. The first byte picks a next_batch
 * token (none, rank or recent, or garbage), the rest is the body. Every request must be
 * answered 200 or 400 with JSON; a 200 must carry a results list and an integer count,
 * and the search term can never break out into FTS5 syntax (that would be a 500). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz_server.h"

static char token_header[160];
static char room_target[512];

static void dispatch(const char *method, const char *target, const uint8_t *body, size_t len, hs_response *resp)
{
    hs_kv headers[2] = {{"Authorization", token_header}, {"Content-Type", "application/json"}};
    hs_request req = {.method = method, .headers = headers, .n_headers = 2, .body = body, .body_len = len,
                      .remote_addr = "127.0.0.1"};
    if (hs_request_parse_target(&req, target) != 0) abort();
    hs_router_dispatch(srv.client_router, &req, resp);
    hs_request_clear(&req);
}

static json_t *request(const char *method, const char *target, const char *body, int want)
{
    hs_response resp = {0};
    dispatch(method, target, (const uint8_t *)body, body ? strlen(body) : 0, &resp);
    json_t *j = resp.status == want ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
    hs_response_clear(&resp);
    if (!j) abort();
    return j;
}

static void setup(void)
{
    hs_config cfg;
    hs_config_defaults(&cfg);
    snprintf(cfg.server_name, sizeof cfg.server_name, "fuzz.test");
    cfg.registration_enabled = true;
    cfg.rate_limits_enabled = false;
    fz_server_open("fuzz_hs_search", &cfg);
    json_t *j = request("POST", "/_matrix/client/v3/register",
                        "{\"username\":\"fuzzer\",\"password\":\"pw\",\"auth\":{\"type\":\"m.login.dummy\"}}", 200);
    snprintf(token_header, sizeof token_header, "Bearer %s", json_string_value(json_object_get(j, "access_token")));
    json_decref(j);
    j = request("POST", "/_matrix/client/v3/createRoom", "{\"name\":\"fuzz room\",\"topic\":\"a topic\"}", 200);
    const char *room = json_string_value(json_object_get(j, "room_id"));
    static const char *const texts[] = {"hello world", "hello again", "the quick brown fox", "world peace",
                                        "fox and hello"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char body[128];
        snprintf(room_target, sizeof room_target, "/_matrix/client/v3/rooms/%s/send/m.room.message/t%zu", room, i);
        snprintf(body, sizeof body, "{\"msgtype\":\"m.text\",\"body\":\"%s\"}", texts[i]);
        json_decref(request("PUT", room_target, body, 200));
    }
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        setup();
        ready = 1;
    }
    if (size < 1 || size > 8192) return 0;
    static const char *const targets[] = {
        "/_matrix/client/v3/search",
        "/_matrix/client/v3/search?next_batch=r1",
        "/_matrix/client/v3/search?next_batch=t3",
        "/_matrix/client/v3/search?next_batch=x%22",
    };
    hs_response resp = {0};
    dispatch("POST", targets[data[0] % 4], data + 1, size - 1, &resp);
    json_t *j = json_loadb(resp.body, resp.body_len, 0, NULL);
    if (!j || (resp.status != 200 && resp.status != 400)) abort();
    if (resp.status == 200) {
        json_t *re = json_object_get(json_object_get(j, "search_categories"), "room_events");
        if (!json_is_array(json_object_get(re, "results")) || !json_is_integer(json_object_get(re, "count")))
            abort();
    }
    json_decref(j);
    hs_response_clear(&resp);
    return 0;
}
