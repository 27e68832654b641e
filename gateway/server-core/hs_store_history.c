/* hs_store_history: the SQL behind hs_store_history.h - state groups (deltas with
 * periodic snapshots), redactions, relations and forgotten rooms.
 *
 * A group is resolved with one recursive query: walk prev_group from the group down to
 * its snapshot (prev_group NULL), and for each (type, state_key) keep the entry of the
 * group nearest the start. SQLite's documented bare-column rule for MIN() gives the
 * event_id of that row. The head group of each room (room_state_head) holds the room's
 * current state - the same entries as current_state - and is the state before a new
 * local event; whoever stores events that fork or resolve a room (hs_store_fed_rooms)
 * must point it at a group holding the new current state. */
#include "server-core/hs_store_history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_store_internal.h"
#include "server-core/hs_store_rooms_internal.h"

const char hs_schema_history[] =
    "CREATE TABLE redactions (redacts TEXT NOT NULL, redaction_id TEXT NOT NULL REFERENCES events(event_id),"
    " room_id TEXT NOT NULL, PRIMARY KEY (redacts, redaction_id));"
    "CREATE TABLE event_relations (event_id TEXT PRIMARY KEY NOT NULL REFERENCES events(event_id),"
    " relates_to TEXT NOT NULL, rel_type TEXT NOT NULL, room_id TEXT NOT NULL, aggregation_key TEXT);"
    "CREATE INDEX event_relations_target ON event_relations(relates_to, rel_type);"
    /* prev_group NULL marks a full snapshot; chain_len counts deltas since it. */
    "CREATE TABLE state_groups (group_id INTEGER PRIMARY KEY AUTOINCREMENT, room_id TEXT NOT NULL,"
    " prev_group INTEGER REFERENCES state_groups(group_id), chain_len INTEGER NOT NULL);"
    "CREATE TABLE state_group_entries (group_id INTEGER NOT NULL REFERENCES state_groups(group_id),"
    " type TEXT NOT NULL, state_key TEXT NOT NULL, event_id TEXT NOT NULL,"
    " PRIMARY KEY (group_id, type, state_key));"
    /* group_before NULL: the empty state before m.room.create. */
    "CREATE TABLE event_state (event_id TEXT PRIMARY KEY NOT NULL REFERENCES events(event_id),"
    " room_id TEXT NOT NULL, group_before INTEGER REFERENCES state_groups(group_id),"
    " group_after INTEGER NOT NULL REFERENCES state_groups(group_id));"
    "CREATE TABLE room_state_head (room_id TEXT PRIMARY KEY NOT NULL,"
    " group_id INTEGER NOT NULL REFERENCES state_groups(group_id));"
    "CREATE TABLE forgotten_rooms (user_id TEXT NOT NULL, room_id TEXT NOT NULL, PRIMARY KEY (user_id, room_id));"
    /* Outliers (hs_store_rooms.h): held as state or auth events only. The column lives
     * on events so every timeline query can leave them out without a join. */
    "ALTER TABLE events ADD COLUMN outlier INTEGER NOT NULL DEFAULT 0;";

/* The resolved entries of group ?1: (type, state_key, event_id, depth). */
#define RESOLVE_GROUP_SQL                                                                                     \
    "WITH RECURSIVE chain(g, d) AS (SELECT ?1, 0 UNION ALL SELECT sg.prev_group, chain.d + 1"                 \
    " FROM state_groups sg JOIN chain ON sg.group_id = chain.g WHERE sg.prev_group IS NOT NULL)"              \
    " SELECT x.type, x.state_key, x.event_id, MIN(chain.d) FROM state_group_entries x"                       \
    " JOIN chain ON x.group_id = chain.g GROUP BY x.type, x.state_key"

static int run(sqlite3_stmt *s)
{
    if (!s) return SQLITE_ERROR;
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc;
}

