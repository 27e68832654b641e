/* hs_store_sync: per-user data that /sync streams besides room events: uploaded filters,
 * account data (global: room_id ''), read receipts and presence. Every streamed table
 * has its own ever-growing stream_id (AUTOINCREMENT, and updates are INSERT OR REPLACE
 * so a changed row moves to the head of its stream); a sync token carries one position
 * per stream. The read-only views of other areas' tables (events, current state, the
 * E2EE inbox and keys) are plain SELECTs: those areas own every write to them.
 *
 * Read-modify-write steps (next filter ID, presence compare-and-set) hold the
 * connection's own mutex so no other thread's statement slips in between. */
#include "server-core/hs_store_sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_store_e2ee.h"
#include "server-core/hs_store_internal.h"

const char hs_schema_sync[] =
    "CREATE TABLE filters (user_id TEXT NOT NULL, filter_id INTEGER NOT NULL, filter_json TEXT NOT NULL,"
    " PRIMARY KEY (user_id, filter_id));"
    "CREATE TABLE account_data (stream_id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL,"
    " room_id TEXT NOT NULL DEFAULT '', type TEXT NOT NULL, content TEXT NOT NULL,"
    " UNIQUE (user_id, room_id, type));"
    "CREATE INDEX account_data_user_stream ON account_data(user_id, stream_id);"
    "CREATE TABLE receipts (stream_id INTEGER PRIMARY KEY AUTOINCREMENT, room_id TEXT NOT NULL,"
    " receipt_type TEXT NOT NULL, user_id TEXT NOT NULL, thread_id TEXT NOT NULL DEFAULT '',"
    " event_id TEXT NOT NULL, ts INTEGER NOT NULL, UNIQUE (room_id, receipt_type, user_id, thread_id));"
    "CREATE INDEX receipts_room_stream ON receipts(room_id, stream_id);"
    "CREATE TABLE presence (stream_id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL UNIQUE,"
    " state TEXT NOT NULL, status_msg TEXT, last_active_ts INTEGER NOT NULL);";

/* The users joined to a room the viewer (?1) is joined to, the viewer included. */
#define SHARED_USERS_SQL                                                                                     \
    "SELECT b.state_key FROM current_state a JOIN current_state b ON b.room_id = a.room_id"                  \
    " WHERE a.type = 'm.room.member' AND a.state_key = ?1 AND a.membership = 'join'"                        \
    " AND b.type = 'm.room.member' AND b.membership = 'join' UNION SELECT ?1"

static const char *col(sqlite3_stmt *s, int i)
{
    return (const char *)sqlite3_column_text(s, i);
}

/* One integer from a query (NULL counts as 0): 0, 1 when no row, -1. Finalizes. */
static int query_int(sqlite3_stmt *s, int64_t *out)
{
    if (!s) return -1;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *out = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

/* One text value from a query: 0 with *out malloc'd, 1 when no row, -1. Finalizes. */
static int query_text(sqlite3_stmt *s, char **out)
{
    if (!s) return -1;
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
    if (ret == 0 && !(*out = hs_store_col_dup_or_empty(s, 0))) ret = -1;
    sqlite3_finalize(s);
    return ret;
}

int hs_store_sync_positions(hs_store *st, hs_sync_pos *out)
{
    static const char *const sql[] = {
        "SELECT COALESCE(MAX(stream_ordering), 0) FROM events",
        "SELECT COALESCE(MAX(stream_id), 0) FROM account_data",
        "SELECT COALESCE(MAX(stream_id), 0) FROM receipts",
        /* acknowledged rows are deleted, so the highest ID ever issued comes from sqlite_sequence */
        "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'to_device_inbox'), 0)",
        "SELECT COALESCE(MAX(stream_id), 0) FROM device_list_changes",
        "SELECT COALESCE(MAX(stream_id), 0) FROM presence",
    };
    int64_t *fields[] = {&out->events,    &out->account_data, &out->receipts,
                         &out->to_device, &out->device_lists, &out->presence};
    for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++)
        if (query_int(hs_store_stmt(st, sql[i]), fields[i]) != 0) return -1;
    return 0;
}

