/* hs_store_federation: what federation remembers across restarts. Remote servers'
 * signing keys with their validity (valid_until_ts for current keys, expired_ts for
 * old_verify_keys), so signatures can be checked without asking again, and the last
 * validated key response per server, which the notary re-serves; and every signing key
 * this server has used, so a rotated key stays published in old_verify_keys. Explicit transactions
 * are avoided for the same reason as in hs_store_accounts.c: the one serialized
 * connection is shared by all worker threads. */
#include "server-core/hs_store_federation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_store_internal.h"

const char hs_schema_federation[] =
    "CREATE TABLE server_keys (server_name TEXT NOT NULL, key_id TEXT NOT NULL, verify_key TEXT NOT NULL,"
    " valid_until_ts INTEGER NOT NULL, expired_ts INTEGER, fetched_ts INTEGER NOT NULL,"
    " PRIMARY KEY (server_name, key_id));"
    "CREATE TABLE server_key_responses (server_name TEXT PRIMARY KEY NOT NULL, response_json TEXT NOT NULL,"
    " valid_until_ts INTEGER NOT NULL, fetched_ts INTEGER NOT NULL);"
    "CREATE TABLE own_keys (key_id TEXT PRIMARY KEY NOT NULL, verify_key TEXT NOT NULL, expired_ts INTEGER);"
    /* Rooms across servers (hs_store_fed_rooms.c): inbound transactions already answered
     * (a retried txnId gets the same answer) and events that failed the soft-fail check
     * (kept out of the timeline and the state, but known so that later events citing
     * them are not fetched again and again). */
    "CREATE TABLE fed_txn_in (origin TEXT NOT NULL, txn_id TEXT NOT NULL, response TEXT NOT NULL,"
    " received_ts INTEGER NOT NULL, PRIMARY KEY (origin, txn_id));"
    "CREATE TABLE fed_soft_failed (event_id TEXT PRIMARY KEY NOT NULL, room_id TEXT NOT NULL, pdu TEXT NOT NULL,"
    " state_after TEXT NOT NULL);"
    /* The outbound queue (hs_store_fed_queue.c): one row per (destination, event or EDU)
     * still to send, the per-destination transaction counter and backoff, and how far the
     * scan of local events has got (events after it are not queued yet). */
    "CREATE TABLE fed_out_queue (seq INTEGER PRIMARY KEY AUTOINCREMENT, destination TEXT NOT NULL,"
    " kind TEXT NOT NULL, payload TEXT NOT NULL, created_ts INTEGER NOT NULL);"
    "CREATE INDEX fed_out_queue_dest ON fed_out_queue(destination, seq);"
    /* txn_upto: the last queue row of the transaction in flight (0: none), so a retry
     * after a failure or a restart resends exactly the same transaction. */
    "CREATE TABLE fed_destinations (destination TEXT PRIMARY KEY NOT NULL, next_txn INTEGER NOT NULL,"
    " txn_upto INTEGER NOT NULL, failures INTEGER NOT NULL, retry_at INTEGER NOT NULL);"
    "CREATE TABLE fed_out_cursor (name TEXT PRIMARY KEY NOT NULL, stream INTEGER NOT NULL);"
    /* E2EE across servers (hs_store_fed_e2ee.c): the device keys of remote users as
     * their servers last told us (a user row says the list is known; a device row with
     * NULL keys_json is a device without keys), and remote profiles for a short time. */
    "CREATE TABLE fed_remote_device_users (user_id TEXT PRIMARY KEY NOT NULL, stream_id INTEGER NOT NULL,"
    " fetched_ts INTEGER NOT NULL);"
    "CREATE TABLE fed_remote_devices (user_id TEXT NOT NULL, device_id TEXT NOT NULL, keys_json TEXT,"
    " display_name TEXT, PRIMARY KEY (user_id, device_id));"
    "CREATE TABLE fed_profile_cache (user_id TEXT PRIMARY KEY NOT NULL, displayname TEXT, avatar_url TEXT,"
    " fetched_ts INTEGER NOT NULL);";

int hs_store_fed_key_get(hs_store *st, const char *server_name, const char *key_id, hs_store_fed_key *out)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT verify_key, valid_until_ts, expired_ts, fetched_ts FROM server_keys"
                                        " WHERE server_name = ?1 AND key_id = ?2");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, server_name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, key_id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
    if (ret == 0) {
        memset(out, 0, sizeof *out);
        const unsigned char *k = sqlite3_column_text(s, 0);
        snprintf(out->key_b64, sizeof out->key_b64, "%s", k ? (const char *)k : "");
        out->valid_until_ts = sqlite3_column_int64(s, 1);
        out->expired_ts = sqlite3_column_type(s, 2) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, 2);
        out->fetched_ts = sqlite3_column_int64(s, 3);
    }
    sqlite3_finalize(s);
    return ret;
}