int hs_store_rooms__one_string(sqlite3_stmt *s, char **out)
{
    if (!s) return -1;
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
    if (ret == 0 && !(*out = hs_store_col_dup(s, 0))) ret = sqlite3_column_type(s, 0) == SQLITE_NULL ? 1 : -1;
    sqlite3_finalize(s);
    return ret;
}

/* ---- writing ------------------------------------------------------------------------ */

/* The room's head group and its chain length; *group 0 when the room has none yet. */
static int read_head(sqlite3 *db, const char *room_id, int64_t *group, int64_t *chain_len)
{
    *group = 0;
    *chain_len = 0;
    sqlite3_stmt *s = hs_store_prep(db, "SELECT h.group_id, g.chain_len FROM room_state_head h"
                               " JOIN state_groups g ON g.group_id = h.group_id WHERE h.room_id = ?1");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, room_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *group = sqlite3_column_int64(s, 0);
        *chain_len = sqlite3_column_int64(s, 1);
    }
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int hs_store_history__new_group(sqlite3 *db, const hs_store_new_event *ev, int64_t head, int64_t chain_len,
                                int64_t *out)
{
    bool snapshot = head == 0 || chain_len + 1 >= HS_STORE_STATE_CHAIN_MAX;
    sqlite3_stmt *s = hs_store_prep(db, "INSERT INTO state_groups (room_id, prev_group, chain_len) VALUES (?1, ?2,"
                                    " ?3)");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, ev->room_id);
    if (snapshot) sqlite3_bind_null(s, 2);
    else sqlite3_bind_int64(s, 2, head);
    sqlite3_bind_int64(s, 3, snapshot ? 0 : chain_len + 1);
    if (run(s) != SQLITE_DONE) return -1;
    *out = sqlite3_last_insert_rowid(db);
    if (snapshot && head != 0) {
        s = hs_store_prep(db, "INSERT INTO state_group_entries (group_id, type, state_key, event_id)"
                     " SELECT ?2, type, state_key, event_id FROM (" RESOLVE_GROUP_SQL ")");
        if (!s) return -1;
        sqlite3_bind_int64(s, 1, head);
        sqlite3_bind_int64(s, 2, *out);
        if (run(s) != SQLITE_DONE) return -1;
    }
    s = hs_store_prep(db, "INSERT INTO state_group_entries (group_id, type, state_key, event_id) VALUES (?1, ?2,"
                      " ?3, ?4)"
                 " ON CONFLICT (group_id, type, state_key) DO UPDATE SET event_id = excluded.event_id");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, *out);
    hs_store_bind_text_or_null(s, 2, ev->type);
    hs_store_bind_text_or_null(s, 3, ev->state_key);
    hs_store_bind_text_or_null(s, 4, ev->event_id);
    return run(s) == SQLITE_DONE ? 0 : -1;
}

static int record_state(sqlite3 *db, const hs_store_new_event *ev)
{
    int64_t head, chain_len, after;
    if (read_head(db, ev->room_id, &head, &chain_len) != 0) return -1;
    if (!ev->state_key && head == 0) return -1; /* a message event before any state */
    after = head;
    if (ev->state_key && hs_store_history__new_group(db, ev, head, chain_len, &after) != 0) return -1;
    if (hs_store_history__event_state(db, ev, head, after) != 0) return -1;
    if (after == head) return 0;
    return hs_store_history__set_head(db, ev->room_id, after);
}

int hs_store_history__event_state(sqlite3 *db, const hs_store_new_event *ev, int64_t before, int64_t after)
{
    sqlite3_stmt *s = hs_store_prep(db, "INSERT INTO event_state (event_id, room_id, group_before, group_after)"
                               " VALUES (?1, ?2, ?3, ?4)");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, ev->event_id);
    hs_store_bind_text_or_null(s, 2, ev->room_id);
    if (before) sqlite3_bind_int64(s, 3, before);
    else sqlite3_bind_null(s, 3);
    sqlite3_bind_int64(s, 4, after);
    return run(s) == SQLITE_DONE ? 0 : -1;
}

