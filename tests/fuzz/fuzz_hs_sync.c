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

static char token_header[160];
static char user_path[128], room_path[128], event_path[128];
static char since[256] = "s0";

static void percent_encode(const char *id, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *p = id; *p && o + 4 < cap; p++) {
        if (strchr("!:$/+@", *p)) o += (size_t)snprintf(out + o, cap - o, "%%%02X", *p);
        else out[o++] = *p;
    }
    out[o] = 0;
}

static void dispatch(const char *method, const char *target, const uint8_t *body, size_t len, hs_response *resp)
{
    hs_kv headers[2] = {{"Authorization", token_header}, {"Content-Type", "application/json"}};
    hs_request req = {.method = method, .headers = headers, .n_headers = 2, .body = body, .body_len = len,
                      .remote_addr = "127.0.0.1"};
    if (hs_request_parse_target(&req, target) != 0) {
        resp->status = 400;
        return;
    }
    hs_router_dispatch(srv.client_router, &req, resp);
    hs_request_clear(&req);
}

static json_t *call_json(const char *method, const char *target, const char *body)
{
    hs_response resp = {0};
    dispatch(method, target, (const uint8_t *)body, body ? strlen(body) : 0, &resp);
    json_t *j = resp.status == 200 ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
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
    cfg.max_long_polls = 0;
    fz_server_open("fuzz_hs_sync", &cfg);
    json_t *j = call_json("POST", "/_matrix/client/v3/register",
                          "{\"username\":\"fuzzer\",\"password\":\"pw\",\"auth\":{\"type\":\"m.login.dummy\"}}");
    snprintf(token_header, sizeof token_header, "Bearer %s", json_string_value(json_object_get(j, "access_token")));
    percent_encode(json_string_value(json_object_get(j, "user_id")), user_path, sizeof user_path);
    json_decref(j);
    j = call_json("POST", "/_matrix/client/v3/createRoom", "{\"preset\":\"public_chat\"}");
    percent_encode(json_string_value(json_object_get(j, "room_id")), room_path, sizeof room_path);
    json_decref(j);
    char target[256];
    snprintf(target, sizeof target, "/_matrix/client/v3/rooms/%s/send/m.room.message/seed", room_path);
    j = call_json("PUT", target, "{\"body\":\"seed\"}");
    percent_encode(json_string_value(json_object_get(j, "event_id")), event_path, sizeof event_path);
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
    hs_response resp = {0};
    dispatch(method, target, data + 1, size - 1, &resp);
    if (resp.status < 200 || resp.status > 599) abort();
    if (resp.body_len) {
        json_t *j = json_loadb(resp.body, resp.body_len, 0, NULL);
        if (!json_is_object(j)) abort();
        json_decref(j);
    }
    hs_response_clear(&resp);
    /* whatever was written, the next incremental sync still answers */
    char next[512];
    snprintf(next, sizeof next, "/_matrix/client/v3/sync?timeout=0&since=%s", since);
    json_t *j = call_json("GET", next, NULL);
    const char *nb = json_string_value(json_object_get(j, "next_batch"));
    if (!nb || strlen(nb) >= sizeof since) abort();
    snprintf(since, sizeof since, "%s", nb);
    json_decref(j);
    return 0;
}
