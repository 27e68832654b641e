/* hs_api_backup: handlers for key backup. Every endpoint acts on the caller's own backup
 * only. Version numbers travel as decimal strings ("1"); a string that is not one of
 * ours is simply an unknown version (404), as Synapse answers. Writes of keys name the
 * version they were encrypted for; when that is no longer the current version the client
 * gets 403 M_WRONG_ROOM_KEYS_VERSION with the current one, so it re-keys instead of
 * writing into a backup nobody will restore from. */
#include "server-core/hs_api_backup.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server-core/hs_access.h"
#include "server-core/hs_server.h"
#include "server-core/hs_store_backup.h"
#include "server-core/hs_clock.h"

#define ALGORITHM_MAX 255
/* Sessions in one keys PUT: they are written in one transaction that holds the one
 * database connection, so a 50 MiB body must not hold it for half a million rows.
 * Clients back up in batches of a few hundred. */
#define SESSIONS_PER_PUT 10000
/* Stored verbatim and sent back whole: an encrypted megolm session is under 1 KiB,
 * auth_data a public key and its signatures. */
#define DATA_MAX 16384
#define ID_MAX 255

/* A version string: 1..18 digits, no leading zero. Returns the number or 0. */
static int64_t parse_version(const char *s)
{
    if (!s || !*s || *s == '0' || strlen(s) > 18) return 0;
    int64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return 0;
        v = v * 10 + (*p - '0');
    }
    return v;
}

static void version_string(int64_t v, char out[24])
{
    snprintf(out, 24, "%" PRId64, v);
}

static json_t *version_body(const hs_backup_version *v)
{
    char ver[24], etag[24];
    version_string(v->version, ver);
    version_string(v->etag, etag);
    return json_pack("{ss so* sI ss ss}", "algorithm", v->algorithm, "auth_data", json_loads(v->auth_data, 0, NULL),
                     "count", (json_int_t)v->count, "etag", etag, "version", ver);
}

/* Checks the body of a create/update: algorithm a non-empty string, auth_data an object.
 * Returns 0, or -1 after a 400 answer. */
static int check_version_body(const json_t *body, hs_response *resp)
{
    const char *alg = json_string_value(json_object_get(body, "algorithm"));
    if (!alg || !*alg || strlen(alg) > ALGORITHM_MAX) {
        hs_response_error(resp, 400, "M_BAD_JSON", "'algorithm' must be a non-empty string");
        return -1;
    }
    const json_t *auth = json_object_get(body, "auth_data");
    if (!json_is_object(auth) || json_dumpb(auth, NULL, 0, JSON_COMPACT) > DATA_MAX) {
        hs_response_error(resp, 400, "M_BAD_JSON", "'auth_data' must be an object of at most %d bytes", DATA_MAX);
        return -1;
    }
    return 0;
}

typedef struct call {
    hs_server *srv;
    hs_access_identity who;
} call;

/* Authenticates; returns 0 with *c filled, -1 after answering. */
static int begin(const hs_request *req, hs_response *resp, void *ctx, call *c)
{
    c->srv = ctx;
    return hs_access_authenticate(c->srv->store, req, hs_clock_wall_ms(), &c->who, resp);
}

static json_t *body_json(const hs_request *req, hs_response *resp)
{
    char why[256];
    json_t *j = hs_request_json(req, why, sizeof why);
    if (!j) hs_response_error(resp, 400, "M_NOT_JSON", "%s", why);
    return j;
}

static void version_create(const hs_request *req, hs_response *resp, void *ctx)
{
    call c;
    if (begin(req, resp, ctx, &c) != 0) return;
    json_t *body = body_json(req, resp);
    if (!body) return;
    if (check_version_body(body, resp) == 0) {
        char *auth = json_dumps(json_object_get(body, "auth_data"), JSON_COMPACT);
        int64_t v;
        if (auth && hs_store_backup_create(c.srv->store, c.who.user_id,
                                           json_string_value(json_object_get(body, "algorithm")), auth, &v) == 0) {
            char ver[24];
            version_string(v, ver);
            hs_response_json(resp, 200, json_pack("{ss}", "version", ver));
        } else {
            hs_response_error(resp, 500, "M_UNKNOWN", "cannot store the backup version");
        }
        free(auth);
    }
    json_decref(body);
}