int hs_store_history__insert_event(sqlite3 *db, const hs_store_new_event *ev, int64_t stream, bool outlier,
                                   int64_t before, int64_t after, int64_t *stream_out)
{
    sqlite3_stmt *s = hs_store_prep(db, "INSERT INTO events (stream_ordering, event_id, room_id, type, state_key,"
                                        " sender, depth, origin_server_ts, pdu, outlier)"
                                        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    if (!s) return -1;
    /* NULL lets the table pick the next ordering up. */
    if (stream != 0) sqlite3_bind_int64(s, 1, stream);
    hs_store_bind_text_or_null(s, 2, ev->event_id);
    hs_store_bind_text_or_null(s, 3, ev->room_id);
    hs_store_bind_text_or_null(s, 4, ev->type);
    hs_store_bind_text_or_null(s, 5, ev->state_key);
    hs_store_bind_text_or_null(s, 6, ev->sender);
    sqlite3_bind_int64(s, 7, ev->depth);
    sqlite3_bind_int64(s, 8, ev->origin_server_ts);
    hs_store_bind_text_or_null(s, 9, ev->pdu_json);
    sqlite3_bind_int(s, 10, outlier ? 1 : 0);
    int rc = run(s);
    if (rc == SQLITE_CONSTRAINT) return 1;
    if (rc != SQLITE_DONE) return -1;
    *stream_out = sqlite3_last_insert_rowid(db);
    return hs_store_history__event_state(db, ev, before, after);
}

int hs_store_history__promote(sqlite3 *db, const hs_store_new_event *ev, int64_t stream, int64_t before,
                              int64_t after, int64_t *stream_out)
{
    sqlite3_stmt *s;
    if (stream == 0) {
        s = hs_store_prep(db, "SELECT COALESCE(MAX(stream_ordering), 0) + 1 FROM events");
        if (!s) return -1;
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) stream = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
        if (rc != SQLITE_ROW) return -1;
    }
    s = hs_store_prep(db, "UPDATE events SET outlier = 0, stream_ordering = ?3"
                          " WHERE event_id = ?1 AND room_id = ?2 AND outlier = 1");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, ev->event_id);
    hs_store_bind_text_or_null(s, 2, ev->room_id);
    sqlite3_bind_int64(s, 3, stream);
    if (run(s) != SQLITE_DONE) return -1;
    if (sqlite3_changes(db) == 0) return 1;
    *stream_out = stream;
    s = hs_store_prep(db, "DELETE FROM event_state WHERE event_id = ?1");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, ev->event_id);
    if (run(s) != SQLITE_DONE) return -1;
    return hs_store_history__event_state(db, ev, before, after);
}

int hs_store_history__set_head(sqlite3 *db, const char *room_id, int64_t group)
{
    sqlite3_stmt *s = hs_store_prep(db, "INSERT INTO room_state_head (room_id, group_id) VALUES (?1, ?2)"
                               " ON CONFLICT (room_id) DO UPDATE SET group_id = excluded.group_id");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, room_id);
    sqlite3_bind_int64(s, 2, group);
    return run(s) == SQLITE_DONE ? 0 : -1;
}

int hs_store_history_append(hs_store *st, const hs_store_new_event *ev)
{
    sqlite3 *db = hs_store_sqlite(st);
    if (record_state(db, ev) != 0) return -1;
    return hs_store_history__event_rows(db, ev);
}

