/* hs_api_directory_public: the public room list, GET and POST /publicRooms (spec v1.12
 * "Listing rooms"). GET needs no access token for this server's list (the spec's rule;
 * Synapse's default asks for one); POST needs one, as the spec says, and so does GET
 * with a `server` other than ours, as in Synapse: listing another server's directory
 * costs a federation request, which anonymous callers must not be able to trigger.
 *
 * This server's list (no `server`, or our own name) comes from hs_directory_public_list,
 * which also answers the federation endpoint, so order, paging, filters and limits are
 * the same both ways (see hs_directory.h). Another server's list is asked over
 * federation by hs_fed_public_rooms_answer; its since tokens are that server's and are
 * passed through unread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_access.h"
#include "server-core/hs_api_directory.h"
#include "server-core/hs_clock.h"
#include "server-core/hs_directory.h"
#include "server-core/hs_fed_public_rooms.h"
#include "server-core/hs_server.h"

void hs_api_directory_public_answer(hs_server *srv, const hs_directory_query *q, hs_response *resp)
{
    json_t *out = NULL;
    int rc = hs_directory_public_list(srv->store, q, &out);
    if (rc == 1) hs_response_error(resp, 400, "M_INVALID_PARAM", "'since' is not a token of this server");
    else if (rc != 0) hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the room directory");
    else hs_response_json(resp, 200, out);
}

int hs_api_directory_public_query(const hs_request *req, hs_directory_query *q, hs_response *resp)
{
    hs_directory_error e;
    if (hs_directory_query_from_params(hs_request_query(req, "limit"), hs_request_query(req, "since"),
                                       hs_request_query(req, "include_all_networks"),
                                       hs_request_query(req, "third_party_instance_id"), q, &e) == 0)
        return 0;
    hs_response_error(resp, 400, e.errcode, "%s", e.msg);
    return -1;
}

/* Whether `server` names another server than ours. */
static bool is_remote(hs_server *srv, const char *server)
{
    return server && server[0] && strcmp(server, srv->cfg.server_name) != 0;
}

static void public_rooms_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    const char *server = hs_request_query(req, "server");
    if (is_remote(srv, server)) {
        hs_access_identity who;
        if (hs_access_authenticate(srv->store, req, hs_clock_wall_ms(), &who, resp) != 0) return;
    }
    hs_directory_query q;
    if (hs_api_directory_public_query(req, &q, resp) != 0) return;
    if (is_remote(srv, server)) hs_fed_public_rooms_answer(srv, server, &q, resp);
    else hs_api_directory_public_answer(srv, &q, resp);
}

static void public_rooms_post(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    if (hs_access_authenticate(srv->store, req, hs_clock_wall_ms(), &who, resp) != 0) return;
    char why[256];
    json_t *body = hs_request_json(req, why, sizeof why);
    if (!body) {
        hs_response_error(resp, 400, "M_NOT_JSON", "%s", why);
        return;
    }
    const char *server = hs_request_query(req, "server");
    hs_directory_query q;
    hs_directory_error e;
    if (hs_directory_query_from_body(body, &q, &e) != 0) hs_response_error(resp, 400, e.errcode, "%s", e.msg);
    else if (is_remote(srv, server)) hs_fed_public_rooms_answer(srv, server, &q, resp);
    else hs_api_directory_public_answer(srv, &q, resp);
    json_decref(body);
}

int hs_api_directory_public_register(hs_server *srv)
{
    static const hs_client_route routes[] = {
        {"GET", "/publicRooms", public_rooms_get},
        {"POST", "/publicRooms", public_rooms_post},
    };
    return hs_router_add_client_routes(srv->client_router, routes, sizeof routes / sizeof routes[0], srv);
}
