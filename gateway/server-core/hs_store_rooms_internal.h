/* hs_store_rooms_internal: the event row reader shared by the room storage files
 * (hs_store_rooms.c, hs_store_history.c), so every query that returns events selects
 * the same columns - including whether the event was redacted - and fills
 * hs_store_event the same way. Only those files include it: it exposes SQLite. */
#ifndef HS_STORE_ROOMS_INTERNAL_H
#define HS_STORE_ROOMS_INTERNAL_H

#include <sqlite3.h>

#include "server-core/hs_store_rooms.h"

/* The columns hs_store_rooms__read_event reads, for a query over `events e`. The last
 * one is the earliest redaction of the event in its own room, or NULL. */
#define HS_STORE_EVENT_COLS                                                                                 \
    "e.stream_ordering, e.event_id, e.room_id, e.pdu, e.txn_user, e.txn_device, e.txn_id,"                  \
    " (SELECT r.redaction_id FROM redactions r JOIN events re ON re.event_id = r.redaction_id"              \
    " WHERE r.redacts = e.event_id AND r.room_id = e.room_id ORDER BY re.stream_ordering LIMIT 1)"
#define HS_STORE_EVENT_NCOLS 8

/* Fills *out from the current row (columns HS_STORE_EVENT_COLS first). Returns 0, or -1
 * when a required column is NULL or memory runs out (then *out is cleared). */
int hs_store_rooms__read_event(sqlite3_stmt *s, hs_store_event *out);

/* Steps a prepared event query to its end, calling fn per row; finalizes it. Returns
 * the number of rows visited, or -1 on a database error or a non-zero fn. */
long hs_store_rooms__each_event(sqlite3_stmt *s, int (*fn)(void *ctx, const hs_store_event *ev), void *ctx);

#endif
