/* hs_push_room: the room facts push rules need, read from current state once, and the
 * unread counts of /sync built on them. Invariant: an hs_push_room never changes after
 * hs_push_room_open, so one object serves any number of evaluations. */
#include "server-core/hs_push_room.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_auth.h"
#include "server-core/hs_room_version.h"
#include "server-core/hs_store_rooms.h"
#include "server-core/hs_store_search.h"

struct hs_push_room {
    char *room_id, *user_id;
    const hs_room_version *rv;
    json_t *power_levels;     /* content, or NULL */
    json_t *create;           /* content of m.room.create plus "sender", or NULL */
    char *display_name;       /* the user's, or NULL */
    int64_t members;
    int64_t read_upto;
};

/* The content of the room's current (type, "") state event, new reference or NULL;
 * with `sender`, the event's sender is added as "sender". */
static json_t *state_content(hs_store *st, const char *room_id, const char *type, bool sender)
{
    char *id = NULL;
    if (hs_store_state_get(st, room_id, type, "", &id) != 0) return NULL;
    hs_store_event ev;
    int rc = hs_store_event_get(st, id, &ev);
    free(id);
    if (rc != 0) return NULL;
    json_t *pdu = json_loads(ev.pdu_json, 0, NULL);
    hs_store_event_clear(&ev);
    json_t *c = json_incref(json_object_get(pdu, "content"));
    if (c && sender) {
        json_t *copy = json_deep_copy(c);
        json_decref(c);
        c = copy;
        json_object_set(c, "sender", json_object_get(pdu, "sender"));
    }
    json_decref(pdu);
    return c;
}

static char *display_name_of(hs_store *st, const char *room_id, const char *user_id)
{
    char *member_id = NULL, *name = NULL;
    if (hs_store_state_get(st, room_id, "m.room.member", user_id, &member_id) != 0) return NULL;
    hs_store_event ev;
    if (hs_store_event_get(st, member_id, &ev) == 0) {
        json_t *pdu = json_loads(ev.pdu_json, 0, NULL);
        const char *s = json_string_value(json_object_get(json_object_get(pdu, "content"), "displayname"));
        if (s) name = strdup(s);
        json_decref(pdu);
        hs_store_event_clear(&ev);
    }
    free(member_id);
    return name;
}

hs_push_room *hs_push_room_open(hs_store *st, const char *room_id, const char *user_id)
{
    hs_push_room *r = calloc(1, sizeof *r);
    char version[HS_STORE_ROOM_VERSION_MAX];
    if (!r || !(r->room_id = strdup(room_id)) || !(r->user_id = strdup(user_id)) ||
        hs_store_room_get(st, room_id, version) != 0 ||
        !(r->rv = hs_room_version_get(version)) || hs_store_joined_count(st, room_id, &r->members) != 0 ||
        hs_store_read_up_to(st, room_id, user_id, &r->read_upto) != 0) {
        hs_push_room_free(r);
        return NULL;
    }
    r->power_levels = state_content(st, room_id, "m.room.power_levels", false);
    r->create = state_content(st, room_id, "m.room.create", true);
    r->display_name = display_name_of(st, room_id, user_id);
    return r;
}

void hs_push_room_free(hs_push_room *r)
{
    if (!r) return;
    json_decref(r->power_levels);
    json_decref(r->create);
    free(r->display_name);
    free(r->room_id);
    free(r->user_id);
    free(r);
}

const char *hs_push_room_id(const hs_push_room *r)
{
    return r->room_id;
}

int64_t hs_push_room_read_upto(const hs_push_room *r)
{
    return r->read_upto;
}

/* The sender's power level from the current power levels (v12 creators outrank all;
 * without power levels the v1-11 creator has 100). */
static int64_t sender_power(const hs_push_room *r, const char *sender)
{
    const char *creator = json_string_value(json_object_get(r->create, "sender"));
    bool is_creator = creator && strcmp(creator, sender) == 0;
    if (r->rv->creators_infinite_power) {
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(r->create, "additional_creators"), i, v) {
            if (json_is_string(v) && strcmp(json_string_value(v), sender) == 0) is_creator = true;
        }
        if (is_creator) return INT64_MAX;
    }
    if (!r->power_levels) return is_creator ? 100 : 0;
    long long level;
    const json_t *u = json_object_get(json_object_get(r->power_levels, "users"), sender);
    if (u && hs_auth_parse_level(r->rv, u, &level)) return level;
    u = json_object_get(r->power_levels, "users_default");
    return u && hs_auth_parse_level(r->rv, u, &level) ? level : 0;
}

bool hs_push_room_evaluate(const hs_push_room *r, const json_t *ruleset, const json_t *event, hs_push_result *out)
{
    const char *sender = json_string_value(json_object_get(event, "sender"));
    hs_push_ctx pc = {.user_id = r->user_id, .display_name = r->display_name, .member_count = r->members,
                      .sender_power = sender ? sender_power(r, sender) : 0,
                      .notifications = json_object_get(r->power_levels, "notifications")};
    return hs_push_evaluate(ruleset, event, &pc, out);
}

/* ---- unread counts ----------------------------------------------------------------- */

typedef struct unread_walk {
    hs_store *st;
    const char *room_id, *user_id;
    hs_push_room *room;       /* opened at the first unread event: a read room costs one query */
    const json_t *ruleset;
    hs_push_unread *out;
    bool failed;
} unread_walk;

static int unread_event(void *ctx, const hs_store_notify_event *ne)
{
    unread_walk *w = ctx;
    json_t *pdu = json_loads(ne->pdu_json, 0, NULL);
    if (!pdu || (!w->room && !(w->room = hs_push_room_open(w->st, w->room_id, w->user_id)))) {
        json_decref(pdu);
        w->failed = true;
        return 1;
    }
    hs_push_result res;
    if (hs_push_room_evaluate(w->room, w->ruleset, pdu, &res) && res.notify) {
        w->out->notifications++;
        if (res.highlight) w->out->highlights++;
    }
    json_decref(pdu);
    return 0;
}

int hs_push_room_unread(hs_store *st, const json_t *ruleset, const char *room_id, const char *user_id, int64_t floor,
                        int64_t upto, hs_push_unread *out)
{
    out->notifications = out->highlights = 0;
    int64_t read_upto;
    if (hs_store_read_up_to(st, room_id, user_id, &read_upto) != 0) return -1;
    int64_t after = read_upto > floor ? read_upto : floor;
    unread_walk w = {.st = st, .room_id = room_id, .user_id = user_id, .ruleset = ruleset, .out = out};
    long n = after >= upto ? 0
                           : hs_store_room_notify_candidates(st, room_id, user_id, after, upto, HS_PUSH_UNREAD_SCAN,
                                                             unread_event, &w);
    hs_push_room_free(w.room);
    return n >= 0 && !w.failed ? 0 : -1;
}
