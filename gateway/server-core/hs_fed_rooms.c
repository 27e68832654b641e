/* hs_fed_rooms: the inbound room endpoints of the Server-Server API (see hs_fed_rooms.h
 * for the list and the rules). Handlers are thin: they check the request, then read
 * through the room stores or accept through hs_room_remote. */
#include "server-core/hs_fed_rooms.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_auth.h"
#include "server-core/hs_auth_chain.h"
#include "server-core/hs_event_id.h"
#include "server-core/hs_fed.h"
#include "server-core/hs_fed_e2ee.h"
#include "server-core/hs_fed_queue.h"
#include "server-core/hs_fed_state_fetch.h"
#include "server-core/hs_log.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_redact.h"
#include "server-core/hs_room_restricted.h"
#include "server-core/hs_server.h"
#include "server-core/hs_server_acl.h"
#include "server-core/hs_signing.h"
#include "server-core/hs_store_directory.h"
#include "server-core/hs_store_fed_rooms.h"
#include "server-core/hs_store_history.h"
#include "server-core/hs_store_rooms.h"
#include "server-core/hs_store_sync.h"

#define BACKFILL_MAX 100
/* Events a get_missing_events may name (latest_events, earliest_events): each is looked
 * up before the walk's own limit applies. Backfill's v= are bounded by HS_HTTP_MAX_QUERY. */
#define WALK_IDS_MAX 100
#define TXN_ID_MAX 255

hs_room_engine hs_fed_rooms_engine(hs_server *srv)
{
    return (hs_room_engine){srv->store, srv->cfg.server_name, &srv->signing_key, srv->cfg.default_room_version,
                            srv->notifier};
}

int hs_fed_rooms_key(void *vsrv, const char *server, const char *key_id, int64_t valid_at_ms, uint8_t out[32],
                     hs_err *err)
{
    return hs_fed_get_verify_key(vsrv, server, key_id, hs_fed_now_ms(), valid_at_ms, out, err);
}

char *hs_fed_pct_encode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = malloc(strlen(s) * 3 + 1), *o = out;
    if (!out) return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-._~", *p)) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = 0;
    return out;
}

/* ---- reading events ----------------------------------------------------------------- */

/* A stored event as served over federation: redacted if it was redacted. New reference,
 * or NULL when unknown. *room_out (may be NULL) gets its room ID (malloc'd). */
static json_t *served_pdu(hs_server *srv, const char *event_id, char **room_out)
{
    hs_store_event ev;
    if (hs_store_event_get(srv->store, event_id, &ev) != 0) return NULL;
    json_t *pdu = json_loads(ev.pdu_json, JSON_ALLOW_NUL, NULL);
    if (pdu && ev.redacted_by) {
        const hs_room_version *rv = hs_room_remote_version(srv->store, ev.room_id);
        json_t *red = rv ? hs_redact(pdu, rv) : NULL;
        if (red) {
            json_decref(pdu);
            pdu = red;
        }
    }
    if (room_out) *room_out = pdu ? strdup(ev.room_id) : NULL;
    hs_store_event_clear(&ev);
    return pdu;
}

typedef struct lookup_ctx {
    hs_server *srv;
    json_t *cache;
} lookup_ctx;

static const json_t *lookup_get(void *vc, const char *event_id, bool *rejected)
{
    lookup_ctx *c = vc;
    *rejected = false;
    json_t *pdu = json_object_get(c->cache, event_id);
    if (pdu) return pdu;
    hs_store_event ev;
    if (hs_store_event_get(c->srv->store, event_id, &ev) != 0) return NULL;
    pdu = json_loads(ev.pdu_json, JSON_ALLOW_NUL, NULL);
    hs_store_event_clear(&ev);
    if (pdu) json_object_set_new(c->cache, event_id, pdu);
    return pdu;
}

json_t *hs_fed_rooms_auth_chain(hs_server *srv, const hs_room_version *rv, const char *const *ids, size_t n,
                                hs_err *err)
{
    lookup_ctx c = {srv, json_object()};
    hs_event_lookup lk = {lookup_get, &c};
    json_t *chain = hs_auth_chain_ids(rv, &lk, ids, n, err);
    json_t *out = NULL;
    if (chain) {
        out = json_array();
        size_t i;
        json_t *id;
        json_array_foreach(chain, i, id) {
            json_t *pdu = served_pdu(srv, json_string_value(id), NULL);
            if (!pdu) {
                hs_err_set(err, "auth chain event %.100s is not stored", json_string_value(id));
                json_decref(out);
                out = NULL;
                break;
            }
            json_array_append_new(out, pdu);
        }
    }
    json_decref(chain);
    json_decref(c.cache);
    return out;
}

/* Whether the room's server ACL lets `origin` take part (hs_server_acl.h); answers
 * 403 (or 500) itself and returns false otherwise. */
static bool acl_allows(hs_server *srv, const char *room_id, const char *origin, hs_response *resp)
{
    int rc = hs_server_acl_room_allows(srv->store, room_id, origin);
    if (rc == 1) return true;
    if (rc < 0) hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the room's server ACL");
    else hs_response_error(resp, 403, "M_FORBIDDEN", "%s is denied by the server ACL of %s", origin, room_id);
    return false;
}

/* Whether `origin` may read the room: the server ACL allows it and it has a joined
 * member, or the room is world_readable. Answers 403/404/500 itself and returns false
 * otherwise. */
