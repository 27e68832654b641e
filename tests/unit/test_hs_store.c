/* Storage: migrations apply once, in order, atomically; the database is WAL; the
 * server name is pinned. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_store.h"
#include "support/pgt.h"

static char *dir;
static char path[1024];
static char err[1024];

static void setup(void)
{
    dir = pgt_tmpdir();
    snprintf(path, sizeof path, "%s/test.db", dir);
}

static void teardown(void)
{
    pgt_rmtree(dir);
    free(dir);
}

TestSuite(hs_store, .init = setup, .fini = teardown);

static int table_exists(const char *name)
{
    sqlite3 *db;
    sqlite3_open(path, &db);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?1", -1, &st, NULL);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return found;
}

Test(hs_store, fresh_database_is_migrated_and_wal)
{
    size_t n;
    const hs_migration *m = hs_store_migrations(&n);
    hs_store *st;
    cr_assert_eq(hs_store_open(path, m, n, &st, err, sizeof err), 0, "%s", err);
    cr_assert_eq(hs_store_schema_version(st), m[n - 1].version);
    cr_assert_eq(hs_store_ping(st), 0);
    cr_assert_gt(hs_store_size_bytes(st), 0);

    sqlite3 *db;
    sqlite3_open(path, &db);
    sqlite3_stmt *s;
    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL);
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    sqlite3_close(db);
    hs_store_close(st);
}

Test(hs_store, reopen_is_a_noop_and_keeps_data)
{
    size_t n;
    const hs_migration *m = hs_store_migrations(&n);
    hs_store *st;
    cr_assert_eq(hs_store_open(path, m, n, &st, err, sizeof err), 0, "%s", err);
    cr_assert_eq(hs_store_meta_set(st, "k", "v1"), 0);
    hs_store_close(st);
    cr_assert_eq(hs_store_open(path, m, n, &st, err, sizeof err), 0, "%s", err);
    cr_assert_eq(hs_store_schema_version(st), m[n - 1].version);
    char *v = hs_store_meta_get(st, "k");
    cr_assert_str_eq(v, "v1");
    free(v);
    cr_assert_null(hs_store_meta_get(st, "absent"));
    hs_store_close(st);
}

Test(hs_store, failing_migration_rolls_back)
{
    const hs_migration good[] = {{1, "one", "CREATE TABLE a (x INTEGER);"}};
    const hs_migration bad[] = {
        {1, "one", "CREATE TABLE a (x INTEGER);"},
        {2, "two", "CREATE TABLE b (y INTEGER); INSERT INTO a VALUES (1); THIS IS NOT SQL;"},
    };
    hs_store *st;
    cr_assert_eq(hs_store_open(path, good, 1, &st, err, sizeof err), 0, "%s", err);
    hs_store_close(st);
    cr_assert_eq(hs_store_open(path, bad, 2, &st, err, sizeof err), -1);
    cr_assert_null(st);
    cr_assert(strstr(err, "migration 2 (two) failed and was rolled back"), "%s", err);
    cr_assert(!table_exists("b"), "partial migration must not stay");
    cr_assert_eq(hs_store_open(path, good, 1, &st, err, sizeof err), 0, "%s", err);
    cr_assert_eq(hs_store_schema_version(st), 1);
    hs_store_close(st);
}

Test(hs_store, migrations_apply_in_steps)
{
    const hs_migration two[] = {{1, "one", "CREATE TABLE a (x INTEGER);"}, {2, "two", "CREATE TABLE b (y);"}};
    hs_store *st;
    cr_assert_eq(hs_store_open(path, two, 1, &st, err, sizeof err), 0, "%s", err);
    hs_store_close(st);
    cr_assert(!table_exists("b"));
    cr_assert_eq(hs_store_open(path, two, 2, &st, err, sizeof err), 0, "%s", err);
    cr_assert_eq(hs_store_schema_version(st), 2);
    cr_assert(table_exists("b"));
    hs_store_close(st);
}

Test(hs_store, newer_database_is_refused)
{
    const hs_migration two[] = {{1, "one", "CREATE TABLE a (x);"}, {2, "two", "CREATE TABLE b (y);"}};
    hs_store *st;
    cr_assert_eq(hs_store_open(path, two, 2, &st, err, sizeof err), 0, "%s", err);
    hs_store_close(st);
    cr_assert_eq(hs_store_open(path, two, 1, &st, err, sizeof err), -1);
    cr_assert(strstr(err, "newer than this pinegate knows"), "%s", err);
}

Test(hs_store, gap_in_migrations_is_refused)
{
    const hs_migration gap[] = {{1, "one", "CREATE TABLE a (x);"}, {3, "three", "CREATE TABLE c (y);"}};
    hs_store *st;
    cr_assert_eq(hs_store_open(path, gap, 2, &st, err, sizeof err), -1);
    cr_assert(strstr(err, "migration 3 (three) does not follow schema version 1"), "%s", err);
}

Test(hs_store, server_name_is_pinned)
{
    size_t n;
    const hs_migration *m = hs_store_migrations(&n);
    hs_store *st;
    cr_assert_eq(hs_store_open(path, m, n, &st, err, sizeof err), 0, "%s", err);
    cr_assert_eq(hs_store_claim_server_name(st, "a.org", err, sizeof err), 0);
    cr_assert_eq(hs_store_claim_server_name(st, "a.org", err, sizeof err), 0);
    cr_assert_eq(hs_store_claim_server_name(st, "b.org", err, sizeof err), -1);
    cr_assert(strstr(err, "belongs to server 'a.org' but the config says 'b.org'"), "%s", err);
    hs_store_close(st);
}

Test(hs_store, unopenable_path_gives_reason)
{
    hs_store *st;
    cr_assert_eq(hs_store_open("/nonexistent-dir/x.db", NULL, 0, &st, err, sizeof err), -1);
    cr_assert(strstr(err, "/nonexistent-dir/x.db: cannot open database"), "%s", err);
}
