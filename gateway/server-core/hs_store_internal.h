/* hs_store_internal: the SQLite handle behind an hs_store, for the hs_store_*.c domain
 * storage files of server-core only. Nothing outside those files may include this
 * header: the public storage API stays free of SQLite types so another backend can
 * replace it. */
#ifndef HS_STORE_INTERNAL_H
#define HS_STORE_INTERNAL_H

#include <sqlite3.h>

#include "server-core/hs_store.h"

/* The store's connection (serialized mode; owned by the store, never close it). */
sqlite3 *hs_store_sqlite(hs_store *st);

#endif
