/* hs_api_keys_internal: what the hs_api_keys*.c files share - the handlers each file
 * defines for the route table in hs_api_keys.c, and small request helpers. Not for use
 * outside those files. */
#ifndef HS_API_KEYS_INTERNAL_H
#define HS_API_KEYS_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "server-core/hs_http.h"
#include "server-core/hs_server.h"

/* The request body as a JSON object, or NULL after a 400 M_NOT_JSON answer. */
json_t *hs_keys_body(const hs_request *req, hs_response *resp);

/* True when user_id is a user of this server ("@x:<server_name>"). */
bool hs_keys_is_local(const hs_server *srv, const char *user_id);

/* The server name part of a user ID (after the first ':'), or "" when there is none. */
const char *hs_keys_server_of(const char *user_id);

/* Adds the stored signatures on (target_user, target_key_id) that `viewer` may see
 * into obj["signatures"]. Returns 0 or -1 (database error). */
int hs_keys_merge_signatures(hs_server *srv, json_t *obj, const char *target_user, const char *target_key_id,
                             const char *viewer);

/* Handlers defined in hs_api_keys_xsign.c and hs_api_keys_todevice.c. */
void hs_keys_device_signing_upload(const hs_request *req, hs_response *resp, void *ctx);
void hs_keys_signatures_upload(const hs_request *req, hs_response *resp, void *ctx);
void hs_keys_send_to_device(const hs_request *req, hs_response *resp, void *ctx);

#endif
