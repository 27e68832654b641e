/* hs_room_format: client format of stored events (see hs_room_format.h). A redacted
 * event is redacted when served, never in the store: the original stays for the
 * redaction's own hash checks and for federation, which serves the redacted form too. */
#include "server-core/hs_room_format.h"

#include <string.h>

#include "server-core/hs_pdu.h"
#include "server-core/hs_redact.h"
#include "server-core/hs_room_version.h"
#include "server-core/hs_store_history.h"

/* Nesting: depth 0 is the event asked for; events shown inside it (redacted_because,
 * m.relations entries, prev_content) are depth 1 - redacted if they were, but without
 * aggregations or prev_content of their own - and a depth-1 event's redacted_because is
 * depth 2, served as stored. So formatting one event reads a bounded number of rows. */
static json_t *format(hs_store *st, const hs_store_event *ev, const hs_room_viewer *who, int depth);

static json_t *nested(hs_store *st, const char *event_id, const hs_room_viewer *who, int depth)
{
    hs_store_event ev;
    if (hs_store_event_get(st, event_id, &ev) != 0) return NULL;
    json_t *j = format(st, &ev, who, depth);
    hs_store_event_clear(&ev);
    return j;
}

static int add_relations(hs_store *st, const hs_store_event *ev, const json_t *pdu, json_t *uns,
                         const hs_room_viewer *who)
{
    const char *sender = hs_pdu_sender(pdu);
    if (hs_pdu_state_key(pdu) || !sender) return 0;
    hs_relation_summary sum;
    if (hs_store_relation_summary(st, ev->event_id, sender, who->user_id, &sum) != 0) return -1;
    json_t *rel = json_object();
    if (sum.latest_replace) {
        json_t *edit = nested(st, sum.latest_replace, who, 1);
        if (edit) json_object_set_new(rel, "m.replace", edit);
    }
    if (sum.thread_count > 0 && sum.thread_latest) {
        json_t *latest = nested(st, sum.thread_latest, who, 1);
        json_t *th = json_pack("{sI, sb}", "count", (json_int_t)sum.thread_count, "current_user_participated",
                               sum.thread_participated);
        if (latest) json_object_set_new(th, "latest_event", latest);
        json_object_set_new(rel, "m.thread", th);
    }
    hs_relation_summary_clear(&sum);
    if (json_object_size(rel)) json_object_set_new(uns, "m.relations", rel);
    else json_decref(rel);
    return 0;
}

/* For a state event: what it replaced (unsigned.replaces_state, prev_content as served,
 * so redacted if that was redacted, and prev_sender), which clients show as "changed
 * the name from A to B". */
static int add_prev_content(hs_store *st, const hs_store_event *ev, const json_t *pdu, json_t *uns,
                            const hs_room_viewer *who)
{
    const char *skey = hs_pdu_state_key(pdu), *type = hs_pdu_type(pdu);
    if (!skey || !type) return 0;
    char *prev_id = NULL;
    int rc = hs_store_state_at_event_get(st, ev->event_id, false, type, skey, &prev_id);
    if (rc != 0) return rc < 0 ? -1 : 0;
    json_t *prev = nested(st, prev_id, who, 1);
    if (prev) {
        json_object_set_new(uns, "replaces_state", json_string(prev_id));
        json_object_set(uns, "prev_content", json_object_get(prev, "content"));
        json_object_set(uns, "prev_sender", json_object_get(prev, "sender"));
        json_decref(prev);
    }
    free(prev_id);
    return prev ? 0 : -1;
}

static json_t *format(hs_store *st, const hs_store_event *ev, const hs_room_viewer *who, int depth)
{
    json_t *pdu = json_loads(ev->pdu_json, JSON_ALLOW_NUL, NULL);
    if (!pdu) return NULL;
    json_t *src = pdu;
    json_t *redacted = NULL;
    /* Events built by callers outside the room store may lack redacted_by: ask. */
    char *asked = NULL;
    const char *redacted_by = ev->redacted_by;
    if (!redacted_by && depth < 2) {
        if (hs_store_redaction_of(st, ev->event_id, &asked) < 0) {
            json_decref(pdu);
            return NULL;
        }
        redacted_by = asked;
    }
    if (redacted_by && depth < 2) {
        char version[HS_STORE_ROOM_VERSION_MAX];
        const hs_room_version *rv =
            hs_store_room_get(st, ev->room_id, version) == 0 ? hs_room_version_get(version) : NULL;
        redacted = rv ? hs_redact(pdu, rv) : NULL;
        if (!redacted) {
            free(asked);
            json_decref(pdu);
            return NULL;
        }
        src = redacted;
    }
    json_t *out = json_object();
    static const char *const keys[] = {"type", "sender", "content", "origin_server_ts", "state_key", "redacts"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get(src, keys[i]);
        if (v) json_object_set(out, keys[i], v);
    }
    /* v11 moved redacts into content; clients still read the top-level key. */
    const char *type = json_string_value(json_object_get(src, "type"));
    json_t *content_redacts = json_object_get(json_object_get(src, "content"), "redacts");
    if (type && strcmp(type, "m.room.redaction") == 0 && !json_object_get(out, "redacts") && content_redacts)
        json_object_set(out, "redacts", content_redacts);
    json_object_set_new(out, "event_id", json_string(ev->event_id));
    json_object_set_new(out, "room_id", json_string(ev->room_id));
    json_t *uns = json_object();
    json_object_set_new(uns, "age", json_integer(who->now_ms - hs_pdu_origin_server_ts(pdu)));
    if (ev->txn_id && who->device_id && strcmp(ev->txn_user, who->user_id) == 0 &&
        strcmp(ev->txn_device, who->device_id) == 0)
        json_object_set_new(uns, "transaction_id", json_string(ev->txn_id));
    int rc = depth == 0 ? add_prev_content(st, ev, pdu, uns, who) : 0;
    if (rc == 0 && redacted) {
        json_t *because = nested(st, redacted_by, who, depth + 1);
        if (because) json_object_set_new(uns, "redacted_because", because);
        else rc = -1;
    } else if (rc == 0 && who->aggregate && depth == 0) {
        rc = add_relations(st, ev, pdu, uns, who);
    }
    json_object_set_new(out, "unsigned", uns);
    free(asked);
    json_decref(pdu);
    json_decref(redacted);
    if (rc != 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

json_t *hs_room_client_event(hs_store *st, const hs_store_event *ev, const hs_room_viewer *who)
{
    return format(st, ev, who, 0);
}

json_t *hs_room_client_event_by_id(hs_store *st, const char *event_id, const hs_room_viewer *who)
{
    return nested(st, event_id, who, 0);
}
