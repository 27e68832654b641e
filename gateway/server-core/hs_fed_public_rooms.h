/* hs_fed_public_rooms: the public room directory over federation, both ways (spec
 * Server-Server API "Public Room Directory").
 *
 * Inbound: GET and POST /_matrix/federation/v1/publicRooms, authenticated like every
 * federation endpoint, answered from hs_directory_public_list exactly as the client's
 * /publicRooms answers for this server.
 *
 * Outbound: a client's /publicRooms?server=OTHER asks OTHER's federation endpoint
 * (signed): GET without a filter, POST with one; when OTHER does not know the POST form
 * (404, 405 or M_UNRECOGNIZED) the GET form without limit and since is asked and the
 * filter applied here, as Synapse does. The answer is validated before the client sees
 * it (hs_fed_public_rooms_parse). Errors as Synapse gives them: 403 M_FORBIDDEN when
 * OTHER refuses us, otherwise 502 M_UNKNOWN "Failed to fetch room list" (no answer, an
 * error status, an answer that is not a room list).
 *
 * Cache: validated answers are kept HS_FED_PUBLIC_ROOMS_CACHE_MS per (our server name,
 * destination, request), at most HS_FED_PUBLIC_ROOMS_CACHE_ENTRIES of them process-wide
 * (the oldest goes first) and only answers of at most HS_FED_PUBLIC_ROOMS_CACHE_MAX_BYTES
 * (a page of 100 rooms is a few tens of KiB; this keeps the cache under 8 MiB), so
 * clients paging or refreshing a remote directory do not each cost a federation
 * request. Failures are not cached. Not persisted. */
#ifndef HS_FED_PUBLIC_ROOMS_H
#define HS_FED_PUBLIC_ROOMS_H

#include <jansson.h>
#include <stddef.h>

#include "server-core/hs_canonical_json.h"
#include "server-core/hs_directory.h"
#include "server-core/hs_http.h"

struct hs_server;

#define HS_FED_PUBLIC_ROOMS_MAX_BYTES (4u << 20) /* an answer larger than this is refused */
#define HS_FED_PUBLIC_ROOMS_MAX_CHUNK 500        /* entries kept from one answer */
#define HS_FED_PUBLIC_ROOMS_FIELD_MAX 16384      /* bytes of one string field of an entry */
#define HS_FED_PUBLIC_ROOMS_CACHE_MS 60000
#define HS_FED_PUBLIC_ROOMS_CACHE_ENTRIES 32
#define HS_FED_PUBLIC_ROOMS_CACHE_MAX_BYTES (256u << 10) /* larger answers are not cached */

/* Registers GET and POST /_matrix/federation/v1/publicRooms with hs_fed_route. Call
 * after hs_fed_register. Returns 0 or -1. */
int hs_fed_public_rooms_register(struct hs_server *srv);

/* Validates another server's /publicRooms answer (`len` bytes, not NUL-terminated) and
 * returns a new object holding only what the spec defines: chunk (at most
 * HS_FED_PUBLIC_ROOMS_MAX_CHUNK entries, each with a valid room_id, a non-negative
 * num_joined_members, boolean world_readable and guest_can_join, and those of name,
 * topic, avatar_url, canonical_alias, join_rule, room_type that are strings; an entry
 * missing a required field, or with a field of the wrong type or longer than
 * HS_FED_PUBLIC_ROOMS_FIELD_MAX, is dropped and counted into *dropped when non-NULL),
 * next_batch and prev_batch (kept when strings of at most HS_DIRECTORY_SINCE_MAX bytes)
 * and total_room_count_estimate (kept when a non-negative integer). Returns NULL with
 * err when the answer is larger than HS_FED_PUBLIC_ROOMS_MAX_BYTES, not JSON, not an
 * object or has no chunk array. */
json_t *hs_fed_public_rooms_parse(const char *body, size_t len, size_t *dropped, hs_err *err);

/* Answers a client's /publicRooms for q with `server`'s directory, asked over
 * federation (see above; `server` must not be ours). Fills resp: 200 with the validated
 * list, 400 M_INVALID_PARAM for a `server` that is not a server name, 403 M_FORBIDDEN or
 * 502 M_UNKNOWN. Any thread. */
void hs_fed_public_rooms_answer(struct hs_server *srv, const char *server, const hs_directory_query *q,
                                hs_response *resp);

#endif
