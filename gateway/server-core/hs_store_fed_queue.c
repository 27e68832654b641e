/* hs_store_fed_queue: the SQL behind hs_store_fed_queue.h (tables in hs_schema_federation,
 * hs_store_federation.c). Writes that must go together run in hs_store_transact. */
#include "server-core/hs_store_fed_queue.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_store_internal.h"
#include "server-core/hs_store_rooms.h"

int hs_store_fed_cursor_get(hs_store *st, const char *name, int64_t *stream)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT stream FROM fed_out_cursor WHERE name = ?1");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    *stream = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

long hs_store_fed_events_after(hs_store *st, int64_t after, long limit,
                               int (*fn)(void *ctx, const hs_store_fed_new *ev), void *ctx)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT stream_ordering, event_id, room_id, sender, type, state_key,"
                                        " CASE WHEN type = 'm.room.member' THEN"
                                        " json_extract(pdu, '$.content.membership') END"
                                        " FROM events WHERE stream_ordering > ?1"
                                        " ORDER BY stream_ordering LIMIT ?2");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, after);
    sqlite3_bind_int64(s, 2, limit);
    long n = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        hs_store_fed_new ev = {
            sqlite3_column_int64(s, 0),          (const char *)sqlite3_column_text(s, 1),
            (const char *)sqlite3_column_text(s, 2), (const char *)sqlite3_column_text(s, 3),
            (const char *)sqlite3_column_text(s, 4), (const char *)sqlite3_column_text(s, 5),
            (const char *)sqlite3_column_text(s, 6),
        };
        if (fn(ctx, &ev) != 0) {
            rc = SQLITE_ABORT;
            break;
        }
        n++;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? n : -1;
}

long hs_store_fed_receipts_after(hs_store *st, int64_t after, long limit,
                                 int (*fn)(void *ctx, const hs_store_fed_receipt *r), void *ctx)
{
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT stream_id, room_id, user_id, thread_id, event_id, ts"
                                        " FROM receipts WHERE stream_id > ?1 AND receipt_type = 'm.read'"
                                        " ORDER BY stream_id LIMIT ?2");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, after);
    sqlite3_bind_int64(s, 2, limit);
    long n = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        hs_store_fed_receipt r = {
            sqlite3_column_int64(s, 0),          (const char *)sqlite3_column_text(s, 1),
            (const char *)sqlite3_column_text(s, 2), (const char *)sqlite3_column_text(s, 3),
            (const char *)sqlite3_column_text(s, 4), sqlite3_column_int64(s, 5),
        };
        if (fn(ctx, &r) != 0) {
            rc = SQLITE_ABORT;
            break;
        }
        n++;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? n : -1;
}

typedef struct enqueue_arg {
    const hs_store_fed_item *items;
    size_t n;
    const char *cursor_name;
    int64_t cursor, now;
} enqueue_arg;

static int enqueue_steps(sqlite3 *db, void *varg)
{
    enqueue_arg *a = varg;
    for (size_t i = 0; i < a->n; i++) {
        sqlite3_stmt *s = hs_store_prep(db, "INSERT INTO fed_out_queue (destination, kind, payload, created_ts)"
                                            " VALUES (?1, ?2, ?3, ?4)");
        if (!s) return -1;
        sqlite3_bind_text(s, 1, a->items[i].destination, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 2, a->items[i].kind, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 3, a->items[i].payload, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 4, a->now);
        if (hs_store_step_done(s) != 0) return -1;
        /* The counter starts at the time of the first row: a server whose database was
         * reset must not reuse IDs its peers have answered before (they would answer
         * from their record and never look at the new events). */
        s = hs_store_prep(db, "INSERT OR IGNORE INTO fed_destinations"
                              " (destination, next_txn, txn_upto, failures, retry_at) VALUES (?1, ?2, 0, 0, 0)");
        if (!s) return -1;
        sqlite3_bind_text(s, 1, a->items[i].destination, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 2, a->now);
        if (hs_store_step_done(s) != 0) return -1;
        /* Once per run of rows for the same destination: the bound on what waits for a
         * peer that is down. Rows in flight stay, so a retry resends the same
         * transaction. */
        if (i + 1 < a->n && strcmp(a->items[i + 1].destination, a->items[i].destination) == 0) continue;
        s = hs_store_prep(db, "DELETE FROM fed_out_queue WHERE destination = ?1"
                              " AND seq > (SELECT txn_upto FROM fed_destinations WHERE destination = ?1)"
                              " AND seq <= (SELECT seq FROM fed_out_queue WHERE destination = ?1"
                              " ORDER BY seq DESC LIMIT 1 OFFSET ?2)");
        if (!s) return -1;
        sqlite3_bind_text(s, 1, a->items[i].destination, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(s, 2, HS_STORE_FED_QUEUE_MAX);
        if (hs_store_step_done(s) != 0) return -1;
    }
    if (a->cursor <= 0) return 0;
    sqlite3_stmt *s = hs_store_prep(db, "INSERT INTO fed_out_cursor (name, stream) VALUES (?2, ?1)"
                                        " ON CONFLICT (name) DO UPDATE SET stream = excluded.stream");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, a->cursor);
    sqlite3_bind_text(s, 2, a->cursor_name, -1, SQLITE_TRANSIENT);
    return hs_store_step_done(s);
}

