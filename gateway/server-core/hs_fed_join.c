/* hs_fed_join: joining a room that lives on other servers (see hs_fed_join_remote in
 * hs_fed_rooms.h). Nothing from the resident server is trusted: every event of the
 * returned state and auth chain must be well-formed, signed by the servers that must
 * sign it, carry a matching content hash (else it is used redacted, as on receipt of
 * any PDU), and pass the auth rules against its own auth events, which must all be in
 * the response; the state must hold the room's create event of the version make_join
 * named; and our join must pass against that state. Only then is anything written:
 * the state and auth chain as outliers, our join as the room's timeline. The latest
 * messages before the join are then backfilled from the server we joined through
 * (hs_fed_history.h), as history below the join. A restricted room we hold where none
 * of our users may vouch is joined through another resident the same way up to
 * send_join, but only the countersigned join is accepted, like a received event
 * (hs_fed_join_vouched in hs_fed_room_out.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_auth.h"
#include "server-core/hs_event_id.h"
#include "server-core/hs_fed.h"
#include "server-core/hs_fed_history.h"
#include "server-core/hs_fed_room_out.h"
#include "server-core/hs_fed_rooms.h"
#include "server-core/hs_log.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_profile.h"
#include "server-core/hs_room_restricted.h"
#include "server-core/hs_server.h"
#include "server-core/hs_signing.h"
#include "server-core/hs_store_directory.h"
#include "server-core/hs_store_fed_rooms.h"
#include "server-core/hs_store_rooms.h"

#define MAX_JOIN_EVENTS 100000

hs_room_status hs_fed_room_fail(hs_room_result *res, hs_room_status s, const char *fmt, ...)
{
    res->status = s;
    res->remote_status = 0;
    res->errcode[0] = '\0';
    res->room_version[0] = '\0';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->msg, sizeof res->msg, fmt, ap);
    va_end(ap);
    return s;
}

/* 1 if room_id is unknown here and not ours, a stub (an invite only), or known but with
 * no local member left (our copy may be stale, so a join goes through a resident server). */
static int room_is_remote(hs_server *srv, const char *room_id)
{
    char version[HS_STORE_ROOM_VERSION_MAX];
    int rc = hs_store_room_get(srv->store, room_id, version);
    if (rc == 1) {
        const char *server = hs_id_server_name(room_id);
        return !server || strcmp(server, srv->cfg.server_name) != 0;
    }
    char **servers;
    size_t n;
    if (rc != 0 || hs_store_fed_joined_servers(srv->store, room_id, &servers, &n) != 0) return 0;
    bool us = false;
    for (size_t i = 0; i < n; i++) us |= strcmp(servers[i], srv->cfg.server_name) == 0;
    hs_store_free_strings(servers, n);
    return !us && (n > 0 || hs_store_fed_room_is_stub(srv->store, room_id) == 1);
}

int hs_fed_membership_is_remote(hs_server *srv, const char *room, const char *membership)
{
    if (strcmp(membership, "leave") == 0) return room[0] == '!' && hs_store_fed_room_is_stub(srv->store, room) == 1;
    if (strcmp(membership, "join") != 0) return 0;
    if (room[0] == '!') return room_is_remote(srv, room);
    if (room[0] != '#') return 0;
    const char *server = hs_id_server_name(room);
    if (!server || strcmp(server, srv->cfg.server_name) == 0) return 0;
    char *room_id = NULL;
    int rc = hs_store_alias_get(srv->store, room, &room_id);
    if (rc == 1) return 1;
    int remote = rc == 0 && room_is_remote(srv, room_id);
    free(room_id);
    return remote;
}

/* ---- validating what send_join returned ------------------------------------------------ */

typedef struct join_set {
    json_t *events;   /* event ID -> checked PDU (possibly redacted) */
    json_t *order;    /* event IDs, auth events before the events they authorise */
} join_set;

