/* hs_fed_rooms: rooms across servers, the transport-neutral half. Inbound Server-Server
 * endpoints (all registered with hs_fed_route, so authenticated before they run):
 *
 *   PUT  /v1/send/{txnId}                 PDUs through hs_room_remote (per-PDU results),
 *                                         m.receipt EDUs; a retried txnId gets the
 *                                         recorded answer (persisted per origin)
 *   GET  /v1/event/{eventId}              one event
 *   GET  /v1/state/{roomId}?event_id=     state before the event + its auth chain (PDUs)
 *   GET  /v1/state_ids/{roomId}?event_id= the same as IDs
 *   GET  /v1/event_auth/{roomId}/{eventId} the event's auth chain
 *   GET  /v1/backfill/{roomId}?v=&limit=  events before v, newest first
 *   POST /v1/get_missing_events/{roomId}  events between earliest and latest
 *   GET  /v1/make_join/{roomId}/{userId}  a join template in our room version (a
 *                                         restricted room's names our authorising
 *                                         user, hs_room_restricted.h)
 *   PUT  /v1|v2/send_join/{roomId}/{eventId} checks + persists the join (countersigned
 *                                         when it names one of our users as its
 *                                         authoriser), answers state and auth chain
 *   GET  /v1/make_knock/{roomId}/{userId} a knock template (v7+ rooms; 403 unless the
 *                                         join rule allows knocking)
 *   PUT  /v1/send_knock/{roomId}/{eventId} checks + persists the knock, answers the
 *                                         stripped state (knock_room_state)
 *   GET  /v1/query/directory?room_alias=  a local alias
 *
 * The read endpoints answer only servers with a joined member in the room (or any
 * server for a world_readable room): that is the basic history visibility rule.
 *
 * Missing prev_events on /send: when an event's prev_events are unknown, up to
 * HS_FED_MISSING_LIMIT of them are fetched from the origin with get_missing_events and
 * accepted oldest first, then the event is tried again. When the gap is larger (or the
 * event's auth events are unknown to us), the origin is asked for the state before the
 * event (hs_fed_state_fetch.h: /state_ids, the events we lack with /event, else /state),
 * which is checked like a join's answer (hs_fed_state_validate); the events we lack are stored
 * with that state (hs_store_fed_outliers_put) and the event is accepted on it
 * (hs_room_remote_accept_with_state). Those state events are outliers: state and auth
 * only, never shown in a timeline. The gap itself stays a hole in our history: only
 * history before a room's oldest event is backfilled (hs_fed_backfill), and the event's
 * unknown prev_events are not tracked as backward extremities.
 *
 * Outbound joins live in hs_fed_join.c, invites in hs_fed_invite.c, knocks in
 * hs_fed_knock.c (all declared here). */
#ifndef HS_FED_ROOMS_H
#define HS_FED_ROOMS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "server-core/hs_http.h"
#include "server-core/hs_room.h"
#include "server-core/hs_room_remote.h"
#include "server-core/hs_state_map.h"

struct hs_server;

#define HS_FED_MISSING_LIMIT 10
/* The spec's limits per transaction: what /send accepts and what the sender puts in one. */
#define HS_FED_MAX_PDUS 50
#define HS_FED_MAX_EDUS 100

/* `s` percent-encoded for a path segment or query value (everything but unreserved
 * characters), malloc'd; NULL when out of memory. */
char *hs_fed_pct_encode(const char *s);

/* Adds the endpoints above to srv->federation_router. Returns 0 or -1. */
int hs_fed_rooms_register(struct hs_server *srv);

/* The room engine of the server (as the Client-Server API builds it). */
hs_room_engine hs_fed_rooms_engine(struct hs_server *srv);

/* A key source for hs_room_remote backed by hs_fed_get_verify_key; ctx is the server. */
int hs_fed_rooms_key(void *srv, const char *server, const char *key_id, int64_t valid_at_ms, uint8_t out[32],
                     hs_err *err);

