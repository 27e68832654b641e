/* The outbound federation queue's storage (hs_store_fed_queue): a retried transaction is
 * the same transaction (same ID, same rows, even when more was queued meanwhile) until
 * it is answered; answered rows go and the ID moves on; failures back a destination off
 * exponentially up to the cap and only due destinations are offered; an invite goes
 * alone; the scan cursor moves with the rows it produced; and the queue survives
 * closing and reopening the store. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_store_fed_queue.h"
#include "server-core/hs_store_rooms.h"
#include "support/pgt.h"

static char *dir;
static char path[1024];
static hs_store *st;

static void open_store(void)
{
    char err[512];
    size_t n;
    const hs_migration *m = hs_store_migrations(&n);
    cr_assert_eq(hs_store_open(path, m, n, &st, err, sizeof err), 0, "%s", err);
}

static void setup(void)
{
    dir = pgt_tmpdir();
    snprintf(path, sizeof path, "%s/queue.db", dir);
    open_store();
}

static void teardown(void)
{
    hs_store_close(st);
    pgt_rmtree(dir);
    free(dir);
}

TestSuite(hs_fed_queue, .init = setup, .fini = teardown, .timeout = 60);

static void enqueue(const char *dest, const char *kind, const char *payload, int64_t cursor)
{
    hs_store_fed_item it = {dest, kind, payload};
    cr_assert_eq(hs_store_fed_enqueue(st, &it, 1, HS_STORE_FED_EVENTS, cursor, 1000), 0);
}

Test(hs_fed_queue, retried_transaction_is_identical_until_answered)
{
    char id[32];
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof id, "$e%d", i);
        enqueue("b.test", "pdu", id, i + 1);
    }
    int64_t cursor;
    cr_assert_eq(hs_store_fed_cursor_get(st, HS_STORE_FED_EVENTS, &cursor), 0);
    cr_assert_eq(cursor, 5);

    hs_store_fed_row *rows;
    size_t n;
    int64_t txn;
    cr_assert_eq(hs_store_fed_txn_begin(st, "b.test", 3, 10, &rows, &n, &txn), 0);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(rows[0].payload, "$e0");
    cr_assert_str_eq(rows[2].payload, "$e2");
    int64_t first_txn = txn;
    hs_store_fed_rows_free(rows, n);

    /* It fails; more is queued; the retry is the same transaction. */
    cr_assert_eq(hs_store_fed_txn_failed(st, "b.test", 1000, 2000, 60000), 1);
    enqueue("b.test", "pdu", "$late", 6);
    hs_store_close(st);
    open_store(); /* and a restart in between changes nothing */
    cr_assert_eq(hs_store_fed_txn_begin(st, "b.test", 3, 10, &rows, &n, &txn), 0);
    cr_assert_eq(n, 3);
    cr_assert_eq(txn, first_txn);
    cr_assert_str_eq(rows[0].payload, "$e0");
    cr_assert_str_eq(rows[2].payload, "$e2");
    hs_store_fed_rows_free(rows, n);

    /* Answered: the next transaction has a new ID and the rest. */
    cr_assert_eq(hs_store_fed_txn_done(st, "b.test"), 0);
    cr_assert_eq(hs_store_fed_txn_begin(st, "b.test", 50, 10, &rows, &n, &txn), 0);
    cr_assert_eq(txn, first_txn + 1);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(rows[0].payload, "$e3");
    cr_assert_str_eq(rows[2].payload, "$late");
    hs_store_fed_rows_free(rows, n);
    cr_assert_eq(hs_store_fed_txn_done(st, "b.test"), 0);
    cr_assert_eq(hs_store_fed_txn_begin(st, "b.test", 50, 10, &rows, &n, &txn), 0);
    cr_assert_eq(n, 0);
    hs_store_fed_rows_free(rows, n);
}

