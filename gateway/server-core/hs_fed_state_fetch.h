/* hs_fed_state_fetch: the state of a room before one event, asked of another server
 * when an inbound event's gap cannot be bridged with get_missing_events (or its auth
 * events are unknown). As the spec suggests and Synapse does, /state_ids comes first:
 * it names the state and auth chain by event ID only, the events we already hold
 * (outliers included) are taken from our store, and only the missing ones are fetched
 * with /event, concurrently (hs_fed_send_many). When too many are missing, or anything
 * on that path fails (no answer, a malformed one, a fetched event whose ID is not the
 * one asked for, the assembled state failing the checks), the whole state is asked
 * with /state instead, as before.
 *
 * Either way the result is checked by hs_fed_state_validate in full - nothing the
 * other server sent, and nothing taken from our store, skips a check. Nothing is
 * written here: the caller stores what it lacks. No clock is read here; requests go
 * through hs_fed (its transport and timeouts). */
#ifndef HS_FED_STATE_FETCH_H
#define HS_FED_STATE_FETCH_H

#include <stdbool.h>
#include <stddef.h>

#include "server-core/hs_fed_rooms.h"
#include "server-core/hs_room_version.h"

struct hs_server;

/* At most this many events are fetched one by one with /event; a larger gap in what we
 * hold is cheaper as one /state answer. */
#define HS_FED_STATE_FETCH_MAX_MISSING 200
/* Event IDs a /state_ids answer may name (state and auth chain together): the bound
 * hs_fed_state_validate puts on the same state sent as PDUs. */
#define HS_FED_STATE_FETCH_MAX_IDS 100000

/* How the state was obtained (for logs and tests). */
typedef struct hs_fed_state_fetch_stats {
    size_t ids;          /* distinct event IDs /state_ids named (0 when it gave none) */
    size_t held;         /* of those, taken from our store */
    size_t fetched;      /* of those, fetched with /event */
    bool via_state_ids;  /* the checked state came from /state_ids (+ /event) */
    bool via_state;      /* the checked state came from /state */
} hs_fed_state_fetch_stats;

/* Asks `origin` for the state of room_id (version rv) before event_id and checks it
 * with hs_fed_state_validate: /state_ids plus our store plus /event for the missing
 * (at most HS_FED_STATE_FETCH_MAX_MISSING of them and at most half), else /state.
 * Returns 0 with *out filled (free with hs_fed_state_set_clear); 1 when origin gave no
 * usable answer to either request (nothing to check); -1 when what it sent fails the
 * checks (msg says why). *stats (may be NULL) is filled in every case. */
int hs_fed_state_fetch(struct hs_server *srv, const hs_room_version *rv, const char *origin, const char *room_id,
                       const char *event_id, hs_fed_state_set *out, hs_fed_state_fetch_stats *stats, char *msg,
                       size_t msg_len);

#endif
