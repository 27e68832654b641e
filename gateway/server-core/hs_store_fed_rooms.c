/* hs_store_fed_rooms: the SQL behind hs_store_fed_rooms.h. It writes the room-ops
 * tables (events, event_state, state_groups, current_state, forward_extremities,
 * redactions, event_relations) with the same meaning hs_store_rooms/hs_store_history
 * give them - the state-group and history rows through hs_store_history's own writers
 * (hs_store_rooms_internal.h) - so every reader of rooms (messages, sync, state at an
 * event) sees remote events exactly like local ones. Each write runs in
 * hs_store_transact. */
#include "server-core/hs_store_fed_rooms.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_pdu.h"
#include "server-core/hs_store_history.h"
#include "server-core/hs_store_internal.h"
#include "server-core/hs_store_rooms_internal.h"

static int run(sqlite3_stmt *s)
{
    if (!s) return SQLITE_ERROR;
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc;
}

/* ---- state groups ------------------------------------------------------------------- */

/* A new full-snapshot group holding `map`. */
static int write_snapshot(sqlite3 *db, const char *room_id, const hs_state_map *map, int64_t *out)
{
    sqlite3_stmt *s = hs_store_prep(db, "INSERT INTO state_groups (room_id, prev_group, chain_len) VALUES (?1,"
                                    " NULL, 0)");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, room_id);
    if (run(s) != SQLITE_DONE) return -1;
    *out = sqlite3_last_insert_rowid(db);
    hs_state_entry *e = NULL;
    long n = map ? hs_state_map_entries(map, &e) : 0;
    if (n < 0) return -1;
    int ret = 0;
    for (long i = 0; i < n && ret == 0; i++) {
        s = hs_store_prep(db, "INSERT INTO state_group_entries (group_id, type, state_key, event_id) VALUES (?1,"
                          " ?2, ?3, ?4)");
        if (!s) {
            ret = -1;
            break;
        }
        sqlite3_bind_int64(s, 1, *out);
        hs_store_bind_text_or_null(s, 2, e[i].type);
        hs_store_bind_text_or_null(s, 3, e[i].state_key);
        hs_store_bind_text_or_null(s, 4, e[i].event_id);
        if (run(s) != SQLITE_DONE) ret = -1;
    }
    free(e);
    return ret;
}

static int chain_len(sqlite3 *db, int64_t group, int64_t *out)
{
    sqlite3_stmt *s = hs_store_prep(db, "SELECT chain_len FROM state_groups WHERE group_id = ?1");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, group);
    int rc = sqlite3_step(s);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* The group after a state event whose state before is group `base`: a delta of one
 * entry over it, or a snapshot when the delta chain would get too long. */
static int write_after(sqlite3 *db, const hs_store_new_event *ev, int64_t base, int64_t *out)
{
    int64_t len;
    if (chain_len(db, base, &len) != 0) return -1;
    return hs_store_history__new_group(db, ev, base, len, out);
}

/* ---- rows of one event -------------------------------------------------------------- */

/* Inserts the event row and its history rows with the given groups. 1 when it exists.
 * An outlier (an event held as state or auth only, hs_store_rooms.h) is flagged so no
 * timeline shows it; its stream ordering still says when we learned it, which is what
 * /sync's state section goes by. */
static int insert_event(sqlite3 *db, const hs_store_new_event *ev, bool outlier, int64_t before, int64_t after,
                        int64_t *stream)
{
    int rc = hs_store_history__insert_event(db, ev, 0, outlier, before, after, stream);
    return rc != 0 ? rc : hs_store_history__event_rows(db, ev);
}

static int set_extremities(sqlite3 *db, const char *room_id, const char *const *ids, size_t n)
{
    sqlite3_stmt *s = hs_store_prep(db, "DELETE FROM forward_extremities WHERE room_id = ?1");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, room_id);
    if (run(s) != SQLITE_DONE) return -1;
    for (size_t i = 0; i < n; i++) {
        s = hs_store_prep(db, "INSERT OR IGNORE INTO forward_extremities (room_id, event_id) VALUES (?1, ?2)");
        if (!s) return -1;
        hs_store_bind_text_or_null(s, 1, room_id);
        hs_store_bind_text_or_null(s, 2, ids[i]);
        if (run(s) != SQLITE_DONE) return -1;
    }
    return 0;
}

