/* hs_store_directory: who users say they are (profiles), the room alias directory and
 * each user's push rule changes relative to the server's defaults. The SQL behind
 * hs_store_directory.h; each read is one statement, so no explicit locking is needed. */
#include "server-core/hs_store_directory.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_store_internal.h"
#include "server-core/hs_store_rooms.h"

const char hs_schema_directory[] =
    "CREATE TABLE profiles (user_id TEXT PRIMARY KEY NOT NULL, displayname TEXT, avatar_url TEXT);"
    "CREATE TABLE room_aliases (alias TEXT PRIMARY KEY NOT NULL, room_id TEXT NOT NULL,"
    " creator TEXT NOT NULL, created_ts INTEGER NOT NULL);"
    "CREATE INDEX room_aliases_room ON room_aliases(room_id);"
    "CREATE TABLE push_rules (user_id TEXT NOT NULL, kind TEXT NOT NULL, rule_id TEXT NOT NULL,"
    " rule_json TEXT, enabled INTEGER, actions TEXT, priority INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY (user_id, kind, rule_id));";

/* Runs a one-row lookup bound to `key` and copies column 0 into *out (malloc'd).
 * Returns 0, 1 when there is no row, -1. */
static int lookup_one(hs_store *st, const char *sql, const char *key, char **out)
{
    sqlite3_stmt *s = hs_store_stmt(st, sql);
    if (!s) return -1;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
    if (ret == 0) {
        char *dup = hs_store_col_dup(s, 0);
        if (dup) *out = dup;
        else ret = -1;
    }
    sqlite3_finalize(s);
    return ret;
}

int hs_store_alias_get(hs_store *st, const char *alias, char **room_id_out)
{
    return lookup_one(st, "SELECT room_id FROM room_aliases WHERE alias = ?1", alias, room_id_out);
}

int hs_store_alias_creator(hs_store *st, const char *alias, char **creator_out)
{
    return lookup_one(st, "SELECT creator FROM room_aliases WHERE alias = ?1", alias, creator_out);
}

int hs_store_alias_put(hs_store *st, const char *alias, const char *room_id, const char *creator, int64_t now_ms)
{
    sqlite3_stmt *s =
        hs_store_stmt(st, "INSERT INTO room_aliases (alias, room_id, creator, created_ts) VALUES (?1, ?2, ?3, ?4)");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, alias, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, room_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, creator, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 4, now_ms);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : (rc & 0xff) == SQLITE_CONSTRAINT ? 1 : -1;
}

int hs_store_alias_delete(hs_store *st, const char *alias)
{
    sqlite3_stmt *s = hs_store_stmt(st, "DELETE FROM room_aliases WHERE alias = ?1");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, alias, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    int changed = sqlite3_changes(hs_store_sqlite(st));
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return -1;
    return changed > 0 ? 0 : 1;
}

/* Collects column 0 of every row into a malloc'd string array; finalizes s. */
static int collect_strings(sqlite3_stmt *s, char ***out, size_t *n)
{
    char **v = NULL;
    size_t len = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (len == cap) {
            size_t nc = cap ? cap * 2 : 4;
            char **grown = realloc(v, nc * sizeof *grown);
            if (!grown) break;
            v = grown;
            cap = nc;
        }
        char *dup = hs_store_col_dup(s, 0);
        if (!dup) break;
        v[len++] = dup;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        hs_store_free_strings(v, len);
        return -1;
    }
    *out = v;
    *n = len;
    return 0;
}

int hs_store_room_aliases(hs_store *st, const char *room_id, char ***aliases, size_t *n)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT alias FROM room_aliases WHERE room_id = ?1 ORDER BY alias");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, room_id, -1, SQLITE_TRANSIENT);
    return collect_strings(s, aliases, n);
}

/* ---- profiles ------------------------------------------------------------------------ */

int hs_store_profile_get(hs_store *st, const char *user_id, char **displayname, char **avatar_url)
{
    *displayname = *avatar_url = NULL;
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT displayname, avatar_url FROM profiles WHERE user_id = ?1");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
    if (ret == 0) {
        *displayname = hs_store_col_dup(s, 0);
        *avatar_url = hs_store_col_dup(s, 1);
        if ((!*displayname && sqlite3_column_type(s, 0) != SQLITE_NULL) ||
            (!*avatar_url && sqlite3_column_type(s, 1) != SQLITE_NULL)) {
            free(*displayname);
            free(*avatar_url);
            *displayname = *avatar_url = NULL;
            ret = -1;
        }
    }
    sqlite3_finalize(s);
    return ret;
}