/* ---- filters --------------------------------------------------------------------- */

int hs_store_filter_put(hs_store *st, const char *user_id, const char *filter_json, int64_t *filter_id)
{
    sqlite3_mutex *mu = sqlite3_db_mutex(hs_store_sqlite(st));
    sqlite3_mutex_enter(mu);
    int64_t next = 0;
    /* The same filter again (clients upload theirs at every start) gets its old ID, so
     * repeated uploads do not grow the table. */
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT filter_id FROM filters WHERE user_id = ?1 AND filter_json = ?2");
    if (s) {
        hs_store_bind_text_or_null(s, 1, user_id);
        hs_store_bind_text_or_null(s, 2, filter_json);
    }
    int rc = query_int(s, &next);
    bool known = rc == 0;
    if (rc == 1) {
        s = hs_store_stmt(st, "SELECT COALESCE(MAX(filter_id), 0) + 1 FROM filters WHERE user_id = ?1");
        if (s) hs_store_bind_text_or_null(s, 1, user_id);
        rc = query_int(s, &next);
    }
    if (rc == 0 && !known) {
        s = hs_store_stmt(st, "INSERT INTO filters (user_id, filter_id, filter_json) VALUES (?1, ?2, ?3)");
        if (s) {
            hs_store_bind_text_or_null(s, 1, user_id);
            sqlite3_bind_int64(s, 2, next);
            hs_store_bind_text_or_null(s, 3, filter_json);
        }
        rc = hs_store_step_done(s);
    }
    sqlite3_mutex_leave(mu);
    if (rc == 0) *filter_id = next;
    return rc;
}

int hs_store_filter_get(hs_store *st, const char *user_id, int64_t filter_id, char **json)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT filter_json FROM filters WHERE user_id = ?1 AND filter_id = ?2");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, user_id);
    sqlite3_bind_int64(s, 2, filter_id);
    return query_text(s, json);
}

/* ---- account data ---------------------------------------------------------------- */

int hs_store_account_data_put(hs_store *st, const char *user_id, const char *room_id, const char *type,
                              const char *content_json, int64_t *stream)
{
    sqlite3_mutex *mu = sqlite3_db_mutex(hs_store_sqlite(st));
    sqlite3_mutex_enter(mu);
    sqlite3_stmt *s = hs_store_stmt(st, "INSERT OR REPLACE INTO account_data (user_id, room_id, type, content)"
                                        " VALUES (?1, ?2, ?3, ?4)");
    if (s) {
        hs_store_bind_text_or_null(s, 1, user_id);
        hs_store_bind_text_or_null(s, 2, room_id);
        hs_store_bind_text_or_null(s, 3, type);
        hs_store_bind_text_or_null(s, 4, content_json);
    }
    int rc = hs_store_step_done(s);
    if (rc == 0 && stream) *stream = sqlite3_last_insert_rowid(hs_store_sqlite(st));
    sqlite3_mutex_leave(mu);
    return rc;
}

int hs_store_account_data_get(hs_store *st, const char *user_id, const char *room_id, const char *type,
                              char **json)
{
    sqlite3_stmt *s =
        hs_store_stmt(st, "SELECT content FROM account_data WHERE user_id = ?1 AND room_id = ?2 AND type = ?3");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, user_id);
    hs_store_bind_text_or_null(s, 2, room_id);
    hs_store_bind_text_or_null(s, 3, type);
    return query_text(s, json);
}

