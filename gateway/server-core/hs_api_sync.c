/* hs_api_sync: GET /sync and the filter endpoints. The long-poll loop is: note the
 * notifier generation, build the response, and if nothing is new wait until the
 * generation moves, the timeout passes or the next typing notice expires, then build
 * again. A wake that brings nothing for this user costs one rebuild, never a spin: the
 * next wait starts from the generation read before that rebuild. */
#include "server-core/hs_api_sync.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server-core/hs_access.h"
#include "server-core/hs_api_sync_internal.h"
#include "server-core/hs_filter.h"
#include "server-core/hs_log.h"
#include "server-core/hs_server.h"
#include "server-core/hs_store_sync.h"
#include "server-core/hs_sync.h"

int64_t hs_api_sync_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t hs_api_sync_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Decimal digits only (at most 18) into *out. Returns 0 or -1. */
static int parse_uint(const char *s, int64_t *out)
{
    int64_t v = 0;
    size_t n = 0;
    for (; s[n]; n++) {
        if (s[n] < '0' || s[n] > '9' || n >= 18) return -1;
        v = v * 10 + (s[n] - '0');
    }
    if (n == 0) return -1;
    *out = v;
    return 0;
}

/* ---- filters --------------------------------------------------------------------- */

/* 403 unless the path's userId is the requester. Returns 0 when allowed. */
static int require_self(const hs_request *req, const hs_access_identity *who, hs_response *resp)
{
    const char *user = hs_request_param(req, "userId");
    if (user && strcmp(user, who->user_id) == 0) return 0;
    hs_response_error(resp, 403, "M_FORBIDDEN", "cannot access another user's data");
    return -1;
}

static void filter_post(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_api_sync *api = ctx;
    hs_server *srv = api->srv;
    hs_access_identity who;
    if (hs_access_authenticate(srv->store, req, hs_api_sync_wall_ms(), &who, resp) != 0) return;
    if (require_self(req, &who, resp) != 0) return;
    hs_filter f;
    char why[256];
    if (hs_filter_parse((const char *)req->body, req->body_len, &f, why, sizeof why) != 0) {
        hs_response_error(resp, 400, req->body_len > HS_FILTER_MAX_BYTES ? "M_TOO_LARGE" : "M_BAD_JSON", "%s",
                          why);
        return;
    }
    char *text = json_dumps(f.root, JSON_COMPACT);
    int64_t id = 0;
    int rc = text ? hs_store_filter_put(srv->store, who.user_id, text, &id) : -1;
    free(text);
    hs_filter_clear(&f);
    if (rc != 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot store the filter");
        return;
    }
    char idbuf[24];
    snprintf(idbuf, sizeof idbuf, "%" PRId64, id);
    hs_response_json(resp, 200, json_pack("{ss}", "filter_id", idbuf));
}

static void filter_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_api_sync *api = ctx;
    hs_server *srv = api->srv;
    hs_access_identity who;
    if (hs_access_authenticate(srv->store, req, hs_api_sync_wall_ms(), &who, resp) != 0) return;
    if (require_self(req, &who, resp) != 0) return;
    int64_t id;
    char *text = NULL;
    int rc = parse_uint(hs_request_param(req, "filterId"), &id) == 0
                 ? hs_store_filter_get(srv->store, who.user_id, id, &text)
                 : 1;
    if (rc < 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the filter");
        return;
    }
    json_t *j = rc == 0 ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (!j) {
        hs_response_error(resp, 404, "M_NOT_FOUND", "no such filter");
        return;
    }
    hs_response_json(resp, 200, j);
}

/* The filter a /sync names: inline JSON ("{...}") or the ID of an uploaded one.
 * Returns 0, or -1 with resp filled. */
static int sync_filter(hs_server *srv, const char *user_id, const char *param, hs_filter *f, hs_response *resp)
{
    hs_filter_init(f);
    if (!param) return 0;
    char why[256];
    if (param[0] == '{') {
        if (hs_filter_parse(param, strlen(param), f, why, sizeof why) == 0) return 0;
        hs_response_error(resp, 400, "M_INVALID_PARAM", "filter: %s", why);
        return -1;
    }
    int64_t id;
    char *text = NULL;
    int rc = parse_uint(param, &id) == 0 ? hs_store_filter_get(srv->store, user_id, id, &text) : 1;
    if (rc < 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the filter");
        return -1;
    }
    if (rc == 1) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "filter '%s' is neither JSON nor an uploaded filter ID",
                          param);
        return -1;
    }
    rc = hs_filter_parse(text, strlen(text), f, why, sizeof why);
    free(text);
    if (rc != 0) hs_response_error(resp, 500, "M_UNKNOWN", "stored filter is invalid: %s", why);
    return rc;
}

/* ---- /sync ------------------------------------------------------------------------ */

/* Applies set_presence: "online" (the default) and "unavailable" record the state,
 * keeping the status message; "offline" leaves presence alone. Returns 0, or -1 with
 * resp filled. */
