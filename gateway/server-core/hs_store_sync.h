/* hs_store_sync: the storage /sync reads and the per-user data it streams — uploaded
 * filters, account data (global and per room), read receipts, presence — plus read-only
 * views of tables other areas write: room events and current state (the room engine's),
 * the to-device inbox, device list changes and one-time / fallback keys (E2EE's).
 *
 * Streams: account data, receipts and presence rows carry an ever-growing stream_id
 * (AUTOINCREMENT; an update replaces the row with a new id), so "what changed after
 * position P" is one range query. A sync token keeps one position per stream.
 *
 * Every function is thread-safe (one serialized connection), returns 0 on success and
 * -1 on a database error unless it says otherwise. Strings handed to callbacks are
 * borrowed and valid only during the call; a callback returning non-zero stops the
 * walk (the function then returns 0: stopping early is not an error). */
#ifndef HS_STORE_SYNC_H
#define HS_STORE_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server-core/hs_store.h"
#include "server-core/hs_sync_token.h"

/* ---- positions ------------------------------------------------------------------- */

/* The newest position of each stored stream: events, account_data, receipts,
 * to_device, device_lists and presence (typing is in memory; left untouched). */
int hs_store_sync_positions(hs_store *st, hs_sync_pos *out);

/* ---- filters --------------------------------------------------------------------- */

/* Stores a filter (JSON text, already validated) for the user; *filter_id is the new
 * ID (1, 2, ... per user), or the ID of the user's filter with exactly this text when
 * there is one. Returns 0 or -1. */
int hs_store_filter_put(hs_store *st, const char *user_id, const char *filter_json, int64_t *filter_id);

/* The filter's JSON text into *json (malloc'd, caller frees). Returns 0, 1 when the
 * user has no such filter, -1. */
int hs_store_filter_get(hs_store *st, const char *user_id, int64_t filter_id, char **json);

/* ---- account data ---------------------------------------------------------------- */

/* Sets account data `type` of the user to `content_json`; room_id "" is global.
 * *stream (may be NULL) receives the new stream position. */
int hs_store_account_data_put(hs_store *st, const char *user_id, const char *room_id, const char *type,
                              const char *content_json, int64_t *stream);

/* The content JSON into *json (malloc'd). Returns 0, 1 when unset, -1. */
int hs_store_account_data_get(hs_store *st, const char *user_id, const char *room_id, const char *type,
                              char **json);

/* Account data of the user with stream in (after, upto], in stream order. */
int hs_store_account_data_each(hs_store *st, const char *user_id, int64_t after, int64_t upto,
                               int (*fn)(void *ctx, const char *room_id, const char *type, const char *content),
                               void *ctx);

/* ---- receipts -------------------------------------------------------------------- */

/* Threaded receipts kept per user, room and receipt type (the newest ones). */
#define HS_STORE_RECEIPT_THREADS_MAX 100

/* Records that `user_id` has read up to `event_id` (receipt_type "m.read" or
 * "m.read.private"; thread_id "" = unthreaded), replacing their previous receipt of that
 * kind; beyond HS_STORE_RECEIPT_THREADS_MAX threads the oldest threaded receipt is
 * dropped. *stream (may be NULL) receives the new position. */
int hs_store_receipt_put(hs_store *st, const char *room_id, const char *receipt_type, const char *user_id,
                         const char *thread_id, const char *event_id, int64_t ts, int64_t *stream);

/* Receipts in the room with stream in (after, upto]. */
int hs_store_receipts_each(hs_store *st, const char *room_id, int64_t after, int64_t upto,
                           int (*fn)(void *ctx, const char *receipt_type, const char *user_id,
                                     const char *thread_id, const char *event_id, int64_t ts),
                           void *ctx);

/* ---- presence -------------------------------------------------------------------- */

typedef struct hs_store_presence {
    char state[16];           /* "online", "unavailable", "offline" */
    char status_msg[1024];    /* "" when none */
    bool has_status_msg;
    int64_t last_active_ts;
} hs_store_presence;

/* Sets the user's presence. A new stream position is taken only when state or status
 * message change (so repeated "still online" updates wake nobody); *changed tells
 * which happened. */
int hs_store_presence_put(hs_store *st, const char *user_id, const char *state, const char *status_msg,
                          int64_t now_ms, bool *changed);

/* The user's presence. Returns 0, 1 when never set, -1. */
int hs_store_presence_get(hs_store *st, const char *user_id, hs_store_presence *out);

