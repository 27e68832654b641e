/* hs_server_acl: server access control lists for rooms (m.room.server_acl; Client-Server
 * API "Server Access Control Lists (ACLs) for rooms", Server-Server API "Server Access
 * Control Lists"). A room's ACL decides which servers may take part in it over
 * federation; the federation endpoints that serve or accept a room's events ask
 * hs_server_acl_room_allows before acting for a requesting server.
 *
 * The decision, in the spec's order: no ACL in the room's current state allows; an IP
 * literal server name is denied when allow_ip_literals is false (true when missing or
 * not a boolean); a name matching a `deny` entry is denied; a name matching an `allow`
 * entry is allowed; anything else is denied (so a missing `allow` denies everyone).
 * The port is never compared. Entries are globs (`*` any run, `?` one character),
 * matched case-insensitively like DNS names; entries that are not strings, and entries
 * longer than HS_SERVER_ACL_ENTRY_MAX (no server name is that long), never match.
 * Not here: the EDU side (MSC4163) and what is done with a refusal. */
#ifndef HS_SERVER_ACL_H
#define HS_SERVER_ACL_H

#include <jansson.h>
#include <stdbool.h>

#include "server-core/hs_store.h"

#define HS_SERVER_ACL_ENTRY_MAX 1024

/* Whether the ACL with content `content` (an m.room.server_acl content object; NULL or
 * not an object is an ACL without allow, which denies everyone) lets `server_name`
 * (host with optional :port) take part. Pure; `server_name` may be any string. */
bool hs_server_acl_allows(const json_t *content, const char *server_name);

/* Whether the current state of `room_id` lets `server_name` take part: 1 allowed (also
 * when the room has no ACL or is unknown here), 0 denied, -1 when the store could not be
 * read. */
int hs_server_acl_room_allows(hs_store *st, const char *room_id, const char *server_name);

#endif