static bool may_see(hs_server *srv, const char *room_id, const char *origin, hs_response *resp)
{
    char version[HS_STORE_ROOM_VERSION_MAX];
    int rc = hs_store_room_get(srv->store, room_id, version);
    if (rc != 0) {
        hs_response_error(resp, rc < 0 ? 500 : 404, rc < 0 ? "M_UNKNOWN" : "M_NOT_FOUND", "unknown room");
        return false;
    }
    if (!acl_allows(srv, room_id, origin, resp)) return false;
    char **servers;
    size_t n;
    if (hs_store_fed_joined_servers(srv->store, room_id, &servers, &n) != 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the room's members");
        return false;
    }
    bool ok = false;
    for (size_t i = 0; i < n && !ok; i++) ok = strcmp(servers[i], origin) == 0;
    hs_store_free_strings(servers, n);
    char *hv = NULL;
    if (!ok && hs_store_state_get(srv->store, room_id, "m.room.history_visibility", "", &hv) == 0) {
        json_t *pdu = served_pdu(srv, hv, NULL);
        const char *vis = json_string_value(json_object_get(hs_pdu_content(pdu), "history_visibility"));
        ok = vis && strcmp(vis, "world_readable") == 0;
        json_decref(pdu);
    }
    free(hv);
    if (!ok) hs_response_error(resp, 403, "M_FORBIDDEN", "%s has no member in room %s", origin, room_id);
    return ok;
}

static json_t *txn_body(hs_server *srv, json_t *pdus)
{
    return json_pack("{sssIso}", "origin", srv->cfg.server_name, "origin_server_ts", (json_int_t)hs_fed_now_ms(),
                     "pdus", pdus);
}

/* ---- accepting ---------------------------------------------------------------------- */

/* Depth order for events fetched from another server (oldest first). */
static int by_depth(const void *a, const void *b)
{
    long long da = hs_pdu_depth(*(json_t *const *)a), db = hs_pdu_depth(*(json_t *const *)b);
    return da < db ? -1 : da > db;
}

/* Asks `origin` for the events between our extremities and event_id and accepts them. */
static void fetch_missing(hs_server *srv, const char *origin, const char *room_id, const char *event_id)
{
    char **ext;
    size_t n_ext;
    int64_t depth;
    if (hs_store_room_extremities(srv->store, room_id, &ext, &n_ext, &depth) != 0) return;
    json_t *earliest = json_array();
    for (size_t i = 0; i < n_ext; i++) json_array_append_new(earliest, json_string(ext[i]));
    hs_store_free_strings(ext, n_ext);
    json_t *body = json_pack("{sos[s]sisI}", "earliest_events", earliest, "latest_events", event_id, "limit",
                             HS_FED_MISSING_LIMIT, "min_depth", (json_int_t)0);
    char target[600];
    char *enc = hs_fed_pct_encode(room_id);
    snprintf(target, sizeof target, "/_matrix/federation/v1/get_missing_events/%s", enc ? enc : "");
    free(enc);
    hs_fed_out out = {origin, "POST", target, body, true};
    hs_fed_reply reply = {0};
    hs_err err;
    if (hs_fed_send(srv, &out, &reply, &err) != 0 || reply.status != 200) {
        hs_info("fed", "get_missing_events from %s for %s failed: %s (HTTP %ld)", origin, event_id,
                reply.status ? "" : err.msg, reply.status);
    } else {
        json_t *resp = json_loadb(reply.body, reply.body_len, JSON_ALLOW_NUL, NULL);
        json_t *events = json_object_get(resp, "events");
        size_t n = json_array_size(events);
        /* More than we asked for is a misbehaving peer: none of it is checked (each would
         * cost signature fetches); the caller bridges the gap with /state instead. */
        if (n > HS_FED_MISSING_LIMIT) {
            hs_info("fed", "get_missing_events from %s sent %zu events, asked for %d: ignored", origin, n,
                    HS_FED_MISSING_LIMIT);
            n = 0;
        }
        json_t **sorted = n ? calloc(n, sizeof *sorted) : NULL;
        for (size_t i = 0; sorted && i < n; i++) sorted[i] = json_array_get(events, i);
        if (sorted) qsort(sorted, n, sizeof *sorted, by_depth);
        hs_room_engine e = hs_fed_rooms_engine(srv);
        hs_room_remote rr = {&e, hs_fed_rooms_key, srv};
        for (size_t i = 0; sorted && i < n; i++) {
            hs_remote_result res;
            if (json_is_object(sorted[i]))
                hs_room_remote_accept(&rr, room_id, sorted[i], &res);
        }
        free(sorted);
        json_decref(resp);
    }
    hs_fed_reply_free(&reply);
    json_decref(body);
}

/* The gap before `pdu` was too large for get_missing_events, or its auth events are
 * unknown: asks `origin` for the state before it (hs_fed_state_fetch: /state_ids with
 * the events we lack from /event, else /state), checked in full like a join's, stores
 * what we lack and accepts the event on that state.
 * Returns the status (in *res too), or HS_REMOTE_MISSING when origin could not help. */
static hs_remote_status accept_on_their_state(hs_server *srv, const char *origin, const char *room_id,
                                              const json_t *pdu, hs_remote_result *res)
{
    char id[256];
    snprintf(id, sizeof id, "%s", res->event_id);
    const hs_room_version *rv = hs_room_remote_version(srv->store, room_id);
    if (!rv) return res->status;
    hs_err err = {{0}};
    hs_fed_state_set set = {0};
    char msg[512];
    int got = hs_fed_state_fetch(srv, rv, origin, room_id, id, &set, NULL, msg, sizeof msg);
    if (got == 1) return res->status;
    if (got != 0) {
        snprintf(res->msg, sizeof res->msg, "the state %s sent for the gap: %s", origin, msg);
        return res->status = HS_REMOTE_REJECTED;
    }
    size_t n = json_array_size(set.order);
    hs_store_new_event *rows = calloc(n ? n : 1, sizeof *rows);
    char **texts = calloc(n ? n : 1, sizeof *texts);
    size_t k = 0;
    for (size_t i = 0; rows && texts && i < n; i++, k++) {
        const char *eid = json_string_value(json_array_get(set.order, i));
        const json_t *p = json_object_get(set.events, eid);
        if (!(texts[i] = hs_cjson_encode(p, 0, NULL, &err))) break;
        const char *type = hs_pdu_type(p);
        rows[i] = (hs_store_new_event){
            .event_id = eid, .room_id = room_id, .type = type, .state_key = hs_pdu_state_key(p),
            .sender = hs_pdu_sender(p), .depth = hs_pdu_depth(p), .origin_server_ts = hs_pdu_origin_server_ts(p),
            .pdu_json = texts[i],
            .membership = strcmp(type, "m.room.member") == 0
                              ? json_string_value(json_object_get(hs_pdu_content(p), "membership")) : NULL,
        };
    }
    hs_remote_status s = res->status;
    if (k == n) {
        hs_room_lock();
        int rc = hs_store_fed_outliers_put(srv->store, room_id, rows, n, set.state);
        hs_room_unlock();
        if (rc == 0) {
            hs_room_engine eng = hs_fed_rooms_engine(srv);
            hs_room_remote rr = {&eng, hs_fed_rooms_key, srv};
            s = hs_room_remote_accept_with_state(&rr, room_id, pdu, set.state, res);
        }
    }
    for (size_t i = 0; texts && i < n; i++) free(texts[i]);
    free(texts);
    free(rows);
    hs_fed_state_set_clear(&set);
    return s;
}