/* Adds one PDU of the response after the receipt checks (format, signatures, hash). */
static int add_event(const hs_room_remote *rr, const hs_room_version *rv, const char *room_id, join_set *js,
                     const json_t *pdu, char *msg, size_t msg_len)
{
    hs_err err = {{0}};
    if (!json_is_object(pdu) || hs_pdu_validate(pdu, rv, &err) != 0)
        return snprintf(msg, msg_len, "bad event in the join response: %s", err.msg), -1;
    /* A v12 create event has no room_id: the room ID is its hash. */
    const char *type = hs_pdu_type(pdu);
    bool v12_create = rv->room_id_from_create && type && strcmp(type, "m.room.create") == 0;
    char *derived = v12_create ? hs_room_id_from_create(pdu, rv, &err) : NULL;
    const char *rid = v12_create ? derived : hs_pdu_room_id(pdu);
    bool ours = rid && strcmp(rid, room_id) == 0;
    free(derived);
    if (!ours) return snprintf(msg, msg_len, "an event of another room"), -1;
    char *id = hs_event_id_compute(pdu, rv, &err);
    if (!id) return snprintf(msg, msg_len, "event ID: %s", err.msg), -1;
    if (json_object_get(js->events, id)) {
        free(id);
        return 0;
    }
    if (hs_room_remote_check_signatures(rr, pdu, rv, &err) != 0) {
        snprintf(msg, msg_len, "event %s: %s", id, err.msg);
        free(id);
        return -1;
    }
    bool redacted;
    json_t *checked = hs_room_remote_check_hash(pdu, rv, &redacted);
    json_t *clean = checked ? json_copy(checked) : NULL; /* the resident's unsigned is not kept */
    json_decref(checked);
    if (!clean) {
        free(id);
        return snprintf(msg, msg_len, "out of memory"), -1;
    }
    json_object_del(clean, "unsigned");
    json_object_set_new(js->events, id, clean);
    free(id);
    return 0;
}

/* Orders the events so that auth events come first and checks each against its auth
 * events. Fails when an auth event is missing from the response or an event fails. */
static int check_auth(const hs_room_version *rv, const char *room_id, join_set *js, char *msg, size_t msg_len)
{
    json_t *done = json_object();
    size_t total = json_object_size(js->events);
    bool progress = true;
    while (json_array_size(js->order) < total && progress) {
        progress = false;
        const char *id;
        json_t *pdu;
        json_object_foreach(js->events, id, pdu) {
            if (json_object_get(done, id)) continue;
            size_t n = hs_pdu_auth_event_count(pdu);
            hs_auth_entry auth[HS_PDU_MAX_AUTH_EVENTS];
            bool ready = true;
            for (size_t i = 0; i < n && ready; i++) {
                auth[i].event_id = hs_pdu_auth_event(pdu, i);
                auth[i].pdu = json_object_get(done, auth[i].event_id) ? json_object_get(js->events, auth[i].event_id)
                                                                       : NULL;
                ready = auth[i].pdu != NULL;
            }
            if (!ready) continue;
            hs_auth_entry create_ent, *create = NULL;
            char cid[300];
            snprintf(cid, sizeof cid, "$%s", room_id + 1);
            if (rv->room_id_from_create && (create_ent.pdu = json_object_get(js->events, cid))) {
                create_ent.event_id = cid;
                create = &create_ent;
            }
            hs_auth_result ar;
            if (hs_auth_check_with_auth_events(rv, pdu, auth, n, create, &ar) != HS_AUTH_OK) {
                snprintf(msg, msg_len, "event %s of the join response fails auth: %s", id, ar.msg);
                json_decref(done);
                return -1;
            }
            json_object_set_new(done, id, json_true());
            json_array_append_new(js->order, json_string(id));
            progress = true;
        }
    }
    json_decref(done);
    if (json_array_size(js->order) < total) {
        snprintf(msg, msg_len, "the join response lacks auth events of %zu of its events",
                 total - json_array_size(js->order));
        return -1;
    }
    return 0;
}

