/* hs_store_media: the SQL behind hs_store_media.h, and migration hs_schema_media of the
 * media+push area: the media index, the cache of other servers' media and the pushers table (pushers are served by
 * hs_store_push.c). Every function is one statement on the store's serialized
 * connection, so no explicit transaction is needed.
 *
 * Invariant: a media row with size >= 0 always has its complete file on disk, because
 * hs_media writes and renames the file before the row is inserted or completed; and
 * only the one upload that claimed a reservation (size -1 -> -2) writes its file.
 * The sizes -1 and -2 are HS_STORE_MEDIA_RESERVED and HS_STORE_MEDIA_UPLOADING. */
#include "server-core/hs_store_media.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_store_internal.h"

const char hs_schema_media[] =
    "CREATE TABLE media (media_id TEXT PRIMARY KEY NOT NULL, user_id TEXT NOT NULL,"
    " content_type TEXT NOT NULL DEFAULT '', upload_name TEXT, size INTEGER NOT NULL DEFAULT -1,"
    " sha256 TEXT NOT NULL DEFAULT '', created_ts INTEGER NOT NULL, unused_expires_ts INTEGER);"
    "CREATE TABLE remote_media (origin TEXT NOT NULL, media_id TEXT NOT NULL, file_id TEXT NOT NULL,"
    " content_type TEXT NOT NULL, upload_name TEXT, size INTEGER NOT NULL, sha256 TEXT NOT NULL,"
    " created_ts INTEGER NOT NULL, PRIMARY KEY (origin, media_id));"
    "CREATE INDEX media_pending ON media(user_id, unused_expires_ts) WHERE size < 0;"
    "CREATE TABLE pushers (user_id TEXT NOT NULL, app_id TEXT NOT NULL, pushkey TEXT NOT NULL,"
    " pusher_json TEXT NOT NULL, created_ts INTEGER NOT NULL, PRIMARY KEY (user_id, app_id, pushkey));";

/* Binds ?1..?6 of an INSERT or UPDATE of `media`: ID, owner, type, name (NULL when
 * empty), size and SHA-256. */
static void bind_media(sqlite3_stmt *s, const hs_store_media *m)
{
    sqlite3_bind_text(s, 1, m->media_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, m->user_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, m->content_type, -1, SQLITE_STATIC);
    if (m->upload_name[0]) sqlite3_bind_text(s, 4, m->upload_name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, m->size);
    sqlite3_bind_text(s, 6, m->sha256, -1, SQLITE_STATIC);
}

int hs_store_media_insert(hs_store *st, const hs_store_media *m)
{
    sqlite3_stmt *s = hs_store_stmt(st, "INSERT INTO media (media_id, user_id, content_type, upload_name, size, sha256,"
                                        " created_ts, unused_expires_ts) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    if (!s) return -1;
    bind_media(s, m);
    sqlite3_bind_int64(s, 7, m->created_ts);
    if (m->size < 0) sqlite3_bind_int64(s, 8, m->unused_expires_ts);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if ((rc & 0xff) == SQLITE_CONSTRAINT) return 1;
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Runs an UPDATE with ?1 = media ID and optional ?2; returns 0 if it changed one row, 1 if
 * none, -1 on error. */
static int update_one(hs_store *st, const char *sql, const char *media_id, const char *second)
{
    sqlite3_stmt *s = hs_store_stmt(st, sql);
    if (!s) return -1;
    sqlite3_bind_text(s, 1, media_id, -1, SQLITE_STATIC);
    if (second) sqlite3_bind_text(s, 2, second, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    int changed = sqlite3_changes(hs_store_sqlite(st));
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return -1;
    return changed == 1 ? 0 : 1;
}

int hs_store_media_claim(hs_store *st, const char *media_id, const char *user_id)
{
    return update_one(st, "UPDATE media SET size = -2 WHERE media_id = ?1 AND user_id = ?2 AND size = -1", media_id,
                      user_id);
}

int hs_store_media_unclaim(hs_store *st, const char *media_id)
{
    return update_one(st, "UPDATE media SET size = -1 WHERE media_id = ?1 AND size = -2", media_id, NULL);
}

int hs_store_media_complete(hs_store *st, const hs_store_media *m)
{
    sqlite3_stmt *s = hs_store_stmt(st, "UPDATE media SET content_type = ?3, upload_name = ?4, size = ?5, sha256 = ?6,"
                                        " unused_expires_ts = NULL WHERE media_id = ?1 AND user_id = ?2 AND size = -2");
    if (!s) return -1;
    bind_media(s, m);
    int rc = sqlite3_step(s);
    int changed = sqlite3_changes(hs_store_sqlite(st));
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return -1;
    return changed == 1 ? 0 : 1;
}

int hs_store_media_get(hs_store *st, const char *media_id, hs_store_media *out)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT media_id, user_id, content_type, upload_name, size, sha256, created_ts,"
                                        " unused_expires_ts FROM media WHERE media_id = ?1");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, media_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s), ret = -1;
    if (rc == SQLITE_ROW) {
        memset(out, 0, sizeof *out);
        hs_store_col_copy(s, 0, out->media_id, sizeof out->media_id);
        hs_store_col_copy(s, 1, out->user_id, sizeof out->user_id);
        hs_store_col_copy(s, 2, out->content_type, sizeof out->content_type);
        hs_store_col_copy(s, 3, out->upload_name, sizeof out->upload_name);
        out->size = sqlite3_column_int64(s, 4);
        hs_store_col_copy(s, 5, out->sha256, sizeof out->sha256);
        out->created_ts = sqlite3_column_int64(s, 6);
        out->unused_expires_ts = sqlite3_column_int64(s, 7);
        ret = 0;
    } else if (rc == SQLITE_DONE) {
        ret = 1;
    }
    sqlite3_finalize(s);
    return ret;
}