int hs_store_history__event_rows(sqlite3 *db, const hs_store_new_event *ev)
{
    sqlite3_stmt *s;
    if (ev->redacts) {
        s = hs_store_prep(db, "INSERT OR IGNORE INTO redactions (redacts, redaction_id, room_id) VALUES (?1, ?2, ?3)");
        if (!s) return -1;
        hs_store_bind_text_or_null(s, 1, ev->redacts);
        hs_store_bind_text_or_null(s, 2, ev->event_id);
        hs_store_bind_text_or_null(s, 3, ev->room_id);
        if (run(s) != SQLITE_DONE) return -1;
    }
    if (ev->relates_to && ev->rel_type) {
        s = hs_store_prep(db, "INSERT INTO event_relations (event_id, relates_to, rel_type, room_id, aggregation_key)"
                     " VALUES (?1, ?2, ?3, ?4, ?5)");
        if (!s) return -1;
        hs_store_bind_text_or_null(s, 1, ev->event_id);
        hs_store_bind_text_or_null(s, 2, ev->relates_to);
        hs_store_bind_text_or_null(s, 3, ev->rel_type);
        hs_store_bind_text_or_null(s, 4, ev->room_id);
        hs_store_bind_text_or_null(s, 5, ev->rel_key);
        if (run(s) != SQLITE_DONE) return -1;
    }
    if (ev->membership && ev->state_key &&
        (strcmp(ev->membership, "join") == 0 || strcmp(ev->membership, "invite") == 0)) {
        s = hs_store_prep(db, "DELETE FROM forgotten_rooms WHERE user_id = ?1 AND room_id = ?2");
        if (!s) return -1;
        hs_store_bind_text_or_null(s, 1, ev->state_key);
        hs_store_bind_text_or_null(s, 2, ev->room_id);
        if (run(s) != SQLITE_DONE) return -1;
    }
    return 0;
}

/* ---- state at an event -------------------------------------------------------------- */

int hs_store_history__event_group(sqlite3 *db, const char *event_id, bool after, int64_t *group)
{
    sqlite3_stmt *s = hs_store_prep(db, after ? "SELECT group_after FROM event_state WHERE event_id = ?1"
                                     : "SELECT group_before FROM event_state WHERE event_id = ?1");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, event_id);
    int rc = sqlite3_step(s);
    *group = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

int hs_store_state_at_event(hs_store *st, const char *event_id, bool after, hs_state_map **out)
{
    *out = NULL;
    sqlite3 *db = hs_store_sqlite(st);
    /* The group lookup and the resolution must see the same database. */
    sqlite3_mutex *m = sqlite3_db_mutex(db);
    sqlite3_mutex_enter(m);
    int64_t group;
    int ret = hs_store_history__event_group(db, event_id, after, &group);
    hs_state_map *map = ret == 0 ? hs_state_map_new() : NULL;
    if (ret == 0 && !map) ret = -1;
    sqlite3_stmt *s = NULL;
    if (ret == 0 && group != 0 && !(s = hs_store_prep(db, RESOLVE_GROUP_SQL))) ret = -1;
    if (s) {
        sqlite3_bind_int64(s, 1, group);
        int rc;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            if (hs_state_map_set(map, (const char *)sqlite3_column_text(s, 0), (const char *)sqlite3_column_text(s, 1),
                                 (const char *)sqlite3_column_text(s, 2)) != 0)
                break;
        }
        if (rc != SQLITE_DONE) ret = -1;
        sqlite3_finalize(s);
    }
    sqlite3_mutex_leave(m);
    if (ret == 0) *out = map;
    else hs_state_map_free(map);
    return ret;
}

int hs_store_event_state_groups(hs_store *st, const char *event_id, int64_t *before, int64_t *after)
{
    sqlite3_stmt *s =
        hs_store_stmt(st, "SELECT group_before, group_after FROM event_state WHERE event_id = ?1");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, event_id);
    int rc = sqlite3_step(s);
    *before = *after = 0;
    if (rc == SQLITE_ROW) {
        *before = sqlite3_column_int64(s, 0);
        *after = sqlite3_column_int64(s, 1);
    }
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