static bool map_get(void *ctx, const char *type, const char *state_key, hs_auth_entry *out)
{
    void **c = ctx;
    const char *id = hs_state_map_get(c[0], type, state_key);
    if (!id) return false;
    out->event_id = id;
    out->pdu = json_object_get(c[1], id);
    return out->pdu != NULL;
}

/* Validates the send_join answer and writes the room. */
int hs_fed_state_validate(hs_server *srv, const hs_room_version *rv, const char *room_id, const json_t *state,
                          const json_t *auth_chain, hs_fed_state_set *out, char *msg, size_t msg_len)
{
    hs_room_engine e = hs_fed_rooms_engine(srv);
    hs_room_remote rr = {&e, hs_fed_rooms_key, srv};
    join_set js = {json_object(), json_array()};
    out->events = out->order = NULL;
    out->state = hs_state_map_new();
    const json_t *lists[2] = {state, auth_chain};
    int ret = 0;
    if (!json_is_array(state) || !json_is_array(auth_chain) ||
        json_array_size(state) + json_array_size(auth_chain) > MAX_JOIN_EVENTS) {
        snprintf(msg, msg_len, "the answer has no state and auth_chain lists (or too many events)");
        ret = -1;
    }
    for (int l = 0; l < 2 && ret == 0; l++) {
        size_t i;
        json_t *pdu;
        json_array_foreach(lists[l], i, pdu) {
            if (add_event(&rr, rv, room_id, &js, pdu, msg, msg_len) != 0) {
                ret = -1;
                break;
            }
            if (l == 0) {
                hs_err err;
                char *id = hs_event_id_compute(pdu, rv, &err);
                const char *sk = hs_pdu_state_key(pdu);
                if (!sk || !id || hs_state_map_set(out->state, hs_pdu_type(pdu), sk, id) != 0) {
                    snprintf(msg, msg_len, "the returned state holds a message event");
                    ret = -1;
                }
                free(id);
                if (ret) break;
            }
        }
    }
    if (ret == 0) ret = check_auth(rv, room_id, &js, msg, msg_len);
    const char *create_id = ret == 0 ? hs_state_map_get(out->state, "m.room.create", "") : NULL;
    const json_t *create = create_id ? json_object_get(js.events, create_id) : NULL;
    const char *version = json_string_value(json_object_get(hs_pdu_content(create), "room_version"));
    if (ret == 0 && (!create || strcmp(version ? version : "1", rv->id) != 0)) {
        snprintf(msg, msg_len, "the returned state has no create event of room version %s", rv->id);
        ret = -1;
    }
    if (ret != 0) {
        json_decref(js.events);
        json_decref(js.order);
        hs_state_map_free(out->state);
        out->state = NULL;
        return -1;
    }
    out->events = js.events;
    out->order = js.order;
    return 0;
}

void hs_fed_state_set_clear(hs_fed_state_set *set)
{
    json_decref(set->events);
    json_decref(set->order);
    hs_state_map_free(set->state);
    memset(set, 0, sizeof *set);
}

int hs_fed_join_countersigned(hs_server *srv, const hs_room_version *rv, json_t *join, const char *join_id,
                              const json_t *answer, char *msg, size_t msg_len)
{
    const json_t *theirs = json_object_get(answer, "event");
    if (!json_is_object(theirs)) return 0;
    hs_err err = {{0}};
    char *id = hs_event_id_compute(theirs, rv, &err);
    bool same = id && strcmp(id, join_id) == 0;
    free(id);
    if (!same) return 0; /* not our event: ours stands, and auth decides */
    json_t *ours = json_object_get(join, "signatures");
    const char *server;
    json_t *sigs;
    int added = 0;
    json_object_foreach(json_object_get(theirs, "signatures"), server, sigs) {
        if (strcmp(server, srv->cfg.server_name) == 0 || !json_is_object(sigs) || json_object_get(ours, server)) continue;
        json_object_set(ours, server, sigs);
        added = 1;
    }
    hs_room_engine e = hs_fed_rooms_engine(srv);
    hs_room_remote rr = {&e, hs_fed_rooms_key, srv};
    if (added && hs_room_remote_check_signatures(&rr, join, rv, &err) != 0)
        return snprintf(msg, msg_len, "the countersigned join: %s", err.msg), -1;
    return added;
}

