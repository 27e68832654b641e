/* libFuzzer target for state resolution and room replay on hostile input: a JSON document
 * {"room_version": V, "state_sets": [{"type|state_key": id}...], "events": [{"event_id",
 * "pdu"}...]} with made-up IDs, so auth cycles, missing events, events filed under the
 * wrong key and malformed PDUs all reach hs_stateres_resolve (every room version, so v1
 * and v2 alike; seed v1-ban-vs-demotion.json is a v1 fork) and hs_replay_run. They must
 * return an error or a result, never crash, hang or leak. Sizes are bounded (64 KiB
 * input, 8 state sets, 300 events). */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "server-core/hs_pdu.h"
#include "server-core/hs_replay.h"
#include "server-core/hs_stateres.h"

static const json_t *pool_get(void *ctx, const char *id, bool *rejected)
{
    *rejected = id && id[0] && (id[strlen(id) - 1] == '!');
    return json_object_get(ctx, id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536) return 0;
    json_t *doc = json_loadb((const char *)data, size, 0, NULL);
    const hs_room_version *rv = hs_room_version_get(json_string_value(json_object_get(doc, "room_version")));
    json_t *sets_json = json_object_get(doc, "state_sets"), *events = json_object_get(doc, "events");
    if (!rv || json_array_size(sets_json) > 8 || json_array_size(events) > 300) {
        json_decref(doc);
        return 0;
    }
    json_t *pool = json_object();
    hs_replay *rp = hs_replay_new(rv);
    size_t i;
    json_t *e;
    json_array_foreach(events, i, e) {
        const char *id = json_string_value(json_object_get(e, "event_id"));
        json_t *pdu = json_object_get(e, "pdu");
        if (id && json_is_object(pdu)) {
            json_object_set(pool, id, pdu);
            hs_replay_add(rp, id, pdu, NULL);
        }
    }
    hs_state_map *sets[8];
    size_t n = 0;
    json_t *s;
    json_array_foreach(sets_json, i, s) {
        sets[n] = hs_state_map_new();
        const char *k;
        json_t *v;
        json_object_foreach(s, k, v) {
            const char *bar = strchr(k, '|');
            if (!bar || !json_is_string(v)) continue;
            char type[256];
            size_t tl = (size_t)(bar - k);
            if (tl >= sizeof type) continue;
            memcpy(type, k, tl);
            type[tl] = '\0';
            hs_state_map_set(sets[n], type, bar + 1, json_string_value(v));
        }
        n++;
    }
    hs_event_lookup lk = {pool_get, pool};
    hs_state_map *out = NULL;
    hs_err err = {{0}};
    if (hs_stateres_resolve(rv, (const hs_state_map *const *)sets, n, &lk, &out, &err) == 0) {
        json_t *j = hs_state_map_to_json(out);
        json_decref(j);
        hs_state_map_free(out);
    }
    if (hs_replay_run(rp, &err) == 0) {
        hs_replay_info info;
        for (size_t k = 0; k < hs_replay_count(rp); k++) hs_replay_get(rp, hs_replay_order(rp, k), &info);
    }
    const char *ids[4];
    size_t nid = 0;
    json_array_foreach(events, i, e) if (nid < 4 && json_is_string(json_object_get(e, "event_id")))
        ids[nid++] = json_string_value(json_object_get(e, "event_id"));
    json_decref(hs_auth_chain_ids(rv, &lk, ids, nid, &err));
    for (size_t k = 0; k < n; k++) hs_state_map_free(sets[k]);
    hs_replay_free(rp);
    json_decref(pool);
    json_decref(doc);
    return 0;
}
