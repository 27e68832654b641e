/* hs_store_e2ee: end-to-end encryption material the server keeps for clients — device
 * keys, one-time and fallback keys, cross-signing keys and signatures — and the two
 * streams /sync reads: the to-device inbox (rows are deleted once the device has synced
 * past them) and device list changes (one row per user whose devices or keys changed).
 *
 * The one connection is shared by every worker thread, so multi-statement writes hold
 * the connection's own recursive mutex from BEGIN to COMMIT (as hs_store_rooms does):
 * no other thread's statement can slip into the transaction. Single-statement reads
 * and writes need no such care. A one-time key is claimed by a DELETE ... RETURNING, so
 * it leaves the table in the very statement that hands it out: no key goes to two
 * claimers. All claims of one request share a transaction, since with synchronous=FULL
 * each commit costs an fsync. */
#include "server-core/hs_store_e2ee.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_store_internal.h"

const char hs_schema_e2ee[] =
    "CREATE TABLE device_keys (user_id TEXT NOT NULL, device_id TEXT NOT NULL, keys_json TEXT NOT NULL,"
    " PRIMARY KEY (user_id, device_id));"
    "CREATE TABLE one_time_keys (user_id TEXT NOT NULL, device_id TEXT NOT NULL, algorithm TEXT NOT NULL,"
    " key_id TEXT NOT NULL, key_json TEXT NOT NULL, PRIMARY KEY (user_id, device_id, algorithm, key_id));"
    "CREATE TABLE fallback_keys (user_id TEXT NOT NULL, device_id TEXT NOT NULL, algorithm TEXT NOT NULL,"
    " key_id TEXT NOT NULL, key_json TEXT NOT NULL, used INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY (user_id, device_id, algorithm));"
    "CREATE TABLE cross_signing_keys (user_id TEXT NOT NULL, key_type TEXT NOT NULL, key_json TEXT NOT NULL,"
    " PRIMARY KEY (user_id, key_type));"
    /* Signatures uploaded through /keys/signatures/upload, kept apart from the signed
     * key so a re-upload of the key does not lose them and so each can be shown only to
     * whom it concerns (a user-signing signature only to its signer). */
    "CREATE TABLE e2ee_signatures (target_user_id TEXT NOT NULL, target_key_id TEXT NOT NULL,"
    " signer_user_id TEXT NOT NULL, signer_key_id TEXT NOT NULL, signature TEXT NOT NULL,"
    " PRIMARY KEY (target_user_id, target_key_id, signer_user_id, signer_key_id));"
    "CREATE TABLE to_device_inbox (stream_id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL,"
    " device_id TEXT NOT NULL, sender TEXT NOT NULL, type TEXT NOT NULL, content TEXT NOT NULL);"
    "CREATE INDEX to_device_inbox_device ON to_device_inbox(user_id, device_id, stream_id);"
    "CREATE TABLE to_device_txns (user_id TEXT NOT NULL, device_id TEXT NOT NULL, txn_id TEXT NOT NULL,"
    " PRIMARY KEY (user_id, device_id, txn_id));"
    /* device_id: set on the row that says this device of a local user was deleted (the
     * federation scan announces it as such); cross_signing: the user's master or
     * self-signing key changed (announced as m.signing_key_update); local_only: a
     * signature someone made on this user's key, which only the signer may see, so
     * local clients re-query the user but other servers hear nothing. */
    "CREATE TABLE device_list_changes (stream_id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL,"
    " device_id TEXT, cross_signing INTEGER NOT NULL DEFAULT 0, local_only INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX device_list_changes_user ON device_list_changes(user_id, stream_id);"
    /* The highest stream_id pruned away (one row, id 0; absent: nothing pruned). */
    "CREATE TABLE device_list_horizon (id INTEGER PRIMARY KEY CHECK (id = 0), stream_id INTEGER NOT NULL);"
    /* The stream_id of the last m.device_list_update sent for each local user (each
     * update's prev_id names the one before it; user/devices answers it, so a peer
     * that resynced can chain the next update onto its copy). Grows by one per
     * update, never reused: a peer keeps the IDs it has applied. */
    "CREATE TABLE device_list_outbound (user_id TEXT PRIMARY KEY NOT NULL, stream_id INTEGER NOT NULL);"
    /* Cross-signing keys of users of other servers, as their servers last sent them
     * (checked): answers keys/query for them when their server cannot be reached. */
    "CREATE TABLE remote_cross_signing_keys (user_id TEXT NOT NULL, key_type TEXT NOT NULL,"
    " key_json TEXT NOT NULL, PRIMARY KEY (user_id, key_type));";