hs_remote_status hs_fed_rooms_accept(hs_server *srv, const char *origin, const json_t *pdu, hs_remote_result *res)
{
    hs_room_engine e = hs_fed_rooms_engine(srv);
    hs_room_remote rr = {&e, hs_fed_rooms_key, srv};
    const char *room_id = hs_pdu_room_id(pdu);
    if (!room_id) {
        memset(res, 0, sizeof *res);
        snprintf(res->msg, sizeof res->msg, "PDU has no room_id");
        return res->status = HS_REMOTE_REJECTED;
    }
    /* The sending server must be allowed by the room's ACL (checked per PDU). */
    if (hs_server_acl_room_allows(srv->store, room_id, origin) != 1) {
        memset(res, 0, sizeof *res);
        const hs_room_version *rv = hs_room_remote_version(srv->store, room_id);
        hs_err err;
        char *id = rv ? hs_event_id_compute(pdu, rv, &err) : NULL;
        snprintf(res->event_id, sizeof res->event_id, "%s", id ? id : "");
        free(id);
        snprintf(res->msg, sizeof res->msg, "%s is denied by the server ACL of %s", origin, room_id);
        hs_info("fed", "PDU %s from %s: %s", res->event_id, origin, res->msg);
        return res->status = HS_REMOTE_REJECTED;
    }
    hs_remote_status s = hs_room_remote_accept(&rr, room_id, pdu, res);
    if (s == HS_REMOTE_MISSING && res->missing_prev) {
        char id[256];
        snprintf(id, sizeof id, "%s", res->event_id);
        fetch_missing(srv, origin, room_id, id);
        s = hs_room_remote_accept(&rr, room_id, pdu, res);
    }
    /* Still a gap, or auth events we never saw: the origin's state before the event
     * (whose auth chain brings them) decides. */
    if (s == HS_REMOTE_MISSING) s = accept_on_their_state(srv, origin, room_id, pdu, res);
    if (s != HS_REMOTE_ACCEPTED && s != HS_REMOTE_DUPLICATE)
        hs_info("fed", "PDU %s from %s: %s: %s", res->event_id, origin, hs_remote_status_str(s), res->msg);
    return s;
}

/* ---- PUT /send/{txnId} ------------------------------------------------------------- */

static void receipt_edu(hs_server *srv, const char *origin, const json_t *content)
{
    const char *room_id;
    const json_t *types;
    json_object_foreach((json_t *)content, room_id, types) {
        if (hs_server_acl_room_allows(srv->store, room_id, origin) != 1) continue; /* MSC4163 */
        const json_t *users = json_object_get(types, "m.read");
        const char *user_id;
        const json_t *r;
        json_object_foreach((json_t *)users, user_id, r) {
            const char *server = hs_id_server_name(user_id);
            const char *event_id = json_string_value(json_array_get(json_object_get(r, "event_ids"), 0));
            if (!server || strcmp(server, origin) != 0 || !event_id) continue;
            const json_t *data = json_object_get(r, "data");
            const char *thread = json_string_value(json_object_get(data, "thread_id"));
            json_int_t ts = json_integer_value(json_object_get(data, "ts"));
            char membership[32];
            if (hs_store_membership(srv->store, room_id, user_id, membership) != 0 ||
                strcmp(membership, "join") != 0)
                continue;
            hs_store_receipt_put(srv->store, room_id, "m.read", user_id, thread ? thread : "", event_id, ts, NULL);
        }
    }
    hs_notifier_wake(srv->notifier);
}

