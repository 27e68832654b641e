/* hs_store_search: storage of the "client extras" - the full-text index behind POST
 * /search, event reports, OpenID tokens - and read-only queries over other areas' tables
 * (the newest event of a room, the candidate events,
 * read receipt position and joined member count GET /notifications needs).
 *
 * The search index is an SQLite FTS5 table filled lazily from the events table: each
 * search first indexes every timeline event stored since the last one, new events above
 * the highest position indexed as well as backfilled history below the lowest
 * (hs_store_search_catch_up), so the room engine needs no hook and an index lost or
 * added later is rebuilt from the events themselves. Outliers are never indexed. Indexed: m.room.message content.body,
 * m.room.name content.name and m.room.topic content.topic (state key ""), each under its
 * key name; the FTS rowid is the event's stream ordering. Redacted events stay in the
 * index but are never returned (the query excludes every redacted event).
 *
 * All functions are thread-safe (one serialized connection) and return -1 on a database
 * error unless they say otherwise. */
#ifndef HS_STORE_SEARCH_H
#define HS_STORE_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server-core/hs_store.h"

/* ---- search ------------------------------------------------------------------------ */

/* Indexes every searchable timeline event stored since the last call (above or below
 * the positions indexed so far), in one transaction.
 * Returns the number of events indexed, or -1. */
long hs_store_search_catch_up(hs_store *st);

/* One search. The lists are JSON arrays of strings as text ("[\"!a:x\"]"); NULL means
 * "no restriction" for senders/not_senders, while rooms_json and keys_json are required
 * (an empty array matches nothing). */
typedef struct hs_store_search_query {
    const char *match;            /* an FTS5 expression (hs_search_match builds a safe one) */
    const char *rooms_json;
    const char *keys_json;        /* "content.body", "content.name", "content.topic" */
    const char *senders_json;
    const char *not_senders_json;
    bool by_rank;                 /* best first (bm25) instead of newest first */
    int64_t before_stream;        /* newest first: only events below this ordering; 0: none */
    long offset;                  /* best first: results to skip */
    long limit;
} hs_store_search_query;

/* Calls fn per result in order with the event's stream ordering, ID, room and rank
 * (higher is better; 0 when ordered by recency). A non-zero return from fn stops the walk
 * (not an error). *count (may be NULL) receives the number of all matches, ignoring the
 * limit, offset and before_stream. Returns 0, 1 when `match` is not a valid FTS5
 * expression, -1. */
int hs_store_search_events(hs_store *st, const hs_store_search_query *q,
                           int (*fn)(void *ctx, int64_t stream, const char *event_id, const char *room_id,
                                     double rank),
                           void *ctx, int64_t *count);

/* ---- rooms ---------------------------------------------------------------------- */

/* The room's newest event (by stream ordering) into *event_id (malloc'd). Returns 0, 1
 * for a room without events, -1. */
int hs_store_room_last_event(hs_store *st, const char *room_id, char **event_id);

/* ---- notifications ------------------------------------------------------------------- */

/* One candidate event for GET /notifications. Strings are borrowed for the callback. */
typedef struct hs_store_notify_event {
    int64_t stream;
    const char *event_id;
    const char *room_id;
    const char *pdu_json;
    int64_t origin_server_ts;
} hs_store_notify_event;

/* Events of the rooms in rooms_json (a JSON array of room IDs as text) not sent by
 * `not_sender` and not redacted, with stream ordering below `before` (0: no bound),
 * newest first, at most `limit`. Timeline events only: no outliers, and no history
 * fetched from other servers (backfill, below zero) - that is old, not news. A non-zero return from fn stops the walk (not an
 * error). Returns the number of events visited, or -1. */
long hs_store_notify_candidates(hs_store *st, const char *rooms_json, const char *not_sender, int64_t before,
                                long limit, int (*fn)(void *ctx, const hs_store_notify_event *ev), void *ctx);

/* The same events of one room with stream ordering in (after, upto], newest first, at
 * most `limit`: the walk of an unread count, an index range that never reads the
 * room's older events. Backfilled history (below zero) is left out here too, even when
 * `after` is below zero (a read receipt on an old event). Returns the number of events visited, or -1. */
long hs_store_room_notify_candidates(hs_store *st, const char *room_id, const char *not_sender, int64_t after,
                                     int64_t upto, long limit, int (*fn)(void *ctx, const hs_store_notify_event *ev),
                                     void *ctx);

/* The stream ordering of the event the user's unthreaded m.read / m.read.private receipt
 * in the room points to (the later of the two; reads the sync engineer's receipts
 * table), 0 when there is none. Returns 0 or -1. */
int hs_store_read_up_to(hs_store *st, const char *room_id, const char *user_id, int64_t *stream);

/* The number of members joined to the room now. Returns 0 or -1. */
int hs_store_joined_count(hs_store *st, const char *room_id, int64_t *count);

/* ---- event reports ----------------------------------------------------------------- */

/* Stores a report of `event_id` in `room_id` by `user_id`; reason may be NULL, has_score
 * false means no score. Returns 0 or -1. */
int hs_store_report_put(hs_store *st, const char *room_id, const char *event_id, const char *user_id,
                        const char *reason, bool has_score, int64_t score, int64_t now_ms);

/* Reports newest first, at most `limit` from `offset`: fn gets each one's fields (reason
 * NULL when none, has_score false when none). *total receives the number of all reports.
 * A non-zero return from fn stops the walk. Returns 0 or -1. */
int hs_store_reports_each(hs_store *st, long offset, long limit,
                          int (*fn)(void *ctx, int64_t id, const char *room_id, const char *event_id,
                                    const char *user_id, const char *reason, bool has_score, int64_t score,
                                    int64_t received_ts),
                          void *ctx, int64_t *total);

/* ---- OpenID tokens ------------------------------------------------------------------- */

#define HS_STORE_OPENID_HASH_BYTES 32

/* Stores the SHA-256 of a new OpenID token for user_id, valid until expires_ts (ms), and
 * deletes tokens that expired before now_ms. Returns 0 or -1. */
int hs_store_openid_put(hs_store *st, const uint8_t hash[HS_STORE_OPENID_HASH_BYTES], const char *user_id,
                        int64_t expires_ts, int64_t now_ms);

/* The user an unexpired token (by its hash) belongs to, malloc'd into *user_id. Returns
 * 0, 1 when unknown or expired at now_ms, -1. */
int hs_store_openid_get(hs_store *st, const uint8_t hash[HS_STORE_OPENID_HASH_BYTES], int64_t now_ms,
                        char **user_id);

#endif
