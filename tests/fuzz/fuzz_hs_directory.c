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

static char room_path[128];   /* the fuzzer's room, percent-encoded */

static void setup(void)
{
    hs_config cfg;
    fz_config(&cfg);
    fz_server_open("fuzz_hs_directory", &cfg);
    json_decref(fz_register(FZ_REGISTER_FUZZER));
    json_t *j = fz_request("POST", "/_matrix/client/v3/createRoom",
                           "{\"preset\":\"public_chat\",\"visibility\":\"public\"}", 200);
    fz_enc(json_string_value(json_object_get(j, "room_id")), room_path, sizeof room_path);
    json_decref(j);
}

static void expect_status(const char *method, const char *target, int want)
{
    hs_response resp = {0};
    fz_dispatch(method, target, NULL, 0, &resp);
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
    fz_send_checked(method, target, data + 1, size - 1, true);
    expect_status("GET", "/_matrix/client/v3/profile/%40fuzzer%3Afuzz.test", 200);
    expect_status("GET", "/_matrix/client/v3/publicRooms", 200);
    return 0;
}
