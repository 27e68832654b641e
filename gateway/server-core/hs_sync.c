/* hs_sync: the response is built section by section from bounded store queries; each
 * helper below fills one part and reports store failures through builder.failed, so
 * hs_sync_build returns either a whole response or an error, never half of one.
 *
 * Events go out in the client format of hs_room_format (redactions applied), without
 * relation aggregation: that costs extra queries per event and clients that want it
 * ask /relations. Each joined room in an answer carries the user's unread counts
 * (hs_push_room_unread, bounded by its scan cap); a room whose only news is the user's
 * own read receipt is still sent, because its counts changed.
 *
 * Memory: the answer is written out as text while it is built. Each room's JSON tree is
 * serialised into its section as soon as the room is done and freed, so a user in
 * thousands of rooms costs the answer's text plus one room's tree at a time, not a tree
 * of the whole answer (jansson's trees take about ten times their text) and then its
 * text on top. Membership rows keep their PDU only where the room's section needs it
 * (invites and knocks). */
#include "server-core/hs_sync.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_push.h"
#include "server-core/hs_push_room.h"
#include "server-core/hs_room_format.h"
#include "server-core/hs_room_visibility.h"
#include "server-core/hs_state_map.h"
#include "server-core/hs_store_history.h"
#include "server-core/hs_store_sync.h"
#include "server-core/hs_strbuf.h"

typedef struct builder {
    hs_store *st;
    const hs_sync_params *p;
    bool initial;
    hs_sync_pos since, now;
    json_t *room_account_data;   /* room_id -> array of events, changed after the token */
    json_t *changed, *left_candidates; /* device_lists: user_id -> true */
    json_t *active_events, *active_receipts; /* incremental: room_id -> true, changed after the token */
    json_t *push_rules;          /* the user's ruleset for unread counts, read at the first joined room */
    long events_left;            /* of p->max_events, after the rooms built so far */
    bool failed;
} builder;

/* A membership of the user, copied out of the store callback. */
typedef struct membership_row {
    char *room_id, *membership, *event_id, *sender;
    char *pdu_json;              /* invites and knocks only, else NULL */
    int64_t stream;
} membership_row;

typedef struct membership_list {
    membership_row *v;
    size_t n, cap;
    bool oom;
} membership_list;

static json_t *client_event(builder *b, const hs_store_sync_event *ev)
{
    hs_store_event se = {
        .stream = ev->stream,
        .event_id = (char *)ev->event_id,
        .room_id = (char *)ev->room_id,
        .pdu_json = (char *)ev->pdu_json,
        .txn_user = (char *)ev->txn_user,
        .txn_device = (char *)ev->txn_device,
        .txn_id = (char *)ev->txn_id,
    };
    hs_room_viewer who = {b->p->user_id, b->p->device_id, b->p->now_ms, false};
    json_t *j = hs_room_client_event(b->st, &se, &who);
    if (j) json_object_del(j, "room_id"); /* sync timelines carry events without room_id */
    return j;
}

/* content.membership of a member event's PDU into out ("" when absent). */
static void membership_of(const char *pdu_json, char out[16])
{
    out[0] = 0;
    json_t *pdu = json_loads(pdu_json, 0, NULL);
    const char *m = json_string_value(json_object_get(json_object_get(pdu, "content"), "membership"));
    if (m) snprintf(out, 16, "%s", m);
    json_decref(pdu);
}

/* ---- memberships ------------------------------------------------------------------- */

static int collect_membership(void *ctx, const char *membership, const hs_store_sync_event *ev)
{
    membership_list *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        membership_row *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            l->oom = true;
            return 1;
        }
        l->v = v;
        l->cap = cap;
    }
    membership_row *r = &l->v[l->n];
    /* Only invites and knocks read their PDU (stripped_room); joined rooms are the many. */
    bool keep_pdu = strcmp(membership, "invite") == 0 || strcmp(membership, "knock") == 0;
    *r = (membership_row){strdup(ev->room_id), strdup(membership), strdup(ev->event_id), strdup(ev->sender),
                          keep_pdu ? strdup(ev->pdu_json) : NULL, ev->stream};
    l->n++;
    if (!r->room_id || !r->membership || !r->event_id || !r->sender || (keep_pdu && !r->pdu_json)) {
        l->oom = true;
        return 1;
    }
    return 0;
}

static void membership_list_free(membership_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].room_id);
        free(l->v[i].membership);
        free(l->v[i].event_id);
        free(l->v[i].sender);
        free(l->v[i].pdu_json);
    }
    free(l->v);
}

/* ---- timeline ---------------------------------------------------------------------- */

typedef struct timeline {
    builder *b;
    const char *room_id;
    long limit, matched, scanned;
    bool limited;
    int64_t oldest;              /* stream of the oldest event kept (when oldest_id is set) */
    char oldest_id[256];         /* its event ID, "" when none */
    json_t *events;              /* newest first while collecting */
    json_t *ids;                 /* event_id -> true */
    json_t *senders;             /* sender -> true */
    hs_room_visibility *vis;     /* checks the events before check_before, NULL when none are */
    int64_t check_before;        /* the user's membership event: older events need a check */
} timeline;

