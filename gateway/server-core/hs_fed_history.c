/* hs_fed_history: the history fetched with a join (see hs_fed_history.h). The checks
 * are hs_fed_state_validate's, run on a small set: the room's create event as the
 * "state", and as the "auth chain" the fetched events plus the auth events (and their
 * auth events, transitively) they cite from the join's validated events. */
#include "server-core/hs_fed_history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_event_id.h"
#include "server-core/hs_fed.h"
#include "server-core/hs_fed_rooms.h"
#include "server-core/hs_log.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_server.h"

#define MAX_FETCHED 100

/* GET /backfill on server from the join's prev_events; the answer's pdus (new
 * reference) or NULL. */
static json_t *fetch(hs_server *srv, const char *server, const char *room_id, const json_t *join, size_t limit)
{
    char *room = hs_fed_pct_encode(room_id);
    if (!room) return NULL;
    size_t cap = 256 + strlen(room) + hs_pdu_prev_event_count(join) * 800;
    char *target = malloc(cap);
    if (!target) {
        free(room);
        return NULL;
    }
    int len = snprintf(target, cap, "/_matrix/federation/v1/backfill/%s?limit=%zu", room, limit);
    free(room);
    for (size_t i = 0; i < hs_pdu_prev_event_count(join) && len > 0 && (size_t)len < cap; i++) {
        char *v = hs_fed_pct_encode(hs_pdu_prev_event(join, i));
        if (v) len += snprintf(target + len, cap - (size_t)len, "&v=%s", v);
        free(v);
    }
    hs_fed_out out = {server, "GET", target, NULL, true};
    hs_fed_reply reply;
    hs_err err = {{0}};
    json_t *pdus = NULL;
    if (hs_fed_send(srv, &out, &reply, &err) != 0) {
        hs_info("fed", "history of %s from %s: %s", room_id, server, err.msg);
    } else if (reply.status != 200) {
        hs_info("fed", "history of %s from %s: HTTP %ld", room_id, server, reply.status);
    } else {
        json_t *answer = hs_cjson_parse(reply.body, reply.body_len, (size_t)srv->cfg.max_request_body_bytes * 4,
                                        HS_CJSON_LAX_INTS, &err);
        pdus = json_object_get(answer, "pdus");
        if (json_is_array(pdus)) json_incref(pdus);
        else pdus = NULL;
        json_decref(answer);
    }
    hs_fed_reply_free(&reply);
    free(target);
    return pdus;
}

static int by_depth(const void *a, const void *b)
{
    long long da = hs_pdu_depth(json_array_get(*(json_t *const *)a, 1));
    long long db = hs_pdu_depth(json_array_get(*(json_t *const *)b, 1));
    return da < db ? -1 : da > db;
}

json_t *hs_fed_join_history(hs_server *srv, const char *server, const hs_room_version *rv, const char *room_id,
                            const json_t *join, const json_t *known, size_t limit)
{
    json_t *out = json_array();
    json_t *pdus = out ? fetch(srv, server, room_id, join, limit) : NULL;
    if (!pdus) return out;
    /* The fetched events we do not hold: ID -> PDU. */
    json_t *fresh = json_object();
    size_t i;
    json_t *pdu;
    json_array_foreach(pdus, i, pdu) {
        if (i >= MAX_FETCHED || json_object_size(fresh) >= limit) break;
        hs_err err;
        char *id = json_is_object(pdu) ? hs_event_id_compute(pdu, rv, &err) : NULL;
        if (id && !json_object_get(known, id)) json_object_set(fresh, id, pdu);
        free(id);
    }
    /* The auth events they cite from the join's events, transitively. */
    json_t *chain = json_array(), *queue = json_array(), *seen = json_object();
    const char *id;
    json_object_foreach(fresh, id, pdu) {
        json_array_append(chain, pdu);
        for (size_t k = 0; k < hs_pdu_auth_event_count(pdu); k++)
            json_array_append_new(queue, json_string(hs_pdu_auth_event(pdu, k)));
    }
    char create_id[300];
    snprintf(create_id, sizeof create_id, "$%s", room_id + 1);
    const json_t *create = rv->room_id_from_create ? json_object_get(known, create_id) : NULL;
    for (i = 0; i < json_array_size(queue); i++) {
        const char *aid = json_string_value(json_array_get(queue, i));
        const json_t *a = aid && !json_object_get(seen, aid) ? json_object_get(known, aid) : NULL;
        if (!a) continue;
        json_object_set_new(seen, aid, json_true());
        json_array_append(chain, (json_t *)a);
        if (strcmp(hs_pdu_type(a) ? hs_pdu_type(a) : "", "m.room.create") == 0) create = a;
        for (size_t k = 0; k < hs_pdu_auth_event_count(a); k++)
            json_array_append_new(queue, json_string(hs_pdu_auth_event(a, k)));
    }
    json_decref(queue);
    json_decref(seen);
    hs_fed_state_set set = {0};
    char msg[512] = "";
    json_t *state = create ? json_pack("[O]", create) : NULL;
    if (json_object_size(fresh) == 0) {
        /* nothing before the join that we lack */
    } else if (!state) {
        hs_info("fed", "history of %s from %s: no create event among the cited auth events", room_id, server);
    } else if (hs_fed_state_validate(srv, rv, room_id, state, chain, &set, msg, sizeof msg) != 0) {
        hs_info("fed", "history of %s from %s refused: %s", room_id, server, msg);
    } else {
        json_object_foreach(fresh, id, pdu) {
            json_t *checked = json_object_get(set.events, id);
            if (checked) json_array_append_new(out, json_pack("[sO]", id, checked));
        }
        size_t n = json_array_size(out);
        json_t **v = malloc((n ? n : 1) * sizeof *v);
        if (v) {
            for (i = 0; i < n; i++) v[i] = json_incref(json_array_get(out, i));
            qsort(v, n, sizeof *v, by_depth);
            json_array_clear(out);
            for (i = 0; i < n; i++) json_array_append_new(out, v[i]);
            free(v);
        }
    }
    hs_fed_state_set_clear(&set);
    json_decref(state);
    json_decref(chain);
    json_decref(fresh);
    json_decref(pdus);
    return out;
}
