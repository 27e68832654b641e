/* hs_api_sync: GET /sync and the filter endpoints. A long-poll is: note the notifier
 * generation, build the response, and if nothing is new wait until the generation
 * moves, the timeout passes or the next typing notice expires, then build again. A wake
 * that brings nothing for this user costs one rebuild, never a spin: the next wait
 * starts from the generation read before that rebuild.
 *
 * Where the transport can defer answers (req->wake), the waiting sync is parked in a
 * list and one waker thread watches all of them (woken by a notifier listener, by a
 * new parked sync, or at the earliest deadline) and fires the ones that may have news;
 * the transport then runs wait_answer on a worker. Elsewhere the sync waits on its own
 * thread, within the budget. */
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
#include "server-core/hs_clock.h"

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
    if (hs_access_authenticate(srv->store, req, hs_clock_wall_ms(), &who, resp) != 0) return;
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
    if (hs_access_authenticate(srv->store, req, hs_clock_wall_ms(), &who, resp) != 0) return;
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
    /* Only a filter stored before a limit was tightened gets here: the client can
     * upload it again within the limits, so it is the client's to fix. */
    if (rc != 0) hs_response_error(resp, 400, "M_INVALID_PARAM", "stored filter %s is no longer valid: %s", param, why);
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

/* ---- one /sync's work ---------------------------------------------------------------- */

/* What a /sync asked for, copied out of the request so it can outlive it. */
typedef struct sync_job {
    char user_id[HS_STORE_ID_MAX];
    char device_id[HS_STORE_ID_MAX];
    bool has_since;
    hs_sync_pos since;
    bool full_state;
    hs_filter filter;
    int64_t deadline;            /* CLOCK_MONOTONIC ms */
} sync_job;

/* Builds the response once. Returns true with resp filled when it should go out (news,
 * deadline passed, shutting down, or an error), false when the client should keep
 * waiting. *seen is the notifier generation read before building. */
static bool try_answer(hs_api_sync *api, sync_job *j, hs_response *resp, uint64_t *seen)
{
    hs_server *srv = api->srv;
    *seen = hs_notifier_generation(srv->notifier);
    hs_sync_params p = {.user_id = j->user_id,
                        .device_id = j->device_id,
                        .since = j->has_since ? &j->since : NULL,
                        .full_state = j->full_state,
                        .filter = &j->filter,
                        .typing = api->typing,
                        .now_ms = hs_clock_wall_ms(),
                        .max_timeline_events = srv->cfg.sync_max_timeline_events,
                        .max_events = srv->cfg.sync_max_events};
    char *body = NULL;
    size_t len = 0;
    hs_sync_pos next;
    bool updates = false;
    if (hs_sync_build(srv->store, &p, &body, &len, &next, &updates) != 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the sync streams");
        return true;
    }
    if (updates || hs_clock_mono_ms() >= j->deadline || atomic_load(&api->stopping)) {
        /* The built text becomes the body as it is: a copy would double an answer that
         * may be tens of megabytes (a user in thousands of rooms). */
        free(resp->body);
        resp->status = 200;
        resp->body = body;
        resp->body_len = len;
        hs_response_header(resp, "Content-Type", "application/json");
        return true;
    }
    free(body);
    return false;
}

/* ---- parked syncs (transport with deferred answers) ----------------------------------- */

struct sync_wait {
    hs_api_sync *api;
    hs_wake *wake;
    sync_job job;
    uint64_t seen;               /* generation its last build saw */
    bool listed;
    sync_wait *prev, *next;
};

static void unlink_wait(hs_api_sync *api, sync_wait *w)
{
    if (w->prev) w->prev->next = w->next;
    else api->parked = w->next;
    if (w->next) w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->listed = false;
    api->n_parked--;
}

/* Lists w for the waker. Returns false when the server is closing (answer now). */
static bool park_wait(hs_api_sync *api, sync_wait *w)
{
    pthread_mutex_lock(&api->mu);
    bool ok = !api->closing;
    if (ok) {
        w->next = api->parked;
        w->prev = NULL;
        if (api->parked) api->parked->prev = w;
        api->parked = w;
        w->listed = true;
        api->n_parked++;
        api->kick = true;
        pthread_cond_signal(&api->cv);
    }
    pthread_mutex_unlock(&api->mu);
    return ok;
}

