/* hs_store_rooms: the SQL behind hs_store_rooms.h.
 *
 * The store has one connection in serialized mode, shared by all worker threads, so a
 * plain BEGIN would let other threads' statements slip into our transaction. The
 * append therefore holds the connection's own (recursive) mutex from BEGIN to COMMIT:
 * other threads wait for the whole transaction, which is a handful of row writes.
 * Reads need no such care: each is one statement. */
#include "server-core/hs_store_rooms.h"

#include <stdlib.h>
#include <string.h>

#include "server-core/hs_store_history.h"
#include "server-core/hs_store_internal.h"
#include "server-core/hs_store_rooms_internal.h"

/* Runs a prepared statement to completion and finalizes it. Returns the SQLite code. */
static int run(sqlite3_stmt *s)
{
    if (!s) return SQLITE_ERROR;
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc;
}

static int append_steps(hs_store *st, sqlite3 *db, const hs_store_new_event *ev, int64_t *stream_out)
{
    sqlite3_stmt *s;
    if (ev->new_room_version) {
        s = hs_store_prep(db, "INSERT INTO rooms (room_id, room_version, creator, is_public, created_ts)"
                     " VALUES (?1, ?2, ?3, ?4, ?5)");
        if (!s) return -1;
        sqlite3_bind_text(s, 1, ev->room_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 2, ev->new_room_version, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 3, ev->sender, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(s, 4, ev->new_room_public ? 1 : 0);
        sqlite3_bind_int64(s, 5, ev->origin_server_ts);
        int rc = run(s);
        if (rc == SQLITE_CONSTRAINT) return 1;
        if (rc != SQLITE_DONE) return -1;
    }
    if (ev->txn_id) {
        s = hs_store_prep(db, "SELECT 1 FROM event_txns WHERE user_id = ?1 AND device_id = ?2 AND txn_id = ?3"
                              " AND room_id = ?4 AND scope = ?5");
        if (!s) return -1;
        sqlite3_bind_text(s, 1, ev->txn_user, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 2, ev->txn_device, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 3, ev->txn_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 4, ev->room_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 5, ev->txn_scope ? ev->txn_scope : "", -1, SQLITE_TRANSIENT);
        int rc = run(s);
        if (rc == SQLITE_ROW) return 1;
        if (rc != SQLITE_DONE) return -1;
    }
    s = hs_store_prep(db, "INSERT INTO events (event_id, room_id, type, state_key, sender, depth,"
                      " origin_server_ts, pdu,"
                 " txn_user, txn_device, txn_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, ev->event_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, ev->room_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, ev->type, -1, SQLITE_TRANSIENT);
    hs_store_bind_text_or_null(s, 4, ev->state_key);
    sqlite3_bind_text(s, 5, ev->sender, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 6, ev->depth);
    sqlite3_bind_int64(s, 7, ev->origin_server_ts);
    sqlite3_bind_text(s, 8, ev->pdu_json, -1, SQLITE_TRANSIENT);
    hs_store_bind_text_or_null(s, 9, ev->txn_user);
    hs_store_bind_text_or_null(s, 10, ev->txn_device);
    hs_store_bind_text_or_null(s, 11, ev->txn_id);
    int rc = run(s);
    if (rc == SQLITE_CONSTRAINT) return 1;
    if (rc != SQLITE_DONE) return -1;
    *stream_out = sqlite3_last_insert_rowid(db);

    s = hs_store_prep(db, "DELETE FROM forward_extremities WHERE room_id = ?1");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, ev->room_id, -1, SQLITE_TRANSIENT);
    if (run(s) != SQLITE_DONE) return -1;
    s = hs_store_prep(db, "INSERT INTO forward_extremities (room_id, event_id) VALUES (?1, ?2)");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, ev->room_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, ev->event_id, -1, SQLITE_TRANSIENT);
    if (run(s) != SQLITE_DONE) return -1;

    if (ev->state_key) {
        s = hs_store_prep(db, "INSERT INTO current_state (room_id, type, state_key, event_id, membership)"
                     " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (room_id, type, state_key)"
                     " DO UPDATE SET event_id = excluded.event_id, membership = excluded.membership");
        if (!s) return -1;
        sqlite3_bind_text(s, 1, ev->room_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 2, ev->type, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 3, ev->state_key, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 4, ev->event_id, -1, SQLITE_TRANSIENT);
        hs_store_bind_text_or_null(s, 5, ev->membership);
        if (run(s) != SQLITE_DONE) return -1;
    }
    if (ev->txn_id) {
        s = hs_store_prep(db, "INSERT INTO event_txns (user_id, device_id, txn_id, event_id, room_id, scope)"
                              " VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
        if (!s) return -1;
        sqlite3_bind_text(s, 1, ev->txn_user, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 2, ev->txn_device, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 3, ev->txn_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 4, ev->event_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 5, ev->room_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 6, ev->txn_scope ? ev->txn_scope : "", -1, SQLITE_TRANSIENT);
        if (run(s) != SQLITE_DONE) return -1;
    }
    return hs_store_history_append(st, ev);
}

int hs_store_event_append(hs_store *st, const hs_store_new_event *ev, int64_t *stream_out)
{
    sqlite3 *db = hs_store_sqlite(st);
    sqlite3_mutex *m = sqlite3_db_mutex(db);
    sqlite3_mutex_enter(m);
    int ret = -1;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK) {
        ret = append_steps(st, db, ev, stream_out);
        if (ret == 0 && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) ret = -1;
        if (ret != 0) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    }
    sqlite3_mutex_leave(m);
    return ret;
}

