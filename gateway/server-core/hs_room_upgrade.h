/* hs_room_upgrade: POST /rooms/{roomId}/upgrade as the room engine's caller sees it
 * (Client-Server API v1.12, "Room Upgrades", server behaviour), built only from the
 * engine's public functions (hs_room_create, hs_room_send, hs_room_member_change):
 *
 *   1. the user must be joined and reach the power level for m.room.tombstone;
 *   2. a new room of the requested version is created by the user, its create content
 *      carrying `predecessor` {room_id, event_id of the old room's last event} and the
 *      old room's `type` (and m.federate), with the transferable state copied: server
 *      ACL, encryption, name, avatar, topic, guest access, history visibility, join rules
 *      and the power levels. While copying, the user's level is raised to the highest
 *      level the old power levels mention (so every copy is allowed); then the old power
 *      levels are sent unchanged (for a v12 target without the creator, who outranks all).
 *      Bans are copied too, so an upgrade is no way around one;
 *   3. the local aliases move to the new room (with the canonical alias event, which the
 *      old room loses), and directory publication moves with them;
 *   4. the old room gets m.room.tombstone {body, replacement_room};
 *   5. when the user may, the old power levels are restricted: events_default and invite
 *      rise to max(50, users_default + 1).
 * Steps 3 and 5 are best effort as the spec allows ("if possible"); a failure in 1, 2 or
 * 4 is returned. Not here: remote rooms, inviting the old room's members (invite-only
 * rooms need new invites, as on Synapse). */
#ifndef HS_ROOM_UPGRADE_H
#define HS_ROOM_UPGRADE_H

#include <stdint.h>

#include "server-core/hs_room.h"

/* Upgrades `room_id` to `new_version` on behalf of `user`. Returns HS_ROOM_OK and
 * *new_room_id (malloc'd, caller frees), or HS_ROOM_UNSUPPORTED_VERSION,
 * HS_ROOM_NOT_FOUND (unknown room), HS_ROOM_FORBIDDEN (not joined, or below the
 * tombstone level), HS_ROOM_ERROR, with res->msg. */
hs_room_status hs_room_upgrade(const hs_room_engine *e, const char *room_id, const char *user,
                               const char *new_version, int64_t now_ms, char **new_room_id, hs_room_result *res);

#endif