/* ---- helpers ------------------------------------------------------------------------ */

static void bind_texts(sqlite3_stmt *s, int n, const char *const *v)
{
    for (int i = 0; i < n; i++) hs_store_bind_text_or_null(s, i + 1, v[i]);
}

/* Prepares `sql`, binds n texts, runs it to completion. Returns 0 or -1. */
static int exec_texts(sqlite3 *db, const char *sql, int n, const char *const *v)
{
    sqlite3_stmt *s = hs_store_prep(db, sql);
    if (s) bind_texts(s, n, v);
    return hs_store_step_done(s);
}

/* One text column of the first row of `sql` into *out. Returns 0, 1 (no row), -1. */
static int query_text(sqlite3 *db, const char *sql, int n, const char *const *v, char **out)
{
    *out = NULL;
    sqlite3_stmt *s = hs_store_prep(db, sql);
    if (!s) return -1;
    bind_texts(s, n, v);
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
    if (ret == 0 && !(*out = hs_store_col_dup_or_empty(s, 0))) ret = -1;
    sqlite3_finalize(s);
    return ret;
}

static int query_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *s = hs_store_prep(db, sql);
    if (!s) return -1;
    int rc = sqlite3_step(s);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int change_row(sqlite3 *db, const char *user_id)
{
    return exec_texts(db, "INSERT INTO device_list_changes (user_id) VALUES (?1)", 1, (const char *[]){user_id});
}

/* ---- device keys ------------------------------------------------------------------ */

int hs_store_e2ee_device_keys_get(hs_store *st, const char *user_id, const char *device_id, char **keys_json)
{
    return query_text(hs_store_sqlite(st), "SELECT keys_json FROM device_keys WHERE user_id = ?1 AND device_id = ?2",
                      2, (const char *[]){user_id, device_id}, keys_json);
}

int hs_store_e2ee_device_keys_each(hs_store *st, const char *user_id, const char *device_id,
                                   int (*fn)(void *ctx, const char *device_id, const char *keys_json,
                                             const char *display_name),
                                   void *ctx)
{
    sqlite3_stmt *s = hs_store_stmt(st,
                                    "SELECT k.device_id, k.keys_json, d.display_name FROM device_keys k JOIN devices d"
                                    " ON d.user_id = k.user_id AND d.device_id = k.device_id"
                                    " WHERE k.user_id = ?1 AND (?2 IS NULL OR k.device_id = ?2) ORDER BY k.device_id");
    if (!s) return -1;
    bind_texts(s, 2, (const char *[]){user_id, device_id});
    int rc, stop = 0;
    while (!stop && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 2);
        stop = fn(ctx, (const char *)sqlite3_column_text(s, 0), (const char *)sqlite3_column_text(s, 1), name);
    }
    sqlite3_finalize(s);
    if (stop) return stop;
    return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- one-time and fallback keys ------------------------------------------------------ */

struct upload {
    const char *user_id, *device_id, *device_keys_json;
    const hs_store_otk *otks, *fallbacks;
    size_t n_otks, n_fallbacks, conflict;
    bool keys_changed;
};

