/* hs_store_federation: what federation remembers across restarts. Remote servers'
 * signing keys with their validity (valid_until_ts for current keys, expired_ts for
 * old_verify_keys), so signatures can be checked without asking again. */
#include "server-core/hs_store_internal.h"

const char hs_schema_federation[] =
    "CREATE TABLE server_keys (server_name TEXT NOT NULL, key_id TEXT NOT NULL, verify_key TEXT NOT NULL,"
    " valid_until_ts INTEGER NOT NULL, expired_ts INTEGER, fetched_ts INTEGER NOT NULL,"
    " PRIMARY KEY (server_name, key_id));";
