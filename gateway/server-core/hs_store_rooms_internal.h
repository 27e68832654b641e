/* hs_store_rooms_internal: what the room storage files (hs_store_rooms.c,
 * hs_store_history.c, hs_store_fed_rooms.c) share: the event row reader, so every query
 * that returns events selects the same columns - including whether the event was
 * redacted - and fills hs_store_event the same way; and the writers of an event's
 * state-group and history rows, so local and remote events are stored alike. Only those
 * files include it: it exposes SQLite. The writers run inside the caller's transaction. */
#ifndef HS_STORE_ROOMS_INTERNAL_H
#define HS_STORE_ROOMS_INTERNAL_H

#include <sqlite3.h>

#include "server-core/hs_store_rooms.h"

/* The columns hs_store_rooms__read_event reads, for a query over `events e`. The
 * eighth is the earliest redaction of the event in its own room, or NULL; the ninth
 * the outlier flag. */
#define HS_STORE_EVENT_COLS                                                                                 \
    "e.stream_ordering, e.event_id, e.room_id, e.pdu, e.txn_user, e.txn_device, e.txn_id,"                  \
    " (SELECT r.redaction_id FROM redactions r JOIN events re ON re.event_id = r.redaction_id"              \
    " WHERE r.redacts = e.event_id AND r.room_id = e.room_id ORDER BY re.stream_ordering LIMIT 1),"         \
    " e.outlier"
#define HS_STORE_EVENT_NCOLS 9

/* Fills *out from the current row (columns HS_STORE_EVENT_COLS first). Returns 0, or -1
 * when a required column is NULL or memory runs out (then *out is cleared). */
int hs_store_rooms__read_event(sqlite3_stmt *s, hs_store_event *out);

/* Steps a prepared event query to its end, calling fn per row; finalizes it. Returns
 * the number of rows visited, or -1 on a database error or a non-zero fn. */
long hs_store_rooms__each_event(sqlite3_stmt *s, int (*fn)(void *ctx, const hs_store_event *ev), void *ctx);

/* Steps a query returning at most one text column and finalizes it (NULL allowed: a
 * failed prepare). Returns 0 with *out (caller frees), 1 for no row or a NULL column,
 * -1 on a database or allocation error. Defined in hs_store_history.c. */
int hs_store_rooms__one_string(sqlite3_stmt *s, char **out);

/* The stream ordering for the next event stored below everything (backfilled history
 * and the auth events fetched for it): one less than the lowest ordering in the table,
 * and never above -1.
 * Call inside the transaction that inserts the event. Returns 0 with *out, or -1. */
int hs_store_rooms__next_below(sqlite3 *db, int64_t *out);

/* ---- state groups and history rows (hs_store_history.c) ---- */

/* A new state group after group `head` (0: none) carrying ev's state entry: a delta of one
 * entry, or a full snapshot when head is 0 or its chain (chain_len deltas since its
 * snapshot) would reach HS_STORE_STATE_CHAIN_MAX. Returns 0 with *out, or -1. */
int hs_store_history__new_group(sqlite3 *db, const hs_store_new_event *ev, int64_t head, int64_t chain_len,
                                int64_t *out);

/* The event_state row of ev: the groups of the state before (0: the empty state before
 * m.room.create) and after it. Returns 0 or -1. */
int hs_store_history__event_state(sqlite3 *db, const hs_store_new_event *ev, int64_t before, int64_t after);

/* Inserts ev's events row at stream ordering `stream` (0: the next one up), flagged as
 * an outlier when asked, and its event_state row (before, after). Returns 0 with
 * *stream_out, 1 when an event with its ID is stored already (nothing written), -1. */
int hs_store_history__insert_event(sqlite3 *db, const hs_store_new_event *ev, int64_t stream, bool outlier,
                                   int64_t before, int64_t after, int64_t *stream_out);

/* Makes the outlier of ev's room with ev's ID a timeline event at stream ordering
 * `stream` (0: after every other) with a new event_state row (before, after); its other
 * rows (redaction, relation) were written when it was stored. Returns 0 with
 * *stream_out, 1 when there is no such outlier, -1. */
int hs_store_history__promote(sqlite3 *db, const hs_store_new_event *ev, int64_t stream, int64_t before,
                              int64_t after, int64_t *stream_out);

/* Points room_id's head group (its current state) at `group`. Returns 0 or -1. */
int hs_store_history__set_head(sqlite3 *db, const char *room_id, int64_t group);

/* The redactions, event_relations and forgotten_rooms rows of a newly stored event.
 * Returns 0 or -1. */
int hs_store_history__event_rows(sqlite3 *db, const hs_store_new_event *ev);

/* The group of the state before/after an event: 0 found (*group 0 = the empty state),
 * 1 unknown event, -1. */
int hs_store_history__event_group(sqlite3 *db, const char *event_id, bool after, int64_t *group);

#endif
