/* hs_store_search: SQL of the client extras (see hs_store_search.h). The search index is
 * FTS5 (Debian's libsqlite3 is built with ENABLE_FTS5); it is filled lazily from the
 * events table inside one write transaction, so two searches racing never index an event
 * twice. Timeline events take their final position at one of the two ends of the stream:
 * new and promoted events above every other, backfilled history (and outliers turned
 * history) below every other (hs_store_history.h). So two cursors suffice: `upto` walks
 * up to the highest position, `downto` down to the lowest timeline position; no event
 * committed before a catch-up is missed (SQLite has one writer at a time: every position
 * beyond the cursors is committed by then). `downto` stops at timeline events, not at
 * outliers: an outlier at the bottom that leaves it (promoted upwards) frees its position
 * for the next backfilled event, which must still be below the cursor. */
#include "server-core/hs_store_search.h"

#include <stdlib.h>
#include <string.h>

#include "server-core/hs_store_internal.h"

const char hs_schema_extras[] =
    "CREATE VIRTUAL TABLE event_search USING fts5(value, key UNINDEXED, room_id UNINDEXED,"
    " tokenize = 'unicode61 remove_diacritics 2');"
    "CREATE TABLE event_search_position (id INTEGER PRIMARY KEY CHECK (id = 1), upto INTEGER NOT NULL,"
    " downto INTEGER NOT NULL);"
    "INSERT INTO event_search_position VALUES (1, 0, 0);"
    "CREATE TABLE event_reports (id INTEGER PRIMARY KEY AUTOINCREMENT, room_id TEXT NOT NULL,"
    " event_id TEXT NOT NULL, user_id TEXT NOT NULL, reason TEXT, score INTEGER, received_ts INTEGER NOT NULL);"
    "CREATE TABLE openid_tokens (token_hash BLOB PRIMARY KEY NOT NULL, user_id TEXT NOT NULL,"
    " expires_ts INTEGER NOT NULL);"
    "CREATE INDEX openid_tokens_expiry ON openid_tokens(expires_ts);";

/* ---- search index ------------------------------------------------------------------ */

/* Which field of which event type is indexed, as one SQL expression each. */
#define SEARCH_PATH                                                                                   \
    "CASE type WHEN 'm.room.message' THEN '$.content.body' WHEN 'm.room.name' THEN '$.content.name'" \
    " ELSE '$.content.topic' END"
#define SEARCH_SELECTABLE                                                                             \
    "((type = 'm.room.message' AND state_key IS NULL) OR"                                             \
    " (type IN ('m.room.name', 'm.room.topic') AND state_key = ''))"

/* Indexes the searchable timeline events with position in [lo, hi]; adds the count. */
static int index_range(sqlite3 *db, int64_t lo, int64_t hi, long *indexed)
{
    if (hi < lo) return 0;
    sqlite3_stmt *s = hs_store_prep(db, "INSERT INTO event_search (rowid, value, key, room_id)"
                                        " SELECT stream_ordering, json_extract(pdu, " SEARCH_PATH "),"
                                        " substr(" SEARCH_PATH ", 3), room_id FROM events"
                                        " WHERE stream_ordering >= ?1 AND stream_ordering <= ?2 AND outlier = 0"
                                        " AND " SEARCH_SELECTABLE
                                        " AND json_valid(pdu) AND json_type(pdu, " SEARCH_PATH ") = 'text'");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, lo);
    sqlite3_bind_int64(s, 2, hi);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return -1;
    *indexed += sqlite3_changes(db);
    return 0;
}

