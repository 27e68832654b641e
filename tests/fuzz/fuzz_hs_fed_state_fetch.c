/* Fuzz target: arbitrary answers of another server to hs_fed_state_fetch, for a room of
 * a real server (store in a scratch directory, no listeners). The input is split at
 * newlines: the first line is the /state_ids answer, the last the /state answer, the
 * lines between answer the /event requests in the order they come (cycling; none left:
 * 404). To reach the store and /event paths at all, an answer that is an object with a
 * pdu_ids list also names the room's current state events (held here). Any other
 * request (key fetches) is answered 404. The fetch must come back 0, 1 or -1 without
 * crashing: 0 with a checked state from exactly one path, -1 with a reason, and never
 * more events fetched than the bound. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz_server.h"
#include "server-core/hs_fed.h"
#include "server-core/hs_fed_state_fetch.h"
#include "server-core/hs_room.h"
#include "server-core/hs_room_remote.h"
#include "server-core/hs_store_fed_rooms.h"

static char room_id[256];
static json_t *held_ids;
static const uint8_t *in;
static size_t in_size, lines, next_event;

static void setup(void)
{
    fz_fed_room_open("fuzz_hs_fed_state_fetch", room_id);
    hs_state_map *state;
    if (hs_store_fed_current_state(srv.store, room_id, &state) != 0) abort();
    hs_state_entry *ents = NULL;
    long n = hs_state_map_entries(state, &ents);
    held_ids = json_array();
    for (long i = 0; i < n; i++) json_array_append_new(held_ids, json_string(ents[i].event_id));
    free(ents);
    hs_state_map_free(state);
}

/* Line k of the input (0-based) into *start / *len. */
static void line(size_t k, const uint8_t **start, size_t *len)
{
    const uint8_t *p = in, *end = in + in_size;
    for (size_t i = 0; i < k && p < end; i++) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl ? nl + 1 : end;
    }
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    *start = p;
    *len = (size_t)((nl ? nl : end) - p);
}

static void answer(hs_fed_reply *reply, long status, const uint8_t *body, size_t len)
{
    reply->status = status;
    reply->body = malloc(len + 1);
    if (!reply->body) abort();
    memcpy(reply->body, body, len);
    reply->body[len] = 0;
    reply->body_len = len;
}

static int scripted(void *ctx, const hs_fed_out *req, hs_fed_reply *reply, hs_err *err)
{
    (void)ctx;
    (void)err;
    const uint8_t *body;
    size_t len;
    if (strstr(req->target, "/_matrix/federation/v1/state_ids/") == req->target) {
        line(0, &body, &len);
        json_t *j = json_loadb((const char *)body, len, 0, NULL);
        json_t *ids = json_object_get(j, "pdu_ids");
        if (json_is_array(ids)) {
            json_array_extend(ids, held_ids);
            char *text = json_dumps(j, JSON_COMPACT);
            if (!text) abort();
            answer(reply, 200, (const uint8_t *)text, strlen(text));
            free(text);
        } else {
            answer(reply, 200, body, len);
        }
        json_decref(j);
    } else if (strstr(req->target, "/_matrix/federation/v1/state/") == req->target) {
        line(lines - 1, &body, &len);
        answer(reply, 200, body, len);
    } else if (strstr(req->target, "/_matrix/federation/v1/event/") == req->target && lines > 2) {
        line(1 + next_event++ % (lines - 2), &body, &len);
        answer(reply, 200, body, len);
    } else {
        answer(reply, 404, (const uint8_t *)"{}", 2);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!srv.store) {
        setup();
        hs_fed_transport t = {.request = scripted};
        hs_fed_set_transport(&srv, &t);
    }
    in = data;
    in_size = size;
    lines = 1;
    for (size_t i = 0; i < size; i++) lines += data[i] == '\n';
    next_event = 0;
    const hs_room_version *rv = hs_room_remote_version(srv.store, room_id);
    if (!rv) abort();
    hs_fed_state_set set;
    hs_fed_state_fetch_stats st;
    char msg[512];
    int rc = hs_fed_state_fetch(&srv, rv, "other.test", room_id, "$event", &set, &st, msg, sizeof msg);
    if (rc < -1 || rc > 1) abort();
    if (rc == 0 && (!set.state || st.via_state == st.via_state_ids)) abort();
    if (rc != 0 && (set.state || st.via_state || st.via_state_ids)) abort();
    if (rc == -1 && !msg[0]) abort();
    if (st.fetched > HS_FED_STATE_FETCH_MAX_MISSING || st.held + st.fetched > st.ids) abort();
    if (rc == 0) hs_fed_state_set_clear(&set);
    return 0;
}
