/* Fuzz target: arbitrary bytes into the sync area's endpoints of a real server (scratch
 * store, no listeners, client router called directly): /sync query strings (since,
 * filter, full_state, set_presence, timeout), filter uploads, account data (global and
 * per room), typing, receipts, read markers and presence bodies. The first byte picks
 * the endpoint. Every request must get a status and a JSON object, and an incremental
 * /sync from the last token must keep working. limits.max_long_polls is 0 so no /sync
 * ever waits. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz_server.h"

static char user_path[128], room_path[128], event_path[128];
static char since[256] = "s0";

static void setup(void)
{
    hs_config cfg;
    fz_config(&cfg);
    cfg.max_long_polls = 0;
    fz_server_open("fuzz_hs_sync", &cfg);
    json_t *j = fz_register(FZ_REGISTER_FUZZER);
    fz_enc(json_string_value(json_object_get(j, "user_id")), user_path, sizeof user_path);
    json_decref(j);
    j = fz_request("POST", "/_matrix/client/v3/createRoom", "{\"preset\":\"public_chat\"}", 200);
    fz_enc(json_string_value(json_object_get(j, "room_id")), room_path, sizeof room_path);
    json_decref(j);
    char target[256];
    snprintf(target, sizeof target, "/_matrix/client/v3/rooms/%s/send/m.room.message/seed", room_path);
    j = fz_request("PUT", target, "{\"body\":\"seed\"}", 200);
    fz_enc(json_string_value(json_object_get(j, "event_id")), event_path, sizeof event_path);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!srv.store) setup();
    if (size < 1 || size > 70000) return 0;
    char target[1024];
    const char *method = "PUT";
    bool query = false;
    switch (data[0] % 10) {
    case 0: query = true; snprintf(target, sizeof target, "/_matrix/client/v3/sync?"); break;
    case 1: method = "POST"; snprintf(target, sizeof target, "/_matrix/client/v3/user/%s/filter", user_path); break;
    case 2: snprintf(target, sizeof target, "/_matrix/client/v3/user/%s/account_data/org.fuzz", user_path); break;
    case 3:
        snprintf(target, sizeof target, "/_matrix/client/v3/user/%s/rooms/%s/account_data/m.tag", user_path,
                 room_path);
        break;
    case 4: snprintf(target, sizeof target, "/_matrix/client/v3/rooms/%s/typing/%s", room_path, user_path); break;
    case 5:
        method = "POST";
        snprintf(target, sizeof target, "/_matrix/client/v3/rooms/%s/receipt/m.read/%s", room_path, event_path);
        break;
    case 6: method = "POST"; snprintf(target, sizeof target, "/_matrix/client/v3/rooms/%s/read_markers", room_path); break;
    case 7: snprintf(target, sizeof target, "/_matrix/client/v3/presence/%s/status", user_path); break;
    case 8:
        query = true;
        method = "GET";
        snprintf(target, sizeof target, "/_matrix/client/v3/user/%s/filter/", user_path);
        break;
    default:
        query = true;
        method = "GET";
        snprintf(target, sizeof target, "/_matrix/client/v3/sync?since=%s&", since);
        break;
    }
    if (query) {
        /* printable bytes only, as a URL would carry */
        size_t n = strlen(target);
        for (size_t i = 1; i < size && n + 1 < sizeof target; i++)
            if (data[i] > 0x20 && data[i] < 0x7f && data[i] != '#') target[n++] = (char)data[i];
        target[n] = 0;
        method = "GET";
        size = 1;
    }
    fz_send_checked(method, target, data + 1, size - 1, true);
    /* whatever was written, the next incremental sync still answers */
    char next[512];
    snprintf(next, sizeof next, "/_matrix/client/v3/sync?timeout=0&since=%s", since);
    json_t *j = fz_request("GET", next, NULL, 200);
    const char *nb = json_string_value(json_object_get(j, "next_batch"));
    if (!nb || strlen(nb) >= sizeof since) abort();
    snprintf(since, sizeof since, "%s", nb);
    json_decref(j);
    return 0;
}