Test(hs_fed_queue, a_destination_that_is_down_keeps_only_the_newest_rows_and_its_transaction)
{
    for (int i = 0; i < 3; i++) {
        char id[32];
        snprintf(id, sizeof id, "$e%d", i);
        enqueue("b.test", "pdu", id, i + 1);
    }
    hs_store_fed_row *rows;
    size_t n;
    int64_t txn;
    cr_assert_eq(hs_store_fed_txn_begin(st, "b.test", 2, 10, &rows, &n, &txn), 0);
    cr_assert_eq(n, 2);
    hs_store_fed_rows_free(rows, n);
    cr_assert_eq(hs_store_fed_txn_failed(st, "b.test", 1000, 2000, 60000), 1);

    /* The peer stays down while far more than the bound is queued for it. */
    size_t total = HS_STORE_FED_QUEUE_MAX + 3;
    hs_store_fed_item *items = calloc(total + 1, sizeof *items);
    char **ids = calloc(total, sizeof *ids);
    cr_assert(items && ids);
    for (size_t i = 0; i < total; i++) {
        char id[32];
        snprintf(id, sizeof id, "$n%zu", i);
        cr_assert(ids[i] = strdup(id));
        items[i] = (hs_store_fed_item){"b.test", "pdu", ids[i]};
    }
    items[total] = (hs_store_fed_item){"c.test", "edu", "{}"};
    cr_assert_eq(hs_store_fed_enqueue(st, items, total + 1, HS_STORE_FED_EVENTS, 4, 1000), 0);

    /* The transaction in flight is resent unchanged. */
    cr_assert_eq(hs_store_fed_txn_begin(st, "b.test", 2, 10, &rows, &n, &txn), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(rows[0].payload, "$e0");
    cr_assert_str_eq(rows[1].payload, "$e1");
    hs_store_fed_rows_free(rows, n);
    cr_assert_eq(hs_store_fed_txn_done(st, "b.test"), 0);

    /* Of the rest, the oldest four ($e2, $n0..$n2) went: the bound holds exactly. */
    size_t left = 0;
    for (;;) {
        cr_assert_eq(hs_store_fed_txn_begin(st, "b.test", 1000, 10, &rows, &n, &txn), 0);
        if (n == 0) break;
        if (left == 0) cr_assert_str_eq(rows[0].payload, "$n3");
        left += n;
        if (left == HS_STORE_FED_QUEUE_MAX) cr_assert_str_eq(rows[n - 1].payload, ids[total - 1]);
        hs_store_fed_rows_free(rows, n);
        cr_assert_eq(hs_store_fed_txn_done(st, "b.test"), 0);
    }
    hs_store_fed_rows_free(rows, n);
    cr_assert_eq(left, HS_STORE_FED_QUEUE_MAX);

    /* Another destination's rows are not touched. */
    cr_assert_eq(hs_store_fed_txn_begin(st, "c.test", 50, 10, &rows, &n, &txn), 0);
    cr_assert_eq(n, 1);
    hs_store_fed_rows_free(rows, n);
    hs_store_free_strings(ids, total);
    free(items);
}

Test(hs_fed_queue, backoff_doubles_up_to_the_cap_and_only_due_destinations_are_offered)
{
    enqueue("b.test", "pdu", "$b", 1);
    enqueue("c.test", "pdu", "$c", 2);
    int64_t retry[6];
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(hs_store_fed_txn_failed(st, "b.test", 0, 1000, 10000), i + 1);
        char **d;
        size_t n;
        int64_t next;
        cr_assert_eq(hs_store_fed_due(st, 0, &d, &n, &next), 0);
        cr_assert_eq(n, 1, "only c.test is due");
        cr_assert_str_eq(d[0], "c.test");
        hs_store_free_strings(d, n);
        retry[i] = next;
    }
    cr_assert_eq(retry[0], 1000);
    cr_assert_eq(retry[1], 2000);
    cr_assert_eq(retry[2], 4000);
    cr_assert_eq(retry[3], 8000);
    cr_assert_eq(retry[4], 10000);
    cr_assert_eq(retry[5], 10000);
    char **d;
    size_t n;
    int64_t next;
    cr_assert_eq(hs_store_fed_due(st, 10000, &d, &n, &next), 0);
    cr_assert_eq(n, 2);
    hs_store_free_strings(d, n);
    /* Hearing from it clears the backoff (once). */
    cr_assert_eq(hs_store_fed_dest_reset(st, "b.test"), 1);
    cr_assert_eq(hs_store_fed_dest_reset(st, "b.test"), 0);
    cr_assert_eq(hs_store_fed_due(st, 0, &d, &n, &next), 0);
    cr_assert_eq(n, 2);
    hs_store_free_strings(d, n);
}

Test(hs_fed_queue, an_invite_goes_alone)
{
    enqueue("b.test", "pdu", "$1", 1);
    enqueue("b.test", "invite", "$inv", 2);
    enqueue("b.test", "pdu", "$2", 3);
    const char *want[][2] = {{"pdu", "$1"}, {"invite", "$inv"}, {"pdu", "$2"}};
    for (int i = 0; i < 3; i++) {
        hs_store_fed_row *rows;
        size_t n;
        int64_t txn;
        cr_assert_eq(hs_store_fed_txn_begin(st, "b.test", 50, 10, &rows, &n, &txn), 0);
        cr_assert_eq(n, 1, "transaction %d has %zu rows", i, n);
        cr_assert_str_eq(rows[0].kind, want[i][0]);
        cr_assert_str_eq(rows[0].payload, want[i][1]);
        hs_store_fed_rows_free(rows, n);
        cr_assert_eq(hs_store_fed_txn_done(st, "b.test"), 0);
    }
    char **d;
    size_t n;
    cr_assert_eq(hs_store_fed_destinations(st, &d, &n), 0);
    cr_assert_eq(n, 1);
    hs_store_free_strings(d, n);
}
