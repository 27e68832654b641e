/* hs_room_visibility: which events of a room a user may see (Client-Server API "History
 * visibility"), decided per event from the room state before it:
 *
 *   - the user's own membership events are always visible to them;
 *   - world_readable: visible to anyone;
 *   - the user was joined when the event was sent: visible;
 *   - invited: also visible when the user was invited at the time;
 *   - shared: also visible while the user is joined now (history before their join);
 *   - joined, or none of the above: not visible.
 * For an m.room.history_visibility event the more permissive of the old and new setting
 * applies, so members see the change that hides later events from them.
 *
 * A checker is for one request: it caches the decision inputs of the last state group
 * seen, so a page of messages between two state changes costs one pair of lookups. */
#ifndef HS_ROOM_VISIBILITY_H
#define HS_ROOM_VISIBILITY_H

#include <stdbool.h>

#include "server-core/hs_store.h"
#include "server-core/hs_store_rooms.h"

typedef struct hs_room_visibility hs_room_visibility;

/* A checker for user_id, who is (`joined_now`) or is not currently joined to the room.
 * Copies user_id. NULL when memory runs out. */
hs_room_visibility *hs_room_visibility_new(hs_store *st, const char *user_id, bool joined_now);
void hs_room_visibility_free(hs_room_visibility *v);

/* 1 when the user may see `ev`, 0 when not, -1 on a store error or unreadable event. */
int hs_room_visibility_check(hs_room_visibility *v, const hs_store_event *ev);

/* The room's current history_visibility into out ("shared" when unset). Returns 0 or -1. */
int hs_room_visibility_current(hs_store *st, const char *room_id, char out[32]);

#endif