static int upload_steps(sqlite3 *db, void *arg)
{
    struct upload *a = arg;
    /* First pass decides; nothing is written when any one-time key conflicts or the
     * new ones would take the device past its limit. */
    size_t fresh = 0;
    for (size_t i = 0; i < a->n_otks; i++) {
        char *old = NULL;
        int rc = query_text(db,
                            "SELECT key_json FROM one_time_keys WHERE user_id = ?1 AND device_id = ?2"
                            " AND algorithm = ?3 AND key_id = ?4",
                            4, (const char *[]){a->user_id, a->device_id, a->otks[i].algorithm, a->otks[i].key_id},
                            &old);
        if (rc < 0) return -1;
        bool conflict = rc == 0 && strcmp(old, a->otks[i].key_json) != 0;
        free(old);
        if (conflict) {
            a->conflict = i;
            return 1;
        }
        fresh += rc == 1;
    }
    if (fresh) {
        sqlite3_stmt *s = hs_store_prep(db, "SELECT count(*) FROM one_time_keys WHERE user_id = ?1 AND device_id = ?2");
        if (!s) return -1;
        bind_texts(s, 2, (const char *[]){a->user_id, a->device_id});
        int64_t stored = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
        sqlite3_finalize(s);
        if (stored < 0) return -1;
        if ((uint64_t)stored + fresh > HS_STORE_E2EE_OTKS_PER_DEVICE) return 2;
    }
    for (size_t i = 0; i < a->n_otks; i++) {
        if (exec_texts(db,
                       "INSERT OR IGNORE INTO one_time_keys (user_id, device_id, algorithm, key_id, key_json)"
                       " VALUES (?1, ?2, ?3, ?4, ?5)",
                       5,
                       (const char *[]){a->user_id, a->device_id, a->otks[i].algorithm, a->otks[i].key_id,
                                        a->otks[i].key_json}) != 0)
            return -1;
    }
    for (size_t i = 0; i < a->n_fallbacks; i++) {
        if (exec_texts(db,
                       "INSERT INTO fallback_keys (user_id, device_id, algorithm, key_id, key_json, used)"
                       " VALUES (?1, ?2, ?3, ?4, ?5, 0) ON CONFLICT (user_id, device_id, algorithm) DO UPDATE SET"
                       " used = CASE WHEN key_id = excluded.key_id AND key_json = excluded.key_json"
                       " THEN used ELSE 0 END, key_id = excluded.key_id, key_json = excluded.key_json",
                       5,
                       (const char *[]){a->user_id, a->device_id, a->fallbacks[i].algorithm, a->fallbacks[i].key_id,
                                        a->fallbacks[i].key_json}) != 0)
            return -1;
    }
    if (!a->device_keys_json) return 0;
    char *old = NULL;
    int rc = query_text(db, "SELECT keys_json FROM device_keys WHERE user_id = ?1 AND device_id = ?2", 2,
                        (const char *[]){a->user_id, a->device_id}, &old);
    if (rc < 0) return -1;
    a->keys_changed = rc == 1 || strcmp(old, a->device_keys_json) != 0;
    free(old);
    if (!a->keys_changed) return 0;
    if (exec_texts(db, "INSERT OR REPLACE INTO device_keys (user_id, device_id, keys_json) VALUES (?1, ?2, ?3)", 3,
                   (const char *[]){a->user_id, a->device_id, a->device_keys_json}) != 0)
        return -1;
    return change_row(db, a->user_id);
}

int hs_store_e2ee_upload(hs_store *st, const char *user_id, const char *device_id, const char *device_keys_json,
                         const hs_store_otk *otks, size_t n_otks, const hs_store_otk *fallbacks, size_t n_fallbacks,
                         size_t *conflict, bool *keys_changed)
{
    struct upload a = {user_id, device_id, device_keys_json, otks, fallbacks, n_otks, n_fallbacks, 0, false};
    int rc = hs_store_transact(st, upload_steps, &a);
    if (rc == 1 && conflict) *conflict = a.conflict;
    if (keys_changed) *keys_changed = rc == 0 && a.keys_changed;
    return rc;
}

int hs_store_e2ee_otk_counts(hs_store *st, const char *user_id, const char *device_id,
                             void (*fn)(void *ctx, const char *algorithm, int64_t count), void *ctx)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT algorithm, count(*) FROM one_time_keys"
                                        " WHERE user_id = ?1 AND device_id = ?2 GROUP BY algorithm");
    if (!s) return -1;
    bind_texts(s, 2, (const char *[]){user_id, device_id});
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        fn(ctx, (const char *)sqlite3_column_text(s, 0), sqlite3_column_int64(s, 1));
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Runs a statement returning (key_id, key_json) and takes the first row. Returns 0, 1, -1. */
static int take_key(sqlite3 *db, const char *sql, const char *const *args, char **key_id, char **key_json)
{
    sqlite3_stmt *s = hs_store_prep(db, sql);
    if (!s) return -1;
    bind_texts(s, 3, args);
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
    if (ret == 0) {
        *key_id = hs_store_col_dup_or_empty(s, 0);
        *key_json = hs_store_col_dup_or_empty(s, 1);
        /* Step to the end so a DELETE/UPDATE ... RETURNING has fully run. */
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {}
        if (rc != SQLITE_DONE || !*key_id || !*key_json) {
            free(*key_id);
            free(*key_json);
            ret = -1;
        }
    }
    sqlite3_finalize(s);
    return ret;
}