int hs_store_state_at_event_get(hs_store *st, const char *event_id, bool after, const char *type,
                                const char *state_key, char **event_id_out)
{
    sqlite3 *db = hs_store_sqlite(st);
    sqlite3_mutex *m = sqlite3_db_mutex(db);
    sqlite3_mutex_enter(m);
    int64_t group;
    int ret = hs_store_history__event_group(db, event_id, after, &group);
    if (ret == 0 && group == 0) ret = 1;
    if (ret == 0) {
        /* Nearest group in the chain that names the key. */
        sqlite3_stmt *s = hs_store_prep(db, "WITH RECURSIVE chain(g, d) AS (SELECT ?1, 0 UNION ALL"
                                   " SELECT sg.prev_group, chain.d + 1 FROM state_groups sg JOIN chain"
                                   " ON sg.group_id = chain.g WHERE sg.prev_group IS NOT NULL)"
                                   " SELECT x.event_id FROM state_group_entries x JOIN chain ON x.group_id = chain.g"
                                   " WHERE x.type = ?2 AND x.state_key = ?3 ORDER BY chain.d LIMIT 1");
        if (s) {
            sqlite3_bind_int64(s, 1, group);
            hs_store_bind_text_or_null(s, 2, type);
            hs_store_bind_text_or_null(s, 3, state_key);
        }
        ret = hs_store_rooms__one_string(s, event_id_out);
    }
    sqlite3_mutex_leave(m);
    return ret;
}

int hs_store_event_at_stream(hs_store *st, const char *room_id, int64_t stream, char **event_id_out)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT event_id FROM events WHERE room_id = ?1 AND outlier = 0"
                                                " AND stream_ordering <= ?2 ORDER BY stream_ordering DESC LIMIT 1");
    if (s) {
        hs_store_bind_text_or_null(s, 1, room_id);
        sqlite3_bind_int64(s, 2, stream);
    }
    return hs_store_rooms__one_string(s, event_id_out);
}

/* ---- redactions and relations ------------------------------------------------------- */

int hs_store_redaction_of(hs_store *st, const char *event_id, char **redaction_id_out)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT r.redaction_id FROM redactions r"
                                                " JOIN events e ON e.event_id = r.redacts"
                                                " JOIN events re ON re.event_id = r.redaction_id"
                                                " WHERE r.redacts = ?1 AND r.room_id = e.room_id"
                                                " ORDER BY re.stream_ordering LIMIT 1");
    if (s) hs_store_bind_text_or_null(s, 1, event_id);
    return hs_store_rooms__one_string(s, redaction_id_out);
}

/* A redacted relation no longer relates (its m.relates_to is gone), so it is left out
 * of /relations pages and of aggregations. */
long hs_store_relations(hs_store *st, const char *room_id, const char *event_id, const char *rel_type,
                        const char *event_type, int64_t from, int64_t to, bool backwards, long limit,
                        int (*fn)(void *ctx, const hs_store_event *ev), void *ctx)
{
    sqlite3_stmt *s = hs_store_prep(hs_store_sqlite(st),
                           backwards ? "SELECT " HS_STORE_EVENT_COLS " FROM event_relations x"
                                       " JOIN events e ON e.event_id = x.event_id"
                                       " WHERE x.relates_to = ?1 AND x.room_id = ?2"
                                       " AND (?3 IS NULL OR x.rel_type = ?3) AND (?4 IS NULL OR e.type = ?4)"
                                       " AND NOT EXISTS (SELECT 1 FROM redactions r WHERE r.redacts = e.event_id)"
                                       " AND e.stream_ordering <= ?5 AND e.stream_ordering > ?6"
                                       " ORDER BY e.stream_ordering DESC LIMIT ?7"
                                     : "SELECT " HS_STORE_EVENT_COLS " FROM event_relations x"
                                       " JOIN events e ON e.event_id = x.event_id"
                                       " WHERE x.relates_to = ?1 AND x.room_id = ?2"
                                       " AND (?3 IS NULL OR x.rel_type = ?3) AND (?4 IS NULL OR e.type = ?4)"
                                       " AND NOT EXISTS (SELECT 1 FROM redactions r WHERE r.redacts = e.event_id)"
                                       " AND e.stream_ordering > ?5 AND e.stream_ordering <= ?6"
                                       " ORDER BY e.stream_ordering ASC LIMIT ?7");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, event_id);
    hs_store_bind_text_or_null(s, 2, room_id);
    hs_store_bind_text_or_null(s, 3, rel_type);
    hs_store_bind_text_or_null(s, 4, event_type);
    sqlite3_bind_int64(s, 5, from);
    sqlite3_bind_int64(s, 6, to != HS_STORE_NO_BOUND ? to : backwards ? INT64_MIN : INT64_MAX);
    sqlite3_bind_int64(s, 7, limit);
    return hs_store_rooms__each_event(s, fn, ctx);
}

