/* hs_store: SQLite behind a backend-neutral API. Migrations are applied one per
 * transaction (BEGIN IMMEDIATE, so two processes opening the same file cannot both
 * migrate) and the version lives in its own table. synchronous=FULL: an acknowledged
 * write must survive power loss, which is what "in SQLite before acknowledged" means. */
#include "server-core/hs_store.h"
#include "server-core/hs_store_internal.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct hs_store {
    sqlite3 *db;
    char *path;
};

static const hs_migration migrations[] = {
    {1, "server metadata",
     "CREATE TABLE server_meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);"},
    /* Accounts (hs_store_accounts.c). Deactivated users keep their row so the name is
     * never handed out again; tokens are stored as SHA-256 hashes only. */
    {2, "accounts, devices, access tokens",
     "CREATE TABLE users (user_id TEXT PRIMARY KEY NOT NULL, password_hash TEXT,"
     " admin INTEGER NOT NULL DEFAULT 0, deactivated INTEGER NOT NULL DEFAULT 0, created_ts INTEGER NOT NULL);"
     "CREATE TABLE devices (user_id TEXT NOT NULL REFERENCES users(user_id), device_id TEXT NOT NULL,"
     " display_name TEXT, last_seen_ts INTEGER, last_seen_ip TEXT, created_ts INTEGER NOT NULL,"
     " PRIMARY KEY (user_id, device_id));"
     "CREATE TABLE access_tokens (token_hash BLOB PRIMARY KEY NOT NULL, user_id TEXT NOT NULL,"
     " device_id TEXT NOT NULL, created_ts INTEGER NOT NULL,"
     " FOREIGN KEY (user_id, device_id) REFERENCES devices(user_id, device_id) ON DELETE CASCADE);"
     "CREATE INDEX access_tokens_device ON access_tokens(user_id, device_id);"},
    /* Rooms (hs_store_rooms.c): every accepted event as its PDU text, its stream
     * ordering (the rowid, so it only grows), the current state and the forward
     * extremities of each room, and the client transaction IDs already answered. */
    {3, "rooms, events, current state, forward extremities, transaction IDs",
     "CREATE TABLE rooms (room_id TEXT PRIMARY KEY NOT NULL, room_version TEXT NOT NULL,"
     " creator TEXT NOT NULL, is_public INTEGER NOT NULL DEFAULT 0, created_ts INTEGER NOT NULL);"
     "CREATE TABLE events (stream_ordering INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE,"
     " room_id TEXT NOT NULL REFERENCES rooms(room_id), type TEXT NOT NULL, state_key TEXT,"
     " sender TEXT NOT NULL, depth INTEGER NOT NULL, origin_server_ts INTEGER NOT NULL, pdu TEXT NOT NULL,"
     " txn_user TEXT, txn_device TEXT, txn_id TEXT);"
     "CREATE INDEX events_room_stream ON events(room_id, stream_ordering);"
     "CREATE TABLE current_state (room_id TEXT NOT NULL REFERENCES rooms(room_id), type TEXT NOT NULL,"
     " state_key TEXT NOT NULL, event_id TEXT NOT NULL REFERENCES events(event_id), membership TEXT,"
     " PRIMARY KEY (room_id, type, state_key));"
     "CREATE INDEX current_state_members ON current_state(state_key, type, membership);"
     "CREATE TABLE forward_extremities (room_id TEXT NOT NULL REFERENCES rooms(room_id),"
     " event_id TEXT NOT NULL REFERENCES events(event_id), PRIMARY KEY (room_id, event_id));"
     "CREATE TABLE event_txns (user_id TEXT NOT NULL, device_id TEXT NOT NULL, txn_id TEXT NOT NULL,"
     " event_id TEXT NOT NULL REFERENCES events(event_id), PRIMARY KEY (user_id, device_id, txn_id));"},
    /* From here on each area keeps its schema beside its storage code (hs_store_<area>.c),
     * so the areas can grow their tables without touching one shared list. */
    {4, "state at each event, redactions, relations", hs_schema_history},
    {5, "sync: filters, account data, receipts, presence", hs_schema_sync},
    {6, "E2EE: device keys, one-time keys, cross-signing, to-device, device list changes", hs_schema_e2ee},
    {7, "profiles, room aliases, push rules", hs_schema_directory},
    {8, "media repository", hs_schema_media},
    {9, "federation: remote server keys", hs_schema_federation},
    {10, "server-side key backup", hs_schema_backup},
    {11, "search index, reports, openid tokens", hs_schema_extras},
    /* A client transaction ID is scoped to its device and the request path (Client-Server
     * API v1.7+): the same ID in another room, for another event type or redacting another
     * event is a new request. Rows kept from before get the scope their event implies. It
     * rebuilds migration 3's table, so its SQL stays here beside it. */
    {12, "client transaction IDs scoped to room and endpoint",
     "CREATE TABLE event_txns_scoped (user_id TEXT NOT NULL, device_id TEXT NOT NULL, room_id TEXT NOT NULL,"
     " scope TEXT NOT NULL, txn_id TEXT NOT NULL, event_id TEXT NOT NULL REFERENCES events(event_id),"
     " PRIMARY KEY (user_id, device_id, room_id, scope, txn_id));"
     "INSERT INTO event_txns_scoped SELECT t.user_id, t.device_id, e.room_id,"
     " CASE WHEN e.type = 'm.room.redaction' THEN 'redact/' ||"
     " COALESCE(json_extract(e.pdu, '$.redacts'), json_extract(e.pdu, '$.content.redacts'), '')"
     " ELSE 'send/' || e.type END, t.txn_id, t.event_id FROM event_txns t JOIN events e ON e.event_id = t.event_id;"
     "DROP TABLE event_txns;"
     "ALTER TABLE event_txns_scoped RENAME TO event_txns;"},
};

