/* hs_room: the room engine for local rooms. It turns "user X wants to put this event in
 * room R" into a real PDU and accepts it exactly as it would accept a remote one:
 *
 *   build   prev_events = the room's forward extremities, depth = their max depth + 1,
 *           auth_events = hs_auth_types_for_event's keys looked up in the current state,
 *           origin_server_ts = now, then hashes + signature (hs_event_sign) and the event
 *           ID of the room version (hs_event_id_compute);
 *   check   format (hs_pdu_validate), size (64 KiB), content hash and our own signature,
 *           the auth rules against its auth events (hs_auth_check_with_auth_events) and
 *           against the current state (hs_auth_allowed);
 *   persist the event, its state change, the new forward extremity, the client's
 *           transaction ID and a stream ordering, in one SQLite transaction
 *           (hs_store_event_append): once hs_room_send returns OK the event is durable.
 *
 * Serialisation: one process-wide room lock is held around build-check-persist (and
 * around all events of a createRoom), so two sends to a room never cite the same
 * extremities or race on the current state. One lock for all rooms is simple and
 * enough for an embedded server (a send is a few milliseconds); per-room locks are the
 * step up if it ever shows in profiles. Reads take no lock.
 *
 * Room versions: new rooms may use any supported version from 3 up (1 and 2 use the
 * origin-chosen event IDs and [id, hashes] references, which local rooms do not need).
 * Redactions: hs_room_redact sends m.room.redaction after the Client-Server API's own
 * check (your own event, or the redact power level); the store records the target, and
 * readers serve the target redacted (hs_room_format).
 * Not here: federation (remote servers in rooms), aliases. */
#ifndef HS_ROOM_H
#define HS_ROOM_H

#include <jansson.h>
#include <stdint.h>

#include "server-core/hs_auth.h"
#include "server-core/hs_notify.h"
#include "server-core/hs_room_version.h"
#include "server-core/hs_signing_key.h"
#include "server-core/hs_store.h"

/* What the engine works with; all borrowed, and must outlive every call. */
typedef struct hs_room_engine {
    hs_store *store;
    const char *server_name;
    const hs_signing_key *key;
    const char *default_room_version;   /* for createRoom without room_version */
    hs_notifier *notifier;              /* woken after each persisted event; may be NULL */
} hs_room_engine;

typedef enum {
    HS_ROOM_OK = 0,
    HS_ROOM_NOT_FOUND,            /* unknown room (404 M_NOT_FOUND) */
    HS_ROOM_FORBIDDEN,            /* the auth rules refuse the event (403 M_FORBIDDEN) */
    HS_ROOM_TOO_LARGE,            /* the PDU is over 65,536 bytes (413 M_TOO_LARGE) */
    HS_ROOM_BAD_REQUEST,          /* malformed input (400 M_BAD_JSON / M_INVALID_PARAM) */
    HS_ROOM_UNSUPPORTED_VERSION,  /* 400 M_UNSUPPORTED_ROOM_VERSION */
    HS_ROOM_ERROR,                /* database or internal failure (500) */
} hs_room_status;

/* A status with a message for the client (the auth rule text for HS_ROOM_FORBIDDEN). */
typedef struct hs_room_result {
    hs_room_status status;
    char msg[512];
    /* A refusal relayed from another server (a resident's answer to a join or knock of
     * ours): its 4xx status, errcode and, for M_INCOMPATIBLE_ROOM_VERSION, the room's
     * version - what our client is answered. 0 and empty otherwise; only the federation
     * membership paths fill them (hs_fed_room_fail clears them). */
    int remote_status;
    char errcode[64];
    char room_version[32];
} hs_room_result;

/* A client transaction (PUT .../send/{type}/{txnId}, .../redact/{eventId}/{txnId}); a
 * retry returns the first event. The ID is scoped to the device and the request path:
 * the room, and `scope` - "send/<type>" or "redact/<eventId>", which hs_room_send and
 * hs_room_redact fill in when the caller leaves it NULL. */
typedef struct hs_room_txn {
    const char *user_id;
    const char *device_id;
    const char *txn_id;
    const char *scope;
} hs_room_txn;

/* The current state of a room we hold as the auth rules read it: each lookup goes to
 * the store (a redacted state event counts redacted) and is cached in `cache` for the
 * life of the struct, so a big room costs only the rows asked for. Fill st, rv, room_id
 * (borrowed) and cache (hs_auth_map_new; the caller frees it with hs_auth_map_free);
 * `failed` is set when a lookup hit a database error (that lookup answers "absent"). */
typedef struct hs_room_state {
    hs_store *st;
    const hs_room_version *rv;
    const char *room_id;
    hs_auth_map *cache;
    int failed;
} hs_room_state;

