/* hs_store_backup: key backup versions and their sessions. Every write runs in one
 * transaction (hs_store_transact) so "is this the current version" and the write it
 * guards cannot be separated by another device's request. */
#include "server-core/hs_store_backup.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_store_internal.h"

const char hs_schema_backup[] =
    "CREATE TABLE backup_versions (user_id TEXT NOT NULL, version INTEGER NOT NULL, algorithm TEXT NOT NULL,"
    " auth_data TEXT NOT NULL, etag INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY (user_id, version));"
    "CREATE TABLE backup_keys (user_id TEXT NOT NULL, version INTEGER NOT NULL, room_id TEXT NOT NULL,"
    " session_id TEXT NOT NULL, first_message_index INTEGER NOT NULL, forwarded_count INTEGER NOT NULL,"
    " is_verified INTEGER NOT NULL, session_data TEXT NOT NULL,"
    " PRIMARY KEY (user_id, version, room_id, session_id));";

void hs_backup_version_clear(hs_backup_version *v)
{
    free(v->algorithm);
    free(v->auth_data);
    memset(v, 0, sizeof *v);
}

/* The user's current version number, 0 when none; -1 on error. */
static int64_t current_version(sqlite3 *db, const char *user_id)
{
    sqlite3_stmt *s =
        hs_store_prep(db, "SELECT COALESCE(MAX(version), 0) FROM backup_versions WHERE user_id = ?1 AND deleted = 0");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_STATIC);
    int64_t v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    return v;
}

/* 1 when (user, version) exists and is live, 0 when not, -1 on error. */
static int version_live(sqlite3 *db, const char *user_id, int64_t version)
{
    sqlite3_stmt *s =
        hs_store_prep(db, "SELECT 1 FROM backup_versions WHERE user_id = ?1 AND version = ?2 AND deleted = 0");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, version);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* Bumps the etag and reads the count and etag back. */
static int touch(sqlite3 *db, const char *user_id, int64_t version, int64_t *count, int64_t *etag)
{
    sqlite3_stmt *s =
        hs_store_prep(db, "UPDATE backup_versions SET etag = etag + 1 WHERE user_id = ?1 AND version = ?2");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, version);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return -1;
    s = hs_store_prep(db, "SELECT etag, (SELECT COUNT(*) FROM backup_keys k WHERE k.user_id = v.user_id"
                          " AND k.version = v.version)"
                          " FROM backup_versions v WHERE user_id = ?1 AND version = ?2");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, version);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *etag = sqlite3_column_int64(s, 0);
        *count = sqlite3_column_int64(s, 1);
    }
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : -1;
}

typedef struct create_args {
    const char *user_id, *algorithm, *auth_data;
    int64_t version;
} create_args;

static int create_steps(sqlite3 *db, void *arg)
{
    create_args *a = arg;
    sqlite3_stmt *s = hs_store_prep(db, "SELECT COALESCE(MAX(version), 0) + 1 FROM backup_versions WHERE user_id = ?1");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, a->user_id, -1, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_finalize(s);
        return -1;
    }
    a->version = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    s = hs_store_prep(db, "INSERT INTO backup_versions (user_id, version, algorithm, auth_data)"
                          " VALUES (?1, ?2, ?3, ?4)");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, a->user_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, a->version);
    sqlite3_bind_text(s, 3, a->algorithm, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, a->auth_data, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

int hs_store_backup_create(hs_store *st, const char *user_id, const char *algorithm, const char *auth_data,
                           int64_t *version)
{
    create_args a = {user_id, algorithm, auth_data, 0};
    if (hs_store_transact(st, create_steps, &a) < 0) return -1;
    *version = a.version;
    return 0;
}

int hs_store_backup_get(hs_store *st, const char *user_id, int64_t version, hs_backup_version *out)
{
    memset(out, 0, sizeof *out);
    sqlite3 *db = hs_store_sqlite(st);
    sqlite3_stmt *s = hs_store_prep(db,
                                    "SELECT version, algorithm, auth_data, etag,"
                                    " (SELECT COUNT(*) FROM backup_keys k WHERE k.user_id = v.user_id"
                                    " AND k.version = v.version)"
                                    " FROM backup_versions v WHERE user_id = ?1 AND deleted = 0"
                                    " AND (?2 = 0 OR version = ?2)"
                                    " ORDER BY version DESC LIMIT 1");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, version);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        out->version = sqlite3_column_int64(s, 0);
        out->algorithm = hs_store_col_dup_or_empty(s, 1);
        out->auth_data = hs_store_col_dup_or_empty(s, 2);
        out->etag = sqlite3_column_int64(s, 3);
        out->count = sqlite3_column_int64(s, 4);
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_ROW && (!out->algorithm || !out->auth_data)) {
        hs_backup_version_clear(out);
        return -1;
    }
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

