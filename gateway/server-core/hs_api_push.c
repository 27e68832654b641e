/* hs_api_push: HTTP handlers for push rules and pushers. Rule logic lives in hs_push;
 * these handlers authenticate, check scope and kind, map hs_push_status to the spec's
 * errors and, after each change, store the whole ruleset as the user's m.push_rules
 * account data (the sync engineer's store) so /sync delivers it. The pusher body is
 * validated here because it is only stored and listed back. */
#include "server-core/hs_api_push.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server-core/hs_access.h"
#include "server-core/hs_push.h"
#include "server-core/hs_log.h"
#include "server-core/hs_server.h"
#include "server-core/hs_store_push.h"
#include "server-core/hs_store_sync.h"
#include "server-core/hs_clock.h"

#define APP_ID_MAX 64      /* the spec's limit */
#define PUSHKEY_MAX 512    /* the spec's limit */
/* Pushers are stored and listed whole, so their number and size are bounded: one per
 * app per device is the use, and `data` is a URL and a format. */
#define PUSHERS_MAX 32     /* per user */
#define PUSHER_JSON_MAX 8192

/* `msg` if it can go into a JSON answer, else `fallback`: messages may quote what the
 * client sent, or be cut inside a multi-byte character. */
static const char *json_safe(const char *msg, const char *fallback)
{
    json_t *probe = msg ? json_string(msg) : NULL;
    bool ok = probe != NULL;
    json_decref(probe);
    return ok ? msg : fallback;
}

static void answer(hs_response *resp, hs_push_status st, const char *err)
{
    err = json_safe(err, "invalid push rule request");
    switch (st) {
    case HS_PUSH_OK: hs_response_json(resp, 200, json_object()); break;
    case HS_PUSH_NOT_FOUND: hs_response_error(resp, 404, "M_NOT_FOUND", "The push rule was not found."); break;
    case HS_PUSH_BAD_REQUEST: hs_response_error(resp, 400, "M_INVALID_PARAM", "%s", err); break;
    case HS_PUSH_BAD_ANCHOR: hs_response_error(resp, 400, "M_UNKNOWN", "%s", err); break;
    case HS_PUSH_ERROR: hs_response_error(resp, 500, "M_UNKNOWN", "cannot read or write push rules"); break;
    }
}

/* Authenticates and parses {scope}/{kind}; returns 0, or -1 after answering. */
static int rule_request(hs_server *srv, const hs_request *req, hs_response *resp, hs_access_identity *who,
                        hs_push_kind *kind)
{
    if (hs_access_authenticate(srv->store, req, hs_clock_wall_ms(), who, resp) != 0) return -1;
    if (strcmp(hs_request_param(req, "scope"), "global") != 0) {
        hs_response_error(resp, 400, "M_UNRECOGNIZED", "only the global push rule scope exists");
        return -1;
    }
    if (hs_push_kind_parse(hs_request_param(req, "kind"), kind) != 0) {
        hs_response_error(resp, 400, "M_INVALID_PARAM",
                          "the push rule kind must be override, content, room, sender or underride");
        return -1;
    }
    return 0;
}

static json_t *body_object(const hs_request *req, hs_response *resp)
{
    char why[256];
    json_t *j = hs_request_json(req, why, sizeof why);
    if (!j) hs_response_error(resp, 400, "M_NOT_JSON", "%s", json_safe(why, "the body is not a JSON object"));
    return j;
}

/* rule_request, then the JSON body of a PUT. Returns the body (new reference), or NULL
 * after answering. */
static json_t *rule_put_request(hs_server *srv, const hs_request *req, hs_response *resp, hs_access_identity *who,
                                hs_push_kind *kind)
{
    return rule_request(srv, req, resp, who, kind) == 0 ? body_object(req, resp) : NULL;
}

static void all_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    if (hs_access_authenticate(srv->store, req, hs_clock_wall_ms(), &who, resp) != 0) return;
    json_t *all = hs_push_rules_for_user(srv->store, who.user_id);
    if (!all) {
        answer(resp, HS_PUSH_ERROR, NULL);
        return;
    }
    hs_response_json(resp, 200, all);
}

static void global_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    if (hs_access_authenticate(srv->store, req, hs_clock_wall_ms(), &who, resp) != 0) return;
    json_t *all = hs_push_rules_for_user(srv->store, who.user_id);
    if (!all) {
        answer(resp, HS_PUSH_ERROR, NULL);
        return;
    }
    hs_response_json(resp, 200, json_incref(json_object_get(all, "global")));
    json_decref(all);
}

