/* hs_store_accounts: the SQL behind hs_store_accounts.h. Each function is one or two
 * statements on the store's serialized connection. Multi-statement operations are
 * ordered so a crash between them leaves a safe state: deactivation marks the user
 * first (token lookups already refuse deactivated users), then deletes devices.
 * Explicit transactions are avoided because the one connection is shared by all
 * worker threads and a BEGIN would swallow their statements too. */
#include "server-core/hs_store_accounts.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_store_internal.h"

/* Runs a statement that changes rows; returns 0 when it changed any, 1 when none, -1 on
 * error. The connection's mutex is held from the step to the count: another thread's
 * statement in between would otherwise leave its own count there. */
static int step_changes(hs_store *st, sqlite3_stmt *s)
{
    if (!s) return -1;
    sqlite3_mutex *m = sqlite3_db_mutex(hs_store_sqlite(st));
    sqlite3_mutex_enter(m);
    int rc = hs_store_step_done(s) != 0 ? -1 : sqlite3_changes(hs_store_sqlite(st)) > 0 ? 0 : 1;
    sqlite3_mutex_leave(m);
    return rc;
}

int hs_store_user_insert(hs_store *st, const char *user_id, const char *password_hash, bool admin, int64_t now_ms)
{
    sqlite3_stmt *s =
        hs_store_stmt(st, "INSERT INTO users (user_id, password_hash, admin, created_ts) VALUES (?1, ?2, ?3, ?4)"
                          " ON CONFLICT (user_id) DO NOTHING");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_TRANSIENT);
    hs_store_bind_text_or_null(s, 2, password_hash);
    sqlite3_bind_int(s, 3, admin ? 1 : 0);
    sqlite3_bind_int64(s, 4, now_ms);
    return step_changes(st, s);
}

int hs_store_user_get(hs_store *st, const char *user_id, hs_store_user *out)
{
    sqlite3_stmt *s =
        hs_store_stmt(st, "SELECT user_id, password_hash, admin, deactivated, created_ts FROM users"
                          " WHERE user_id = ?1");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
    if (ret == 0) {
        memset(out, 0, sizeof *out);
        hs_store_col_copy(s, 0, out->user_id, sizeof out->user_id);
        hs_store_col_copy(s, 1, out->password_hash, sizeof out->password_hash);
        out->admin = sqlite3_column_int(s, 2) != 0;
        out->deactivated = sqlite3_column_int(s, 3) != 0;
        out->created_ts = sqlite3_column_int64(s, 4);
    }
    sqlite3_finalize(s);
    return ret;
}

int hs_store_user_set_password(hs_store *st, const char *user_id, const char *password_hash)
{
    sqlite3_stmt *s = hs_store_stmt(st, "UPDATE users SET password_hash = ?2 WHERE user_id = ?1");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_TRANSIENT);
    hs_store_bind_text_or_null(s, 2, password_hash);
    return step_changes(st, s);
}

int hs_store_user_deactivate(hs_store *st, const char *user_id)
{
    sqlite3_stmt *s = hs_store_stmt(st, "UPDATE users SET deactivated = 1, password_hash = NULL WHERE user_id = ?1");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_TRANSIENT);
    int rc = step_changes(st, s);
    if (rc != 0) return rc;
    return hs_store_devices_delete_others(st, user_id, NULL) < 0 ? -1 : 0;
}

int hs_store_device_claim(hs_store *st, const char *user_id, const char *device_id, const char *display_name,
                          const char *ip, int64_t now_ms)
{
    return hs_store_device_claim_capped(st, user_id, device_id, display_name, ip, now_ms, 0);
}

/* 1 when the user has device_id, 0 when not, -1 on error. */
static int device_exists(hs_store *st, const char *user_id, const char *device_id)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT 1 FROM devices WHERE user_id = ?1 AND device_id = ?2");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, device_id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int hs_store_device_claim_capped(hs_store *st, const char *user_id, const char *device_id, const char *display_name,
                                 const char *ip, int64_t now_ms, int max_devices)
{
    /* The count and the insert are one statement, so SQLite runs them as one write:
     * logins at the same moment cannot all see room for one more device. RETURNING
     * says whether this statement inserted (sqlite3_changes could be another
     * thread's on the shared connection). */
    sqlite3_stmt *s =
        hs_store_stmt(st, "INSERT INTO devices (user_id, device_id, display_name, last_seen_ts, last_seen_ip,"
                          " created_ts) SELECT ?1, ?2, ?3, ?4, ?5, ?4 WHERE ?6 <= 0"
                          " OR (SELECT count(*) FROM devices WHERE user_id = ?1) < ?6"
                          " ON CONFLICT DO NOTHING RETURNING 1");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, device_id, -1, SQLITE_TRANSIENT);
    hs_store_bind_text_or_null(s, 3, display_name);
    sqlite3_bind_int64(s, 4, now_ms);
    hs_store_bind_text_or_null(s, 5, ip);
    sqlite3_bind_int(s, 6, max_devices);
    int step = sqlite3_step(s);
    bool inserted = step == SQLITE_ROW;
    while (step == SQLITE_ROW) step = sqlite3_step(s);
    sqlite3_finalize(s);
    if (step != SQLITE_DONE) return -1;
    if (inserted) return 0;
    /* Nothing inserted: the device exists (a login taking it over, whatever the
     * count), or the user is at the limit. */
    int rc = device_exists(st, user_id, device_id);
    if (rc <= 0) return rc < 0 ? -1 : 2;
    /* The device existed: the new login replaces its old session. */
    s = hs_store_stmt(st, "DELETE FROM access_tokens WHERE user_id = ?1 AND device_id = ?2");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, device_id, -1, SQLITE_TRANSIENT);
    if (step_changes(st, s) < 0) return -1;
    if (hs_store_device_touch(st, user_id, device_id, ip, now_ms) != 0) return -1;
    return 1;
}

