/* hs_store_directory: who users say they are (profiles), the room alias directory and
 * each user's push rule changes relative to the server's defaults. */
#include "server-core/hs_store_internal.h"

const char hs_schema_directory[] =
    "CREATE TABLE profiles (user_id TEXT PRIMARY KEY NOT NULL, displayname TEXT, avatar_url TEXT);"
    "CREATE TABLE room_aliases (alias TEXT PRIMARY KEY NOT NULL, room_id TEXT NOT NULL,"
    " creator TEXT NOT NULL, created_ts INTEGER NOT NULL);"
    "CREATE INDEX room_aliases_room ON room_aliases(room_id);"
    "CREATE TABLE push_rules (user_id TEXT NOT NULL, kind TEXT NOT NULL, rule_id TEXT NOT NULL,"
    " rule_json TEXT, enabled INTEGER, actions TEXT, priority INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY (user_id, kind, rule_id));";
