/* hs_room_version: the table. Flags accumulate: each row enables what its version
 * introduced plus everything from earlier rows, except where a version changed a rule
 * (aliases auth ended in v6). */
#include "server-core/hs_room_version.h"

#include <string.h>

#define V(id_, fmt_, sr_, vnum_)                                                   \
    {                                                                              \
        .id = id_, .event_id_format = fmt_, .state_res = sr_,                     \
        .enforce_key_validity = (vnum_) >= 5, .special_case_aliases_auth = (vnum_) <= 5, \
        .strict_canonical_json = (vnum_) >= 6, .limit_notifications_pl = (vnum_) >= 6, \
        .knock = (vnum_) >= 7, .restricted_join = (vnum_) >= 8,                    \
        .redact_join_authorised = (vnum_) >= 9, .knock_restricted = (vnum_) >= 10, \
        .integer_power_levels = (vnum_) >= 10, .v11_redaction = (vnum_) >= 11,     \
        .redacts_in_content = (vnum_) >= 11, .creator_from_sender = (vnum_) >= 11, \
        .no_origin_field = (vnum_) >= 11, .room_id_from_create = (vnum_) >= 12,    \
        .creators_infinite_power = (vnum_) >= 12,                                  \
    }

static const hs_room_version versions[] = {
    V("1", HS_EVENT_ID_V1, HS_STATE_RES_V1, 1),
    V("2", HS_EVENT_ID_V1, HS_STATE_RES_V2, 2),
    V("3", HS_EVENT_ID_V3, HS_STATE_RES_V2, 3),
    V("4", HS_EVENT_ID_V4, HS_STATE_RES_V2, 4),
    V("5", HS_EVENT_ID_V4, HS_STATE_RES_V2, 5),
    V("6", HS_EVENT_ID_V4, HS_STATE_RES_V2, 6),
    V("7", HS_EVENT_ID_V4, HS_STATE_RES_V2, 7),
    V("8", HS_EVENT_ID_V4, HS_STATE_RES_V2, 8),
    V("9", HS_EVENT_ID_V4, HS_STATE_RES_V2, 9),
    V("10", HS_EVENT_ID_V4, HS_STATE_RES_V2, 10),
    V("11", HS_EVENT_ID_V4, HS_STATE_RES_V2, 11),
    V("12", HS_EVENT_ID_V4, HS_STATE_RES_V2_1, 12),
};

#define N_VERSIONS (int)(sizeof versions / sizeof versions[0])

const hs_room_version *hs_room_version_get(const char *id)
{
    if (!id) return NULL;
    for (int i = 0; i < N_VERSIONS; i++)
        if (strcmp(versions[i].id, id) == 0) return &versions[i];
    return NULL;
}

int hs_room_version_all(const hs_room_version *const **out)
{
    static const hs_room_version *const ptrs[] = {
        &versions[0], &versions[1], &versions[2], &versions[3], &versions[4],  &versions[5],
        &versions[6], &versions[7], &versions[8], &versions[9], &versions[10], &versions[11],
    };
    _Static_assert(sizeof ptrs / sizeof ptrs[0] == N_VERSIONS, "every version listed");
    *out = ptrs;
    return N_VERSIONS;
}