struct claim_batch {
    hs_store_claim *claims;
    size_t n;
};

static int claim_steps(sqlite3 *db, void *arg)
{
    struct claim_batch *a = arg;
    for (size_t i = 0; i < a->n; i++) {
        hs_store_claim *c = &a->claims[i];
        const char *args[] = {c->user_id, c->device_id, c->algorithm};
        int rc = take_key(db,
                          "DELETE FROM one_time_keys WHERE rowid = (SELECT rowid FROM one_time_keys"
                          " WHERE user_id = ?1 AND device_id = ?2 AND algorithm = ?3 ORDER BY key_id LIMIT 1)"
                          " RETURNING key_id, key_json",
                          args, &c->key_id, &c->key_json);
        if (rc == 1) {
            rc = take_key(db,
                          "UPDATE fallback_keys SET used = 1 WHERE user_id = ?1 AND device_id = ?2 AND algorithm = ?3"
                          " RETURNING key_id, key_json",
                          args, &c->key_id, &c->key_json);
            c->fallback = rc == 0;
        }
        if (rc < 0) return -1;
    }
    return 0;
}

int hs_store_e2ee_otk_claim(hs_store *st, hs_store_claim *claims, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        claims[i].key_id = claims[i].key_json = NULL;
        claims[i].fallback = false;
    }
    struct claim_batch a = {claims, n};
    int rc = hs_store_transact(st, claim_steps, &a);
    if (rc < 0) {
        /* Rolled back: nothing was handed out, so nothing may be reported as claimed. */
        for (size_t i = 0; i < n; i++) {
            free(claims[i].key_id);
            free(claims[i].key_json);
            claims[i].key_id = claims[i].key_json = NULL;
            claims[i].fallback = false;
        }
    }
    return rc < 0 ? -1 : 0;
}

/* ---- cross-signing ------------------------------------------------------------------ */

int hs_store_e2ee_xsign_get(hs_store *st, const char *user_id, const char *key_type, char **key_json)
{
    return query_text(hs_store_sqlite(st),
                      "SELECT key_json FROM cross_signing_keys WHERE user_id = ?1 AND key_type = ?2", 2,
                      (const char *[]){user_id, key_type}, key_json);
}

struct xsign_put {
    const char *user_id;
    const char *const *types, *const *jsons;
    size_t n;
};

static int xsign_put_steps(sqlite3 *db, void *arg)
{
    struct xsign_put *a = arg;
    bool public_keys = false; /* master or self-signing: what other servers are told of */
    for (size_t i = 0; i < a->n; i++) {
        if (exec_texts(db,
                       "INSERT OR REPLACE INTO cross_signing_keys (user_id, key_type, key_json) VALUES (?1, ?2, ?3)", 3,
                       (const char *[]){a->user_id, a->types[i], a->jsons[i]}) != 0)
            return -1;
        public_keys |= strcmp(a->types[i], "user_signing") != 0;
    }
    if (!public_keys) return change_row(db, a->user_id);
    return exec_texts(db, "INSERT INTO device_list_changes (user_id, cross_signing) VALUES (?1, 1)", 1,
                      (const char *[]){a->user_id});
}

int hs_store_e2ee_xsign_put(hs_store *st, const char *user_id, const char *const *types, const char *const *jsons,
                            size_t n)
{
    struct xsign_put a = {user_id, types, jsons, n};
    return hs_store_transact(st, xsign_put_steps, &a) < 0 ? -1 : 0;
}

struct signature_put {
    const char *const *args;
    const char *notify_user;
};

static int signature_put_steps(sqlite3 *db, void *arg)
{
    struct signature_put *a = arg;
    if (exec_texts(db,
                   "INSERT OR REPLACE INTO e2ee_signatures (target_user_id, target_key_id, signer_user_id,"
                   " signer_key_id, signature) VALUES (?1, ?2, ?3, ?4, ?5)",
                   5, a->args) != 0)
        return -1;
    if (strcmp(a->args[0], a->args[2]) != 0)
        return exec_texts(db, "INSERT INTO device_list_changes (user_id, local_only) VALUES (?1, 1)", 1,
                          (const char *[]){a->notify_user});
    /* One's own signature on one's master (or self-signing) key travels with that key
     * (m.signing_key_update), one on a device with the device (m.device_list_update). */
    return exec_texts(db,
                      "INSERT INTO device_list_changes (user_id, cross_signing) SELECT ?1, EXISTS (SELECT 1"
                      " FROM cross_signing_keys c, json_each(c.key_json, '$.keys') j WHERE c.user_id = ?2"
                      " AND c.key_type IN ('master', 'self_signing') AND j.key = 'ed25519:' || ?3)",
                      3, (const char *[]){a->notify_user, a->args[0], a->args[1]});
}