static void send_txn(const hs_request *req, hs_response *resp, hs_server *srv, const char *origin)
{
    hs_fed_queue_heard_from(srv, origin);
    const char *txn_id = hs_request_param(req, "txnId");
    if (!txn_id || strlen(txn_id) > TXN_ID_MAX) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "bad transaction ID");
        return;
    }
    char *prior = NULL;
    int rc = hs_store_fed_txn_get(srv->store, origin, txn_id, &prior);
    if (rc < 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read transactions");
        return;
    }
    if (rc == 0) {
        hs_response_bytes(resp, 200, "application/json", prior, strlen(prior));
        free(prior);
        return;
    }
    char why[256];
    json_t *body = hs_request_json(req, why, sizeof why);
    if (!body) {
        hs_response_error(resp, 400, "M_NOT_JSON", "%s", why);
        return;
    }
    json_t *pdus = json_object_get(body, "pdus");
    json_t *edus = json_object_get(body, "edus");
    const char *body_origin = json_string_value(json_object_get(body, "origin"));
    if (!json_is_array(pdus) || (edus && !json_is_array(edus)) || (body_origin && strcmp(body_origin, origin) != 0)) {
        hs_response_error(resp, 400, "M_BAD_JSON", "a transaction has an array of pdus and its sender's origin");
        json_decref(body);
        return;
    }
    if (json_array_size(pdus) > HS_FED_MAX_PDUS || json_array_size(edus) > HS_FED_MAX_EDUS) {
        hs_response_error(resp, 400, "M_BAD_JSON", "at most %d PDUs and %d EDUs per transaction", HS_FED_MAX_PDUS,
                          HS_FED_MAX_EDUS);
        json_decref(body);
        return;
    }
    json_t *results = json_object();
    /* Oldest first, so an event whose parent came in the same transaction finds it. */
    size_t n_pdus = json_array_size(pdus), i;
    json_t *order[HS_FED_MAX_PDUS], *pdu;
    for (i = 0; i < n_pdus; i++) order[i] = json_array_get(pdus, i);
    qsort(order, n_pdus, sizeof *order, by_depth);
    for (i = 0; i < n_pdus; i++) {
        pdu = order[i];
        if (!json_is_object(pdu)) continue;
        hs_remote_result res;
        hs_remote_status s = hs_fed_rooms_accept(srv, origin, pdu, &res);
        if (!res.event_id[0]) continue; /* no ID to report it under */
        json_object_set_new(results, res.event_id,
                            s == HS_REMOTE_ACCEPTED || s == HS_REMOTE_DUPLICATE || s == HS_REMOTE_SOFT_FAILED
                                ? json_object() : json_pack("{ss}", "error", res.msg));
    }
    json_t *edu;
    int resyncs_left = HS_FED_RESYNCS_PER_TXN;
    json_array_foreach(edus, i, edu) {
        const char *type = json_string_value(json_object_get(edu, "edu_type"));
        if (type && strcmp(type, "m.receipt") == 0) receipt_edu(srv, origin, json_object_get(edu, "content"));
        else hs_fed_edu_apply(srv, origin, edu, &resyncs_left); /* devices, to-device, typing: hs_fed_e2ee.c */
    }
    json_decref(body);
    json_t *answer = json_pack("{so}", "pdus", results);
    char *text = json_dumps(answer, JSON_COMPACT);
    if (text) hs_store_fed_txn_put(srv->store, origin, txn_id, text, hs_fed_now_ms());
    free(text);
    hs_response_json(resp, 200, answer);
}

/* ---- reads -------------------------------------------------------------------------- */

static void event_get(const hs_request *req, hs_response *resp, hs_server *srv, const char *origin)
{
    char *room = NULL;
    json_t *pdu = served_pdu(srv, hs_request_param(req, "eventId"), &room);
    if (!pdu) {
        hs_response_error(resp, 404, "M_NOT_FOUND", "unknown event");
        return;
    }
    if (may_see(srv, room, origin, resp)) hs_response_json(resp, 200, txn_body(srv, json_pack("[O]", pdu)));
    json_decref(pdu);
    free(room);
}

/* The state before `event_id` of `room_id` (ids only, or with PDUs) and its auth chain. */
static void state_common(const hs_request *req, hs_response *resp, hs_server *srv, const char *origin, bool ids)
{
    const char *room_id = hs_request_param(req, "roomId");
    const char *event_id = hs_request_query(req, "event_id");
    if (!event_id) {
        hs_response_error(resp, 400, "M_MISSING_PARAM", "event_id is required");
        return;
    }
    if (!may_see(srv, room_id, origin, resp)) return;
    const hs_room_version *rv = hs_room_remote_version(srv->store, room_id);
    hs_state_map *state = NULL;
    int rc = rv ? hs_store_state_at_event(srv->store, event_id, false, &state) : -1;
    hs_store_event ev;
    if (rc == 0 && hs_store_event_get(srv->store, event_id, &ev) == 0) {
        if (strcmp(ev.room_id, room_id) != 0) rc = 1;
        hs_store_event_clear(&ev);
    }
    if (rc != 0) {
        hs_response_error(resp, rc < 0 ? 500 : 404, rc < 0 ? "M_UNKNOWN" : "M_NOT_FOUND", "unknown event");
        return;
    }
    hs_state_entry *e = NULL;
    long n = hs_state_map_entries(state, &e);
    const char **list = calloc(n > 0 ? (size_t)n : 1, sizeof *list);
    json_t *out = json_array();
    for (long i = 0; list && i < n; i++) {
        list[i] = e[i].event_id;
        json_array_append_new(out, ids ? json_string(e[i].event_id) : served_pdu(srv, e[i].event_id, NULL));
    }
    hs_err err = {{0}};
    json_t *chain = list ? hs_fed_rooms_auth_chain(srv, rv, list, (size_t)(n > 0 ? n : 0), &err) : NULL;
    if (!chain) {
        hs_response_error(resp, 500, "M_UNKNOWN", "auth chain: %s", err.msg);
        json_decref(out);
    } else if (ids) {
        json_t *chain_ids = json_array();
        size_t i;
        json_t *p;
        json_array_foreach(chain, i, p) {
            char *id = hs_event_id_compute(p, rv, &err);
            if (id) json_array_append_new(chain_ids, json_string(id));
            free(id);
        }
        json_decref(chain);
        hs_response_json(resp, 200, json_pack("{soso}", "pdu_ids", out, "auth_chain_ids", chain_ids));
    } else {
        hs_response_json(resp, 200, json_pack("{soso}", "pdus", out, "auth_chain", chain));
    }
    free(list);
    free(e);
    hs_state_map_free(state);
}

static void state_get(const hs_request *req, hs_response *resp, hs_server *srv, const char *origin)
{
    state_common(req, resp, srv, origin, false);
}

static void state_ids_get(const hs_request *req, hs_response *resp, hs_server *srv, const char *origin)
{
    state_common(req, resp, srv, origin, true);
}

