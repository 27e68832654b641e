/* hs_typing: who is typing in which room, in memory only (typing is ephemeral: losing
 * it on restart is what every homeserver does). Each notice expires after its timeout.
 *
 * A global serial counts changes (start, stop, expiry); each room remembers the serial
 * of its last change, so /sync sends a room's m.typing only when it changed after the
 * client's token. The serial restarts at 0 with the process: a token from before a
 * restart (serial above the current one) counts as "send everything".
 *
 * Time comes in as `now_ms` (any monotonic-enough millisecond clock); expiry happens
 * lazily inside the calls, and hs_typing_next_expiry tells a waiting reader when the
 * next one is due. Thread-safe (one mutex); sizes are bounded by HS_TYPING_MAX. */
#ifndef HS_TYPING_H
#define HS_TYPING_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define HS_TYPING_MAX 100000            /* typing users across all rooms */
/* Rooms one user may be typing in at once: without it one user joined to many rooms
 * (rooms are free to create) could fill HS_TYPING_MAX and lock everyone out. */
#define HS_TYPING_MAX_PER_USER 64
#define HS_TYPING_MAX_TIMEOUT_MS 120000 /* longer timeouts are clamped */

typedef struct hs_typing hs_typing;

/* A new empty table, or NULL when out of memory. */
hs_typing *hs_typing_new(void);

/* Frees the table. NULL is a no-op. */
void hs_typing_free(hs_typing *t);

/* Marks `user_id` typing in `room_id` until now_ms + timeout_ms (clamped to
 * HS_TYPING_MAX_TIMEOUT_MS), or stops it when `typing` is false. Returns 1 when the
 * set of typing users changed (the serial moved: wake readers), 0 when not (a renewal
 * only extends the deadline), -1 when the table is full, the user already types in
 * HS_TYPING_MAX_PER_USER rooms, or out of memory. */
int hs_typing_set(hs_typing *t, const char *room_id, const char *user_id, bool typing, int64_t timeout_ms,
                  int64_t now_ms);

/* The current serial, after expiring what is due at now_ms. */
int64_t hs_typing_serial(hs_typing *t, int64_t now_ms);

/* When the room's typing set changed after `since` (or since is above the current
 * serial), returns a new JSON array of the user IDs typing there now (possibly
 * empty); otherwise NULL. Call hs_typing_serial first so expiries are applied. */
json_t *hs_typing_room(hs_typing *t, const char *room_id, int64_t since);

/* The earliest deadline of any typing notice, or INT64_MAX when nobody types. */
int64_t hs_typing_next_expiry(hs_typing *t);

#endif
