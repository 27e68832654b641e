/* hs_fed_invite: invites across servers and rejecting them (see hs_fed_rooms.h).
 *
 * Inbound: PUT /v1|v2/invite checks that the event is an invite of one of our users,
 * sent by a user of the requesting server, with that server's valid signature and the
 * event ID of its path; then we countersign and return it. For a room we do not hold the
 * invite becomes a stub room with the stripped state the inviter attached
 * (unsigned.invite_room_state), which is what /sync shows the invitee.
 * Outbound: a local user's invite of a remote user (hs_fed_invite_remote) is built and
 * checked by the room engine but not written; it goes to the invitee's server first, and
 * only the event that server returned, checked to be ours with its signature added, is
 * accepted into the room like a received event (so the room never holds an invite the
 * invitee's server did not sign). The queue then sends it to the room's other servers;
 * its "invite" item for the invitee's server is a no-op for such an event
 * (hs_fed_invite_send). Leaving a stub room is make_leave/send_leave on the inviting
 * server. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_event_id.h"
#include "server-core/hs_fed.h"
#include "server-core/hs_fed_room_out.h"
#include "server-core/hs_fed_rooms.h"
#include "server-core/hs_log.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_server.h"
#include "server-core/hs_server_acl.h"
#include "server-core/hs_signing.h"
#include "server-core/hs_store_accounts.h"
#include "server-core/hs_store_rooms.h"

static void invite_common(const hs_request *req, hs_response *resp, hs_server *srv, const char *origin, bool v2)
{
    const char *room_id = hs_request_param(req, "roomId");
    const char *event_id = hs_request_param(req, "eventId");
    char why[256];
    json_t *body = hs_request_json(req, why, sizeof why);
    if (!body) {
        hs_response_error(resp, 400, "M_NOT_JSON", "%s", why);
        return;
    }
    json_t *event = v2 ? json_object_get(body, "event") : body;
    const char *version = v2 ? json_string_value(json_object_get(body, "room_version")) : NULL;
    const hs_room_version *rv = version ? hs_room_version_get(version) : hs_room_remote_version(srv->store, room_id);
    if (!rv && !version) rv = hs_room_version_get("1");
    hs_err err = {{0}};
    char *id = NULL;
    if (!rv) {
        json_t *e = json_pack("{ssss}", "errcode", "M_INCOMPATIBLE_ROOM_VERSION", "error", "unsupported room version");
        json_object_set_new(e, "room_version", json_string(version));
        hs_response_json(resp, 400, e);
        goto out;
    }
    if (!json_is_object(event) || hs_pdu_validate(event, rv, &err) != 0) {
        hs_response_error(resp, 400, "M_BAD_JSON", "invite event: %s", err.msg);
        goto out;
    }
    id = hs_event_id_compute(event, rv, &err);
    const char *type = hs_pdu_type(event), *sender = hs_pdu_sender(event), *sk = hs_pdu_state_key(event);
    const char *membership = json_string_value(json_object_get(hs_pdu_content(event), "membership"));
    const char *sender_server = hs_id_server_name(sender), *target_server = sk ? hs_id_server_name(sk) : NULL;
    const char *rid = hs_pdu_room_id(event);
    if (!id || strcmp(id, event_id) != 0 || strcmp(type, "m.room.member") != 0 || !membership ||
        strcmp(membership, "invite") != 0 || !rid || strcmp(rid, room_id) != 0 || !sender_server ||
        strcmp(sender_server, origin) != 0 || !target_server || strcmp(target_server, srv->cfg.server_name) != 0) {
        hs_response_error(resp, 400, "M_BAD_JSON", "not an invite of a user of this server by a user of %s", origin);
        goto out;
    }
    hs_store_user u;
    int rc = hs_store_user_get(srv->store, sk, &u);
    if (rc != 0 || u.deactivated) {
        hs_response_error(resp, rc < 0 ? 500 : 404, rc < 0 ? "M_UNKNOWN" : "M_NOT_FOUND", "no user %s here", sk);
        goto out;
    }
    /* A room we are in whose server ACL denies the inviting server (hs_server_acl.h). */
    if (hs_server_acl_room_allows(srv->store, room_id, origin) != 1) {
        hs_response_error(resp, 403, "M_FORBIDDEN", "%s is denied by the server ACL of %s", origin, room_id);
        goto out;
    }
    hs_room_engine e = hs_fed_rooms_engine(srv);
    hs_room_remote rr = {&e, hs_fed_rooms_key, srv};
    if (hs_room_remote_check_signatures(&rr, event, rv, &err) != 0) {
        hs_response_error(resp, 403, "M_FORBIDDEN", "invite signatures: %s", err.msg);
        goto out;
    }
    json_t *signed_ev = json_deep_copy(event);
    json_object_del(signed_ev, "unsigned");
    if (hs_event_sign(signed_ev, rv, srv->cfg.server_name, &srv->signing_key, 0, &err) != 0) {
        json_decref(signed_ev);
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot sign the invite: %s", err.msg);
        goto out;
    }
    /* The stub keeps the stripped state for the invitee's client. */
    json_t *stored = json_deep_copy(signed_ev);
    json_t *irs = v2 ? json_object_get(body, "invite_room_state") : NULL;
    if (!irs) irs = json_object_get(json_object_get(event, "unsigned"), "invite_room_state");
    if (json_is_array(irs)) json_object_set_new(stored, "unsigned", json_pack("{sO}", "invite_room_state", irs));
    /* A room held here already keeps its own state: nothing to store, still answered. */
    rc = hs_fed_room_store_stub(srv, rv, stored, id);
    json_decref(stored);
    if (rc < 0) {
        json_decref(signed_ev);
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot store the invite");
        goto out;
    }
    json_t *answer = json_pack("{so}", "event", signed_ev);
    hs_response_json(resp, 200, v2 ? answer : json_pack("[io]", 200, answer));