int hs_store_e2ee_signature_put(hs_store *st, const char *target_user, const char *target_key_id,
                                const char *signer_user, const char *signer_key_id, const char *signature,
                                const char *notify_user)
{
    const char *args[] = {target_user, target_key_id, signer_user, signer_key_id, signature};
    struct signature_put a = {args, notify_user};
    return hs_store_transact(st, signature_put_steps, &a) < 0 ? -1 : 0;
}

int hs_store_e2ee_signatures_each(hs_store *st, const char *target_user, const char *target_key_id,
                                  const char *viewer,
                                  void (*fn)(void *ctx, const char *signer_user, const char *signer_key_id,
                                             const char *signature),
                                  void *ctx)
{
    sqlite3_stmt *s = hs_store_stmt(st,
                                    "SELECT signer_user_id, signer_key_id, signature FROM e2ee_signatures"
                                    " WHERE target_user_id = ?1 AND target_key_id = ?2"
                                    " AND (signer_user_id = ?1 OR signer_user_id = ?3)"
                                    " ORDER BY signer_user_id, signer_key_id");
    if (!s) return -1;
    bind_texts(s, 3, (const char *[]){target_user, target_key_id, viewer});
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        fn(ctx, (const char *)sqlite3_column_text(s, 0), (const char *)sqlite3_column_text(s, 1),
           (const char *)sqlite3_column_text(s, 2));
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- device list changes ----------------------------------------------------------------- */

int hs_store_e2ee_device_lists_max(hs_store *st, int64_t *out)
{
    return query_int(hs_store_sqlite(st), "SELECT coalesce(max(stream_id), 0) FROM device_list_changes", out);
}

void hs_store_e2ee_free_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* Whether user `?1` and the row's user `u` are both joined to some room now. */
#define SHARES_A_ROOM(u) \
    "EXISTS (SELECT 1 FROM current_state mine JOIN current_state theirs ON theirs.room_id = mine.room_id" \
    " WHERE mine.type = 'm.room.member' AND mine.state_key = ?1 AND mine.membership = 'join'" \
    " AND theirs.type = 'm.room.member' AND theirs.state_key = " u " AND theirs.membership = 'join')"

int hs_store_e2ee_changes(hs_store *st, const char *viewer, int64_t from, int64_t to, char ***users, size_t *n)
{
    *users = NULL;
    *n = 0;
    /* A `from` before the pruned horizon may have lost rows: then everyone the viewer
     * shares a room with counts as changed (clients query again; nothing is missed). */
    sqlite3_stmt *s = hs_store_stmt(st,
                                    "SELECT c.user_id FROM device_list_changes c"
                                    " WHERE c.stream_id > ?2 AND c.stream_id <= ?3 AND (c.user_id = ?1 OR "
                                    SHARES_A_ROOM("c.user_id") ")"
                                    " UNION SELECT ?1 WHERE " HS_STORE_E2EE_BEFORE_HORIZON("?2")
                                    " UNION SELECT theirs.state_key FROM current_state mine JOIN current_state theirs"
                                    " ON theirs.room_id = mine.room_id WHERE " HS_STORE_E2EE_BEFORE_HORIZON("?2")
                                    " AND mine.type = 'm.room.member' AND mine.state_key = ?1"
                                    " AND mine.membership = 'join' AND theirs.type = 'm.room.member'"
                                    " AND theirs.membership = 'join'"
                                    " ORDER BY 1");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, viewer, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, from);
    sqlite3_bind_int64(s, 3, to);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            char **grown = realloc(*users, nc * sizeof *grown);
            if (!grown) break;
            *users = grown;
            cap = nc;
        }
        char *u = hs_store_col_dup_or_empty(s, 0);
        if (!u) break;
        (*users)[(*n)++] = u;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        hs_store_e2ee_free_strings(*users, *n);
        *users = NULL;
        *n = 0;
        return -1;
    }
    return 0;
}