static void version_get(const hs_request *req, hs_response *resp, void *ctx)
{
    call c;
    if (begin(req, resp, ctx, &c) != 0) return;
    const char *param = hs_request_param(req, "version");
    int64_t want = param ? parse_version(param) : 0;
    if (param && want == 0) {
        hs_response_error(resp, 404, "M_NOT_FOUND", "unknown backup version");
        return;
    }
    hs_backup_version v;
    int rc = hs_store_backup_get(c.srv->store, c.who.user_id, want, &v);
    if (rc == 1)
        hs_response_error(resp, 404, "M_NOT_FOUND", param ? "unknown backup version" : "no current backup version");
    else if (rc != 0)
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the backup version");
    else
        hs_response_json(resp, 200, version_body(&v));
    if (rc == 0) hs_backup_version_clear(&v);
}

static void version_put(const hs_request *req, hs_response *resp, void *ctx)
{
    call c;
    if (begin(req, resp, ctx, &c) != 0) return;
    const char *param = hs_request_param(req, "version");
    int64_t want = parse_version(param);
    json_t *body = body_json(req, resp);
    if (!body) return;
    hs_backup_version v = {0};
    int have = want ? hs_store_backup_get(c.srv->store, c.who.user_id, want, &v) : 1;
    const char *body_version = json_string_value(json_object_get(body, "version"));
    if (check_version_body(body, resp) != 0) {
    } else if (have == 1) {
        hs_response_error(resp, 404, "M_NOT_FOUND", "unknown backup version");
    } else if (have != 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the backup version");
    } else if (body_version && strcmp(body_version, param) != 0) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "the body's version does not match the path");
    } else if (strcmp(json_string_value(json_object_get(body, "algorithm")), v.algorithm) != 0) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "the algorithm of a backup version cannot change");
    } else {
        char *auth = json_dumps(json_object_get(body, "auth_data"), JSON_COMPACT);
        if (auth && hs_store_backup_update(c.srv->store, c.who.user_id, want, auth) == 0)
            hs_response_json(resp, 200, json_object());
        else
            hs_response_error(resp, 500, "M_UNKNOWN", "cannot update the backup version");
        free(auth);
    }
    if (have == 0) hs_backup_version_clear(&v);
    json_decref(body);
}

static void version_delete(const hs_request *req, hs_response *resp, void *ctx)
{
    call c;
    if (begin(req, resp, ctx, &c) != 0) return;
    int64_t want = parse_version(hs_request_param(req, "version"));
    int rc = want ? hs_store_backup_delete(c.srv->store, c.who.user_id, want) : 1;
    if (rc == 1)
        hs_response_error(resp, 404, "M_NOT_FOUND", "unknown backup version");
    else if (rc != 0)
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot delete the backup version");
    else
        hs_response_json(resp, 200, json_object());
}

/* KeyBackupData: two non-negative integers, a boolean and an object. */
static int valid_session(const json_t *d)
{
    const json_t *fmi = json_object_get(d, "first_message_index"), *fc = json_object_get(d, "forwarded_count");
    const json_t *data = json_object_get(d, "session_data");
    return json_is_object(d) && json_is_integer(fmi) && json_integer_value(fmi) >= 0 && json_is_integer(fc) &&
           json_integer_value(fc) >= 0 && json_is_boolean(json_object_get(d, "is_verified")) &&
           json_is_object(data) && json_dumpb(data, NULL, 0, JSON_COMPACT) <= DATA_MAX;
}

