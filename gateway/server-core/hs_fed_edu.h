/* hs_fed_edu: the checks on the EDUs another server sends in a /send transaction that
 * pinegate acts on besides receipts: m.device_list_update, m.direct_to_device and
 * m.typing (Server-Server API, "Device Management", "Send-to-device messaging",
 * "Typing Notifications"). Pure functions on jansson values - no storage, no I/O - so
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

#endif
