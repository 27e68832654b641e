/* hs_room_remote: the checks and the write of hs_room_remote.h. Events are loaded from
 * the store once per accept into a small cache (a JSON object keyed by event ID), which
 * backs both the auth rules' state lookups and state resolution's event lookup. */
#include "server-core/hs_room_remote.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_auth.h"
#include "server-core/hs_event_id.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_redact.h"
#include "server-core/hs_signing.h"
#include "server-core/hs_stateres.h"
#include "server-core/hs_store_fed_rooms.h"
#include "server-core/hs_store_history.h"

const char *hs_remote_status_str(hs_remote_status s)
{
    switch (s) {
    case HS_REMOTE_ACCEPTED: return "accepted";
    case HS_REMOTE_DUPLICATE: return "duplicate";
    case HS_REMOTE_SOFT_FAILED: return "soft-failed";
    case HS_REMOTE_REJECTED: return "rejected";
    case HS_REMOTE_MISSING: return "missing events";
    case HS_REMOTE_ERROR: return "error";
    }
    return "?";
}

static hs_remote_status set(hs_remote_result *res, hs_remote_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static hs_remote_status set(hs_remote_result *res, hs_remote_status st, const char *fmt, ...)
{
    res->status = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->msg, sizeof res->msg, fmt, ap);
    va_end(ap);
    return st;
}

const hs_room_version *hs_room_remote_version(hs_store *st, const char *room_id)
{
    char version[HS_STORE_ROOM_VERSION_MAX];
    if (hs_store_room_get(st, room_id, version) != 0) return NULL;
    return hs_room_version_get(version);
}

/* ---- steps 2 and 3 ------------------------------------------------------------------ */

int hs_room_remote_check_signatures(const hs_room_remote *r, const json_t *pdu, const hs_room_version *rv,
                                    hs_err *err)
{
    const char *signers[4];
    int n = hs_event_required_signers(pdu, rv, signers, 4, err);
    if (n < 0) return -1;
    int64_t valid_at = rv->enforce_key_validity ? hs_pdu_origin_server_ts(pdu) : 0;
    const json_t *sigs = json_object_get(pdu, "signatures");
    for (int i = 0; i < n; i++) {
        const json_t *mine = json_object_get(sigs, signers[i]);
        if (!json_is_object(mine) || json_object_size(mine) == 0)
            return hs_err_set(err, "event is not signed by %.100s", signers[i]);
        const char *key_id;
        const json_t *v;
        bool ok = false;
        hs_err last = {{0}};
        json_object_foreach((json_t *)mine, key_id, v) {
            if (strncmp(key_id, "ed25519:", 8) != 0) continue;
            uint8_t pk[32];
            if (r->get_key(r->key_ctx, signers[i], key_id, valid_at, pk, &last) != 0) continue;
            if (hs_event_verify_signature(pdu, rv, signers[i], key_id, pk, &last) == 0) {
                ok = true;
                break;
            }
        }
        if (!ok) return hs_err_set(err, "no valid signature of %.100s: %.300s", signers[i], last.msg);
    }
    return 0;
}

json_t *hs_room_remote_check_hash(const json_t *pdu, const hs_room_version *rv, bool *redacted)
{
    hs_err err;
    *redacted = false;
    if (hs_event_check_content_hash(pdu, &err) == 0) return json_incref((json_t *)pdu);
    *redacted = true;
    return hs_redact(pdu, rv);
}

/* ---- events and states from the store ------------------------------------------------ */

typedef struct ctx {
    hs_store *st;
    json_t *cache;   /* event ID -> PDU */
    const hs_state_map *map;
    int failed;
} ctx;

/* The PDU of event_id (borrowed from the cache), or NULL when unknown: a stored event,
 * or a soft-failed one (those still authorise others, like in any other server's DAG). */