/* GET of a rule or one of its fields (`field` NULL: the whole rule). */
static void get_part(const hs_request *req, hs_response *resp, hs_server *srv, const char *field)
{
    hs_access_identity who;
    hs_push_kind kind;
    if (rule_request(srv, req, resp, &who, &kind) != 0) return;
    json_t *rule;
    hs_push_status st = hs_push_get_rule(srv->store, who.user_id, kind, hs_request_param(req, "ruleId"), &rule);
    if (st != HS_PUSH_OK) {
        answer(resp, st, NULL);
        return;
    }
    if (field) {
        hs_response_json(resp, 200, json_pack("{sO}", field, json_object_get(rule, field)));
        json_decref(rule);
    } else {
        hs_response_json(resp, 200, rule);
    }
}

static void rule_get(const hs_request *req, hs_response *resp, void *ctx)
{
    get_part(req, resp, ctx, NULL);
}

static void enabled_get(const hs_request *req, hs_response *resp, void *ctx)
{
    get_part(req, resp, ctx, "enabled");
}

static void actions_get(const hs_request *req, hs_response *resp, void *ctx)
{
    get_part(req, resp, ctx, "actions");
}

/* Serialises publishing: each change reads the ruleset after its own write, so with
 * read-and-store done under one lock the last stored copy is always the newest. */
static pthread_mutex_t publish_lock = PTHREAD_MUTEX_INITIALIZER;

/* Stores the user's current ruleset as their m.push_rules account data, which /sync
 * then delivers like any account data change, and wakes waiting syncs. */
static void publish(hs_server *srv, const char *user_id)
{
    pthread_mutex_lock(&publish_lock);
    json_t *all = hs_push_rules_for_user(srv->store, user_id);
    char *text = all ? json_dumps(all, JSON_COMPACT) : NULL;
    if (!text || hs_store_account_data_put(srv->store, user_id, "", "m.push_rules", text, NULL) != 0)
        hs_error("push", "cannot store m.push_rules of %s; /sync shows the change later", user_id);
    free(text);
    json_decref(all);
    pthread_mutex_unlock(&publish_lock);
    hs_notifier_wake(srv->notifier);
}

static void changed(hs_server *srv, const char *user_id, hs_response *resp, hs_push_status st, const char *err)
{
    if (st == HS_PUSH_OK) publish(srv, user_id);
    answer(resp, st, err);
}

static void rule_put(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    hs_push_kind kind;
    json_t *body = rule_put_request(srv, req, resp, &who, &kind);
    if (!body) return;
    char err[512] = "";
    hs_push_status st = hs_push_put_rule(srv->store, who.user_id, kind, hs_request_param(req, "ruleId"), body,
                                         hs_request_query(req, "before"), hs_request_query(req, "after"), err,
                                         sizeof err);
    json_decref(body);
    changed(srv, who.user_id, resp, st, err);
}

static void rule_delete(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    hs_push_kind kind;
    if (rule_request(srv, req, resp, &who, &kind) != 0) return;
    char err[512] = "";
    hs_push_status st = hs_push_delete_rule(srv->store, who.user_id, kind, hs_request_param(req, "ruleId"), err,
                                            sizeof err);
    changed(srv, who.user_id, resp, st, err);
}

static void enabled_put(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    hs_push_kind kind;
    json_t *body = rule_put_request(srv, req, resp, &who, &kind);
    if (!body) return;
    json_t *enabled = json_object_get(body, "enabled");
    if (!json_is_boolean(enabled)) {
        json_decref(body);
        hs_response_error(resp, 400, "M_INVALID_PARAM", "enabled must be true or false");
        return;
    }
    hs_push_status st =
        hs_push_set_enabled(srv->store, who.user_id, kind, hs_request_param(req, "ruleId"), json_is_true(enabled));
    json_decref(body);
    changed(srv, who.user_id, resp, st, NULL);
}

static void actions_put(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    hs_push_kind kind;
    json_t *body = rule_put_request(srv, req, resp, &who, &kind);
    if (!body) return;
    char err[512] = "";
    hs_push_status st = hs_push_set_actions(srv->store, who.user_id, kind, hs_request_param(req, "ruleId"),
                                            json_object_get(body, "actions"), err, sizeof err);
    json_decref(body);
    changed(srv, who.user_id, resp, st, err);
}

/* ---- pushers ---------------------------------------------------------------------- */

static void pushers_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    if (hs_access_authenticate(srv->store, req, hs_clock_wall_ms(), &who, resp) != 0) return;
    json_t *list = hs_store_pushers(srv->store, who.user_id);
    if (!list) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read pushers");
        return;
    }
    hs_response_json(resp, 200, json_pack("{so}", "pushers", list));
}

static bool str_max(const json_t *v, size_t max)
{
    return json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) <= max;
}