static void event_auth_get(const hs_request *req, hs_response *resp, hs_server *srv, const char *origin)
{
    const char *room_id = hs_request_param(req, "roomId");
    if (!may_see(srv, room_id, origin, resp)) return;
    const hs_room_version *rv = hs_room_remote_version(srv->store, room_id);
    char *room = NULL;
    json_t *pdu = served_pdu(srv, hs_request_param(req, "eventId"), &room);
    if (!pdu || !rv || strcmp(room, room_id) != 0) {
        hs_response_error(resp, 404, "M_NOT_FOUND", "unknown event");
    } else {
        size_t n = hs_pdu_auth_event_count(pdu);
        const char *ids[HS_PDU_MAX_AUTH_EVENTS];
        for (size_t i = 0; i < n && i < HS_PDU_MAX_AUTH_EVENTS; i++) ids[i] = hs_pdu_auth_event(pdu, i);
        hs_err err = {{0}};
        /* The auth events themselves belong to the chain, so they are added as starts
         * and as members. */
        json_t *chain = hs_fed_rooms_auth_chain(srv, rv, ids, n, &err);
        if (chain) {
            for (size_t i = 0; i < n; i++) {
                json_t *a = served_pdu(srv, ids[i], NULL);
                if (a) json_array_append_new(chain, a);
            }
            hs_response_json(resp, 200, json_pack("{so}", "auth_chain", chain));
        } else {
            hs_response_error(resp, 500, "M_UNKNOWN", "auth chain: %s", err.msg);
        }
    }
    json_decref(pdu);
    free(room);
}

/* Walks prev_events back from `starts` (not into `stop`), collecting at most `limit`
 * events of room_id with depth >= min_depth into a new array. include_starts: the
 * start events themselves count (backfill) or not (get_missing_events). */
static json_t *walk_back(hs_server *srv, const char *room_id, const json_t *starts, const json_t *stop, long limit,
                         long long min_depth, bool include_starts)
{
    json_t *seen = json_object(), *queue = json_array(), *out = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(stop, i, v) if (json_is_string(v)) json_object_set_new(seen, json_string_value(v), json_true());
    json_array_foreach(starts, i, v) {
        if (!json_is_string(v)) continue;
        if (include_starts) {
            json_array_append(queue, v);
            continue;
        }
        json_t *pdu = served_pdu(srv, json_string_value(v), NULL);
        for (size_t k = 0; pdu && k < hs_pdu_prev_event_count(pdu); k++)
            json_array_append_new(queue, json_string(hs_pdu_prev_event(pdu, k)));
        json_decref(pdu);
    }
    for (size_t q = 0; q < json_array_size(queue) && (long)json_array_size(out) < limit; q++) {
        const char *id = json_string_value(json_array_get(queue, q));
        if (!id || json_object_get(seen, id)) continue;
        json_object_set_new(seen, id, json_true());
        char *room = NULL;
        json_t *pdu = served_pdu(srv, id, &room);
        if (!pdu || strcmp(room, room_id) != 0 || hs_pdu_depth(pdu) < min_depth) {
            json_decref(pdu);
            free(room);
            continue;
        }
        free(room);
        for (size_t k = 0; k < hs_pdu_prev_event_count(pdu); k++)
            json_array_append_new(queue, json_string(hs_pdu_prev_event(pdu, k)));
        json_array_append_new(out, pdu);
    }
    json_decref(seen);
    json_decref(queue);
    return out;
}

static void backfill_get(const hs_request *req, hs_response *resp, hs_server *srv, const char *origin)
{
    const char *room_id = hs_request_param(req, "roomId");
    const char *limit_s = hs_request_query(req, "limit");
    long limit = limit_s ? strtol(limit_s, NULL, 10) : 10;
    if (limit <= 0 || limit > BACKFILL_MAX) limit = limit <= 0 ? 10 : BACKFILL_MAX;
    json_t *starts = json_array();
    for (size_t i = 0; i < req->n_query; i++)
        if (strcmp(req->query[i].name, "v") == 0) json_array_append_new(starts, json_string(req->query[i].value));
    if (json_array_size(starts) == 0) hs_response_error(resp, 400, "M_MISSING_PARAM", "v is required");
    else if (may_see(srv, room_id, origin, resp))
        hs_response_json(resp, 200, txn_body(srv, walk_back(srv, room_id, starts, NULL, limit, 0, true)));
    json_decref(starts);
}

static void missing_post(const hs_request *req, hs_response *resp, hs_server *srv, const char *origin)
{
    const char *room_id = hs_request_param(req, "roomId");
    char why[256];
    json_t *body = hs_request_json(req, why, sizeof why);
    if (!body) {
        hs_response_error(resp, 400, "M_NOT_JSON", "%s", why);
        return;
    }
    json_t *latest = json_object_get(body, "latest_events"), *earliest = json_object_get(body, "earliest_events");
    json_int_t limit = json_integer_value(json_object_get(body, "limit"));
    if (limit <= 0 || limit > 20) limit = limit <= 0 ? 10 : 20;
    if (!json_is_array(latest) || !json_is_array(earliest)) {
        hs_response_error(resp, 400, "M_BAD_JSON", "earliest_events and latest_events are required");
    } else if (json_array_size(latest) > WALK_IDS_MAX || json_array_size(earliest) > WALK_IDS_MAX) {
        hs_response_error(resp, 400, "M_BAD_JSON", "at most %d latest_events and earliest_events", WALK_IDS_MAX);
    } else if (may_see(srv, room_id, origin, resp)) {
        json_t *events = walk_back(srv, room_id, latest, earliest, (long)limit,
                                   json_integer_value(json_object_get(body, "min_depth")), false);
        size_t n = json_array_size(events);
        json_t **v = calloc(n ? n : 1, sizeof *v);
        for (size_t i = 0; v && i < n; i++) v[i] = json_array_get(events, i);
        if (v) qsort(v, n, sizeof *v, by_depth);
        json_t *sorted = json_array();
        for (size_t i = 0; v && i < n; i++) json_array_append(sorted, v[i]);
        free(v);
        json_decref(events);
        hs_response_json(resp, 200, json_pack("{so}", "events", sorted));
    }
    json_decref(body);
}

