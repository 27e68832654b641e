/* hs_fed_internal: how the federation module's files find each other. hs_fed_register
 * (hs_fed.c) calls these to add the routes that live in their own files; nothing
 * outside the hs_fed / hs_keys_server / hs_fed_query files includes this header. */
#ifndef HS_FED_INTERNAL_H
#define HS_FED_INTERNAL_H

struct hs_server;

/* Adds the key server and notary routes (hs_keys_server.c). Returns 0 or -1. */
int hs_keys_server_register(struct hs_server *srv);

/* Adds the authenticated federation query routes (hs_fed_query.c). Returns 0 or -1. */
int hs_fed_query_register(struct hs_server *srv);

#endif
