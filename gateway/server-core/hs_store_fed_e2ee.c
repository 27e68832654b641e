/* hs_store_fed_e2ee: the SQL behind hs_store_fed_e2ee.h. Writes that must go together
 * (a device list and its device_list_changes row) run in hs_store_transact. */
#include "server-core/hs_store_fed_e2ee.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_pdu.h"
#include "server-core/hs_store_internal.h"
#include "server-core/hs_store_rooms.h"

static int bind_run(sqlite3 *db, const char *sql, const char *const *texts, size_t n_texts)
{
    sqlite3_stmt *s = hs_store_prep(db, sql);
    if (!s) return -1;
    for (size_t i = 0; i < n_texts; i++) hs_store_bind_text_or_null(s, (int)i + 1, texts[i]);
    return hs_store_step_done(s);
}

/* The user's cached list as one text (NULL when the user is not cached): what a
 * replace compares to decide whether anything changed. */
static char *list_digest(sqlite3 *db, const char *user_id, int *failed)
{
    sqlite3_stmt *s = hs_store_prep(db, "SELECT (SELECT group_concat(d, char(10)) FROM (SELECT device_id || char(9)"
                                        " || coalesce(keys_json, '') || char(9) || coalesce(display_name, '') AS d"
                                        " FROM fed_remote_devices WHERE user_id = ?1 ORDER BY device_id))"
                                        " FROM fed_remote_device_users WHERE user_id = ?1");
    if (!s) {
        *failed = 1;
        return NULL;
    }
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_TRANSIENT);
    char *out = NULL;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) out = hs_store_col_dup_or_empty(s, 0);
    else if (rc != SQLITE_DONE) *failed = 1;
    sqlite3_finalize(s);
    return out;
}

static int set_user(sqlite3 *db, const char *user_id, int64_t stream_id, int64_t now_ms)
{
    sqlite3_stmt *s = hs_store_prep(db, "INSERT INTO fed_remote_device_users (user_id, stream_id, fetched_ts)"
                                        " VALUES (?1, ?2, ?3) ON CONFLICT (user_id) DO UPDATE SET"
                                        " stream_id = excluded.stream_id, fetched_ts = excluded.fetched_ts");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, stream_id);
    sqlite3_bind_int64(s, 3, now_ms);
    return hs_store_step_done(s);
}

static int put_device(sqlite3 *db, const char *user_id, const hs_store_fed_device *d)
{
    return bind_run(db,
                    "INSERT OR REPLACE INTO fed_remote_devices (user_id, device_id, keys_json, display_name)"
                    " VALUES (?1, ?2, ?3, ?4)",
                    (const char *[]){user_id, d->device_id, d->keys_json, d->display_name}, 4);
}

static int changed_row(sqlite3 *db, const char *user_id)
{
    return bind_run(db, "INSERT INTO device_list_changes (user_id) VALUES (?1)", (const char *[]){user_id}, 1);
}

/* Forgets remote user_id's cached devices and that its list is known: what a list too
 * long to cache becomes, so queries for it go to its server again. */
static int drop_user(sqlite3 *db, const char *user_id)
{
    int rc = bind_run(db, "DELETE FROM fed_remote_devices WHERE user_id = ?1", (const char *[]){user_id}, 1);
    if (rc == 0) rc = bind_run(db, "DELETE FROM fed_remote_device_users WHERE user_id = ?1", (const char *[]){user_id}, 1);
    return rc;
}

typedef struct replace_arg {
    const char *user_id;
    const hs_store_fed_device *devs;
    size_t n;
    int64_t stream_id, now;
} replace_arg;