static int timeline_event(void *ctx, const hs_store_sync_event *ev)
{
    timeline *t = ctx;
    const hs_event_filter *ef = &t->b->p->filter->timeline;
    if (++t->scanned > HS_SYNC_TIMELINE_SCAN_MAX) {
        t->limited = true;
        return 1;
    }
    json_t *content = NULL, *pdu = NULL;
    if (ef->contains_url >= 0) {
        pdu = json_loads(ev->pdu_json, 0, NULL);
        content = json_object_get(pdu, "content");
    }
    bool ok = hs_filter_event_allowed(ef, ev->type, ev->sender, t->room_id, content);
    json_decref(pdu);
    if (ok && t->vis && ev->stream < t->check_before) {
        hs_store_event se = {.stream = ev->stream, .event_id = (char *)ev->event_id, .pdu_json = (char *)ev->pdu_json};
        int visible = hs_room_visibility_check(t->vis, &se);
        if (visible < 0) t->b->failed = true;
        ok = visible == 1;
    }
    if (!ok) return 0;
    if (t->matched == t->limit) {
        t->limited = true;
        return 1;
    }
    json_t *j = client_event(t->b, ev);
    if (!j) return 0;
    json_array_append_new(t->events, j);
    json_object_set_new(t->ids, ev->event_id, json_true());
    json_object_set_new(t->senders, ev->sender, json_true());
    t->matched++;
    t->oldest = ev->stream;
    snprintf(t->oldest_id, sizeof t->oldest_id, "%s", ev->event_id);
    return 0;
}

/* The room's timeline after `after` up to `upto` into *t (events chronological). Events
 * before the user's membership event `m` are history: shown as the room's history
 * visibility allows. `after` is HS_STORE_NO_BOUND for the whole room, backfilled
 * history (negative positions) included. */
static void build_timeline(builder *b, const membership_row *m, int64_t after, int64_t upto, timeline *t)
{
    const char *room_id = m->room_id;
    *t = (timeline){.b = b, .room_id = room_id, .events = json_array(), .ids = json_object(), .senders = json_object()};
    if (after < m->stream) {
        t->check_before = m->stream;
        if (!(t->vis = hs_room_visibility_new(b->st, b->p->user_id, strcmp(m->membership, "join") == 0)))
            b->failed = true;
    }
    long max = b->p->max_timeline_events > 0 && b->p->max_timeline_events < HS_SYNC_MAX_TIMELINE_LIMIT
                   ? b->p->max_timeline_events
                   : HS_SYNC_MAX_TIMELINE_LIMIT;
    t->limit = hs_filter_limit(&b->p->filter->timeline, HS_SYNC_DEFAULT_TIMELINE_LIMIT, max);
    if (t->limit > b->events_left) t->limit = b->events_left; /* 0: an empty, limited timeline */
    if (hs_store_sync_room_events(b->st, room_id, after, upto, timeline_event, t) != 0) b->failed = true;
    hs_room_visibility_free(t->vis);
    t->vis = NULL;
    json_t *chrono = json_array();
    for (size_t i = json_array_size(t->events); i > 0; i--) json_array_append(chrono, json_array_get(t->events, i - 1));
    json_decref(t->events);
    t->events = chrono;
}

static void timeline_clear(timeline *t)
{
    json_decref(t->events);
    json_decref(t->ids);
    json_decref(t->senders);
}

/* {events, limited, prev_batch}; prev_batch pages back from just before the first event. */
static json_t *timeline_json(const timeline *t, int64_t upto)
{
    char prev[32];
    snprintf(prev, sizeof prev, "s%" PRId64, t->oldest_id[0] ? t->oldest - 1 : upto);
    return json_pack("{sOsbss}", "events", t->events, "limited", t->limited, "prev_batch", prev);
}

/* ---- state and summary ------------------------------------------------------------- */

typedef struct state_walk {
    builder *b;
    const timeline *t;
    bool all;                    /* every state event, not only the changed ones */
    bool emit;                   /* the current-state walk also fills `events` */
    int64_t since;
    const hs_event_filter *ef;
    json_t *events;
    long joined, invited;
    json_t *heroes;
} state_walk;

/* Adds one state event to the state section if the rules above keep it. */
static void emit_state(state_walk *w, const hs_store_sync_event *ev)
{
    const char *me = w->b->p->user_id;
    if (json_object_get(w->t->ids, ev->event_id)) return;
    bool changed = w->all || ev->stream > w->since;
    bool wanted;
    if (strcmp(ev->type, "m.room.member") == 0 && w->ef->lazy_load_members && ev->state_key) {
        bool sender = json_object_get(w->t->senders, ev->state_key) != NULL;
        wanted = sender || (strcmp(ev->state_key, me) == 0 && changed);
    } else {
        wanted = changed;
    }
    if (!wanted || !hs_filter_event_allowed(w->ef, ev->type, ev->sender, ev->room_id, NULL)) return;
    json_t *j = client_event(w->b, ev);
    if (j) json_array_append_new(w->events, j);
}

