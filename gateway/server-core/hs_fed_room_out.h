/* hs_fed_room_out: the steps a local user's join (hs_fed_join) and knock (hs_fed_knock)
 * on a room other servers hold have in common: the list of servers to try (deduplicated,
 * valid names, never ours, at most HS_FED_ROOM_CANDIDATES), a signed federation call
 * whose failure keeps the HTTP status (a resident's 403 is the room's answer, not a
 * network failure), resolving an alias of another server (query/directory), and on
 * the client side the `server_name`/`via` query parameters and the error answers.
 *
 * Checking a membership template and filling its content is each caller's; signing
 * the checked template is here, and so is storing a local user's membership in a room
 * held elsewhere (knock, received invite, its rejection) as a stub. */
#ifndef HS_FED_ROOM_OUT_H
#define HS_FED_ROOM_OUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server-core/hs_canonical_json.h"
#include "server-core/hs_http.h"
#include "server-core/hs_room.h"

struct hs_server;

#define HS_FED_ROOM_CANDIDATES 16

/* Servers to ask, in the order added. `self` (our server name, borrowed) is left out. */
typedef struct hs_fed_room_candidates {
    const char *self;
    char name[HS_FED_ROOM_CANDIDATES][256];
    size_t n;
} hs_fed_room_candidates;

/* Adds `server` unless it is NULL, not a valid server name, ours, there already, or the
 * list is full. */
void hs_fed_room_candidate_add(hs_fed_room_candidates *c, const char *server);

/* The outcome of hs_fed_room_call: the HTTP status (0 when no answer came) and, when
 * the call returned NULL, why; for an error answer whose body is a Matrix error, its
 * errcode and (M_INCOMPATIBLE_ROOM_VERSION) room_version, else empty. */
typedef struct hs_fed_room_call {
    long status;
    char msg[400];
    char errcode[64];
    char room_version[32];
} hs_fed_room_call;

/* A signed GET/PUT to `server` (body may be NULL). Returns the parsed JSON of a 200
 * answer (new reference), else NULL with *out set. An errcode or room version that is
 * too long or not made of [A-Za-z0-9._-] is left out. */
json_t *hs_fed_room_call_json(struct hs_server *srv, const char *server, const char *method, const char *target,
                              const json_t *body, hs_fed_room_call *out);

/* The room ID of room_id_or_alias into room_id (cap bytes): a room ID is taken as it
 * is; an alias (#a:other) is asked of its server, whose answer's servers and the alias's
 * server become candidates. Returns HS_ROOM_OK, HS_ROOM_NOT_FOUND (the alias did not
 * resolve) or HS_ROOM_BAD_REQUEST (too long), with res->msg. */
hs_room_status hs_fed_room_resolve(struct hs_server *srv, const char *room_id_or_alias, char *room_id, size_t cap,
                                   hs_fed_room_candidates *c, hs_room_result *res);

/* Makes a resident's checked membership template ours: our time and (where the room
 * version has the field) origin, without the resident's signatures, hashes, unsigned
 * section and event ID, then signed with our key. Returns the event ID (malloc'd), or
 * NULL with err. */
char *hs_fed_room_sign_template(struct hs_server *srv, json_t *ev, const hs_room_version *rv, int64_t now_ms,
                                hs_err *err);

/* Stores `pdu` (ID event_id, room version rv), a membership event of a local user in a
 * room this server does not hold - an invite received, its rejection, a knock - as the
 * stub room its client sees (hs_store_fed_stub_membership; the membership is the
 * event's content.membership), under the room lock, and wakes /sync when written.
 * Returns 0, 1 when the room is held here (nothing written), -1 on error. */
int hs_fed_room_store_stub(struct hs_server *srv, const hs_room_version *rv, const json_t *pdu, const char *event_id);

/* Whether local user_id's join of room_id, a room we hold, is one only another server
 * can vouch for: the restricted join rule admits the user by our view of the allowed
 * rooms, but none of our joined users may invite (hs_room_restricted_join answers
 * HS_RESTRICTED_NO_AUTHORISER). */
bool hs_fed_join_needs_voucher(struct hs_server *srv, const char *room_id, const char *user_id);

/* That join, as if we were not in the room: make_join through each other server with
 * users joined to room_id (at most HS_FED_ROOM_CANDIDATES) until one names its own
 * authoriser; the template is signed as ours, sent with send_join, and the copy that
 * server countersigned is accepted into our room like a received event (and sent on to
 * the room's other servers by the queue). Returns HS_ROOM_OK, or the most telling
 * failure (hs_fed_room_keep) in res. */
hs_room_status hs_fed_join_vouched(struct hs_server *srv, const char *user_id, const char *room_id, int64_t now_ms,
                                   hs_room_result *res);

/* The request's `server_name` and `via` query values, at most max, into via (borrowed
 * from req). Returns how many. */
size_t hs_fed_room_via(const hs_request *req, const char **via, size_t max);

/* Sets res from a failed call to a resident (`step` names it in the message): a 4xx
 * answer with an errcode is a refusal kept in res->remote_status/errcode/room_version
 * (status HS_ROOM_FORBIDDEN for 403, HS_ROOM_NOT_FOUND for 404, else
 * HS_ROOM_BAD_REQUEST); anything else (no answer, 5xx, no errcode, a 401 or a token
 * errcode - about our signature, not the room) is HS_ROOM_ERROR. Returns res->status. */
hs_room_status hs_fed_room_refusal(hs_room_result *res, const hs_fed_room_call *call, const char *step);

/* For a join/knock tried through several servers: copies `attempt` into *best when
 * *best is unset (have false) or attempt tells the client at least as much - a 403 over
 * M_INCOMPATIBLE_ROOM_VERSION over other refusals over M_UNABLE_TO_GRANT_JOIN over
 * M_UNABLE_TO_AUTHORISE_JOIN over not found over failures (the later of equals wins). */
void hs_fed_room_keep(hs_room_result *best, bool have, const hs_room_result *attempt);

/* Answers a failed join/leave/knock over federation (s is not HS_ROOM_OK): a resident's
 * refusal (res->remote_status 4xx with an errcode, hs_fed_room_refusal) with that status
 * and errcode (and room_version when there is one); otherwise 404 M_NOT_FOUND, 403
 * M_FORBIDDEN, 400 M_INVALID_PARAM, else 502 M_UNKNOWN "<what> over federation failed:
 * ...". */
void hs_fed_room_answer_error(hs_response *resp, hs_room_status s, const hs_room_result *res, const char *what);

#endif