int hs_store_fed_enqueue(hs_store *st, const hs_store_fed_item *items, size_t n, const char *cursor,
                         int64_t new_cursor, int64_t now_ms)
{
    enqueue_arg a = {items, n, cursor, new_cursor, now_ms};
    return hs_store_transact(st, enqueue_steps, &a);
}

/* Appends a copy of the row's first column to the growing list (*dests, *n, capacity
 * *cap). Returns 0, or -1 when memory runs out. */
static int push_dest(sqlite3_stmt *s, char ***dests, size_t *n, size_t *cap)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        char **grown = realloc(*dests, *cap * sizeof *grown);
        if (!grown) return -1;
        *dests = grown;
    }
    if (!((*dests)[*n] = strdup((const char *)sqlite3_column_text(s, 0)))) return -1;
    (*n)++;
    return 0;
}

/* Finalizes a query that filled (*dests, *n); a last step other than SQLITE_DONE (an
 * error, or a stop by push_dest) frees and empties the list. Returns 0 or -1. */
static int dests_end(sqlite3_stmt *s, int rc, char ***dests, size_t *n)
{
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE) return 0;
    hs_store_free_strings(*dests, *n);
    *dests = NULL;
    *n = 0;
    return -1;
}

int hs_store_fed_due(hs_store *st, int64_t now_ms, char ***dests, size_t *n, int64_t *next_due)
{
    *dests = NULL;
    *n = 0;
    *next_due = INT64_MAX;
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT d.destination, d.retry_at FROM fed_destinations d"
                                        " WHERE EXISTS (SELECT 1 FROM fed_out_queue q"
                                        " WHERE q.destination = d.destination)");
    if (!s) return -1;
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t at = sqlite3_column_int64(s, 1);
        if (at > now_ms) {
            if (at < *next_due) *next_due = at;
            continue;
        }
        if (push_dest(s, dests, n, &cap) != 0) break;
    }
    return dests_end(s, rc, dests, n);
}

void hs_store_fed_rows_free(hs_store_fed_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++) free(rows[i].payload);
    free(rows);
}

typedef struct begin_arg {
    const char *dest;
    size_t max_pdus, max_edus;
    hs_store_fed_row *rows;
    size_t n;
    int64_t txn_id;
} begin_arg;

static int begin_steps(sqlite3 *db, void *varg)
{
    begin_arg *a = varg;
    sqlite3_stmt *s = hs_store_prep(db, "SELECT next_txn, txn_upto FROM fed_destinations WHERE destination = ?1");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, a->dest, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    int64_t upto = 0;
    if (rc == SQLITE_ROW) {
        a->txn_id = sqlite3_column_int64(s, 0);
        upto = sqlite3_column_int64(s, 1);
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE) return 0;
    if (rc != SQLITE_ROW) return -1;
    s = hs_store_prep(db, "SELECT seq, kind, payload FROM fed_out_queue WHERE destination = ?1"
                          " AND (?2 = 0 OR seq <= ?2) ORDER BY seq");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, a->dest, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, upto);
    size_t cap = 0, pdus = 0, edus = 0;
    int64_t last = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *kind = (const char *)sqlite3_column_text(s, 1);
        bool is_pdu = strcmp(kind, "pdu") == 0, is_invite = strcmp(kind, "invite") == 0;
        /* Rows are taken in order, so a transaction ends at the first row that does not
         * fit; an invite is a request of its own. */
        if (!upto && (is_invite ? a->n > 0 : is_pdu ? pdus == a->max_pdus : edus == a->max_edus)) break;
        if (a->n > 0 && strcmp(a->rows[0].kind, "invite") == 0) break;
        if (a->n == cap) {
            cap = cap ? cap * 2 : 16;
            hs_store_fed_row *grown = realloc(a->rows, cap * sizeof *grown);
            if (!grown) {
                rc = SQLITE_NOMEM;
                break;
            }
            a->rows = grown;
        }
        hs_store_fed_row *r = &a->rows[a->n];
        r->seq = last = sqlite3_column_int64(s, 0);
        snprintf(r->kind, sizeof r->kind, "%s", (const char *)sqlite3_column_text(s, 1));
        if (!(r->payload = strdup((const char *)sqlite3_column_text(s, 2)))) {
            rc = SQLITE_NOMEM;
            break;
        }
        a->n++;
        pdus += is_pdu;
        edus += !is_pdu;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return -1;
    if (upto || a->n == 0) return 0;
    s = hs_store_prep(db, "UPDATE fed_destinations SET txn_upto = ?2 WHERE destination = ?1");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, a->dest, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, last);
    return hs_store_step_done(s);
}