/* ---- joins -------------------------------------------------------------------------- */

/* Answers a refused restricted join (hs_room_restricted.h) with the spec's error, as
 * Synapse does; false when the join may go on. */
static bool restricted_refused(hs_response *resp, hs_restricted_status s, const char *msg)
{
    switch (s) {
    case HS_RESTRICTED_NOT_NEEDED:
    case HS_RESTRICTED_ADMITTED: return false;
    case HS_RESTRICTED_NOT_MEMBER: hs_response_error(resp, 403, "M_FORBIDDEN", "%s", msg); break;
    case HS_RESTRICTED_CANNOT_TELL: hs_response_error(resp, 400, "M_UNABLE_TO_AUTHORISE_JOIN", "%s", msg); break;
    case HS_RESTRICTED_NO_AUTHORISER: hs_response_error(resp, 400, "M_UNABLE_TO_GRANT_JOIN", "%s", msg); break;
    default: hs_response_error(resp, 500, "M_UNKNOWN", "%s", msg); break;
    }
    return true;
}

/* make_join / make_leave: a template of `membership` for a user of `origin`. A join of
 * a restricted room by a user who qualifies names our user who vouches for it in
 * join_authorised_via_users_server; send_join then adds our signature. */
static void make_member(const hs_request *req, hs_response *resp, hs_server *srv, const char *origin,
                        const char *membership)
{
    const char *room_id = hs_request_param(req, "roomId");
    const char *user_id = hs_request_param(req, "userId");
    const char *server = user_id ? hs_id_server_name(user_id) : NULL;
    if (!hs_is_valid_user_id(user_id) || !server || strcmp(server, origin) != 0) {
        hs_response_error(resp, 403, "M_FORBIDDEN", "a server may only make memberships for its own users");
        return;
    }
    const hs_room_version *rv = hs_room_remote_version(srv->store, room_id);
    if (!rv) {
        hs_response_error(resp, 404, "M_NOT_FOUND", "unknown room");
        return;
    }
    if (!acl_allows(srv, room_id, origin, resp)) return;
    bool supported = false, any_ver = false;
    for (size_t i = 0; i < req->n_query; i++) {
        if (strcmp(req->query[i].name, "ver") != 0) continue;
        any_ver = true;
        supported |= strcmp(req->query[i].value, rv->id) == 0;
    }
    if (!any_ver) supported = strcmp(rv->id, "1") == 0;
    if (strcmp(membership, "leave") == 0) supported = true; /* make_leave has no ver */
    if (strcmp(membership, "knock") == 0 && !rv->knock) supported = false; /* knocking began with v7 */
    if (!supported) {
        json_t *err = json_pack("{ssssss}", "errcode", "M_INCOMPATIBLE_ROOM_VERSION", "error",
                                "your server does not support the room's version", "room_version", rv->id);
        hs_response_json(resp, 400, err);
        return;
    }
    char *via = NULL;
    if (strcmp(membership, "join") == 0) {
        char msg[400];
        hs_restricted_status rs =
            hs_room_restricted_join(srv->store, rv, room_id, user_id, srv->cfg.server_name, &via, msg, sizeof msg);
        if (restricted_refused(resp, rs, msg)) return;
    }
    json_t *ev = json_pack("{sssssssss{ss}sI}", "type", "m.room.member", "room_id", room_id, "sender", user_id,
                           "state_key", user_id, "content", "membership", membership, "origin_server_ts",
                           (json_int_t)hs_fed_now_ms());
    if (!rv->no_origin_field) json_object_set_new(ev, "origin", json_string(origin));
    if (via) json_object_set_new(json_object_get(ev, "content"), "join_authorised_via_users_server", json_string(via));
    free(via);
    hs_room_lock();
    char **ext = NULL;
    size_t n_ext = 0;
    int64_t depth = 0;
    hs_err err = {{0}};
    char why[320] = "";
    int rc = hs_store_room_extremities(srv->store, room_id, &ext, &n_ext, &depth);
    if (rc == 0) {
        json_t *prev = json_array();
        for (size_t i = 0; i < n_ext && i < HS_PDU_MAX_PREV_EVENTS; i++) json_array_append_new(prev, json_string(ext[i]));
        json_object_set_new(ev, "prev_events", prev);
        json_object_set_new(ev, "depth", json_integer(depth + 1));
        rc = hs_room_remote_select_auth(srv->store, rv, room_id, ev, &err);
    }
    if (rc == 0) {
        /* The template is unsigned, and the auth rules want the authorising server's
         * signature on a restricted join; that is ours, added at send_join, so the check
         * runs on a copy that already names us among the signers. */
        json_t *probe = json_deep_copy(ev);
        if (probe && json_object_get(hs_pdu_content(ev), "join_authorised_via_users_server"))
            json_object_set_new(probe, "signatures", json_pack("{s{}}", srv->cfg.server_name));
        if (!probe || hs_room_remote_auth_current(srv->store, rv, room_id, probe, why, sizeof why) != HS_AUTH_OK)
            rc = 1;
        json_decref(probe);
    }
    hs_room_unlock();
    hs_store_free_strings(ext, n_ext);
    if (rc == 0) hs_response_json(resp, 200, json_pack("{ssso}", "room_version", rv->id, "event", ev));
    else {
        if (rc == 1) hs_response_error(resp, 403, "M_FORBIDDEN", "%s", why);
        else hs_response_error(resp, 500, "M_UNKNOWN", "cannot build the %s: %s", membership, err.msg);
        json_decref(ev);
    }
}

static void make_join_get(const hs_request *req, hs_response *resp, hs_server *srv, const char *origin)
{
    make_member(req, resp, srv, origin, "join");
}

static void make_leave_get(const hs_request *req, hs_response *resp, hs_server *srv, const char *origin)
{
    make_member(req, resp, srv, origin, "leave");
}