static int apply_set_presence(hs_server *srv, const char *user_id, const char *set, int64_t now, hs_response *resp)
{
    if (!set) set = "online";
    if (strcmp(set, "offline") == 0) return 0;
    if (strcmp(set, "online") != 0 && strcmp(set, "unavailable") != 0) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "set_presence must be online, offline or unavailable");
        return -1;
    }
    hs_store_presence old;
    int rc = hs_store_presence_get(srv->store, user_id, &old);
    bool changed = false;
    if (rc >= 0)
        rc = hs_store_presence_put(srv->store, user_id, set, rc == 0 && old.has_status_msg ? old.status_msg : NULL,
                                   now, &changed);
    if (rc < 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot record presence");
        return -1;
    }
    if (changed) hs_notifier_wake(srv->notifier);
    return 0;
}

/* Takes a place in the long-poll budget. Returns false when it is used up. */
static bool budget_take(hs_api_sync *api)
{
    if (atomic_fetch_add(&api->waiting, 1) < api->max_waiting) return true;
    atomic_fetch_sub(&api->waiting, 1);
    return false;
}

static void sync_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_api_sync *api = ctx;
    hs_server *srv = api->srv;
    hs_access_identity who;
    int64_t now = hs_api_sync_wall_ms();
    if (hs_access_authenticate(srv->store, req, now, &who, resp) != 0) return;

    const char *since_s = hs_request_query(req, "since");
    hs_sync_pos since;
    if (since_s && hs_sync_token_parse(since_s, &since) != 0) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'since' is not a sync token of this server");
        return;
    }
    int64_t timeout = 0;
    const char *timeout_s = hs_request_query(req, "timeout");
    if (timeout_s && parse_uint(timeout_s, &timeout) != 0) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'timeout' must be a number of milliseconds");
        return;
    }
    if (timeout > HS_API_SYNC_MAX_TIMEOUT_MS) timeout = HS_API_SYNC_MAX_TIMEOUT_MS;
    const char *fs = hs_request_query(req, "full_state");
    bool full_state = fs && strcmp(fs, "true") == 0;
    if (apply_set_presence(srv, who.user_id, hs_request_query(req, "set_presence"), now, resp) != 0) return;
    hs_filter filter;
    if (sync_filter(srv, who.user_id, hs_request_query(req, "filter"), &filter, resp) != 0) return;

    /* An initial or full_state sync answers at once, as clients expect from Synapse. */
    bool wait = timeout > 0 && since_s && !full_state && !atomic_load(&api->stopping);
    bool budgeted = wait && budget_take(api);
    if (wait && !budgeted) hs_debug("sync", "long-poll budget (%d) in use: answering %s at once", api->max_waiting,
                                    who.user_id);
    int64_t deadline = hs_api_sync_mono_ms() + (budgeted ? timeout : 0);
    hs_sync_params p = {who.user_id, who.device_id, since_s ? &since : NULL, full_state, &filter, api->typing, now};
    for (;;) {
        uint64_t gen = hs_notifier_generation(srv->notifier);
        p.now_ms = hs_api_sync_wall_ms();
        json_t *body = NULL;
        hs_sync_pos next;
        bool updates = false;
        if (hs_sync_build(srv->store, &p, &body, &next, &updates) != 0) {
            hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the sync streams");
            break;
        }
        int64_t mono = hs_api_sync_mono_ms();
        if (updates || mono >= deadline || atomic_load(&api->stopping)) {
            hs_response_json(resp, 200, body);
            break;
        }
        json_decref(body);
        int64_t until = deadline;
        int64_t expiry = hs_typing_next_expiry(api->typing);
        if (expiry != INT64_MAX && mono + (expiry - p.now_ms) < until) until = mono + (expiry - p.now_ms) + 1;
        hs_notifier_wait(srv->notifier, gen, until);
    }
    if (budgeted) atomic_fetch_sub(&api->waiting, 1);
    hs_filter_clear(&filter);
}

/* ---- lifecycle --------------------------------------------------------------------- */

int hs_api_sync_register(hs_server *srv)
{
    hs_api_sync *api = calloc(1, sizeof *api);
    if (!api) return -1;
    api->srv = srv;
    api->typing = hs_typing_new();
    int cap = srv->cfg.threads - 1;
    api->max_waiting = srv->cfg.max_long_polls < cap ? srv->cfg.max_long_polls : cap;
    if (api->max_waiting < 0) api->max_waiting = 0;
    srv->sync = api;
    if (!api->typing) return -1;
    static const hs_client_route routes[] = {
        {"GET", "/sync", sync_get},
        {"POST", "/user/{userId}/filter", filter_post},
        {"GET", "/user/{userId}/filter/{filterId}", filter_get},
    };
    if (hs_router_add_client_routes(srv->client_router, routes, sizeof routes / sizeof routes[0], api) != 0)
        return -1;
    return hs_api_sync_ephemeral_register(srv);
}

void hs_api_sync_stop(hs_api_sync *api)
{
    if (!api) return;
    atomic_store(&api->stopping, true);
    hs_notifier_wake(api->srv->notifier);
}

int hs_api_sync_waiting(const hs_api_sync *api)
{
    return atomic_load(&((hs_api_sync *)api)->waiting);
}

void hs_api_sync_free(hs_api_sync *api)
{
    if (!api) return;
    hs_typing_free(api->typing);
    free(api);
}
