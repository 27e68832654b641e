/* hs_fed_knock: a local user knocking on a room only other servers hold (see
 * hs_fed_knock_remote in hs_fed_rooms.h).
 *
 * The room is found by ID or by an alias of another server (query/directory, whose
 * answer names the servers to ask); candidates are those servers, the request's
 * `server_name`/`via` and the room ID's server. Each is asked for a knock template
 * (make_knock, ver= every version that has knocking, v7+) until one gives one; the
 * template is checked to be a knock of our user in that room, completed (reason, time,
 * origin), signed, and sent with send_knock to the same server. Its answer's
 * knock_room_state is kept in the stored knock's unsigned section, and the knock is
 * stored as a stub membership (the room row and the knock as its only state), which is
 * what /sync shows under rooms.knock. Nothing is stored unless send_knock succeeded.
 *
 * Withdrawing the knock is a leave of the stub (hs_fed_leave_remote asks a server among
 * the senders of the kept knock_room_state). The knock_room_state is taken as sent:
 * stripped state carries no signatures, so it is only what the resident says. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_fed.h"
#include "server-core/hs_fed_room_out.h"
#include "server-core/hs_fed_rooms.h"
#include "server-core/hs_log.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_server.h"

/* The knock_room_state kept per knock: the spec's stripped state is a handful of events;
 * more than this from a resident is not shown. */
#define KNOCK_STATE_MAX 50

/* One candidate: make_knock, sign, send_knock, store. Returns HS_ROOM_OK, or a status
 * with res->msg; *refused is set when the server answered 403. */
static hs_room_status knock_via(hs_server *srv, const char *server, const char *room_id, const char *user_id,
                                const char *reason, int64_t now_ms, bool *refused, hs_room_result *res)
{
    hs_fed_room_call kc;
    char target[1200];
    char *r = hs_fed_pct_encode(room_id), *u = hs_fed_pct_encode(user_id);
    int len = snprintf(target, sizeof target, "/_matrix/federation/v1/make_knock/%s/%s", r ? r : "", u ? u : "");
    free(u);
    const hs_room_version *const *all;
    int n = hs_room_version_all(&all);
    for (int i = 0, first = 1; i < n && len > 0 && (size_t)len < sizeof target - 16; i++)
        if (all[i]->knock) {
            len += snprintf(target + len, sizeof target - (size_t)len, "%cver=%s", first ? '?' : '&', all[i]->id);
            first = 0;
        }
    *refused = false;
    json_t *answer = hs_fed_room_call_json(srv, server, "GET", target, NULL, &kc);
    json_t *ev = NULL;
    char *id = NULL;
    hs_room_status st = HS_ROOM_OK;
    if (!answer) {
        *refused = kc.status == 403;
        st = hs_fed_room_refusal(res, &kc, "make_knock");
        goto out;
    }
    const char *version = json_string_value(json_object_get(answer, "room_version"));
    const hs_room_version *rv = hs_room_version_get(version ? version : "");
    ev = json_incref(json_object_get(answer, "event"));
    const char *sender = ev ? hs_pdu_sender(ev) : NULL, *type = ev ? hs_pdu_type(ev) : NULL;
    const char *sk = ev ? hs_pdu_state_key(ev) : NULL, *rid = ev ? hs_pdu_room_id(ev) : NULL;
    if (!rv || !rv->knock || !json_is_object(ev) || !sender || strcmp(sender, user_id) != 0 || !type ||
        strcmp(type, "m.room.member") != 0 || !sk || strcmp(sk, user_id) != 0 || !rid || strcmp(rid, room_id) != 0) {
        st = hs_fed_room_fail(res, HS_ROOM_ERROR, "%s sent an unusable knock template (room version %s)", server,
                              version ? version : "?");
        goto out;
    }
    /* The template is the resident's; what we sign is ours. */
    json_t *content = json_object();
    json_object_set_new(content, "membership", json_string("knock"));
    if (reason) json_object_set_new(content, "reason", json_string(reason));
    json_object_set_new(ev, "content", content);
    hs_err err = {{0}};
    if (!(id = hs_fed_room_sign_template(srv, ev, rv, now_ms, &err))) {
        st = hs_fed_room_fail(res, HS_ROOM_BAD_REQUEST, "cannot sign the knock: %s", err.msg);
        goto out;
    }
    char *e = hs_fed_pct_encode(id);
    snprintf(target, sizeof target, "/_matrix/federation/v1/send_knock/%s/%s", r ? r : "", e ? e : "");
    free(e);
    json_decref(answer);
    answer = hs_fed_room_call_json(srv, server, "PUT", target, ev, &kc);
    if (!answer) {
        *refused = kc.status == 403;
        st = hs_fed_room_refusal(res, &kc, "send_knock");
        goto out;
    }
    /* What the knocker's client is shown until it is let in: only well-formed stripped
     * events (type, state_key, sender strings and a content object), at most
     * KNOCK_STATE_MAX. */
    json_t *kept = json_array();
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(answer, "knock_room_state"), i, s) {
        if (json_array_size(kept) == KNOCK_STATE_MAX) break;
        if (!json_is_string(json_object_get(s, "type")) || !json_is_string(json_object_get(s, "state_key")) ||
            !json_is_string(json_object_get(s, "sender")) || !json_is_object(json_object_get(s, "content")))
            continue;
        json_array_append_new(kept, json_pack("{sOsOsOsO}", "type", json_object_get(s, "type"), "state_key",
                                              json_object_get(s, "state_key"), "sender", json_object_get(s, "sender"),
                                              "content", json_object_get(s, "content")));
    }
    json_object_set_new(ev, "unsigned", json_pack("{so}", "knock_room_state", kept));
    int rc = hs_fed_room_store_stub(srv, rv, ev, id);
    if (rc < 0) st = hs_fed_room_fail(res, HS_ROOM_ERROR, "cannot store the knock");
    else if (rc == 1)
        st = hs_fed_room_fail(res, HS_ROOM_ERROR, "%s accepted the knock but room %s is held here", server, room_id);
