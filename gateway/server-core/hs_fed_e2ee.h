/* hs_fed_e2ee: what makes encrypted rooms work with users on several servers, plus the
 * other EDUs and per-user lookups that cross servers (Server-Server API, "End-to-End
 * Encryption", "Device Management", "Send-to-device messaging", "Typing
 * Notifications", "Query": profile).
 *
 * Inbound (registered with hs_fed_route, so authenticated first):
 *   POST /v1/user/keys/query     local users' device and cross-signing keys (only
 *                                signatures the users made themselves)
 *   POST /v1/user/keys/claim     one-time (else fallback) keys of local devices
 *   GET  /v1/user/devices/{userId} a local user's device list
 * and, from a /send transaction, hs_fed_edu_apply: m.device_list_update (the remote
 * device cache and a device_list_changes row, so local /sync and keys/changes see it),
 * m.direct_to_device (into the to-device inbox, deduplicated by (sender, message_id)),
 * m.typing (into the typing table), m.signing_key_update (a device_list_changes row
 * only: cross-signing keys are not cached). Receipts stay in hs_fed_rooms.c.
 *
 * Outbound: a client's keys/query and keys/claim for remote users ask their servers,
 * one request per server, synchronously on the client's worker; a query's answer
 * (validated: each device's self-signature) refreshes the remote device cache, which
 * answers when the server cannot be reached or is backed off by the outbound queue
 * (then it is not asked: the client would wait for a timeout). Local device list changes are scanned like
 * the queue scans events (hs_fed_e2ee_scan, cursor in fed_out_cursor) and queued as
 * m.device_list_update EDUs, one per device with keys, to every server sharing a room
 * with the user; to-device messages and typing notices are queued as EDUs at once. The
 * queue (hs_fed_queue) carries them with its retries.
 *
 * Not here: sending m.signing_key_update (a cross-signing change goes out as device
 * list updates, which make peers re-query), deletions of devices announced as such (a
 * deleted device simply stops appearing in the next query). */
#ifndef HS_FED_E2EE_H
#define HS_FED_E2EE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct hs_server;

/* Remote profiles are asked again after this long. */
#define HS_FED_PROFILE_CACHE_MS (60 * 1000)

/* Adds the inbound endpoints above. Returns 0 or -1. */
int hs_fed_e2ee_register(struct hs_server *srv);

/* Acts on one EDU of a transaction from authenticated `origin` (m.device_list_update,
 * m.direct_to_device, m.typing; other types are ignored). A bad EDU is logged and
 * dropped: EDUs have no per-item answer. */
void hs_fed_edu_apply(struct hs_server *srv, const char *origin, const json_t *edu);

/* Queues the local device list changes written since the last scan as
 * m.device_list_update EDUs. Returns the number of rows looked at, or -1. */
long hs_fed_e2ee_scan(struct hs_server *srv, int64_t now_ms);

/* keys/query for users of other servers: `remote` is {user ID: [device IDs]}; the
 * answers are merged into out (device_keys, master_keys, self_signing_keys, failures
 * keyed by server). */
void hs_fed_e2ee_keys_query(struct hs_server *srv, const json_t *remote, json_t *out);

/* keys/claim for users of other servers: `remote` is {user ID: {device ID: algorithm}};
 * claimed keys are merged into keys[user][device], unreachable servers into failures. */
void hs_fed_e2ee_keys_claim(struct hs_server *srv, const json_t *remote, json_t *keys, json_t *failures);

/* Queues to-device messages from local `sender` to users of other servers (`remote` is
 * {user ID: {device ID: content}}) as one m.direct_to_device EDU per server. Returns the
 * number of messages queued, or -1 on a database error. */
long hs_fed_e2ee_to_device_out(struct hs_server *srv, const char *sender, const char *type, const json_t *remote);

/* Queues local `user_id`'s typing notice in `room_id` to every other server in the
 * room. Returns 0 or -1. */
int hs_fed_typing_out(struct hs_server *srv, const char *room_id, const char *user_id, bool typing,
                      int64_t timeout_ms);

/* The profile of remote `user_id`: from the cache when fetched within
 * HS_FED_PROFILE_CACHE_MS, else query/profile on its server (then cached). Returns 0
 * with the fields (malloc'd, NULL when unset), 1 when the server says there is no such
 * user, -1 when it could not be asked. */
int hs_fed_profile_remote(struct hs_server *srv, const char *user_id, char **displayname, char **avatar_url);

#endif
