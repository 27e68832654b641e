/* hs_stateres: state resolution (Server-Server API "Room State Resolution"; Room Versions
 * "State resolution"): given the room states after each of an event's prev_events, the one
 * state before it. Room versions 2-11 use algorithm v2; v12 uses v2.1 (MSC4297: the full
 * conflicted set also holds the conflicted state subgraph, and the iterative auth checks
 * of step 2 start from an empty state). Room version 1 uses algorithm v1 (hs_stateres_v1.c:
 * power levels, join rules, memberships, then the rest, ordered by depth and sha1 of the
 * event ID).
 *
 * Deterministic: the result depends only on the state sets and the events, never on the
 * order of the sets or of the lookup. Pure: no I/O, no clock; events come from the
 * caller's hs_event_lookup. */
#ifndef HS_STATERES_H
#define HS_STATERES_H

#include "server-core/hs_auth_chain.h"
#include "server-core/hs_state_map.h"

/* Resolves `n` state sets for room version rv. On success sets *out to a new map the
 * caller frees with hs_state_map_free and returns 0. Returns -1 with err set when an event
 * of a set or of the auth chains is unknown to the lookup (the message names it and which
 * event cites it), when the auth graph has a cycle (v2), or on allocation failure. n == 0
 * gives an empty state. Events refused by the auth checks are not errors: v2 leaves them
 * out; v1 keeps, per key, what its algorithm picks (which may be an event no check
 * allowed, as the spec says). */
int hs_stateres_resolve(const hs_room_version *rv, const hs_state_map *const *sets, size_t n,
                        const hs_event_lookup *lookup, hs_state_map **out, hs_err *err);

/* Whether the event is a power event (state resolution v2): a state event of type
 * m.room.power_levels or m.room.join_rules, or an m.room.member leave or ban whose sender
 * is not its state_key. */
bool hs_stateres_is_power_event(const json_t *pdu);

#endif