static const json_t *load(ctx *c, const char *event_id)
{
    json_t *pdu = json_object_get(c->cache, event_id);
    if (pdu) return pdu;
    hs_store_event ev;
    char *text = NULL;
    int rc = hs_store_event_get(c->st, event_id, &ev);
    if (rc == 0) {
        text = ev.pdu_json;
        ev.pdu_json = NULL;
        hs_store_event_clear(&ev);
    } else if (rc == 1) {
        rc = hs_store_fed_soft_failed_get(c->st, event_id, &text);
    }
    if (rc != 0) {
        if (rc < 0) c->failed = 1;
        return NULL;
    }
    pdu = json_loads(text, JSON_ALLOW_NUL, NULL);
    free(text);
    if (!pdu) {
        c->failed = 1;
        return NULL;
    }
    json_object_set_new(c->cache, event_id, pdu);
    return pdu;
}

static const json_t *lookup_get(void *vc, const char *event_id, bool *rejected)
{
    *rejected = false;
    return load(vc, event_id);
}

static bool map_get(void *vc, const char *type, const char *state_key, hs_auth_entry *out)
{
    ctx *c = vc;
    const char *id = hs_state_map_get(c->map, type, state_key);
    if (!id) return false;
    const json_t *pdu = load(c, id);
    if (!pdu) {
        c->failed = 1;
        return false;
    }
    out->pdu = pdu;
    out->event_id = id;
    return true;
}

/* Auth of `pdu` against the state `map`. */
static hs_auth_rule auth_against(ctx *c, const hs_room_version *rv, const json_t *pdu, const hs_state_map *map,
                                 hs_auth_result *ar)
{
    c->map = map;
    hs_auth_state state = {map_get, c};
    return hs_auth_allowed(rv, pdu, &state, ar);
}

/* The room's current state read lazily, key by key (the auth rules ask for a handful). */
typedef struct lazy_state {
    ctx *c;
    const char *room_id;
    json_t *ids;   /* keeps the event IDs handed out alive */
} lazy_state;

static bool lazy_get(void *vl, const char *type, const char *state_key, hs_auth_entry *out)
{
    lazy_state *l = vl;
    char *id = NULL;
    int rc = hs_store_state_get(l->c->st, l->room_id, type, state_key, &id);
    if (rc != 0) {
        if (rc < 0) l->c->failed = 1;
        return false;
    }
    json_array_append_new(l->ids, json_string(id));
    free(id);
    out->event_id = json_string_value(json_array_get(l->ids, json_array_size(l->ids) - 1));
    out->pdu = load(l->c, out->event_id);
    if (!out->pdu) l->c->failed = 1;
    return out->pdu != NULL;
}

/* Resolves the states after each of ids (n >= 1) into a new map. */
static int state_after_all(ctx *c, const hs_room_version *rv, const char *const *ids, size_t n, hs_state_map **out,
                           hs_err *err)
{
    *out = NULL;
    hs_state_map **sets = calloc(n, sizeof *sets);
    if (!sets) return hs_err_set(err, "out of memory");
    int ret = 0;
    for (size_t i = 0; i < n && ret == 0; i++) {
        int rc = hs_store_state_at_event(c->st, ids[i], true, &sets[i]);
        if (rc == 1) rc = hs_store_fed_soft_failed_state(c->st, ids[i], &sets[i]);
        if (rc != 0) ret = hs_err_set(err, "cannot read the state after %.100s", ids[i]);
    }
    if (ret == 0 && n == 1) {
        *out = sets[0];
        sets[0] = NULL;
    } else if (ret == 0) {
        hs_event_lookup lk = {lookup_get, c};
        ret = hs_stateres_resolve(rv, (const hs_state_map *const *)sets, n, &lk, out, err);
    }
    for (size_t i = 0; i < n; i++) hs_state_map_free(sets[i]);
    free(sets);
    return ret;
}

int hs_room_remote_select_auth(hs_store *st, const hs_room_version *rv, const char *room_id, json_t *pdu,
                               hs_err *err)
{
    hs_auth_key keys[HS_AUTH_MAX_KEYS];
    int nk = hs_auth_types_for_event(rv, pdu, keys);
    if (nk < 0) return hs_err_set(err, "event lacks a type or sender");
    json_t *auth = json_array();
    for (int i = 0; i < nk; i++) {
        char *id = NULL;
        int rc = hs_store_state_get(st, room_id, keys[i].type, keys[i].state_key, &id);
        if (rc < 0) {
            json_decref(auth);
            return hs_err_set(err, "cannot read the room's state");
        }
        if (rc == 0) {
            bool dup = false;
            size_t j;
            json_t *v;
            json_array_foreach(auth, j, v) dup |= strcmp(json_string_value(v), id) == 0;
            if (!dup) json_array_append_new(auth, json_string(id));
            free(id);
        }
    }
    json_object_set_new(pdu, "auth_events", auth);
    return 0;
}

