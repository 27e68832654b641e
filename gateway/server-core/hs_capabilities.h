/* hs_capabilities: GET /capabilities (spec v1.12 "Capabilities negotiation"): what this
 * server lets clients do - change passwords (yes), set display names and avatars (yes),
 * change 3PIDs (no: the server has no third-party identifiers) - and which room versions
 * new rooms may use (those the room engine creates: 3 and up, all stable) with the
 * configured default. */
#ifndef HS_CAPABILITIES_H
#define HS_CAPABILITIES_H

#include <jansson.h>

struct hs_server;

/* The "capabilities" object for a server whose default room version is
 * `default_version`. Returns a new object (caller decrefs) or NULL. */
json_t *hs_capabilities_json(const char *default_version);

/* Registers GET /capabilities on the client router. Returns 0, or -1. */
int hs_capabilities_register(struct hs_server *srv);

#endif