/* Validates the send_join answer and writes the room. */
static hs_room_status finish_join(hs_server *srv, const char *server, const hs_room_version *rv, const char *room_id,
                                  json_t *join, const char *join_id, const json_t *answer, hs_room_result *res)
{
    hs_fed_state_set set = {0};
    hs_store_new_event *rows = NULL;
    char **texts = NULL;
    size_t n_rows = 0;
    char *join_text = NULL;
    hs_room_status status = HS_ROOM_OK;
    if (hs_fed_state_validate(srv, rv, room_id, json_object_get(answer, "state"), json_object_get(answer, "auth_chain"),
                              &set, res->msg, sizeof res->msg) != 0) {
        status = res->status = HS_ROOM_ERROR; /* res->msg says why */
        goto out;
    }
    /* A restricted join is only valid with the authorising server's signature, which
     * the resident adds in its answer. */
    if (hs_fed_join_countersigned(srv, rv, join, join_id, answer, res->msg, sizeof res->msg) < 0) {
        status = res->status = HS_ROOM_ERROR;
        goto out;
    }
    join_set js = {set.events, set.order};
    hs_state_map *state = set.state;
    const char *create_id = hs_state_map_get(state, "m.room.create", "");
    const json_t *create = json_object_get(js.events, create_id);
    /* Our join against its auth events and the state before it. */
    hs_auth_entry auth[HS_PDU_MAX_AUTH_EVENTS];
    size_t n_auth = hs_pdu_auth_event_count(join);
    for (size_t i = 0; i < n_auth; i++) {
        auth[i].event_id = hs_pdu_auth_event(join, i);
        if (!(auth[i].pdu = json_object_get(js.events, auth[i].event_id))) {
            status = hs_fed_room_fail(res, HS_ROOM_ERROR, "our join's auth event %s is not in the response", auth[i].event_id);
            goto out;
        }
    }
    hs_auth_result ar;
    hs_auth_entry create_ent = {create, create_id};
    if (hs_auth_check_with_auth_events(rv, join, auth, n_auth, rv->room_id_from_create ? &create_ent : NULL, &ar) !=
        HS_AUTH_OK) {
        status = hs_fed_room_fail(res, HS_ROOM_FORBIDDEN, "%s", ar.msg);
        goto out;
    }
    void *mc[2] = {state, js.events};
    hs_auth_state as = {map_get, mc};
    if (hs_auth_allowed(rv, join, &as, &ar) != HS_AUTH_OK) {
        status = hs_fed_room_fail(res, HS_ROOM_FORBIDDEN, "%s", ar.msg);
        goto out;
    }

    size_t total = json_array_size(js.order);
    rows = calloc(total ? total : 1, sizeof *rows);
    texts = calloc(total ? total : 1, sizeof *texts);
    hs_err err = {{0}};
    for (size_t i = 0; rows && texts && i < total; i++) {
        const char *id = json_string_value(json_array_get(js.order, i));
        const json_t *pdu = json_object_get(js.events, id);
        if (!(texts[i] = hs_cjson_encode(pdu, 0, NULL, &err))) break;
        const char *type = hs_pdu_type(pdu);
        rows[n_rows++] = (hs_store_new_event){
            .event_id = id, .room_id = room_id, .type = type, .state_key = hs_pdu_state_key(pdu),
            .sender = hs_pdu_sender(pdu), .depth = hs_pdu_depth(pdu), .origin_server_ts = hs_pdu_origin_server_ts(pdu),
            .pdu_json = texts[i],
            .membership = strcmp(type, "m.room.member") == 0
                              ? json_string_value(json_object_get(hs_pdu_content(pdu), "membership")) : NULL,
        };
    }
    if (n_rows != total || !(join_text = hs_cjson_encode(join, 0, NULL, &err))) {
        status = hs_fed_room_fail(res, HS_ROOM_ERROR, "out of memory");
        goto out;
    }
    hs_store_new_event jrow = {
        .event_id = join_id, .room_id = room_id, .type = "m.room.member", .state_key = hs_pdu_state_key(join),
        .sender = hs_pdu_sender(join), .depth = hs_pdu_depth(join), .origin_server_ts = hs_pdu_origin_server_ts(join),
        .pdu_json = join_text, .membership = "join",
    };
    hs_room_lock();
    int64_t stream;
    int rc = hs_store_fed_join_persist(srv->store, room_id, rv->id, hs_pdu_sender(create), rows, n_rows, state, &jrow,
                                       &stream);
    hs_room_unlock();
    if (rc == 1) status = hs_fed_room_fail(res, HS_ROOM_ERROR, "our join %s is stored already", join_id);
    else if (rc != 0) status = hs_fed_room_fail(res, HS_ROOM_ERROR, "cannot store the joined room");
    else {
        /* History is a courtesy: the join stands whatever the backfill gives. */
        hs_fed_backfill(srv, room_id, server, HS_FED_JOIN_HISTORY);
        hs_notifier_wake(srv->notifier);
    }
out:
    for (size_t i = 0; texts && i < n_rows; i++) free(texts[i]);
    free(texts);
    free(rows);
    free(join_text);
    hs_fed_state_set_clear(&set);
    return status;
}