/* One current_state row; membership is read from the stored member event. */
static int put_current(sqlite3 *db, const char *room_id, const char *type, const char *state_key,
                       const char *event_id)
{
    sqlite3_stmt *s = hs_store_prep(db, "INSERT INTO current_state (room_id, type, state_key, event_id, membership)"
                               " VALUES (?1, ?2, ?3, ?4, CASE WHEN ?2 = 'm.room.member' THEN (SELECT"
                               " json_extract(pdu, '$.content.membership') FROM events WHERE event_id = ?4) END)"
                               " ON CONFLICT (room_id, type, state_key)"
                               " DO UPDATE SET event_id = excluded.event_id, membership = excluded.membership");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, room_id);
    hs_store_bind_text_or_null(s, 2, type);
    hs_store_bind_text_or_null(s, 3, state_key);
    hs_store_bind_text_or_null(s, 4, event_id);
    return run(s) == SQLITE_DONE ? 0 : -1;
}

static int replace_current(sqlite3 *db, const char *room_id, const hs_state_map *map)
{
    sqlite3_stmt *s = hs_store_prep(db, "DELETE FROM current_state WHERE room_id = ?1");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, room_id);
    if (run(s) != SQLITE_DONE) return -1;
    hs_state_entry *e = NULL;
    long n = hs_state_map_entries(map, &e);
    if (n < 0) return -1;
    int ret = 0;
    for (long i = 0; i < n && ret == 0; i++) ret = put_current(db, room_id, e[i].type, e[i].state_key, e[i].event_id);
    free(e);
    return ret;
}

/* ---- remote events ------------------------------------------------------------------ */

typedef struct persist_arg {
    const hs_store_fed_event *fe;
    int64_t stream;
} persist_arg;

static int persist_steps(sqlite3 *db, void *varg)
{
    persist_arg *a = varg;
    const hs_store_fed_event *fe = a->fe;
    const hs_store_new_event *ev = fe->ev;
    int64_t before = 0, after;
    int rc = fe->before_from ? hs_store_history__event_group(db, fe->before_from, true, &before) : 1;
    if (rc < 0 || (rc == 1 && !fe->before)) return -1;
    if (rc == 1 && write_snapshot(db, ev->room_id, fe->before, &before) != 0) return -1;
    after = before;
    if (ev->state_key && write_after(db, ev, before, &after) != 0) return -1;
    /* An outlier with ev's ID becomes a timeline event where a new event would go. */
    rc = hs_store_history__promote(db, ev, 0, before, after, &a->stream);
    if (rc == 1) rc = insert_event(db, ev, false, before, after, &a->stream);
    if (rc != 0) return rc;
    if (set_extremities(db, ev->room_id, fe->extremities, fe->n_extremities) != 0) return -1;
    if (fe->head == HS_STORE_FED_HEAD_EXTEND) {
        if (ev->state_key && put_current(db, ev->room_id, ev->type, ev->state_key, ev->event_id) != 0) return -1;
        return hs_store_history__set_head(db, ev->room_id, after);
    }
    int64_t cur;
    if (write_snapshot(db, ev->room_id, fe->current, &cur) != 0) return -1;
    if (replace_current(db, ev->room_id, fe->current) != 0) return -1;
    return hs_store_history__set_head(db, ev->room_id, cur);
}

int hs_store_fed_event_persist(hs_store *st, const hs_store_fed_event *fe, int64_t *stream_out)
{
    if (fe->head == HS_STORE_FED_HEAD_RESOLVED && !fe->current) return -1;
    persist_arg a = {fe, 0};
    int rc = hs_store_transact(st, persist_steps, &a);
    if (rc == 0) *stream_out = a.stream;
    return rc;
}