long hs_store_threads(hs_store *st, const char *room_id, const char *user_id, int64_t before, long limit,
                      int (*fn)(void *ctx, const hs_store_event *root, int64_t latest), void *ctx)
{
    sqlite3_stmt *s = hs_store_prep(hs_store_sqlite(st),
                           "SELECT " HS_STORE_EVENT_COLS ", t.latest FROM"
                           " (SELECT x.relates_to AS root, MAX(r.stream_ordering) AS latest FROM event_relations x"
                           " JOIN events r ON r.event_id = x.event_id WHERE x.room_id = ?1 AND x.rel_type = 'm.thread'"
                           " AND NOT EXISTS (SELECT 1 FROM redactions d WHERE d.redacts = x.event_id)"
                           " GROUP BY x.relates_to) t"
                           " JOIN events e ON e.event_id = t.root WHERE e.room_id = ?1 AND t.latest < ?2"
                           " AND (?3 IS NULL OR e.sender = ?3 OR EXISTS (SELECT 1 FROM event_relations y"
                           " JOIN events p ON p.event_id = y.event_id WHERE y.relates_to = t.root"
                           " AND y.rel_type = 'm.thread' AND p.sender = ?3))"
                           " ORDER BY t.latest DESC LIMIT ?4");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, room_id);
    sqlite3_bind_int64(s, 2, before);
    hs_store_bind_text_or_null(s, 3, user_id);
    sqlite3_bind_int64(s, 4, limit);
    long count = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        hs_store_event ev;
        if (hs_store_rooms__read_event(s, &ev) != 0) {
            count = -1;
            break;
        }
        int r = fn(ctx, &ev, sqlite3_column_int64(s, HS_STORE_EVENT_NCOLS));
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

void hs_relation_summary_clear(hs_relation_summary *s)
{
    free(s->latest_replace);
    free(s->thread_latest);
    memset(s, 0, sizeof *s);
}

/* Relations count only from the related event's own room. */
#define SAME_ROOM " AND x.room_id = (SELECT o.room_id FROM events o WHERE o.event_id = ?1)"