static int catch_up_steps(sqlite3 *db, void *arg)
{
    long *indexed = arg;
    sqlite3_stmt *s = hs_store_prep(db, "SELECT p.upto, p.downto,"
                                        " COALESCE((SELECT MAX(stream_ordering) FROM events), 0),"
                                        " (SELECT MIN(stream_ordering) FROM events),"
                                        " COALESCE((SELECT MIN(stream_ordering) FROM events WHERE outlier = 0), 0)"
                                        " FROM event_search_position p WHERE p.id = 1");
    if (!s) return -1;
    int64_t upto = 0, downto = 0, max = 0, min = 0, min_timeline = 0;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        upto = sqlite3_column_int64(s, 0);
        downto = sqlite3_column_int64(s, 1);
        max = sqlite3_column_int64(s, 2);
        min = sqlite3_column_int64(s, 3);
        min_timeline = sqlite3_column_int64(s, 4);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW) return -1;
    if (index_range(db, upto + 1, max, indexed) != 0 || index_range(db, min, downto - 1, indexed) != 0) return -1;
    if (max <= upto && min_timeline >= downto) return 0;
    s = hs_store_prep(db, "UPDATE event_search_position SET upto = ?1, downto = ?2 WHERE id = 1");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, max > upto ? max : upto);
    sqlite3_bind_int64(s, 2, min_timeline < downto ? min_timeline : downto);
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

long hs_store_search_catch_up(hs_store *st)
{
    long indexed = 0;
    if (hs_store_transact(st, catch_up_steps, &indexed) < 0) return -1;
    return indexed;
}

/* The shared WHERE clause of the result and count queries (parameters ?1..?5). */
#define SEARCH_WHERE                                                                                      \
    " FROM event_search JOIN events e ON e.stream_ordering = event_search.rowid"                                   \
    " WHERE event_search MATCH ?1"                                                                        \
    " AND event_search.room_id IN (SELECT value FROM json_each(?2))"                                                 \
    " AND event_search.key IN (SELECT value FROM json_each(?3))"                                                     \
    " AND (?4 IS NULL OR e.sender IN (SELECT value FROM json_each(?4)))"                                  \
    " AND (?5 IS NULL OR e.sender NOT IN (SELECT value FROM json_each(?5)))"                              \
    " AND NOT EXISTS (SELECT 1 FROM redactions r WHERE r.redacts = e.event_id)"

static void bind_query(sqlite3_stmt *s, const hs_store_search_query *q)
{
    sqlite3_bind_text(s, 1, q->match, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, q->rooms_json, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, q->keys_json, -1, SQLITE_STATIC);
    if (q->senders_json) sqlite3_bind_text(s, 4, q->senders_json, -1, SQLITE_STATIC);
    if (q->not_senders_json) sqlite3_bind_text(s, 5, q->not_senders_json, -1, SQLITE_STATIC);
}

/* A failed step of a MATCH is a syntax error in the expression when SQLite says so. */
static int step_failure(sqlite3 *db)
{
    const char *msg = sqlite3_errmsg(db);
    return msg && (strstr(msg, "fts5") || strstr(msg, "syntax")) ? 1 : -1;
}

int hs_store_search_events(hs_store *st, const hs_store_search_query *q,
                           int (*fn)(void *ctx, int64_t stream, const char *event_id, const char *room_id,
                                     double rank),
                           void *ctx, int64_t *count)
{
    sqlite3 *db = hs_store_sqlite(st);
    sqlite3_stmt *s;
    int rc;
    if (count) {
        s = hs_store_prep(db, "SELECT COUNT(*)" SEARCH_WHERE);
        if (!s) return -1;
        bind_query(s, q);
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) *count = sqlite3_column_int64(s, 0);
        int fail = rc == SQLITE_ROW ? 0 : step_failure(db);
        sqlite3_finalize(s);
        if (fail) return fail;
    }
    s = hs_store_prep(db, q->by_rank ? "SELECT event_search.rowid, e.event_id, event_search.room_id,"
                                       " bm25(event_search)" SEARCH_WHERE
                                       " ORDER BY bm25(event_search), event_search.rowid DESC LIMIT ?6 OFFSET ?7"
                                     : "SELECT event_search.rowid, e.event_id, event_search.room_id, 0.0" SEARCH_WHERE
                                       " AND (?8 = 0 OR event_search.rowid < ?8)"
                                       " ORDER BY event_search.rowid DESC LIMIT ?6");
    if (!s) return -1;
    bind_query(s, q);
    sqlite3_bind_int64(s, 6, q->limit);
    if (q->by_rank) sqlite3_bind_int64(s, 7, q->offset);
    else sqlite3_bind_int64(s, 8, q->before_stream);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        /* bm25 is smaller for better matches; clients expect larger = better. */
        if (fn(ctx, sqlite3_column_int64(s, 0), (const char *)sqlite3_column_text(s, 1),
               (const char *)sqlite3_column_text(s, 2), -sqlite3_column_double(s, 3)) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    int result = rc == SQLITE_DONE ? 0 : step_failure(db);
    sqlite3_finalize(s);
    return result;
}