/* make_join on `server`; the template (new reference) and its room version, or NULL
 * with the status and reason in *call. */
static json_t *make_join(hs_server *srv, const char *server, const char *room_id, const char *user_id,
                         const hs_room_version **rv, hs_fed_room_call *call)
{
    char target[1400];
    char *r = hs_fed_pct_encode(room_id), *u = hs_fed_pct_encode(user_id);
    int len = snprintf(target, sizeof target, "/_matrix/federation/v1/make_join/%s/%s", r ? r : "", u ? u : "");
    free(r);
    free(u);
    const hs_room_version *const *all;
    int n = hs_room_version_all(&all);
    for (int i = 0; i < n && len > 0 && (size_t)len < sizeof target - 16; i++)
        len += snprintf(target + len, sizeof target - (size_t)len, "%cver=%s", i ? '&' : '?', all[i]->id);
    json_t *answer = hs_fed_room_call_json(srv, server, "GET", target, NULL, call);
    if (!answer) return NULL;
    const char *version = json_string_value(json_object_get(answer, "room_version"));
    json_t *ev = json_object_get(answer, "event");
    *rv = hs_room_version_get(version ? version : "1");
    if (!*rv || !json_is_object(ev)) {
        snprintf(call->msg, sizeof call->msg, "%s offered an unusable join (room version %s)", server,
                 version ? version : "?");
        json_decref(answer);
        return NULL;
    }
    json_incref(ev);
    json_decref(answer);
    return ev;
}

