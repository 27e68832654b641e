/* hs_store_members: membership questions about a room's current state that need more
 * than one row - which users of one server are joined (a restricted join's authoriser
 * is picked among the resident server's own joined users). Only SQL lives here.
 * Thread-safe; every function returns -1 on a database error. */
#ifndef HS_STORE_MEMBERS_H
#define HS_STORE_MEMBERS_H

#include <stddef.h>

#include "server-core/hs_store.h"

/* The users of `server_name` (user IDs ending in ":<server_name>") whose membership in
 * the room's current state is "join", ordered by user ID, as a malloc'd array of
 * malloc'd IDs in *ids (free with hs_store_free_strings; NULL and 0 when none).
 * Returns 0 or -1. */
int hs_store_joined_users_of(hs_store *st, const char *room_id, const char *server_name, char ***ids, size_t *n);

#endif