typedef struct join_arg {
    const char *room_id, *version, *creator;
    const hs_store_new_event *others;
    size_t n;
    const hs_state_map *state;
    const hs_store_new_event *join;
    int64_t stream;
} join_arg;

/* 1 if the room row exists and its state has a create event (a real room), 0, -1. */
static int room_is_real(sqlite3 *db, const char *room_id)
{
    sqlite3_stmt *s = hs_store_prep(db, "SELECT 1 FROM current_state WHERE room_id = ?1 AND type = 'm.room.create'");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, room_id);
    int rc = run(s);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int join_steps(sqlite3 *db, void *varg)
{
    join_arg *a = varg;
    int rc = room_is_real(db, a->room_id);
    if (rc < 0) return -1;
    /* A room we hold already (a rejoin) keeps its row; a stub's row is completed. */
    sqlite3_stmt *s = hs_store_prep(db, rc ? "SELECT"
                                    " 1" : "INSERT INTO rooms (room_id, room_version, creator, is_public,"
                                                 " created_ts) VALUES (?1, ?2, ?3, 0, ?4) ON CONFLICT (room_id)"
                                                 " DO UPDATE SET room_version = excluded.room_version,"
                                                 " creator = excluded.creator");
    if (!s) return -1;
    if (!rc) {
        hs_store_bind_text_or_null(s, 1, a->room_id);
        hs_store_bind_text_or_null(s, 2, a->version);
        hs_store_bind_text_or_null(s, 3, a->creator);
        sqlite3_bind_int64(s, 4, a->join->origin_server_ts);
    }
    rc = run(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return -1;
    int64_t group, after, stream;
    if (write_snapshot(db, a->room_id, a->state, &group) != 0) return -1;
    for (size_t i = 0; i < a->n; i++) {
        rc = insert_event(db, &a->others[i], true, group, group, &stream);
        if (rc < 0) return -1; /* 1: listed twice (state and auth chain); once is enough */
    }
    if (write_after(db, a->join, group, &after) != 0) return -1;
    rc = insert_event(db, a->join, false, group, after, &a->stream);
    if (rc != 0) return rc;
    const char *ext[] = {a->join->event_id};
    if (set_extremities(db, a->room_id, ext, 1) != 0) return -1;
    hs_state_map *cur = hs_state_map_copy(a->state);
    rc = cur && hs_state_map_set(cur, a->join->type, a->join->state_key, a->join->event_id) == 0
             ? replace_current(db, a->room_id, cur) : -1;
    hs_state_map_free(cur);
    if (rc != 0) return -1;
    return hs_store_history__set_head(db, a->room_id, after);
}

int hs_store_fed_join_persist(hs_store *st, const char *room_id, const char *room_version, const char *creator,
                              const hs_store_new_event *others, size_t n, const hs_state_map *state,
                              const hs_store_new_event *join, int64_t *stream_out)
{
    join_arg a = {room_id, room_version, creator, others, n, state, join, 0};
    int rc = hs_store_transact(st, join_steps, &a);
    if (rc == 0) *stream_out = a.stream;
    return rc;
}

typedef struct outliers_arg {
    const char *room_id;
    const hs_store_new_event *rows;
    size_t n;
    const hs_state_map *state;
} outliers_arg;

static int outliers_steps(sqlite3 *db, void *varg)
{
    outliers_arg *a = varg;
    int64_t group = 0, stream;
    for (size_t i = 0; i < a->n; i++) {
        sqlite3_stmt *s = hs_store_prep(db, "SELECT 1 FROM events WHERE event_id = ?1");
        if (!s) return -1;
        hs_store_bind_text_or_null(s, 1, a->rows[i].event_id);
        int rc = run(s);
        if (rc == SQLITE_ROW) continue;
        if (rc != SQLITE_DONE) return -1;
        if (!group && write_snapshot(db, a->room_id, a->state, &group) != 0) return -1;
        if (insert_event(db, &a->rows[i], true, group, group, &stream) < 0) return -1;
    }
    return 0;
}

int hs_store_fed_outliers_put(hs_store *st, const char *room_id, const hs_store_new_event *rows, size_t n,
                              const hs_state_map *state)
{
    outliers_arg a = {room_id, rows, n, state};
    return hs_store_transact(st, outliers_steps, &a);
}

typedef struct invite_arg {
    const char *version;
    const hs_store_new_event *ev;
    int64_t stream;
} invite_arg;

static int invite_steps(sqlite3 *db, void *varg)
{
    invite_arg *a = varg;
    const hs_store_new_event *ev = a->ev;
    int rc = room_is_real(db, ev->room_id);
    if (rc != 0) return rc;
    sqlite3_stmt *s = hs_store_prep(db, "INSERT OR IGNORE INTO rooms (room_id, room_version, creator, is_public,"
                                    " created_ts)"
                               " VALUES (?1, ?2, ?3, 0, ?4)");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, ev->room_id);
    hs_store_bind_text_or_null(s, 2, a->version);
    hs_store_bind_text_or_null(s, 3, ev->sender);
    sqlite3_bind_int64(s, 4, ev->origin_server_ts);
    if (run(s) != SQLITE_DONE) return -1;
    hs_state_map *after = hs_state_map_new();
    int64_t group;
    rc = after && hs_state_map_set(after, ev->type, ev->state_key, ev->event_id) == 0
             ? write_snapshot(db, ev->room_id, after, &group) : -1;
    hs_state_map_free(after);
    if (rc != 0) return -1;
    rc = insert_event(db, ev, false, 0, group, &a->stream);
    if (rc != 0) return rc;
    if (put_current(db, ev->room_id, ev->type, ev->state_key, ev->event_id) != 0) return -1;
    return hs_store_history__set_head(db, ev->room_id, group);
}