/* deferral.answer: the waker fired this sync; build again, or park once more. */
static void wait_answer(void *state, hs_response *resp)
{
    sync_wait *w = state;
    if (try_answer(w->api, &w->job, resp, &w->seen)) return;
    if (!park_wait(w->api, w) && !try_answer(w->api, &w->job, resp, &w->seen))
        hs_response_error(resp, 503, "M_UNKNOWN", "the server is shutting down");
}

/* deferral.release: the request ended (answered, or the connection went away). */
static void wait_release(void *state)
{
    sync_wait *w = state;
    hs_api_sync *api = w->api;
    pthread_mutex_lock(&api->mu);
    if (w->listed) unlink_wait(api, w);
    pthread_mutex_unlock(&api->mu);
    hs_filter_clear(&w->job.filter);
    free(w);
}

/* hs_notifier listener (runs under the notifier's lock): nudge the waker. */
static void notified(void *ctx)
{
    hs_api_sync *api = ctx;
    pthread_mutex_lock(&api->mu);
    api->kick = true;
    pthread_cond_signal(&api->cv);
    pthread_mutex_unlock(&api->mu);
}

/* What the waker is started with. The registering thread reads the notifier from the
 * hs_server, never the waker: the waker may get its first run late, after the struct
 * changed under it (a second hs_server_open into the same struct zeroes it first), and
 * would then take NULL or another server's notifier. */
typedef struct {
    hs_api_sync *api;
    hs_notifier *notifier;
} waker_start;

/* The waker: fires every parked sync whose store generation moved, whose deadline
 * passed or that may see a typing notice expire; sleeps until the earliest deadline or
 * the next nudge. Never holds its lock while reading the notifier (whose listener takes
 * that lock). */
static void *waker(void *arg)
{
    waker_start *start = arg;
    hs_api_sync *api = start->api;
    hs_notifier *n = start->notifier;
    free(start);
    pthread_mutex_lock(&api->mu);
    for (;;) {
        pthread_mutex_unlock(&api->mu);
        uint64_t gen = hs_notifier_generation(n);
        int64_t wall = hs_clock_wall_ms();
        int64_t serial = hs_typing_serial(api->typing, wall);
        int64_t expiry = hs_typing_next_expiry(api->typing);
        int64_t mono = hs_clock_mono_ms();
        pthread_mutex_lock(&api->mu);
        bool typing_moved = serial != api->typing_serial;
        api->typing_serial = serial;
        int64_t next = mono + 60000;
        for (sync_wait *w = api->parked, *nx; w; w = nx) {
            nx = w->next;
            if (api->closing || typing_moved || w->seen != gen || mono >= w->job.deadline) {
                unlink_wait(api, w);
                hs_wake_fire(w->wake);
            } else if (w->job.deadline < next) {
                next = w->job.deadline;
            }
        }
        if (api->closing) break;
        if (expiry != INT64_MAX && mono + (expiry - wall) + 1 < next) next = mono + (expiry - wall) + 1;
        if (!api->kick) {
            struct timespec until = {.tv_sec = next / 1000, .tv_nsec = (next % 1000) * 1000000L};
            pthread_cond_timedwait(&api->cv, &api->mu, &until);
        }
        api->kick = false;
    }
    pthread_mutex_unlock(&api->mu);
    return NULL;
}

/* ---- threads-held waiting (transports without deferred answers) ------------------------ */

/* Takes a place in the long-poll budget. Returns false when it is used up. */
static bool budget_take(hs_api_sync *api)
{
    if (atomic_fetch_add(&api->waiting, 1) < api->max_waiting) return true;
    atomic_fetch_sub(&api->waiting, 1);
    return false;
}

static void wait_blocking(hs_api_sync *api, sync_job *j, hs_response *resp)
{
    bool budgeted = budget_take(api);
    if (!budgeted) {
        hs_debug("sync", "long-poll budget (%d) in use: answering %s at once", api->max_waiting, j->user_id);
        j->deadline = 0;
    }
    uint64_t seen;
    while (!try_answer(api, j, resp, &seen)) {
        int64_t until = j->deadline, mono = hs_clock_mono_ms(), wall = hs_clock_wall_ms();
        int64_t expiry = hs_typing_next_expiry(api->typing);
        if (expiry != INT64_MAX && mono + (expiry - wall) < until) until = mono + (expiry - wall) + 1;
        hs_notifier_wait(api->srv->notifier, seen, until);
    }
    if (budgeted) atomic_fetch_sub(&api->waiting, 1);
}