/* Current-state walk: member counts and heroes for the summary, and the state section
 * itself when the timeline is empty (then the current state is the state at its start). */
static int state_event(void *ctx, const hs_store_sync_event *ev)
{
    state_walk *w = ctx;
    if (strcmp(ev->type, "m.room.member") == 0 && ev->state_key) {
        char m[16];
        membership_of(ev->pdu_json, m);
        bool in = strcmp(m, "join") == 0, inv = strcmp(m, "invite") == 0;
        w->joined += in;
        w->invited += inv;
        if ((in || inv) && strcmp(ev->state_key, w->b->p->user_id) != 0 && json_array_size(w->heroes) < 5)
            json_array_append_new(w->heroes, json_string(ev->state_key));
    }
    if (w->emit) emit_state(w, ev);
    return 0;
}

/* The state section from the room state just before the timeline's first event. */
static void state_before_timeline(state_walk *w, const char *room_id)
{
    hs_state_map *map = NULL;
    if (hs_store_state_at_event(w->b->st, w->t->oldest_id, false, &map) != 0) {
        w->b->failed = true;
        return;
    }
    hs_state_entry *entries = NULL;
    long n = hs_state_map_entries(map, &entries);
    if (n < 0) w->b->failed = true;
    for (long i = 0; i < n; i++) {
        hs_store_event ev;
        if (hs_store_event_get(w->b->st, entries[i].event_id, &ev) != 0) {
            w->b->failed = true;
            break;
        }
        json_t *pdu = json_loads(ev.pdu_json, 0, NULL);
        const char *sender = json_string_value(json_object_get(pdu, "sender"));
        hs_store_sync_event se = {.stream = ev.stream, .event_id = ev.event_id, .room_id = room_id,
                                  .type = entries[i].type, .state_key = entries[i].state_key,
                                  .sender = sender ? sender : "", .pdu_json = ev.pdu_json};
        emit_state(w, &se);
        json_decref(pdu);
        hs_store_event_clear(&ev);
    }
    free(entries);
    hs_state_map_free(map);
}

/* The state section (events not in the timeline: all of them when `all`, else those
 * changed after `since`) and the counts behind the summary. */
static void build_state(builder *b, const char *room_id, int64_t upto, const timeline *t, bool all, int64_t since,
                        state_walk *w)
{
    *w = (state_walk){.b = b, .t = t, .all = all, .emit = !t->oldest_id[0], .since = since,
                      .ef = &b->p->filter->state, .events = json_array(), .heroes = json_array()};
    if (hs_store_sync_room_state(b->st, room_id, upto, state_event, w) != 0) b->failed = true;
    if (t->oldest_id[0]) state_before_timeline(w, room_id);
}

static json_t *summary_json(const state_walk *w)
{
    return json_pack("{sOsIsI}", "m.heroes", w->heroes, "m.joined_member_count", (json_int_t)w->joined,
                     "m.invited_member_count", (json_int_t)w->invited);
}

/* ---- ephemeral --------------------------------------------------------------------- */

typedef struct receipt_walk {
    const char *me;
    json_t *content;             /* event_id -> receipt type -> user -> {ts, thread_id?} */
} receipt_walk;

static int receipt_row(void *ctx, const char *type, const char *user_id, const char *thread_id, const char *event_id,
                       int64_t ts)
{
    receipt_walk *w = ctx;
    if (strcmp(type, "m.read.private") == 0 && strcmp(user_id, w->me) != 0) return 0;
    json_t *by_event = json_object_get(w->content, event_id);
    if (!by_event) {
        by_event = json_object();
        json_object_set_new(w->content, event_id, by_event);
    }
    json_t *by_type = json_object_get(by_event, type);
    if (!by_type) {
        by_type = json_object();
        json_object_set_new(by_event, type, by_type);
    }
    json_t *r = json_pack("{sI}", "ts", (json_int_t)ts);
    if (thread_id[0]) json_object_set_new(r, "thread_id", json_string(thread_id));
    json_object_set_new(by_type, user_id, r);
    return 0;
}

static json_t *build_ephemeral(builder *b, const char *room_id)
{
    json_t *events = json_array();
    const hs_event_filter *ef = &b->p->filter->ephemeral;
    if (b->p->typing && hs_filter_event_allowed(ef, "m.typing", NULL, room_id, NULL)) {
        json_t *ids = hs_typing_room(b->p->typing, room_id, b->initial ? 0 : b->since.typing);
        if (ids) json_array_append_new(events, json_pack("{sss{so}}", "type", "m.typing", "content", "user_ids", ids));
    }
    if (hs_filter_event_allowed(ef, "m.receipt", NULL, room_id, NULL)) {
        receipt_walk w = {b->p->user_id, json_object()};
        if (hs_store_receipts_each(b->st, room_id, b->initial ? 0 : b->since.receipts, b->now.receipts, receipt_row,
                                   &w) != 0)
            b->failed = true;
        if (json_object_size(w.content) > 0)
            json_array_append_new(events, json_pack("{sssO}", "type", "m.receipt", "content", w.content));
        json_decref(w.content);
    }
    return events;
}

