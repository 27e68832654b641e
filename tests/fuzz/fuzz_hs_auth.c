/* libFuzzer target for hs_auth: the input is JSON {"event": PDU, "state": [PDU...],
 * "room_version": "N"?} (jansson, size-limited). Every room version's selection and rule
 * checks run on it, against the state as a map and as auth events; none may crash, leak
 * or read out of bounds, and a verdict must always carry a message. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "server-core/hs_auth.h"

#define MAX_INPUT 65536
#define MAX_STATE 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_INPUT) return 0;
    json_t *doc = json_loadb((const char *)data, size, JSON_ALLOW_NUL, NULL);
    if (!doc) return 0;
    const json_t *event = json_object_get(doc, "event");
    const json_t *state = json_object_get(doc, "state");

    hs_auth_map *map = hs_auth_map_new();
    hs_auth_entry auth[MAX_STATE];
    size_t n = 0, i;
    json_t *s;
    json_array_foreach(state, i, s) {
        if (n == MAX_STATE) break;
        const char *id = json_string_value(json_object_get(s, "event_id"));
        if (hs_auth_map_put(map, s, id) == 0) auth[n++] = (hs_auth_entry){s, id};
    }
    hs_auth_state st = hs_auth_map_state(map);

    const hs_room_version *const *all;
    int nv = hs_room_version_all(&all);
    for (int v = 0; v < nv; v++) {
        hs_auth_key keys[HS_AUTH_MAX_KEYS];
        hs_auth_result res;
        (void)hs_auth_types_for_event(all[v], event, keys);
        hs_auth_rule r = hs_auth_allowed(all[v], event, &st, &res);
        if (res.msg[0] == '\0' || res.rule != r) abort();
        hs_auth_entry create = {0};
        hs_auth_map_get(map, "m.room.create", "", &create);
        r = hs_auth_check_with_auth_events(all[v], event, auth, n, &create, &res);
        if (res.msg[0] == '\0' || res.rule != r) abort();
        (void)hs_auth_user_level(all[v], &st, json_string_value(json_object_get(event, "sender")));
    }
    hs_auth_map_free(map);
    json_decref(doc);
    return 0;
}