/* The hs_auth_state getter over an hs_room_state (ctx): use {hs_room_state_get, &s}. */
bool hs_room_state_get(void *ctx, const char *type, const char *state_key, hs_auth_entry *out);

/* The version a new room may be created with, or NULL if it is unknown or unsupported
 * for local rooms (see above). Static; never free. */
const hs_room_version *hs_room_version_for_new_room(const char *id);

/* Builds, checks and persists an event from `sender` in `room_id` (state_key NULL for a
 * message event; content is copied). With `txn`, a transaction already answered returns
 * its event again without storing anything. Returns HS_ROOM_OK and *event_id (malloc'd,
 * caller frees; may be NULL if unwanted), or another status with res->msg. */
hs_room_status hs_room_send(const hs_room_engine *e, const char *room_id, const char *sender, const char *type,
                            const char *state_key, const json_t *content, const hs_room_txn *txn, int64_t now_ms,
                            char **event_id, hs_room_result *res);

/* Shorthand for a membership change of `target` by `sender` (join, leave, invite, ...). */
hs_room_status hs_room_membership(const hs_room_engine *e, const char *room_id, const char *sender,
                                  const char *target, const char *membership, int64_t now_ms, char **event_id,
                                  hs_room_result *res);

/* hs_room_membership with an optional `reason` in the content (kick, ban, unban). Both
 * fill a join's or invite's content with the target's profile, and answer a change
 * identical to the target's current membership event (same sender, same content) with
 * that event instead of a new one. */
hs_room_status hs_room_member_change(const hs_room_engine *e, const char *room_id, const char *sender,
                                     const char *target, const char *membership, const char *reason, int64_t now_ms,
                                     char **event_id, hs_room_result *res);

/* hs_room_member_change up to, but not including, the write: the event is built, signed
 * and checked against the current state, and *pdu gets it (a new reference; *event_id its
 * ID, malloc'd), for a change that needs another server's consent first (an invite of a
 * remote user is countersigned by the invitee's server) and is then accepted like a
 * received event. `extra` (may be NULL) adds content keys (is_direct). When the same change is already the target's current membership,
 * *pdu stays NULL and *event_id is that event. Returns HS_ROOM_OK, or a status with
 * res->msg. */
hs_room_status hs_room_member_build(const hs_room_engine *e, const char *room_id, const char *sender,
                                    const char *target, const char *membership, const char *reason,
                                    const json_t *extra, int64_t now_ms, char **event_id, json_t **pdu,
                                    hs_room_result *res);

/* Redacts `target_id` (an event of room_id) by `sender` with an optional reason, through
 * the client transaction `txn` (may be NULL). A sender below the room's redact level may
 * redact only their own events (HS_ROOM_FORBIDDEN otherwise); an event not in the room
 * is HS_ROOM_NOT_FOUND. Returns HS_ROOM_OK and *event_id of the redaction (malloc'd). */
hs_room_status hs_room_redact(const hs_room_engine *e, const char *room_id, const char *sender,
                              const char *target_id, const char *reason, const hs_room_txn *txn, int64_t now_ms,
                              char **event_id, hs_room_result *res);

/* POST /createRoom: `request` is the client's body (preset, name, topic, room_version,
 * initial_state, power_level_content_override, invite (invite events for local users
 * only; users of other servers are left to the caller, see hs_room_create.c), is_direct,
 * visibility, creation_content). Emits the spec's events in order and returns
 * HS_ROOM_OK with *room_id (malloc'd), or a status with res->msg. Input is checked
 * before the first event is written. */
hs_room_status hs_room_create(const hs_room_engine *e, const char *creator, const json_t *request, int64_t now_ms,
                              char **room_id, hs_room_result *res);

/* The process-wide room lock (see above). hs_room_send and hs_room_create take it
 * themselves; exposed so hs_room_create's steps can run as one unit. */
void hs_room_lock(void);
void hs_room_unlock(void);

/* hs_room_send without taking the lock (the caller holds it). `new_room` non-NULL marks
 * the m.room.create event of a room being created, with its directory visibility; for a
 * v12 room the room ID is derived from it and returned in *room_id_out (malloc'd). */
typedef struct hs_room_new {
    const hs_room_version *rv;
    int is_public;
    char **room_id_out;
} hs_room_new;

hs_room_status hs_room_send_locked(const hs_room_engine *e, const char *room_id, const char *sender,
                                   const char *type, const char *state_key, const json_t *content,
                                   const hs_room_txn *txn, const hs_room_new *new_room, int64_t now_ms,
                                   char **event_id, hs_room_result *res);

#endif