int hs_room_remote_auth_current(hs_store *st, const hs_room_version *rv, const char *room_id, const json_t *pdu,
                                char *msg, size_t msg_len)
{
    ctx c = {.st = st, .cache = json_object()};
    hs_state_map *current = NULL;
    int rule;
    if (hs_store_fed_current_state(st, room_id, &current) != 0) {
        snprintf(msg, msg_len, "cannot read the room's state");
        rule = HS_AUTH_MALFORMED;
    } else {
        hs_auth_result ar;
        rule = auth_against(&c, rv, pdu, current, &ar);
        if (c.failed && rule == HS_AUTH_OK) rule = HS_AUTH_MALFORMED;
        snprintf(msg, msg_len, "%s", rule == HS_AUTH_OK ? "" : c.failed ? "cannot read the room's state" : ar.msg);
    }
    hs_state_map_free(current);
    json_decref(c.cache);
    return rule;
}

/* ---- accept ------------------------------------------------------------------------- */

hs_store_new_event hs_room_remote_row(const json_t *pdu, const hs_room_version *rv, const char *event_id,
                                      const char *room_id, const char *text)
{
    const char *type = hs_pdu_type(pdu);
    const json_t *content = hs_pdu_content(pdu);
    const json_t *rel = json_object_get(content, "m.relates_to");
    const char *relates_to = json_string_value(json_object_get(rel, "event_id"));
    const char *rel_type = json_string_value(json_object_get(rel, "rel_type"));
    if (!relates_to || !rel_type) relates_to = rel_type = NULL;
    return (hs_store_new_event){
        .event_id = event_id, .room_id = room_id, .type = type, .state_key = hs_pdu_state_key(pdu),
        .sender = hs_pdu_sender(pdu), .depth = hs_pdu_depth(pdu), .origin_server_ts = hs_pdu_origin_server_ts(pdu),
        .pdu_json = text,
        .membership = strcmp(type, "m.room.member") == 0
                          ? json_string_value(json_object_get(content, "membership")) : NULL,
        .redacts = strcmp(type, "m.room.redaction") == 0 ? hs_pdu_redacts(pdu, rv) : NULL,
        .relates_to = relates_to, .rel_type = rel_type,
        .rel_key = rel_type && strcmp(rel_type, "m.annotation") == 0
                       ? json_string_value(json_object_get(rel, "key")) : NULL,
    };
}

