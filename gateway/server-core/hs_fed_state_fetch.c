/* hs_fed_state_fetch: /state_ids first, our store and /event for the events it names,
 * /state when that does not work out (see hs_fed_state_fetch.h). The assembled lists
 * have the shape of a /state answer (`pdus`, `auth_chain`) so that one checker,
 * hs_fed_state_validate, judges both paths alike. An event taken from our store is
 * used only when it belongs to the room; a fetched one only when its ID, computed for
 * the room version, is the one asked for. */
#include "server-core/hs_fed_state_fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_event_id.h"
#include "server-core/hs_fed.h"
#include "server-core/hs_log.h"
#include "server-core/hs_server.h"
#include "server-core/hs_store_rooms.h"

/* An event ID as /state_ids may name one: what our IDs and the spec's allow. */
#define EVENT_ID_MAX 255

/* GET target on origin as JSON (new reference), or NULL when no 200 answer with a JSON
 * object came; *why says which. */
static json_t *get_json(hs_server *srv, const char *origin, const char *target, char *why, size_t why_len)
{
    hs_fed_out out = {.destination = origin, .method = "GET", .target = target, .sign = true};
    hs_fed_reply reply = {0};
    hs_err err = {{0}};
    json_t *answer = NULL;
    if (hs_fed_send(srv, &out, &reply, &err) != 0) {
        snprintf(why, why_len, "%s", err.msg);
    } else if (reply.status != 200) {
        snprintf(why, why_len, "HTTP %ld", reply.status);
    } else {
        answer = json_loadb(reply.body, reply.body_len, JSON_ALLOW_NUL, NULL);
        if (!json_is_object(answer)) {
            snprintf(why, why_len, "the answer is not a JSON object");
            json_decref(answer);
            answer = NULL;
        }
    }
    hs_fed_reply_free(&reply);
    return answer;
}

/* "/_matrix/federation/v1/<what>/<room>?event_id=<event>" (malloc'd) or NULL. */
static char *state_target(const char *what, const char *room_id, const char *event_id)
{
    char *r = hs_fed_pct_encode(room_id), *e = hs_fed_pct_encode(event_id);
    char *t = NULL;
    if (r && e) {
        size_t n = strlen(what) + strlen(r) + strlen(e) + 64;
        t = malloc(n);
        if (t) snprintf(t, n, "/_matrix/federation/v1/%s/%s?event_id=%s", what, r, e);
    }
    free(r);
    free(e);
    return t;
}

/* Adds the IDs of `list` (an array of event ID strings) to `wanted` (ID -> null).
 * Returns 0, or -1 with why when the list is malformed or too long. */
static int collect_ids(const json_t *list, json_t *wanted, char *why, size_t why_len)
{
    if (!json_is_array(list)) return snprintf(why, why_len, "pdu_ids or auth_chain_ids is not a list"), -1;
    size_t i;
    const json_t *v;
    json_array_foreach(list, i, v) {
        const char *id = json_string_value(v);
        if (!id || id[0] != '$' || strlen(id) > EVENT_ID_MAX || strlen(id) != json_string_length(v))
            return snprintf(why, why_len, "entry %zu is not an event ID", i), -1;
        if (json_object_size(wanted) >= HS_FED_STATE_FETCH_MAX_IDS)
            return snprintf(why, why_len, "more than %d event IDs", HS_FED_STATE_FETCH_MAX_IDS), -1;
        json_object_set_new(wanted, id, json_null());
    }
    return 0;
}

/* Our stored copy of event_id if it is an event of room_id (new reference), else NULL. */
static json_t *held_pdu(hs_server *srv, const char *room_id, const char *event_id)
{
    hs_store_event ev;
    if (hs_store_event_get(srv->store, event_id, &ev) != 0) return NULL;
    json_t *pdu = strcmp(ev.room_id, room_id) == 0 ? json_loads(ev.pdu_json, JSON_ALLOW_NUL, NULL) : NULL;
    hs_store_event_clear(&ev);
    if (!json_is_object(pdu)) {
        json_decref(pdu);
        return NULL;
    }
    return pdu;
}

/* Fetches the n events `ids` from origin with /event, all at once, into `have` (ID ->
 * PDU). Returns 0, or -1 with why when one did not come or is not the event asked for. */
static int fetch_events(hs_server *srv, const hs_room_version *rv, const char *origin, const char **ids, size_t n,
                        json_t *have, char *why, size_t why_len)
{
    hs_fed_out *reqs = calloc(n, sizeof *reqs);
    hs_fed_reply *replies = calloc(n, sizeof *replies);
    hs_err *errs = calloc(n, sizeof *errs);
    char **targets = calloc(n, sizeof *targets);
    int ret = reqs && replies && errs && targets ? 0 : -1;
    if (ret) snprintf(why, why_len, "out of memory");
    for (size_t i = 0; ret == 0 && i < n; i++) {
        char *e = hs_fed_pct_encode(ids[i]);
        size_t len = e ? strlen(e) + 40 : 0;
        targets[i] = e ? malloc(len) : NULL;
        if (targets[i]) snprintf(targets[i], len, "/_matrix/federation/v1/event/%s", e);
        free(e);
        if (!targets[i]) {
            snprintf(why, why_len, "out of memory");
            ret = -1;
        }
        reqs[i] = (hs_fed_out){.destination = origin, .method = "GET", .target = targets[i], .sign = true};
    }
    if (ret == 0) hs_fed_send_many(srv, reqs, n, replies, errs);
    for (size_t i = 0; ret == 0 && i < n; i++) {
        if (replies[i].status != 200) {
            snprintf(why, why_len, "/event %.100s: %s", ids[i], replies[i].status ? "not HTTP 200" : errs[i].msg);
            ret = -1;
            break;
        }
        json_t *answer = json_loadb(replies[i].body, replies[i].body_len, JSON_ALLOW_NUL, NULL);
        json_t *pdu = json_array_get(json_object_get(answer, "pdus"), 0);
        hs_err err = {{0}};
        char *id = json_is_object(pdu) ? hs_event_id_compute(pdu, rv, &err) : NULL;
        if (!id || strcmp(id, ids[i]) != 0) {
            snprintf(why, why_len, "/event %.100s answered %s", ids[i], id ? "another event" : "no valid event");
            ret = -1;
        } else {
            json_object_set(have, ids[i], pdu);
        }
        free(id);
        json_decref(answer);
    }
    for (size_t i = 0; replies && i < n; i++) hs_fed_reply_free(&replies[i]);
    for (size_t i = 0; targets && i < n; i++) free(targets[i]);
    free(targets);
    free(errs);
    free(replies);
    free(reqs);
    return ret;
}

