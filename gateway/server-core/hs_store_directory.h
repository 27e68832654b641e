/* hs_store_directory: persistence of the room alias directory (alias -> room ID, with
 * who created it) and of user profiles (display name, avatar URL). Only SQL lives here;
Room
 * directory visibility is the is_public column of the rooms table (migration 3), read and
 * written here. The alias grammar, permissions and the events a profile change sends are decided by the
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

/* ---- profiles --------------------------------------------------------------------- */

typedef enum { HS_STORE_PROFILE_DISPLAYNAME, HS_STORE_PROFILE_AVATAR_URL } hs_store_profile_field;

/* The user's profile: *displayname and *avatar_url malloc'd (caller frees), NULL when
 * unset. Returns 0 when the user has a profile row, 1 when not (both NULL), -1. */
int hs_store_profile_get(hs_store *st, const char *user_id, char **displayname, char **avatar_url);

/* Sets one field (value NULL clears it), creating the row if needed. Returns 0 or -1. */
int hs_store_profile_set(hs_store *st, const char *user_id, hs_store_profile_field field, const char *value);

/* Creates the profile row with `displayname` unless the user already has one (used at
 * registration). Returns 0 or -1. */
int hs_store_profile_init(hs_store *st, const char *user_id, const char *displayname);

/* ---- room directory visibility ---------------------------------------------------- */

/* Whether the room is published in the room directory. Returns 0, 1 for an unknown
 * room, -1. */
int hs_store_room_is_public(hs_store *st, const char *room_id, bool *out);

/* Publishes or unpublishes the room. Returns 0, 1 for an unknown room, -1. */
int hs_store_room_set_public(hs_store *st, const char *room_id, bool is_public);

/* What the public room list shows of each published room, in two passes of one query
 * each: joined_fn once per published room with its joined member count (in room ID
 * order), then state_fn once per current state event with state_key "" of a published
 * room whose type is one of types[0..n_types) (content_json is the event's content as
 * JSON text). A non-zero return from a callback stops with -1. Returns 0 or -1. */
int hs_store_public_rooms_scan(hs_store *st, const char *const *types, size_t n_types,
                               int (*joined_fn)(void *ctx, const char *room_id, int64_t joined),
                               int (*state_fn)(void *ctx, const char *room_id, const char *type,
                                               const char *content_json),
                               void *ctx);

/* ---- user directory ---------------------------------------------------------------- */

typedef struct hs_store_user_match {
    char *user_id;
    char *displayname;   /* NULL when unset */
    char *avatar_url;    /* NULL when unset */
} hs_store_user_match;

/* Local, active users visible to `searcher` whose user ID or display name contains
 * `term` (ASCII case-insensitively): users joined to a room the searcher is joined to,
 * or joined to a room whose join rule is public or whose history is world_readable.
 * At most `limit` matches, ordered by user ID, into *out (malloc'd; free with
 * hs_store_user_matches_free). Returns 0 or -1. */
int hs_store_user_directory_search(hs_store *st, const char *searcher, const char *term, size_t limit,
                                   hs_store_user_match **out, size_t *n);

void hs_store_user_matches_free(hs_store_user_match *v, size_t n);

#endif