int hs_store_account_data_each(hs_store *st, const char *user_id, int64_t after, int64_t upto,
                               int (*fn)(void *ctx, const char *room_id, const char *type, const char *content),
                               void *ctx)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT room_id, type, content FROM account_data WHERE user_id = ?1"
                                        " AND stream_id > ?2 AND stream_id <= ?3 ORDER BY stream_id");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, user_id);
    sqlite3_bind_int64(s, 2, after);
    sqlite3_bind_int64(s, 3, upto);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (fn(ctx, col(s, 0), col(s, 1), col(s, 2)) != 0) break;
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* ---- receipts -------------------------------------------------------------------- */

int hs_store_receipt_put(hs_store *st, const char *room_id, const char *receipt_type, const char *user_id,
                         const char *thread_id, const char *event_id, int64_t ts, int64_t *stream)
{
    sqlite3_mutex *mu = sqlite3_db_mutex(hs_store_sqlite(st));
    sqlite3_mutex_enter(mu);
    sqlite3_stmt *s = hs_store_stmt(st, "INSERT OR REPLACE INTO receipts (room_id, receipt_type, user_id, thread_id,"
                                        " event_id, ts) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (s) {
        hs_store_bind_text_or_null(s, 1, room_id);
        hs_store_bind_text_or_null(s, 2, receipt_type);
        hs_store_bind_text_or_null(s, 3, user_id);
        hs_store_bind_text_or_null(s, 4, thread_id);
        hs_store_bind_text_or_null(s, 5, event_id);
        sqlite3_bind_int64(s, 6, ts);
    }
    int rc = hs_store_step_done(s);
    if (rc == 0 && stream) *stream = sqlite3_last_insert_rowid(hs_store_sqlite(st));
    /* thread_id is the sender's free text: keep only their newest threaded receipts of
     * this kind in the room, or one user could grow every member's /sync without end. */
    if (rc == 0 && thread_id && thread_id[0]) {
        s = hs_store_stmt(st, "DELETE FROM receipts WHERE room_id = ?1 AND receipt_type = ?2 AND user_id = ?3"
                              " AND thread_id != '' AND stream_id NOT IN (SELECT stream_id FROM receipts"
                              " WHERE room_id = ?1 AND receipt_type = ?2 AND user_id = ?3 AND thread_id != ''"
                              " ORDER BY stream_id DESC LIMIT ?4)");
        if (s) {
            hs_store_bind_text_or_null(s, 1, room_id);
            hs_store_bind_text_or_null(s, 2, receipt_type);
            hs_store_bind_text_or_null(s, 3, user_id);
            sqlite3_bind_int(s, 4, HS_STORE_RECEIPT_THREADS_MAX);
        }
        rc = hs_store_step_done(s);
    }
    sqlite3_mutex_leave(mu);
    return rc;
}

int hs_store_receipts_each(hs_store *st, const char *room_id, int64_t after, int64_t upto,
                           int (*fn)(void *ctx, const char *receipt_type, const char *user_id,
                                     const char *thread_id, const char *event_id, int64_t ts),
                           void *ctx)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT receipt_type, user_id, thread_id, event_id, ts FROM receipts"
                                        " WHERE room_id = ?1 AND stream_id > ?2 AND stream_id <= ?3 ORDER BY"
                                        " stream_id");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, room_id);
    sqlite3_bind_int64(s, 2, after);
    sqlite3_bind_int64(s, 3, upto);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (fn(ctx, col(s, 0), col(s, 1), col(s, 2), col(s, 3), sqlite3_column_int64(s, 4)) != 0) break;
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* ---- presence -------------------------------------------------------------------- */

static void fill_presence(sqlite3_stmt *s, int first, hs_store_presence *out)
{
    memset(out, 0, sizeof *out);
    const char *state = col(s, first), *msg = col(s, first + 1);
    snprintf(out->state, sizeof out->state, "%s", state ? state : "offline");
    out->has_status_msg = msg != NULL;
    if (msg) snprintf(out->status_msg, sizeof out->status_msg, "%s", msg);
    out->last_active_ts = sqlite3_column_int64(s, first + 2);
}

