/* hs_store_rooms: persistence of rooms and their event graph - every accepted event
 * (its PDU as canonical JSON text) with a stream ordering, each room's current state
 * and forward extremities, and the client transaction IDs already answered. Only SQL
 * lives here; what an event may be and how state changes are decided in hs_room.
 *
 * Invariants: an event is stored together with its effect (state row, extremities,
 * transaction ID) in one transaction (hs_store_event_append), so a crash never leaves
 * an event without its effect or the other way round. Stream orderings of new events
 * grow from 1; history fetched from other servers (backfill) takes orderings below
 * zero, each below every ordering stored before (hs_store_history.h), so it sorts
 * before the room's live timeline and never appears after a /sync token.
 *
 * Outliers are events we hold only as state or auth events (a join's state and auth
 * chain, the state that bridged a gap): they are not part of the timeline, so every
 * timeline reader (room events, scans, by timestamp, max stream here; /sync's timeline,
 * search and notifications elsewhere) leaves them out by the flag. They take an
 * ordering when stored like any event - /sync's state section tells a client of state
 * learned after its token by that - and when one turns up as history (backfill) it is
 * moved below zero and unflagged. hs_store_event_get still returns them (flagged), for
 * federation and state.
 * All functions are thread-safe and return -1 on a database error. */
#ifndef HS_STORE_ROOMS_H
#define HS_STORE_ROOMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server-core/hs_store.h"

#define HS_STORE_ROOM_VERSION_MAX 32

/* One event to append with everything it changes. */
typedef struct hs_store_new_event {
    const char *event_id;
    const char *room_id;
    const char *type;
    const char *state_key;       /* NULL for a message event */
    const char *sender;
    int64_t depth;
    int64_t origin_server_ts;
    const char *pdu_json;        /* canonical JSON of the PDU */
    const char *membership;      /* for m.room.member: content.membership; else NULL */
    /* Set for the m.room.create event only: the room row is inserted with it. */
    const char *new_room_version;
    bool new_room_public;
    /* The client transaction that sent it, or all NULL. txn_scope is the request path
     * it came on besides the room ("send/<type>", "redact/<eventId>"; NULL as ""). */
    const char *txn_user, *txn_device, *txn_id, *txn_scope;
    /* For m.room.redaction: the event it redacts; else NULL. */
    const char *redacts;
    /* content.m.relates_to: the related event and rel_type (both or neither), and the
     * annotation key of an m.annotation (else NULL). */
    const char *relates_to, *rel_type, *rel_key;
} hs_store_new_event;

/* Appends the event in one transaction: inserts the room row (create event), the event,
 * replaces the room's forward extremities with this event (local events cite all current
 * extremities), updates the current state for a state event, records the transaction
 * ID and the event's history (state groups, redaction, relation: hs_store_history). Sets *stream_out to the event's stream ordering. Returns 0, 1 if the event ID or
 * the transaction ID already exists (nothing written), -1 on error (nothing written). */
int hs_store_event_append(hs_store *st, const hs_store_new_event *ev, int64_t *stream_out);

/* The room's version into `version`. Returns 0, 1 for an unknown room, -1. */
int hs_store_room_get(hs_store *st, const char *room_id, char version[HS_STORE_ROOM_VERSION_MAX]);

/* The room's forward extremities (malloc'd array of malloc'd IDs in *ids, *n of them;
 * free with hs_store_free_strings) and the greatest depth among them. Returns 0 or -1. */
int hs_store_room_extremities(hs_store *st, const char *room_id, char ***ids, size_t *n, int64_t *max_depth);

/* Frees an array of n malloc'd strings. */
void hs_store_free_strings(char **v, size_t n);

/* A stored event. Every string is malloc'd; free with hs_store_event_clear. */
typedef struct hs_store_event {
    int64_t stream;
    char *event_id;
    char *room_id;
    char *pdu_json;
    char *txn_user, *txn_device, *txn_id; /* NULL when not sent through a transaction */
    char *redacted_by;                    /* the earliest redaction of it in its room, or NULL */
    bool outlier;                         /* held as state/auth only, not in the timeline */
} hs_store_event;

