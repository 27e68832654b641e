/* hs_sync: one /sync response body, computed from the store and the typing table for
 * one device between the client's token and "now". No waiting and no HTTP here (the
 * long-poll loop is hs_api_sync's); given the same store contents it gives the same
 * answer.
 *
 * Consistency: the newest position of every stream is read first and every query is
 * bounded by it, so whatever is written while a response is being built belongs to the
 * next response, never to none and never to both.
 *
 * Rooms: the user's current membership decides the section — join (timeline, state,
 * ephemeral typing + receipts, account data, summary), invite (stripped invite_state),
 * leave/ban (the room up to the leave, when it happened after the token, or always with
 * room.include_leave on an initial / full_state sync). A room appears in an
 * incremental response only when something in it changed. The timeline is the newest
 * `limit` events after the token (a room joined since the token, or any room on an
 * initial sync: the newest `limit` overall); `limited` says older ones were skipped and
 * prev_batch ("s<N>", a /messages token) pages back from the first one. `state` is the
 * room state just before the timeline's first event (the current state when the
 * timeline is empty), minus timeline events: all of it on an initial / newly joined /
 * full_state sync, else the entries that changed after the token; with
 * lazy_load_members only the members who sent timeline events and the syncing user.
 * "Newly joined" means the membership before the user's join was not a join, so a
 * display name change does not resend the state. A user who never got in (rejected or
 * withdrawn invite) sees only their leave event.
 *
 * Joined rooms carry unread_notifications (hs_push_room_unread, capped at
 * HS_PUSH_UNREAD_SCAN events per room). The timeline scan of a room is capped at
 * HS_SYNC_TIMELINE_SCAN_MAX events; the number of rooms is not capped (every room the
 * user is in is walked, as on Synapse).
 *
 * Size: a room's timeline holds at most max_timeline_events events whatever the filter
 * asks, and one response at most max_events timeline and state events in all: once the
 * rooms built so far have used them up, the timelines of the rooms after them are
 * empty and `limited` (prev_batch pages back to their events with /messages), so a
 * user in thousands of rooms gets a response bounded in events. State is never cut (a
 * client needs it whole), so the bound holds for timelines only once state alone
 * exceeds it; lazy_load_members is what keeps state small.
 *
 * Not done: history visibility for events before a join, rooms.knock, redundant-member tracking for lazy loading (members of
 * timeline senders are sent again in every incremental response that needs them). */
#ifndef HS_SYNC_H
#define HS_SYNC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server-core/hs_filter.h"
#include "server-core/hs_store.h"
#include "server-core/hs_sync_token.h"
#include "server-core/hs_typing.h"

#define HS_SYNC_DEFAULT_TIMELINE_LIMIT 10
#define HS_SYNC_MAX_TIMELINE_LIMIT 1000
#define HS_SYNC_TO_DEVICE_LIMIT 100      /* to-device messages per response; the rest come next */
#define HS_SYNC_TIMELINE_SCAN_MAX 10000  /* events scanned per room for a filtered timeline */

typedef struct hs_sync_params {
    const char *user_id;
    const char *device_id;
    const hs_sync_pos *since;   /* NULL: initial sync */
    bool full_state;
    const hs_filter *filter;    /* never NULL (hs_filter_init for none) */
    hs_typing *typing;          /* may be NULL: no typing notices */
    int64_t now_ms;             /* wall clock: event ages, presence, typing expiry */
    long max_timeline_events;   /* per room, 1..HS_SYNC_MAX_TIMELINE_LIMIT; 0: that maximum */
    long max_events;            /* timeline + state events per response; 0: no bound */
} hs_sync_params;

/* Builds the response for `p`. On success returns 0 with *out the response's JSON text
 * (compact, NUL-terminated, *out_len bytes without the NUL; caller frees) of an object
 * with next_batch, rooms, account_data, presence, to_device, device_lists,
 * device_one_time_keys_count, device_unused_fallback_key_types, written out room by room
 * so that no JSON tree of the whole answer is ever held; *next (the positions next_batch encodes) and
 * *has_updates (false when nothing at all is new for this device: a long-poll should
 * keep waiting). Delivering to-device messages after since.to_device first deletes the
 * ones at or below it (the client acknowledged them). Returns -1 on a store error
 * (nothing in *out). */
int hs_sync_build(hs_store *st, const hs_sync_params *p, char **out, size_t *out_len, hs_sync_pos *next,
                  bool *has_updates);

#endif