int hs_store_presence_get(hs_store *st, const char *user_id, hs_store_presence *out)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT state, status_msg, last_active_ts FROM presence WHERE user_id = ?1");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, user_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) fill_presence(s, 0, out);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

int hs_store_presence_put(hs_store *st, const char *user_id, const char *state, const char *status_msg,
                          int64_t now_ms, bool *changed)
{
    sqlite3_mutex *mu = sqlite3_db_mutex(hs_store_sqlite(st));
    sqlite3_mutex_enter(mu);
    hs_store_presence old;
    int rc = hs_store_presence_get(st, user_id, &old);
    bool same = rc == 0 && strcmp(old.state, state) == 0 && old.has_status_msg == (status_msg != NULL) &&
                (!status_msg || strcmp(old.status_msg, status_msg) == 0);
    sqlite3_stmt *s;
    if (rc < 0) {
        s = NULL;
    } else if (same) {
        s = hs_store_stmt(st, "UPDATE presence SET last_active_ts = ?2 WHERE user_id = ?1");
        if (s) {
            hs_store_bind_text_or_null(s, 1, user_id);
            sqlite3_bind_int64(s, 2, now_ms);
        }
    } else {
        s = hs_store_stmt(st, "INSERT OR REPLACE INTO presence (user_id, state, status_msg, last_active_ts)"
                              " VALUES (?1, ?2, ?3, ?4)");
        if (s) {
            hs_store_bind_text_or_null(s, 1, user_id);
            hs_store_bind_text_or_null(s, 2, state);
            if (status_msg) hs_store_bind_text_or_null(s, 3, status_msg);
            else sqlite3_bind_null(s, 3);
            sqlite3_bind_int64(s, 4, now_ms);
        }
    }
    rc = hs_store_step_done(s);
    sqlite3_mutex_leave(mu);
    if (rc == 0 && changed) *changed = !same;
    return rc;
}

int hs_store_presence_each(hs_store *st, const char *viewer, int64_t after, int64_t upto,
                           int (*fn)(void *ctx, const char *user_id, const hs_store_presence *p), void *ctx)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT user_id, state, status_msg, last_active_ts FROM presence"
                                        " WHERE stream_id > ?2 AND stream_id <= ?3 AND user_id IN"
                                        " (" SHARED_USERS_SQL ")"
                                        " ORDER BY stream_id");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, viewer);
    sqlite3_bind_int64(s, 2, after);
    sqlite3_bind_int64(s, 3, upto);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        hs_store_presence p;
        fill_presence(s, 1, &p);
        if (fn(ctx, col(s, 0), &p) != 0) break;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

long hs_store_presence_after(hs_store *st, int64_t after, long limit,
                             int (*fn)(void *ctx, int64_t stream_id, const char *user_id, const hs_store_presence *p),
                             void *ctx)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT stream_id, user_id, state, status_msg, last_active_ts FROM presence"
                                        " WHERE stream_id > ?1 ORDER BY stream_id LIMIT ?2");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, after);
    sqlite3_bind_int64(s, 2, limit);
    long n = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        hs_store_presence p;
        fill_presence(s, 2, &p);
        if (fn(ctx, sqlite3_column_int64(s, 0), col(s, 1), &p) != 0) {
            rc = SQLITE_ABORT;
            break;
        }
        n++;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? n : -1;
}

/* ---- rooms ----------------------------------------------------------------------- */

#define EVENT_COLS                                                                                           \
    "e.stream_ordering, e.event_id, e.room_id, e.type, e.state_key, e.sender, e.pdu, e.txn_user,"            \
    " e.txn_device, e.txn_id"

static void fill_event(sqlite3_stmt *s, int first, hs_store_sync_event *ev)
{
    ev->stream = sqlite3_column_int64(s, first);
    ev->event_id = col(s, first + 1);
    ev->room_id = col(s, first + 2);
    ev->type = col(s, first + 3);
    ev->state_key = col(s, first + 4);
    ev->sender = col(s, first + 5);
    ev->pdu_json = col(s, first + 6);
    ev->txn_user = col(s, first + 7);
    ev->txn_device = col(s, first + 8);
    ev->txn_id = col(s, first + 9);
}