const hs_migration *hs_store_migrations(size_t *n)
{
    *n = sizeof migrations / sizeof migrations[0];
    return migrations;
}

int hs_store_transact(hs_store *st, int (*steps)(sqlite3 *db, void *arg), void *arg)
{
    sqlite3_mutex *m = sqlite3_db_mutex(st->db);
    sqlite3_mutex_enter(m);
    int ret = -1;
    if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK) {
        ret = steps(st->db, arg);
        if (ret >= 0 && sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) ret = -1;
        if (ret < 0) sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    }
    sqlite3_mutex_leave(m);
    return ret;
}

sqlite3_stmt *hs_store_prep(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return NULL;
    return s;
}

sqlite3_stmt *hs_store_stmt(hs_store *st, const char *sql)
{
    return hs_store_prep(st->db, sql);
}

void hs_store_bind_text_or_null(sqlite3_stmt *s, int i, const char *v)
{
    if (v) sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(s, i);
}

char *hs_store_col_dup(sqlite3_stmt *s, int col)
{
    const unsigned char *v = sqlite3_column_text(s, col);
    return v ? strdup((const char *)v) : NULL;
}

char *hs_store_col_dup_or_empty(sqlite3_stmt *s, int col)
{
    const unsigned char *v = sqlite3_column_text(s, col);
    return strdup(v ? (const char *)v : "");
}

void hs_store_col_copy(sqlite3_stmt *s, int col, char *dst, size_t cap)
{
    const unsigned char *v = sqlite3_column_text(s, col);
    snprintf(dst, cap, "%s", v ? (const char *)v : "");
}