static int replace_steps(sqlite3 *db, void *varg)
{
    replace_arg *a = varg;
    int failed = 0;
    char *before = list_digest(db, a->user_id, &failed);
    if (failed) return -1;
    if (a->n > HS_STORE_FED_DEVICES_MAX) {
        int rc = drop_user(db, a->user_id);
        if (rc == 0 && before) rc = changed_row(db, a->user_id);
        free(before);
        return rc == 0 && before ? 1 : rc;
    }
    int rc = bind_run(db, "DELETE FROM fed_remote_devices WHERE user_id = ?1", (const char *[]){a->user_id}, 1);
    for (size_t i = 0; rc == 0 && i < a->n; i++) rc = put_device(db, a->user_id, &a->devs[i]);
    if (rc == 0) rc = set_user(db, a->user_id, a->stream_id, a->now);
    char *after = rc == 0 ? list_digest(db, a->user_id, &failed) : NULL;
    if (rc == 0 && (failed || !after)) rc = -1;
    bool changed = rc == 0 && before && strcmp(before, after) != 0;
    if (changed) rc = changed_row(db, a->user_id);
    free(before);
    free(after);
    return rc == 0 && changed ? 1 : rc;
}

int hs_store_fed_devices_replace(hs_store *st, const char *user_id, const hs_store_fed_device *devs, size_t n,
                                 int64_t stream_id, int64_t now_ms)
{
    replace_arg a = {user_id, devs, n, stream_id, now_ms};
    return hs_store_transact(st, replace_steps, &a);
}

typedef struct update_arg {
    const char *user_id;
    hs_store_fed_device dev;
    bool deleted;
    int64_t stream_id, now;
} update_arg;

static int update_steps(sqlite3 *db, void *varg)
{
    update_arg *a = varg;
    int rc = a->deleted ? bind_run(db, "DELETE FROM fed_remote_devices WHERE user_id = ?1 AND device_id = ?2",
                                   (const char *[]){a->user_id, a->dev.device_id}, 2)
                        : put_device(db, a->user_id, &a->dev);
    if (rc == 0 && !a->deleted) {
        sqlite3_stmt *s = hs_store_prep(db, "SELECT count(*) > ?2 FROM fed_remote_devices WHERE user_id = ?1");
        if (!s) return -1;
        sqlite3_bind_text(s, 1, a->user_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(s, 2, HS_STORE_FED_DEVICES_MAX);
        int over = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
        sqlite3_finalize(s);
        if (over < 0) return -1;
        if (over) rc = drop_user(db, a->user_id);
    }
    /* Only a list we hold completely stays known; one device of a user never fetched
     * is not the user's list, so it is cached as such only when the user row exists. */
    if (rc == 0) {
        sqlite3_stmt *s = hs_store_prep(db, "UPDATE fed_remote_device_users SET stream_id = max(stream_id, ?2)"
                                            " WHERE user_id = ?1");
        if (!s) return -1;
        sqlite3_bind_text(s, 1, a->user_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 2, a->stream_id);
        rc = hs_store_step_done(s);
    }
    if (rc == 0) rc = changed_row(db, a->user_id);
    return rc;
}

int hs_store_fed_device_update(hs_store *st, const char *user_id, const char *device_id, const char *keys_json,
                               const char *display_name, bool deleted, int64_t stream_id, int64_t now_ms)
{
    update_arg a = {user_id, {device_id, keys_json, display_name}, deleted, stream_id, now_ms};
    return hs_store_transact(st, update_steps, &a) < 0 ? -1 : 0;
}

typedef struct chained_arg {
    update_arg u;
    const int64_t *prev;
    size_t n_prev;
    int64_t at, fetched;
} chained_arg;

static int chained_steps(sqlite3 *db, void *varg)
{
    chained_arg *a = varg;
    sqlite3_stmt *s = hs_store_prep(db, "SELECT stream_id, fetched_ts FROM fed_remote_device_users WHERE user_id = ?1");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, a->u.user_id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    int64_t at = a->at = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    a->fetched = rc == SQLITE_ROW ? sqlite3_column_int64(s, 1) : 0;
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE) return update_steps(db, &a->u);
    if (rc != SQLITE_ROW) return -1;
    if (a->u.stream_id == at) return 0;
    bool follows = a->n_prev > 0;
    for (size_t i = 0; i < a->n_prev; i++) follows &= a->prev[i] == at;
    if (!follows) return 2;
    rc = update_steps(db, &a->u);
    if (rc != 0) return rc;
    /* The cache now stands at this update, even if its stream_id is lower than the one
     * a resync answered (the peer numbers its own chain; only equality matters). */
    s = hs_store_prep(db, "UPDATE fed_remote_device_users SET stream_id = ?2 WHERE user_id = ?1");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, a->u.user_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, a->u.stream_id);
    return hs_store_step_done(s);
}