static void sync_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_api_sync *api = ctx;
    hs_server *srv = api->srv;
    hs_access_identity who;
    int64_t now = hs_clock_wall_ms();
    if (hs_access_authenticate(srv->store, req, now, &who, resp) != 0) return;

    sync_job j = {0};
    const char *since_s = hs_request_query(req, "since");
    if (since_s && hs_sync_token_parse(since_s, &j.since) != 0) {
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
    j.full_state = fs && strcmp(fs, "true") == 0;
    j.has_since = since_s != NULL;
    if (apply_set_presence(srv, who.user_id, hs_request_query(req, "set_presence"), now, resp) != 0) return;
    if (sync_filter(srv, who.user_id, hs_request_query(req, "filter"), &j.filter, resp) != 0) return;
    snprintf(j.user_id, sizeof j.user_id, "%s", who.user_id);
    snprintf(j.device_id, sizeof j.device_id, "%s", who.device_id);

    /* An initial or full_state sync answers at once, as clients expect from Synapse. */
    bool wait = timeout > 0 && j.has_since && !j.full_state && !atomic_load(&api->stopping);
    j.deadline = hs_clock_mono_ms() + (wait ? timeout : 0);
    uint64_t seen;
    if (try_answer(api, &j, resp, &seen)) { /* without `wait` the deadline has passed: always */
        hs_filter_clear(&j.filter);
        return;
    }
    if (!req->wake) {
        wait_blocking(api, &j, resp);
        hs_filter_clear(&j.filter);
        return;
    }
    sync_wait *w = calloc(1, sizeof *w);
    if (!w) {
        hs_filter_clear(&j.filter);
        hs_response_error(resp, 500, "M_UNKNOWN", "out of memory");
        return;
    }
    *w = (sync_wait){.api = api, .wake = req->wake, .job = j, .seen = seen};
    if (!park_wait(api, w)) {
        w->job.deadline = 0;
        try_answer(api, &w->job, resp, &w->seen);
        wait_release(w);
        return;
    }
    resp->deferral = (hs_deferral){wait_answer, wait_release, w};
}

/* ---- lifecycle --------------------------------------------------------------------- */

int hs_api_sync_register(hs_server *srv)
{
    hs_api_sync *api = calloc(1, sizeof *api);
    if (!api) return -1;
    api->srv = srv;
    pthread_mutex_init(&api->mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&api->cv, &attr);
    pthread_condattr_destroy(&attr);
    api->typing = hs_typing_new();
    int cap = srv->cfg.threads - 1;
    api->max_waiting = srv->cfg.max_long_polls < cap ? srv->cfg.max_long_polls : cap;
    if (api->max_waiting < 0) api->max_waiting = 0;
    srv->sync = api;
    if (!api->typing || hs_notifier_listen(srv->notifier, notified, api) != 0) return -1;
    waker_start *start = malloc(sizeof *start);
    if (!start) return -1;
    *start = (waker_start){api, srv->notifier};
    if (pthread_create(&api->thread, NULL, waker, start) != 0) {
        free(start);
        return -1;
    }
    api->thread_started = true;
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
    pthread_mutex_lock(&api->mu);
    api->closing = true;
    api->kick = true;
    pthread_cond_signal(&api->cv);
    pthread_mutex_unlock(&api->mu);
    if (api->thread_started) pthread_join(api->thread, NULL);
    api->thread_started = false;
    hs_notifier_unlisten(api->srv->notifier, notified, api);
}

int hs_api_sync_waiting(const hs_api_sync *api)
{
    hs_api_sync *a = (hs_api_sync *)api;
    pthread_mutex_lock(&a->mu);
    int n = a->n_parked;
    pthread_mutex_unlock(&a->mu);
    return n + atomic_load(&a->waiting);
}

void hs_api_sync_free(hs_api_sync *api)
{
    if (!api) return;
    hs_typing_free(api->typing);
    pthread_cond_destroy(&api->cv);
    pthread_mutex_destroy(&api->mu);
    free(api);
}
