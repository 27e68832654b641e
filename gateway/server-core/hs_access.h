/* hs_access: who is making a Client-Server request. Every authenticated endpoint
 * calls hs_access_authenticate first: it takes the access token from the
 * `Authorization: Bearer` header (or the deprecated `access_token` query parameter),
 * hashes it and resolves it to a user and device. On failure it has already written
 * the spec's 401 answer (M_MISSING_TOKEN / M_UNKNOWN_TOKEN with soft_logout false).
 *
 * It does not authorize (what the user may do is each endpoint's business). */
#ifndef HS_ACCESS_H
#define HS_ACCESS_H

#include <stdint.h>

#include "server-core/hs_http.h"
#include "server-core/hs_store.h"
#include "server-core/hs_store_accounts.h"

#define HS_ACCESS_TOKEN_MAX_BYTES 1024 /* longer tokens are unknown without a lookup */

typedef struct hs_access_identity {
    char user_id[HS_STORE_ID_MAX];
    char device_id[HS_STORE_ID_MAX];
    uint8_t token_hash[HS_STORE_TOKEN_HASH_BYTES];
} hs_access_identity;

/* The token a request presents: the Bearer header wins over the query parameter.
 * Returns a pointer into the request, or NULL when it carries none. */
const char *hs_access_token_of(const hs_request *req);

/* Authenticates `req`. Returns 0 and fills *who; or -1 after filling `resp` with
 * 401 M_MISSING_TOKEN (no token), 401 M_UNKNOWN_TOKEN (unknown, revoked, or of a
 * deactivated user) or 500 M_UNKNOWN (database error). Records the device as seen
 * from req->remote_addr at now_ms. */
int hs_access_authenticate(hs_store *st, const hs_request *req, int64_t now_ms, hs_access_identity *who,
                           hs_response *resp);

#endif