/* Steps 4-6 and the write, under the room lock. */
static hs_remote_status accept_locked(const hs_room_remote *r, const hs_room_version *rv, const char *room_id,
                                      const json_t *pdu, const hs_state_map *given_before, hs_remote_result *res)
{
    hs_store *st = r->e->store;
    const char *id = res->event_id;
    hs_store_event old;
    int rc = hs_store_event_get(st, id, &old);
    /* An outlier (held as state or auth only) that arrives as an event of the room
     * goes through every check and into the timeline. */
    bool outlier = rc == 0 && old.outlier;
    if (rc == 0) hs_store_event_clear(&old);
    if ((rc == 0 && !outlier) || hs_store_fed_soft_failed(st, id) == 1)
        return set(res, HS_REMOTE_DUPLICATE, "already known");
    if (rc < 0) return set(res, HS_REMOTE_ERROR, "cannot read events");

    ctx c = {.st = st, .cache = json_object()};
    hs_state_map *before = NULL, *current = NULL, *resolved = NULL, *after = NULL;
    char **ext = NULL, **prevs = NULL;
    size_t n_ext = 0, n_prev = 0;
    char *text = NULL;
    hs_remote_status status = HS_REMOTE_ACCEPTED;
    hs_err err = {{0}};
    hs_auth_result ar;

    /* 4: its own auth events. */
    hs_auth_entry auth[HS_PDU_MAX_AUTH_EVENTS];
    size_t n_auth = hs_pdu_auth_event_count(pdu);
    char missing[400] = "";
    for (size_t i = 0; i < n_auth; i++) {
        const char *aid = hs_pdu_auth_event(pdu, i);
        auth[i].event_id = aid;
        if (!(auth[i].pdu = load(&c, aid)))
            snprintf(missing + strlen(missing), sizeof missing - strlen(missing), " %s", aid);
    }
    if (c.failed) {
        status = set(res, HS_REMOTE_ERROR, "cannot read auth events");
        goto out;
    }
    if (missing[0]) {
        status = set(res, HS_REMOTE_MISSING, "unknown auth events:%s", missing);
        goto out;
    }
    /* v12: the create event is not among the auth events; its ID is the room ID's. */
    hs_auth_entry create_ent, *create = NULL;
    char cid[300];
    snprintf(cid, sizeof cid, "$%s", room_id + 1);
    if (rv->room_id_from_create && (create_ent.pdu = load(&c, cid))) {
        create_ent.event_id = cid;
        create = &create_ent;
    }
    if (hs_auth_check_with_auth_events(rv, pdu, auth, n_auth, create, &ar) != HS_AUTH_OK) {
        status = set(res, HS_REMOTE_REJECTED, "auth events: %s", ar.msg);
        goto out;
    }

    /* 5: the state before it. Soft-failed prev_events are passed over (they are not
     * part of the room's graph here); unknown ones are missing. */
    size_t np = hs_pdu_prev_event_count(pdu);
    prevs = calloc(np ? np : 1, sizeof *prevs);
    if (!prevs) {
        status = set(res, HS_REMOTE_ERROR, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < np; i++) {
        const char *pid = hs_pdu_prev_event(pdu, i);
        if (load(&c, pid)) prevs[n_prev++] = (char *)pid;
        else
            snprintf(missing + strlen(missing), sizeof missing - strlen(missing), " %s", pid);
    }
    if (missing[0] && !given_before) {
        res->missing_prev = true;
        status = set(res, HS_REMOTE_MISSING, "unknown prev_events:%s", missing);
        goto out;
    }
    /* The common case: the event extends the room's only head. The state after the
     * only extremity is always the current state (the store keeps it so), so the state
     * before the event is the current state, steps 5 and 6 are one check, and that check
     * reads just the keys the auth rules ask for instead of whole state maps (rooms can
     * hold tens of thousands of state events). */
    int64_t max_depth;
    if (!given_before && n_prev == 1 && np == 1) {
        if (hs_store_room_extremities(st, room_id, &ext, &n_ext, &max_depth) != 0) {
            status = set(res, HS_REMOTE_ERROR, "cannot read extremities");
            goto out;
        }
        if (n_ext == 1 && strcmp(ext[0], prevs[0]) == 0) {
            lazy_state ls = {&c, room_id, json_array()};
            hs_auth_state cur = {lazy_get, &ls};
            hs_auth_rule rule = hs_auth_allowed(rv, pdu, &cur, &ar);
            json_decref(ls.ids);
            if (c.failed) status = set(res, HS_REMOTE_ERROR, "cannot read the room's current state");
            else if (rule != HS_AUTH_OK) status = set(res, HS_REMOTE_REJECTED, "state before the event: %s", ar.msg);
            else if (!(text = hs_cjson_encode(pdu, 0, NULL, &err))) status = set(res, HS_REMOTE_ERROR, "%s", err.msg);
            if (status != HS_REMOTE_ACCEPTED) goto out;
            const char *only[] = {id};
            hs_store_new_event row = hs_room_remote_row(pdu, rv, id, room_id, text);
            hs_store_fed_event fe = {.ev = &row, .before_from = prevs[0], .extremities = only, .n_extremities = 1,
                                     .head = HS_STORE_FED_HEAD_EXTEND};
            int64_t stream;
            rc = hs_store_fed_event_persist(st, &fe, &stream);
            if (rc == 1) status = set(res, HS_REMOTE_DUPLICATE, "already known");
            else if (rc != 0) status = set(res, HS_REMOTE_ERROR, "cannot store the event");
            else hs_notifier_wake(r->e->notifier);
            goto out;
        }
        hs_store_free_strings(ext, n_ext);
        ext = NULL;
        n_ext = 0;
    }
    if (given_before) {
        if (!(before = hs_state_map_copy(given_before))) {
            status = set(res, HS_REMOTE_ERROR, "out of memory");
            goto out;
        }
    } else if (state_after_all(&c, rv, (const char *const *)prevs, n_prev, &before, &err) != 0) {
        status = set(res, HS_REMOTE_ERROR, "state before the event: %s", err.msg);
        goto out;
    }
    if (auth_against(&c, rv, pdu, before, &ar) != HS_AUTH_OK) {
        status = set(res, c.failed ? HS_REMOTE_ERROR : HS_REMOTE_REJECTED, "state before the event: %s", ar.msg);
        goto out;
    }

    if (!(text = hs_cjson_encode(pdu, 0, NULL, &err))) {
        status = set(res, HS_REMOTE_ERROR, "%s", err.msg);
        goto out;
    }
    /* Resolving the room's heads below needs the event itself. */
    json_object_set(c.cache, id, (json_t *)pdu);
    /* 6: the current state. */
    if (hs_store_fed_current_state(st, room_id, &current) != 0) {
        status = set(res, HS_REMOTE_ERROR, "cannot read the current state");
        goto out;
    }
    after = hs_state_map_copy(before);
    const char *sk = hs_pdu_state_key(pdu);
    if (!after || (sk && hs_state_map_set(after, hs_pdu_type(pdu), sk, id) != 0)) {
        status = set(res, HS_REMOTE_ERROR, "out of memory");
        goto out;
    }
    if (auth_against(&c, rv, pdu, current, &ar) != HS_AUTH_OK) {
        if (hs_store_fed_soft_failed_put(st, id, room_id, text, after) != 0)
            status = set(res, HS_REMOTE_ERROR, "cannot store a soft-failed event");
        else status = set(res, HS_REMOTE_SOFT_FAILED, "current state: %s", ar.msg);
        goto out;
    }

    /* The write: new extremities, and what the current state becomes. */
    if (hs_store_room_extremities(st, room_id, &ext, &n_ext, &max_depth) != 0) {
        status = set(res, HS_REMOTE_ERROR, "cannot read extremities");
        goto out;
    }
    const char **new_ext = calloc(n_ext + 1, sizeof *new_ext);
    if (!new_ext) {
        status = set(res, HS_REMOTE_ERROR, "out of memory");
        goto out;
    }
    size_t n_new = 0;
    bool cites_all = true;
    for (size_t i = 0; i < n_ext; i++) {
        bool cited = false;
        for (size_t j = 0; j < n_prev && !cited; j++) cited = strcmp(ext[i], prevs[j]) == 0;
        if (!cited) new_ext[n_new++] = ext[i];
        cites_all &= cited;
    }
    new_ext[n_new++] = id;
    hs_store_fed_event fe = {
        .before = before, .before_from = n_prev == 1 && !given_before ? prevs[0] : NULL,
        .extremities = new_ext, .n_extremities = n_new,
    };
    if (n_new == 1 && cites_all && hs_state_map_equal(before, current)) {
        fe.head = HS_STORE_FED_HEAD_EXTEND;
    } else if (n_new == 1) {
        fe.head = HS_STORE_FED_HEAD_RESOLVED;
        fe.current = after;
    } else {
        /* The room forked: the current state is the resolution of every head's state. */
        hs_state_map **sets = calloc(n_new, sizeof *sets);
        int ok = sets ? 0 : -1;
        for (size_t i = 0; ok == 0 && i + 1 < n_new; i++)
            ok = hs_store_state_at_event(st, new_ext[i], true, &sets[i]) == 0 ? 0 : -1;
        if (ok == 0) {
            sets[n_new - 1] = after;
            hs_event_lookup lk = {lookup_get, &c};
            ok = hs_stateres_resolve(rv, (const hs_state_map *const *)sets, n_new, &lk, &resolved, &err);
            sets[n_new - 1] = NULL;
        }
        for (size_t i = 0; sets && i < n_new; i++) hs_state_map_free(sets[i]);
        free(sets);
        if (ok != 0) {
            free(new_ext);
            status = set(res, HS_REMOTE_ERROR, "resolving the room's heads: %s", err.msg);
            goto out;
        }
        fe.head = HS_STORE_FED_HEAD_RESOLVED;
        fe.current = resolved;
    }
    hs_store_new_event row = hs_room_remote_row(pdu, rv, id, room_id, text);
    fe.ev = &row;
    int64_t stream;
    rc = hs_store_fed_event_persist(st, &fe, &stream);
    free(new_ext);
    if (rc == 1) status = set(res, HS_REMOTE_DUPLICATE, "already known");
    else if (rc != 0) status = set(res, HS_REMOTE_ERROR, "cannot store the event");
    else hs_notifier_wake(r->e->notifier);
out:
    free(text);
    free(prevs);
    hs_store_free_strings(ext, n_ext);
    hs_state_map_free(before);
    hs_state_map_free(current);
    hs_state_map_free(resolved);
    hs_state_map_free(after);
    json_decref(c.cache);
    return status;
}

static hs_remote_status accept(const hs_room_remote *r, const char *room_id, const json_t *pdu,
                               const hs_state_map *given_before, hs_remote_result *res)
{
    memset(res, 0, sizeof *res);
    hs_err err = {{0}};
    /* 1: format. */
    const hs_room_version *rv = hs_room_remote_version(r->e->store, room_id);
    if (!rv) return set(res, HS_REMOTE_REJECTED, "this server is not in room %.200s", room_id);
    size_t len = 0;
    char *enc = hs_cjson_encode(pdu, 0, &len, &err);
    free(enc);
    if (!enc) return set(res, HS_REMOTE_REJECTED, "not canonical JSON: %s", err.msg);
    if (len > 65536) return set(res, HS_REMOTE_REJECTED, "event is %zu bytes; the limit is 65536", len);
    if (hs_pdu_validate(pdu, rv, &err) != 0) return set(res, HS_REMOTE_REJECTED, "format: %s", err.msg);
    const char *rid = hs_pdu_room_id(pdu);
    if (!rid || strcmp(rid, room_id) != 0) return set(res, HS_REMOTE_REJECTED, "event is for another room");
    char *id = hs_event_id_compute(pdu, rv, &err);
    if (!id) return set(res, HS_REMOTE_REJECTED, "event ID: %s", err.msg);
    snprintf(res->event_id, sizeof res->event_id, "%s", id);
    free(id);
    /* 2: signatures. */
    if (hs_room_remote_check_signatures(r, pdu, rv, &err) != 0)
        return set(res, HS_REMOTE_REJECTED, "signatures: %s", err.msg);
    /* 3: content hash. */
    json_t *checked = hs_room_remote_check_hash(pdu, rv, &res->redacted);
    if (!checked) return set(res, HS_REMOTE_ERROR, "out of memory");
    if (json_object_get(checked, "unsigned")) {
        /* The sender's unsigned block (age, ...) is its own business and outdated once
         * stored; it is not part of the event (not hashed, not signed). */
        json_t *clean = json_copy(checked);
        json_decref(checked);
        if (!clean) return set(res, HS_REMOTE_ERROR, "out of memory");
        json_object_del(clean, "unsigned");
        checked = clean;
    }
    hs_room_lock();
    hs_remote_status s = accept_locked(r, rv, room_id, checked, given_before, res);
    hs_room_unlock();
    json_decref(checked);
    return s;
}

hs_remote_status hs_room_remote_accept(const hs_room_remote *r, const char *room_id, const json_t *pdu,
                                       hs_remote_result *res)
{
    return accept(r, room_id, pdu, NULL, res);
}

hs_remote_status hs_room_remote_accept_with_state(const hs_room_remote *r, const char *room_id, const json_t *pdu,
                                                  const hs_state_map *before, hs_remote_result *res)
{
    return accept(r, room_id, pdu, before, res);
}
