/* hs_store_push: the SQL behind hs_store_push.h. Placing a rule relative to another
 * renumbers the user's rules of that kind, which takes several statements; like the
 * event append (hs_store_rooms.c) it holds the shared connection's mutex from BEGIN to
 * COMMIT so other threads' statements cannot slip into the transaction. A user has few
 * rules, so renumbering them all is cheaper than gap bookkeeping. */
#include "server-core/hs_store_push.h"

#include <stdlib.h>
#include <string.h>

#include "server-core/hs_store_internal.h"

static void bind_key(sqlite3_stmt *s, const char *user_id, const char *kind, const char *rule_id)
{
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, rule_id, -1, SQLITE_STATIC);
}

/* Runs a prepared write; returns the number of changed rows or -1. */
static int run(sqlite3 *db, sqlite3_stmt *s)
{
    return hs_store_step_done(s) == 0 ? sqlite3_changes(db) : -1;
}

int hs_store_push_rows(hs_store *st, const char *user_id, hs_store_push_row **rows, size_t *n)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT kind, rule_id, rule_json, enabled, actions, priority FROM push_rules"
                                        " WHERE user_id = ?1 ORDER BY kind, priority DESC, rule_id");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_STATIC);
    hs_store_push_row *out = NULL;
    size_t cnt = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            hs_store_push_row *bigger = realloc(out, cap * sizeof *out);
            if (!bigger) break;
            out = bigger;
        }
        hs_store_push_row *r = &out[cnt++];
        r->kind = hs_store_col_dup(s, 0);
        r->rule_id = hs_store_col_dup(s, 1);
        r->rule_json = hs_store_col_dup(s, 2);
        r->enabled = sqlite3_column_type(s, 3) == SQLITE_NULL ? -1 : sqlite3_column_int(s, 3) != 0;
        r->actions = hs_store_col_dup(s, 4);
        r->priority = sqlite3_column_int64(s, 5);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        hs_store_push_rows_free(out, cnt);
        return -1;
    }
    *rows = out;
    *n = cnt;
    return 0;
}

void hs_store_push_rows_free(hs_store_push_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].kind);
        free(rows[i].rule_id);
        free(rows[i].rule_json);
        free(rows[i].actions);
    }
    free(rows);
}

/* The user rules of one kind except `skip`, most important first. */
static int kind_order(sqlite3 *db, const char *user_id, const char *kind, const char *skip, char ***ids, size_t *n)
{
    sqlite3_stmt *s =
        hs_store_prep(db, "SELECT rule_id FROM push_rules WHERE user_id = ?1 AND kind = ?2 AND rule_id != ?3"
                          " AND rule_json IS NOT NULL ORDER BY priority DESC, rule_id");
    if (!s) return -1;
    bind_key(s, user_id, kind, skip);
    char **out = NULL;
    size_t cnt = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        char **bigger = realloc(out, (cnt + 1) * sizeof *out);
        if (!bigger) break;
        out = bigger;
        out[cnt++] = hs_store_col_dup(s, 0);
    }
    sqlite3_finalize(s);
    *ids = out;
    *n = cnt;
    return rc == SQLITE_DONE ? 0 : -1;
}

static void free_ids(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++) free(ids[i]);
    free(ids);
}

static int set_priority(sqlite3 *db, const char *user_id, const char *kind, const char *rule_id, int64_t prio)
{
    sqlite3_stmt *s =
        hs_store_prep(db, "UPDATE push_rules SET priority = ?4 WHERE user_id = ?1 AND kind = ?2 AND rule_id = ?3");
    if (!s) return -1;
    bind_key(s, user_id, kind, rule_id);
    sqlite3_bind_int64(s, 4, prio);
    return run(db, s) < 0 ? -1 : 0;
}

/* Writes the rule's row (keeping `enabled` of an existing row) with priority `prio`,
 * or keeping the existing priority when prio < 0. */
static int upsert(sqlite3 *db, const char *user_id, const char *kind, const char *rule_id, const char *rule_json,
                  const char *actions, int64_t prio)
{
    sqlite3_stmt *s =
        hs_store_prep(db, "INSERT INTO push_rules (user_id, kind, rule_id, rule_json, enabled, actions, priority)"
                          " VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6) ON CONFLICT (user_id, kind, rule_id) DO UPDATE SET"
                          " rule_json = excluded.rule_json, actions = excluded.actions,"
                          " enabled = COALESCE(push_rules.enabled, 1),"
                          " priority = CASE WHEN ?7 THEN excluded.priority ELSE push_rules.priority END");
    if (!s) return -1;
    bind_key(s, user_id, kind, rule_id);
    sqlite3_bind_text(s, 4, rule_json, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, actions, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, prio < 0 ? 0 : prio);
    sqlite3_bind_int(s, 7, prio >= 0);
    return run(db, s) < 0 ? -1 : 0;
}