/* ---- account data ------------------------------------------------------------------ */

typedef struct account_walk {
    builder *b;
    json_t *global;
} account_walk;

static int account_row(void *ctx, const char *room_id, const char *type, const char *content)
{
    account_walk *w = ctx;
    const hs_filter *f = w->b->p->filter;
    json_t *c = json_loads(content, 0, NULL);
    if (!c) return 0;
    json_t *ev = json_pack("{ssso}", "type", type, "content", c);
    if (!room_id[0]) {
        if (hs_filter_event_allowed(&f->account_data, type, NULL, NULL, NULL)) json_array_append(w->global, ev);
    } else if (hs_filter_event_allowed(&f->room_account_data, type, NULL, room_id, NULL)) {
        json_t *arr = json_object_get(w->b->room_account_data, room_id);
        if (!arr) {
            arr = json_array();
            json_object_set_new(w->b->room_account_data, room_id, arr);
        }
        json_array_append(arr, ev);
    }
    json_decref(ev);
    return 0;
}

static json_t *room_account_data(builder *b, const char *room_id)
{
    json_t *arr = json_object_get(b->room_account_data, room_id);
    return arr ? json_incref(arr) : json_array();
}

/* ---- rooms ------------------------------------------------------------------------- */

/* Whether the user's membership just before their membership event `m` was `membership`. */
static bool was_member(builder *b, const membership_row *m, const char *membership)
{
    char *prev_id = NULL;
    int rc = hs_store_state_at_event_get(b->st, m->event_id, false, "m.room.member", b->p->user_id, &prev_id);
    if (rc < 0) b->failed = true;
    if (rc != 0) return false;
    hs_store_event ev;
    rc = hs_store_event_get(b->st, prev_id, &ev);
    free(prev_id);
    if (rc < 0) b->failed = true;
    if (rc != 0) return false;
    char prev[16];
    membership_of(ev.pdu_json, prev);
    hs_store_event_clear(&ev);
    return strcmp(prev, membership) == 0;
}

/* The user's unread counts in a joined room (hs_push_room_unread: events after their read
 * receipt, or after their join `m` without one, that their push rules notify for; the
 * newest HS_PUSH_UNREAD_SCAN at most). */
static json_t *unread_counts(builder *b, const membership_row *m)
{
    if (!b->push_rules && !(b->push_rules = hs_push_rules_for_user(b->st, b->p->user_id))) {
        b->failed = true;
        return NULL;
    }
    hs_push_unread u;
    if (hs_push_room_unread(b->st, json_object_get(b->push_rules, "global"), m->room_id, b->p->user_id, m->stream,
                            b->now.events, &u) != 0) {
        b->failed = true;
        return NULL;
    }
    return json_pack("{sIsI}", "highlight_count", (json_int_t)u.highlights, "notification_count",
                     (json_int_t)u.notifications);
}

typedef struct own_read_walk {
    const char *me;
    bool moved;
} own_read_walk;

static int own_read_row(void *ctx, const char *type, const char *user_id, const char *thread_id, const char *event_id,
                        int64_t ts)
{
    (void)event_id;
    (void)ts;
    own_read_walk *w = ctx;
    if (strcmp(user_id, w->me) == 0 && !thread_id[0] &&
        (strcmp(type, "m.read") == 0 || strcmp(type, "m.read.private") == 0))
        w->moved = true;
    return 0;
}

/* Whether the user's own read receipt in the room moved after the token: their unread
 * counts changed then, even when the filter hides the receipt itself. */
static bool own_read_moved(builder *b, const char *room_id)
{
    if (!json_object_get(b->active_receipts, room_id)) return false;
    own_read_walk w = {b->p->user_id, false};
    if (hs_store_receipts_each(b->st, room_id, b->since.receipts, b->now.receipts, own_read_row, &w) != 0)
        b->failed = true;
    return w.moved;
}

static bool typing_changed(builder *b, const char *room_id)
{
    json_t *ids = b->p->typing ? hs_typing_room(b->p->typing, room_id, b->since.typing) : NULL;
    json_decref(ids);
    return ids != NULL;
}

/* One joined room, or NULL when an incremental sync has nothing new for it. */
/* Takes a room's timeline and state events off the response's budget. */
static void spend(builder *b, const json_t *timeline_events, const json_t *state_events)
{
    size_t n = json_array_size(timeline_events) + json_array_size(state_events);
    b->events_left = (size_t)b->events_left > n ? b->events_left - (long)n : 0;
}

