/* Fuzz target: arbitrary request bodies and queries into the rooms endpoints
 * (createRoom, send, state, invite, join, kick, unban, redact; messages, context,
 * members, relations, threads, timestamp_to_event, joined_members) of a real server
 * (store in a temporary directory, no listeners) through its client router. The first
 * byte picks the endpoint; for the reads the rest becomes the query string (pagination
 * tokens, filters, membership filters). Every request must get a status and a JSON
 * answer, and the room the fuzzer writes into must stay readable. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz/fuzz_server.h"

static char room_path[128];   /* the fuzzed room, percent-encoded */
static char event_path[128];  /* an event in it, percent-encoded */

static void setup(void)
{
    hs_config cfg;
    fz_config(&cfg);
    fz_server_open("fuzz_hs_rooms", &cfg);
    json_decref(fz_register(FZ_REGISTER_FUZZER));
    json_t *j = fz_request("POST", "/_matrix/client/v3/createRoom", "{\"preset\":\"public_chat\"}", 200);
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
    char target[512];
    const char *method = "PUT";
    static unsigned txn;
    const char *read = NULL;
    switch (data[0] % 15) {
    case 0: method = "POST"; snprintf(target, sizeof target, "/_matrix/client/v3/createRoom"); break;
    case 1:
        snprintf(target, sizeof target, "/_matrix/client/v3/rooms/%s/send/m.room.message/t%u", room_path, txn++);
        break;
    case 2: snprintf(target, sizeof target, "/_matrix/client/v3/rooms/%s/state/org.fuzz/k", room_path); break;
    case 3: method = "POST"; snprintf(target, sizeof target, "/_matrix/client/v3/rooms/%s/invite", room_path); break;
    case 4: method = "POST"; snprintf(target, sizeof target, "/_matrix/client/v3/join/%s", room_path); break;
    case 5: method = "POST"; snprintf(target, sizeof target, "/_matrix/client/v3/rooms/%s/kick", room_path); break;
    case 6: method = "POST"; snprintf(target, sizeof target, "/_matrix/client/v3/rooms/%s/unban", room_path); break;
    case 7:
        /* redacts the seed event's neighbours, never the room's state it needs */
        snprintf(target, sizeof target, "/_matrix/client/v3/rooms/%s/redact/%s/r%u", room_path, event_path, txn++);
        break;
    case 8: read = "messages"; break;
    case 9: read = "members"; break;
    case 10: read = "context/"; break;
    case 11: read = "relations/"; break;
    case 12: read = "threads"; break;
    case 13: read = "timestamp_to_event"; break;
    default: read = "joined_members"; break;
    }
    if (read) {
        /* The input (printable bytes only, as a URL would carry) is the query string. */
        char q[256];
        size_t n = 0;
        for (size_t i = 1; i < size && n + 1 < sizeof q; i++)
            if (data[i] > 0x20 && data[i] < 0x7f && data[i] != '#') q[n++] = (char)data[i];
        q[n] = 0;
        bool per_event = read[strlen(read) - 1] == '/';
        /* threads and timestamp_to_event exist on v1 only */
        bool v1 = strcmp(read, "threads") == 0 || strcmp(read, "timestamp_to_event") == 0;
        snprintf(target, sizeof target, "/_matrix/client/%s/rooms/%s/%s%s?%s", v1 ? "v1" : "v3", room_path, read,
                 per_event ? event_path : "", q);
        method = "GET";
        size = 1;
    }
    fz_send_checked(method, target, data + 1, size - 1, true);
    hs_response resp = {0};
    /* A kick of oneself is a leave; the public room takes the fuzzer back. */
    snprintf(target, sizeof target, "/_matrix/client/v3/rooms/%s/state", room_path);
    fz_dispatch("GET", target, NULL, 0, &resp);
    if (resp.status == 403) {
        hs_response_clear(&resp);
        char join[256];
        snprintf(join, sizeof join, "/_matrix/client/v3/join/%s", room_path);
        fz_dispatch("POST", join, (const uint8_t *)"{}", 2, &resp);
        hs_response_clear(&resp);
        fz_dispatch("GET", target, NULL, 0, &resp);
    }
    if (resp.status != 200) abort();
    hs_response_clear(&resp);
    return 0;
}