/* Whether sessions is a map of valid sessions; adds their number to *total. */
static int valid_sessions(const json_t *sessions, size_t *total)
{
    if (!json_is_object(sessions)) return 0;
    const char *sid;
    json_t *d;
    json_object_foreach((json_t *)sessions, sid, d) {
        if (!*sid || strlen(sid) > ID_MAX || !valid_session(d)) return 0;
    }
    *total += json_object_size(sessions);
    return 1;
}

/* The body of a keys PUT, normalised to the {room: {sessions: {...}}} shape, or NULL
 * after a 400 answer. */
static json_t *rooms_of_put(const hs_request *req, hs_response *resp, const char *room_id, const char *session_id)
{
    json_t *body = body_json(req, resp);
    if (!body) return NULL;
    json_t *rooms;
    if (session_id) {
        rooms = json_pack("{s{s{sO}}}", room_id, "sessions", session_id, body);
    } else if (room_id) {
        rooms = json_pack("{s{sO*}}", room_id, "sessions", json_object_get(body, "sessions"));
    } else {
        rooms = json_incref(json_object_get(body, "rooms"));
    }
    json_decref(body);
    int ok = json_is_object(rooms);
    const char *r;
    json_t *room;
    size_t total = 0;
    if (ok) {
        json_object_foreach(rooms, r, room) {
            if (*r != '!' || strlen(r) > ID_MAX || !valid_sessions(json_object_get(room, "sessions"), &total))
                ok = 0;
        }
    }
    if (ok && total > SESSIONS_PER_PUT) {
        json_decref(rooms);
        hs_response_error(resp, 400, "M_BAD_JSON", "at most %d sessions per request", SESSIONS_PER_PUT);
        return NULL;
    }
    if (!ok) {
        json_decref(rooms);
        hs_response_error(resp, 400, "M_BAD_JSON",
                          "expected {rooms: {room_id: {sessions: {session_id: KeyBackupData}}}} with "
                          "first_message_index, forwarded_count, is_verified and session_data (at most %d bytes),"
                          " IDs of at most %d bytes",
                          DATA_MAX, ID_MAX);
        return NULL;
    }
    return rooms;
}

/* The ?version= of a keys request, or 0 after answering. Missing is 400; malformed is an
 * unknown version. */
static int64_t query_version(const hs_request *req, hs_response *resp)
{
    const char *q = hs_request_query(req, "version");
    if (!q) {
        hs_response_error(resp, 400, "M_MISSING_PARAM", "the 'version' query parameter is required");
        return 0;
    }
    int64_t v = parse_version(q);
    if (!v) hs_response_error(resp, 404, "M_NOT_FOUND", "unknown backup version");
    return v;
}

static void answer_count(hs_response *resp, int64_t count, int64_t etag)
{
    char e[24];
    version_string(etag, e);
    hs_response_json(resp, 200, json_pack("{sI ss}", "count", (json_int_t)count, "etag", e));
}

static void keys_put(const hs_request *req, hs_response *resp, void *ctx)
{
    call c;
    if (begin(req, resp, ctx, &c) != 0) return;
    int64_t version = query_version(req, resp);
    if (!version) return;
    json_t *rooms = rooms_of_put(req, resp, hs_request_param(req, "roomId"), hs_request_param(req, "sessionId"));
    if (!rooms) return;
    int64_t count, etag;
    int rc = hs_store_backup_put(c.srv->store, c.who.user_id, version, rooms, HS_STORE_BACKUP_SESSIONS_PER_USER,
                                 &count, &etag);
    json_decref(rooms);
    if (rc == 0) {
        answer_count(resp, count, etag);
        return;
    }
    if (rc == 2) {
        hs_response_error(resp, 400, "M_BAD_JSON", "backups hold at most %d sessions in all; delete old versions",
                          HS_STORE_BACKUP_SESSIONS_PER_USER);
        return;
    }
    if (rc < 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot store the keys");
        return;
    }
    hs_backup_version cur;
    int have = hs_store_backup_get(c.srv->store, c.who.user_id, 0, &cur);
    if (have != 0) {
        hs_response_error(resp, 404, "M_NOT_FOUND", "no current backup version");
        return;
    }
    char ver[24];
    version_string(cur.version, ver);
    hs_backup_version_clear(&cur);
    hs_response_json(resp, 403,
                     json_pack("{ss ss ss}", "errcode", "M_WRONG_ROOM_KEYS_VERSION", "error",
                               "that is not the current backup version", "current_version", ver));
}