/* A `to` bound meaning none, for the scans below (any int64_t is a valid position). */
#define HS_STORE_NO_BOUND INT64_MIN

void hs_store_event_clear(hs_store_event *ev);

/* Loads an event by ID. Returns 0, 1 when absent, -1. */
int hs_store_event_get(hs_store *st, const char *event_id, hs_store_event *out);

/* The event ID in the room's current state at (type, state_key), malloc'd into *event_id.
 * Returns 0, 1 when the state has no such entry, -1. */
int hs_store_state_get(hs_store *st, const char *room_id, const char *type, const char *state_key,
                       char **event_id);

/* Calls fn once per current state entry of the room (ordered by type, state_key) with
 * the entry's event. Stops and returns -1 if fn returns non-zero. Returns 0 or -1. */
int hs_store_state_each(hs_store *st, const char *room_id,
                        int (*fn)(void *ctx, const char *type, const char *state_key, const hs_store_event *ev),
                        void *ctx);

/* The membership of user_id in the room's current state ("join", "invite", ...) into
 * `out`, "" when the user has none. Returns 0 or -1. */
int hs_store_membership(hs_store *st, const char *room_id, const char *user_id, char out[32]);

/* The rooms user_id is joined to, as a malloc'd array of malloc'd IDs (free with
 * hs_store_free_strings). Returns 0 or -1. */
int hs_store_joined_rooms(hs_store *st, const char *user_id, char ***ids, size_t *n);

/* The event ID answered before for (user, device, room, scope, txn_id) (scope as in
 * hs_store_new_event; NULL as ""), malloc'd into *event_id. Returns 0, 1 when the
 * transaction is new, -1. */
int hs_store_txn_get(hs_store *st, const char *user_id, const char *device_id, const char *room_id,
                     const char *scope, const char *txn_id, char **event_id);

/* Up to `limit` timeline events (no outliers) of the room in stream order: backwards
 * (descending) from stream orderings <= `from`, or forwards (ascending) from orderings >
 * `from`. fn is called per event; a non-zero return stops with -1. Returns the number
 * of events visited or -1. */
long hs_store_room_events(hs_store *st, const char *room_id, int64_t from, bool backwards, long limit,
                          int (*fn)(void *ctx, const hs_store_event *ev), void *ctx);

/* A filtered page of the room's events: like hs_store_room_events from `from`, never
 * past `to` (HS_STORE_NO_BOUND for none; backwards stops at orderings <= to, forwards
 * at > to).
 * fn returns 1 to take an event, 0 to skip it, -1 to fail. Stops after `limit` taken or
 * `scan_max` visited. *last_stream is the ordering of the last event visited (`from`
 * if none) and *exhausted is set when the range ran out before either limit. Returns the
 * number taken or -1. */
long hs_store_room_events_scan(hs_store *st, const char *room_id, int64_t from, int64_t to, bool backwards,
                               long limit, long scan_max, int (*fn)(void *ctx, const hs_store_event *ev), void *ctx,
                               int64_t *last_stream, bool *exhausted);

/* Timeline events of the room by origin_server_ts from `ts`: forwards those at or after it,
 * earliest first, or backwards those at or before it, latest first (ties by stream
 * ordering). fn is called per event until it returns non-zero (1 stops: found; -1
 * fails); at most `scan_max` are visited. Returns 1 when fn stopped with 1, 0 when none
 * did, -1 on error. */
int hs_store_room_events_by_ts(hs_store *st, const char *room_id, int64_t ts, bool forwards, long scan_max,
                               int (*fn)(void *ctx, const hs_store_event *ev), void *ctx);

/* The greatest stream ordering of the room's timeline (0 for none). Returns 0 or -1. */
int hs_store_room_max_stream(hs_store *st, const char *room_id, int64_t *out);

/* The room's oldest timeline event (lowest stream ordering, outliers left out) into
 * *out (free with hs_store_event_clear). Returns 0, 1 when the room has none, -1. */
int hs_store_room_oldest(hs_store *st, const char *room_id, hs_store_event *out);

#endif