int hs_store_e2ee_membership_changes(hs_store *st, const char *viewer, int64_t ev_from, int64_t ev_to,
                                     void (*fn)(void *ctx, const char *user_id, bool shares), void *ctx)
{
    sqlite3_stmt *s = hs_store_stmt(st,
                                    "WITH viewer_rooms AS (SELECT room_id FROM current_state"
                                    "  WHERE type = 'm.room.member' AND state_key = ?1),"
                                    " moves AS (SELECT room_id, state_key FROM events WHERE type = 'm.room.member'"
                                    "  AND stream_ordering > ?2 AND stream_ordering <= ?3 AND room_id IN viewer_rooms),"
                                    " candidates AS (SELECT state_key AS u FROM moves UNION"
                                    "  SELECT state_key FROM current_state WHERE type = 'm.room.member'"
                                    "  AND room_id IN (SELECT room_id FROM moves WHERE state_key = ?1))"
                                    " SELECT u, " SHARES_A_ROOM("u") " FROM candidates WHERE u != ?1 ORDER BY u");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, viewer, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, ev_from);
    sqlite3_bind_int64(s, 3, ev_to);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        fn(ctx, (const char *)sqlite3_column_text(s, 0), sqlite3_column_int(s, 1) != 0);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

#define GONE(table, dev) \
    "DELETE FROM " table " WHERE user_id = ?1 AND NOT EXISTS (SELECT 1 FROM devices d" \
    " WHERE d.user_id = ?1 AND d.device_id = " table "." dev ")"

static int prune_steps(sqlite3 *db, void *arg)
{
    const char *user_id = arg;
    const char *args[] = {user_id};
    /* One row per device whose keys go, naming it: other servers are told it was
     * deleted, not merely that the user's list changed. */
    if (exec_texts(db,
                   "INSERT INTO device_list_changes (user_id, device_id) SELECT user_id, device_id FROM device_keys"
                   " WHERE user_id = ?1 AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.user_id = ?1"
                   " AND d.device_id = device_keys.device_id) ORDER BY device_id",
                   1, args) != 0)
        return -1;
    if (exec_texts(db, GONE("device_keys", "device_id"), 1, args) != 0) return -1;
    int removed_keys = sqlite3_changes(db) > 0;
    if (exec_texts(db, GONE("one_time_keys", "device_id"), 1, args) != 0 ||
        exec_texts(db, GONE("fallback_keys", "device_id"), 1, args) != 0 ||
        exec_texts(db, GONE("to_device_inbox", "device_id"), 1, args) != 0 ||
        exec_texts(db, GONE("to_device_txns", "device_id"), 1, args) != 0)
        return -1;
    /* Signatures on a gone device; cross-signing keys are not device IDs, so they stay. */
    if (exec_texts(db,
                   "DELETE FROM e2ee_signatures WHERE target_user_id = ?1 AND target_key_id NOT IN"
                   " (SELECT device_id FROM devices WHERE user_id = ?1) AND target_key_id NOT IN"
                   " (SELECT substr(j.key, 9) FROM cross_signing_keys c, json_each(c.key_json, '$.keys') j"
                   "  WHERE c.user_id = ?1)",
                   1, args) != 0)
        return -1;
    /* Signatures a gone device made (on its user's master key) vouch for nothing now. */
    if (exec_texts(db,
                   "DELETE FROM e2ee_signatures WHERE signer_user_id = ?1 AND substr(signer_key_id, 9) NOT IN"
                   " (SELECT device_id FROM devices WHERE user_id = ?1) AND signer_key_id NOT IN"
                   " (SELECT j.key FROM cross_signing_keys c, json_each(c.key_json, '$.keys') j"
                   "  WHERE c.user_id = ?1)",
                   1, args) != 0)
        return -1;
    return removed_keys ? 0 : 1;
}

/* ---- pruning the change stream ------------------------------------------------------ */

struct changes_prune {
    int64_t upto;
    long keep, removed;
};