out:
    free(id);
    json_decref(body);
}

static void invite_v1(const hs_request *req, hs_response *resp, hs_server *srv, const char *origin)
{
    invite_common(req, resp, srv, origin, false);
}

static void invite_v2(const hs_request *req, hs_response *resp, hs_server *srv, const char *origin)
{
    invite_common(req, resp, srv, origin, true);
}

int hs_fed_invite_register(hs_server *srv)
{
    if (hs_fed_route(srv, "PUT", "/_matrix/federation/v1/invite/{roomId}/{eventId}", invite_v1) != 0) return -1;
    return hs_fed_route(srv, "PUT", "/_matrix/federation/v2/invite/{roomId}/{eventId}", invite_v2);
}

/* ---- outbound ------------------------------------------------------------------------ */

json_t *hs_fed_stripped_state(hs_server *srv, const char *room_id)
{
    static const char *const types[] = {"m.room.create", "m.room.join_rules", "m.room.name",
                                        "m.room.canonical_alias", "m.room.avatar", "m.room.encryption",
                                        "m.room.topic"};
    json_t *out = json_array();
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        char *id = NULL;
        if (hs_store_state_get(srv->store, room_id, types[i], "", &id) != 0) continue;
        hs_store_event ev;
        if (hs_store_event_get(srv->store, id, &ev) == 0) {
            json_t *pdu = json_loads(ev.pdu_json, JSON_ALLOW_NUL, NULL);
            if (pdu)
                json_array_append_new(out, json_pack("{sOsOsOsO}", "type", json_object_get(pdu, "type"), "state_key",
                                                     json_object_get(pdu, "state_key"), "sender",
                                                     json_object_get(pdu, "sender"), "content",
                                                     json_object_get(pdu, "content")));
            json_decref(pdu);
            hs_store_event_clear(&ev);
        }
        free(id);
    }
    return out;
}

/* PUT /_matrix/federation/v2/invite of `pdu` (event_id, in room_id of version rv) to
 * dest, with the room's stripped state for the invitee's client. Returns hs_fed_send's
 * result: 0 with *reply (the caller frees it, whatever the status), or -1 with err. */
