/* hs_room_visibility: history visibility per event (rules in hs_room_visibility.h). The
 * inputs are the history_visibility setting and the user's membership in the state
 * before the event, both read from the state groups (hs_store_history). */
#include "server-core/hs_room_visibility.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_pdu.h"
#include "server-core/hs_store_history.h"

struct hs_room_visibility {
    hs_store *st;
    char *user_id;
    bool joined_now;
    int64_t cached_group;     /* -1: nothing cached */
    char visibility[32];
    char membership[32];
};

hs_room_visibility *hs_room_visibility_new(hs_store *st, const char *user_id, bool joined_now)
{
    hs_room_visibility *v = calloc(1, sizeof *v);
    if (!v || !(v->user_id = strdup(user_id))) {
        free(v);
        return NULL;
    }
    v->st = st;
    v->joined_now = joined_now;
    v->cached_group = -1;
    return v;
}

void hs_room_visibility_free(hs_room_visibility *v)
{
    if (!v) return;
    free(v->user_id);
    free(v);
}

/* content[field] of the event with this ID into out ("" when absent). */
static int content_field(hs_store *st, const char *event_id, const char *field, char out[32])
{
    out[0] = 0;
    hs_store_event ev;
    if (hs_store_event_get(st, event_id, &ev) != 0) return -1;
    json_t *pdu = json_loads(ev.pdu_json, JSON_ALLOW_NUL, NULL);
    hs_store_event_clear(&ev);
    if (!pdu) return -1;
    const char *v = json_string_value(json_object_get(hs_pdu_content(pdu), field));
    snprintf(out, 32, "%s", v ? v : "");
    json_decref(pdu);
    return 0;
}

/* content[field] of state (type, key) before the event; "" when the state has none. */
static int state_field(hs_store *st, const char *event_id, const char *type, const char *key, const char *field,
                       char out[32])
{
    out[0] = 0;
    char *id = NULL;
    int rc = hs_store_state_at_event_get(st, event_id, false, type, key, &id);
    if (rc != 0) return rc < 0 ? -1 : 0;
    rc = content_field(st, id, field, out);
    free(id);
    return rc;
}

int hs_room_visibility_current(hs_store *st, const char *room_id, char out[32])
{
    snprintf(out, 32, "shared");
    char *id = NULL;
    int rc = hs_store_state_get(st, room_id, "m.room.history_visibility", "", &id);
    if (rc != 0) return rc < 0 ? -1 : 0;
    rc = content_field(st, id, "history_visibility", out);
    free(id);
    if (rc == 0 && !out[0]) snprintf(out, 32, "shared");
    return rc;
}

/* Ranks settings from least to most permissive. */
static int openness(const char *vis)
{
    static const char *const order[] = {"joined", "invited", "shared", "world_readable"};
    for (int i = 0; i < 4; i++)
        if (strcmp(vis, order[i]) == 0) return i;
    return 2; /* unknown values count as the default, shared */
}

int hs_room_visibility_check(hs_room_visibility *v, const hs_store_event *ev)
{
    int64_t before, after;
    int rc = hs_store_event_state_groups(v->st, ev->event_id, &before, &after);
    if (rc != 0) return -1;
    if (before != v->cached_group) {
        if (state_field(v->st, ev->event_id, "m.room.history_visibility", "", "history_visibility",
                        v->visibility) != 0 ||
            state_field(v->st, ev->event_id, "m.room.member", v->user_id, "membership", v->membership) != 0)
            return -1;
        if (!v->visibility[0]) snprintf(v->visibility, sizeof v->visibility, "shared");
        v->cached_group = before;
    }
    json_t *pdu = json_loads(ev->pdu_json, JSON_ALLOW_NUL, NULL);
    if (!pdu) return -1;
    const char *type = hs_pdu_type(pdu), *skey = hs_pdu_state_key(pdu);
    bool own_member = type && skey && strcmp(type, "m.room.member") == 0 && strcmp(skey, v->user_id) == 0;
    const char *vis = v->visibility;
    const char *new_vis = type && skey && strcmp(type, "m.room.history_visibility") == 0
                              ? json_string_value(json_object_get(hs_pdu_content(pdu), "history_visibility"))
                              : NULL;
    if (new_vis && openness(new_vis) > openness(vis)) vis = new_vis;
    int visible = own_member || strcmp(vis, "world_readable") == 0 || strcmp(v->membership, "join") == 0 ||
                  (strcmp(vis, "invited") == 0 && strcmp(v->membership, "invite") == 0) ||
                  (openness(vis) >= openness("shared") && v->joined_now);
    json_decref(pdu);
    return visible;
}
