/* hs_push_room: a user's push rules applied to the events of one room, at read time.
 * The room facts the rules look at (the user's display name, the joined member count,
 * the sender's power level, the notifications levels) are read once from the room's
 * current state, not the state at each event: the same approximation for GET
 * /notifications and the unread counts of /sync, which both use this module.
 *
 * It does not look at history visibility (callers that walk events from before a join
 * check that themselves) and it records nothing. */
#ifndef HS_PUSH_ROOM_H
#define HS_PUSH_ROOM_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "server-core/hs_push_eval.h"
#include "server-core/hs_store.h"

/* At most this many events after the read position are evaluated for an unread count:
 * a room unread for longer shows counts over its newest HS_PUSH_UNREAD_SCAN events
 * only, which keeps a /sync over many long-unread rooms bounded. */
#define HS_PUSH_UNREAD_SCAN 1000

typedef struct hs_push_room hs_push_room;

/* Reads the facts of `room_id` for `user_id`. Returns a new object (free with
 * hs_push_room_free) or NULL when the room is unknown or the store fails. */
hs_push_room *hs_push_room_open(hs_store *st, const char *room_id, const char *user_id);

void hs_push_room_free(hs_push_room *r);

/* The room ID the object was opened for (owned by it). */
const char *hs_push_room_id(const hs_push_room *r);

/* The stream ordering of the event the user's m.read / m.read.private receipt points to
 * (the later one), 0 when they have none. */
int64_t hs_push_room_read_upto(const hs_push_room *r);

/* Evaluates `ruleset` (the "global" rules) for `event` (federation format) in this
 * room; fills *out as hs_push_evaluate does and returns whether a rule matched. */
bool hs_push_room_evaluate(const hs_push_room *r, const json_t *ruleset, const json_t *event, hs_push_result *out);

typedef struct hs_push_unread {
    int64_t notifications;    /* events whose rule notifies */
    int64_t highlights;       /* of those, the ones that also highlight */
} hs_push_unread;

/* The unread counts of `user_id` in `room_id`: events not sent by the user nor redacted,
 * with stream ordering after max(the read receipt, `floor`) and at most `upto`, newest
 * first, at most HS_PUSH_UNREAD_SCAN of them. `floor` is the user's join, so a room
 * without a receipt counts from there. Returns 0 or -1 (store failure). */
int hs_push_room_unread(hs_store *st, const json_t *ruleset, const char *room_id, const char *user_id, int64_t floor,
                        int64_t upto, hs_push_unread *out);

#endif