/* The PDUs of `ids` (found in `have`) as a new array, in the answer's order. */
static json_t *assemble(const json_t *ids, const json_t *have)
{
    json_t *out = json_array();
    size_t i;
    const json_t *v;
    json_array_foreach(ids, i, v) json_array_append(out, json_object_get(have, json_string_value(v)));
    return out;
}

/* The /state_ids path. Returns 0 with *pdus and *chain (new references) for the
 * checker, or -1 with why (then /state is asked). */
static int via_state_ids(hs_server *srv, const hs_room_version *rv, const char *origin, const char *room_id,
                         const char *event_id, json_t **pdus, json_t **chain, hs_fed_state_fetch_stats *st,
                         char *why, size_t why_len)
{
    char *target = state_target("state_ids", room_id, event_id);
    json_t *answer = target ? get_json(srv, origin, target, why, why_len) : NULL;
    free(target);
    if (!answer) return -1;
    const json_t *pdu_ids = json_object_get(answer, "pdu_ids"), *chain_ids = json_object_get(answer, "auth_chain_ids");
    json_t *wanted = json_object(), *have = json_object();
    const char **missing = NULL;
    size_t n_missing = 0;
    int ret = -1;
    if (collect_ids(pdu_ids, wanted, why, why_len) != 0 || collect_ids(chain_ids, wanted, why, why_len) != 0)
        goto out;
    st->ids = json_object_size(wanted);
    missing = calloc(st->ids ? st->ids : 1, sizeof *missing);
    if (!missing) {
        snprintf(why, why_len, "out of memory");
        goto out;
    }
    const char *id;
    json_t *v;
    json_object_foreach(wanted, id, v) {
        json_t *pdu = held_pdu(srv, room_id, id);
        if (pdu) json_object_set_new(have, id, pdu);
        else missing[n_missing++] = id;
    }
    st->held = st->ids - n_missing;
    if (n_missing > HS_FED_STATE_FETCH_MAX_MISSING || n_missing * 2 > st->ids) {
        snprintf(why, why_len, "%zu of its %zu events are not held here", n_missing, st->ids);
        goto out;
    }
    if (n_missing && fetch_events(srv, rv, origin, missing, n_missing, have, why, why_len) != 0) goto out;
    st->fetched = n_missing;
    *pdus = assemble(pdu_ids, have);
    *chain = assemble(chain_ids, have);
    ret = 0;
out:
    free(missing);
    json_decref(have);
    json_decref(wanted);
    json_decref(answer);
    return ret;
}

int hs_fed_state_fetch(hs_server *srv, const hs_room_version *rv, const char *origin, const char *room_id,
                       const char *event_id, hs_fed_state_set *out, hs_fed_state_fetch_stats *stats, char *msg,
                       size_t msg_len)
{
    hs_fed_state_fetch_stats local, *st = stats ? stats : &local;
    memset(st, 0, sizeof *st);
    memset(out, 0, sizeof *out);
    msg[0] = 0;
    char why[300] = "";
    json_t *pdus = NULL, *chain = NULL;
    if (via_state_ids(srv, rv, origin, room_id, event_id, &pdus, &chain, st, why, sizeof why) == 0) {
        int rc = hs_fed_state_validate(srv, rv, room_id, pdus, chain, out, msg, msg_len);
        json_decref(pdus);
        json_decref(chain);
        if (rc == 0) {
            st->via_state_ids = true;
            hs_info("fed", "state before %s from %s: /state_ids named %zu events, %zu held here, %zu fetched",
                    event_id, origin, st->ids, st->held, st->fetched);
            return 0;
        }
        snprintf(why, sizeof why, "the assembled state fails the checks: %s", msg);
    }
    hs_info("fed", "state before %s from %s: /state_ids not used (%s), asking /state", event_id, origin, why);
    char *target = state_target("state", room_id, event_id);
    char state_why[300] = "";
    json_t *answer = target ? get_json(srv, origin, target, state_why, sizeof state_why) : NULL;
    free(target);
    if (!answer) {
        hs_info("fed", "state before %s from %s: /state failed: %s", event_id, origin, state_why);
        /* A state that failed the checks stays the answer: origin sent it. */
        return msg[0] ? -1 : 1;
    }
    int rc = hs_fed_state_validate(srv, rv, room_id, json_object_get(answer, "pdus"),
                                   json_object_get(answer, "auth_chain"), out, msg, msg_len);
    json_decref(answer);
    if (rc != 0) return -1;
    st->via_state = true;
    return 0;
}
