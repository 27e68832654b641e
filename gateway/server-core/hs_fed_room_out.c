/* hs_fed_room_out: see hs_fed_room_out.h. */
#include "server-core/hs_fed_room_out.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_event_id.h"
#include "server-core/hs_fed.h"
#include "server-core/hs_fed_rooms.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_server.h"
#include "server-core/hs_signing.h"
#include "server-core/hs_store_fed_rooms.h"

void hs_fed_room_candidate_add(hs_fed_room_candidates *c, const char *server)
{
    if (!server || !hs_is_valid_server_name(server) || strcmp(server, c->self) == 0 || c->n == HS_FED_ROOM_CANDIDATES)
        return;
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->name[i], server) == 0) return;
    snprintf(c->name[c->n++], sizeof c->name[0], "%s", server);
}

/* Copies a remote's string field into dst when it fits and is made of token
 * characters, else leaves dst empty: it is relayed to our client verbatim. */
static void copy_token(char *dst, size_t cap, const json_t *v)
{
    const char *s = json_string_value(v);
    dst[0] = '\0';
    if (!s || strlen(s) >= cap) return;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
              *p == '.' || *p == '-'))
            return;
    snprintf(dst, cap, "%s", s);
}

json_t *hs_fed_room_call_json(hs_server *srv, const char *server, const char *method, const char *target,
                              const json_t *body, hs_fed_room_call *out)
{
    hs_fed_out req = {.destination = server, .method = method, .target = target, .content = body, .sign = true};
    hs_fed_reply reply = {0};
    hs_err err = {{0}};
    json_t *j = NULL;
    out->status = 0;
    out->msg[0] = '\0';
    out->errcode[0] = '\0';
    out->room_version[0] = '\0';
    if (hs_fed_send(srv, &req, &reply, &err) == 0) out->status = reply.status;
    if (out->status == 0) snprintf(out->msg, sizeof out->msg, "%s: %s", server, err.msg);
    else if (reply.status != 200) {
        snprintf(out->msg, sizeof out->msg, "%s answered %ld: %.200s", server, reply.status,
                 reply.body ? reply.body : "");
        json_t *e = reply.body ? json_loadb(reply.body, reply.body_len, 0, NULL) : NULL;
        copy_token(out->errcode, sizeof out->errcode, json_object_get(e, "errcode"));
        copy_token(out->room_version, sizeof out->room_version, json_object_get(e, "room_version"));
        json_decref(e);
    } else if (!(j = json_loadb(reply.body, reply.body_len, JSON_ALLOW_NUL, NULL)))
        snprintf(out->msg, sizeof out->msg, "%s answered with bad JSON", server);
    hs_fed_reply_free(&reply);
    return j;
}

hs_room_status hs_fed_room_resolve(hs_server *srv, const char *room_id_or_alias, char *room_id, size_t cap,
                                   hs_fed_room_candidates *c, hs_room_result *res)
{
    if (room_id_or_alias[0] != '#') {
        if (strlen(room_id_or_alias) >= cap) return hs_fed_room_fail(res, HS_ROOM_BAD_REQUEST, "room ID too long");
        snprintf(room_id, cap, "%s", room_id_or_alias);
        return HS_ROOM_OK;
    }
    const char *server = hs_id_server_name(room_id_or_alias);
    char target[700];
    char *enc = hs_fed_pct_encode(room_id_or_alias);
    snprintf(target, sizeof target, "/_matrix/federation/v1/query/directory?room_alias=%s", enc ? enc : "");
    free(enc);
    hs_fed_room_call call = {0};
    json_t *answer = server ? hs_fed_room_call_json(srv, server, "GET", target, NULL, &call) : NULL;
    const char *rid = json_string_value(json_object_get(answer, "room_id"));
    if (!rid || !hs_is_valid_room_id(rid, NULL) || strlen(rid) >= cap) {
        json_decref(answer);
        return hs_fed_room_fail(res, HS_ROOM_NOT_FOUND, "room alias %s: %s", room_id_or_alias,
                                call.msg[0] ? call.msg : "no room ID in the answer");
    }
    snprintf(room_id, cap, "%s", rid);
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(answer, "servers"), i, s) hs_fed_room_candidate_add(c, json_string_value(s));
    hs_fed_room_candidate_add(c, server);
    json_decref(answer);
    return HS_ROOM_OK;
}

char *hs_fed_room_sign_template(hs_server *srv, json_t *ev, const hs_room_version *rv, int64_t now_ms,
                                hs_err *err)
{
    const char *self = srv->cfg.server_name;
    json_object_set_new(ev, "origin_server_ts", json_integer(now_ms));
    if (!rv->no_origin_field) json_object_set_new(ev, "origin", json_string(self));
    json_object_del(ev, "signatures");
    json_object_del(ev, "hashes");
    json_object_del(ev, "unsigned");
    json_object_del(ev, "event_id");
    if (hs_event_sign(ev, rv, self, &srv->signing_key, 1, err) != 0) return NULL;
    return hs_event_id_compute(ev, rv, err);
}