int64_t hs_store_media_forget_expired(hs_store *st, int64_t now_ms)
{
    sqlite3_stmt *s = hs_store_stmt(st, "DELETE FROM media WHERE size < 0 AND unused_expires_ts <= ?1");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, now_ms);
    int rc = sqlite3_step(s);
    int64_t n = sqlite3_changes(hs_store_sqlite(st));
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? n : -1;
}

int64_t hs_store_media_pending_count(hs_store *st, const char *user_id, int64_t now_ms)
{
    sqlite3_stmt *s =
        hs_store_stmt(st, "SELECT count(*) FROM media WHERE user_id = ?1 AND size < 0 AND unused_expires_ts > ?2");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, now_ms);
    int64_t n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    return n;
}

int hs_store_remote_media_insert(hs_store *st, const hs_store_remote_media *m)
{
    sqlite3_stmt *s = hs_store_stmt(st, "INSERT INTO remote_media (origin, media_id, file_id, content_type, upload_name,"
                                        " size, sha256, created_ts) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, m->origin, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, m->media_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, m->file_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, m->content_type, -1, SQLITE_STATIC);
    if (m->upload_name[0]) sqlite3_bind_text(s, 5, m->upload_name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, m->size);
    sqlite3_bind_text(s, 7, m->sha256, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 8, m->created_ts);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if ((rc & 0xff) == SQLITE_CONSTRAINT) return 1;
    return rc == SQLITE_DONE ? 0 : -1;
}

int hs_store_remote_media_get(hs_store *st, const char *origin, const char *media_id, hs_store_remote_media *out)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT file_id, content_type, upload_name, size, sha256, created_ts"
                                        " FROM remote_media WHERE origin = ?1 AND media_id = ?2");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, origin, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, media_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s), ret = -1;
    if (rc == SQLITE_ROW) {
        memset(out, 0, sizeof *out);
        snprintf(out->origin, sizeof out->origin, "%s", origin);
        snprintf(out->media_id, sizeof out->media_id, "%s", media_id);
        hs_store_col_copy(s, 0, out->file_id, sizeof out->file_id);
        hs_store_col_copy(s, 1, out->content_type, sizeof out->content_type);
        hs_store_col_copy(s, 2, out->upload_name, sizeof out->upload_name);
        out->size = sqlite3_column_int64(s, 3);
        hs_store_col_copy(s, 4, out->sha256, sizeof out->sha256);
        out->created_ts = sqlite3_column_int64(s, 5);
        ret = 0;
    } else if (rc == SQLITE_DONE) {
        ret = 1;
    }
    sqlite3_finalize(s);
    return ret;
}

typedef struct evict_args {
    int64_t max_bytes;
    const char *keep_origin, *keep_media_id;
    char **ids;
    size_t n;
} evict_args;

static int evict_steps(sqlite3 *db, void *arg)
{
    evict_args *a = arg;
    sqlite3_stmt *s = hs_store_prep(db, "SELECT COALESCE(SUM(size), 0) FROM remote_media");
    if (!s || sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_finalize(s);
        return -1;
    }
    int64_t total = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    if (total <= a->max_bytes) return 0;
    s = hs_store_prep(db, "SELECT origin, media_id, file_id, size FROM remote_media"
                          " WHERE NOT (origin = ?1 AND media_id = ?2) ORDER BY created_ts, rowid");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, a->keep_origin, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, a->keep_media_id, -1, SQLITE_STATIC);
    int rc = SQLITE_ROW;
    while (total > a->max_bytes && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        char **grown = realloc(a->ids, (a->n + 1) * sizeof *grown);
        char *id = hs_store_col_dup(s, 2);
        if (!grown || !id) {
            free(id);
            if (grown) a->ids = grown;
            rc = SQLITE_NOMEM;
            break;
        }
        a->ids = grown;
        sqlite3_stmt *d = hs_store_prep(db, "DELETE FROM remote_media WHERE origin = ?1 AND media_id = ?2");
        if (d) {
            sqlite3_bind_value(d, 1, sqlite3_column_value(s, 0));
            sqlite3_bind_value(d, 2, sqlite3_column_value(s, 1));
        }
        if (hs_store_step_done(d) != 0) {
            free(id);
            rc = SQLITE_ERROR;
            break;
        }
        a->ids[a->n++] = id;
        total -= sqlite3_column_int64(s, 3);
    }
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int hs_store_remote_media_evict(hs_store *st, int64_t max_bytes, const char *keep_origin, const char *keep_media_id,
                                char ***file_ids, size_t *n)
{
    evict_args a = {max_bytes, keep_origin, keep_media_id, NULL, 0};
    int rc = hs_store_transact(st, evict_steps, &a);
    if (rc != 0) {
        hs_store_media_free_ids(a.ids, a.n);
        a.ids = NULL;
        a.n = 0;
    }
    *file_ids = a.ids;
    *n = a.n;
    return rc;
}

void hs_store_media_free_ids(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++) free(ids[i]);
    free(ids);
}
