/* hs_auth_map: an in-memory room state map (type, state_key) -> (PDU, event ID), the
 * concrete hs_auth_state used by the CLI, the tests and state resolution.
 *
 * Built on a jansson object used as a hash table. The key is hs_state_key's, the same as
 * hs_state_map's, so both maps agree on what one state entry is.
 * Each value is a small immutable object {"pdu": <pdu>, "id": <event id>?}; copies share
 * those values, and put replaces a value instead of changing it, so a copy never sees a
 * later put on the original. */
#include "server-core/hs_auth_internal.h"
#include "server-core/hs_state_map.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hs_auth_map {
    json_t *obj;
};

hs_auth_map *hs_auth_map_new(void)
{
    hs_auth_map *m = malloc(sizeof *m);
    if (!m) return NULL;
    m->obj = json_object();
    if (!m->obj) {
        free(m);
        return NULL;
    }
    return m;
}

void hs_auth_map_free(hs_auth_map *map)
{
    if (!map) return;
    json_decref(map->obj);
    free(map);
}

hs_auth_map *hs_auth_map_copy(const hs_auth_map *map)
{
    hs_auth_map *m = malloc(sizeof *m);
    if (!m) return NULL;
    m->obj = json_copy(map->obj);
    if (!m->obj) {
        free(m);
        return NULL;
    }
    return m;
}

int hs_auth_map_put(hs_auth_map *map, json_t *pdu, const char *event_id)
{
    const char *type = hs_auth__str(pdu, "type"), *sk = hs_auth__str(pdu, "state_key");
    if (!type || !sk) return -1;
    char buf[256];
    char *key = hs_state_key(type, sk, buf, sizeof buf);
    json_t *val = json_pack("{sO}", "pdu", pdu);
    int rc = -1;
    if (key && val && (!event_id || json_object_set_new(val, "id", json_string(event_id)) == 0))
        rc = json_object_set(map->obj, key, val);
    json_decref(val);
    hs_state_key_free(key, buf);
    return rc == 0 ? 0 : -1;
}

bool hs_auth_map_get(const hs_auth_map *map, const char *type, const char *state_key,
                     hs_auth_entry *out)
{
    if (!type || !state_key) return false;
    char buf[256];
    char *key = hs_state_key(type, state_key, buf, sizeof buf);
    const json_t *val = key ? json_object_get(map->obj, key) : NULL;
    hs_state_key_free(key, buf);
    if (!val) return false;
    out->pdu = json_object_get(val, "pdu");
    out->event_id = hs_auth__str(val, "id");
    return true;
}

size_t hs_auth_map_size(const hs_auth_map *map)
{
    return json_object_size(map->obj);
}

static bool map_get_cb(void *ctx, const char *type, const char *state_key, hs_auth_entry *out)
{
    return hs_auth_map_get(ctx, type, state_key, out);
}

hs_auth_state hs_auth_map_state(hs_auth_map *map)
{
    return (hs_auth_state){.get = map_get_cb, .ctx = map};
}