hs_room_status hs_fed_join_remote(hs_server *srv, const char *user_id, const char *room_id_or_alias,
                                  const char *const *via, size_t n_via, int64_t now_ms, char **room_id_out,
                                  hs_room_result *res)
{
    hs_fed_room_fail(res, HS_ROOM_OK, "%s", "");
    *room_id_out = NULL;
    hs_fed_room_candidates cands = {.self = srv->cfg.server_name};
    char room_id[300];
    hs_room_status status = hs_fed_room_resolve(srv, room_id_or_alias, room_id, sizeof room_id, &cands, res);
    if (status != HS_ROOM_OK) return status;
    for (size_t i = 0; i < n_via; i++) hs_fed_room_candidate_add(&cands, via[i]);
    /* A room we hold (no local member left, or a stub): the servers still in it, and for
     * a stub the inviter's server. */
    char **servers = NULL;
    size_t n_servers = 0;
    if (hs_store_fed_joined_servers(srv->store, room_id, &servers, &n_servers) == 0)
        for (size_t i = 0; i < n_servers; i++) hs_fed_room_candidate_add(&cands, servers[i]);
    hs_store_free_strings(servers, n_servers);
    char *mine = NULL;
    if (hs_store_state_get(srv->store, room_id, "m.room.member", user_id, &mine) == 0) {
        hs_store_event ev;
        if (hs_store_event_get(srv->store, mine, &ev) == 0) {
            json_t *pdu = json_loads(ev.pdu_json, JSON_ALLOW_NUL, NULL);
            const char *inviter = pdu ? hs_pdu_sender(pdu) : NULL;
            hs_fed_room_candidate_add(&cands, inviter ? hs_id_server_name(inviter) : NULL);
            json_decref(pdu);
            hs_store_event_clear(&ev);
        }
        free(mine);
    }
    hs_fed_room_candidate_add(&cands, hs_id_server_name(room_id));
    if (cands.n == 0) return hs_fed_room_fail(res, HS_ROOM_NOT_FOUND, "no server to join %s through", room_id);

    /* Each candidate's outcome goes to `cur`; res keeps the one telling the client most
     * (a resident's refusal over another's failure, hs_fed_room_keep). */
    bool have = false;
    for (size_t c = 0; c < cands.n; c++) {
        const hs_room_version *rv = NULL;
        hs_fed_room_call call;
        hs_room_result cur = {.status = HS_ROOM_OK};
        json_t *ev = make_join(srv, cands.name[c], room_id, user_id, &rv, &call);
        if (!ev) {
            /* A resident's refusal is the answer unless another candidate lets us in. */
            hs_fed_room_refusal(&cur, &call, "make_join");
            hs_fed_room_keep(res, have, &cur);
            have = true;
            continue;
        }
        /* The template is the resident's; what we sign is ours: sender, type, state_key
         * and membership are checked, the time and origin set here. */
        const char *sender = hs_pdu_sender(ev), *type = hs_pdu_type(ev), *sk = hs_pdu_state_key(ev);
        const char *rid = hs_pdu_room_id(ev);
        if (!sender || strcmp(sender, user_id) != 0 || !type || strcmp(type, "m.room.member") != 0 || !sk ||
            strcmp(sk, user_id) != 0 || !rid || strcmp(rid, room_id) != 0) {
            json_decref(ev);
            hs_fed_room_fail(&cur, HS_ROOM_ERROR, "%s sent a join template for something else", cands.name[c]);
            hs_fed_room_keep(res, have, &cur);
            have = true;
            continue;
        }
        json_t *content = json_object_get(ev, "content");
        if (!json_is_object(content)) json_object_set_new(ev, "content", content = json_object());
        json_object_set_new(content, "membership", json_string("join"));
        /* The room shows the joiner by name and avatar, as for a local join. */
        if (hs_profile_member_content(srv->store, user_id, content) != 0) {
            json_decref(ev);
            return hs_fed_room_fail(res, HS_ROOM_ERROR, "cannot read the profile of %s", user_id);
        }
        hs_err err = {{0}};
        char *id = hs_fed_room_sign_template(srv, ev, rv, now_ms, &err);
        if (!id) {
            json_decref(ev);
            return hs_fed_room_fail(res, HS_ROOM_BAD_REQUEST, "cannot sign the join: %s", err.msg);
        }
        char target[1000];
        char *r = hs_fed_pct_encode(room_id), *e = hs_fed_pct_encode(id);
        snprintf(target, sizeof target, "/_matrix/federation/v2/send_join/%s/%s", r ? r : "", e ? e : "");
        free(r);
        free(e);
        json_t *answer = hs_fed_room_call_json(srv, cands.name[c], "PUT", target, ev, &call);
        hs_room_status got;
        if (!answer) {
            got = hs_fed_room_refusal(&cur, &call, "send_join");
        } else {
            got = finish_join(srv, cands.name[c], rv, room_id, ev, id, answer, &cur);
            json_decref(answer);
        }
        free(id);
        json_decref(ev);
        if (got == HS_ROOM_OK) {
            *res = cur;
            res->status = HS_ROOM_OK;
            break;
        }
        hs_fed_room_keep(res, have, &cur);
        have = true;
        if (got == HS_ROOM_FORBIDDEN) break;
        hs_info("fed", "joining %s through %s failed: %s", room_id, cands.name[c], cur.msg);
    }
    status = res->status;
    if (status == HS_ROOM_OK && !(*room_id_out = strdup(room_id))) status = hs_fed_room_fail(res, HS_ROOM_ERROR, "out of memory");
    return status;
}