/* Walks an event query whose first columns are EVENT_COLS. Finalizes. */
static int walk_events(sqlite3_stmt *s, int (*fn)(void *ctx, const hs_store_sync_event *ev), void *ctx)
{
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        hs_store_sync_event ev;
        fill_event(s, 0, &ev);
        if (fn(ctx, &ev) != 0) break;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int hs_store_sync_memberships(hs_store *st, const char *user_id,
                              int (*fn)(void *ctx, const char *membership, const hs_store_sync_event *ev),
                              void *ctx)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT c.membership, " EVENT_COLS " FROM current_state c"
                                        " JOIN events e ON e.event_id = c.event_id"
                                        " WHERE c.type = 'm.room.member' AND c.state_key = ?1 ORDER BY"
                                        " e.stream_ordering");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, user_id);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        hs_store_sync_event ev;
        fill_event(s, 1, &ev);
        const char *m = col(s, 0);
        if (fn(ctx, m ? m : "", &ev) != 0) break;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int hs_store_sync_room_events(hs_store *st, const char *room_id, int64_t after, int64_t upto,
                              int (*fn)(void *ctx, const hs_store_sync_event *ev), void *ctx)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT " EVENT_COLS " FROM events e WHERE e.room_id = ?1 AND e.outlier = 0"
                                        " AND e.stream_ordering > ?2 AND e.stream_ordering <= ?3"
                                        " ORDER BY e.stream_ordering DESC");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, room_id);
    sqlite3_bind_int64(s, 2, after);
    sqlite3_bind_int64(s, 3, upto);
    return walk_events(s, fn, ctx);
}

int hs_store_sync_room_state(hs_store *st, const char *room_id, int64_t upto,
                             int (*fn)(void *ctx, const hs_store_sync_event *ev), void *ctx)
{
    sqlite3_stmt *s =
        hs_store_stmt(st, "SELECT " EVENT_COLS " FROM current_state c JOIN events e ON e.event_id = c.event_id"
                          " WHERE c.room_id = ?1 AND e.stream_ordering <= ?2 ORDER BY c.type, c.state_key");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, room_id);
    sqlite3_bind_int64(s, 2, upto);
    return walk_events(s, fn, ctx);
}

int hs_store_sync_member_events(hs_store *st, const char *room_id, int64_t after, int64_t upto,
                                int (*fn)(void *ctx, const hs_store_sync_event *ev), void *ctx)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT " EVENT_COLS " FROM events e WHERE e.room_id = ?1"
                                        " AND e.type = 'm.room.member' AND e.stream_ordering > ?2 AND"
                                        " e.stream_ordering <= ?3"
                                        " ORDER BY e.stream_ordering");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, room_id);
    sqlite3_bind_int64(s, 2, after);
    sqlite3_bind_int64(s, 3, upto);
    return walk_events(s, fn, ctx);
}

int hs_store_sync_active_rooms(hs_store *st, bool receipts, int64_t after, int64_t upto,
                               int (*fn)(void *ctx, const char *room_id), void *ctx)
{
    sqlite3_stmt *s =
        hs_store_stmt(st, receipts ? "SELECT DISTINCT room_id FROM receipts WHERE stream_id > ?1 AND stream_id <= ?2"
                                   : "SELECT DISTINCT room_id FROM events WHERE stream_ordering > ?1"
                                     " AND stream_ordering <= ?2");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, after);
    sqlite3_bind_int64(s, 2, upto);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (fn(ctx, col(s, 0)) != 0) break;
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int hs_store_sync_share_room(hs_store *st, const char *a, const char *b, bool *shared)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT EXISTS (SELECT 1 FROM current_state x JOIN current_state y"
                                        " ON y.room_id = x.room_id WHERE x.type = 'm.room.member' AND x.state_key = ?1"
                                        " AND x.membership = 'join' AND y.type = 'm.room.member' AND y.state_key = ?2"
                                        " AND y.membership = 'join')");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, a);
    hs_store_bind_text_or_null(s, 2, b);
    int64_t v = 0;
    if (query_int(s, &v) != 0) return -1;
    *shared = v != 0;
    return 0;
}