/* ---- rooms -------------------------------------------------------------------- */

int hs_store_room_last_event(hs_store *st, const char *room_id, char **event_id)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT event_id FROM events WHERE room_id = ?1"
                                        " ORDER BY stream_ordering DESC LIMIT 1");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, room_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s), result = rc == SQLITE_DONE ? 1 : -1;
    if (rc == SQLITE_ROW) result = (*event_id = hs_store_col_dup(s, 0)) ? 0 : -1;
    sqlite3_finalize(s);
    return result;
}

/* ---- notifications ------------------------------------------------------------------- */

/* Steps a notification-candidate query (stream, event ID, room ID, PDU, origin ts) and
 * finalizes it; fn stops the walk by returning non-zero. Returns the rows visited or -1. */
static long notify_rows(sqlite3_stmt *s, int (*fn)(void *ctx, const hs_store_notify_event *ev), void *ctx)
{
    long n = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        hs_store_notify_event ev = {sqlite3_column_int64(s, 0), (const char *)sqlite3_column_text(s, 1),
                                    (const char *)sqlite3_column_text(s, 2), (const char *)sqlite3_column_text(s, 3),
                                    sqlite3_column_int64(s, 4)};
        n++;
        if (fn(ctx, &ev) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? n : -1;
}

long hs_store_notify_candidates(hs_store *st, const char *rooms_json, const char *not_sender, int64_t before,
                                long limit, int (*fn)(void *ctx, const hs_store_notify_event *ev), void *ctx)
{
    sqlite3_stmt *s = hs_store_stmt(st,
                                    "SELECT e.stream_ordering, e.event_id, e.room_id, e.pdu, e.origin_server_ts"
                                    " FROM events e"
                                    " WHERE e.room_id IN (SELECT value FROM json_each(?1)) AND e.sender != ?2"
                                    " AND e.outlier = 0 AND e.stream_ordering > 0"
                                    " AND (?3 = 0 OR e.stream_ordering < ?3)"
                                    " AND NOT EXISTS (SELECT 1 FROM redactions r WHERE r.redacts = e.event_id)"
                                    " ORDER BY e.stream_ordering DESC LIMIT ?4");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, rooms_json, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, not_sender, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, before);
    sqlite3_bind_int64(s, 4, limit);
    return notify_rows(s, fn, ctx);
}

long hs_store_room_notify_candidates(hs_store *st, const char *room_id, const char *not_sender, int64_t after,
                                     int64_t upto, long limit, int (*fn)(void *ctx, const hs_store_notify_event *ev),
                                     void *ctx)
{
    sqlite3_stmt *s = hs_store_stmt(st,
                                    "SELECT e.stream_ordering, e.event_id, e.room_id, e.pdu, e.origin_server_ts"
                                    " FROM events e WHERE e.room_id = ?1 AND e.outlier = 0 AND e.stream_ordering > ?2"
                                    " AND e.stream_ordering > 0 AND e.stream_ordering <= ?3 AND e.sender != ?4"
                                    " AND NOT EXISTS (SELECT 1 FROM redactions r WHERE r.redacts = e.event_id)"
                                    " ORDER BY e.stream_ordering DESC LIMIT ?5");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, room_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, after);
    sqlite3_bind_int64(s, 3, upto);
    sqlite3_bind_text(s, 4, not_sender, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, limit);
    return notify_rows(s, fn, ctx);
}