static int put_invite(hs_server *srv, const char *dest, const hs_room_version *rv, const char *room_id,
                      const char *event_id, json_t *pdu, hs_fed_reply *reply, hs_err *err)
{
    json_t *body = json_pack("{sssOso}", "room_version", rv->id, "event", pdu, "invite_room_state",
                             hs_fed_stripped_state(srv, room_id));
    char *r = hs_fed_pct_encode(room_id), *e = hs_fed_pct_encode(event_id);
    char target[900];
    snprintf(target, sizeof target, "/_matrix/federation/v2/invite/%s/%s", r ? r : "", e ? e : "");
    free(r);
    free(e);
    hs_fed_out out = {dest, "PUT", target, body, true};
    int rc = hs_fed_send(srv, &out, reply, err);
    json_decref(body);
    return rc;
}

int hs_fed_invite_send(hs_server *srv, const char *dest, const char *event_id)
{
    hs_store_event ev;
    if (hs_store_event_get(srv->store, event_id, &ev) != 0) return 0; /* gone: nothing to send */
    const hs_room_version *rv = hs_room_remote_version(srv->store, ev.room_id);
    json_t *pdu = json_loads(ev.pdu_json, JSON_ALLOW_NUL, NULL);
    int ret = -1;
    /* An invite stored by hs_fed_invite_remote went through dest already. */
    if (json_object_get(json_object_get(pdu, "signatures"), dest)) {
        json_decref(pdu);
        hs_store_event_clear(&ev);
        return 0;
    }
    if (rv && pdu) {
        hs_fed_reply reply = {0};
        hs_err err = {{0}};
        if (put_invite(srv, dest, rv, ev.room_id, event_id, pdu, &reply, &err) != 0)
            hs_info("fed", "invite %s to %s: %s", event_id, dest, err.msg);
        else if (reply.status != 200)
            hs_info("fed", "invite %s to %s: HTTP %ld %.200s", event_id, dest, reply.status,
                    reply.body ? reply.body : "");
        else ret = 0;
        /* A 4xx is the invitee's server's answer, not a transport failure: not retried. */
        if (reply.status >= 400 && reply.status < 500) ret = 0;
        hs_fed_reply_free(&reply);
    }
    json_decref(pdu);
    hs_store_event_clear(&ev);
    return ret;
}

/* Whether `got` is `sent` with signatures added by `server` only: every other field the
 * same, every signature of `sent` kept, and each of `server`'s signatures valid. Fills
 * msg on failure. */
static bool countersigned_by(hs_server *srv, const hs_room_version *rv, const json_t *sent, const json_t *got,
                             const char *server, char *msg, size_t msg_len)
{
    json_t *a = json_deep_copy(sent), *b = json_deep_copy(got);
    json_object_del(a, "signatures");
    json_object_del(a, "unsigned");
    json_object_del(b, "signatures");
    json_object_del(b, "unsigned");
    bool same = json_equal(a, b);
    json_decref(a);
    json_decref(b);
    if (!same) {
        snprintf(msg, msg_len, "%s returned a different event", server);
        return false;
    }
    const json_t *ours = json_object_get(sent, "signatures"), *theirs = json_object_get(got, "signatures");
    const char *name;
    json_t *sigs;
    json_object_foreach((json_t *)ours, name, sigs) {
        if (!json_equal(sigs, json_object_get(theirs, name))) {
            snprintf(msg, msg_len, "%s changed the signatures of %s", server, name);
            return false;
        }
    }
    json_object_foreach((json_t *)theirs, name, sigs) {
        if (!json_object_get(ours, name) && strcmp(name, server) != 0) {
            snprintf(msg, msg_len, "%s added a signature of %s", server, name);
            return false;
        }
    }
    const json_t *mine = json_object_get(theirs, server);
    if (!json_is_object(mine) || json_object_size(mine) == 0) {
        snprintf(msg, msg_len, "%s did not sign the invite", server);
        return false;
    }
    const char *key_id;
    json_t *sig;
    json_object_foreach((json_t *)mine, key_id, sig) {
        uint8_t pub[32];
        hs_err err = {{0}};
        int64_t at = rv->enforce_key_validity ? hs_pdu_origin_server_ts(got) : 0;
        if (hs_fed_rooms_key(srv, server, key_id, at, pub, &err) != 0 ||
            hs_event_verify_signature(got, rv, server, key_id, pub, &err) != 0) {
            snprintf(msg, msg_len, "%s's signature %s: %s", server, key_id, err.msg);
            return false;
        }
    }
    return true;
}

