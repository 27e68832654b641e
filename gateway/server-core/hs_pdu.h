/* hs_pdu: the shape of a PDU (Server-Server API "PDUs" and the per-version event formats)
 * and the identifier grammar of the spec appendix, plus small accessors so the auth
 * rules and state resolution never dig through raw JSON for common fields.
 *
 * hs_pdu_validate checks format only: required fields and their types, identifier
 * grammar, size limits (65,536 bytes canonical; 255 bytes for sender, room_id,
 * state_key, type and event IDs), depth bounds, prev_events/auth_events shape (v1-2
 * [id, {hashes}] pairs; v3+ plain IDs; at most 20 and 10), and canonical JSON values.
 * It does not check hashes, signatures (hs_event_id, hs_signing) or auth (hs_auth).
 * Every rejection has its own message naming the field and the rule. */
#ifndef HS_PDU_H
#define HS_PDU_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "server-core/hs_canonical_json.h"
#include "server-core/hs_room_version.h"

#define HS_ID_MAX_BYTES 255
#define HS_PDU_MAX_PREV_EVENTS 20
#define HS_PDU_MAX_AUTH_EVENTS 10

/* ---- identifier grammar (appendix "Identifier Grammar") ------------------------- */

/* hostname (DNS name, IPv4 or [IPv6]) with an optional :port of 1-5 digits. */
bool hs_is_valid_server_name(const char *s);

/* "@localpart:server_name", localpart in the historical grammar (printable ASCII without
 * ':'), at most 255 bytes. */
bool hs_is_valid_user_id(const char *s);

/* Room IDs: "!opaque:server_name" for v1-11; for v12 "!" + 43 URL-safe base64 chars.
 * rv NULL accepts either form. At most 255 bytes. */
bool hs_is_valid_room_id(const char *s, const hs_room_version *rv);

/* Event IDs: v1-2 "$opaque:server_name"; v3 "$" + 43 standard base64 chars; v4+ "$" +
 * 43 URL-safe base64 chars. rv NULL accepts any of them. At most 255 bytes. */
bool hs_is_valid_event_id(const char *s, const hs_room_version *rv);

/* "#localpart:server_name", at most 255 bytes. */
bool hs_is_valid_room_alias(const char *s);

/* The server name part of a user ID, v1-11 room ID, v1-2 event ID or alias: a pointer
 * into `id` just after the first ':' if the id has a sigil and the rest is a valid
 * server name; NULL otherwise. */
const char *hs_id_server_name(const char *id);

/* ---- accessors (NULL / -1 when absent or of the wrong type) --------------------- */

const char *hs_pdu_type(const json_t *pdu);
const char *hs_pdu_sender(const json_t *pdu);
const char *hs_pdu_room_id(const json_t *pdu);
/* The state_key, or NULL for a non-state event (state_key "" is a state event). */
const char *hs_pdu_state_key(const json_t *pdu);
json_t *hs_pdu_content(const json_t *pdu);  /* borrowed reference */
long long hs_pdu_depth(const json_t *pdu);
long long hs_pdu_origin_server_ts(const json_t *pdu);
/* Number of prev_events / auth_events entries, and the event ID of entry i (handling the
 * v1-2 [id, hashes] pair shape). NULL for a malformed entry or i out of range. */
size_t hs_pdu_prev_event_count(const json_t *pdu);
const char *hs_pdu_prev_event(const json_t *pdu, size_t i);
size_t hs_pdu_auth_event_count(const json_t *pdu);
const char *hs_pdu_auth_event(const json_t *pdu, size_t i);
/* The event an m.room.redaction targets: content.redacts for v11+, else top-level
 * redacts. NULL if absent. */
const char *hs_pdu_redacts(const json_t *pdu, const hs_room_version *rv);

/* ---- validation ----------------------------------------------------------------- */

/* Checks `pdu` against the event format of `rv` as described above. Returns 0, or -1
 * with the first violation in err. */
int hs_pdu_validate(const json_t *pdu, const hs_room_version *rv, hs_err *err);

/* Parses untrusted bytes as a PDU of `rv` (at most HS_PDU_MAX_BYTES, strict canonical
 * JSON for v6+) and validates it. Returns a new reference the caller json_decref()s, or
 * NULL with err set. */
json_t *hs_pdu_parse(const char *buf, size_t len, const hs_room_version *rv, hs_err *err);

#endif
