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
 * signatures; the requester applies its own validity rules).
 *
 * Cost per query is bounded: at most federation.notary_max_servers servers, fetched
 * all at once (hs_notary), and the answer waits for them at most
 * federation.notary_time_budget_seconds; a server whose fetch is still running then is
 * answered from the cache, or left out. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_fed.h"
#include "server-core/hs_fed_internal.h"
#include "server-core/hs_keys.h"
#include "server-core/hs_log.h"
#include "server-core/hs_notary.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_server.h"
#include "server-core/hs_signing.h"
#include "server-core/hs_store_federation.h"

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

/* One server named in a query and what the answer will carry for it. */
typedef struct wanted {
    const char *server;
    int64_t min_valid;
    char *cached;    /* the cached response (any age), or NULL */
    json_t *doc;     /* the document to answer with, or NULL */
} wanted;

static json_t *parse_cached(const char *text)
{
    hs_err err = {{0}};
    return hs_cjson_parse(text, strlen(text), HS_KEYS_MAX_BYTES, 0, &err);
}

/* The freshest responses we can give for w[0..n), each signed by us too, appended to
 * `out` in order. Cached responses valid long enough are used as they are; the other
 * servers are fetched at once within the time budget, and the cache (even stale) stands
 * in for a fetch that failed or did not end in time. */
static void notary_answer(hs_server *srv, wanted *w, size_t n, int64_t now_ms, json_t *out)
{
    const char **fetch = calloc(n ? n : 1, sizeof *fetch);
    size_t *fetch_of = calloc(n ? n : 1, sizeof *fetch_of);
    json_t **fetched = calloc(n ? n : 1, sizeof *fetched);
    bool can_fetch = fetch && fetch_of && fetched; /* out of memory: answer from the cache */
    size_t nf = 0;
    for (size_t i = 0; i < n; i++) {
        hs_err err = {{0}};
        if (strcmp(w[i].server, srv->cfg.server_name) == 0) {
            w[i].doc = own_response(srv, now_ms, &err);
            continue;
        }
        int64_t cached_until = 0;
        if (hs_store_fed_response_get(srv->store, w[i].server, &w[i].cached, &cached_until) == 0 &&
            cached_until >= w[i].min_valid)
            w[i].doc = parse_cached(w[i].cached);
        if (!w[i].doc && can_fetch) {
            fetch_of[nf] = i;
            fetch[nf++] = w[i].server;
        }
    }
    if (nf) {
        hs_notary_fetch(srv, fetch, nf, now_ms, (int64_t)srv->cfg.notary_time_budget_seconds * 1000, fetched);
        for (size_t k = 0; k < nf; k++) w[fetch_of[k]].doc = fetched[k];
    }
    free(fetch);
    free(fetch_of);
    free(fetched);
    for (size_t i = 0; i < n; i++) {
        if (!w[i].doc && w[i].cached) {
            hs_debug("keys", "notary: serving cached keys of %s", w[i].server);
            w[i].doc = parse_cached(w[i].cached);
        }
        free(w[i].cached);
        w[i].cached = NULL;
        if (!w[i].doc) {
            hs_info("keys", "notary: no keys for %s", w[i].server);
            continue;
        }
        hs_err err = {{0}};
        if (hs_sign_json(w[i].doc, srv->cfg.server_name, &srv->signing_key, &err) != 0) json_decref(w[i].doc);
        else json_array_append_new(out, w[i].doc);
        w[i].doc = NULL;
    }
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
    if (json_object_size(servers) > (size_t)srv->cfg.notary_max_servers) {
        json_decref(body);
        hs_response_error(resp, 400, "M_LIMIT_EXCEEDED", "at most %d servers per query", srv->cfg.notary_max_servers);
        return;
    }
    int64_t now = hs_fed_now_ms();
    wanted *w = calloc(json_object_size(servers) + 1, sizeof *w);
    if (!w) {
        json_decref(body);
        hs_response_error(resp, 500, "M_UNKNOWN", "out of memory");
        return;
    }
    size_t n = 0;
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
        w[n++] = (wanted){.server = server, .min_valid = min_valid};
    }
    json_t *out = json_array();
    notary_answer(srv, w, n, now, out);
    free(w);
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
    wanted w = {.server = server, .min_valid = min_valid};
    notary_answer(srv, &w, 1, now, out);
    hs_response_json(resp, 200, json_pack("{s:o}", "server_keys", out));
}

int hs_keys_server_register(hs_server *srv)
{
    hs_router *f = srv->federation_router;
    if (!srv->notary && !(srv->notary = hs_notary_new())) return -1;
    int rc = 0;
    rc |= hs_router_add(f, "GET", "/_matrix/key/v2/server", server_get, srv);
    rc |= hs_router_add(f, "GET", "/_matrix/key/v2/server/{keyId}", server_get, srv);
    rc |= hs_router_add(f, "POST", "/_matrix/key/v2/query", query_post, srv);
    rc |= hs_router_add(f, "GET", "/_matrix/key/v2/query/{serverName}", query_get, srv);
    /* The deprecated per-key form; the key ID does not narrow the answer. */
    rc |= hs_router_add(f, "GET", "/_matrix/key/v2/query/{serverName}/{keyId}", query_get, srv);
    return rc ? -1 : 0;
}