int hs_store_step_done(sqlite3_stmt *s)
{
    if (!s) return -1;
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int read_version(sqlite3 *db)
{
    sqlite3_stmt *st;
    int v = -1;
    if (sqlite3_prepare_v2(db, "SELECT version FROM schema_version", -1, &st, NULL) != SQLITE_OK) return -1;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int migrate(sqlite3 *db, const hs_migration *m, size_t n, char *err, size_t errlen)
{
    char why[512];
    if (exec(db,
             "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);"
             "INSERT INTO schema_version SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM schema_version);",
             why, sizeof why) != 0) {
        snprintf(err, errlen, "cannot create the schema_version table: %s", why);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (exec(db, "BEGIN IMMEDIATE", why, sizeof why) != 0) {
            snprintf(err, errlen, "cannot start migration %d: %s", m[i].version, why);
            return -1;
        }
        int current = read_version(db);
        if (current < 0) {
            exec(db, "ROLLBACK", why, sizeof why);
            snprintf(err, errlen, "cannot read the schema version");
            return -1;
        }
        if (m[i].version <= current) {
            exec(db, "COMMIT", why, sizeof why);
            continue;
        }
        if (m[i].version != current + 1) {
            exec(db, "ROLLBACK", why, sizeof why);
            snprintf(err, errlen, "migration %d (%s) does not follow schema version %d", m[i].version, m[i].name,
                     current);
            return -1;
        }
        char bump[80];
        snprintf(bump, sizeof bump, "UPDATE schema_version SET version = %d", m[i].version);
        if (exec(db, m[i].sql, why, sizeof why) != 0 || exec(db, bump, why, sizeof why) != 0) {
            char ignored[64];
            exec(db, "ROLLBACK", ignored, sizeof ignored);
            snprintf(err, errlen, "migration %d (%s) failed and was rolled back: %s", m[i].version, m[i].name, why);
            return -1;
        }
        if (exec(db, "COMMIT", why, sizeof why) != 0) {
            snprintf(err, errlen, "migration %d (%s) could not commit: %s", m[i].version, m[i].name, why);
            return -1;
        }
    }
    int final = read_version(db);
    int newest = n ? m[n - 1].version : 0;
    if (final > newest) {
        snprintf(err, errlen, "the database has schema version %d, newer than this pinegate knows (%d); "
                              "upgrade pinegate instead of downgrading",
                 final, newest);
        return -1;
    }
    return 0;
}

int hs_store_open(const char *path, const hs_migration *m, size_t n, hs_store **out, char *err, size_t errlen)
{
    *out = NULL;
    sqlite3 *db = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: cannot open database: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return -1;
    }
    sqlite3_busy_timeout(db, 5000);
    char why[512];
    if (exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", why, sizeof why) != 0) {
        snprintf(err, errlen, "%s: %s", path, why);
        sqlite3_close(db);
        return -1;
    }
    if (migrate(db, m, n, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s: %s", path, why);
        sqlite3_close(db);
        return -1;
    }
    hs_store *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(path))) {
        free(st);
        sqlite3_close(db);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    st->db = db;
    *out = st;
    return 0;
}

sqlite3 *hs_store_sqlite(hs_store *st)
{
    return st->db;
}

void hs_store_close(hs_store *st)
{
    if (!st) return;
    sqlite3_exec(st->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    sqlite3_close(st->db);
    free(st->path);
    free(st);
}

int hs_store_schema_version(hs_store *st)
{
    return read_version(st->db);
}

int64_t hs_store_size_bytes(hs_store *st)
{
    struct stat sb;
    if (stat(st->path, &sb) != 0) return -1;
    int64_t total = (int64_t)sb.st_size;
    char wal[4200];
    snprintf(wal, sizeof wal, "%s-wal", st->path);
    if (stat(wal, &sb) == 0) total += (int64_t)sb.st_size;
    return total;
}

int hs_store_ping(hs_store *st)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db, "SELECT 1", -1, &s, NULL) != SQLITE_OK) return -1;
    int rc = sqlite3_step(s) == SQLITE_ROW ? 0 : -1;
    sqlite3_finalize(s);
    return rc;
}

char *hs_store_meta_get(hs_store *st, const char *key)
{
    sqlite3_stmt *s;
    char *out = NULL;
    if (sqlite3_prepare_v2(st->db, "SELECT value FROM server_meta WHERE key = ?1", -1, &s, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(s, 0);
        if (v) out = strdup((const char *)v);
    }
    sqlite3_finalize(s);
    return out;
}

int hs_store_meta_set(hs_store *st, const char *key, const char *value)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db, "INSERT OR REPLACE INTO server_meta (key, value) VALUES (?1, ?2)", -1, &s,
                           NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(s);
    return rc;
}

int hs_store_claim_server_name(hs_store *st, const char *server_name, char *err, size_t errlen)
{
    char *have = hs_store_meta_get(st, "server_name");
    if (!have) {
        if (hs_store_meta_set(st, "server_name", server_name) != 0) {
            snprintf(err, errlen, "cannot record the server name: %s", sqlite3_errmsg(st->db));
            return -1;
        }
        return 0;
    }
    int rc = 0;
    if (strcmp(have, server_name) != 0) {
        snprintf(err, errlen,
                 "this database belongs to server '%s' but the config says '%s'; "
                 "a homeserver cannot change its name",
                 have, server_name);
        rc = -1;
    }
    free(have);
    return rc;
}