/* make_knock: the knock template; the auth rules (join rule knock or knock_restricted)
 * refuse it with 403 where knocking is not allowed. */
static void make_knock_get(const hs_request *req, hs_response *resp, hs_server *srv, const char *origin)
{
    make_member(req, resp, srv, origin, "knock");
}

/* send_join of a join naming join_authorised_via_users_server (v8+): we vouch only for
 * our own users (Synapse refuses others with 400 too), the joining user must still
 * qualify by the restricted join rule as we see it now, and then the event gets our
 * signature before it is checked and stored, so that the copy we keep, send on and
 * answer in send_join's `event` carries it. The signature covers the redacted event,
 * which v9+ keeps the key in; the event ID ignores signatures, so it does not change.
 * Returns true to go on, false after answering. */
static bool countersign_join(hs_server *srv, const hs_room_version *rv, const char *room_id, json_t *pdu,
                             hs_response *resp)
{
    const char *via = json_string_value(json_object_get(hs_pdu_content(pdu), "join_authorised_via_users_server"));
    if (!rv->restricted_join || !via) return true;
    const char *server = hs_id_server_name(via), *self = srv->cfg.server_name;
    if (!server || strcmp(server, self) != 0) {
        hs_response_error(resp, 400, "M_INVALID_PARAM",
                          "cannot authorise a join for %s: this server only vouches through its own users", via);
        return false;
    }
    char msg[400];
    hs_restricted_status s = hs_room_restricted_admits(srv->store, rv, room_id, hs_pdu_state_key(pdu), self, msg, sizeof msg);
    if (restricted_refused(resp, s, msg)) return false;
    hs_err err = {{0}};
    if (hs_event_sign(pdu, rv, self, &srv->signing_key, 0, &err) != 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot countersign the join: %s", err.msg);
        return false;
    }
    return true;
}

/* The body of send_join/send_leave: a `want` membership event of a user of `origin`
 * whose ID is the path's eventId, in a room we know (its version in *rv), accepted (or
 * already held) like any PDU. Returns the PDU (caller decrefs), or NULL after answering
 * 404 (unknown room), 400 (not JSON, not such an event) or 403/500 (not accepted). */
static json_t *accept_membership(const hs_request *req, hs_response *resp, hs_server *srv, const char *origin,
                                 const char *want, const hs_room_version **rv)
{
    const char *event_id = hs_request_param(req, "eventId");
    *rv = hs_room_remote_version(srv->store, hs_request_param(req, "roomId"));
    if (!*rv) {
        hs_response_error(resp, 404, "M_NOT_FOUND", "unknown room");
        return NULL;
    }
    char why[256];
    json_t *pdu = hs_request_json(req, why, sizeof why);
    if (!pdu) {
        hs_response_error(resp, 400, "M_NOT_JSON", "%s", why);
        return NULL;
    }
    hs_err err = {{0}};
    char *id = hs_event_id_compute(pdu, *rv, &err);
    const char *type = hs_pdu_type(pdu), *sender = hs_pdu_sender(pdu), *sk = hs_pdu_state_key(pdu);
    const char *membership = json_string_value(json_object_get(hs_pdu_content(pdu), "membership"));
    const char *server = sender ? hs_id_server_name(sender) : NULL;
    hs_remote_result res;
    hs_remote_status s;
    bool ok = false;
    const char *room_id = hs_request_param(req, "roomId"), *pdu_room = hs_pdu_room_id(pdu);
    if (!id || strcmp(id, event_id) != 0 || !type || strcmp(type, "m.room.member") != 0 || !sk || !sender ||
        strcmp(sk, sender) != 0 || !membership || strcmp(membership, want) != 0 || !server ||
        strcmp(server, origin) != 0 || !pdu_room || strcmp(pdu_room, room_id) != 0)
        hs_response_error(resp, 400, "M_BAD_JSON", "not a %s of a user of %s in %s with event ID %s", want, origin,
                          room_id, event_id);
    else if (strcmp(want, "join") != 0 || countersign_join(srv, *rv, room_id, pdu, resp)) {
        if ((s = hs_fed_rooms_accept(srv, origin, pdu, &res)) != HS_REMOTE_ACCEPTED && s != HS_REMOTE_DUPLICATE)
            hs_response_error(resp, s == HS_REMOTE_ERROR ? 500 : 403, s == HS_REMOTE_ERROR ? "M_UNKNOWN" : "M_FORBIDDEN",
                              "%s %s: %s", want, hs_remote_status_str(s), res.msg);
        else ok = true;
    }
    free(id);
    if (ok) return pdu;
    json_decref(pdu);
    return NULL;
}

/* send_leave v1/v2: the leave of a user of `origin`, checked and accepted like any PDU. */
static void send_leave_common(const hs_request *req, hs_response *resp, hs_server *srv, const char *origin, bool v2)
{
    const hs_room_version *rv;
    json_t *pdu = accept_membership(req, resp, srv, origin, "leave", &rv);
    if (!pdu) return;
    hs_response_json(resp, 200, v2 ? json_object() : json_pack("[i{}]", 200));
    json_decref(pdu);
}

static void send_leave_v1(const hs_request *req, hs_response *resp, hs_server *srv, const char *origin)
{
    send_leave_common(req, resp, srv, origin, false);
}

static void send_leave_v2(const hs_request *req, hs_response *resp, hs_server *srv, const char *origin)
{
    send_leave_common(req, resp, srv, origin, true);
}

/* send_knock: the knock of a user of `origin`, accepted like any PDU, answered with the
 * stripped state the knocker's client shows (spec v1.11 knock_room_state). */
static void send_knock_put(const hs_request *req, hs_response *resp, hs_server *srv, const char *origin)
{
    const hs_room_version *rv;
    json_t *pdu = accept_membership(req, resp, srv, origin, "knock", &rv);
    if (!pdu) return;
    hs_response_json(resp, 200,
                     json_pack("{so}", "knock_room_state", hs_fed_stripped_state(srv, hs_request_param(req, "roomId"))));
    json_decref(pdu);
}

