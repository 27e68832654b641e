/* hs_api_tags: the room tagging endpoints (GET /user/{userId}/rooms/{roomId}/tags,
 * PUT and DELETE .../tags/{tag}) on the Client-Server API, stored as the room's m.tag
 * account data so /sync delivers them. */
#ifndef HS_API_TAGS_H
#define HS_API_TAGS_H

struct hs_server;

/* Registers the endpoints on the client router. Returns 0, or -1 on a routing error. */
int hs_api_tags_register(struct hs_server *srv);

#endif
