/* hs_api_misc: the client extras on the Client-Server API - TURN server, third-party
 * protocols, 3PIDs, notifications (push rules evaluated at read time), OpenID tokens (and their federation userinfo check),
 * event reports (and Synapse's admin list of them), timestamp_to_event, knock, space
 * hierarchy and room upgrades - and the one registration point for the extras in hs_api_tags and
 * hs_api_search. See hs_api_misc.c for what each answers and why. */
#ifndef HS_API_MISC_H
#define HS_API_MISC_H

struct hs_server;

/* Registers the extras (this file's, the tags and the search endpoints) on the client
 * router and the OpenID userinfo endpoint on the federation router. Returns 0, or -1 on
 * a routing error. */
int hs_api_misc_register(struct hs_server *srv);

#endif