int hs_store_fed_stub_membership(hs_store *st, const char *room_version, const hs_store_new_event *invite)
{
    invite_arg a = {room_version, invite, 0};
    return hs_store_transact(st, invite_steps, &a);
}

int hs_store_fed_room_is_stub(hs_store *st, const char *room_id)
{
    sqlite3 *db = hs_store_sqlite(st);
    sqlite3_stmt *s = hs_store_prep(db, "SELECT 1 FROM rooms WHERE room_id = ?1");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, room_id);
    int rc = run(s);
    if (rc == SQLITE_DONE) return 0;
    if (rc != SQLITE_ROW) return -1;
    rc = room_is_real(db, room_id);
    return rc < 0 ? -1 : !rc;
}

/* ---- transactions and soft failures ------------------------------------------------- */

int hs_store_fed_txn_get(hs_store *st, const char *origin, const char *txn_id, char **response)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT response FROM fed_txn_in WHERE origin = ?1 AND txn_id = ?2");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, origin);
    hs_store_bind_text_or_null(s, 2, txn_id);
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
    if (ret == 0 && !(*response = strdup((const char *)sqlite3_column_text(s, 0)))) ret = -1;
    sqlite3_finalize(s);
    return ret;
}

int hs_store_fed_txn_put(hs_store *st, const char *origin, const char *txn_id, const char *response, int64_t now_ms)
{
    sqlite3_stmt *s = hs_store_stmt(st, "INSERT OR REPLACE INTO fed_txn_in (origin, txn_id, response,"
                                                " received_ts) VALUES (?1, ?2, ?3, ?4)");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, origin);
    hs_store_bind_text_or_null(s, 2, txn_id);
    hs_store_bind_text_or_null(s, 3, response);
    sqlite3_bind_int64(s, 4, now_ms);
    return run(s) == SQLITE_DONE ? 0 : -1;
}

/* A state map as JSON text [[type, state_key, event_id], ...]: unambiguous for any
 * strings (a "type|state_key" key would not be). */
static char *state_text(const hs_state_map *map)
{
    hs_state_entry *e = NULL;
    long n = hs_state_map_entries(map, &e);
    if (n < 0) return NULL;
    json_t *arr = json_array();
    for (long i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("[sss]", e[i].type, e[i].state_key, e[i].event_id));
    free(e);
    char *text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return text;
}