out:
    free(r);
    free(id);
    json_decref(ev);
    json_decref(answer);
    return st;
}

hs_room_status hs_fed_knock_remote(hs_server *srv, const char *user_id, const char *room_id_or_alias,
                                   const char *const *via, size_t n_via, const char *reason, int64_t now_ms,
                                   char **room_id_out, hs_room_result *res)
{
    hs_fed_room_fail(res, HS_ROOM_OK, "%s", "");
    *room_id_out = NULL;
    hs_fed_room_candidates cands = {.self = srv->cfg.server_name};
    char room_id[300];
    hs_room_status st = hs_fed_room_resolve(srv, room_id_or_alias, room_id, sizeof room_id, &cands, res);
    if (st != HS_ROOM_OK) return st;
    for (size_t i = 0; i < n_via; i++) hs_fed_room_candidate_add(&cands, via[i]);
    hs_fed_room_candidate_add(&cands, hs_id_server_name(room_id));
    if (cands.n == 0) return hs_fed_room_fail(res, HS_ROOM_NOT_FOUND, "no server to knock on %s through", room_id);
    /* res keeps the outcome telling the client most (hs_fed_room_keep). */
    for (size_t c = 0; c < cands.n; c++) {
        bool refused = false;
        hs_room_result cur = {.status = HS_ROOM_OK};
        st = knock_via(srv, cands.name[c], room_id, user_id, reason, now_ms, &refused, &cur);
        hs_fed_room_keep(res, c > 0, &cur);
        if (st == HS_ROOM_OK) *res = cur;
        /* A resident's refusal is the room's answer. */
        if (st == HS_ROOM_OK || refused) break;
        hs_info("fed", "knocking on %s through %s failed: %s", room_id, cands.name[c], cur.msg);
    }
    st = res->status;
    if (st == HS_ROOM_OK && !(*room_id_out = strdup(room_id))) st = hs_fed_room_fail(res, HS_ROOM_ERROR, "out of memory");
    return st;
}

void hs_fed_knock_client(const hs_request *req, hs_response *resp, hs_server *srv, const char *user_id,
                         const char *room, const char *reason, int64_t now_ms)
{
    const char *via[HS_FED_ROOM_CANDIDATES];
    size_t n_via = hs_fed_room_via(req, via, HS_FED_ROOM_CANDIDATES);
    char *room_id = NULL;
    hs_room_result res = {0};
    hs_room_status s = hs_fed_knock_remote(srv, user_id, room, via, n_via, reason, now_ms, &room_id, &res);
    if (s == HS_ROOM_OK) hs_response_json(resp, 200, json_pack("{ss}", "room_id", room_id));
    else hs_fed_room_answer_error(resp, s, &res, "knock");
    free(room_id);
}
