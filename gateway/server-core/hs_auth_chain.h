/* hs_auth_chain: where state resolution and room replay get events from, and the auth
 * chain of a set of events (Room Versions, state resolution v2 "Auth chain": every event
 * reachable by following auth_events links, back to the create event).
 *
 * The events come from the caller through hs_event_lookup, so this module never touches
 * storage. Pure: no I/O, no clock. */
#ifndef HS_AUTH_CHAIN_H
#define HS_AUTH_CHAIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "server-core/hs_canonical_json.h"
#include "server-core/hs_room_version.h"

/* Event ID -> PDU. `get` returns the PDU (borrowed; it must stay valid while the lookup is
 * in use) or NULL when the event is unknown, and sets *rejected when the event was rejected
 * by the authorization rules (rejected auth events are never used to authorise others). */
typedef struct hs_event_lookup {
    const json_t *(*get)(void *ctx, const char *event_id, bool *rejected);
    void *ctx;
} hs_event_lookup;

/* The auth chain of the events `ids`: the IDs of all their auth ancestors, as a new JSON
 * array sorted bytewise. A start event is included only if it is an ancestor of another.
 * Returns NULL with err set when an event or an auth event is unknown (naming both) or a
 * PDU has no string type/sender, or on allocation failure. */
json_t *hs_auth_chain_ids(const hs_room_version *rv, const hs_event_lookup *lookup, const char *const *ids,
                          size_t n, hs_err *err);

#endif
