/* hs_store_directory: who users say they are (profiles), the room alias directory and
 * each user's push rule changes relative to the server's defaults. The SQL behind
 * hs_store_directory.h; each read is one statement, so no explicit locking is needed. */
#include "server-core/hs_store_directory.h"

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

static sqlite3_stmt *prep(hs_store *st, const char *sql)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(hs_store_sqlite(st), sql, -1, &s, NULL) != SQLITE_OK) return NULL;
    return s;
}

/* Runs a one-row lookup bound to `key` and copies column 0 into *out (malloc'd).
 * Returns 0, 1 when there is no row, -1. */
static int lookup_one(hs_store *st, const char *sql, const char *key, char **out)
{
    sqlite3_stmt *s = prep(st, sql);
    if (!s) return -1;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
    if (ret == 0) {
        const unsigned char *v = sqlite3_column_text(s, 0);
        char *dup = v ? strdup((const char *)v) : NULL;
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
    sqlite3_stmt *s = prep(st, "INSERT INTO room_aliases (alias, room_id, creator, created_ts) VALUES (?1, ?2, ?3, ?4)");
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
    sqlite3_stmt *s = prep(st, "DELETE FROM room_aliases WHERE alias = ?1");
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
        const unsigned char *t = sqlite3_column_text(s, 0);
        char *dup = t ? strdup((const char *)t) : NULL;
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
    sqlite3_stmt *s = prep(st, "SELECT alias FROM room_aliases WHERE room_id = ?1 ORDER BY alias");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, room_id, -1, SQLITE_TRANSIENT);
    return collect_strings(s, aliases, n);
}