static void keys_get(const hs_request *req, hs_response *resp, void *ctx)
{
    call c;
    if (begin(req, resp, ctx, &c) != 0) return;
    int64_t version = query_version(req, resp);
    if (!version) return;
    hs_backup_version v;
    int have = hs_store_backup_get(c.srv->store, c.who.user_id, version, &v);
    if (have != 0) {
        hs_response_error(resp, have == 1 ? 404 : 500, have == 1 ? "M_NOT_FOUND" : "M_UNKNOWN",
                          "unknown backup version");
        return;
    }
    hs_backup_version_clear(&v);
    const char *room_id = hs_request_param(req, "roomId"), *session_id = hs_request_param(req, "sessionId");
    json_t *rooms = hs_store_backup_keys(c.srv->store, c.who.user_id, version, room_id, session_id);
    if (!rooms) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the keys");
        return;
    }
    json_t *room = room_id ? json_object_get(rooms, room_id) : NULL;
    if (session_id) {
        json_t *d = json_object_get(json_object_get(room, "sessions"), session_id);
        if (d)
            hs_response_json(resp, 200, json_incref(d));
        else
            hs_response_error(resp, 404, "M_NOT_FOUND", "no such session in the backup");
    } else if (room_id) {
        hs_response_json(resp, 200, room ? json_incref(room) : json_pack("{s{}}", "sessions"));
    } else {
        hs_response_json(resp, 200, json_pack("{sO}", "rooms", rooms));
    }
    json_decref(rooms);
}

static void keys_delete(const hs_request *req, hs_response *resp, void *ctx)
{
    call c;
    if (begin(req, resp, ctx, &c) != 0) return;
    int64_t version = query_version(req, resp);
    if (!version) return;
    int64_t count, etag;
    int rc = hs_store_backup_delete_keys(c.srv->store, c.who.user_id, version, hs_request_param(req, "roomId"),
                                         hs_request_param(req, "sessionId"), &count, &etag);
    if (rc == 0)
        answer_count(resp, count, etag);
    else
        hs_response_error(resp, rc == 1 ? 404 : 500, rc == 1 ? "M_NOT_FOUND" : "M_UNKNOWN",
                          rc == 1 ? "unknown backup version" : "cannot delete the keys");
}

int hs_api_backup_register(hs_server *srv)
{
    static const hs_client_route routes[] = {
        {"POST", "/room_keys/version", version_create},
        {"GET", "/room_keys/version", version_get},
        {"GET", "/room_keys/version/{version}", version_get},
        {"PUT", "/room_keys/version/{version}", version_put},
        {"DELETE", "/room_keys/version/{version}", version_delete},
        {"PUT", "/room_keys/keys", keys_put},
        {"PUT", "/room_keys/keys/{roomId}", keys_put},
        {"PUT", "/room_keys/keys/{roomId}/{sessionId}", keys_put},
        {"GET", "/room_keys/keys", keys_get},
        {"GET", "/room_keys/keys/{roomId}", keys_get},
        {"GET", "/room_keys/keys/{roomId}/{sessionId}", keys_get},
        {"DELETE", "/room_keys/keys", keys_delete},
        {"DELETE", "/room_keys/keys/{roomId}", keys_delete},
        {"DELETE", "/room_keys/keys/{roomId}/{sessionId}", keys_delete},
    };
    return hs_router_add_client_routes(srv->client_router, routes, sizeof routes / sizeof routes[0], srv);
}
