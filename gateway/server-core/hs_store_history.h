/* hs_store_history: what the room store remembers about each event beyond the event
 * itself - the room state before and after it, which events were redacted and by what,
 * how events relate to each other (m.relates_to), and which rooms a user has forgotten.
 *
 * State at each event is kept as state groups: every state event starts a new group
 * holding only the entry it changes (a delta against the previous group), and every
 * SNAPSHOT_EVERY-th group is a full copy, so resolving a group reads a bounded chain
 * (at most HS_STORE_STATE_CHAIN_MAX groups) and storage grows by one row per state event
 * plus a snapshot now and then. Message events share the group of the state before them.
 * The room's current_state table (hs_store_rooms) is kept as well: it is what every
 * write reads, and it always equals the state of the room's head group.
 *
 * Only SQL lives here; hs_store_event_append calls hs_store_history_append inside its
 * transaction. Every function is thread-safe and returns -1 on a database error. */
#ifndef HS_STORE_HISTORY_H
#define HS_STORE_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server-core/hs_state_map.h"
#include "server-core/hs_store.h"
#include "server-core/hs_store_rooms.h"

/* Longest delta chain before a full snapshot is written. */
#define HS_STORE_STATE_CHAIN_MAX 100

/* Records the history of an event being appended: its state groups, its redaction
 * target, its relation and, for a join or invite, un-forgets the room for its target.
 * Called by hs_store_event_append inside its transaction, after current_state has been
 * updated; not for other callers. Returns 0 or -1. */
int hs_store_history_append(hs_store *st, const hs_store_new_event *ev);

/* The room state at an event as a new map (hs_state_map.h; free with
 * hs_state_map_free): before it (`after` false: what federation's /state and /state_ids
 * serve; empty for m.room.create) or after it (including the event itself if it is a
 * state event). Returns 0, 1 for an unknown event (*out NULL), -1 (*out NULL). */
int hs_store_state_at_event(hs_store *st, const char *event_id, bool after, hs_state_map **out);

/* The state groups before and after an event (0 = the empty state before the create
 * event). Events with the same group before share that state, so callers can cache
 * per group. Returns 0, 1 for an unknown event, -1. */
int hs_store_event_state_groups(hs_store *st, const char *event_id, int64_t *before, int64_t *after);

/* One entry of the state at an event (as above), malloc'd into *event_id_out. Returns 0,
 * 1 when the event is unknown or the state has no such entry, -1. */
int hs_store_state_at_event_get(hs_store *st, const char *event_id, bool after, const char *type,
                                const char *state_key, char **event_id_out);

/* The last event of the room with stream ordering <= stream, malloc'd into *event_id_out:
 * the state after it is the room's state at that stream position. Returns 0, 1 when the
 * room has no such event, -1. */
int hs_store_event_at_stream(hs_store *st, const char *room_id, int64_t stream, char **event_id_out);

/* The ID of an event redacting `event_id` in its room, malloc'd into *redaction_id_out
 * (the earliest if several). Returns 0, 1 when it is not redacted, -1. */
int hs_store_redaction_of(hs_store *st, const char *event_id, char **redaction_id_out);

/* Up to `limit` events relating to `event_id` in `room_id` (rel_type and event_type each
 * NULL for any), in stream order from `from` (same meaning as hs_store_room_events:
 * backwards visits orderings <= from, forwards > from) and not past `to` (backwards
 * stops at orderings <= to, forwards at > to; HS_STORE_NO_BOUND for none). fn is called per
 * event; a non-zero return stops with -1. Redacted relations are left out (they no
 * longer relate). Returns the number visited or -1. */
long hs_store_relations(hs_store *st, const char *room_id, const char *event_id, const char *rel_type,
                        const char *event_type, int64_t from, int64_t to, bool backwards, long limit,
                        int (*fn)(void *ctx, const hs_store_event *ev), void *ctx);

/* The room's thread roots (events that m.thread relations point to, redacted replies
 * left out), newest latest reply first, only those whose latest reply has a stream
 * ordering < `before` (INT64_MAX for all); with user_id, only threads that user started
 * or replied to. fn gets each root and its latest reply's ordering (the next page's
 * `before`); a non-zero return stops with -1. Returns the number visited or -1. */
long hs_store_threads(hs_store *st, const char *room_id, const char *user_id, int64_t before, long limit,
                      int (*fn)(void *ctx, const hs_store_event *root, int64_t latest), void *ctx);

/* Aggregates for unsigned.m.relations of one event: the latest m.replace by the
 * original's sender (malloc'd ID, NULL if none), and the thread's size, latest event
 * (malloc'd, NULL if no thread) and whether `user_id` took part. Returns 0 or -1. */
typedef struct hs_relation_summary {
    char *latest_replace;
    long thread_count;
    char *thread_latest;
    bool thread_participated;
} hs_relation_summary;

int hs_store_relation_summary(hs_store *st, const char *event_id, const char *original_sender,
                              const char *user_id, hs_relation_summary *out);
void hs_relation_summary_clear(hs_relation_summary *s);

/* One event of a batch of history fetched from another server (hs_fed_history.h). */
typedef struct hs_store_backfill_event {
    hs_store_new_event ev;     /* txn_*, new_room_*: NULL/false */
    /* For a state event: the event at its (type, state_key) in the state before it, as
     * far as its checked PDU tells (the auth event of that key it cites), or NULL when
     * none is known; the key is then absent from the state before it. */
    const char *replaced;
    /* Stored as an outlier (an auth event fetched to check the batch), not as history. */
    bool outlier;
} hs_store_backfill_event;

/* Stores a backfilled batch of room_id in one transaction. History events (`evs`
 * newest first, outliers anywhere) are placed below everything stored: each takes a
 * stream ordering one below the lowest in the table, so the batch keeps its order and
 * sorts before the room's timeline. Their state is derived backwards from `boundary`
 * (the room's oldest timeline event, which they precede): the state after an event is
 * the state before the one placed just after it (before `boundary` for the first),
 * and the state before it is that with the event's own key set to `replaced` (or
 * removed), none for m.room.create. An event stored as a timeline event already is
 * skipped (its own state before carries on); an outlier becomes a history event (new
 * ordering, this state). The room's current state and forward extremities are not
 * touched. Outliers of the batch get `boundary`'s state before. *stored counts the
 * events that became history. Returns 0, 1 when `boundary` is not a timeline event of
 * the room with a known state (nothing written), -1 (nothing written). */
int hs_store_backfill_put(hs_store *st, const char *room_id, const char *boundary, const hs_store_backfill_event *evs,
                          size_t n, size_t *stored);

/* Marks the room forgotten by user_id. Returns 0 or -1. */
int hs_store_forget_room(hs_store *st, const char *room_id, const char *user_id);

/* 1 if user_id has forgotten the room (and not joined or been invited since), 0 if not,
 * -1 on error. */
int hs_store_room_forgotten(hs_store *st, const char *room_id, const char *user_id);

#endif