int hs_store_room_get(hs_store *st, const char *room_id, char version[HS_STORE_ROOM_VERSION_MAX])
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT room_version FROM rooms WHERE room_id = ?1");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, room_id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
    if (ret == 0) hs_store_col_copy(s, 0, version, HS_STORE_ROOM_VERSION_MAX);
    sqlite3_finalize(s);
    return ret;
}

void hs_store_free_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* Collects column 0 of every row into a malloc'd string array. */
static int collect_strings(sqlite3_stmt *s, char ***ids, size_t *n, int64_t *max_col1)
{
    *ids = NULL;
    *n = 0;
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 4;
            char **grown = realloc(*ids, nc * sizeof *grown);
            if (!grown) break;
            *ids = grown;
            cap = nc;
        }
        char *id = hs_store_col_dup(s, 0);
        if (!id) break;
        (*ids)[(*n)++] = id;
        if (max_col1 && sqlite3_column_int64(s, 1) > *max_col1) *max_col1 = sqlite3_column_int64(s, 1);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        hs_store_free_strings(*ids, *n);
        *ids = NULL;
        *n = 0;
        return -1;
    }
    return 0;
}

int hs_store_room_extremities(hs_store *st, const char *room_id, char ***ids, size_t *n, int64_t *max_depth)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT f.event_id, e.depth FROM forward_extremities f"
                                                " JOIN events e ON e.event_id = f.event_id"
                                                " WHERE f.room_id = ?1 ORDER BY f.event_id");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, room_id, -1, SQLITE_TRANSIENT);
    *max_depth = 0;
    return collect_strings(s, ids, n, max_depth);
}

void hs_store_event_clear(hs_store_event *ev)
{
    free(ev->event_id);
    free(ev->room_id);
    free(ev->pdu_json);
    free(ev->txn_user);
    free(ev->txn_device);
    free(ev->txn_id);
    free(ev->redacted_by);
    memset(ev, 0, sizeof *ev);
}

#define EVENT_COLS HS_STORE_EVENT_COLS

int hs_store_rooms__read_event(sqlite3_stmt *s, hs_store_event *out)
{
    memset(out, 0, sizeof *out);
    out->stream = sqlite3_column_int64(s, 0);
    out->event_id = hs_store_col_dup(s, 1);
    out->room_id = hs_store_col_dup(s, 2);
    out->pdu_json = hs_store_col_dup(s, 3);
    out->txn_user = hs_store_col_dup(s, 4);
    out->txn_device = hs_store_col_dup(s, 5);
    out->txn_id = hs_store_col_dup(s, 6);
    out->redacted_by = hs_store_col_dup(s, 7);
    out->outlier = sqlite3_column_int(s, 8) != 0;
    if (!out->event_id || !out->room_id || !out->pdu_json) {
        hs_store_event_clear(out);
        return -1;
    }
    return 0;
}

int hs_store_event_get(hs_store *st, const char *event_id, hs_store_event *out)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT " EVENT_COLS " FROM events e WHERE e.event_id = ?1");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, event_id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_ROW ? hs_store_rooms__read_event(s, out) : rc == SQLITE_DONE ? 1 : -1;
    sqlite3_finalize(s);
    return ret;
}

