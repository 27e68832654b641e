/* hs_fed_query: the federation query endpoints that only read local data. For now
 * GET /_matrix/federation/v1/query/profile, answered from the profiles table. Like
 * every federation handler it is registered with hs_fed_route, so the request is
 * authenticated before the handler looks at anything - an unsigned or forged request
 * learns nothing, not even whether the user exists. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_fed.h"
#include "server-core/hs_fed_internal.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_server.h"
#include "server-core/hs_store_accounts.h"
#include "server-core/hs_store_federation.h"

static void profile_get(const hs_request *req, hs_response *resp, hs_server *srv, const char *origin)
{
    (void)origin;
    const char *user_id = hs_request_query(req, "user_id");
    const char *field = hs_request_query(req, "field");
    if (!user_id) {
        hs_response_error(resp, 400, "M_MISSING_PARAM", "user_id is required");
        return;
    }
    if (field && strcmp(field, "displayname") != 0 && strcmp(field, "avatar_url") != 0) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "field must be displayname or avatar_url");
        return;
    }
    const char *colon = strchr(user_id, ':');
    if (!hs_is_valid_user_id(user_id) || !colon || strcmp(colon + 1, srv->cfg.server_name) != 0) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "user_id is not a user of this server");
        return;
    }
    hs_store_user u;
    int rc = hs_store_user_get(srv->store, user_id, &u);
    if (rc < 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "database error");
        return;
    }
    if (rc == 1 || u.deactivated) {
        hs_response_error(resp, 404, "M_NOT_FOUND", "no such user");
        return;
    }
    char *displayname = NULL, *avatar_url = NULL;
    if (hs_store_fed_profile_get(srv->store, user_id, &displayname, &avatar_url) < 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "database error");
        return;
    }
    json_t *out = json_object();
    if (displayname && (!field || strcmp(field, "displayname") == 0))
        json_object_set_new(out, "displayname", json_string(displayname));
    if (avatar_url && (!field || strcmp(field, "avatar_url") == 0))
        json_object_set_new(out, "avatar_url", json_string(avatar_url));
    free(displayname);
    free(avatar_url);
    hs_response_json(resp, 200, out);
}

int hs_fed_query_register(hs_server *srv)
{
    return hs_fed_route(srv, "GET", "/_matrix/federation/v1/query/profile", profile_get);
}