/* Accepts `pdu` into its room on `srv`, fetching a small gap of missing prev_events from
 * `origin` first if needed (see above). Returns the status, also in *res. */
hs_remote_status hs_fed_rooms_accept(struct hs_server *srv, const char *origin, const json_t *pdu,
                                     hs_remote_result *res);

/* The auth chain of the events `ids` as a new JSON array of PDUs (each stored event's
 * PDU), or NULL with err when one is unknown. */
json_t *hs_fed_rooms_auth_chain(struct hs_server *srv, const hs_room_version *rv, const char *const *ids, size_t n,
                                hs_err *err);

/* A room state another server sent (send_join's answer, /state): the checked events
 * by ID (possibly redacted), their IDs with auth events first, and the state map. */
typedef struct hs_fed_state_set {
    json_t *events;      /* event ID -> PDU */
    json_t *order;       /* array of event IDs */
    hs_state_map *state;
} hs_fed_state_set;

/* Checks a `state` list and its `auth_chain` (both arrays of PDUs) in full: each event's
 * format for rv, room, signatures and content hash (redacted on mismatch), every auth
 * event present and each event allowed by its auth events, the state a map of state
 * events holding the create event of rv. Returns 0 with *out filled (free with
 * hs_fed_state_set_clear), or -1 with msg. */
int hs_fed_state_validate(struct hs_server *srv, const hs_room_version *rv, const char *room_id, const json_t *state,
                          const json_t *auth_chain, hs_fed_state_set *out, char *msg, size_t msg_len);
void hs_fed_state_set_clear(hs_fed_state_set *set);

/* send_join v2's `event` in `answer`: the resident's copy of our join `join` (event ID
 * join_id), countersigned when the join rules needed an authorising server (a
 * restricted join's join_authorised_via_users_server). When it is the same event (same
 * event ID), the other servers' signatures on it are added to `join` and all of join's
 * required signatures are verified. Returns 1 when signatures were added, 0 when the
 * answer holds no such copy (join unchanged), -1 with msg when a signature fails. */
int hs_fed_join_countersigned(struct hs_server *srv, const hs_room_version *rv, json_t *join, const char *join_id,
                              const json_t *answer, char *msg, size_t msg_len);

/* Sets res to status s with a printf-style message and returns s: how the federation
 * membership paths (join, leave, invite) report a failure. */