int hs_store_relation_summary(hs_store *st, const char *event_id, const char *original_sender,
                              const char *user_id, hs_relation_summary *out)
{
    memset(out, 0, sizeof *out);
    sqlite3 *db = hs_store_sqlite(st);
    sqlite3_stmt *s = hs_store_prep(db, "SELECT e.event_id FROM event_relations x JOIN events e ON e.event_id ="
                                    " x.event_id"
                               " WHERE x.relates_to = ?1 AND x.rel_type = 'm.replace' AND e.sender = ?2" SAME_ROOM
                               " AND NOT EXISTS (SELECT 1 FROM redactions r WHERE r.redacts = e.event_id)"
                               " ORDER BY e.stream_ordering DESC LIMIT 1");
    if (s) {
        hs_store_bind_text_or_null(s, 1, event_id);
        hs_store_bind_text_or_null(s, 2, original_sender);
    }
    if (hs_store_rooms__one_string(s, &out->latest_replace) < 0) return -1;
    s = hs_store_prep(db, "SELECT COUNT(*), MAX(e.stream_ordering), SUM(e.sender = ?2) FROM event_relations x"
                 " JOIN events e ON e.event_id = x.event_id WHERE x.relates_to = ?1"
                 " AND x.rel_type = 'm.thread'" SAME_ROOM
                 " AND NOT EXISTS (SELECT 1 FROM redactions r WHERE r.redacts = e.event_id)");
    if (!s) goto fail;
    hs_store_bind_text_or_null(s, 1, event_id);
    hs_store_bind_text_or_null(s, 2, user_id);
    int64_t latest = 0;
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_finalize(s);
        goto fail;
    }
    out->thread_count = (long)sqlite3_column_int64(s, 0);
    latest = sqlite3_column_int64(s, 1);
    out->thread_participated = sqlite3_column_int64(s, 2) > 0;
    sqlite3_finalize(s);
    if (out->thread_count == 0) return 0;
    s = hs_store_prep(db, "SELECT event_id FROM events WHERE stream_ordering = ?1");
    if (s) sqlite3_bind_int64(s, 1, latest);
    if (hs_store_rooms__one_string(s, &out->thread_latest) != 0) goto fail;
    return 0;
fail:
    hs_relation_summary_clear(out);
    return -1;
}

/* ---- backfilled history ------------------------------------------------------------- */

/* How event_id is stored: 2 absent, 1 a timeline event of room_id, 0 an outlier of
 * room_id, 3 an event of another room, -1 on error. */
static int stored_kind(sqlite3 *db, const char *room_id, const char *event_id)
{
    sqlite3_stmt *s = hs_store_prep(db, "SELECT outlier, room_id = ?2 FROM events WHERE event_id = ?1");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, event_id);
    hs_store_bind_text_or_null(s, 2, room_id);
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_DONE ? 2 : rc != SQLITE_ROW ? -1
              : !sqlite3_column_int(s, 1) ? 3 : sqlite3_column_int(s, 0) ? 0 : 1;
    sqlite3_finalize(s);
    return ret;
}

/* The group of the state before a backfilled state event whose state after is group
 * `after`: its key set to b->replaced (a delta), or removed (a snapshot without it). */
static int backfill_before(sqlite3 *db, const hs_store_backfill_event *b, int64_t after, int64_t *out)
{
    const hs_store_new_event *ev = &b->ev;
    if (b->replaced) {
        sqlite3_stmt *s = hs_store_prep(db, "SELECT chain_len FROM state_groups WHERE group_id = ?1");
        if (!s) return -1;
        sqlite3_bind_int64(s, 1, after);
        int rc = sqlite3_step(s);
        int64_t len = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
        sqlite3_finalize(s);
        if (rc != SQLITE_ROW) return -1;
        hs_store_new_event entry = {.room_id = ev->room_id, .type = ev->type, .state_key = ev->state_key,
                                    .event_id = b->replaced};
        return hs_store_history__new_group(db, &entry, after, len, out);
    }
    sqlite3_stmt *s = hs_store_prep(db, "INSERT INTO state_groups (room_id, prev_group, chain_len)"
                                        " VALUES (?1, NULL, 0)");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, ev->room_id);
    if (run(s) != SQLITE_DONE) return -1;
    *out = sqlite3_last_insert_rowid(db);
    s = hs_store_prep(db, "INSERT INTO state_group_entries (group_id, type, state_key, event_id)"
                          " SELECT ?2, type, state_key, event_id FROM (" RESOLVE_GROUP_SQL ")"
                          " WHERE NOT (type = ?3 AND state_key = ?4)");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, after);
    sqlite3_bind_int64(s, 2, *out);
    hs_store_bind_text_or_null(s, 3, ev->type);
    hs_store_bind_text_or_null(s, 4, ev->state_key);
    return run(s) == SQLITE_DONE ? 0 : -1;
}

/* Writes ev below everything stored (kind 2: a new row; 0: the outlier row moved) with
 * the given state groups. */