int hs_store_state_get(hs_store *st, const char *room_id, const char *type, const char *state_key,
                       char **event_id)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT event_id FROM current_state"
                                                " WHERE room_id = ?1 AND type = ?2 AND state_key = ?3");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, room_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, type, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, state_key, -1, SQLITE_TRANSIENT);
    return hs_store_rooms__one_string(s, event_id);
}

int hs_store_state_each(hs_store *st, const char *room_id,
                        int (*fn)(void *ctx, const char *type, const char *state_key, const hs_store_event *ev),
                        void *ctx)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT " EVENT_COLS ", c.type, c.state_key FROM current_state c"
                                                " JOIN events e ON e.event_id = c.event_id"
                                                " WHERE c.room_id = ?1 ORDER BY c.type, c.state_key");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, room_id, -1, SQLITE_TRANSIENT);
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        hs_store_event ev;
        if (hs_store_rooms__read_event(s, &ev) != 0) {
            ret = -1;
            break;
        }
        int r = fn(ctx, (const char *)sqlite3_column_text(s, HS_STORE_EVENT_NCOLS),
                   (const char *)sqlite3_column_text(s, HS_STORE_EVENT_NCOLS + 1), &ev);
        hs_store_event_clear(&ev);
        if (r != 0) {
            ret = -1;
            break;
        }
    }
    if (ret == 0 && rc != SQLITE_DONE) ret = -1;
    sqlite3_finalize(s);
    return ret;
}

int hs_store_membership(hs_store *st, const char *room_id, const char *user_id, char out[32])
{
    out[0] = 0;
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT membership FROM current_state WHERE room_id = ?1"
                                                " AND type = 'm.room.member' AND state_key = ?2");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, room_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, user_id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) hs_store_col_copy(s, 0, out, 32);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int hs_store_joined_rooms(hs_store *st, const char *user_id, char ***ids, size_t *n)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT room_id FROM current_state WHERE state_key = ?1"
                                                " AND type = 'm.room.member' AND membership = 'join'"
                                                " ORDER BY room_id");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_TRANSIENT);
    return collect_strings(s, ids, n, NULL);
}

int hs_store_txn_get(hs_store *st, const char *user_id, const char *device_id, const char *room_id,
                     const char *scope, const char *txn_id, char **event_id)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT event_id FROM event_txns WHERE user_id = ?1 AND device_id = ?2"
                                        " AND txn_id = ?3 AND room_id = ?4 AND scope = ?5");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, device_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, txn_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 4, room_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 5, scope ? scope : "", -1, SQLITE_TRANSIENT);
    return hs_store_rooms__one_string(s, event_id);
}

long hs_store_room_events(hs_store *st, const char *room_id, int64_t from, bool backwards, long limit,
                          int (*fn)(void *ctx, const hs_store_event *ev), void *ctx)
{
    sqlite3_stmt *s = hs_store_prep(hs_store_sqlite(st),
                           backwards ? "SELECT " EVENT_COLS " FROM events e WHERE e.room_id = ?1 AND e.outlier = 0"
                                       " AND e.stream_ordering <= ?2 ORDER BY e.stream_ordering DESC LIMIT ?3"
                                     : "SELECT " EVENT_COLS " FROM events e WHERE e.room_id = ?1 AND e.outlier = 0"
                                       " AND e.stream_ordering > ?2 ORDER BY e.stream_ordering ASC LIMIT ?3");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, room_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, from);
    sqlite3_bind_int64(s, 3, limit);
    return hs_store_rooms__each_event(s, fn, ctx);
}

long hs_store_rooms__each_event(sqlite3_stmt *s, int (*fn)(void *ctx, const hs_store_event *ev), void *ctx)
{
    long count = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        hs_store_event ev;
        if (hs_store_rooms__read_event(s, &ev) != 0) {
            count = -1;
            break;
        }
        int r = fn(ctx, &ev);
        hs_store_event_clear(&ev);
        if (r != 0) {
            count = -1;
            break;
        }
        count++;
    }
    if (count >= 0 && rc != SQLITE_DONE) count = -1;
    sqlite3_finalize(s);
    return count;
}

