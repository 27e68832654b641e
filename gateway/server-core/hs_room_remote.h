/* hs_room_remote: accepting an event another server sent us into a room we are in, with
 * the Server-Server API's checks in the spec's order ("Checks performed on receipt of a
 * PDU"):
 *
 *   1. format: hs_pdu_validate for the room's version, at most 65,536 bytes, the room
 *      ID is the room it was sent for;
 *   2. signatures: every server hs_event_required_signers names (the sender's server,
 *      the v1-2 event ID's server, a restricted join's authorising server) has a valid
 *      signature by one of its keys (the key source is the caller's: hs_fed_get_verify_key
 *      on a server, fixture keys in tests; for v5+ the key must be valid at the event's
 *      origin_server_ts);
 *   3. content hash: on mismatch the event is not rejected but replaced by its redacted
 *      form, which is what gets stored and served;
 *   4. auth against its own auth_events (hs_auth_check_with_auth_events);
 *   5. auth against the state before it: the state after its prev_event, or the
 *      resolution (hs_stateres) of the states after each of several prev_events;
 *   6. soft failure: auth against the room's current state; a soft-failed event is
 *      remembered (hs_store_fed_soft_failed) but kept out of the timeline, the state and
 *      the forward extremities.
 * Then it is persisted with the state after it, the room's forward extremities become
 * (old ones - its prev_events) + it, and the current state the state after it, or the
 * resolution of the states after every extremity if the room forked.
 *
 * Steps 1-3 run without the room lock (key fetches may go over the network); 4-6 and
 * the write hold hs_room_lock, so they never interleave with a local send. An event
 * that extends the room's only head (the usual case) has the current state as its
 * state before, so 5 and 6 are one check of the few keys the auth rules read; only
 * forks and gaps load whole state maps.
 *
 * What is not here: fetching what is missing. An event whose prev_events or
 * auth_events we do not hold is answered HS_REMOTE_MISSING naming them; the /send
 * handler (hs_fed_rooms.c) fetches a small gap with get_missing_events, or gets the
 * state before the event from its origin and uses hs_room_remote_accept_with_state.
 * Rejected events are not stored at all (so an event citing one is MISSING, not
 * rejected for a rejected ancestor). */
#ifndef HS_ROOM_REMOTE_H
#define HS_ROOM_REMOTE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "server-core/hs_canonical_json.h"
#include "server-core/hs_room.h"
#include "server-core/hs_room_version.h"
#include "server-core/hs_state_map.h"
#include "server-core/hs_store_rooms.h"

/* Where verify keys come from: fills out with the key (server, key_id) usable for an
 * event sent at valid_at_ms (0: no validity requirement). Returns 0 or -1 with err. */
typedef int (*hs_room_key_fn)(void *ctx, const char *server, const char *key_id, int64_t valid_at_ms,
                              uint8_t out[32], hs_err *err);

typedef struct hs_room_remote {
    const hs_room_engine *e;   /* store, our server name, notifier */
    hs_room_key_fn get_key;
    void *key_ctx;
} hs_room_remote;

typedef enum {
    HS_REMOTE_ACCEPTED = 0,
    HS_REMOTE_DUPLICATE,    /* stored (or soft-failed) before; nothing done (an outlier,
                             * held as state or auth only, is accepted into the timeline) */
    HS_REMOTE_SOFT_FAILED,  /* passed 1-5, failed against the current state */
    HS_REMOTE_REJECTED,     /* failed 1, 2, 4 or 5; res.msg says which and why */
    HS_REMOTE_MISSING,      /* prev_events / auth_events unknown; res.msg names them */
    HS_REMOTE_ERROR,        /* database or internal failure */
} hs_remote_status;

typedef struct hs_remote_result {
    hs_remote_status status;
    bool redacted;          /* the content hash did not match: stored redacted */
    bool missing_prev;      /* HS_REMOTE_MISSING because of prev_events (not auth_events) */
    char event_id[256];     /* set once computed (from step 1 on) */
    char msg[512];
} hs_remote_result;

/* Static name of a status ("accepted", "rejected", ...). */
const char *hs_remote_status_str(hs_remote_status s);

/* Step 2 alone: checks every required signature of `pdu` under rv. valid_at is the
 * event's origin_server_ts for v5+ rooms. Returns 0 or -1 with err naming the server. */
int hs_room_remote_check_signatures(const hs_room_remote *r, const json_t *pdu, const hs_room_version *rv,
                                    hs_err *err);

/* Step 3 alone: a new reference to `pdu` itself when its content hash matches, or to
 * its redacted form (with *redacted set) when it does not. NULL on allocation failure. */
json_t *hs_room_remote_check_hash(const json_t *pdu, const hs_room_version *rv, bool *redacted);

/* Runs every check on `pdu` (borrowed) for room_id and persists it. Returns the status,
 * also in res (which is always filled). */
hs_remote_status hs_room_remote_accept(const hs_room_remote *r, const char *room_id, const json_t *pdu,
                                       hs_remote_result *res);

/* Fills pdu.auth_events from the room's current state with the keys the auth events
 * selection algorithm asks for. Returns 0, or -1 with err. */
int hs_room_remote_select_auth(hs_store *st, const hs_room_version *rv, const char *room_id, json_t *pdu,
                               hs_err *err);

/* Checks `pdu` against the room's current state (the auth rules only). Returns
 * HS_AUTH_OK (0) or the failed rule with the message in *msg (of msg_len bytes). A
 * database error counts as a failure. */
int hs_room_remote_auth_current(hs_store *st, const hs_room_version *rv, const char *room_id, const json_t *pdu,
                                char *msg, size_t msg_len);

/* hs_room_remote_accept for an event whose prev_events are (partly) unknown, with the
 * state before it given by the caller (checked beforehand: another server's answer to
 * /state, see hs_fed_rooms.c). Known prev_events stop being forward extremities;
 * unknown ones are simply not part of our graph (a gap before the event). Returns as
 * hs_room_remote_accept. */
hs_remote_status hs_room_remote_accept_with_state(const hs_room_remote *r, const char *room_id, const json_t *pdu,
                                                  const hs_state_map *before, hs_remote_result *res);

/* The store row of a checked remote PDU (borrowed: every string of the row points into
 * pdu, event_id, room_id or text, which must outlive it). */
hs_store_new_event hs_room_remote_row(const json_t *pdu, const hs_room_version *rv, const char *event_id,
                                      const char *room_id, const char *text);

/* The room version of a room we hold, or NULL (unknown room, database error). */
const hs_room_version *hs_room_remote_version(hs_store *st, const char *room_id);

#endif