int hs_store_read_up_to(hs_store *st, const char *room_id, const char *user_id, int64_t *stream)
{
    sqlite3_stmt *s = hs_store_stmt(st,
                                    "SELECT COALESCE(MAX(e.stream_ordering), 0) FROM receipts r"
                                    " JOIN events e ON e.event_id = r.event_id WHERE r.room_id = ?1 AND r.user_id = ?2"
                                    " AND r.thread_id = '' AND r.receipt_type IN ('m.read', 'm.read.private')");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, room_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, user_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *stream = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : -1;
}

int hs_store_joined_count(hs_store *st, const char *room_id, int64_t *count)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT COUNT(*) FROM current_state WHERE room_id = ?1"
                                        " AND type = 'm.room.member' AND membership = 'join'");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, room_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *count = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* ---- event reports ----------------------------------------------------------------- */

int hs_store_report_put(hs_store *st, const char *room_id, const char *event_id, const char *user_id,
                        const char *reason, bool has_score, int64_t score, int64_t now_ms)
{
    sqlite3_stmt *s = hs_store_stmt(st, "INSERT INTO event_reports (room_id, event_id, user_id, reason,"
                                        " score, received_ts) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, room_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, event_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, user_id, -1, SQLITE_STATIC);
    if (reason) sqlite3_bind_text(s, 4, reason, -1, SQLITE_STATIC);
    if (has_score) sqlite3_bind_int64(s, 5, score);
    sqlite3_bind_int64(s, 6, now_ms);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

int hs_store_reports_each(hs_store *st, long offset, long limit,
                          int (*fn)(void *ctx, int64_t id, const char *room_id, const char *event_id,
                                    const char *user_id, const char *reason, bool has_score, int64_t score,
                                    int64_t received_ts),
                          void *ctx, int64_t *total)
{
    sqlite3 *db = hs_store_sqlite(st);
    sqlite3_stmt *s = hs_store_prep(db, "SELECT COUNT(*) FROM event_reports");
    if (!s) return -1;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *total = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW) return -1;
    s = hs_store_prep(db, "SELECT id, room_id, event_id, user_id, reason, score, received_ts FROM event_reports"
                          " ORDER BY id DESC LIMIT ?1 OFFSET ?2");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, limit);
    sqlite3_bind_int64(s, 2, offset);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        bool has_score = sqlite3_column_type(s, 5) != SQLITE_NULL;
        if (fn(ctx, sqlite3_column_int64(s, 0), (const char *)sqlite3_column_text(s, 1),
               (const char *)sqlite3_column_text(s, 2), (const char *)sqlite3_column_text(s, 3),
               (const char *)sqlite3_column_text(s, 4), has_score, sqlite3_column_int64(s, 5),
               sqlite3_column_int64(s, 6)) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- OpenID tokens ------------------------------------------------------------------- */

int hs_store_openid_put(hs_store *st, const uint8_t hash[HS_STORE_OPENID_HASH_BYTES], const char *user_id,
                        int64_t expires_ts, int64_t now_ms)
{
    sqlite3 *db = hs_store_sqlite(st);
    sqlite3_stmt *s = hs_store_prep(db, "DELETE FROM openid_tokens WHERE expires_ts < ?1");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, now_ms);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return -1;
    s = hs_store_prep(db, "INSERT INTO openid_tokens (token_hash, user_id, expires_ts) VALUES (?1, ?2, ?3)");
    if (!s) return -1;
    sqlite3_bind_blob(s, 1, hash, HS_STORE_OPENID_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, user_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, expires_ts);
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

int hs_store_openid_get(hs_store *st, const uint8_t hash[HS_STORE_OPENID_HASH_BYTES], int64_t now_ms,
                        char **user_id)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT user_id FROM openid_tokens WHERE token_hash = ?1"
                                        " AND expires_ts >= ?2");
    if (!s) return -1;
    sqlite3_bind_blob(s, 1, hash, HS_STORE_OPENID_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, now_ms);
    int rc = sqlite3_step(s), result = rc == SQLITE_DONE ? 1 : -1;
    if (rc == SQLITE_ROW) result = (*user_id = hs_store_col_dup(s, 0)) ? 0 : -1;
    sqlite3_finalize(s);
    return result;
}
