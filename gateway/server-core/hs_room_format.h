/* hs_room_format: a stored event as Matrix clients see it (Client-Server API "client
 * event format"): the PDU's client fields, event_id, room_id and `unsigned` - age, the
 * viewing device's transaction ID, and for an event that has been redacted the redaction
 * algorithm of the room's version applied (hs_redact) with unsigned.redacted_because,
 * and for a state event what it replaced (unsigned.replaces_state, prev_content,
 * prev_sender) from the state before it. With `aggregate`, unsigned.m.relations
 * carries the latest m.replace by the original sender and the m.thread summary. Reads
 * the store; no state of its own. */
#ifndef HS_ROOM_FORMAT_H
#define HS_ROOM_FORMAT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "server-core/hs_store.h"
#include "server-core/hs_store_rooms.h"

/* Who is looking, and when. device_id may be NULL (no transaction IDs shown). */
typedef struct hs_room_viewer {
    const char *user_id;
    const char *device_id;
    int64_t now_ms;
    bool aggregate;      /* add unsigned.m.relations */
} hs_room_viewer;

/* The client format of `ev` for `who`. ev->redacted_by is used when set (events read by
 * hs_store_rooms carry it); when NULL the store is asked, so events loaded elsewhere are
 * redacted too. Returns a new object (caller decrefs), or NULL when the stored PDU does
 * not parse or the store fails. */
json_t *hs_room_client_event(hs_store *st, const hs_store_event *ev, const hs_room_viewer *who);

/* The client format of the event with this ID, NULL if unknown or on error. */
json_t *hs_room_client_event_by_id(hs_store *st, const char *event_id, const hs_room_viewer *who);

#endif