bool hs_fed_join_needs_voucher(hs_server *srv, const char *room_id, const char *user_id)
{
    char version[HS_STORE_ROOM_VERSION_MAX];
    if (hs_store_room_get(srv->store, room_id, version) != 0) return false;
    const hs_room_version *rv = hs_room_version_get(version);
    char *via = NULL;
    bool needs = rv && hs_room_restricted_join(srv->store, rv, room_id, user_id, srv->cfg.server_name, &via, NULL,
                                               0) == HS_RESTRICTED_NO_AUTHORISER;
    free(via);
    return needs;
}

/* One resident of a room we hold: its join template for user_id, signed as ours, sent
 * with send_join, and the copy it countersigned accepted into our room like a received
 * event (the queue sends it on to the other servers). */
static hs_room_status join_vouched_via(hs_server *srv, const char *server, const hs_room_version *want,
                                       const char *room_id, const char *user_id, int64_t now_ms, hs_room_result *res)
{
    const hs_room_version *rv = NULL;
    hs_fed_room_call call;
    json_t *ev = make_join(srv, server, room_id, user_id, &rv, &call);
    if (!ev) return hs_fed_room_refusal(res, &call, "make_join");
    const char *sender = hs_pdu_sender(ev), *type = hs_pdu_type(ev), *sk = hs_pdu_state_key(ev);
    const char *rid = hs_pdu_room_id(ev);
    if (rv != want || !sender || strcmp(sender, user_id) != 0 || !type || strcmp(type, "m.room.member") != 0 || !sk ||
        strcmp(sk, user_id) != 0 || !rid || strcmp(rid, room_id) != 0) {
        json_decref(ev);
        return hs_fed_room_fail(res, HS_ROOM_ERROR, "%s sent a join template for something else", server);
    }
    json_t *content = json_object_get(ev, "content");
    if (!json_is_object(content)) json_object_set_new(ev, "content", content = json_object());
    json_object_set_new(content, "membership", json_string("join"));
    if (hs_profile_member_content(srv->store, user_id, content) != 0) {
        json_decref(ev);
        return hs_fed_room_fail(res, HS_ROOM_ERROR, "cannot read the profile of %s", user_id);
    }
    hs_err err = {{0}};
    char *id = hs_fed_room_sign_template(srv, ev, rv, now_ms, &err);
    if (!id) {
        json_decref(ev);
        return hs_fed_room_fail(res, HS_ROOM_ERROR, "cannot sign the join: %s", err.msg);
    }
    char target[1000];
    char *r = hs_fed_pct_encode(room_id), *e = hs_fed_pct_encode(id);
    snprintf(target, sizeof target, "/_matrix/federation/v2/send_join/%s/%s", r ? r : "", e ? e : "");
    free(r);
    free(e);
    json_t *answer = hs_fed_room_call_json(srv, server, "PUT", target, ev, &call);
    hs_room_status st = HS_ROOM_OK;
    if (!answer) st = hs_fed_room_refusal(res, &call, "send_join");
    else if (hs_fed_join_countersigned(srv, rv, ev, id, answer, res->msg, sizeof res->msg) < 0)
        st = hs_fed_room_fail(res, HS_ROOM_ERROR, "%.400s", res->msg);
    else {
        hs_room_engine eng = hs_fed_rooms_engine(srv);
        hs_room_remote rr = {&eng, hs_fed_rooms_key, srv};
        hs_remote_result rres;
        hs_remote_status rs = hs_room_remote_accept(&rr, room_id, ev, &rres);
        if (rs != HS_REMOTE_ACCEPTED && rs != HS_REMOTE_DUPLICATE)
            st = hs_fed_room_fail(res, rs == HS_REMOTE_REJECTED || rs == HS_REMOTE_SOFT_FAILED ? HS_ROOM_FORBIDDEN
                                                                                              : HS_ROOM_ERROR,
                                  "the join %s vouched for by %s was not accepted (%s): %s", id, server,
                                  hs_remote_status_str(rs), rres.msg);
    }
    json_decref(answer);
    json_decref(ev);
    free(id);
    return st;
}

