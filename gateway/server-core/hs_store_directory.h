/* hs_store_directory: persistence of the room alias directory (alias -> room ID, with
 * who created it) and of user profiles (display name, avatar URL). Only SQL lives here;
 * alias grammar, permissions and the events a profile change sends are decided by the
 * callers (hs_directory, hs_profile).
 *
 * Invariants: an alias maps to exactly one room; the aliases and profiles tables keep the
 * columns other areas read (room_aliases(alias, room_id, creator, created_ts),
 * profiles(user_id, displayname, avatar_url)). All functions are thread-safe (the store's
 * connection is serialized) and return -1 on a database error. */
#ifndef HS_STORE_DIRECTORY_H
#define HS_STORE_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server-core/hs_store.h"

/* The room an alias points to, malloc'd into *room_id_out (the caller frees it).
 * Returns 0 when found, 1 when the alias is unknown (*room_id_out untouched), -1 on error. */
int hs_store_alias_get(hs_store *st, const char *alias, char **room_id_out);

/* Adds alias -> room_id created by `creator` at now_ms. Returns 0, 1 when the alias
 * already exists (nothing written), -1 on error. */
int hs_store_alias_put(hs_store *st, const char *alias, const char *room_id, const char *creator, int64_t now_ms);

/* The creator of an alias, malloc'd into *creator_out. Returns 0, 1 when unknown, -1. */
int hs_store_alias_creator(hs_store *st, const char *alias, char **creator_out);

/* Removes an alias. Returns 0, 1 when it did not exist, -1 on error. */
int hs_store_alias_delete(hs_store *st, const char *alias);

/* Every alias of the room, sorted, as a malloc'd array of malloc'd strings (free with
 * hs_store_free_strings from hs_store_rooms.h). Returns 0 or -1. */
int hs_store_room_aliases(hs_store *st, const char *room_id, char ***aliases, size_t *n);

#endif
