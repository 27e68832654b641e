/* hs_stateres: the entry point of state resolution. Trivial cases (no sets, one set, all
 * sets equal) are answered directly, since the algorithm would return the unconflicted
 * map anyway; everything else goes to the algorithm of the room version. */
#include "server-core/hs_stateres.h"

#include <string.h>

#include "server-core/hs_pdu.h"
#include "server-core/hs_stateres_internal.h"

bool hs_stateres_is_power_event(const json_t *pdu)
{
    const char *type = hs_pdu_type(pdu), *sk = hs_pdu_state_key(pdu);
    if (!type || !sk) return false;
    if (strcmp(type, "m.room.power_levels") == 0 || strcmp(type, "m.room.join_rules") == 0) return true;
    if (strcmp(type, "m.room.member") != 0) return false;
    const char *membership = json_string_value(json_object_get(hs_pdu_content(pdu), "membership"));
    const char *sender = hs_pdu_sender(pdu);
    return membership && (strcmp(membership, "leave") == 0 || strcmp(membership, "ban") == 0) && sender &&
           strcmp(sender, sk) != 0;
}

static bool all_equal(const hs_state_map *const *sets, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (!hs_state_map_equal(sets[0], sets[i])) return false;
    return true;
}

int hs_stateres_resolve(const hs_room_version *rv, const hs_state_map *const *sets, size_t n,
                        const hs_event_lookup *lookup, hs_state_map **out, hs_err *err)
{
    *out = NULL;
    if (!rv) return hs_err_set(err, "state resolution: no room version");
    if (n == 0) {
        *out = hs_state_map_new();
        return *out ? 0 : hs_err_set(err, "out of memory");
    }
    if (all_equal(sets, n)) {
        *out = hs_state_map_copy(sets[0]);
        return *out ? 0 : hs_err_set(err, "out of memory");
    }
    if (rv->state_res == HS_STATE_RES_V1) return hs_sr_resolve_v1(rv, sets, n, lookup, out, err);
    hs_sr_graph g;
    hs_sr_graph_init(&g, rv, lookup);
    int rc = hs_sr_resolve_v2(&g, sets, n, out, err);
    hs_sr_graph_free(&g);
    return rc;
}
