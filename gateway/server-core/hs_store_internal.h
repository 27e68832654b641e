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

/* Small statement helpers shared by the hs_store_*.c files. */

/* Prepares `sql` on `db`; returns the statement (caller finalizes) or NULL on error. */
sqlite3_stmt *hs_store_prep(sqlite3 *db, const char *sql);

/* hs_store_prep on the store's connection. */
sqlite3_stmt *hs_store_stmt(hs_store *st, const char *sql);

/* Binds `v` as text (copied) to parameter `i`, or NULL when `v` is NULL. */
void hs_store_bind_text_or_null(sqlite3_stmt *s, int i, const char *v);

/* A malloc'd copy of text column `col` (caller frees); NULL when the column is NULL or
 * on allocation failure. */
char *hs_store_col_dup(sqlite3_stmt *s, int col);

/* Like hs_store_col_dup, but a NULL column gives "" (NULL only on allocation failure). */
char *hs_store_col_dup_or_empty(sqlite3_stmt *s, int col);

/* Copies text column `col` into dst (truncated to cap, "" for NULL). */
void hs_store_col_copy(sqlite3_stmt *s, int col, char *dst, size_t cap);

/* Steps `s` (NULL allowed: a failed prepare) once and finalizes it; 0 when it ran to
 * completion (SQLITE_DONE), -1 otherwise. For writes and other statements without rows. */
int hs_store_step_done(sqlite3_stmt *s);

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
