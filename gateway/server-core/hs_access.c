/* hs_access: access-token authentication of client requests. The header is parsed
 * leniently the way clients send it ("Bearer" case-insensitive, one or more spaces);
 * anything that is not a Bearer credential counts as no token, as in Synapse. */
#include "server-core/hs_access.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "server-core/hs_accounts.h"

const char *hs_access_token_of(const hs_request *req)
{
    const char *h = hs_request_header(req, "Authorization");
    if (h && strncasecmp(h, "Bearer ", 7) == 0) {
        h += 7;
        while (*h == ' ') h++;
        if (*h) return h;
    }
    const char *q = hs_request_query(req, "access_token");
    return q && *q ? q : NULL;
}

static void unauthorized(hs_response *resp, const char *errcode, const char *msg)
{
    hs_response_json(resp, 401, json_pack("{s:s, s:s, s:b}", "errcode", errcode, "error", msg, "soft_logout", 0));
}

int hs_access_authenticate(hs_store *st, const hs_request *req, int64_t now_ms, hs_access_identity *who,
                           hs_response *resp)
{
    memset(who, 0, sizeof *who);
    const char *tok = hs_access_token_of(req);
    if (!tok) {
        unauthorized(resp, "M_MISSING_TOKEN", "Missing access token");
        return -1;
    }
    if (strlen(tok) > HS_ACCESS_TOKEN_MAX_BYTES) {
        unauthorized(resp, "M_UNKNOWN_TOKEN", "Unrecognised access token");
        return -1;
    }
    hs_accounts_token_hash(tok, who->token_hash);
    int rc = hs_store_token_lookup(st, who->token_hash, who->user_id, who->device_id);
    if (rc < 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "database error while checking the access token");
        return -1;
    }
    if (rc == 1) {
        unauthorized(resp, "M_UNKNOWN_TOKEN", "Unrecognised access token");
        return -1;
    }
    /* Last-seen is best effort: a failed write must not fail the request. */
    (void)hs_store_device_touch(st, who->user_id, who->device_id, req->remote_addr, now_ms);
    return 0;
}
