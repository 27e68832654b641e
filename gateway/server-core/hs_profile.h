/* hs_profile: a local user's display name and avatar, and their reflection in rooms.
 * Changing a field stores it and then sends, into every room the user is joined to, a
 * new m.room.member event (membership still "join") carrying the new profile, as the
 * spec asks ("Events on change of profile information"), so other members see it.
 *
 * Limits are Synapse's: display names up to 256 bytes, avatar URLs up to 1,000 bytes.
 * It does not query other servers' profiles. */
#ifndef HS_PROFILE_H
#define HS_PROFILE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "server-core/hs_room.h"
#include "server-core/hs_store_directory.h"

#define HS_PROFILE_DISPLAYNAME_MAX 256
#define HS_PROFILE_AVATAR_URL_MAX 1000

typedef enum {
    HS_PROFILE_OK = 0,
    HS_PROFILE_TOO_LONG,   /* the value exceeds the field's limit (400) */
    HS_PROFILE_ERROR,      /* database failure (500) */
} hs_profile_status;

/* Sets `field` of user_id's profile to `value` (NULL or "" clears it), then sends the
 * updated membership event into each room the user is joined to. A room that refuses
 * the event (its power levels, say) is skipped and counted in *rooms_failed (may be
 * NULL); the stored profile is changed regardless, as Synapse does. */
hs_profile_status hs_profile_set(const hs_room_engine *e, const char *user_id, hs_store_profile_field field,
                                 const char *value, int64_t now_ms, size_t *rooms_failed);

/* Adds the user's current displayname and avatar_url (those that are set) to a
 * membership event's content, for joins and invites. Returns 0 or -1 on a database
 * error (content unchanged). */
int hs_profile_member_content(hs_store *st, const char *user_id, json_t *content);

#endif