static int changes_prune_steps(sqlite3 *db, void *arg)
{
    struct changes_prune *a = arg;
    int64_t max = 0, horizon = 0, limit = 0;
    if (query_int(db, "SELECT coalesce(max(stream_id), 0) FROM device_list_changes", &max) != 0 ||
        query_int(db, "SELECT coalesce((SELECT stream_id FROM device_list_horizon), 0)", &horizon) != 0)
        return -1;
    int64_t bound = max - a->keep < a->upto ? max - a->keep : a->upto;
    if (bound <= horizon) return 0;
    sqlite3_stmt *s = hs_store_prep(db, "SELECT coalesce(max(stream_id), 0) FROM (SELECT stream_id FROM"
                                        " device_list_changes WHERE stream_id > ?1 AND stream_id <= ?2"
                                        " ORDER BY stream_id LIMIT ?3)");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, horizon);
    sqlite3_bind_int64(s, 2, bound);
    sqlite3_bind_int(s, 3, HS_STORE_E2EE_PRUNE_BATCH);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) limit = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW) return -1;
    if (limit <= horizon) return 0;
    s = hs_store_prep(db, "DELETE FROM device_list_changes WHERE stream_id <= ?1");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, limit);
    if (hs_store_step_done(s) != 0) return -1;
    a->removed = sqlite3_changes(db);
    s = hs_store_prep(db, "INSERT OR REPLACE INTO device_list_horizon (id, stream_id) VALUES (0, ?1)");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, limit);
    return hs_store_step_done(s);
}

long hs_store_e2ee_changes_prune(hs_store *st, int64_t upto, long keep)
{
    /* The newest row always stays: the stream's position is its highest stream_id. */
    struct changes_prune a = {upto, keep < 1 ? 1 : keep, 0};
    return hs_store_transact(st, changes_prune_steps, &a) < 0 ? -1 : a.removed;
}

int hs_store_e2ee_changes_horizon(hs_store *st, int64_t *out)
{
    return query_int(hs_store_sqlite(st), "SELECT coalesce((SELECT stream_id FROM device_list_horizon), 0)", out);
}

/* ---- remote cross-signing keys --------------------------------------------------------- */

struct remote_xsign {
    const char *user_id, *master, *self_signing;
    bool always_announce;
    int changed;
};

static int remote_xsign_steps(sqlite3 *db, void *arg)
{
    struct remote_xsign *a = arg;
    const char *const types[2] = {"master", "self_signing"};
    const char *const jsons[2] = {a->master, a->self_signing};
    bool had_any = false, differs = false;
    for (int i = 0; i < 2; i++) {
        char *old = NULL;
        int rc = query_text(db, "SELECT key_json FROM remote_cross_signing_keys WHERE user_id = ?1 AND key_type = ?2",
                            2, (const char *[]){a->user_id, types[i]}, &old);
        if (rc < 0) return -1;
        had_any |= rc == 0;
        differs |= (rc == 0) != (jsons[i] != NULL) || (old && jsons[i] && strcmp(old, jsons[i]) != 0);
        free(old);
    }
    if (!differs && !a->always_announce) return 0;
    for (int i = 0; differs && i < 2; i++) {
        int rc = jsons[i] ? exec_texts(db,
                                       "INSERT OR REPLACE INTO remote_cross_signing_keys (user_id, key_type, key_json)"
                                       " VALUES (?1, ?2, ?3)",
                                       3, (const char *[]){a->user_id, types[i], jsons[i]})
                          : exec_texts(db, "DELETE FROM remote_cross_signing_keys WHERE user_id = ?1 AND key_type = ?2",
                                       2, (const char *[]){a->user_id, types[i]});
        if (rc != 0) return -1;
    }
    if (a->always_announce || had_any) {
        if (change_row(db, a->user_id) != 0) return -1;
        a->changed = 1;
    }
    return 0;
}

int hs_store_e2ee_remote_xsign_put(hs_store *st, const char *user_id, const char *master_json,
                                   const char *self_signing_json, bool always_announce)
{
    struct remote_xsign a = {user_id, master_json, self_signing_json, always_announce, 0};
    return hs_store_transact(st, remote_xsign_steps, &a) < 0 ? -1 : a.changed;
}

int hs_store_e2ee_remote_xsign_get(hs_store *st, const char *user_id, const char *key_type, char **key_json)
{
    return query_text(hs_store_sqlite(st),
                      "SELECT key_json FROM remote_cross_signing_keys WHERE user_id = ?1 AND key_type = ?2", 2,
                      (const char *[]){user_id, key_type}, key_json);
}

