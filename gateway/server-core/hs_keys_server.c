/* hs_keys_server: the key endpoints of the federation listener, the only federation
 * routes besides /version that need no X-Matrix (a peer needs our key before it can
 * authenticate anything):
 *   GET  /_matrix/key/v2/server            our signed key response
 *   GET  /_matrix/key/v2/server/{keyId}    the same (the old per-key path Synapse calls)
 *   POST /_matrix/key/v2/query             notary: other servers' keys, co-signed by us
 *   GET  /_matrix/key/v2/query/{serverName}[/{keyId}]
 * The notary answers from the cache when the cached response is still valid at the
 * requested minimum_valid_until_ts, fetches otherwise, and falls back to the cached
 * response when the fetch fails (a stale key is still useful for checking old
 * signatures; the requester applies its own validity rules). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_fed.h"
#include "server-core/hs_fed_internal.h"
#include "server-core/hs_keys.h"
#include "server-core/hs_log.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_server.h"
#include "server-core/hs_signing.h"
#include "server-core/hs_store_federation.h"

/* One notary query may name at most this many servers: each can cost an outbound fetch. */
#define MAX_QUERY_SERVERS 20

/* Our key response: the current key, and every key rotated out (hs_store_fed_own_key_note
 * at startup) in old_verify_keys, so signatures made with them stay checkable. */
static json_t *own_response(hs_server *srv, int64_t now_ms, hs_err *err)
{
    int64_t valid_until = now_ms + (int64_t)srv->cfg.key_validity_hours * 3600 * 1000;
    hs_store_fed_old_key *old = NULL;
    size_t n = 0;
    if (hs_store_fed_own_old_keys(srv->store, &old, &n) != 0) {
        hs_err_set(err, "database error reading our old keys");
        return NULL;
    }
    json_t *old_json = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(old_json, old[i].key_id,
                            json_pack("{s:s, s:I}", "key", old[i].key_b64, "expired_ts", (json_int_t)old[i].expired_ts));
    free(old);
    json_t *doc = hs_keys_own_response(srv->cfg.server_name, &srv->signing_key, valid_until, old_json, err);
    json_decref(old_json);
    return doc;
}

static void server_get(const hs_request *req, hs_response *resp, void *ctx)
{
    (void)req;
    hs_server *srv = ctx;
    hs_err err;
    json_t *doc = own_response(srv, hs_fed_now_ms(), &err);
    if (!doc) {
        hs_response_error(resp, 500, "M_UNKNOWN", "%s", err.msg);
        return;
    }
    hs_response_json(resp, 200, doc);
}

/* The freshest response we can give for `server`, signed by us too; NULL if none. */
static json_t *notary_entry(hs_server *srv, const char *server, int64_t min_valid, int64_t now_ms)
{
    hs_err err = {{0}};
    if (strcmp(server, srv->cfg.server_name) == 0) return own_response(srv, now_ms, &err);
    char *cached = NULL;
    int64_t cached_until = 0;
    json_t *doc = NULL;
    if (hs_store_fed_response_get(srv->store, server, &cached, &cached_until) == 0 && cached_until >= min_valid)
        doc = hs_cjson_parse(cached, strlen(cached), HS_KEYS_MAX_BYTES, 0, &err);
    if (!doc) {
        doc = hs_fed_fetch_keys_direct(srv, server, now_ms, &err);
        if (!doc && cached) {
            hs_debug("keys", "notary: serving cached keys of %s: %s", server, err.msg);
            doc = hs_cjson_parse(cached, strlen(cached), HS_KEYS_MAX_BYTES, 0, &err);
        }
    }
    free(cached);
    if (!doc) {
        hs_info("keys", "notary: no keys for %s: %s", server, err.msg);
        return NULL;
    }
    if (hs_sign_json(doc, srv->cfg.server_name, &srv->signing_key, &err) != 0) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

static int64_t min_valid_of(json_t *criteria, int64_t now_ms)
{
    json_t *m = json_object_get(criteria, "minimum_valid_until_ts");
    return json_is_integer(m) ? json_integer_value(m) : now_ms;
}

static void query_post(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    char perr[256];
    json_t *body = hs_request_json(req, perr, sizeof perr);
    if (!body) {
        hs_response_error(resp, 400, "M_NOT_JSON", "%s", perr);
        return;
    }
    json_t *servers = json_object_get(body, "server_keys");
    if (!json_is_object(servers)) {
        json_decref(body);
        hs_response_error(resp, 400, "M_BAD_JSON", "server_keys must be an object of server names");
        return;
    }
    if (json_object_size(servers) > MAX_QUERY_SERVERS) {
        json_decref(body);
        hs_response_error(resp, 400, "M_LIMIT_EXCEEDED", "at most %d servers per query", MAX_QUERY_SERVERS);
        return;
    }
    int64_t now = hs_fed_now_ms();
    json_t *out = json_array();
    const char *server;
    json_t *keys;
    json_object_foreach(servers, server, keys) {
        if (!hs_is_valid_server_name(server) || !json_is_object(keys)) continue;
        /* The strictest requirement over the requested key IDs; none named means "now". */
        int64_t min_valid = json_object_size(keys) ? 0 : now;
        const char *key_id;
        json_t *criteria;
        json_object_foreach(keys, key_id, criteria) {
            int64_t m = min_valid_of(criteria, now);
            if (m > min_valid) min_valid = m;
        }
        json_t *doc = notary_entry(srv, server, min_valid, now);
        if (doc) json_array_append_new(out, doc);
    }
    json_decref(body);
    hs_response_json(resp, 200, json_pack("{s:o}", "server_keys", out));
}

static void query_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    const char *server = hs_request_param(req, "serverName");
    if (!server || !hs_is_valid_server_name(server)) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "not a server name");
        return;
    }
    int64_t now = hs_fed_now_ms(), min_valid = now;
    const char *q = hs_request_query(req, "minimum_valid_until_ts");
    if (q) {
        char *end;
        long long v = strtoll(q, &end, 10);
        if (*q == '\0' || *end != '\0') {
            hs_response_error(resp, 400, "M_INVALID_PARAM", "minimum_valid_until_ts must be an integer");
            return;
        }
        min_valid = v;
    }
    json_t *out = json_array();
    json_t *doc = notary_entry(srv, server, min_valid, now);
    if (doc) json_array_append_new(out, doc);
    hs_response_json(resp, 200, json_pack("{s:o}", "server_keys", out));
}

int hs_keys_server_register(hs_server *srv)
{
    hs_router *f = srv->federation_router;
    int rc = 0;
    rc |= hs_router_add(f, "GET", "/_matrix/key/v2/server", server_get, srv);
    rc |= hs_router_add(f, "GET", "/_matrix/key/v2/server/{keyId}", server_get, srv);
    rc |= hs_router_add(f, "POST", "/_matrix/key/v2/query", query_post, srv);
    rc |= hs_router_add(f, "GET", "/_matrix/key/v2/query/{serverName}", query_get, srv);
    /* The deprecated per-key form; the key ID does not narrow the answer. */
    rc |= hs_router_add(f, "GET", "/_matrix/key/v2/query/{serverName}/{keyId}", query_get, srv);
    return rc ? -1 : 0;
}