size_t hs_fed_room_via(const hs_request *req, const char **via, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < req->n_query && n < max; i++)
        if (strcmp(req->query[i].name, "server_name") == 0 || strcmp(req->query[i].name, "via") == 0)
            via[n++] = req->query[i].value;
    return n;
}

hs_room_status hs_fed_room_refusal(hs_room_result *res, const hs_fed_room_call *call, const char *step)
{
    /* A 401 or a token errcode is about our request's signature, not the room; relayed
     * as-is it would tell our client its own access token is bad. */
    bool refusal = call->status >= 400 && call->status < 500 && call->status != 401 && call->errcode[0] &&
                   strcmp(call->errcode, "M_UNKNOWN_TOKEN") != 0 && strcmp(call->errcode, "M_MISSING_TOKEN") != 0;
    hs_room_status s = !refusal ? HS_ROOM_ERROR
                       : call->status == 403 ? HS_ROOM_FORBIDDEN
                       : call->status == 404 ? HS_ROOM_NOT_FOUND : HS_ROOM_BAD_REQUEST;
    hs_fed_room_fail(res, s, "%s: %s", step, call->msg);
    if (refusal) {
        res->remote_status = (int)call->status;
        snprintf(res->errcode, sizeof res->errcode, "%s", call->errcode);
        snprintf(res->room_version, sizeof res->room_version, "%s", call->room_version);
    }
    return s;
}

/* How much a failed attempt tells the client (see hs_fed_room_keep). */
static int refusal_rank(const hs_room_result *r)
{
    if (r->status == HS_ROOM_FORBIDDEN) return 5;
    if (r->status == HS_ROOM_NOT_FOUND || strcmp(r->errcode, "M_NOT_FOUND") == 0) return 0;
    if (!r->remote_status) return -1;
    if (strcmp(r->errcode, "M_INCOMPATIBLE_ROOM_VERSION") == 0) return 4;
    if (strcmp(r->errcode, "M_UNABLE_TO_GRANT_JOIN") == 0) return 2;
    if (strcmp(r->errcode, "M_UNABLE_TO_AUTHORISE_JOIN") == 0) return 1;
    return 3;
}

void hs_fed_room_keep(hs_room_result *best, bool have, const hs_room_result *attempt)
{
    if (!have || refusal_rank(attempt) >= refusal_rank(best)) *best = *attempt;
}

void hs_fed_room_answer_error(hs_response *resp, hs_room_status s, const hs_room_result *res, const char *what)
{
    /* A resident's refusal is the room's answer. */
    if (res->remote_status >= 400 && res->remote_status < 500 && res->errcode[0]) {
        json_t *body = json_pack("{ssss}", "errcode", res->errcode, "error", res->msg);
        /* res->msg quotes the resident's answer, which may be cut inside a UTF-8 sequence. */
        if (!body) body = json_pack("{ssss+}", "errcode", res->errcode, "error", what, " refused by the room's server");
        if (body && res->room_version[0]) json_object_set_new(body, "room_version", json_string(res->room_version));
        if (body) {
            hs_response_json(resp, res->remote_status, body);
            return;
        }
    }
    switch (s) {
    case HS_ROOM_NOT_FOUND: hs_response_error(resp, 404, "M_NOT_FOUND", "%s", res->msg); break;
    case HS_ROOM_FORBIDDEN: hs_response_error(resp, 403, "M_FORBIDDEN", "%s", res->msg); break;
    case HS_ROOM_BAD_REQUEST: hs_response_error(resp, 400, "M_INVALID_PARAM", "%s", res->msg); break;
    default: hs_response_error(resp, 502, "M_UNKNOWN", "%s over federation failed: %s", what, res->msg); break;
    }
}

int hs_fed_room_store_stub(hs_server *srv, const hs_room_version *rv, const json_t *pdu, const char *event_id)
{
    hs_err err;
    char *text = hs_cjson_encode(pdu, 0, NULL, &err);
    if (!text) return -1;
    hs_store_new_event row = {
        .event_id = event_id, .room_id = hs_pdu_room_id(pdu), .type = "m.room.member",
        .state_key = hs_pdu_state_key(pdu), .sender = hs_pdu_sender(pdu), .depth = hs_pdu_depth(pdu),
        .origin_server_ts = hs_pdu_origin_server_ts(pdu), .pdu_json = text,
        .membership = json_string_value(json_object_get(hs_pdu_content(pdu), "membership")),
    };
    hs_room_lock();
    int rc = hs_store_fed_stub_membership(srv->store, rv->id, &row);
    hs_room_unlock();
    free(text);
    if (rc == 0) hs_notifier_wake(srv->notifier);
    return rc;
}