hs_room_status hs_fed_join_vouched(hs_server *srv, const char *user_id, const char *room_id, int64_t now_ms,
                                   hs_room_result *res)
{
    hs_fed_room_fail(res, HS_ROOM_OK, "%s", "");
    char version[HS_STORE_ROOM_VERSION_MAX];
    const hs_room_version *want = hs_store_room_get(srv->store, room_id, version) == 0 ? hs_room_version_get(version)
                                                                                     : NULL;
    if (!want) return hs_fed_room_fail(res, HS_ROOM_NOT_FOUND, "room %s is not held here", room_id);
    hs_fed_room_candidates cands = {.self = srv->cfg.server_name};
    char **servers = NULL;
    size_t n_servers = 0;
    if (hs_store_fed_joined_servers(srv->store, room_id, &servers, &n_servers) != 0)
        return hs_fed_room_fail(res, HS_ROOM_ERROR, "cannot read the servers in %s", room_id);
    for (size_t i = 0; i < n_servers; i++) hs_fed_room_candidate_add(&cands, servers[i]);
    hs_store_free_strings(servers, n_servers);
    if (cands.n == 0)
        return hs_fed_room_fail(res, HS_ROOM_FORBIDDEN, "no user here may invite to %s and no other server is in it",
                                room_id);
    for (size_t c = 0; c < cands.n; c++) {
        hs_room_result cur = {.status = HS_ROOM_OK};
        hs_room_status st = join_vouched_via(srv, cands.name[c], want, room_id, user_id, now_ms, &cur);
        hs_fed_room_keep(res, c > 0, &cur);
        if (st == HS_ROOM_OK) {
            *res = cur;
            break;
        }
        hs_info("fed", "joining %s vouched for by %s failed: %s", room_id, cands.name[c], cur.msg);
    }
    return res->status;
}

void hs_fed_membership_client(const hs_request *req, hs_response *resp, hs_server *srv, const char *user_id,
                              const char *room, const char *membership, int64_t now_ms)
{
    const char *via[HS_FED_ROOM_CANDIDATES];
    size_t n_via = hs_fed_room_via(req, via, HS_FED_ROOM_CANDIDATES);
    char *room_id = NULL;
    hs_room_result res = {0};
    bool join = strcmp(membership, "join") == 0;
    hs_room_status s = join ? hs_fed_join_remote(srv, user_id, room, via, n_via, now_ms, &room_id, &res)
                            : hs_fed_leave_remote(srv, user_id, room, now_ms, &res);
    if (s == HS_ROOM_OK) hs_response_json(resp, 200, join ? json_pack("{ss}", "room_id", room_id) : json_object());
    else hs_fed_room_answer_error(resp, s, &res, membership);
    free(room_id);
}