int hs_store_fed_keys_put(hs_store *st, const char *server_name, const char *response_json, int64_t valid_until_ts,
                          const char *const *key_ids, const hs_store_fed_key *keys, size_t n, int64_t fetched_ts)
{
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *s = hs_store_stmt(
            st, "INSERT INTO server_keys (server_name, key_id, verify_key, valid_until_ts, expired_ts, fetched_ts)"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (server_name, key_id) DO UPDATE SET verify_key = ?3,"
                " valid_until_ts = MAX(valid_until_ts, ?4), expired_ts = ?5, fetched_ts = ?6");
        if (!s) return -1;
        sqlite3_bind_text(s, 1, server_name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 2, key_ids[i], -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 3, keys[i].key_b64, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 4, keys[i].valid_until_ts);
        if (keys[i].expired_ts < 0) sqlite3_bind_null(s, 5);
        else sqlite3_bind_int64(s, 5, keys[i].expired_ts);
        sqlite3_bind_int64(s, 6, fetched_ts);
        int rc = sqlite3_step(s);
        sqlite3_finalize(s);
        if (rc != SQLITE_DONE) return -1;
    }
    if (!response_json) return 0;
    /* A notary must not replace a fresher response with an older one it was handed. */
    sqlite3_stmt *s = hs_store_stmt(st, "INSERT INTO server_key_responses (server_name, response_json, valid_until_ts,"
                                        " fetched_ts) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (server_name) DO UPDATE SET"
                                        " response_json = ?2, valid_until_ts = ?3, fetched_ts = ?4"
                                        " WHERE valid_until_ts <= ?3");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, server_name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, response_json, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 3, valid_until_ts);
    sqlite3_bind_int64(s, 4, fetched_ts);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

int hs_store_fed_response_get(hs_store *st, const char *server_name, char **response_json, int64_t *valid_until_ts)
{
    *response_json = NULL;
    sqlite3_stmt *s =
        hs_store_stmt(st, "SELECT response_json, valid_until_ts FROM server_key_responses WHERE server_name = ?1");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, server_name, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
    if (ret == 0) {
        *response_json = hs_store_col_dup(s, 0);
        *valid_until_ts = sqlite3_column_int64(s, 1);
        if (!*response_json) ret = -1;
    }
    sqlite3_finalize(s);
    return ret;
}

int hs_store_fed_profile_get(hs_store *st, const char *user_id, char **displayname, char **avatar_url)
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
    }
    sqlite3_finalize(s);
    return ret;
}

int hs_store_fed_own_key_note(hs_store *st, const char *key_id, const char *key_b64, int64_t now_ms)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT verify_key FROM own_keys WHERE key_id = ?1");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, key_id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    int conflict = rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(s, 0), key_b64) != 0;
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return -1;
    if (conflict) return 1;
    s = hs_store_stmt(st, "UPDATE own_keys SET expired_ts = ?2 WHERE key_id != ?1 AND expired_ts IS NULL");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, key_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, now_ms);
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return -1;
    /* A key that comes back after being rotated out is current again. */
    s = hs_store_stmt(st, "INSERT INTO own_keys (key_id, verify_key, expired_ts) VALUES (?1, ?2, NULL)"
                          " ON CONFLICT (key_id) DO UPDATE SET expired_ts = NULL");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, key_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, key_b64, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

int hs_store_fed_own_old_keys(hs_store *st, hs_store_fed_old_key **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT key_id, verify_key, expired_ts FROM own_keys"
                                        " WHERE expired_ts IS NOT NULL ORDER BY key_id");
    if (!s) return -1;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        hs_store_fed_old_key *grown = realloc(*out, (*n + 1) * sizeof **out);
        if (!grown) break;
        *out = grown;
        hs_store_fed_old_key *k = &(*out)[(*n)++];
        memset(k, 0, sizeof *k);
        snprintf(k->key_id, sizeof k->key_id, "%s", (const char *)sqlite3_column_text(s, 0));
        snprintf(k->key_b64, sizeof k->key_b64, "%s", (const char *)sqlite3_column_text(s, 1));
        k->expired_ts = sqlite3_column_int64(s, 2);
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