int hs_store_fed_soft_failed_put(hs_store *st, const char *event_id, const char *room_id, const char *pdu_json,
                                 const hs_state_map *state_after)
{
    char *state = state_text(state_after);
    if (!state) return -1;
    sqlite3_stmt *s = hs_store_stmt(st, "INSERT OR IGNORE INTO fed_soft_failed (event_id, room_id, pdu,"
                                                " state_after) VALUES (?1, ?2, ?3, ?4)");
    int ret = -1;
    if (s) {
        hs_store_bind_text_or_null(s, 1, event_id);
        hs_store_bind_text_or_null(s, 2, room_id);
        hs_store_bind_text_or_null(s, 3, pdu_json);
        hs_store_bind_text_or_null(s, 4, state);
        ret = run(s) == SQLITE_DONE ? 0 : -1;
    }
    free(state);
    return ret;
}

int hs_store_fed_soft_failed_state(hs_store *st, const char *event_id, hs_state_map **out)
{
    *out = NULL;
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT state_after FROM fed_soft_failed WHERE event_id = ?1");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, event_id);
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
    json_t *arr = ret == 0 ? json_loads((const char *)sqlite3_column_text(s, 0), 0, NULL) : NULL;
    sqlite3_finalize(s);
    if (ret != 0) return ret;
    hs_state_map *map = hs_state_map_new();
    size_t i;
    json_t *t;
    if (!arr || !map) ret = -1;
    json_array_foreach(arr, i, t) {
        if (ret == 0 && hs_state_map_set(map, json_string_value(json_array_get(t, 0)),
                                         json_string_value(json_array_get(t, 1)),
                                         json_string_value(json_array_get(t, 2))) != 0)
            ret = -1;
    }
    json_decref(arr);
    if (ret == 0) *out = map;
    else hs_state_map_free(map);
    return ret;
}

int hs_store_fed_soft_failed(hs_store *st, const char *event_id)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT 1 FROM fed_soft_failed WHERE event_id = ?1");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, event_id);
    int rc = run(s);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int hs_store_fed_soft_failed_get(hs_store *st, const char *event_id, char **pdu_json)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT pdu FROM fed_soft_failed WHERE event_id = ?1");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, event_id);
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
    if (ret == 0 && !(*pdu_json = strdup((const char *)sqlite3_column_text(s, 0)))) ret = -1;
    sqlite3_finalize(s);
    return ret;
}

int hs_store_fed_current_state(hs_store *st, const char *room_id, hs_state_map **out)
{
    *out = NULL;
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT type, state_key, event_id FROM current_state"
                                                " WHERE room_id = ?1");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, room_id);
    hs_state_map *map = hs_state_map_new();
    int rc = SQLITE_NOMEM;
    while (map && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (hs_state_map_set(map, (const char *)sqlite3_column_text(s, 0), (const char *)sqlite3_column_text(s, 1),
                             (const char *)sqlite3_column_text(s, 2)) != 0) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        hs_state_map_free(map);
        return -1;
    }
    *out = map;
    return 0;
}

int hs_store_fed_joined_servers(hs_store *st, const char *room_id, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT state_key FROM current_state WHERE room_id = ?1"
                                                " AND type = 'm.room.member' AND membership = 'join'");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, room_id);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *server = hs_id_server_name((const char *)sqlite3_column_text(s, 0));
        if (!server) continue;
        bool seen = false;
        for (size_t i = 0; i < *n && !seen; i++) seen = strcmp((*names)[i], server) == 0;
        if (seen) continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 4;
            char **grown = realloc(*names, cap * sizeof *grown);
            if (!grown) break;
            *names = grown;
        }
        if (!((*names)[*n] = strdup(server))) break;
        (*n)++;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        hs_store_free_strings(*names, *n);
        *names = NULL;
        *n = 0;
        return -1;
    }
    return 0;
}
