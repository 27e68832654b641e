/* hs_event_id: the hashes that identify an event and its content (Server-Server API,
 * "Calculating the content hash" and "Calculating the reference hash"), event IDs per
 * room version, and the room v12 room ID derived from the create event.
 *
 *   content hash   = sha256(canonical(pdu minus unsigned, signatures, hashes))
 *   reference hash = sha256(canonical(redact(pdu) minus signatures, unsigned))
 *   event ID       v1-2: chosen by the origin ("$local:server", read from the PDU)
 *                  v3:   "$" + standard unpadded base64 of the reference hash
 *                  v4+:  "$" + URL-safe unpadded base64 of the reference hash
 *   v12 room ID    "!" + URL-safe unpadded base64 of the create event's reference hash
 * Integers outside +-(2^53-1) are hashed as written for room versions 1-5 (the spec asks
 * servers to cope with such old events) and refused for v6+. */
#ifndef HS_EVENT_ID_H
#define HS_EVENT_ID_H

#include <jansson.h>
#include <stdint.h>

#include "server-core/hs_canonical_json.h"
#include "server-core/hs_room_version.h"

/* Computes the content hash of `pdu` into out. Returns 0, or -1 with err set. */
int hs_event_content_hash(const json_t *pdu, uint8_t out[32], hs_err *err);

/* Sets pdu.hashes.sha256 to the content hash (other hash algorithms are kept).
 * Returns 0, or -1 with err set. */
int hs_event_add_content_hash(json_t *pdu, hs_err *err);

/* Checks pdu.hashes.sha256 against the content hash. Returns 0 on a match; -1 with err
 * saying whether the hash is missing, malformed or does not match. */
int hs_event_check_content_hash(const json_t *pdu, hs_err *err);

/* Computes the reference hash of `pdu` under `rv` into out. Returns 0 or -1. */
int hs_event_reference_hash(const json_t *pdu, const hs_room_version *rv, uint8_t out[32], hs_err *err);

/* The event ID of `pdu` under `rv`: computed from the reference hash for v3+, or copied
 * from pdu.event_id for v1-2 (NULL with err if that is missing). Returns a malloc'd
 * string the caller free()s, or NULL with err set. */
char *hs_event_id_compute(const json_t *pdu, const hs_room_version *rv, hs_err *err);

/* The room ID that a v12 create event defines ("!" + URL-safe base64 of its reference
 * hash). Fails with err if rv does not derive room IDs from the create event or the
 * event is not an m.room.create. Returns a malloc'd string the caller free()s. */
char *hs_room_id_from_create(const json_t *create, const hs_room_version *rv, hs_err *err);

#endif