int hs_store_fed_device_update_chained(hs_store *st, const char *user_id, const char *device_id,
                                       const char *keys_json, const char *display_name, bool deleted,
                                       int64_t stream_id, const int64_t *prev, size_t n_prev, int64_t now_ms,
                                       int64_t *at, int64_t *fetched_ts)
{
    chained_arg a = {{user_id, {device_id, keys_json, display_name}, deleted, stream_id, now_ms}, prev, n_prev, 0, 0};
    int rc = hs_store_transact(st, chained_steps, &a);
    *at = a.at;
    *fetched_ts = a.fetched;
    return rc;
}

static int forget_steps(sqlite3 *db, void *varg)
{
    const char *user_id = varg;
    int rc = drop_user(db, user_id);
    return rc == 0 ? changed_row(db, user_id) : rc;
}

int hs_store_fed_devices_forget(hs_store *st, const char *user_id)
{
    return hs_store_transact(st, forget_steps, (void *)user_id);
}

int hs_store_fed_user_keys_changed(hs_store *st, const char *user_id)
{
    return bind_run(hs_store_sqlite(st), "INSERT INTO device_list_changes (user_id) VALUES (?1)",
                    (const char *[]){user_id}, 1);
}

typedef struct reserve_arg {
    const char *user_id;
    int64_t count, prev;
} reserve_arg;

static int reserve_steps(sqlite3 *db, void *varg)
{
    reserve_arg *a = varg;
    sqlite3_stmt *s = hs_store_prep(db, "SELECT coalesce((SELECT stream_id FROM device_list_outbound"
                                        " WHERE user_id = ?1), 0)");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, a->user_id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) a->prev = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW) return -1;
    s = hs_store_prep(db, "INSERT INTO device_list_outbound (user_id, stream_id) VALUES (?1, ?2)"
                          " ON CONFLICT (user_id) DO UPDATE SET stream_id = excluded.stream_id");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, a->user_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, a->prev + a->count);
    return hs_store_step_done(s);
}

int hs_store_fed_device_stream_reserve(hs_store *st, const char *user_id, int64_t count, int64_t *prev)
{
    reserve_arg a = {user_id, count, 0};
    if (count < 1 || hs_store_transact(st, reserve_steps, &a) != 0) return -1;
    *prev = a.prev;
    return 0;
}

int hs_store_fed_device_stream_last(hs_store *st, const char *user_id, int64_t *out)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT coalesce((SELECT stream_id FROM device_list_outbound"
                                        " WHERE user_id = ?1), 0)");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *out = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : -1;
}

int hs_store_fed_devices_each(hs_store *st, const char *user_id,
                              void (*fn)(void *ctx, const char *device_id, const char *keys_json,
                                         const char *display_name),
                              void *ctx)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT 1 FROM fed_remote_device_users WHERE user_id = ?1");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE) return 1;
    if (rc != SQLITE_ROW) return -1;
    s = hs_store_stmt(st, "SELECT device_id, keys_json, display_name FROM fed_remote_devices WHERE user_id = ?1"
                          " ORDER BY device_id");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_TRANSIENT);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        fn(ctx, (const char *)sqlite3_column_text(s, 0), (const char *)sqlite3_column_text(s, 1),
           (const char *)sqlite3_column_text(s, 2));
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