static int put_steps(sqlite3 *db, const char *user_id, const char *kind, const char *rule_id, const char *rule_json,
                     const char *actions, const char *before, const char *after)
{
    char **ids;
    size_t n;
    if (kind_order(db, user_id, kind, rule_id, &ids, &n) != 0) return -1;
    int ret = 0;
    const char *anchor = before ? before : after;
    if (anchor) {
        size_t at = n;
        for (size_t i = 0; i < n; i++)
            if (strcmp(ids[i], anchor) == 0) at = i;
        if (at == n) {
            ret = 1;
        } else {
            size_t pos = before ? at : at + 1; /* the new rule's index in the final order */
            /* Final order has n + 1 rules; index i gets priority n + 1 - i. */
            for (size_t i = 0; i < n && ret == 0; i++)
                ret = set_priority(db, user_id, kind, ids[i], (int64_t)(n + 1 - (i < pos ? i : i + 1)));
            if (ret == 0) ret = upsert(db, user_id, kind, rule_id, rule_json, actions, (int64_t)(n + 1 - pos));
        }
    } else {
        sqlite3_stmt *s = hs_store_prep(db, "SELECT 1 FROM push_rules WHERE user_id = ?1 AND kind = ?2 AND rule_id = ?3"
                                            " AND rule_json IS NOT NULL");
        int exists = -1;
        if (s) {
            bind_key(s, user_id, kind, rule_id);
            int rc = sqlite3_step(s);
            exists = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
            sqlite3_finalize(s);
        }
        int64_t top = 0;
        s = hs_store_prep(db, "SELECT COALESCE(MAX(priority), 0) FROM push_rules WHERE user_id = ?1 AND kind = ?2"
                              " AND rule_json IS NOT NULL");
        if (s) {
            sqlite3_bind_text(s, 1, user_id, -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 2, kind, -1, SQLITE_STATIC);
            if (sqlite3_step(s) == SQLITE_ROW) top = sqlite3_column_int64(s, 0);
            sqlite3_finalize(s);
        }
        ret = exists < 0 ? -1 : upsert(db, user_id, kind, rule_id, rule_json, actions, exists ? -1 : top + 1);
    }
    free_ids(ids, n);
    return ret;
}

/* Whether the user may write the rule (kind, rule_id) under `max_rules`: a new rule
 * only below the limit, a replaced one always. Returns 0 yes, 2 no, -1 on error. */
static int within_limit(sqlite3 *db, const char *user_id, const char *kind, const char *rule_id, size_t max_rules)
{
    sqlite3_stmt *s = hs_store_prep(db, "SELECT COUNT(*), COALESCE(SUM(kind = ?2 AND rule_id = ?3), 0) FROM push_rules"
                                        " WHERE user_id = ?1 AND rule_json IS NOT NULL");
    if (!s) return -1;
    bind_key(s, user_id, kind, rule_id);
    int ret = -1;
    if (sqlite3_step(s) == SQLITE_ROW)
        ret = sqlite3_column_int64(s, 1) == 0 && (uint64_t)sqlite3_column_int64(s, 0) >= max_rules ? 2 : 0;
    sqlite3_finalize(s);
    return ret;
}

typedef struct put_args {
    const char *user_id, *kind, *rule_id, *rule_json, *actions, *before, *after;
    size_t max_rules;
} put_args;

/* Counting inside the transaction keeps the limit exact under concurrent PUTs. */
static int put_txn(sqlite3 *db, void *arg)
{
    const put_args *a = arg;
    int ret = within_limit(db, a->user_id, a->kind, a->rule_id, a->max_rules);
    return ret != 0 ? ret : put_steps(db, a->user_id, a->kind, a->rule_id, a->rule_json, a->actions, a->before, a->after);
}

/* put_txn returns 1 (unknown anchor) or 2 (limit) before writing anything, so
 * committing that empty transaction is the same as rolling it back. */
int hs_store_push_put_rule(hs_store *st, const char *user_id, const char *kind, const char *rule_id,
                           const char *rule_json, const char *actions, const char *before, const char *after,
                           size_t max_rules)
{
    put_args a = {user_id, kind, rule_id, rule_json, actions, before, after, max_rules};
    return hs_store_transact(st, put_txn, &a);
}

int hs_store_push_delete_rule(hs_store *st, const char *user_id, const char *kind, const char *rule_id)
{
    sqlite3 *db = hs_store_sqlite(st);
    sqlite3_stmt *s = hs_store_prep(db, "DELETE FROM push_rules WHERE user_id = ?1 AND kind = ?2 AND rule_id = ?3"
                                        " AND rule_json IS NOT NULL");
    if (s) bind_key(s, user_id, kind, rule_id);
    int changed = run(db, s);
    return changed < 0 ? -1 : changed == 0 ? 1 : 0;
}