/* Presence changes in (after, upto] of `viewer` and of every user sharing a joined
 * room with them. */
int hs_store_presence_each(hs_store *st, const char *viewer, int64_t after, int64_t upto,
                           int (*fn)(void *ctx, const char *user_id, const hs_store_presence *p), void *ctx);

/* Calls fn for up to `limit` presence rows (every user, local or not) with stream_id
 * > after, in stream order; a user appears once, at its latest change. A non-zero fn
 * return stops with -1. Returns the number of rows visited, or -1. The federation
 * sender's scan (hs_fed_e2ee) reads it to announce local users' changes. */
long hs_store_presence_after(hs_store *st, int64_t after, long limit,
                             int (*fn)(void *ctx, int64_t stream_id, const char *user_id, const hs_store_presence *p),
                             void *ctx);

/* ---- rooms (read-only views of the room engine's tables) --------------------------- */

/* One stored event as /sync sees it. */
typedef struct hs_store_sync_event {
    int64_t stream;
    const char *event_id;
    const char *room_id;
    const char *type;
    const char *state_key;    /* NULL for a message event */
    const char *sender;
    const char *pdu_json;
    const char *txn_user, *txn_device, *txn_id; /* NULL unless sent with a transaction ID */
} hs_store_sync_event;

/* Every room in which the user has a membership in the current state, with that
 * membership ("join", "invite", "leave", "ban", "knock") and its event. */
int hs_store_sync_memberships(hs_store *st, const char *user_id,
                              int (*fn)(void *ctx, const char *membership, const hs_store_sync_event *ev),
                              void *ctx);

/* The room's events with stream in (after, upto], newest first. */
int hs_store_sync_room_events(hs_store *st, const char *room_id, int64_t after, int64_t upto,
                              int (*fn)(void *ctx, const hs_store_sync_event *ev), void *ctx);

/* The room's current state entries whose event has stream <= upto. */
int hs_store_sync_room_state(hs_store *st, const char *room_id, int64_t upto,
                             int (*fn)(void *ctx, const hs_store_sync_event *ev), void *ctx);

/* Membership events (m.room.member) of the room with stream in (after, upto]. */
int hs_store_sync_member_events(hs_store *st, const char *room_id, int64_t after, int64_t upto,
                                int (*fn)(void *ctx, const hs_store_sync_event *ev), void *ctx);

/* The rooms with events (or receipts, when `receipts`) whose stream is in (after, upto],
 * each once: what an incremental sync has to look at. */
int hs_store_sync_active_rooms(hs_store *st, bool receipts, int64_t after, int64_t upto,
                               int (*fn)(void *ctx, const char *room_id), void *ctx);

/* Whether `a` and `b` are both joined to at least one common room. */
int hs_store_sync_share_room(hs_store *st, const char *a, const char *b, bool *shared);

/* ---- E2EE streams (read-only views of the E2EE engineer's tables) ------------------ */

/* Deletes the device's to-device messages with stream <= upto: the client has
 * acknowledged them by syncing with a later token. */
int hs_store_sync_to_device_ack(hs_store *st, const char *user_id, const char *device_id, int64_t upto);

/* Up to `limit` to-device messages for the device with stream in (after, upto], oldest
 * first. */
int hs_store_sync_to_device_each(hs_store *st, const char *user_id, const char *device_id, int64_t after,
                                 int64_t upto, long limit,
                                 int (*fn)(void *ctx, int64_t stream, const char *sender, const char *type,
                                           const char *content),
                                 void *ctx);

/* Users with device list changes in (after, upto] who are `viewer` or share a joined
 * room with them; all of those users when `after` is before the pruned horizon. */
int hs_store_sync_device_list_changes(hs_store *st, const char *viewer, int64_t after, int64_t upto,
                                      int (*fn)(void *ctx, const char *user_id), void *ctx);

/* The device's unclaimed one-time keys counted per algorithm. */
int hs_store_sync_one_time_key_counts(hs_store *st, const char *user_id, const char *device_id,
                                      int (*fn)(void *ctx, const char *algorithm, int64_t count), void *ctx);

/* The algorithms of the device's fallback keys that were not used yet. */
int hs_store_sync_unused_fallback_types(hs_store *st, const char *user_id, const char *device_id,
                                        int (*fn)(void *ctx, const char *algorithm), void *ctx);

#endif