static json_t *joined_room(builder *b, const membership_row *m)
{
    bool newly = !b->initial && m->stream > b->since.events && !was_member(b, m, "join");
    bool all = b->initial || newly || b->p->full_state;
    int64_t after = (b->initial || newly) ? HS_STORE_NO_BOUND : b->since.events;
    if (!all && !json_object_get(b->active_events, m->room_id) && !json_object_get(b->active_receipts, m->room_id) &&
        !json_object_get(b->room_account_data, m->room_id) && !typing_changed(b, m->room_id))
        return NULL;
    timeline t;
    build_timeline(b, m, after, b->now.events, &t);
    json_t *eph = build_ephemeral(b, m->room_id);
    json_t *acc = room_account_data(b, m->room_id);
    /* No event after the token (state changes are events too) and no ephemeral or account
     * data news: the room has nothing to say, so skip the state walk, the costly part of
     * an idle incremental sync. */
    bool read_moved = !all && json_array_size(eph) == 0 && own_read_moved(b, m->room_id);
    if (!all && t.scanned == 0 && json_array_size(eph) == 0 && json_array_size(acc) == 0 && !read_moved) {
        json_decref(eph);
        json_decref(acc);
        timeline_clear(&t);
        return NULL;
    }
    state_walk w;
    build_state(b, m->room_id, b->now.events, &t, all, b->since.events, &w);
    json_t *room = NULL;
    json_t *unread = NULL;
    if ((all || json_array_size(t.events) || json_array_size(w.events) || json_array_size(eph) ||
         json_array_size(acc) || read_moved) &&
        (unread = unread_counts(b, m))) {
        room = json_pack("{sos{sO}s{so}s{so}soso}", "timeline", timeline_json(&t, b->now.events), "state",
                         "events", w.events, "ephemeral", "events", eph, "account_data", "events", acc,
                         "unread_notifications", unread, "summary", summary_json(&w));
        eph = acc = NULL;
        spend(b, t.events, w.events);
    }
    json_decref(eph);
    json_decref(acc);
    json_decref(w.events);
    json_decref(w.heroes);
    timeline_clear(&t);
    return room;
}

/* One room the user left (or was banned from), up to their leave event. */
static json_t *left_room(builder *b, const membership_row *m)
{
    /* Someone who never got in (a rejected or withdrawn invite) sees only the leave. */
    bool was_in = was_member(b, m, "join");
    bool all = (b->initial || b->p->full_state) && was_in;
    int64_t after = !was_in ? m->stream - 1 : all ? HS_STORE_NO_BOUND : b->since.events;
    timeline t;
    build_timeline(b, m, after, m->stream, &t);
    state_walk w;
    build_state(b, m->room_id, m->stream, &t, all, was_in ? b->since.events : INT64_MAX, &w);
    json_t *room = json_pack("{sos{sO}s{so}}", "timeline", timeline_json(&t, m->stream), "state", "events",
                             w.events, "account_data", "events", room_account_data(b, m->room_id));
    spend(b, t.events, w.events);
    json_decref(w.events);
    json_decref(w.heroes);
    timeline_clear(&t);
    return room;
}

static json_t *stripped(const hs_store_sync_event *ev)
{
    json_t *pdu = json_loads(ev->pdu_json, 0, NULL);
    json_t *content = json_object_get(pdu, "content");
    content = content ? json_incref(content) : json_object();
    json_t *s = json_pack("{sssssssO}", "type", ev->type, "state_key", ev->state_key ? ev->state_key : "", "sender",
                          ev->sender, "content", content);
    json_decref(content);
    json_decref(pdu);
    return s;
}

typedef struct invite_walk {
    const membership_row *m;
    const char *me;
    json_t *events;
} invite_walk;

static int invite_state_event(void *ctx, const hs_store_sync_event *ev)
{
    static const char *const types[] = {"m.room.create",           "m.room.join_rules", "m.room.name",
                                        "m.room.avatar",           "m.room.topic",      "m.room.encryption",
                                        "m.room.canonical_alias"};
    invite_walk *w = ctx;
    bool keep = false;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) keep |= strcmp(ev->type, types[i]) == 0;
    if (strcmp(ev->type, "m.room.member") == 0 && ev->state_key)
        keep = strcmp(ev->state_key, w->me) == 0 || strcmp(ev->state_key, w->m->sender) == 0;
    if (keep) json_array_append_new(w->events, stripped(ev));
    return 0;
}

/* The stripped state a client shows an invite (knock) with: what the other server
 * attached (unsigned.invite_room_state; unsigned.knock_room_state, the answer to our
 * send_knock) plus the membership event itself, or else the room's current state when it
 * is known here. `section` is "invite_state" or "knock_state". */
static json_t *stripped_room(builder *b, const membership_row *m, const char *attached, const char *section)
{
    invite_walk w = {m, b->p->user_id, json_array()};
    json_t *pdu = json_loads(m->pdu_json, 0, NULL);
    json_t *irs = json_object_get(json_object_get(pdu, "unsigned"), attached);
    if (json_is_array(irs) && json_array_size(irs) > 0) {
        json_array_extend(w.events, irs);
        hs_store_sync_event self = {.stream = m->stream, .event_id = m->event_id, .room_id = m->room_id,
                                    .type = "m.room.member", .state_key = b->p->user_id, .sender = m->sender,
                                    .pdu_json = m->pdu_json};
        json_array_append_new(w.events, stripped(&self));
    } else if (hs_store_sync_room_state(b->st, m->room_id, b->now.events, invite_state_event, &w) != 0) {
        b->failed = true;
    }
    json_decref(pdu);
    return json_pack("{s{so}}", section, "events", w.events);
}