/* Sets one column (enabled or actions) of a rule; see hs_store_push_set_enabled. */
static int set_field(hs_store *st, const char *user_id, const char *kind, const char *rule_id, bool is_default,
                     const char *column, const char *text, int flag)
{
    sqlite3 *db = hs_store_sqlite(st);
    char sql[400];
    if (is_default)
        snprintf(sql, sizeof sql,
                 "INSERT INTO push_rules (user_id, kind, rule_id, %s) VALUES (?1, ?2, ?3, ?4)"
                 " ON CONFLICT (user_id, kind, rule_id) DO UPDATE SET %s = excluded.%s",
                 column, column, column);
    else
        snprintf(sql, sizeof sql,
                 "UPDATE push_rules SET %s = ?4 WHERE user_id = ?1 AND kind = ?2 AND rule_id = ?3"
                 " AND rule_json IS NOT NULL",
                 column);
    sqlite3_stmt *s = hs_store_prep(db, sql);
    if (s) {
        bind_key(s, user_id, kind, rule_id);
        if (text) sqlite3_bind_text(s, 4, text, -1, SQLITE_STATIC);
        else sqlite3_bind_int(s, 4, flag);
    }
    int changed = run(db, s);
    return changed < 0 ? -1 : changed == 0 ? 1 : 0;
}

int hs_store_push_set_enabled(hs_store *st, const char *user_id, const char *kind, const char *rule_id,
                              bool is_default, bool enabled)
{
    return set_field(st, user_id, kind, rule_id, is_default, "enabled", NULL, enabled);
}

int hs_store_push_set_actions(hs_store *st, const char *user_id, const char *kind, const char *rule_id,
                              bool is_default, const char *actions)
{
    return set_field(st, user_id, kind, rule_id, is_default, "actions", actions, 0);
}

typedef struct pusher_args {
    const char *user_id, *app_id, *pushkey, *pusher_json;
    bool append;
    int64_t now_ms;
    size_t max_pushers;
} pusher_args;

static int pusher_txn(sqlite3 *db, void *arg)
{
    const pusher_args *a = arg;
    sqlite3_stmt *c = hs_store_prep(db, "SELECT COUNT(*), COALESCE(SUM(app_id = ?2 AND pushkey = ?3), 0) FROM pushers"
                                        " WHERE user_id = ?1");
    if (!c) return -1;
    bind_key(c, a->user_id, a->app_id, a->pushkey);
    int rc = sqlite3_step(c);
    bool full = rc == SQLITE_ROW && sqlite3_column_int64(c, 1) == 0 &&
                (uint64_t)sqlite3_column_int64(c, 0) >= a->max_pushers;
    sqlite3_finalize(c);
    if (rc != SQLITE_ROW) return -1;
    if (full) return 2;
    if (!a->append) {
        sqlite3_stmt *d = hs_store_prep(db, "DELETE FROM pushers WHERE app_id = ?2 AND pushkey = ?3 AND user_id != ?1");
        if (d) bind_key(d, a->user_id, a->app_id, a->pushkey);
        if (run(db, d) < 0) return -1;
    }
    sqlite3_stmt *s = hs_store_prep(db, "INSERT INTO pushers (user_id, app_id, pushkey, pusher_json, created_ts)"
                                        " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (user_id, app_id, pushkey)"
                                        " DO UPDATE SET pusher_json = excluded.pusher_json");
    if (s) {
        bind_key(s, a->user_id, a->app_id, a->pushkey);
        sqlite3_bind_text(s, 4, a->pusher_json, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 5, a->now_ms);
    }
    return run(db, s) < 0 ? -1 : 0;
}

int hs_store_pusher_set(hs_store *st, const char *user_id, const char *app_id, const char *pushkey,
                        const char *pusher_json, bool append, int64_t now_ms, size_t max_pushers)
{
    pusher_args a = {user_id, app_id, pushkey, pusher_json, append, now_ms, max_pushers};
    return hs_store_transact(st, pusher_txn, &a);
}

int hs_store_pusher_delete(hs_store *st, const char *user_id, const char *app_id, const char *pushkey)
{
    sqlite3 *db = hs_store_sqlite(st);
    sqlite3_stmt *s = hs_store_prep(db, "DELETE FROM pushers WHERE user_id = ?1 AND app_id = ?2 AND pushkey = ?3");
    if (s) bind_key(s, user_id, app_id, pushkey);
    int changed = run(db, s);
    return changed < 0 ? -1 : changed == 0 ? 1 : 0;
}

json_t *hs_store_pushers(hs_store *st, const char *user_id)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT pusher_json FROM pushers WHERE user_id = ?1"
                                        " ORDER BY created_ts, app_id, pushkey");
    if (!s) return NULL;
    sqlite3_bind_text(s, 1, user_id, -1, SQLITE_STATIC);
    json_t *out = json_array();
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        json_t *p = json_loads((const char *)sqlite3_column_text(s, 0), 0, NULL);
        if (p) json_array_append_new(out, p);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        json_decref(out);
        return NULL;
    }
    return out;
}