static void read_device(sqlite3_stmt *s, hs_store_device *d)
{
    memset(d, 0, sizeof *d);
    hs_store_col_copy(s, 0, d->device_id, sizeof d->device_id);
    d->has_display_name = sqlite3_column_type(s, 1) != SQLITE_NULL;
    hs_store_col_copy(s, 1, d->display_name, sizeof d->display_name);
    hs_store_col_copy(s, 2, d->last_seen_ip, sizeof d->last_seen_ip);
    d->last_seen_ts = sqlite3_column_int64(s, 3);
}

int hs_store_device_get(hs_store *st, const char *user_id, const char *device_id, hs_store_device *out)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT device_id, display_name, last_seen_ip, last_seen_ts FROM devices"
                                        " WHERE user_id = ?1 AND device_id = ?2");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, device_id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
    if (ret == 0) read_device(s, out);
    sqlite3_finalize(s);
    return ret;
}

int hs_store_device_list(hs_store *st, const char *user_id, hs_store_device **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT device_id, display_name, last_seen_ip, last_seen_ts FROM devices"
                                        " WHERE user_id = ?1 ORDER BY device_id");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_TRANSIENT);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 4;
            hs_store_device *grown = realloc(*out, cap * sizeof **out);
            if (!grown) {
                rc = SQLITE_NOMEM;
                break;
            }
            *out = grown;
        }
        read_device(s, &(*out)[(*n)++]);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        free(*out);
        *out = NULL;
        *n = 0;
        return -1;
    }
    return 0;
}

int hs_store_device_set_name(hs_store *st, const char *user_id, const char *device_id, const char *display_name)
{
    sqlite3_stmt *s = hs_store_stmt(st, "UPDATE devices SET display_name = ?3 WHERE user_id = ?1 AND device_id = ?2");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, device_id, -1, SQLITE_TRANSIENT);
    hs_store_bind_text_or_null(s, 3, display_name);
    return step_changes(st, s);
}

int hs_store_device_delete(hs_store *st, const char *user_id, const char *device_id)
{
    sqlite3_stmt *s = hs_store_stmt(st, "DELETE FROM devices WHERE user_id = ?1 AND device_id = ?2");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, device_id, -1, SQLITE_TRANSIENT);
    return step_changes(st, s);
}

int hs_store_devices_delete_others(hs_store *st, const char *user_id, const char *keep)
{
    sqlite3_stmt *s = hs_store_stmt(st, "DELETE FROM devices WHERE user_id = ?1 AND (?2 IS NULL OR device_id != ?2)");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_TRANSIENT);
    hs_store_bind_text_or_null(s, 2, keep);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return -1;
    return sqlite3_changes(hs_store_sqlite(st));
}

int hs_store_token_insert(hs_store *st, const uint8_t hash[HS_STORE_TOKEN_HASH_BYTES], const char *user_id,
                          const char *device_id, int64_t now_ms)
{
    sqlite3_stmt *s =
        hs_store_stmt(st, "INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts)"
                          " VALUES (?1, ?2, ?3, ?4)");
    if (!s) return -1;
    sqlite3_bind_blob(s, 1, hash, HS_STORE_TOKEN_HASH_BYTES, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, user_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, device_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 4, now_ms);
    return step_changes(st, s) == 0 ? 0 : -1;
}

int hs_store_token_lookup(hs_store *st, const uint8_t hash[HS_STORE_TOKEN_HASH_BYTES], char *user_id,
                          char *device_id)
{
    sqlite3_stmt *s =
        hs_store_stmt(st, "SELECT t.user_id, t.device_id FROM access_tokens t JOIN users u USING (user_id)"
                          " WHERE t.token_hash = ?1 AND u.deactivated = 0");
    if (!s) return -1;
    sqlite3_bind_blob(s, 1, hash, HS_STORE_TOKEN_HASH_BYTES, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
    if (ret == 0) {
        hs_store_col_copy(s, 0, user_id, HS_STORE_ID_MAX);
        hs_store_col_copy(s, 1, device_id, HS_STORE_ID_MAX);
    }
    sqlite3_finalize(s);
    return ret;
}

int hs_store_device_touch(hs_store *st, const char *user_id, const char *device_id, const char *ip, int64_t now_ms)
{
    /* At most one write a minute per device: last-seen is informational, and a write
     * per request would cost an fsync each under synchronous=FULL. */
    sqlite3_stmt *s = hs_store_stmt(st, "UPDATE devices SET last_seen_ts = ?3, last_seen_ip = ?4"
                                        " WHERE user_id = ?1 AND device_id = ?2"
                                        " AND (last_seen_ts IS NULL OR last_seen_ts < ?3 - 60000"
                                        " OR last_seen_ip IS NOT ?4)");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, device_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 3, now_ms);
    hs_store_bind_text_or_null(s, 4, ip);
    return step_changes(st, s) < 0 ? -1 : 0;
}
