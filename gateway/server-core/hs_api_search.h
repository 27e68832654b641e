/* hs_api_search: POST /search on the Client-Server API (room_events only, the one
 * category of the spec): full-text search over the caller's joined rooms with filters,
 * rank or recent order, event context, current state, groupings and next_batch paging.
 * Request checking is hs_search; the index and queries are hs_store_search. */
#ifndef HS_API_SEARCH_H
#define HS_API_SEARCH_H

struct hs_server;

/* Registers the endpoint on the client router. Returns 0, or -1 on a routing error. */
int hs_api_search_register(struct hs_server *srv);

#endif
