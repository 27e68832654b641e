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

static char room_target[512];

static void setup(void)
{
    hs_config cfg;
    fz_config(&cfg);
    fz_server_open("fuzz_hs_search", &cfg);
    json_t *j = fz_register(FZ_REGISTER_FUZZER);
    json_decref(j);
    j = fz_request("POST", "/_matrix/client/v3/createRoom", "{\"name\":\"fuzz room\",\"topic\":\"a topic\"}", 200);
    const char *room = json_string_value(json_object_get(j, "room_id"));
    static const char *const texts[] = {"hello world", "hello again", "the quick brown fox", "world peace",
                                        "fox and hello"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char body[128];
        snprintf(room_target, sizeof room_target, "/_matrix/client/v3/rooms/%s/send/m.room.message/t%zu", room, i);
        snprintf(body, sizeof body, "{\"msgtype\":\"m.text\",\"body\":\"%s\"}", texts[i]);
        json_decref(fz_request("PUT", room_target, body, 200));
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
    fz_dispatch("POST", targets[data[0] % 4], data + 1, size - 1, &resp);
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