hs_room_status hs_fed_room_fail(hs_room_result *res, hs_room_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Joins local `user_id` to a room on other servers (room ID or alias): an alias is
 * resolved with its server's query/directory; then make_join on each candidate server
 * (the alias answer's servers, `via`, the room ID's server) until one answers, the
 * template signed as ours, send_join v2, and the returned state and auth chain checked
 * in full (format, signatures, hashes, auth of every event against its auth events,
 * the join against the returned state) before the room is created locally from them.
 * Returns HS_ROOM_OK with *room_id_out (malloc'd), or a status with res->msg. */
hs_room_status hs_fed_join_remote(struct hs_server *srv, const char *user_id, const char *room_id_or_alias,
                                  const char *const *via, size_t n_via, int64_t now_ms, char **room_id_out,
                                  hs_room_result *res);

/* Adds the invite endpoints (hs_fed_invite.c): PUT /v1 and /v2/invite/{roomId}/{eventId}.
 * A valid invite of a local user (signed by the inviter's server) is countersigned and
 * returned; for a room we do not hold it is stored as a stub (hs_store_fed_stub_membership)
 * so the invitee sees it in /sync. Returns 0 or -1. */
int hs_fed_invite_register(struct hs_server *srv);

/* Invites remote user `target` to our room `room_id` on behalf of local `sender`: the
 * invite is built and checked (hs_room_member_build), sent to the invitee's server (PUT
 * /v2/invite with the room's stripped state), and the event that server returns must be
 * ours with only its valid signature added; only then is it accepted into the room
 * (hs_room_remote_accept) and sent on by the queue. An unreachable or refusing server,
 * or a bad answer, stores nothing. Returns HS_ROOM_OK with *event_id (malloc'd), or a
 * status with res->msg (HS_ROOM_FORBIDDEN when the server or the room refused).
 * `is_direct` puts is_direct: true in the invite's content (createRoom's DMs). */
hs_room_status hs_fed_invite_remote(struct hs_server *srv, const char *room_id, const char *sender,
                                    const char *target, const char *reason, bool is_direct, int64_t now_ms,
                                    char **event_id, hs_room_result *res);

/* Sends our stored invite `event_id` to the invitee's server `dest` (PUT /v2/invite with
 * the room's stripped state). Called by the outbound queue for an invite whose
 * invitee's server is not in the room; an invite that server signed already
 * (hs_fed_invite_remote) is not sent again. Returns 0 when dest accepted it (or it was
 * already), -1. */
int hs_fed_invite_send(struct hs_server *srv, const char *dest, const char *event_id);

/* The stripped state (type, state_key, sender, content) of a room's create, join rules,
 * name, canonical alias, avatar, encryption and topic events, as invitees and knockers
 * see it before they join. Returns a new JSON array (the caller decrefs); events that
 * cannot be read are left out. */
json_t *hs_fed_stripped_state(struct hs_server *srv, const char *room_id);

/* Leaves (rejects the invite to, or withdraws the knock on) a stub room: make_leave /
 * send_leave v2 on the inviting server (for a knock: the first other server among the
 * senders of the knock_room_state, else the room ID's server), then the leave is stored
 * in the stub. Returns HS_ROOM_OK or a status with
 * res->msg. */
hs_room_status hs_fed_leave_remote(struct hs_server *srv, const char *user_id, const char *room_id, int64_t now_ms,
                                   hs_room_result *res);

/* Knocks local `user_id` on a room only other servers hold (room ID or an alias of
 * another server; hs_fed_knock.c): make_knock on each candidate server (the alias
 * answer's servers, `via`, the room ID's server) until one gives a template, which is
 * checked, completed with `reason` (may be NULL), signed and sent with send_knock; the
 * knock is then stored as a stub membership with the answer's knock_room_state, which
 * /sync shows under rooms.knock. A resident's 403 ends the attempt. Returns HS_ROOM_OK
 * with *room_id_out (malloc'd), or a status with res->msg; nothing is stored on failure. */
hs_room_status hs_fed_knock_remote(struct hs_server *srv, const char *user_id, const char *room_id_or_alias,
                                   const char *const *via, size_t n_via, const char *reason, int64_t now_ms,
                                   char **room_id_out, hs_room_result *res);

/* The Client-Server API's POST /knock/{roomIdOrAlias} when the room is remote
 * (hs_fed_membership_is_remote(srv, room, "join")): candidates from the `server_name`
 * and `via` query parameters, then hs_fed_knock_remote. Answers resp (200 {room_id},
 * 403, 404, 400, or 502 when no server could be reached). */
void hs_fed_knock_client(const hs_request *req, hs_response *resp, struct hs_server *srv, const char *user_id,
                         const char *room, const char *reason, int64_t now_ms);

/* 1 when local `user_id`'s `membership` change ("join" or "leave") of `room` (ID or
 * alias) has to go over federation: a join of a room only other servers hold (an alias
 * of another server not known locally, a room ID we do not hold, a room where no local
 * user is joined any more, a stub), or a leave of a stub room. 0 otherwise. */
int hs_fed_membership_is_remote(struct hs_server *srv, const char *room, const char *membership);

/* The Client-Server API's join or leave when hs_fed_membership_is_remote: a join takes
 * candidate servers from the request's `server_name` and `via` query parameters and
 * runs hs_fed_join_remote; a leave runs hs_fed_leave_remote. Answers resp (200 with
 * {room_id} for a join, {} for a leave, or the error). */
void hs_fed_membership_client(const hs_request *req, hs_response *resp, struct hs_server *srv, const char *user_id,
                              const char *room, const char *membership, int64_t now_ms);

#endif
