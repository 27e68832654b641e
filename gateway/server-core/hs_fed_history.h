/* hs_fed_history: backfill - fetching a room's older history from another server in
 * it, for a room joined over federation whose messages before our join live on the
 * resident servers only. It runs right after a join (the latest HS_FED_JOIN_HISTORY
 * events before it) and whenever a client's /messages pages backwards past the oldest
 * event we hold (hs_api_rooms_read.c).
 *
 * One round: the room's oldest timeline event here (never m.room.create: the room's
 * history ends there) names what to ask for - its prev_events we do not hold as history
 * - and /_matrix/federation/v1/backfill/{roomId}?v=...&limit=N goes to a server in the
 * room: `first` if given (the server a join went through), then the room's other
 * joined servers, the creator's first; at most HS_FED_BACKFILL_TRIES servers, the next
 * one only when the last could not be reached or had nothing new, within
 * HS_FED_BACKFILL_SECONDS. Every returned event is checked like any event another
 * server sends (hs_fed_state_validate: format, signatures, content hash - redacted on
 * mismatch - and the auth rules against its auth events, which must be held here, be
 * in the answer, or be fetched with /event, at most HS_FED_BACKFILL_AUTH_FETCH of them,
 * stored as outliers). When the batch fails as a whole, each event is checked alone
 * with its own auth chain, so a bad event and what depends on it are left out and the
 * rest kept. The checked events are stored below everything (hs_store_backfill_put:
 * negative stream orderings, newest first; outliers we held become history), so
 * /messages shows them in order and /sync never as new.
 *
 * One backfill runs at a time per room (up to 8 rooms at once): two clients paging at
 * once wait for each other, and the second one's round starts from what the first
 * stored, so nothing is stored twice (events are keyed by ID anyway).
 *
 * Not done: gaps in the middle of the timeline (after a gap bridged with /state) are
 * not backfilled - only the history before the oldest event; the state at backfilled
 * events is derived from their own PDUs (see hs_store_backfill_put), not asked for
 * (/state_ids per event would be exact, at a round trip each); a left-out event ends
 * the history there when nothing else leads past it; backfilled events are not in the
 * search index (it only moves forwards). */
#ifndef HS_FED_HISTORY_H
#define HS_FED_HISTORY_H

#include <stddef.h>

struct hs_server;

#define HS_FED_JOIN_HISTORY 50
/* Events asked for in one round at most. */
#define HS_FED_BACKFILL_MAX 100
#define HS_FED_BACKFILL_TRIES 3
#define HS_FED_BACKFILL_SECONDS 30
#define HS_FED_BACKFILL_AUTH_FETCH 20

/* One backfill round for room_id (see above), asking for up to `limit` events (capped
 * at HS_FED_BACKFILL_MAX); `first` is the server to ask first, or NULL. Returns the
 * number of events that became history (> 0); 0 when there is nothing to fetch (the
 * room's history here begins with m.room.create, it is not a room of other servers, or
 * they had nothing new or sent nothing usable - logged); -1 when no server could be
 * asked (unreachable, an error answer, a database error). Blocks on the network. */
long hs_fed_backfill(struct hs_server *srv, const char *room_id, const char *first, size_t limit);

#endif
