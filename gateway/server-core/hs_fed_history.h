/* hs_fed_history: the room history a joining server fetches with its join. A room joined
 * over federation starts with the state and auth chain send_join returned; the messages
 * before the join live on the resident servers only. Right after send_join, the
 * resident is asked for the latest HS_FED_JOIN_HISTORY events before our join
 * (/backfill from the join's prev_events); they are checked like any event another
 * server sends (format, signatures, content hash - redacted on mismatch - and the auth
 * rules against their auth events, which must be among the join's validated events or
 * the answer itself) and stored with the join, before it, so /messages and the first
 * /sync of the room show them. A failure of any kind leaves the join without history:
 * the history is a courtesy, the join must not depend on it.
 *
 * Not done: fetching more history when a client pages past these events (the events
 * table orders by an increasing stream position, so older events cannot be put before
 * the ones already stored). */
#ifndef HS_FED_HISTORY_H
#define HS_FED_HISTORY_H

#include <jansson.h>
#include <stddef.h>

#include "server-core/hs_room_version.h"

struct hs_server;

#define HS_FED_JOIN_HISTORY 50

/* Asks `server` for up to `limit` events of room_id before `join` (our join, already
 * accepted by it) and checks them against `known` (event ID -> checked PDU: the join's
 * state and auth chain). Returns a new array of [event ID, PDU] pairs, oldest first,
 * without events already in known; an empty array when there is nothing usable (the
 * reason is logged). NULL only when out of memory. */
json_t *hs_fed_join_history(struct hs_server *srv, const char *server, const hs_room_version *rv,
                            const char *room_id, const json_t *join, const json_t *known, size_t limit);

#endif
