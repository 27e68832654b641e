/* hs_store: the only door to the database. It opens SQLite in WAL mode, applies the
 * numbered schema migrations, and offers the small generic operations the foundation
 * needs (metadata, size, health). Domain storage (rooms, events, keys) is added as
 * further hs_store_*.c files behind functions of this API, so no SQLite type or SQL
 * text leaves server-core and a PostgreSQL backend can replace it later.
 *
 * Thread safety: one connection opened in serialized mode; every function may be
 * called from any thread. */
#ifndef HS_STORE_H
#define HS_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct hs_store hs_store;

/* One schema step. Versions start at 1 and increase by 1; `sql` may hold several
 * statements. Each step runs in its own transaction together with the version bump,
 * so a failing step leaves the database at the previous version. */
typedef struct hs_migration {
    int version;
    const char *name;
    const char *sql;
} hs_migration;

/* The homeserver's own migrations, in order. Sets *n. Static; never free. */
const hs_migration *hs_store_migrations(size_t *n);

/* Opens (creating if needed) the database at `path`, enables WAL and foreign keys,
 * and applies every migration newer than the stored version. Returns 0 and *out (free
 * with hs_store_close), or -1 with a reason in err (cannot open, the database is newer
 * than this program, a migration failed: its version, name and SQLite's message). */
int hs_store_open(const char *path, const hs_migration *migrations, size_t n_migrations, hs_store **out,
                  char *err, size_t errlen);

/* Closes the database (checkpointing the WAL). NULL is allowed. */
void hs_store_close(hs_store *st);

/* The applied schema version (0 for an empty database). */
int hs_store_schema_version(hs_store *st);

/* Size of the database on disk in bytes (main file plus WAL), or -1 on error. */
int64_t hs_store_size_bytes(hs_store *st);

/* Runs a trivial query. Returns 0 if the database answers, -1 otherwise. */
int hs_store_ping(hs_store *st);

/* Reads a metadata value. Returns a malloc'd string the caller frees, or NULL when
 * the key is absent or on error. */
char *hs_store_meta_get(hs_store *st, const char *key);

/* Writes a metadata value (insert or replace). Returns 0, or -1 on error. */
int hs_store_meta_set(hs_store *st, const char *key, const char *value);

/* Binds the database to `server_name` on first use and refuses a different name
 * later (user and room IDs in it would be wrong). Returns 0, or -1 with a reason. */
int hs_store_claim_server_name(hs_store *st, const char *server_name, char *err, size_t errlen);

#endif
