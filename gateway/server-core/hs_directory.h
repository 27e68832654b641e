/* hs_directory: the rules of the room directory that do not depend on HTTP - which
 * aliases this server may hold, who may edit a room's directory entries (aliases and
 * publication), and what a room looks like in the public room list.
 *
 * Permission model (Synapse's): a user may edit a room's directory entries if they are
 * joined to it and their power level is at least what the room requires for sending an
 * m.room.canonical_alias state event. An alias's creator may always delete it. Server
 * admins are not special-cased yet. It does not send events (clients send
 * m.room.canonical_alias themselves) and does not talk to other servers. */
#ifndef HS_DIRECTORY_H
#define HS_DIRECTORY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "server-core/hs_store.h"

/* True when `alias` is a grammatical room alias ("#localpart:server") whose server part
 * is `server_name`. */
bool hs_directory_alias_is_local(const char *alias, const char *server_name);

/* The alias "#localpart:server_name" built from createRoom's room_alias_name into
 * `out`. Returns 0, or -1 when the result would not be a valid alias (the localpart
 * contains ':' or whitespace, is empty, or the alias exceeds 255 bytes). */
int hs_directory_alias_from_name(const char *localpart, const char *server_name, char *out, size_t cap);

/* Whether `user_id` may edit the room's directory entries (see above) into *allowed.
 * Returns 0, 1 for an unknown room, -1 on a database error. */
int hs_directory_can_edit(hs_store *st, const char *room_id, const char *user_id, bool *allowed);

/* Whether the room's current history visibility is world_readable, into *out. Returns 0
 * (also for an unknown room: false) or -1 on a database error. */
int hs_directory_world_readable(hs_store *st, const char *room_id, bool *out);

/* The entries of every published room in the public room list ("PublishedRoomsChunk":
 * room_id, num_joined_members, world_readable, guest_can_join, and when set join_rule,
 * name, topic, canonical_alias, avatar_url, room_type), in room ID order. Two queries
 * whatever the number of rooms. Returns a new array or NULL on a database error. */
json_t *hs_directory_public_rooms(hs_store *st);

/* ---- the public room list as /publicRooms answers it --------------------------------
 * Shared by the client endpoints and the federation ones, so both answer alike. Order:
 * joined member count (descending), then room ID, after the filter. Batch tokens are
 * offsets into that order written "p<N>" (a room published or joined between two pages
 * can shift the order by one entry, the approximation Synapse's tokens make too). The
 * filter's generic_search_term matches (ASCII case-insensitively) a substring of the
 * name, topic or canonical alias; room_types keeps rooms whose type is listed (null
 * stands for rooms without a type). No room here is published to an application
 * service's third-party network, so a third_party_instance_id (without
 * include_all_networks) lists nothing. A limit of 0 means no limit (the federation
 * spec's default, Synapse's reading for both APIs); a page never holds more than
 * HS_DIRECTORY_PAGE_MAX rooms. */

#define HS_DIRECTORY_PAGE_MAX 100      /* rooms per page, also when no limit is asked */
#define HS_DIRECTORY_TERM_MAX 512      /* bytes of generic_search_term */
#define HS_DIRECTORY_ROOM_TYPES_MAX 16 /* entries of filter.room_types */
#define HS_DIRECTORY_SINCE_MAX 1024    /* bytes of a since token passed on to another server */

/* One /publicRooms request, parsed. Strings and room_types are borrowed from the query
 * or body they were parsed from. */
typedef struct hs_directory_query {
    long limit;                          /* -1: none asked (or 0); else 1..HS_DIRECTORY_PAGE_MAX */
    const char *since;                   /* NULL: first page; opaque until listed here */
    const char *term;                    /* NULL: no search */
    const json_t *room_types;            /* NULL: any type */
    bool include_all_networks;
    const char *third_party_instance_id; /* NULL: the server's own list */
} hs_directory_query;

/* Why a request was refused: always status 400, with this errcode and message. */
typedef struct hs_directory_error {
    const char *errcode;
    char msg[160];
} hs_directory_error;

/* A GET /publicRooms query string's parameters (each NULL when absent) into *q.
 * Returns 0, or -1 with *e (limit not a non-negative integer, since too long, both
 * include_all_networks=true and third_party_instance_id). */
int hs_directory_query_from_params(const char *limit, const char *since, const char *include_all_networks,
                                   const char *third_party_instance_id, hs_directory_query *q,
                                   hs_directory_error *e);

/* A POST /publicRooms body (limit, since, filter.generic_search_term,
 * filter.room_types, include_all_networks, third_party_instance_id) into *q, borrowing
 * from `body`. Returns 0, or -1 with *e for a field of the wrong type or size. */
int hs_directory_query_from_body(const json_t *body, hs_directory_query *q, hs_directory_error *e);

/* Whether a directory entry passes q's filter (search term and room types). */
bool hs_directory_entry_matches(const json_t *entry, const hs_directory_query *q);

/* This server's answer to q: {chunk, total_room_count_estimate, next_batch?,
 * prev_batch?} as a new object into *out. Returns 0, 1 when q->since is not a token
 * of this server (nothing in *out), -1 on a database error. */
int hs_directory_public_list(hs_store *st, const hs_directory_query *q, json_t **out);

#endif