long hs_store_fed_device_changes_after(hs_store *st, int64_t after, long limit,
                                       int (*fn)(void *ctx, const hs_store_fed_change *c), void *ctx)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT stream_id, user_id, device_id, cross_signing, local_only"
                                        " FROM device_list_changes WHERE stream_id > ?1 ORDER BY stream_id LIMIT ?2");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, after);
    sqlite3_bind_int64(s, 2, limit);
    long n = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        hs_store_fed_change c = {sqlite3_column_int64(s, 0), (const char *)sqlite3_column_text(s, 1),
                                 (const char *)sqlite3_column_text(s, 2), sqlite3_column_int(s, 3) != 0,
                                 sqlite3_column_int(s, 4) != 0};
        if (fn(ctx, &c) != 0) {
            rc = SQLITE_ABORT;
            break;
        }
        n++;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? n : -1;
}

int hs_store_fed_user_servers(hs_store *st, const char *user_id, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT DISTINCT theirs.state_key FROM current_state mine"
                                        " JOIN current_state theirs ON theirs.room_id = mine.room_id"
                                        " WHERE mine.type = 'm.room.member' AND mine.state_key = ?1"
                                        " AND mine.membership = 'join' AND theirs.type = 'm.room.member'"
                                        " AND theirs.membership = 'join'");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_TRANSIENT);
    size_t cap = 0;
    int rc;
    int ret = 0;
    while (ret == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *server = hs_id_server_name((const char *)sqlite3_column_text(s, 0));
        if (!server) continue;
        bool have = false;
        for (size_t i = 0; i < *n && !have; i++) have = strcmp((*names)[i], server) == 0;
        if (have) continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            char **g = realloc(*names, cap * sizeof *g);
            if (!g) {
                ret = -1;
                break;
            }
            *names = g;
        }
        if (!((*names)[*n] = strdup(server))) ret = -1;
        else (*n)++;
    }
    if (ret == 0 && rc != SQLITE_DONE) ret = -1;
    sqlite3_finalize(s);
    if (ret != 0) {
        hs_store_free_strings(*names, *n);
        *names = NULL;
        *n = 0;
    }
    return ret;
}

int hs_store_fed_shares_room_with(hs_store *st, const char *user_id, const char *server)
{
    /* A user of `server` is "@localpart:server": the ID ends with ':' and the name. */
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT EXISTS (SELECT 1 FROM current_state theirs JOIN current_state mine"
                                        " ON mine.room_id = theirs.room_id WHERE theirs.type = 'm.room.member'"
                                        " AND theirs.state_key = ?1 AND theirs.membership = 'join'"
                                        " AND mine.type = 'm.room.member' AND mine.membership = 'join'"
                                        " AND substr(mine.state_key, -length(?2) - 1) = ':' || ?2)");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, server, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) != 0 : -1;
    sqlite3_finalize(s);
    return ret;
}

int hs_store_fed_dest_down(hs_store *st, const char *dest, int64_t now_ms)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT failures > 0 AND retry_at > ?2 FROM fed_destinations"
                                        " WHERE destination = ?1");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, dest, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, now_ms);
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) != 0 : rc == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(s);
    return ret;
}

int hs_store_fed_profile_cache_get(hs_store *st, const char *user_id, int64_t min_ts, char **displayname,
                                   char **avatar_url)
{
    *displayname = *avatar_url = NULL;
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT displayname, avatar_url FROM fed_profile_cache"
                                        " WHERE user_id = ?1 AND fetched_ts >= ?2");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, min_ts);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *displayname = hs_store_col_dup(s, 0);
        *avatar_url = hs_store_col_dup(s, 1);
    }
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

int hs_store_fed_profile_cache_put(hs_store *st, const char *user_id, const char *displayname,
                                   const char *avatar_url, int64_t now_ms)
{
    sqlite3_stmt *s = hs_store_stmt(st, "INSERT OR REPLACE INTO fed_profile_cache"
                                        " (user_id, displayname, avatar_url, fetched_ts) VALUES (?1, ?2, ?3, ?4)");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_TRANSIENT);
    hs_store_bind_text_or_null(s, 2, displayname);
    hs_store_bind_text_or_null(s, 3, avatar_url);
    sqlite3_bind_int64(s, 4, now_ms);
    return hs_store_step_done(s);
}
