/* hs_store_fed_queue: the persisted outbound federation queue. Rows are (destination,
 * kind, payload): kind "pdu" with an event ID as payload (the PDU is read from the
 * events table when sent), or "edu" with the EDU's JSON. Per destination: a transaction
 * counter, the last row of the transaction in flight (so a retry, even after a restart,
 * resends exactly the same transaction under the same ID), the failure count and when
 * to try again. And the cursor: the stream ordering up to which local events have been
 * queued, moved in the same transaction as the rows it produced.
 *
 * Only SQL lives here; what goes where is hs_fed_queue's. Thread-safe; -1 on a
 * database error. */
#ifndef HS_STORE_FED_QUEUE_H
#define HS_STORE_FED_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "server-core/hs_store.h"

/* The scan cursors: HS_STORE_FED_EVENTS over events' stream orderings, and
 * HS_STORE_FED_RECEIPTS over read receipts' stream IDs. */
#define HS_STORE_FED_EVENTS "events"
#define HS_STORE_FED_RECEIPTS "receipts"

/* A scan cursor (0 before the first scan). Returns 0 or -1. */
int hs_store_fed_cursor_get(hs_store *st, const char *name, int64_t *stream);

/* One event after the cursor; strings borrowed for the callback. */
typedef struct hs_store_fed_new {
    int64_t stream;
    const char *event_id, *room_id, *sender, *type, *state_key;
    const char *membership;   /* content.membership of an m.room.member event, else NULL */
} hs_store_fed_new;

/* Calls fn for up to `limit` events with stream ordering > after, in order. A non-zero
 * return of fn stops with -1. Returns the number visited or -1. */
long hs_store_fed_events_after(hs_store *st, int64_t after, long limit,
                               int (*fn)(void *ctx, const hs_store_fed_new *ev), void *ctx);

/* One m.read receipt after the cursor; strings borrowed for the callback. */
typedef struct hs_store_fed_receipt {
    int64_t stream;
    const char *room_id, *user_id, *thread_id, *event_id;
    int64_t ts;
} hs_store_fed_receipt;

/* Calls fn for up to `limit` m.read receipts (the sync area's receipts table) with
 * stream ID > after, in order. Same contract as hs_store_fed_events_after. */
long hs_store_fed_receipts_after(hs_store *st, int64_t after, long limit,
                                 int (*fn)(void *ctx, const hs_store_fed_receipt *r), void *ctx);

/* One queue row to add. */
typedef struct hs_store_fed_item {
    const char *destination, *kind, *payload;
} hs_store_fed_item;

/* Rows kept queued per destination while it does not answer: beyond it the oldest rows
 * not in flight are dropped. A dropped PDU is fetched by the peer through
 * get_missing_events/backfill when a later one arrives (its prev_events name it); a
 * dropped device list update leaves a gap in prev_id, which makes the peer resync. */
#define HS_STORE_FED_QUEUE_MAX 10000

/* Adds the rows and moves the cursor `cursor` to new_cursor (if > 0), in one
 * transaction; each destination then keeps at most HS_STORE_FED_QUEUE_MAX rows besides
 * those of its transaction in flight (the oldest others go). Returns 0 or -1. */
int hs_store_fed_enqueue(hs_store *st, const hs_store_fed_item *items, size_t n, const char *cursor,
                         int64_t new_cursor, int64_t now_ms);

/* Destinations with queued rows whose retry time has come (malloc'd array of malloc'd
 * names, hs_store_free_strings), and in *next_due the earliest retry time of the
 * others (INT64_MAX if none). Returns 0 or -1. */
int hs_store_fed_due(hs_store *st, int64_t now_ms, char ***dests, size_t *n, int64_t *next_due);

/* One queued row of a transaction. */
typedef struct hs_store_fed_row {
    int64_t seq;
    char kind[8];
    char *payload;   /* malloc'd */
} hs_store_fed_row;

/* The transaction to send to `dest`: the one in flight if any, else up to max_pdus
 * "pdu" rows and max_edus "edu" rows from the queue's start (or one "invite" row, which
 * always goes alone), which are then recorded as in flight. *rows (malloc'd, free with hs_store_fed_rows_free) and *txn_id (the
 * counter). Returns 0 (possibly with *n 0 when nothing is queued) or -1. */
int hs_store_fed_txn_begin(hs_store *st, const char *dest, size_t max_pdus, size_t max_edus, hs_store_fed_row **rows,
                           size_t *n, int64_t *txn_id);
void hs_store_fed_rows_free(hs_store_fed_row *rows, size_t n);

/* The transaction in flight to `dest` was answered: its rows are deleted, the counter
 * moves on and the backoff is cleared. Returns 0 or -1. */
int hs_store_fed_txn_done(hs_store *st, const char *dest);

/* Sending to `dest` failed: failures + 1 and no new try before retry_at. Returns the new
 * failure count, or -1. */
int hs_store_fed_txn_failed(hs_store *st, const char *dest, int64_t now_ms, int64_t base_ms, int64_t cap_ms);

/* Every destination ever queued for (malloc'd array of malloc'd names,
 * hs_store_free_strings). Returns 0 or -1. */
int hs_store_fed_destinations(hs_store *st, char ***dests, size_t *n);

/* Clears `dest`'s backoff (it was heard from). Returns 1 when it was backed off, 0 when
 * not, -1. */
int hs_store_fed_dest_reset(hs_store *st, const char *dest);

#endif