static int place_below(sqlite3 *db, const hs_store_new_event *ev, int kind, bool outlier, int64_t before,
                       int64_t after)
{
    int64_t pos, stored;
    if (hs_store_rooms__next_below(db, &pos) != 0) return -1;
    if (kind == 0) return hs_store_history__promote(db, ev, pos, before, after, &stored) == 0 ? 0 : -1;
    if (hs_store_history__insert_event(db, ev, pos, outlier, before, after, &stored) != 0) return -1;
    /* An old join must not un-forget the room (that is for new memberships only). */
    hs_store_new_event rows = *ev;
    rows.membership = NULL;
    return hs_store_history__event_rows(db, &rows);
}

typedef struct backfill_arg {
    const char *room_id, *boundary;
    const hs_store_backfill_event *evs;
    size_t n, stored;
} backfill_arg;

static int backfill_steps(sqlite3 *db, void *varg)
{
    backfill_arg *a = varg;
    sqlite3_stmt *s = hs_store_prep(db, "SELECT x.group_before FROM event_state x JOIN events e"
                                        " ON e.event_id = x.event_id WHERE x.event_id = ?1 AND e.room_id = ?2"
                                        " AND e.outlier = 0 AND x.group_before IS NOT NULL");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, a->boundary);
    hs_store_bind_text_or_null(s, 2, a->room_id);
    int rc = sqlite3_step(s);
    int64_t start = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE) return 1;
    if (rc != SQLITE_ROW) return -1;
    int64_t cur = start;
    for (size_t i = 0; i < a->n; i++) {
        const hs_store_backfill_event *b = &a->evs[i];
        const hs_store_new_event *ev = &b->ev;
        int kind = stored_kind(db, a->room_id, ev->event_id);
        if (kind < 0) return -1;
        if (kind == 3) continue; /* its ID is taken by an event of another room */
        if (b->outlier) {
            if (kind == 2 && place_below(db, ev, 2, true, start, start) != 0) return -1;
            continue;
        }
        if (kind == 1) {
            /* history we hold already: what is older continues from its state */
            if (hs_store_history__event_group(db, ev->event_id, false, &cur) < 0) return -1;
            continue;
        }
        if (cur == 0) continue; /* nothing precedes m.room.create */
        int64_t after = cur, before = cur;
        if (ev->state_key && strcmp(ev->type, "m.room.create") == 0) before = 0;
        else if (ev->state_key && backfill_before(db, b, after, &before) != 0) return -1;
        if (place_below(db, ev, kind, false, before, after) != 0) return -1;
        cur = before;
        a->stored++;
    }
    return 0;
}

int hs_store_backfill_put(hs_store *st, const char *room_id, const char *boundary, const hs_store_backfill_event *evs,
                          size_t n, size_t *stored)
{
    backfill_arg a = {room_id, boundary, evs, n, 0};
    int rc = hs_store_transact(st, backfill_steps, &a);
    *stored = rc == 0 ? a.stored : 0;
    return rc;
}

/* ---- forgotten rooms ---------------------------------------------------------------- */

int hs_store_forget_room(hs_store *st, const char *room_id, const char *user_id)
{
    sqlite3_stmt *s = hs_store_stmt(st, "INSERT OR IGNORE INTO forgotten_rooms (user_id, room_id)"
                                                " VALUES (?1, ?2)");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, user_id);
    hs_store_bind_text_or_null(s, 2, room_id);
    return run(s) == SQLITE_DONE ? 0 : -1;
}

int hs_store_room_forgotten(hs_store *st, const char *room_id, const char *user_id)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT 1 FROM forgotten_rooms WHERE user_id = ?1 AND room_id = ?2");
    if (!s) return -1;
    hs_store_bind_text_or_null(s, 1, user_id);
    hs_store_bind_text_or_null(s, 2, room_id);
    int rc = run(s);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}
