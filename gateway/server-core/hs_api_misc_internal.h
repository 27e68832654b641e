/* hs_api_misc_internal: handlers of the client extras that live in their own files,
 * registered by hs_api_misc_register. Not for other modules. */
#ifndef HS_API_MISC_INTERNAL_H
#define HS_API_MISC_INTERNAL_H

#include "server-core/hs_http.h"
#include "server-core/hs_server.h"

/* GET /notifications (hs_api_misc_notifications.c); ctx is the hs_server. */
void hs_api_misc__notifications_get(const hs_request *req, hs_response *resp, void *ctx);

/* GET /_matrix/client/v1/rooms/{roomId}/hierarchy (hs_api_misc_hierarchy.c). */
void hs_api_misc__hierarchy_get(const hs_request *req, hs_response *resp, void *ctx);

#endif
