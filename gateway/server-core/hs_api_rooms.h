/* hs_api_rooms: the Client-Server endpoints for rooms (spec v1.12 "Rooms") on
 * /_matrix/client/v3 and the r0 paths: createRoom, send, state (get/put, one key or
 * all), redact, event by ID, joined_rooms, join (room ID or local alias), leave, invite,
 * kick, ban, unban, forget, messages, context, members, joined_members, and relations
 * (also on /_matrix/client/v1, where the spec puts it). The handlers authenticate, turn
 * the request into hs_room engine calls or room store reads and answer in the client
 * event format (hs_room_format). They keep no state of their own: the server is the
 * context. */
#ifndef HS_API_ROOMS_H
#define HS_API_ROOMS_H

struct hs_server;

/* Registers the endpoints on the client router. Returns 0, or -1 on a routing error. */
int hs_api_rooms_register(struct hs_server *srv);

#endif
