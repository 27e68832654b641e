/* hs_api_rooms_internal: helpers shared by the rooms endpoint files (hs_api_rooms.c for
 * writes, hs_api_rooms_read.c for reads) and the room extras (hs_api_misc*.c, search,
 * tags): the clock, the engine for a server, engine statuses as HTTP errors, the request
 * body, the membership gate for reading a room, and the viewer for the client event
 * format. Not for other modules. */
#ifndef HS_API_ROOMS_INTERNAL_H
#define HS_API_ROOMS_INTERNAL_H

#include <jansson.h>
#include <stdint.h>

#include "server-core/hs_access.h"
#include "server-core/hs_http.h"
#include "server-core/hs_room.h"
#include "server-core/hs_room_format.h"
#include "server-core/hs_server.h"

/* The room engine over the server's store, key and configuration. */
hs_room_engine hs_api_rooms__engine(hs_server *srv);

/* Answers a failed engine status with the spec's status and errcode. */
void hs_api_rooms__answer(hs_response *resp, const hs_room_result *res);

/* The request body as a JSON object (new reference), or NULL after answering 400 M_NOT_JSON. */
json_t *hs_api_rooms__body(const hs_request *req, hs_response *resp);

/* 404 for an unknown room, 403 unless `user` is joined. Returns 0 when readable, else
 * -1 after answering. */
int hs_api_rooms__require_joined(hs_server *srv, const char *room_id, const char *user, hs_response *resp);

/* The viewer for `who` at `now` (aggregations on). Borrows who. */
hs_room_viewer hs_api_rooms__viewer(const hs_access_identity *who, int64_t now);

/* Registers the read endpoints (hs_api_rooms_read.c). Returns 0 or -1. */
int hs_api_rooms__register_reads(hs_server *srv);

#endif