/* ---- device lists ------------------------------------------------------------------ */

static int set_true(void *ctx, const char *user_id)
{
    json_object_set_new(ctx, user_id, json_true());
    return 0;
}

typedef struct member_walk {
    builder *b;
    bool me_joined_here;         /* a join of the syncing user was seen in the window */
    json_t *joined_now;          /* user -> true: every member joined in the room's current state */
} member_walk;

static int member_change(void *ctx, const hs_store_sync_event *ev)
{
    member_walk *w = ctx;
    if (!ev->state_key) return 0;
    char m[16];
    membership_of(ev->pdu_json, m);
    bool self = strcmp(ev->state_key, w->b->p->user_id) == 0;
    if (strcmp(m, "join") == 0) {
        if (self) w->me_joined_here = true;
        else json_object_set_new(w->b->changed, ev->state_key, json_true());
    } else if (strcmp(m, "leave") == 0 || strcmp(m, "ban") == 0) {
        if (!self) json_object_set_new(w->b->left_candidates, ev->state_key, json_true());
    }
    return 0;
}

static int collect_joined(void *ctx, const hs_store_sync_event *ev)
{
    member_walk *w = ctx;
    if (strcmp(ev->type, "m.room.member") != 0 || !ev->state_key) return 0;
    char m[16];
    membership_of(ev->pdu_json, m);
    if (strcmp(m, "join") == 0 && strcmp(ev->state_key, w->b->p->user_id) != 0)
        json_object_set_new(w->joined_now, ev->state_key, json_true());
    return 0;
}

/* Users whose devices the client must re-fetch (changed: their keys changed, or they
 * newly share a room with us) or may forget (left: no longer share any room). */
static json_t *build_device_lists(builder *b, const membership_list *ml)
{
    json_t *changed = json_array(), *left = json_array();
    if (b->initial) return json_pack("{soso}", "changed", changed, "left", left);
    if (hs_store_sync_device_list_changes(b->st, b->p->user_id, b->since.device_lists, b->now.device_lists,
                                          set_true, b->changed) != 0)
        b->failed = true;
    for (size_t i = 0; i < ml->n; i++) {
        const membership_row *m = &ml->v[i];
        bool joined = strcmp(m->membership, "join") == 0;
        bool left_now = (strcmp(m->membership, "leave") == 0 || strcmp(m->membership, "ban") == 0) &&
                        m->stream > b->since.events && m->stream <= b->now.events;
        if (!joined && !left_now) continue;
        member_walk w = {b, false, json_object()};
        if (joined && json_object_get(b->active_events, m->room_id) && hs_store_sync_member_events(b->st, m->room_id, b->since.events, b->now.events, member_change,
                                                  &w) != 0)
            b->failed = true;
        if ((w.me_joined_here || left_now) &&
            hs_store_sync_room_state(b->st, m->room_id, b->now.events, collect_joined, &w) != 0)
            b->failed = true;
        const char *u;
        json_t *v;
        json_object_foreach(w.joined_now, u, v) json_object_set(joined ? b->changed : b->left_candidates, u, v);
        json_decref(w.joined_now);
    }
    const char *u;
    json_t *v;
    json_object_foreach(b->left_candidates, u, v) {
        bool shared = true;
        if (hs_store_sync_share_room(b->st, b->p->user_id, u, &shared) != 0) b->failed = true;
        else if (!shared) {
            json_array_append_new(left, json_string(u));
            json_object_del(b->changed, u);
        }
    }
    json_object_foreach(b->changed, u, v) json_array_append_new(changed, json_string(u));
    return json_pack("{soso}", "changed", changed, "left", left);
}

/* ---- per-device E2EE --------------------------------------------------------------- */

typedef struct to_device_walk {
    json_t *events;
    int64_t last;
} to_device_walk;

static int to_device_row(void *ctx, int64_t stream, const char *sender, const char *type, const char *content)
{
    to_device_walk *w = ctx;
    json_t *c = json_loads(content, 0, NULL);
    json_array_append_new(w->events, json_pack("{ssssso}", "sender", sender, "type", type, "content",
                                               c ? c : json_object()));
    w->last = stream;
    return 0;
}

static int otk_count(void *ctx, const char *algorithm, int64_t count)
{
    json_object_set_new(ctx, algorithm, json_integer(count));
    return 0;
}

static int fallback_type(void *ctx, const char *algorithm)
{
    json_array_append_new(ctx, json_string(algorithm));
    return 0;
}

/* ---- presence ---------------------------------------------------------------------- */

typedef struct presence_walk {
    builder *b;
    json_t *events;
} presence_walk;