int hs_store_backup_update(hs_store *st, const char *user_id, int64_t version, const char *auth_data)
{
    sqlite3 *db = hs_store_sqlite(st);
    sqlite3_stmt *s = hs_store_prep(db, "UPDATE backup_versions SET auth_data = ?3"
                                        " WHERE user_id = ?1 AND version = ?2 AND deleted = 0");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, version);
    sqlite3_bind_text(s, 3, auth_data, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    int changed = sqlite3_changes(db);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return -1;
    return changed > 0 ? 0 : 1;
}

typedef struct version_args {
    const char *user_id;
    int64_t version;
} version_args;

static int delete_steps(sqlite3 *db, void *arg)
{
    version_args *a = arg;
    int live = version_live(db, a->user_id, a->version);
    if (live != 1) return live < 0 ? -1 : 1;
    static const char *const sql[] = {
        "DELETE FROM backup_keys WHERE user_id = ?1 AND version = ?2",
        "UPDATE backup_versions SET deleted = 1 WHERE user_id = ?1 AND version = ?2",
    };
    for (size_t i = 0; i < 2; i++) {
        sqlite3_stmt *s = hs_store_prep(db, sql[i]);
        if (!s) return -1;
        sqlite3_bind_text(s, 1, a->user_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, a->version);
        int rc = sqlite3_step(s);
        sqlite3_finalize(s);
        if (rc != SQLITE_DONE) return -1;
    }
    return 0;
}

int hs_store_backup_delete(hs_store *st, const char *user_id, int64_t version)
{
    version_args a = {user_id, version};
    return hs_store_transact(st, delete_steps, &a);
}

typedef struct put_args {
    const char *user_id;
    int64_t version;
    const json_t *rooms;
    int64_t max_sessions, count, etag;
    bool over;
} put_args;

/* Is `n` (the new copy) better than the stored row in `old`? */
static int better(const json_t *n, sqlite3_stmt *old)
{
    int nv = json_is_true(json_object_get(n, "is_verified")), ov = sqlite3_column_int(old, 2);
    if (nv != ov) return nv > ov;
    json_int_t nf = json_integer_value(json_object_get(n, "first_message_index"));
    sqlite3_int64 of = sqlite3_column_int64(old, 0);
    if (nf != of) return nf < of;
    return json_integer_value(json_object_get(n, "forwarded_count")) < sqlite3_column_int64(old, 1);
}

