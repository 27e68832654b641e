/* hs_room_restricted: restricted joins (MSC3083; join rule "restricted" from room
 * version 8, "knock_restricted" from 10) seen from the resident server. A user who is
 * not invited may join such a room when joined to one of the rooms its join rules allow
 * (`allow` entries of type m.room_membership); the auth rules then want the join to
 * name, in content.join_authorised_via_users_server, a joined user of a resident server
 * with the power to invite, and to carry that server's signature. This module decides
 * whether a join qualifies and which of our users vouches for it; the room engine (local
 * joins) and make_join / send_join (hs_fed_rooms.c) put that in the event.
 *
 * Membership of an allowed room is judged on what this server holds: a room we are not
 * in cannot be judged, which for a user of another server is "cannot tell" (the spec's
 * M_UNABLE_TO_AUTHORISE_JOIN: ask another resident), as Synapse answers. Our own users'
 * memberships are always known to us, so for them it is a plain refusal.
 *
 * Not here: the auth rules themselves (hs_auth_member.c) and signing (the callers). */
#ifndef HS_ROOM_RESTRICTED_H
#define HS_ROOM_RESTRICTED_H

#include <stddef.h>

#include "server-core/hs_room_version.h"
#include "server-core/hs_store.h"

typedef enum {
    HS_RESTRICTED_NOT_NEEDED = 0, /* no authoriser: the join rule is not restricted for this version,
                                     or the user is invited, joined or banned (the auth rules decide) */
    HS_RESTRICTED_ADMITTED,       /* joined to an allowed room (and, from hs_room_restricted_join,
                                     an authoriser was found) */
    HS_RESTRICTED_NOT_MEMBER,     /* in none of the allowed rooms: 403 M_FORBIDDEN */
    HS_RESTRICTED_CANNOT_TELL,    /* another server's user in none of the allowed rooms we hold, and we
                                     are not in all of them: 400 M_UNABLE_TO_AUTHORISE_JOIN */
    HS_RESTRICTED_NO_AUTHORISER,  /* qualifies, but none of our joined users may invite:
                                     400 M_UNABLE_TO_GRANT_JOIN */
    HS_RESTRICTED_ERROR,          /* database failure: 500 */
} hs_restricted_status;

/* Whether `user_id` may join room_id (a room we hold, version rv) without an invite
 * through its restricted join rule, judged by `server_name`'s (our) view. Returns
 * HS_RESTRICTED_NOT_NEEDED, _ADMITTED, _NOT_MEMBER, _CANNOT_TELL or _ERROR; a message for
 * the refusals goes into msg (msg_len bytes, may be 0). */
hs_restricted_status hs_room_restricted_admits(hs_store *st, const hs_room_version *rv, const char *room_id,
                                               const char *user_id, const char *server_name, char *msg,
                                               size_t msg_len);

/* The user of `server_name` who vouches for restricted joins of room_id: among its users
 * joined to the room, the one with the highest power level (ties: the smallest user ID),
 * if that level reaches the room's invite level. Returns 0 with *user (malloc'd, caller
 * frees), 1 when there is none, -1 on a database error. */
int hs_room_restricted_authoriser(hs_store *st, const hs_room_version *rv, const char *room_id,
                                  const char *server_name, char **user);

/* Both for a join of user_id that a resident builds (a local join, make_join): admits,
 * then the authoriser. *authoriser (malloc'd) is set only with HS_RESTRICTED_ADMITTED;
 * HS_RESTRICTED_NOT_NEEDED means the join needs no authoriser. Refusals as above (also
 * HS_RESTRICTED_NO_AUTHORISER), with the message in msg. */
hs_restricted_status hs_room_restricted_join(hs_store *st, const hs_room_version *rv, const char *room_id,
                                             const char *user_id, const char *server_name, char **authoriser,
                                             char *msg, size_t msg_len);

#endif
