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

/* Runs steps(db, arg) inside BEGIN IMMEDIATE..COMMIT while holding the connection's
 * mutex, so no other thread's statement lands inside the transaction. A non-negative
 * return of steps commits and is returned; -1 (or a failing COMMIT) rolls back and
 * returns -1. */
int hs_store_transact(hs_store *st, int (*steps)(sqlite3 *db, void *arg), void *arg);

/* The SQL of migrations 4 and up, each defined in its area's hs_store_<area>.c. */
extern const char hs_schema_history[];
extern const char hs_schema_sync[];
extern const char hs_schema_e2ee[];
extern const char hs_schema_directory[];
extern const char hs_schema_media[];
extern const char hs_schema_federation[];
extern const char hs_schema_backup[];
extern const char hs_schema_extras[];

#endif
