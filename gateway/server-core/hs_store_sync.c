/* hs_store_sync: per-user data that /sync streams besides room events: uploaded filters,
 * account data (global: room_id ''), read receipts and presence. Every streamed table
 * has its own ever-growing stream_id; a sync token carries one position per stream. */
#include "server-core/hs_store_internal.h"

const char hs_schema_sync[] =
    "CREATE TABLE filters (user_id TEXT NOT NULL, filter_id INTEGER NOT NULL, filter_json TEXT NOT NULL,"
    " PRIMARY KEY (user_id, filter_id));"
    "CREATE TABLE account_data (stream_id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL,"
    " room_id TEXT NOT NULL DEFAULT '', type TEXT NOT NULL, content TEXT NOT NULL,"
    " UNIQUE (user_id, room_id, type));"
    "CREATE TABLE receipts (stream_id INTEGER PRIMARY KEY AUTOINCREMENT, room_id TEXT NOT NULL,"
    " receipt_type TEXT NOT NULL, user_id TEXT NOT NULL, thread_id TEXT NOT NULL DEFAULT '',"
    " event_id TEXT NOT NULL, ts INTEGER NOT NULL, UNIQUE (room_id, receipt_type, user_id, thread_id));"
    "CREATE TABLE presence (user_id TEXT PRIMARY KEY NOT NULL, state TEXT NOT NULL, status_msg TEXT,"
    " last_active_ts INTEGER NOT NULL, stream_id INTEGER NOT NULL);";