static int put_session(sqlite3 *db, put_args *a, const char *room_id, const char *session_id, const json_t *data)
{
    sqlite3_stmt *s = hs_store_prep(db, "SELECT first_message_index, forwarded_count, is_verified FROM backup_keys"
                                        " WHERE user_id = ?1 AND version = ?2 AND room_id = ?3 AND session_id = ?4");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, a->user_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, a->version);
    sqlite3_bind_text(s, 3, room_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, session_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    int keep_old = rc == SQLITE_ROW && !better(data, s);
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return -1;
    if (keep_old) return 0;
    char *text = json_dumps(json_object_get(data, "session_data"), JSON_COMPACT);
    if (!text) return -1;
    s = hs_store_prep(db, "INSERT OR REPLACE INTO backup_keys (user_id, version, room_id, session_id,"
                          " first_message_index, forwarded_count, is_verified, session_data)"
                          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    if (!s) {
        free(text);
        return -1;
    }
    sqlite3_bind_text(s, 1, a->user_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, a->version);
    sqlite3_bind_text(s, 3, room_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, session_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, json_integer_value(json_object_get(data, "first_message_index")));
    sqlite3_bind_int64(s, 6, json_integer_value(json_object_get(data, "forwarded_count")));
    sqlite3_bind_int(s, 7, json_is_true(json_object_get(data, "is_verified")));
    sqlite3_bind_text(s, 8, text, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    free(text);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int put_steps(sqlite3 *db, void *arg)
{
    put_args *a = arg;
    int64_t cur = current_version(db, a->user_id);
    if (cur < 0) return -1;
    if (cur == 0 || cur != a->version) return 1;
    const char *room_id;
    json_t *room;
    json_object_foreach((json_t *)a->rooms, room_id, room) {
        const char *session_id;
        json_t *data;
        json_object_foreach(json_object_get(room, "sessions"), session_id, data) {
            if (put_session(db, a, room_id, session_id, data) != 0) return -1;
        }
    }
    if (touch(db, a->user_id, a->version, &a->count, &a->etag) != 0) return -1;
    /* Counted after the writes (a session may replace a stored one); -1 rolls them back. */
    sqlite3_stmt *s = hs_store_prep(db, "SELECT COUNT(*) FROM backup_keys WHERE user_id = ?1");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, a->user_id, -1, SQLITE_STATIC);
    int64_t all = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    if (all < 0) return -1;
    a->over = all > a->max_sessions;
    return a->over ? -1 : 0;
}

int hs_store_backup_put(hs_store *st, const char *user_id, int64_t version, const json_t *rooms, int64_t max_sessions,
                        int64_t *count, int64_t *etag)
{
    put_args a = {user_id, version, rooms, max_sessions, 0, 0, false};
    int rc = hs_store_transact(st, put_steps, &a);
    if (rc < 0 && a.over) return 2;
    if (rc == 0) {
        *count = a.count;
        *etag = a.etag;
    }
    return rc;
}

json_t *hs_store_backup_keys(hs_store *st, const char *user_id, int64_t version, const char *room_id,
                             const char *session_id)
{
    sqlite3 *db = hs_store_sqlite(st);
    sqlite3_stmt *s = hs_store_prep(db, "SELECT room_id, session_id, first_message_index, forwarded_count, is_verified,"
                                        " session_data FROM backup_keys WHERE user_id = ?1 AND version = ?2"
                                        " AND (?3 IS NULL OR room_id = ?3) AND (?4 IS NULL OR session_id = ?4)"
                                        " ORDER BY room_id, session_id");
    if (!s) return NULL;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, version);
    sqlite3_bind_text(s, 3, room_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, session_id, -1, SQLITE_STATIC);
    json_t *rooms = json_object();
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *r = (const char *)sqlite3_column_text(s, 0);
        const char *sid = (const char *)sqlite3_column_text(s, 1);
        json_t *session_data = json_loads((const char *)sqlite3_column_text(s, 5), 0, NULL);
        json_t *room = json_object_get(rooms, r);
        if (!room) {
            room = json_pack("{s{}}", "sessions");
            json_object_set_new(rooms, r, room);
        }
        json_object_set_new(json_object_get(room, "sessions"), sid,
                            json_pack("{sI sI sb so*}", "first_message_index", (json_int_t)sqlite3_column_int64(s, 2),
                                      "forwarded_count", (json_int_t)sqlite3_column_int64(s, 3), "is_verified",
                                      sqlite3_column_int(s, 4), "session_data", session_data));
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        json_decref(rooms);
        return NULL;
    }
    return rooms;
}

typedef struct delete_keys_args {
    const char *user_id;
    int64_t version;
    const char *room_id, *session_id;
    int64_t count, etag;
} delete_keys_args;

static int delete_keys_steps(sqlite3 *db, void *arg)
{
    delete_keys_args *a = arg;
    int live = version_live(db, a->user_id, a->version);
    if (live != 1) return live < 0 ? -1 : 1;
    sqlite3_stmt *s = hs_store_prep(db, "DELETE FROM backup_keys WHERE user_id = ?1 AND version = ?2"
                                        " AND (?3 IS NULL OR room_id = ?3) AND (?4 IS NULL OR session_id = ?4)");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, a->user_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, a->version);
    sqlite3_bind_text(s, 3, a->room_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, a->session_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return -1;
    return touch(db, a->user_id, a->version, &a->count, &a->etag);
}

int hs_store_backup_delete_keys(hs_store *st, const char *user_id, int64_t version, const char *room_id,
                                const char *session_id, int64_t *count, int64_t *etag)
{
    delete_keys_args a = {user_id, version, room_id, session_id, 0, 0};
    int rc = hs_store_transact(st, delete_keys_steps, &a);
    if (rc == 0) {
        *count = a.count;
        *etag = a.etag;
    }
    return rc;
}
