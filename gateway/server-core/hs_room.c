/* hs_room: building, checking and persisting local events (see hs_room.h for the
 * pipeline and the locking rule). The current state is read lazily through an
 * hs_auth_state whose lookups go to the store and are cached for the duration of one
 * send, so a room with thousands of members costs only the few rows the auth rules
 * actually ask for. */
#include "server-core/hs_room.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_auth.h"
#include "server-core/hs_canonical_json.h"
#include "server-core/hs_event_id.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_profile.h"
#include "server-core/hs_redact.h"
#include "server-core/hs_room_restricted.h"
#include "server-core/hs_signing.h"
#include "server-core/hs_store_rooms.h"

static pthread_mutex_t room_lock = PTHREAD_MUTEX_INITIALIZER;

void hs_room_lock(void) { pthread_mutex_lock(&room_lock); }
void hs_room_unlock(void) { pthread_mutex_unlock(&room_lock); }

static hs_room_status fail(hs_room_result *res, hs_room_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static hs_room_status fail(hs_room_result *res, hs_room_status status, const char *fmt, ...)
{
    if (res) {
        res->status = status;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(res->msg, sizeof res->msg, fmt, ap);
        va_end(ap);
    }
    return status;
}

const hs_room_version *hs_room_version_for_new_room(const char *id)
{
    const hs_room_version *rv = id ? hs_room_version_get(id) : NULL;
    if (!rv || rv->event_id_format == HS_EVENT_ID_V1) return NULL;
    return rv;
}

/* ---- the current state as the auth rules see it ------------------------------------ */

bool hs_room_state_get(void *ctx, const char *type, const char *state_key, hs_auth_entry *out)
{
    hs_room_state *s = ctx;
    if (hs_auth_map_get(s->cache, type, state_key, out)) return true;
    char *event_id = NULL;
    int rc = hs_store_state_get(s->st, s->room_id, type, state_key, &event_id);
    if (rc != 0) {
        if (rc < 0) s->failed = 1;
        return false;
    }
    hs_store_event ev;
    rc = hs_store_event_get(s->st, event_id, &ev);
    free(event_id);
    if (rc != 0) {
        s->failed = 1;
        return false;
    }
    json_t *pdu = json_loads(ev.pdu_json, JSON_ALLOW_NUL, NULL);
    /* A redacted state event counts in its redacted form, as on every other server. */
    if (pdu && ev.redacted_by) {
        json_t *redacted = hs_redact(pdu, s->rv);
        json_decref(pdu);
        pdu = redacted;
    }
    int put = pdu ? hs_auth_map_put(s->cache, pdu, ev.event_id) : -1;
    json_decref(pdu);
    hs_store_event_clear(&ev);
    if (put != 0) {
        s->failed = 1;
        return false;
    }
    return hs_auth_map_get(s->cache, type, state_key, out);
}

/* ---- building ----------------------------------------------------------------------- */

/* Adds prev_events and depth from the room's forward extremities. */
static hs_room_status add_prev_events(const hs_room_engine *e, const char *room_id, json_t *pdu,
                                      hs_room_result *res)
{
    char **ids;
    size_t n;
    int64_t max_depth;
    if (hs_store_room_extremities(e->store, room_id, &ids, &n, &max_depth) != 0)
        return fail(res, HS_ROOM_ERROR, "cannot read the room's forward extremities");
    if (n == 0) {
        hs_store_free_strings(ids, n);
        return fail(res, HS_ROOM_ERROR, "room %s has no forward extremity", room_id);
    }
    json_t *prev = json_array();
    for (size_t i = 0; i < n && i < HS_PDU_MAX_PREV_EVENTS; i++) json_array_append_new(prev, json_string(ids[i]));
    hs_store_free_strings(ids, n);
    json_object_set_new(pdu, "prev_events", prev);
    json_object_set_new(pdu, "depth", json_integer(max_depth + 1));
    return HS_ROOM_OK;
}

/* Selects auth_events from the current state; fills entries (borrowed from the cache). */
static hs_room_status add_auth_events(const hs_room_version *rv, json_t *pdu, hs_room_state *ss,
                                      hs_auth_entry entries[HS_AUTH_MAX_KEYS], size_t *n, hs_room_result *res)
{
    hs_auth_key keys[HS_AUTH_MAX_KEYS];
    int nk = hs_auth_types_for_event(rv, pdu, keys);
    if (nk < 0) return fail(res, HS_ROOM_BAD_REQUEST, "event lacks a type or sender");
    json_t *auth = json_array();
    *n = 0;
    for (int i = 0; i < nk; i++) {
        hs_auth_entry ent;
        if (!hs_room_state_get(ss, keys[i].type, keys[i].state_key, &ent)) continue;
        bool dup = false;
        for (size_t j = 0; j < *n; j++) dup |= strcmp(entries[j].event_id, ent.event_id) == 0;
        if (dup) continue;
        entries[(*n)++] = ent;
        json_array_append_new(auth, json_string(ent.event_id));
    }
    json_object_set_new(pdu, "auth_events", auth);
    if (ss->failed) return fail(res, HS_ROOM_ERROR, "cannot read the room's current state");
    return HS_ROOM_OK;
}

/* The checks any received event goes through, applied to our own. */
static hs_room_status check_event(const hs_room_engine *e, const hs_room_version *rv, const json_t *pdu,
                                  const hs_auth_entry *auth, size_t n_auth, hs_room_state *ss, bool is_create,
                                  hs_room_result *res)
{
    hs_err herr = {{0}};
    size_t len = 0;
    char *enc = hs_cjson_encode(pdu, 0, &len, &herr);
    if (!enc) return fail(res, HS_ROOM_BAD_REQUEST, "event cannot be encoded: %s", herr.msg);
    free(enc);
    if (len > HS_PDU_MAX_BYTES)
        return fail(res, HS_ROOM_TOO_LARGE, "event is %zu bytes; the limit is %d", len, HS_PDU_MAX_BYTES);
    if (hs_pdu_validate(pdu, rv, &herr) != 0) return fail(res, HS_ROOM_BAD_REQUEST, "%s", herr.msg);
    if (hs_event_check_content_hash(pdu, &herr) != 0) return fail(res, HS_ROOM_ERROR, "%s", herr.msg);
    if (hs_event_verify_signature(pdu, rv, e->server_name, e->key->key_id, e->key->public_key, &herr) != 0)
        return fail(res, HS_ROOM_ERROR, "%s", herr.msg);
    hs_auth_result ar;
    hs_auth_entry create_ent, *create = NULL;
    if (!is_create && rv->room_id_from_create && hs_room_state_get(ss, "m.room.create", "", &create_ent))
        create = &create_ent;
    if (hs_auth_check_with_auth_events(rv, pdu, auth, n_auth, create, &ar) != HS_AUTH_OK)
        return fail(res, HS_ROOM_FORBIDDEN, "%s", ar.msg);
    if (!is_create) {
        hs_auth_state state = {hs_room_state_get, ss};
        if (hs_auth_allowed(rv, pdu, &state, &ar) != HS_AUTH_OK) return fail(res, HS_ROOM_FORBIDDEN, "%s", ar.msg);
        if (ss->failed) return fail(res, HS_ROOM_ERROR, "cannot read the room's current state");
    }
    return HS_ROOM_OK;
}

static hs_room_status persist(const hs_room_engine *e, const hs_room_version *rv, const char *room_id,
                              const json_t *pdu, const char *event_id, const hs_room_txn *txn,
                              const hs_room_new *new_room, hs_room_result *res)
{
    hs_err herr = {{0}};
    char *text = hs_cjson_encode(pdu, 0, NULL, &herr);
    if (!text) return fail(res, HS_ROOM_ERROR, "%s", herr.msg);
    const char *type = hs_pdu_type(pdu);
    const char *membership = NULL, *redacts = NULL;
    if (strcmp(type, "m.room.member") == 0)
        membership = json_string_value(json_object_get(hs_pdu_content(pdu), "membership"));
    if (strcmp(type, "m.room.redaction") == 0) redacts = hs_pdu_redacts(pdu, rv);
    const json_t *rel = json_object_get(hs_pdu_content(pdu), "m.relates_to");
    const char *relates_to = json_string_value(json_object_get(rel, "event_id"));
    const char *rel_type = json_string_value(json_object_get(rel, "rel_type"));
    if (!relates_to || !rel_type) relates_to = rel_type = NULL;
    const char *rel_key = rel_type && strcmp(rel_type, "m.annotation") == 0
                              ? json_string_value(json_object_get(rel, "key")) : NULL;
    hs_store_new_event ev = {
        .event_id = event_id, .room_id = room_id, .type = type, .state_key = hs_pdu_state_key(pdu),
        .sender = hs_pdu_sender(pdu), .depth = hs_pdu_depth(pdu),
        .origin_server_ts = hs_pdu_origin_server_ts(pdu), .pdu_json = text, .membership = membership,
        .new_room_version = new_room ? rv->id : NULL, .new_room_public = new_room && new_room->is_public,
        .txn_user = txn ? txn->user_id : NULL, .txn_device = txn ? txn->device_id : NULL,
        .txn_id = txn ? txn->txn_id : NULL, .txn_scope = txn ? txn->scope : NULL, .redacts = redacts, .relates_to = relates_to, .rel_type = rel_type,
        .rel_key = rel_key,
    };
    int64_t stream;
    int rc = hs_store_event_append(e->store, &ev, &stream);
    free(text);
    if (rc == 1) return fail(res, HS_ROOM_BAD_REQUEST, "room or event %s already exists", event_id);
    if (rc != 0) return fail(res, HS_ROOM_ERROR, "cannot store event %s", event_id);
    hs_notifier_wake(e->notifier);
    return HS_ROOM_OK;
}

/* hs_room_send_locked with a top-level `redacts` (m.room.redaction before v11). */
static hs_room_status send_locked(const hs_room_engine *e, const char *room_id, const char *sender, const char *type,
                                  const char *state_key, const json_t *content, const char *redacts,
                                  const hs_room_txn *txn, const hs_room_new *new_room, int64_t now_ms,
                                  char **event_id, json_t **built, hs_room_result *res)
{
    if (res) {
        res->status = HS_ROOM_OK;
        res->msg[0] = 0;
    }
    if (event_id) *event_id = NULL;
    if (!json_is_object(content)) return fail(res, HS_ROOM_BAD_REQUEST, "content must be a JSON object");
    if (txn) {
        char *prior = NULL;
        int rc = hs_store_txn_get(e->store, txn->user_id, txn->device_id, room_id, txn->scope, txn->txn_id, &prior);
        if (rc < 0) return fail(res, HS_ROOM_ERROR, "cannot read transaction IDs");
        if (rc == 0) {
            if (event_id) *event_id = prior;
            else free(prior);
            return HS_ROOM_OK;
        }
    }
    const hs_room_version *rv = new_room ? new_room->rv : NULL;
    if (!rv) {
        char version[HS_STORE_ROOM_VERSION_MAX];
        int rc = hs_store_room_get(e->store, room_id, version);
        if (rc < 0) return fail(res, HS_ROOM_ERROR, "cannot read room %s", room_id);
        if (rc == 1) return fail(res, HS_ROOM_NOT_FOUND, "unknown room %s", room_id);
        rv = hs_room_version_get(version);
        if (!rv) return fail(res, HS_ROOM_ERROR, "room %s has unsupported version %s", room_id, version);
    }
    bool is_create = new_room != NULL;
    bool room_id_in_event = !(is_create && rv->room_id_from_create);

    json_t *pdu = json_object();
    json_object_set_new(pdu, "type", json_string(type));
    json_object_set_new(pdu, "sender", json_string(sender));
    if (room_id_in_event) json_object_set_new(pdu, "room_id", json_string(room_id));
    if (state_key) json_object_set_new(pdu, "state_key", json_string(state_key));
    if (redacts) json_object_set_new(pdu, "redacts", json_string(redacts));
    json_object_set_new(pdu, "content", json_deep_copy(content));
    json_object_set_new(pdu, "origin_server_ts", json_integer(now_ms));
    if (!rv->no_origin_field) json_object_set_new(pdu, "origin", json_string(e->server_name));

    hs_room_state ss = {.st = e->store, .rv = rv, .room_id = room_id, .cache = hs_auth_map_new()};
    hs_auth_entry auth[HS_AUTH_MAX_KEYS];
    size_t n_auth = 0;
    char *id = NULL, *derived_room = NULL;
    hs_room_status status = HS_ROOM_OK;
    if (!ss.cache) {
        status = fail(res, HS_ROOM_ERROR, "out of memory");
        goto out;
    }
    if (is_create) {
        json_object_set_new(pdu, "prev_events", json_array());
        json_object_set_new(pdu, "auth_events", json_array());
        json_object_set_new(pdu, "depth", json_integer(1));
    } else {
        status = add_prev_events(e, room_id, pdu, res);
        if (status == HS_ROOM_OK) status = add_auth_events(rv, pdu, &ss, auth, &n_auth, res);
        if (status != HS_ROOM_OK) goto out;
    }
    hs_err herr = {{0}};
    if (hs_event_sign(pdu, rv, e->server_name, e->key, 1, &herr) != 0) {
        status = fail(res, HS_ROOM_BAD_REQUEST, "cannot sign the event: %s", herr.msg);
        goto out;
    }
    id = hs_event_id_compute(pdu, rv, &herr);
    if (!id) {
        status = fail(res, HS_ROOM_BAD_REQUEST, "cannot compute the event ID: %s", herr.msg);
        goto out;
    }
    if (!room_id_in_event) {
        derived_room = hs_room_id_from_create(pdu, rv, &herr);
        if (!derived_room) {
            status = fail(res, HS_ROOM_ERROR, "cannot derive the room ID: %s", herr.msg);
            goto out;
        }
        room_id = derived_room;
    }
    status = check_event(e, rv, pdu, auth, n_auth, &ss, is_create, res);
    if (status == HS_ROOM_OK && built) {
        *built = json_incref(pdu);
        goto out;
    }
    if (status == HS_ROOM_OK) status = persist(e, rv, room_id, pdu, id, txn, new_room, res);
    if (status == HS_ROOM_OK && is_create && new_room->room_id_out) {
        *new_room->room_id_out = strdup(room_id);
        if (!*new_room->room_id_out) status = fail(res, HS_ROOM_ERROR, "out of memory");
    }
out:
    if (status == HS_ROOM_OK && event_id) {
        *event_id = id;
        id = NULL;
    }
    free(id);
    free(derived_room);
    hs_auth_map_free(ss.cache);
    json_decref(pdu);
    return status;
}

hs_room_status hs_room_send_locked(const hs_room_engine *e, const char *room_id, const char *sender,
                                   const char *type, const char *state_key, const json_t *content,
                                   const hs_room_txn *txn, const hs_room_new *new_room, int64_t now_ms,
                                   char **event_id, hs_room_result *res)
{
    return send_locked(e, room_id, sender, type, state_key, content, NULL, txn, new_room, now_ms, event_id, NULL, res);
}

/* A transaction's scope, "<what><id>" (malloc'd; NULL when out of memory). */
static char *scope_of(const char *what, const char *id)
{
    size_t len = strlen(what) + strlen(id) + 1;
    char *s = malloc(len);
    if (s) snprintf(s, len, "%s%s", what, id);
    return s;
}

hs_room_status hs_room_send(const hs_room_engine *e, const char *room_id, const char *sender, const char *type,
                            const char *state_key, const json_t *content, const hs_room_txn *txn, int64_t now_ms,
                            char **event_id, hs_room_result *res)
{
    char *scope = NULL;
    hs_room_txn scoped;
    if (txn && !txn->scope) {
        if (!(scope = scope_of("send/", type))) return fail(res, HS_ROOM_ERROR, "out of memory");
        scoped = *txn;
        scoped.scope = scope;
        txn = &scoped;
    }
    hs_room_lock();
    hs_room_status s =
        hs_room_send_locked(e, room_id, sender, type, state_key, content, txn, NULL, now_ms, event_id, res);
    hs_room_unlock();
    free(scope);
    return s;
}

hs_room_status hs_room_membership(const hs_room_engine *e, const char *room_id, const char *sender,
                                  const char *target, const char *membership, int64_t now_ms, char **event_id,
                                  hs_room_result *res)
{
    return hs_room_member_change(e, room_id, sender, target, membership, NULL, now_ms, event_id, res);
}

/* A repeated membership change (a second join, leave, ...) by the same sender with the
 * same content is answered with the event already in the state, as Synapse does, so
 * clients retrying a join do not fill the timeline. Sets *same (malloc'd) to that event's
 * ID, or NULL when a new event is needed. Returns 0 or -1. */
static int current_member_is(hs_store *st, const char *room_id, const char *sender, const char *target,
                             const json_t *content, char **same)
{
    *same = NULL;
    char *id = NULL;
    int rc = hs_store_state_get(st, room_id, "m.room.member", target, &id);
    if (rc != 0) return rc < 0 ? -1 : 0;
    hs_store_event ev;
    rc = hs_store_event_get(st, id, &ev);
    if (rc != 0) {
        free(id);
        return -1;
    }
    json_t *pdu = json_loads(ev.pdu_json, JSON_ALLOW_NUL, NULL);
    bool redacted = ev.redacted_by != NULL;
    hs_store_event_clear(&ev);
    if (!pdu) {
        free(id);
        return -1;
    }
    const char *prev_sender = hs_pdu_sender(pdu);
    if (!redacted && prev_sender && strcmp(prev_sender, sender) == 0 && json_equal(hs_pdu_content(pdu), content))
        *same = id;
    else free(id);
    json_decref(pdu);
    return 0;
}

/* A local user's join of a restricted room they are not invited to names the local
 * user who vouches for it (join_authorised_via_users_server, hs_room_restricted.h): our
 * own signature then satisfies the auth rules. Refused when the user is in none of the
 * allowed rooms or none of our members may invite. An unknown room is left to the send,
 * which reports it. */
static hs_room_status restricted_join(const hs_room_engine *e, const char *room_id, const char *user,
                                      json_t *content, hs_room_result *res)
{
    char version[HS_STORE_ROOM_VERSION_MAX];
    int rc = hs_store_room_get(e->store, room_id, version);
    if (rc < 0) return fail(res, HS_ROOM_ERROR, "cannot read room %s", room_id);
    const hs_room_version *rv = rc == 0 ? hs_room_version_get(version) : NULL;
    if (!rv) return HS_ROOM_OK;
    char *via = NULL, msg[sizeof res->msg];
    switch (hs_room_restricted_join(e->store, rv, room_id, user, e->server_name, &via, msg, sizeof msg)) {
    case HS_RESTRICTED_NOT_NEEDED: return HS_ROOM_OK;
    case HS_RESTRICTED_ADMITTED:
        json_object_set_new(content, "join_authorised_via_users_server", json_string(via));
        free(via);
        return HS_ROOM_OK;
    case HS_RESTRICTED_ERROR: return fail(res, HS_ROOM_ERROR, "%s", msg);
    default: return fail(res, HS_ROOM_FORBIDDEN, "%s", msg);
    }
}

/* hs_room_member_change and hs_room_member_build: with `built` the event is built and
 * checked but not persisted. */
static hs_room_status member_change(const hs_room_engine *e, const char *room_id, const char *sender,
                                    const char *target, const char *membership, const char *reason,
                                    const json_t *extra, int64_t now_ms, char **event_id, json_t **built,
                                    hs_room_result *res)
{
    if (built) *built = NULL;
    json_t *content = extra ? json_deep_copy(extra) : json_object();
    json_object_set_new(content, "membership", json_string(membership));
    if (reason) json_object_set_new(content, "reason", json_string(reason));
    /* Joins and invites carry the target's profile, so members see names without asking. */
    if ((strcmp(membership, "join") == 0 || strcmp(membership, "invite") == 0) &&
        hs_profile_member_content(e->store, target, content) != 0) {
        json_decref(content);
        return fail(res, HS_ROOM_ERROR, "cannot read the profile of %s", target);
    }
    char *same = NULL;
    hs_room_status s = HS_ROOM_OK;
    if (strcmp(membership, "join") == 0 && strcmp(sender, target) == 0 &&
        (s = restricted_join(e, room_id, target, content, res)) != HS_ROOM_OK) {
        json_decref(content);
        return s;
    }
    if (current_member_is(e->store, room_id, sender, target, content, &same) < 0)
        s = fail(res, HS_ROOM_ERROR, "cannot read the membership of %s", target);
    else if (same) {
        if (res) res->status = HS_ROOM_OK;
        if (event_id) *event_id = same;
        else free(same);
    } else {
        hs_room_lock();
        s = send_locked(e, room_id, sender, "m.room.member", target, content, NULL, NULL, NULL, now_ms, event_id, built,
                        res);
        hs_room_unlock();
    }
    json_decref(content);
    return s;
}

hs_room_status hs_room_member_change(const hs_room_engine *e, const char *room_id, const char *sender,
                                     const char *target, const char *membership, const char *reason, int64_t now_ms,
                                     char **event_id, hs_room_result *res)
{
    return member_change(e, room_id, sender, target, membership, reason, NULL, now_ms, event_id, NULL, res);
}

hs_room_status hs_room_member_build(const hs_room_engine *e, const char *room_id, const char *sender,
                                    const char *target, const char *membership, const char *reason,
                                    const json_t *extra, int64_t now_ms, char **event_id, json_t **pdu,
                                    hs_room_result *res)
{
    return member_change(e, room_id, sender, target, membership, reason, extra, now_ms, event_id, pdu, res);
}

/* ---- redaction ---------------------------------------------------------------------- */

/* Whether `sender` reaches the room's redact level (power_levels.redact, default 50). */
static hs_room_status may_redact_others(const hs_room_version *rv, hs_room_state *ss, const char *sender, bool *may,
                                        hs_room_result *res)
{
    hs_auth_state state = {hs_room_state_get, ss};
    long long level = hs_auth_user_level(rv, &state, sender);
    long long needed = 50;
    hs_auth_entry pl;
    if (hs_room_state_get(ss, "m.room.power_levels", "", &pl)) {
        const json_t *v = json_object_get(hs_pdu_content(pl.pdu), "redact");
        if (v && !hs_auth_parse_level(rv, v, &needed)) needed = 50;
    }
    if (ss->failed) return fail(res, HS_ROOM_ERROR, "cannot read the room's power levels");
    *may = level >= needed;
    return HS_ROOM_OK;
}

hs_room_status hs_room_redact(const hs_room_engine *e, const char *room_id, const char *sender,
                              const char *target_id, const char *reason, const hs_room_txn *txn, int64_t now_ms,
                              char **event_id, hs_room_result *res)
{
    if (event_id) *event_id = NULL;
    if (res) {
        res->status = HS_ROOM_OK;
        res->msg[0] = 0;
    }
    char version[HS_STORE_ROOM_VERSION_MAX];
    int rc = hs_store_room_get(e->store, room_id, version);
    if (rc != 0) return fail(res, rc < 0 ? HS_ROOM_ERROR : HS_ROOM_NOT_FOUND, "unknown room %s", room_id);
    const hs_room_version *rv = hs_room_version_get(version);
    if (!rv) return fail(res, HS_ROOM_ERROR, "room %s has unsupported version %s", room_id, version);
    hs_store_event target;
    rc = hs_store_event_get(e->store, target_id, &target);
    if (rc < 0) return fail(res, HS_ROOM_ERROR, "cannot read event %s", target_id);
    if (rc == 0 && strcmp(target.room_id, room_id) != 0) {
        hs_store_event_clear(&target);
        rc = 1;
    }
    if (rc == 1) return fail(res, HS_ROOM_NOT_FOUND, "no event %s in room %s", target_id, room_id);
    json_t *tpdu = json_loads(target.pdu_json, JSON_ALLOW_NUL, NULL);
    hs_store_event_clear(&target);
    if (!tpdu) return fail(res, HS_ROOM_ERROR, "stored event %s is unreadable", target_id);
    bool own = hs_pdu_sender(tpdu) && strcmp(hs_pdu_sender(tpdu), sender) == 0;
    json_decref(tpdu);

    char *scope = NULL;
    hs_room_txn scoped;
    if (txn && !txn->scope) {
        if (!(scope = scope_of("redact/", target_id))) return fail(res, HS_ROOM_ERROR, "out of memory");
        scoped = *txn;
        scoped.scope = scope;
        txn = &scoped;
    }
    json_t *content = json_object();
    if (reason) json_object_set_new(content, "reason", json_string(reason));
    if (rv->redacts_in_content) json_object_set_new(content, "redacts", json_string(target_id));
    hs_room_lock();
    hs_room_state ss = {.st = e->store, .rv = rv, .room_id = room_id, .cache = hs_auth_map_new()};
    hs_room_status status = ss.cache ? HS_ROOM_OK : fail(res, HS_ROOM_ERROR, "out of memory");
    bool may = own;
    /* Auth rules let anyone from the same server redact (servers vouch for their users);
     * the Client-Server API asks more: your own events, or the redact level. */
    if (status == HS_ROOM_OK && !own) status = may_redact_others(rv, &ss, sender, &may, res);
    if (status == HS_ROOM_OK && !may)
        status = fail(res, HS_ROOM_FORBIDDEN, "redacting another user's event needs the redact power level");
    if (status == HS_ROOM_OK)
        status = send_locked(e, room_id, sender, "m.room.redaction", NULL, content,
                             rv->redacts_in_content ? NULL : target_id, txn, NULL, now_ms, event_id, NULL, res);
    hs_room_unlock();
    hs_auth_map_free(ss.cache);
    json_decref(content);
    free(scope);
    return status;
}
