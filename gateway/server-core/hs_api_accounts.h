/* hs_api_accounts: the Client-Server endpoints for accounts - registration (open with
 * m.login.dummy, and Synapse's shared-secret admin API), login, logout, whoami,
 * password change, deactivation and device management - on /_matrix/client/v3 and
 * the r0 paths older clients still call. State kept between requests (rate-limit
 * buckets, UIA sessions, admin nonces) lives in a context owned by the server. */
#ifndef HS_API_ACCOUNTS_H
#define HS_API_ACCOUNTS_H

#include <jansson.h>
#include <stdbool.h>

#include "server-core/hs_http.h"

struct hs_server;
typedef struct hs_api_accounts hs_api_accounts;

/* Creates the context (srv->accounts) and registers the endpoints on the client
 * router. Returns 0, or -1 on allocation failure or a routing error. */
int hs_api_accounts_register(struct hs_server *srv);

/* User-interactive auth for another module's endpoint, with the single flow
 * [m.login.password] for the requesting user `user_id` (the flow account/deactivate
 * uses; sessions and rate limits are shared with it). `body` is the request body
 * holding `auth`. Returns true when the stage is complete (its session is then used
 * up); otherwise false with `resp` holding the 401 challenge or the error. */
bool hs_api_accounts_uia_password(struct hs_server *srv, const hs_request *req, const json_t *body,
                                  const char *user_id, hs_response *resp);

/* Frees the context. NULL is allowed. Call only after the listeners stopped. */
void hs_api_accounts_free(hs_api_accounts *api);

#endif
