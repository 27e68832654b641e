/* hs_store_fed_rooms: persistence of events that other servers sent us. A local event
 * always extends the room's single head (hs_store_event_append); a remote one may not:
 * its state before comes from its own prev_events (possibly resolved), it may leave
 * other forward extremities in place, and the room's current state may then be a
 * resolution of several heads. So here the caller says explicitly what the state before
 * and after is and what the room's extremities and current state become, and this file
 * writes the event, its state groups (the room-ops tables of hs_store_history: deltas
 * over the state before, snapshots for resolved states), the extremities, current_state
 * and its redaction/relation rows in one transaction.
 *
 * Also: the room bootstrap of a remote join (the room row, the state and auth chain the
 * resident server returned, and our join, at once), the inbound transaction record
 * (idempotency per origin and txnId) and soft-failed events.
 *
 * Only SQL lives here; the checks are hs_room_remote's. Every function is thread-safe
 * and returns -1 on a database error. */
#ifndef HS_STORE_FED_ROOMS_H
#define HS_STORE_FED_ROOMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server-core/hs_state_map.h"
#include "server-core/hs_store.h"
#include "server-core/hs_store_rooms.h"

/* What a remote event does to its room's head. */
typedef enum {
    /* The event extends the room's only head and its state before is the current state:
     * current state = state after it (one row changes for a state event). */
    HS_STORE_FED_HEAD_EXTEND,
    /* The room's current state becomes `current` (a resolution of the new heads). */
    HS_STORE_FED_HEAD_RESOLVED,
} hs_store_fed_head;

typedef struct hs_store_fed_event {
    const hs_store_new_event *ev;     /* txn_* and new_room_* must be NULL/false */
    /* State before the event; may be NULL with HS_STORE_FED_HEAD_EXTEND and a stored
     * before_from (the state before is then the current state). */
    const hs_state_map *before;
    /* An event whose state after equals `before` (then its group is reused), or NULL
     * (then `before` is written as a snapshot group). */
    const char *before_from;
    const char *const *extremities;   /* the room's forward extremities afterwards */
    size_t n_extremities;
    hs_store_fed_head head;
    const hs_state_map *current;      /* for HS_STORE_FED_HEAD_RESOLVED */
} hs_store_fed_event;

/* Persists a remote event as described above. An outlier with its ID (hs_store_rooms.h:
 * held as state or auth only) becomes a timeline event, placed as a new event would be.
 * Returns 0 with *stream_out, 1 if the event is stored already as a timeline event
 * (nothing written), -1 (nothing written). */
int hs_store_fed_event_persist(hs_store *st, const hs_store_fed_event *fe, int64_t *stream_out);

/* A remote join, all at once: inserts the room (version, creator; a stub room from an
 * invite is taken over, a room held already - a rejoin - keeps its row), stores the `n`
 * events of the state and auth chain the resident server returned (`others`, in an
 * order where auth events come first; stored as outliers - state and auth events, not
 * timeline, hs_store_rooms.h - with `state` recorded as their state before and after,
 * the true state at each is not known to us, see hs_room_remote.h), then our
 * join with state before `state`. The join becomes the only forward extremity and the
 * state after it the current state. Returns 0 with *stream_out of the join, 1 when the
 * join itself is stored already, -1. */
int hs_store_fed_join_persist(hs_store *st, const char *room_id, const char *room_version, const char *creator,
                              const hs_store_new_event *others, size_t n, const hs_state_map *state,
                              const hs_store_new_event *join, int64_t *stream_out);

/* A membership of a local user in a room this server does not hold: an invite that
 * came in over /invite, or the leave that rejected it. The room is recorded as a stub
 * (its row, the membership event as the only entry of its current state, no forward
 * extremity, so nothing can be sent into it locally) so the user sees it; a later join
 * replaces the stub's state. Returns 0, 1 when the room is held here already (nothing
 * written), -1. */
int hs_store_fed_stub_membership(hs_store *st, const char *room_version, const hs_store_new_event *ev);

/* 1 if the room is a stub from hs_store_fed_stub_membership (no create event in its
 * state), 0 if not or unknown, -1. */
int hs_store_fed_room_is_stub(hs_store *st, const char *room_id);

/* Events of a room we hold that came with a state another server vouched for (the
 * state before an event whose prev_events we could not get): each of the `n` events not
 * stored yet is stored as an outlier, with `state` recorded as the state before and after it (their
 * own is not known to us). The room's extremities and current state are not touched.
 * Returns 0 or -1. */
int hs_store_fed_outliers_put(hs_store *st, const char *room_id, const hs_store_new_event *rows, size_t n,
                              const hs_state_map *state);

/* The answer recorded for (origin, txn_id), malloc'd into *response. Returns 0, 1 when
 * the transaction is new, -1. */
int hs_store_fed_txn_get(hs_store *st, const char *origin, const char *txn_id, char **response);

/* Records the answer to (origin, txn_id). Returns 0 or -1. */
int hs_store_fed_txn_put(hs_store *st, const char *origin, const char *txn_id, const char *response, int64_t now_ms);

/* Remembers a soft-failed event with the state after it (an event citing it as a
 * prev_event needs that). Returns 0 or -1. */
int hs_store_fed_soft_failed_put(hs_store *st, const char *event_id, const char *room_id, const char *pdu_json,
                                 const hs_state_map *state_after);

/* The state after a soft-failed event as a new map. Returns 0, 1 if unknown, -1. */
int hs_store_fed_soft_failed_state(hs_store *st, const char *event_id, hs_state_map **out);

/* 1 if event_id was soft-failed, 0 if not, -1. */
int hs_store_fed_soft_failed(hs_store *st, const char *event_id);

/* The PDU of a soft-failed event, malloc'd into *pdu_json. Returns 0, 1 if unknown, -1. */
int hs_store_fed_soft_failed_get(hs_store *st, const char *event_id, char **pdu_json);

/* The room's current state as a new map (free with hs_state_map_free). Returns 0 or -1. */
int hs_store_fed_current_state(hs_store *st, const char *room_id, hs_state_map **out);

/* The distinct servers of the users whose membership is "join" in the room's current
 * state, as a malloc'd array of malloc'd names (hs_store_free_strings). Returns 0 or -1. */
int hs_store_fed_joined_servers(hs_store *st, const char *room_id, char ***names, size_t *n);

#endif