/* ---- E2EE streams ---------------------------------------------------------------- */

int hs_store_sync_to_device_ack(hs_store *st, const char *user_id, const char *device_id, int64_t upto)
{
    sqlite3_stmt *s =
        hs_store_stmt(st, "DELETE FROM to_device_inbox WHERE user_id = ?1 AND device_id = ?2 AND stream_id <= ?3");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, user_id);
    hs_store_bind_text_or_null(s, 2, device_id);
    sqlite3_bind_int64(s, 3, upto);
    return hs_store_step_done(s);
}

int hs_store_sync_to_device_each(hs_store *st, const char *user_id, const char *device_id, int64_t after,
                                 int64_t upto, long limit,
                                 int (*fn)(void *ctx, int64_t stream, const char *sender, const char *type,
                                           const char *content),
                                 void *ctx)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT stream_id, sender, type, content FROM to_device_inbox"
                                        " WHERE user_id = ?1 AND device_id = ?2 AND stream_id > ?3 AND stream_id <= ?4"
                                        " ORDER BY stream_id LIMIT ?5");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, user_id);
    hs_store_bind_text_or_null(s, 2, device_id);
    sqlite3_bind_int64(s, 3, after);
    sqlite3_bind_int64(s, 4, upto);
    sqlite3_bind_int64(s, 5, limit);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (fn(ctx, sqlite3_column_int64(s, 0), col(s, 1), col(s, 2), col(s, 3)) != 0) break;
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int hs_store_sync_device_list_changes(hs_store *st, const char *viewer, int64_t after, int64_t upto,
                                      int (*fn)(void *ctx, const char *user_id), void *ctx)
{
    /* Before the pruned horizon rows may be gone: then every user sharing a room has
     * changed (hs_store_e2ee_changes_prune). */
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT user_id FROM device_list_changes WHERE stream_id > ?2"
                                        " AND stream_id <= ?3 AND user_id IN (" SHARED_USERS_SQL ")"
                                        " UNION SELECT * FROM (" SHARED_USERS_SQL ") WHERE "
                                        HS_STORE_E2EE_BEFORE_HORIZON("?2") " ORDER BY 1");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, viewer);
    sqlite3_bind_int64(s, 2, after);
    sqlite3_bind_int64(s, 3, upto);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (fn(ctx, col(s, 0)) != 0) break;
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int hs_store_sync_one_time_key_counts(hs_store *st, const char *user_id, const char *device_id,
                                      int (*fn)(void *ctx, const char *algorithm, int64_t count), void *ctx)
{
    sqlite3_stmt *s =
        hs_store_stmt(st, "SELECT algorithm, COUNT(*) FROM one_time_keys WHERE user_id = ?1 AND device_id = ?2"
                          " GROUP BY algorithm ORDER BY algorithm");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, user_id);
    hs_store_bind_text_or_null(s, 2, device_id);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (fn(ctx, col(s, 0), sqlite3_column_int64(s, 1)) != 0) break;
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int hs_store_sync_unused_fallback_types(hs_store *st, const char *user_id, const char *device_id,
                                        int (*fn)(void *ctx, const char *algorithm), void *ctx)
{
    sqlite3_stmt *s =
        hs_store_stmt(st, "SELECT DISTINCT algorithm FROM fallback_keys WHERE user_id = ?1 AND device_id = ?2"
                          " AND used = 0 ORDER BY algorithm");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, user_id);
    hs_store_bind_text_or_null(s, 2, device_id);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (fn(ctx, col(s, 0)) != 0) break;
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}