hs_room_status hs_fed_invite_remote(hs_server *srv, const char *room_id, const char *sender, const char *target,
                                    const char *reason, bool is_direct, int64_t now_ms, char **event_id,
                                    hs_room_result *res)
{
    *event_id = NULL;
    res->status = HS_ROOM_OK;
    res->msg[0] = 0;
    const char *dest = hs_id_server_name(target);
    const hs_room_version *rv = hs_room_remote_version(srv->store, room_id);
    if (!dest) return hs_fed_room_fail(res, HS_ROOM_BAD_REQUEST, "%s names no server", target);
    if (!rv) return hs_fed_room_fail(res, HS_ROOM_NOT_FOUND, "unknown room %s", room_id);
    hs_room_engine e = hs_fed_rooms_engine(srv);
    json_t *pdu = NULL, *answer = NULL;
    char *id = NULL;
    json_t *extra = is_direct ? json_pack("{sb}", "is_direct", 1) : NULL;
    hs_room_status st =
        hs_room_member_build(&e, room_id, sender, target, "invite", reason, extra, now_ms, &id, &pdu, res);
    json_decref(extra);
    if (st != HS_ROOM_OK || !pdu) {
        *event_id = id; /* the current invite when it is the same one */
        return st;
    }
    hs_fed_reply reply = {0};
    hs_err err = {{0}};
    if (put_invite(srv, dest, rv, room_id, id, pdu, &reply, &err) != 0) {
        st = hs_fed_room_fail(res, HS_ROOM_ERROR, "%s cannot be reached to invite %s: %s", dest, target, err.msg);
        goto out;
    }
    answer = reply.body ? json_loadb(reply.body, reply.body_len, JSON_ALLOW_NUL, NULL) : NULL;
    if (reply.status != 200) {
        const char *why = json_string_value(json_object_get(answer, "error"));
        st = hs_fed_room_fail(res, reply.status == 403 ? HS_ROOM_FORBIDDEN : HS_ROOM_ERROR,
                              "%s refused the invite of %s (HTTP %ld): %.200s", dest, target, reply.status,
                              why ? why : "");
        goto out;
    }
    json_t *got = json_object_get(answer, "event");
    char why[300];
    if (!json_is_object(got) || !countersigned_by(srv, rv, pdu, got, dest, why, sizeof why)) {
        st = hs_fed_room_fail(res, HS_ROOM_ERROR, "invite of %s: %s", target,
                              json_is_object(got) ? why : "the answer holds no event");
        goto out;
    }
    json_object_del(got, "unsigned");
    hs_room_remote rr = {&e, hs_fed_rooms_key, srv};
    hs_remote_result rres;
    hs_remote_status rs = hs_room_remote_accept(&rr, room_id, got, &rres);
    if (rs == HS_REMOTE_ACCEPTED || rs == HS_REMOTE_DUPLICATE) {
        *event_id = id;
        id = NULL;
    } else {
        st = hs_fed_room_fail(res, rs == HS_REMOTE_SOFT_FAILED || rs == HS_REMOTE_REJECTED ? HS_ROOM_FORBIDDEN
                                                                                            : HS_ROOM_ERROR,
                              "the countersigned invite of %s was not accepted (%s): %s", target,
                              hs_remote_status_str(rs), rres.msg);
    }
out:
    hs_fed_reply_free(&reply);
    json_decref(answer);
    json_decref(pdu);
    free(id);
    return st;
}

