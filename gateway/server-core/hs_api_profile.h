/* hs_api_profile: the Client-Server profile endpoints (spec v1.12 "Profiles"):
 * GET /profile/{userId}, GET and PUT /profile/{userId}/displayname and
 * /profile/{userId}/avatar_url, for local users. Reading needs no access token (Synapse's
 * default); writing needs the user's own token. Remote users are 404 M_NOT_FOUND until
 * federation profile queries exist. */
#ifndef HS_API_PROFILE_H
#define HS_API_PROFILE_H

struct hs_server;

/* Registers the endpoints on the client router. Returns 0, or -1 on a routing error. */
int hs_api_profile_register(struct hs_server *srv);

#endif
