/* hs_api_rooms: the Client-Server endpoints for rooms (spec v1.12 "Rooms"): createRoom,
 * send, state (get/put, one key or all), event by ID, joined_rooms, join (by room ID),
 * leave, invite and messages, on /_matrix/client/v3 and the r0 paths. The handlers
 * authenticate, turn the request into hs_room engine calls and answer in the client
 * event format. They keep no state of their own: the server is the context. */
#ifndef HS_API_ROOMS_H
#define HS_API_ROOMS_H

struct hs_server;

/* Registers the endpoints on the client router. Returns 0, or -1 on a routing error. */
int hs_api_rooms_register(struct hs_server *srv);

#endif