hs_room_status hs_fed_leave_remote(hs_server *srv, const char *user_id, const char *room_id, int64_t now_ms,
                                   hs_room_result *res)
{
    res->status = HS_ROOM_OK;
    res->msg[0] = 0;
    char *invite_id = NULL;
    if (hs_store_state_get(srv->store, room_id, "m.room.member", user_id, &invite_id) != 0)
        return hs_fed_room_fail(res, HS_ROOM_NOT_FOUND, "%s has no invite to %s", user_id, room_id);
    hs_store_event iev;
    int rc = hs_store_event_get(srv->store, invite_id, &iev);
    free(invite_id);
    if (rc != 0) return hs_fed_room_fail(res, HS_ROOM_ERROR, "cannot read the invite");
    json_t *invite = json_loads(iev.pdu_json, JSON_ALLOW_NUL, NULL);
    hs_store_event_clear(&iev);
    const char *server = invite ? hs_id_server_name(hs_pdu_sender(invite)) : NULL;
    /* Our own knock (hs_fed_knock.c): the residents are the senders of the stripped
     * state the room sent back, else the room ID's server. */
    if (server && strcmp(server, srv->cfg.server_name) == 0) {
        server = hs_id_server_name(room_id);
        size_t i;
        json_t *s;
        json_array_foreach(json_object_get(json_object_get(invite, "unsigned"), "knock_room_state"), i, s) {
            const char *by = hs_id_server_name(json_string_value(json_object_get(s, "sender")));
            if (by && strcmp(by, srv->cfg.server_name) != 0) {
                server = by;
                break;
            }
        }
    }
    char dest[256];
    snprintf(dest, sizeof dest, "%s", server ? server : "");
    json_decref(invite);
    if (!dest[0]) return hs_fed_room_fail(res, HS_ROOM_ERROR, "the invite names no server");

    char target[1000];
    char *r = hs_fed_pct_encode(room_id), *u = hs_fed_pct_encode(user_id);
    snprintf(target, sizeof target, "/_matrix/federation/v1/make_leave/%s/%s", r ? r : "", u ? u : "");
    hs_fed_out out = {dest, "GET", target, NULL, true};
    hs_fed_reply reply = {0};
    hs_err err = {{0}};
    json_t *answer = NULL, *ev = NULL;
    char *id = NULL;
    hs_room_status status = HS_ROOM_OK;
    if (hs_fed_send(srv, &out, &reply, &err) != 0 || reply.status != 200) {
        status = hs_fed_room_fail(res, HS_ROOM_ERROR, "make_leave on %s: %s (HTTP %ld)", dest, err.msg, reply.status);
        goto out;
    }
    answer = json_loadb(reply.body, reply.body_len, JSON_ALLOW_NUL, NULL);
    const char *version = json_string_value(json_object_get(answer, "room_version"));
    const hs_room_version *rv = hs_room_version_get(version ? version : "1");
    ev = json_incref(json_object_get(answer, "event"));
    const char *sk = ev ? hs_pdu_state_key(ev) : NULL;
    if (!rv || !json_is_object(ev) || !sk || strcmp(sk, user_id) != 0 ||
        strcmp(hs_pdu_sender(ev) ? hs_pdu_sender(ev) : "", user_id) != 0) {
        status = hs_fed_room_fail(res, HS_ROOM_ERROR, "%s sent an unusable leave template", dest);
        goto out;
    }
    json_object_set_new(json_object_get(ev, "content"), "membership", json_string("leave"));
    json_object_set_new(ev, "origin_server_ts", json_integer(now_ms));
    if (!rv->no_origin_field) json_object_set_new(ev, "origin", json_string(srv->cfg.server_name));
    json_object_del(ev, "signatures");
    json_object_del(ev, "hashes");
    json_object_del(ev, "unsigned");
    if (hs_event_sign(ev, rv, srv->cfg.server_name, &srv->signing_key, 1, &err) != 0 ||
        !(id = hs_event_id_compute(ev, rv, &err))) {
        status = hs_fed_room_fail(res, HS_ROOM_ERROR, "cannot sign the leave: %s", err.msg);
        goto out;
    }
    hs_fed_reply_free(&reply);
    free(u);
    u = hs_fed_pct_encode(id);
    snprintf(target, sizeof target, "/_matrix/federation/v2/send_leave/%s/%s", r ? r : "", u ? u : "");
    out = (hs_fed_out){dest, "PUT", target, ev, true};
    if (hs_fed_send(srv, &out, &reply, &err) != 0 || reply.status != 200) {
        status = hs_fed_room_fail(res, HS_ROOM_ERROR, "send_leave on %s: %s (HTTP %ld)", dest, err.msg, reply.status);
        goto out;
    }
    if (hs_fed_room_store_stub(srv, rv, ev, id) < 0)
        status = hs_fed_room_fail(res, HS_ROOM_ERROR, "cannot store the leave");
out:
    hs_fed_reply_free(&reply);
    free(r);
    free(u);
    free(id);
    json_decref(ev);
    json_decref(answer);
    return status;
}