int hs_store_profile_set(hs_store *st, const char *user_id, hs_store_profile_field field, const char *value)
{
    /* Two fixed statements rather than a column name pasted into SQL. */
    const char *sql = field == HS_STORE_PROFILE_DISPLAYNAME
                          ? "INSERT INTO profiles (user_id, displayname) VALUES (?1, ?2)"
                            " ON CONFLICT (user_id) DO UPDATE SET displayname = excluded.displayname"
                          : "INSERT INTO profiles (user_id, avatar_url) VALUES (?1, ?2)"
                            " ON CONFLICT (user_id) DO UPDATE SET avatar_url = excluded.avatar_url";
    sqlite3_stmt *s = hs_store_stmt(st, sql);
    if (!s) return -1;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_TRANSIENT);
    if (value) sqlite3_bind_text(s, 2, value, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(s, 2);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

int hs_store_profile_init(hs_store *st, const char *user_id, const char *displayname)
{
    sqlite3_stmt *s = hs_store_stmt(st, "INSERT INTO profiles (user_id, displayname) VALUES (?1, ?2)"
                                        " ON CONFLICT (user_id) DO NOTHING");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, displayname, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- room directory visibility --------------------------------------------------------- */

int hs_store_room_is_public(hs_store *st, const char *room_id, bool *out)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT is_public FROM rooms WHERE room_id = ?1");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, room_id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
    if (ret == 0) *out = sqlite3_column_int(s, 0) != 0;
    sqlite3_finalize(s);
    return ret;
}

int hs_store_room_set_public(hs_store *st, const char *room_id, bool is_public)
{
    sqlite3_stmt *s = hs_store_stmt(st, "UPDATE rooms SET is_public = ?2 WHERE room_id = ?1");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, room_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 2, is_public ? 1 : 0);
    int rc = sqlite3_step(s);
    int changed = sqlite3_changes(hs_store_sqlite(st));
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return -1;
    return changed > 0 ? 0 : 1;
}

int hs_store_public_rooms_scan(hs_store *st, const char *const *types, size_t n_types,
                               int (*joined_fn)(void *ctx, const char *room_id, int64_t joined),
                               int (*state_fn)(void *ctx, const char *room_id, const char *type,
                                               const char *content_json),
                               void *ctx)
{
    sqlite3_stmt *s =
        hs_store_stmt(st, "SELECT r.room_id, (SELECT count(*) FROM current_state m WHERE m.room_id = r.room_id"
                          " AND m.type = 'm.room.member' AND m.membership = 'join')"
                          " FROM rooms r WHERE r.is_public = 1 ORDER BY r.room_id");
    if (!s) return -1;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (joined_fn(ctx, (const char *)sqlite3_column_text(s, 0), sqlite3_column_int64(s, 1)) != 0) break;
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return -1;
    /* The wanted types go in through json_each, so the statement text stays fixed. */
    json_t *arr = json_array();
    for (size_t i = 0; i < n_types; i++) json_array_append_new(arr, json_string(types[i]));
    char *types_json = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    if (!types_json) return -1;
    s = hs_store_stmt(st, "SELECT c.room_id, c.type, json_extract(e.pdu, '$.content') FROM rooms r"
                          " JOIN current_state c ON c.room_id = r.room_id AND c.state_key = ''"
                          " AND c.type IN (SELECT value FROM json_each(?1))"
                          " JOIN events e ON e.event_id = c.event_id WHERE r.is_public = 1");
    if (!s) {
        free(types_json);
        return -1;
    }
    sqlite3_bind_text(s, 1, types_json, -1, SQLITE_TRANSIENT);
    free(types_json);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const unsigned char *content = sqlite3_column_text(s, 2);
        if (state_fn(ctx, (const char *)sqlite3_column_text(s, 0), (const char *)sqlite3_column_text(s, 1),
                     content ? (const char *)content : "{}") != 0)
            break;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- user directory --------------------------------------------------------------------- */

void hs_store_user_matches_free(hs_store_user_match *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].user_id);
        free(v[i].displayname);
        free(v[i].avatar_url);
    }
    free(v);
}

/* The rooms whose members anyone may find: current join rule public, or history
 * world_readable (what Synapse's user directory counts as public rooms). */
#define PUBLIC_ROOMS_SQL                                                                            \
    "SELECT c.room_id FROM current_state c JOIN events e ON e.event_id = c.event_id"                \
    " WHERE (c.type = 'm.room.join_rules' AND c.state_key = ''"                                     \
    " AND json_extract(e.pdu, '$.content.join_rule') = 'public')"                                   \
    " OR (c.type = 'm.room.history_visibility' AND c.state_key = ''"                                \
    " AND json_extract(e.pdu, '$.content.history_visibility') = 'world_readable')"

int hs_store_user_directory_search(hs_store *st, const char *searcher, const char *term, size_t limit,
                                   hs_store_user_match **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = hs_store_stmt(st,
        "SELECT u.user_id, p.displayname, p.avatar_url FROM users u"
        " LEFT JOIN profiles p ON p.user_id = u.user_id"
        " WHERE u.deactivated = 0"
        " AND (instr(lower(u.user_id), lower(?2)) > 0 OR instr(lower(coalesce(p.displayname, '')), lower(?2)) > 0)"
        " AND EXISTS (SELECT 1 FROM current_state m WHERE m.type = 'm.room.member' AND m.state_key = u.user_id"
        "   AND m.membership = 'join' AND (m.room_id IN (" PUBLIC_ROOMS_SQL ")"
        "   OR m.room_id IN (SELECT room_id FROM current_state WHERE type = 'm.room.member'"
        "     AND state_key = ?1 AND membership = 'join')))"
        " ORDER BY u.user_id LIMIT ?3");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, searcher, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, term, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)limit);
    hs_store_user_match *v = NULL;
    size_t len = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (len == cap) {
            size_t nc = cap ? cap * 2 : 8;
            hs_store_user_match *grown = realloc(v, nc * sizeof *grown);
            if (!grown) break;
            v = grown;
            cap = nc;
        }
        hs_store_user_match m = {hs_store_col_dup(s, 0), hs_store_col_dup(s, 1), hs_store_col_dup(s, 2)};
        v[len++] = m;
        if (!m.user_id) break;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        hs_store_user_matches_free(v, len);
        return -1;
    }
    *out = v;
    *n = len;
    return 0;
}
