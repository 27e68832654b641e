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

/* A non-negative decimal query parameter of at most 9 digits, or dflt when absent; -1 when
 * malformed (empty, a non-digit, longer). Defined in hs_api_misc.c. */
long hs_api_misc__query_count(const hs_request *req, const char *name, long dflt);

#endif
