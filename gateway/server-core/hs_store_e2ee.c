/* hs_store_e2ee: end-to-end encryption material the server keeps for clients — device
 * keys, one-time and fallback keys, cross-signing keys and signatures — and the two
 * streams /sync reads: the to-device inbox (rows are deleted once the device has synced
 * past them) and device list changes (one row per user whose devices or keys changed). */
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
    "CREATE TABLE to_device_inbox (stream_id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL,"
    " device_id TEXT NOT NULL, sender TEXT NOT NULL, type TEXT NOT NULL, content TEXT NOT NULL);"
    "CREATE INDEX to_device_inbox_device ON to_device_inbox(user_id, device_id, stream_id);"
    "CREATE TABLE device_list_changes (stream_id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL);"
    "CREATE INDEX device_list_changes_user ON device_list_changes(user_id, stream_id);";