long hs_store_room_events_scan(hs_store *st, const char *room_id, int64_t from, int64_t to, bool backwards,
                               long limit, long scan_max, int (*fn)(void *ctx, const hs_store_event *ev), void *ctx,
                               int64_t *last_stream, bool *exhausted)
{
    *last_stream = from;
    *exhausted = false;
    sqlite3_stmt *s = hs_store_prep(hs_store_sqlite(st),
                           backwards ? "SELECT " EVENT_COLS " FROM events e WHERE e.room_id = ?1 AND e.outlier = 0"
                                       " AND e.stream_ordering <= ?2 AND e.stream_ordering > ?3"
                                       " ORDER BY e.stream_ordering DESC"
                                     : "SELECT " EVENT_COLS " FROM events e WHERE e.room_id = ?1 AND e.outlier = 0"
                                       " AND e.stream_ordering > ?2 AND e.stream_ordering <= ?3"
                                       " ORDER BY e.stream_ordering ASC");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, room_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, from);
    sqlite3_bind_int64(s, 3, to != HS_STORE_NO_BOUND ? to : backwards ? INT64_MIN : INT64_MAX);
    long taken = 0, visited = 0;
    int rc = SQLITE_DONE;
    while (taken < limit && visited < scan_max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        hs_store_event ev;
        if (hs_store_rooms__read_event(s, &ev) != 0) {
            taken = -1;
            break;
        }
        int r = fn(ctx, &ev);
        *last_stream = ev.stream;
        hs_store_event_clear(&ev);
        if (r < 0) {
            taken = -1;
            break;
        }
        taken += r > 0;
        visited++;
    }
    if (taken >= 0 && rc != SQLITE_DONE && rc != SQLITE_ROW) taken = -1;
    if (taken >= 0 && rc == SQLITE_DONE) *exhausted = true;
    sqlite3_finalize(s);
    return taken;
}

int hs_store_room_events_by_ts(hs_store *st, const char *room_id, int64_t ts, bool forwards, long scan_max,
                               int (*fn)(void *ctx, const hs_store_event *ev), void *ctx)
{
    sqlite3_stmt *s = hs_store_prep(hs_store_sqlite(st),
                           forwards ? "SELECT " EVENT_COLS " FROM events e WHERE e.room_id = ?1 AND e.outlier = 0"
                                      " AND e.origin_server_ts >= ?2"
                                      " ORDER BY e.origin_server_ts ASC, e.stream_ordering ASC LIMIT ?3"
                                    : "SELECT " EVENT_COLS " FROM events e WHERE e.room_id = ?1 AND e.outlier = 0"
                                      " AND e.origin_server_ts <= ?2"
                                      " ORDER BY e.origin_server_ts DESC, e.stream_ordering DESC LIMIT ?3");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, room_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, ts);
    sqlite3_bind_int64(s, 3, scan_max);
    int ret = 0, rc;
    while (ret == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        hs_store_event ev;
        if (hs_store_rooms__read_event(s, &ev) != 0) {
            ret = -1;
            break;
        }
        ret = fn(ctx, &ev);
        hs_store_event_clear(&ev);
    }
    if (ret == 0 && rc != SQLITE_DONE) ret = -1;
    sqlite3_finalize(s);
    return ret < 0 ? -1 : ret;
}

int hs_store_room_max_stream(hs_store *st, const char *room_id, int64_t *out)
{
    sqlite3_stmt *s =
        hs_store_stmt(st, "SELECT COALESCE(MAX(stream_ordering), 0) FROM events WHERE room_id = ?1 AND outlier = 0");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, room_id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *out = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : -1;
}

int hs_store_room_oldest(hs_store *st, const char *room_id, hs_store_event *out)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT " EVENT_COLS " FROM events e WHERE e.room_id = ?1 AND e.outlier = 0"
                                        " ORDER BY e.stream_ordering ASC LIMIT 1");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, room_id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_ROW ? hs_store_rooms__read_event(s, out) : rc == SQLITE_DONE ? 1 : -1;
    sqlite3_finalize(s);
    return ret;
}

int hs_store_rooms__next_below(sqlite3 *db, int64_t *out)
{
    sqlite3_stmt *s = hs_store_prep(db, "SELECT MIN(COALESCE(MIN(stream_ordering), 0), 0) - 1 FROM events");
    if (!s) return -1;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *out = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : -1;
}