/* Checks a pusher body; returns the object to store (new reference) or NULL with err. */
static json_t *pusher_parse(const json_t *body, bool *remove, char *err, size_t errlen)
{
    const json_t *kind = json_object_get(body, "kind");
    if (!str_max(json_object_get(body, "app_id"), APP_ID_MAX) ||
        !str_max(json_object_get(body, "pushkey"), PUSHKEY_MAX)) {
        snprintf(err, errlen, "app_id (at most %d bytes) and pushkey (at most %d bytes) are required", APP_ID_MAX,
                 PUSHKEY_MAX);
        return NULL;
    }
    *remove = json_is_null(kind);
    if (*remove) return json_object();
    const json_t *data = json_object_get(body, "data");
    static const char *const required[] = {"app_display_name", "device_display_name", "lang"};
    for (size_t i = 0; i < 3; i++)
        if (!str_max(json_object_get(body, required[i]), 1024)) {
            snprintf(err, errlen, "%s is required (a string of at most 1024 bytes)", required[i]);
            return NULL;
        }
    if (!str_max(kind, 64) || !json_is_object(data)) {
        snprintf(err, errlen, "kind (a string, or null to remove) and data (an object) are required");
        return NULL;
    }
    const json_t *url = json_object_get(data, "url");
    if (strcmp(json_string_value(kind), "http") == 0 &&
        (!str_max(url, 2048) || (strncmp(json_string_value(url), "https://", 8) != 0 &&
                                 strncmp(json_string_value(url), "http://", 7) != 0))) {
        snprintf(err, errlen, "http pushers need data.url, the push gateway's URL");
        return NULL;
    }
    const json_t *tag = json_object_get(body, "profile_tag");
    if (tag && !str_max(tag, 1024)) {
        snprintf(err, errlen, "profile_tag must be a string");
        return NULL;
    }
    json_t *out = json_object();
    static const char *const keep[] = {"pushkey", "kind", "app_id", "app_display_name", "device_display_name",
                                       "profile_tag", "lang", "data"};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        json_t *v = json_object_get(body, keep[i]);
        if (v) json_object_set_new(out, keep[i], json_deep_copy(v));
    }
    return out;
}

static void pushers_set(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    int64_t now = hs_clock_wall_ms();
    if (hs_access_authenticate(srv->store, req, now, &who, resp) != 0) return;
    json_t *body = body_object(req, resp);
    if (!body) return;
    char err[256];
    bool remove = false;
    json_t *pusher = pusher_parse(body, &remove, err, sizeof err);
    if (!pusher) {
        json_decref(body);
        hs_response_error(resp, 400, "M_MISSING_PARAM", "%s", json_safe(err, "invalid pusher"));
        return;
    }
    const char *app_id = json_string_value(json_object_get(body, "app_id"));
    const char *pushkey = json_string_value(json_object_get(body, "pushkey"));
    int rc;
    if (remove) {
        rc = hs_store_pusher_delete(srv->store, who.user_id, app_id, pushkey);
        if (rc == 1) rc = 0; /* removing an absent pusher is not an error */
    } else {
        char *text = json_dumps(pusher, JSON_COMPACT);
        if (!text) rc = -1;
        else if (strlen(text) > PUSHER_JSON_MAX) rc = 3;
        else
            rc = hs_store_pusher_set(srv->store, who.user_id, app_id, pushkey, text,
                                     json_is_true(json_object_get(body, "append")), now, PUSHERS_MAX);
        free(text);
    }
    json_decref(pusher);
    json_decref(body);
    if (rc == 2 || rc == 3) {
        hs_response_error(resp, 400, "M_INVALID_PARAM",
                          rc == 2 ? "a user may have at most %d pushers; remove one first"
                                  : "a pusher is at most %d bytes of JSON",
                          rc == 2 ? PUSHERS_MAX : PUSHER_JSON_MAX);
        return;
    }
    if (rc != 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot store the pusher");
        return;
    }
    hs_response_json(resp, 200, json_object());
}

int hs_api_push_register(hs_server *srv)
{
    static const hs_client_route routes[] = {
        {"GET", "/pushrules/", all_get},
        {"GET", "/pushrules", all_get},
        {"GET", "/pushrules/global/", global_get},
        {"GET", "/pushrules/{scope}/{kind}/{ruleId}", rule_get},
        {"PUT", "/pushrules/{scope}/{kind}/{ruleId}", rule_put},
        {"DELETE", "/pushrules/{scope}/{kind}/{ruleId}", rule_delete},
        {"GET", "/pushrules/{scope}/{kind}/{ruleId}/enabled", enabled_get},
        {"PUT", "/pushrules/{scope}/{kind}/{ruleId}/enabled", enabled_put},
        {"GET", "/pushrules/{scope}/{kind}/{ruleId}/actions", actions_get},
        {"PUT", "/pushrules/{scope}/{kind}/{ruleId}/actions", actions_put},
        {"GET", "/pushers", pushers_get},
        {"POST", "/pushers/set", pushers_set},
    };
    return hs_router_add_client_routes(srv->client_router, routes, sizeof routes / sizeof routes[0], srv);
}
