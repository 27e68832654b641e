/* hs_replay: room replay, computing what a homeserver computes for a room's events:
 * the state before and after each event, which events are rejected or soft-failed, the
 * forward extremities and the current state.
 *
 * Events may be added in any order; hs_replay_run processes them in a topological order
 * of prev_events and auth_events with ties broken by (origin_server_ts, event_id), so
 * the result does not depend on the order of hs_replay_add calls. That order also stands
 * in for arrival order when deciding soft failure: for a homeserver receiving a room's
 * history as it happened, the timestamps are the arrival order.
 *
 * Per event, in that order (Server-Server API "Checks performed on receipt of a PDU"):
 *   - its auth events must be accepted and must authorise it (hs_auth_check_with_auth_events);
 *   - the state before it is the state after its single prev event, or the resolution
 *     (hs_stateres) of the states after its prev events; it must pass the auth rules
 *     against that state;
 *   - an event failing either check is rejected: it stays in the graph but its state after
 *     is its state before;
 *   - an accepted event that fails the auth rules against the current state (the
 *     resolution of the forward extremities' states) when it is processed is soft-failed:
 *     it keeps its state but does not become a forward extremity. As in Synapse, a later
 *     accepted event citing it (or a chain of soft-failed/rejected events) still removes
 *     what those cite from the extremities.
 * Hashes and signatures are not checked here (hs_event_id, hs_signing): replay starts from
 * events already received. Pure: no I/O, no clock. */
#ifndef HS_REPLAY_H
#define HS_REPLAY_H

#include "server-core/hs_auth_chain.h"
#include "server-core/hs_state_map.h"

typedef struct hs_replay hs_replay;

/* New empty replay for room version rv; NULL on allocation failure. */
hs_replay *hs_replay_new(const hs_room_version *rv);
void hs_replay_free(hs_replay *r);

/* Adds an event with its ID (copied; the PDU gets a new reference). Returns 0, or -1 with
 * err for a duplicate ID, a PDU without string type/sender, or after hs_replay_run. */
int hs_replay_add(hs_replay *r, const char *event_id, json_t *pdu, hs_err *err);

/* Processes every added event. Returns 0, or -1 with err when an event references an
 * event that was not added (naming both), prev/auth references form a cycle, or state
 * resolution fails. Rejected events are results, not errors. Call once. */
int hs_replay_run(hs_replay *r, hs_err *err);

/* After a successful run: */

/* The current state (resolution over the forward extremities); borrowed. */
const hs_state_map *hs_replay_current_state(const hs_replay *r);

/* The forward extremities, sorted by event ID: returns the count and sets *ids to a
 * borrowed array. */
size_t hs_replay_extremities(const hs_replay *r, const char *const **ids);

typedef struct hs_replay_info {
    const char *event_id;
    const hs_state_map *state_before;   /* borrowed */
    const hs_state_map *state_after;    /* borrowed; equals state_before unless it changed */
    bool rejected;
    bool soft_failed;
    const char *reason;                 /* why rejected or soft-failed; "" otherwise */
    size_t order;                       /* position in the processing order */
} hs_replay_info;

/* Results for one event. Returns 0, or -1 if the ID was not added or run has not
 * succeeded. */
int hs_replay_get(const hs_replay *r, const char *event_id, hs_replay_info *out);

/* Number of events, and the event ID at position i of the processing order (NULL when out
 * of range or before a successful run). */
size_t hs_replay_count(const hs_replay *r);
const char *hs_replay_order(const hs_replay *r, size_t i);

/* The replay's events as an hs_event_lookup (valid while r lives), rejected flags included. */
hs_event_lookup hs_replay_lookup(hs_replay *r);

#endif
