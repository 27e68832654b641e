/* hs_store_media: the index of the media repository. The bytes live in files under the
 * data directory; the row says who uploaded what, its type, name and size. */
#include "server-core/hs_store_internal.h"

const char hs_schema_media[] =
    "CREATE TABLE media (media_id TEXT PRIMARY KEY NOT NULL, user_id TEXT NOT NULL, content_type TEXT NOT NULL,"
    " upload_name TEXT, size INTEGER NOT NULL, sha256 TEXT NOT NULL, created_ts INTEGER NOT NULL);";