static int presence_row(void *ctx, const char *user_id, const hs_store_presence *p)
{
    presence_walk *w = ctx;
    if (!hs_filter_event_allowed(&w->b->p->filter->presence, "m.presence", user_id, NULL, NULL)) return 0;
    int64_t ago = w->b->p->now_ms - p->last_active_ts;
    json_t *content = json_pack("{sssIsb}", "presence", p->state, "last_active_ago", (json_int_t)(ago < 0 ? 0 : ago),
                                "currently_active", strcmp(p->state, "online") == 0);
    if (p->has_status_msg) json_object_set_new(content, "status_msg", json_string(p->status_msg));
    json_array_append_new(w->events, json_pack("{ssssso}", "type", "m.presence", "sender", user_id, "content", content));
    return 0;
}

/* ---- the whole response ------------------------------------------------------------ */

/* One rooms.* section as text: the members of a JSON object, without its braces. */
typedef struct section {
    hs_strbuf *text;
    size_t n;                    /* rooms in it */
} section;

static int to_strbuf(const char *buffer, size_t size, void *data)
{
    hs_strbuf_append(data, buffer, size);
    return 0;
}

/* Appends `"room_id":room` to sec and frees room (NULL: nothing added, as a failed
 * json_object_set_new would have). The text is what json_dumps(JSON_COMPACT) would
 * write for the member of the section's object. An allocation failure shows in the
 * buffer (hs_strbuf_take returns NULL). */
static void section_add(section *sec, const char *room_id, json_t *room)
{
    json_t *key = room ? json_string(room_id) : NULL;
    if (key) {
        if (sec->n++) hs_strbuf_append(sec->text, ",", 1);
        if (json_dump_callback(key, to_strbuf, sec->text, JSON_COMPACT | JSON_ENCODE_ANY) != 0) sec->text->oom = true;
        hs_strbuf_append(sec->text, ":", 1);
        if (json_dump_callback(room, to_strbuf, sec->text, JSON_COMPACT) != 0) sec->text->oom = true;
    }
    json_decref(key);
    json_decref(room);
}

static void build_rooms(builder *b, const membership_list *ml, section *join, section *invite, section *knock,
                        section *leave)
{
    for (size_t i = 0; i < ml->n && !b->failed; i++) {
        const membership_row *m = &ml->v[i];
        if (m->stream > b->now.events || !hs_filter_room_allowed(b->p->filter, m->room_id)) continue;
        bool after_token = !b->initial && m->stream > b->since.events;
        json_t *room = NULL;
        if (strcmp(m->membership, "join") == 0) {
            room = joined_room(b, m);
            if (room) section_add(join, m->room_id, room);
        } else if (strcmp(m->membership, "invite") == 0) {
            if (b->initial || after_token)
                section_add(invite, m->room_id, stripped_room(b, m, "invite_room_state", "invite_state"));
        } else if (strcmp(m->membership, "knock") == 0) {
            if (b->initial || after_token)
                section_add(knock, m->room_id, stripped_room(b, m, "knock_room_state", "knock_state"));
        } else if (strcmp(m->membership, "leave") == 0 || strcmp(m->membership, "ban") == 0) {
            bool wanted = after_token || (b->p->filter->include_leave && (b->initial || b->p->full_state));
            if (wanted && !after_token) {
                int forgotten = hs_store_room_forgotten(b->st, m->room_id, b->p->user_id);
                if (forgotten < 0) b->failed = true;
                wanted = forgotten == 0;
            }
            if (wanted) section_add(leave, m->room_id, left_room(b, m));
        }
    }
}