int hs_store_fed_txn_begin(hs_store *st, const char *dest, size_t max_pdus, size_t max_edus, hs_store_fed_row **rows,
                           size_t *n, int64_t *txn_id)
{
    begin_arg a = {dest, max_pdus, max_edus, NULL, 0, 0};
    int rc = hs_store_transact(st, begin_steps, &a);
    if (rc != 0) {
        hs_store_fed_rows_free(a.rows, a.n);
        *rows = NULL;
        *n = 0;
        return -1;
    }
    *rows = a.rows;
    *n = a.n;
    *txn_id = a.txn_id;
    return 0;
}

static int done_steps(sqlite3 *db, void *varg)
{
    const char *dest = varg;
    sqlite3_stmt *s = hs_store_prep(db, "DELETE FROM fed_out_queue WHERE destination = ?1 AND seq <= (SELECT txn_upto"
                                        " FROM fed_destinations WHERE destination = ?1)");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, dest, -1, SQLITE_TRANSIENT);
    if (hs_store_step_done(s) != 0) return -1;
    s = hs_store_prep(db, "UPDATE fed_destinations SET next_txn = next_txn + 1, txn_upto = 0, failures = 0,"
                          " retry_at = 0 WHERE destination = ?1");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, dest, -1, SQLITE_TRANSIENT);
    return hs_store_step_done(s);
}

int hs_store_fed_txn_done(hs_store *st, const char *dest)
{
    return hs_store_transact(st, done_steps, (void *)dest);
}

int hs_store_fed_txn_failed(hs_store *st, const char *dest, int64_t now_ms, int64_t base_ms, int64_t cap_ms)
{
    sqlite3 *db = hs_store_sqlite(st);
    sqlite3_stmt *s = hs_store_prep(db, "SELECT failures FROM fed_destinations WHERE destination = ?1");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, dest, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    int failures = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) + 1 : 1;
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return -1;
    int64_t delay = base_ms;
    for (int i = 1; i < failures && delay < cap_ms; i++) delay *= 2;
    if (delay > cap_ms) delay = cap_ms;
    s = hs_store_prep(db, "UPDATE fed_destinations SET failures = ?2, retry_at = ?3 WHERE destination = ?1");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, dest, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 2, failures);
    sqlite3_bind_int64(s, 3, now_ms + delay);
    return hs_store_step_done(s) == 0 ? failures : -1;
}

int hs_store_fed_dest_reset(hs_store *st, const char *dest)
{
    sqlite3 *db = hs_store_sqlite(st);
    sqlite3_mutex_enter(sqlite3_db_mutex(db)); /* sqlite3_changes must be this statement's */
    sqlite3_stmt *s = hs_store_prep(db, "UPDATE fed_destinations SET failures = 0, retry_at = 0"
                                        " WHERE destination = ?1 AND (failures > 0 OR retry_at > 0)");
    int ret = -1;
    if (s) {
        sqlite3_bind_text(s, 1, dest, -1, SQLITE_TRANSIENT);
        if (hs_store_step_done(s) == 0) ret = sqlite3_changes(db) > 0;
    }
    sqlite3_mutex_leave(sqlite3_db_mutex(db));
    return ret;
}

int hs_store_fed_destinations(hs_store *st, char ***dests, size_t *n)
{
    *dests = NULL;
    *n = 0;
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT destination FROM fed_destinations ORDER BY destination");
    if (!s) return -1;
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (push_dest(s, dests, n, &cap) != 0) break;
    }
    return dests_end(s, rc, dests, n);
}
