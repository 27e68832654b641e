/* hs_api_directory_users: POST /user_directory/search (spec v1.12 "User directory"),
 * local users only.
 *
 * Who can be found follows Synapse's defaults (user_directory.search_all_users false):
 * users who share a room with the searcher, and users joined to a public room (join
 * rule public or history world_readable). A user in no such room is not found, even by
 * exact ID. Matching is a case-insensitive (ASCII) substring of the user ID or the
 * display name - simpler than Synapse's full-text word prefixes, and a superset of what
 * they find. Results are ordered by user ID; `limited` is true when more users matched
 * than `limit` (default 10, at most 100). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server-core/hs_access.h"
#include "server-core/hs_api_directory.h"
#include "server-core/hs_server.h"
#include "server-core/hs_store_directory.h"

#define SEARCH_DEFAULT_LIMIT 10
#define SEARCH_MAX_LIMIT 100
#define SEARCH_TERM_MAX 512

static void user_search_post(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (hs_access_authenticate(srv->store, req, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, &who, resp) != 0)
        return;
    char why[256];
    json_t *body = hs_request_json(req, why, sizeof why);
    if (!body) {
        hs_response_error(resp, 400, "M_NOT_JSON", "%s", why);
        return;
    }
    json_t *term = json_object_get(body, "search_term");
    json_t *limit = json_object_get(body, "limit");
    if (!term) {
        hs_response_error(resp, 400, "M_MISSING_PARAM", "missing 'search_term'");
        goto out;
    }
    if (!json_is_string(term) || json_string_length(term) > SEARCH_TERM_MAX) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'search_term' must be a string of at most %d bytes",
                          SEARCH_TERM_MAX);
        goto out;
    }
    if (limit && (!json_is_integer(limit) || json_integer_value(limit) < 0)) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'limit' must be a non-negative integer");
        goto out;
    }
    size_t want = limit ? (size_t)json_integer_value(limit) : SEARCH_DEFAULT_LIMIT;
    if (want > SEARCH_MAX_LIMIT) want = SEARCH_MAX_LIMIT;
    hs_store_user_match *m;
    size_t n;
    /* One more than asked tells whether the answer is limited. */
    if (hs_store_user_directory_search(srv->store, who.user_id, json_string_value(term), want + 1, &m, &n) != 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot search the user directory");
        goto out;
    }
    json_t *results = json_array();
    for (size_t i = 0; i < n && i < want; i++) {
        json_t *r = json_pack("{ss}", "user_id", m[i].user_id);
        if (m[i].displayname) json_object_set_new(r, "display_name", json_string(m[i].displayname));
        if (m[i].avatar_url) json_object_set_new(r, "avatar_url", json_string(m[i].avatar_url));
        json_array_append_new(results, r);
    }
    hs_response_json(resp, 200, json_pack("{so, sb}", "results", results, "limited", n > want));
    hs_store_user_matches_free(m, n);
out:
    json_decref(body);
}

int hs_api_directory_users_register(hs_server *srv)
{
    static const hs_client_route routes[] = {
        {"POST", "/user_directory/search", user_search_post},
    };
    return hs_router_add_client_routes(srv->client_router, routes, sizeof routes / sizeof routes[0], srv);
}
