/* Fuzz target: arbitrary bytes as PDUs another server sends into a room of a real server
 * (store in a scratch directory, no listeners, no outbound transport, so keys of other
 * servers are never found and missing events are never fetched). The input is parsed
 * with the federation body limits; an object with "pdus" is a transaction (each entry
 * one PDU), an object with "auth_chain" a send_join answer or /state reply (its "state"
 * and "auth_chain" through hs_fed_state_validate), anything else one PDU. Each PDU goes
 * through hs_fed_rooms_accept: it must come back with a known status without crashing,
 * an accepted PDU must then be stored, and the room's state and extremities must stay
 * readable. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz_server.h"
#include "server-core/hs_fed_rooms.h"
#include "server-core/hs_room.h"
#include "server-core/hs_store_fed_rooms.h"
#include "server-core/hs_store_rooms.h"

static char room_id[256];

static void setup(void)
{
    fz_fed_room_open("fuzz_hs_fed_rooms", room_id);
}

static void one(const json_t *pdu)
{
    json_t *copy = json_deep_copy(pdu);
    /* Aim most inputs at the real room, so the checks past "not in this room" run. */
    if (json_is_object(copy) && !json_is_string(json_object_get(copy, "room_id")))
        json_object_set_new(copy, "room_id", json_string(room_id));
    hs_remote_result res;
    hs_remote_status s = hs_fed_rooms_accept(&srv, "other.test", copy, &res);
    if (s > HS_REMOTE_ERROR || (s != HS_REMOTE_ACCEPTED && !res.msg[0])) abort();
    if (s == HS_REMOTE_ACCEPTED) {
        hs_store_event ev;
        if (hs_store_event_get(srv.store, res.event_id, &ev) != 0) abort();
        hs_store_event_clear(&ev);
    }
    json_decref(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!srv.store) setup();
    hs_err err;
    json_t *j = hs_cjson_parse((const char *)data, size, 1 << 20, HS_CJSON_LAX_INTS | HS_CJSON_ANY, &err);
    if (!j) return 0;
    json_t *pdus = json_object_get(j, "pdus");
    if (json_object_get(j, "auth_chain")) {
        /* A send_join answer or /state reply: checked in full, nothing written. */
        hs_fed_state_set set;
        char msg[512];
        const hs_room_version *rv = hs_room_remote_version(srv.store, room_id);
        if (hs_fed_state_validate(&srv, rv, room_id, json_object_get(j, "state"), json_object_get(j, "auth_chain"),
                                  &set, msg, sizeof msg) == 0) {
            if (!hs_state_map_get(set.state, "m.room.create", "")) abort();
            hs_fed_state_set_clear(&set);
        } else if (!msg[0]) {
            abort();
        }
    } else if (json_is_array(pdus)) {
        size_t i;
        json_t *p;
        json_array_foreach(pdus, i, p) {
            if (i >= HS_FED_MAX_PDUS) break;
            one(p);
        }
    } else {
        one(j);
    }
    json_decref(j);
    hs_state_map *state;
    if (hs_store_fed_current_state(srv.store, room_id, &state) != 0 || !hs_state_map_get(state, "m.room.create", ""))
        abort();
    hs_state_map_free(state);
    char **ext;
    size_t n;
    int64_t depth;
    if (hs_store_room_extremities(srv.store, room_id, &ext, &n, &depth) != 0 || n == 0) abort();
    hs_store_free_strings(ext, n);
    return 0;
}