int hs_store_e2ee_prune_devices(hs_store *st, const char *user_id)
{
    return hs_store_transact(st, prune_steps, (void *)user_id);
}

/* ---- to-device ------------------------------------------------------------------------- */

#define STR_(x) #x
#define STR(x) STR_(x)
#define INBOX_MAX_SQL STR(HS_STORE_E2EE_INBOX_PER_DEVICE)
#define TXNS_KEPT_SQL STR(HS_STORE_E2EE_TXNS_PER_DEVICE)

struct to_device_send {
    const char *sender, *sender_device, *txn_id, *type;
    const hs_store_to_device *msgs;
    size_t n, queued;
};

static int to_device_steps(sqlite3 *db, void *arg)
{
    struct to_device_send *a = arg;
    if (exec_texts(db, "INSERT OR IGNORE INTO to_device_txns (user_id, device_id, txn_id) VALUES (?1, ?2, ?3)", 3,
                   (const char *[]){a->sender, a->sender_device, a->txn_id}) != 0)
        return -1;
    if (sqlite3_changes(db) == 0) return 1;
    /* A retry comes soon after the first try: remembering each sender device's newest
     * transaction IDs is enough, and keeps the table from growing with every message
     * (federation senders are remote users a server can name at will). */
    if (exec_texts(db,
                   "DELETE FROM to_device_txns WHERE rowid IN (SELECT rowid FROM to_device_txns"
                   " WHERE user_id = ?1 AND device_id = ?2 ORDER BY rowid DESC LIMIT -1 OFFSET " TXNS_KEPT_SQL ")",
                   2, (const char *[]){a->sender, a->sender_device}) != 0)
        return -1;
    for (size_t i = 0; i < a->n; i++) {
        const hs_store_to_device *m = &a->msgs[i];
        /* "*" fans out to every device the user has now; a named device must exist and
         * have room in its inbox. */
        if (exec_texts(db,
                       "INSERT INTO to_device_inbox (user_id, device_id, sender, type, content)"
                       " SELECT d.user_id, d.device_id, ?3, ?4, ?5 FROM devices d"
                       " WHERE d.user_id = ?1 AND (?2 = '*' OR d.device_id = ?2)"
                       " AND (SELECT count(*) FROM to_device_inbox i WHERE i.user_id = d.user_id"
                       "  AND i.device_id = d.device_id) < " INBOX_MAX_SQL " ORDER BY d.device_id",
                       5, (const char *[]){m->user_id, m->device_id, a->sender, a->type, m->content}) != 0)
            return -1;
        a->queued += (size_t)sqlite3_changes(db);
    }
    return 0;
}

int hs_store_e2ee_to_device_send(hs_store *st, const char *sender, const char *sender_device, const char *txn_id,
                                 const char *type, const hs_store_to_device *msgs, size_t n, size_t *queued)
{
    struct to_device_send a = {sender, sender_device, txn_id, type, msgs, n, 0};
    int rc = hs_store_transact(st, to_device_steps, &a);
    if (queued) *queued = rc == 0 ? a.queued : 0;
    return rc;
}

long hs_store_e2ee_inbox_each(hs_store *st, const char *user_id, const char *device_id, int64_t after, long limit,
                              void (*fn)(void *ctx, int64_t stream_id, const char *sender, const char *type,
                                         const char *content),
                              void *ctx)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT stream_id, sender, type, content FROM to_device_inbox"
                                        " WHERE user_id = ?1 AND device_id = ?2 AND stream_id > ?3"
                                        " ORDER BY stream_id LIMIT ?4");
    if (!s) return -1;
    bind_texts(s, 2, (const char *[]){user_id, device_id});
    sqlite3_bind_int64(s, 3, after);
    sqlite3_bind_int64(s, 4, limit);
    long count = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        fn(ctx, sqlite3_column_int64(s, 0), (const char *)sqlite3_column_text(s, 1),
           (const char *)sqlite3_column_text(s, 2), (const char *)sqlite3_column_text(s, 3));
        count++;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? count : -1;
}

int hs_store_e2ee_to_device_max(hs_store *st, int64_t *out)
{
    /* sqlite_sequence keeps the highest ID ever handed out, even after acks deleted the rows. */
    return query_int(hs_store_sqlite(st), "SELECT seq FROM sqlite_sequence WHERE name = 'to_device_inbox'", out);
}
