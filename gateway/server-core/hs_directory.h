/* hs_directory: the rules of the room directory that do not depend on HTTP - which
 * aliases this server may hold, who may edit a room's directory entries (aliases and
 * publication), and what a room looks like in the public room list.
 *
 * Permission model (Synapse's): a user may edit a room's directory entries if they are
 * joined to it and their power level is at least what the room requires for sending an
 * m.room.canonical_alias state event. An alias's creator may always delete it. Server
 * admins are not special-cased yet. It does not send events (clients send
 * m.room.canonical_alias themselves) and does not talk to other servers. */
#ifndef HS_DIRECTORY_H
#define HS_DIRECTORY_H

#include <jansson.h>
#include <stdbool.h>

#include "server-core/hs_store.h"

/* True when `alias` is a grammatical room alias ("#localpart:server") whose server part
 * is `server_name`. */
bool hs_directory_alias_is_local(const char *alias, const char *server_name);

/* The alias "#localpart:server_name" built from createRoom's room_alias_name into
 * `out`. Returns 0, or -1 when the result would not be a valid alias (the localpart
 * contains ':' or whitespace, is empty, or the alias exceeds 255 bytes). */
int hs_directory_alias_from_name(const char *localpart, const char *server_name, char *out, size_t cap);

/* Whether `user_id` may edit the room's directory entries (see above) into *allowed.
 * Returns 0, 1 for an unknown room, -1 on a database error. */
int hs_directory_can_edit(hs_store *st, const char *room_id, const char *user_id, bool *allowed);

/* Whether the room's current history visibility is world_readable, into *out. Returns 0
 * (also for an unknown room: false) or -1 on a database error. */
int hs_directory_world_readable(hs_store *st, const char *room_id, bool *out);

/* The entries of every published room in the public room list ("PublishedRoomsChunk":
 * room_id, num_joined_members, world_readable, guest_can_join, and when set join_rule,
 * name, topic, canonical_alias, avatar_url, room_type), in room ID order. Two queries
 * whatever the number of rooms. Returns a new array or NULL on a database error. */
json_t *hs_directory_public_rooms(hs_store *st);

#endif
