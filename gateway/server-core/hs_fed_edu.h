/* hs_fed_edu: the checks on the EDUs another server sends in a /send transaction that
 * pinegate acts on besides receipts: m.device_list_update, m.direct_to_device,
 * m.typing, m.presence and m.signing_key_update (Server-Server API, "Device
 * Management", "Send-to-device messaging", "Typing Notifications", "Presence",
 * "End-to-End Encryption"). Pure functions on jansson values - no storage, no I/O - so
 * the /send handler, the unit tests and the fuzz target share one checker.
 *
 * Every rule that protects local users is here: the user an EDU speaks for must belong
 * to the sending server (a server cannot forge another's devices, messages or typing),
 * IDs have bounded sizes, and shapes are exact. What an EDU then does (cache, inbox,
 * typing table) is hs_fed_e2ee's. */
#ifndef HS_FED_EDU_H
#define HS_FED_EDU_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "server-core/hs_canonical_json.h"

#define HS_FED_EDU_ID_MAX 255          /* device IDs, message IDs, event types */
#define HS_FED_EDU_TO_DEVICE_MAX 10000 /* messages in one m.direct_to_device */
#define HS_FED_EDU_PRESENCE_MAX 1000   /* users in one m.presence push */
#define HS_FED_EDU_STATUS_MSG_MAX 1023 /* bytes of a status message (the client API's bound) */

/* A checked m.device_list_update. Pointers borrow from the content. */
typedef struct hs_fed_edu_device_list {
    const char *user_id, *device_id;
    const char *display_name; /* device_display_name, or NULL */
    const json_t *keys;       /* the device keys object, or NULL */
    bool deleted;
    int64_t stream_id;
} hs_fed_edu_device_list;

/* Checks an m.device_list_update content from `origin`: user_id a user of origin,
 * device_id a non-empty string of at most HS_FED_EDU_ID_MAX bytes, stream_id an
 * integer, prev_id (if any) a list of integers, deleted (if any) a boolean; keys (if
 * any and not deleted) an object naming the same user and device. Returns 0 with *out
 * filled, or -1 with err. */
int hs_fed_edu_device_list_check(const json_t *content, const char *origin, hs_fed_edu_device_list *out, hs_err *err);

/* A checked m.direct_to_device. Pointers borrow from the content. */
typedef struct hs_fed_edu_to_device {
    const char *sender, *type, *message_id;
    const json_t *messages; /* {user ID: {device ID or "*": content object}} */
    size_t n_messages;
} hs_fed_edu_to_device;

/* Checks an m.direct_to_device content from `origin`: sender a user of origin, type and
 * message_id non-empty strings of at most HS_FED_EDU_ID_MAX bytes, messages a map of
 * user IDs to maps of device IDs to objects, at most HS_FED_EDU_TO_DEVICE_MAX in all.
 * Recipients on other servers are the caller's to skip. Returns 0 with *out, or -1. */
int hs_fed_edu_to_device_check(const json_t *content, const char *origin, hs_fed_edu_to_device *out, hs_err *err);

/* A checked m.typing. Pointers borrow from the content. */
typedef struct hs_fed_edu_typing {
    const char *room_id, *user_id;
    bool typing;
    int64_t timeout_ms; /* the content's timeout, or 30000 when absent */
} hs_fed_edu_typing;

/* Checks an m.typing content from `origin`: room_id a room ID, user_id a user of origin,
 * typing a boolean, timeout (if any) a non-negative integer. Returns 0 with *out, or -1. */
int hs_fed_edu_typing_check(const json_t *content, const char *origin, hs_fed_edu_typing *out, hs_err *err);

/* One checked entry of an m.presence push. Pointers borrow from the content. */
typedef struct hs_fed_edu_presence {
    const char *user_id;
    const char *presence;   /* "online", "unavailable" or "offline" */
    const char *status_msg; /* NULL when absent or null */
    int64_t last_active_ago; /* milliseconds, >= 0 */
    bool currently_active;
} hs_fed_edu_presence;

/* Checks an m.presence content from `origin`: push a list of 1 to
 * HS_FED_EDU_PRESENCE_MAX objects, each with user_id a user of origin, presence one of
 * the three states, last_active_ago a non-negative integer, status_msg (if any, and
 * not null) a string of at most HS_FED_EDU_STATUS_MSG_MAX bytes without NUL,
 * currently_active (if any) a boolean. One bad entry refuses the whole EDU. Returns
 * the number of entries written to out[0..cap) (cap must be HS_FED_EDU_PRESENCE_MAX
 * or more to take every acceptable EDU), or -1 with err. */
long hs_fed_edu_presence_check(const json_t *content, const char *origin, hs_fed_edu_presence *out, size_t cap,
                               hs_err *err);

/* A checked m.signing_key_update. Pointers borrow from the content. */
typedef struct hs_fed_edu_signing_key {
    const char *user_id;
    const json_t *master_key;       /* NULL when absent */
    const json_t *self_signing_key; /* NULL when absent */
} hs_fed_edu_signing_key;

/* Checks an m.signing_key_update content from `origin`: user_id a user of origin; at
 * least one of master_key and self_signing_key, each (when present) a cross-signing
 * key of that user with the matching usage (hs_e2ee_check_cross_key) of at most
 * HS_E2EE_KEY_JSON_MAX canonical bytes; a self_signing_key given with a master_key must
 * carry the master key's valid signature. A self_signing_key alone is checked against
 * the stored master key by the caller. Returns 0 with *out, or -1 with err. */
int hs_fed_edu_signing_key_check(const json_t *content, const char *origin, hs_fed_edu_signing_key *out, hs_err *err);

#endif