static void send_join_common(const hs_request *req, hs_response *resp, hs_server *srv, const char *origin, bool v2)
{
    const char *room_id = hs_request_param(req, "roomId");
    const char *event_id = hs_request_param(req, "eventId");
    const hs_room_version *rv;
    json_t *pdu = accept_membership(req, resp, srv, origin, "join", &rv);
    if (!pdu) return;
    hs_err err = {{0}};
    hs_state_map *state = NULL;
    if (hs_store_state_at_event(srv->store, event_id, false, &state) != 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the state before the join");
        goto out;
    }
    hs_state_entry *e = NULL;
    long n = hs_state_map_entries(state, &e);
    const char **list = calloc(n > 0 ? (size_t)n : 1, sizeof *list);
    json_t *pdus = json_array();
    for (long i = 0; list && i < n; i++) {
        list[i] = e[i].event_id;
        json_t *p = served_pdu(srv, e[i].event_id, NULL);
        if (p) json_array_append_new(pdus, p);
    }
    json_t *chain = list ? hs_fed_rooms_auth_chain(srv, rv, list, (size_t)(n > 0 ? n : 0), &err) : NULL;
    char **servers = NULL;
    size_t n_servers = 0;
    hs_store_fed_joined_servers(srv->store, room_id, &servers, &n_servers);
    json_t *sv = json_array();
    for (size_t i = 0; i < n_servers; i++) json_array_append_new(sv, json_string(servers[i]));
    hs_store_free_strings(servers, n_servers);
    if (!chain) {
        hs_response_error(resp, 500, "M_UNKNOWN", "auth chain: %s", err.msg);
        json_decref(pdus);
        json_decref(sv);
    } else {
        json_t *stored = served_pdu(srv, event_id, NULL);
        json_t *body = json_pack("{sssosososbso}", "origin", srv->cfg.server_name, "state", pdus, "auth_chain", chain,
                                 "event", stored ? stored : json_incref(pdu), "members_omitted", 0,
                                 "servers_in_room", sv);
        hs_response_json(resp, 200, v2 ? body : json_pack("[io]", 200, body));
    }
    free(list);
    free(e);
    hs_state_map_free(state);
out:
    json_decref(pdu);
}

static void send_join_v1(const hs_request *req, hs_response *resp, hs_server *srv, const char *origin)
{
    send_join_common(req, resp, srv, origin, false);
}

static void send_join_v2(const hs_request *req, hs_response *resp, hs_server *srv, const char *origin)
{
    send_join_common(req, resp, srv, origin, true);
}

static void directory_get(const hs_request *req, hs_response *resp, hs_server *srv, const char *origin)
{
    (void)origin;
    const char *alias = hs_request_query(req, "room_alias");
    const char *server = alias ? hs_id_server_name(alias) : NULL;
    if (!alias || !hs_is_valid_room_alias(alias) || !server || strcmp(server, srv->cfg.server_name) != 0) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "room_alias must be an alias of this server");
        return;
    }
    char *room_id = NULL;
    int rc = hs_store_alias_get(srv->store, alias, &room_id);
    if (rc != 0) {
        hs_response_error(resp, rc < 0 ? 500 : 404, rc < 0 ? "M_UNKNOWN" : "M_NOT_FOUND", "unknown alias");
        return;
    }
    char **servers = NULL;
    size_t n = 0;
    hs_store_fed_joined_servers(srv->store, room_id, &servers, &n);
    json_t *sv = json_pack("[s]", srv->cfg.server_name);
    for (size_t i = 0; i < n; i++)
        if (strcmp(servers[i], srv->cfg.server_name) != 0) json_array_append_new(sv, json_string(servers[i]));
    hs_store_free_strings(servers, n);
    hs_response_json(resp, 200, json_pack("{ssso}", "room_id", room_id, "servers", sv));
    free(room_id);
}

int hs_fed_rooms_register(hs_server *srv)
{
    static const struct {
        const char *method, *pattern;
        hs_fed_handler fn;
    } routes[] = {
        {"PUT", "/_matrix/federation/v1/send/{txnId}", send_txn},
        {"GET", "/_matrix/federation/v1/event/{eventId}", event_get},
        {"GET", "/_matrix/federation/v1/state/{roomId}", state_get},
        {"GET", "/_matrix/federation/v1/state_ids/{roomId}", state_ids_get},
        {"GET", "/_matrix/federation/v1/event_auth/{roomId}/{eventId}", event_auth_get},
        {"GET", "/_matrix/federation/v1/backfill/{roomId}", backfill_get},
        {"POST", "/_matrix/federation/v1/get_missing_events/{roomId}", missing_post},
        {"GET", "/_matrix/federation/v1/make_join/{roomId}/{userId}", make_join_get},
        {"PUT", "/_matrix/federation/v1/send_join/{roomId}/{eventId}", send_join_v1},
        {"PUT", "/_matrix/federation/v2/send_join/{roomId}/{eventId}", send_join_v2},
        {"GET", "/_matrix/federation/v1/query/directory", directory_get},
        {"GET", "/_matrix/federation/v1/make_leave/{roomId}/{userId}", make_leave_get},
        {"PUT", "/_matrix/federation/v1/send_leave/{roomId}/{eventId}", send_leave_v1},
        {"PUT", "/_matrix/federation/v2/send_leave/{roomId}/{eventId}", send_leave_v2},
        {"GET", "/_matrix/federation/v1/make_knock/{roomId}/{userId}", make_knock_get},
        {"PUT", "/_matrix/federation/v1/send_knock/{roomId}/{eventId}", send_knock_put},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (hs_fed_route(srv, routes[i].method, routes[i].pattern, routes[i].fn) != 0) return -1;
    return hs_fed_invite_register(srv);
}