int hs_sync_build(hs_store *st, const hs_sync_params *p, char **out, size_t *out_len, hs_sync_pos *next,
                  bool *has_updates)
{
    builder b = {.st = st, .p = p, .initial = p->since == NULL, .events_left = p->max_events > 0 ? p->max_events : LONG_MAX};
    if (p->since) b.since = *p->since;
    if (hs_store_sync_positions(st, &b.now) != 0) return -1;
    b.now.typing = p->typing ? hs_typing_serial(p->typing, p->now_ms) : 0;
    b.room_account_data = json_object();
    b.changed = json_object();
    b.left_candidates = json_object();
    b.active_events = json_object();
    b.active_receipts = json_object();
    if (!b.initial && (hs_store_sync_active_rooms(st, false, b.since.events, b.now.events, set_true,
                                                  b.active_events) != 0 ||
                       hs_store_sync_active_rooms(st, true, b.since.receipts, b.now.receipts, set_true,
                                                  b.active_receipts) != 0))
        b.failed = true;

    to_device_walk td = {json_array(), b.since.to_device};
    if (b.since.to_device > 0 && hs_store_sync_to_device_ack(st, p->user_id, p->device_id, b.since.to_device) != 0)
        b.failed = true;
    if (hs_store_sync_to_device_each(st, p->user_id, p->device_id, b.since.to_device, b.now.to_device,
                                     HS_SYNC_TO_DEVICE_LIMIT, to_device_row, &td) != 0)
        b.failed = true;
    b.now.to_device = td.last;

    account_walk aw = {&b, json_array()};
    if (hs_store_account_data_each(st, p->user_id, b.initial ? 0 : b.since.account_data, b.now.account_data,
                                   account_row, &aw) != 0)
        b.failed = true;
    /* Push rules are account data (m.push_rules) a client expects in its first sync even
     * when the user never changed one, so that sync carries the effective ruleset. */
    if (!b.failed && b.initial && hs_filter_event_allowed(&p->filter->account_data, "m.push_rules", NULL, NULL, NULL)) {
        bool have = false;
        for (size_t i = 0; i < json_array_size(aw.global) && !have; i++)
            have = strcmp(json_string_value(json_object_get(json_array_get(aw.global, i), "type")), "m.push_rules") == 0;
        json_t *rules = have ? NULL : hs_push_rules_for_user(st, p->user_id);
        if (rules) json_array_append_new(aw.global, json_pack("{ssso}", "type", "m.push_rules", "content", rules));
    }

    presence_walk pw = {&b, json_array()};
    if (hs_store_presence_each(st, p->user_id, b.initial ? 0 : b.since.presence, b.now.presence, presence_row, &pw) !=
        0)
        b.failed = true;

    /* The answer's text so far: next_batch (every stream position is known by now), then
     * rooms.join written straight in while the rooms are built; the other sections are
     * usually small and are copied in after it. Keys go out in the order a json_t of
     * the whole answer would have dumped them. */
    char token[HS_SYNC_TOKEN_MAX];
    hs_sync_token_format(&b.now, token);
    hs_strbuf text = HS_STRBUF_INIT, invite_text = HS_STRBUF_INIT, knock_text = HS_STRBUF_INIT,
              leave_text = HS_STRBUF_INIT;
    json_t *token_json = json_string(token);
    hs_strbuf_append(&text, "{\"next_batch\":", 14);
    if (!token_json || json_dump_callback(token_json, to_strbuf, &text, JSON_COMPACT | JSON_ENCODE_ANY) != 0)
        b.failed = true;
    json_decref(token_json);
    hs_strbuf_append(&text, ",\"rooms\":{\"join\":{", 18);
    section join = {&text, 0}, invite = {&invite_text, 0}, knock = {&knock_text, 0}, leave = {&leave_text, 0};

    membership_list ml = {0};
    if (hs_store_sync_memberships(st, p->user_id, collect_membership, &ml) != 0 || ml.oom) b.failed = true;
    if (!b.failed) build_rooms(&b, &ml, &join, &invite, &knock, &leave);
    json_t *device_lists = b.failed ? json_object() : build_device_lists(&b, &ml);
    membership_list_free(&ml);

    static const char *const names[] = {"},\"invite\":{", "},\"knock\":{", "},\"leave\":{"};
    hs_strbuf *rest[] = {&invite_text, &knock_text, &leave_text};
    for (size_t i = 0; i < 3; i++) {
        hs_strbuf_append(&text, names[i], strlen(names[i]));
        if (rest[i]->oom) text.oom = true;
        if (rest[i]->len) hs_strbuf_append(&text, rest[i]->data, rest[i]->len);
        free(rest[i]->data);
    }
    hs_strbuf_append(&text, "}}", 2);

    json_t *otk = json_object(), *fallback = json_array();
    if (hs_store_sync_one_time_key_counts(st, p->user_id, p->device_id, otk_count, otk) != 0 ||
        hs_store_sync_unused_fallback_types(st, p->user_id, p->device_id, fallback_type, fallback) != 0)
        b.failed = true;

    bool updates = join.n || invite.n || knock.n || leave.n || json_array_size(aw.global) ||
                   json_array_size(pw.events) || json_array_size(td.events) ||
                   json_array_size(json_object_get(device_lists, "changed")) ||
                   json_array_size(json_object_get(device_lists, "left"));
    /* The small sections after rooms, dumped as an object whose opening brace is dropped
     * so its members follow rooms' in the answer's object. */
    json_t *others = json_pack("{s{so}s{so}s{so}sososo}", "account_data", "events", aw.global, "presence", "events",
                               pw.events, "to_device", "events", td.events, "device_lists", device_lists,
                               "device_one_time_keys_count", otk, "device_unused_fallback_key_types", fallback);
    char *others_text = others ? json_dumps(others, JSON_COMPACT) : NULL;
    if (others_text) {
        hs_strbuf_append(&text, ",", 1);
        hs_strbuf_append(&text, others_text + 1, strlen(others_text + 1));
    } else {
        b.failed = true;
    }
    free(others_text);
    json_decref(others);
    json_decref(b.room_account_data);
    json_decref(b.changed);
    json_decref(b.left_candidates);
    json_decref(b.active_events);
    json_decref(b.active_receipts);
    json_decref(b.push_rules);
    size_t len = text.len;
    char *body = hs_strbuf_take(&text);
    if (b.failed || !body) {
        free(body);
        return -1;
    }
    *out = body;
    *out_len = len;
    *next = b.now;
    *has_updates = updates;
    return 0;
}
