/* Fuzz target: arbitrary bodies and queries into the directory area's endpoints of a
 * real server (store in a temporary directory, no listeners) through its client router:
 * display name and avatar PUTs, alias PUT, directory visibility PUT, POST and GET
 * /publicRooms and the user directory search. The first byte picks the endpoint; for
 * GET /publicRooms the rest becomes the query string. Every request must get a status
 * and a JSON object, and the user's profile and the public room list must stay readable. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz/fuzz_server.h"

static char token_header[160];
static char room_path[128];   /* the fuzzer's room, percent-encoded */

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

static json_t *post_json(const char *target, const char *body)
{
    hs_response resp = {0};
    dispatch("POST", target, (const uint8_t *)body, strlen(body), &resp);
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
    fz_server_open("fuzz_hs_directory", &cfg);
    json_t *j = post_json("/_matrix/client/v3/register",
                          "{\"username\":\"fuzzer\",\"password\":\"pw\",\"auth\":{\"type\":\"m.login.dummy\"}}");
    snprintf(token_header, sizeof token_header, "Bearer %s", json_string_value(json_object_get(j, "access_token")));
    json_decref(j);
    j = post_json("/_matrix/client/v3/createRoom", "{\"preset\":\"public_chat\",\"visibility\":\"public\"}");
    const char *room = json_string_value(json_object_get(j, "room_id"));
    size_t o = 0;
    for (const char *p = room; *p && o + 4 < sizeof room_path; p++) {
        if (*p == '!' || *p == ':') o += (size_t)snprintf(room_path + o, sizeof room_path - o, "%%%02X", *p);
        else room_path[o++] = *p;
    }
    json_decref(j);
}

static void expect_status(const char *method, const char *target, int want)
{
    hs_response resp = {0};
    dispatch(method, target, NULL, 0, &resp);
    if (resp.status != want) abort();
    hs_response_clear(&resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!srv.store) setup();
    if (size < 1 || size > 70000) return 0;
    char target[512];
    const char *method = "PUT";
    static unsigned n_alias;
    switch (data[0] % 7) {
    case 0: snprintf(target, sizeof target, "/_matrix/client/v3/profile/%%40fuzzer%%3Afuzz.test/displayname"); break;
    case 1: snprintf(target, sizeof target, "/_matrix/client/v3/profile/%%40fuzzer%%3Afuzz.test/avatar_url"); break;
    case 2: snprintf(target, sizeof target, "/_matrix/client/v3/directory/room/%%23a%u%%3Afuzz.test", n_alias++); break;
    case 3: snprintf(target, sizeof target, "/_matrix/client/v3/directory/list/room/%s", room_path); break;
    case 4: method = "POST"; snprintf(target, sizeof target, "/_matrix/client/v3/publicRooms"); break;
    case 5: method = "POST"; snprintf(target, sizeof target, "/_matrix/client/v3/user_directory/search"); break;
    default: {
        /* The input (printable bytes only, as a URL would carry) is the query string. */
        char q[256];
        size_t n = 0;
        for (size_t i = 1; i < size && n + 1 < sizeof q; i++)
            if (data[i] > 0x20 && data[i] < 0x7f && data[i] != '#') q[n++] = (char)data[i];
        q[n] = 0;
        snprintf(target, sizeof target, "/_matrix/client/v3/publicRooms?%s", q);
        method = "GET";
        size = 1;
    }
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
    expect_status("GET", "/_matrix/client/v3/profile/%40fuzzer%3Afuzz.test", 200);
    expect_status("GET", "/_matrix/client/v3/publicRooms", 200);
    return 0;
}
