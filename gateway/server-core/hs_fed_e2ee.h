/* hs_fed_e2ee: what makes encrypted rooms work with users on several servers, plus the
 * other EDUs and per-user lookups that cross servers (Server-Server API, "End-to-End
 * Encryption", "Device Management", "Send-to-device messaging", "Typing
 * Notifications", "Presence", "Query": profile).
 *
 * Inbound (registered with hs_fed_route, so authenticated first):
 *   POST /v1/user/keys/query     local users' device and cross-signing keys (only
 *                                signatures the users made themselves)
 *   POST /v1/user/keys/claim     one-time (else fallback) keys of local devices
 *   GET  /v1/user/devices/{userId} a local user's device list
 * and, from a /send transaction, hs_fed_edu_apply: m.device_list_update (the remote
 * device cache - deleted: true removes the device - and a device_list_changes row, so
 * local /sync and keys/changes see it), m.direct_to_device (into the to-device inbox,
 * deduplicated by (sender, message_id)), m.typing (into the typing table), m.presence
 * (into the presence table, which local /sync and GET /presence read), and
 * m.signing_key_update (checked master / self-signing keys cached, a
 * device_list_changes row). Presence and signing keys are kept only for users joined to
 * a room with a local user. Receipts stay in hs_fed_rooms.c.
 *
 * Outbound: a client's keys/query and keys/claim for remote users ask all their
 * servers at once (hs_fed_send_many), on the client's worker; a query's answer
 * (validated: each device's self-signature; the master key's shape and the
 * self-signing key's signature by it) refreshes the remote device and cross-signing
 * caches (the latter only for users sharing a room with a local user), which answer
 * when the server cannot be reached or is backed off by the outbound queue (then it
 * is not asked: the client would wait for a timeout).
 * hs_fed_e2ee_scan, run by the sender thread like the event scan, reads
 * device_list_changes after a persisted cursor (fed_out_cursor) and queues, to every
 * server sharing a room with the local user: m.device_list_update for each device with
 * keys, m.device_list_update with deleted: true for each deleted device (a logout
 * deletes the device too), m.signing_key_update when the master or self-signing key
 * changed; and it reads the presence table after its own cursor and queues each local
 * user's latest presence as m.presence (one EDU per server). It then prunes
 * device_list_changes rows it has announced once HS_STORE_E2EE_CHANGES_KEEP newer
 * ones exist. To-device messages and typing notices are queued as EDUs at once. The
 * queue (hs_fed_queue) carries everything with its retries.
 *
 * The code: hs_fed_e2ee.c (inbound endpoints and EDUs, EDUs queued at once, profiles),
 * hs_fed_e2ee_scan.c (the scan), hs_fed_e2ee_keys.c (key queries and claims).
 *
 * A client's keys/query and keys/claim wait for the other servers at most its
 * `timeout` (hs_fed_out.timeout_ms on each request): a server that has not answered
 * by then is in `failures`, and the caches answer for its users.
 *
 * Device list updates of one local user form a chain: each carries the next of the
 * user's own stream_ids (device_list_outbound, persisted) and, as prev_id, the one
 * before it; user/devices answers the last one. A peer that holds the previous update
 * (Synapse keeps it as the user's "extremity") applies the next without asking for the
 * whole list again; a peer that missed one sees an unknown prev_id and resyncs.
 * Inbound the same: an update is applied onto a cached list only when its prev_id
 * names where the list stands; otherwise the list is fetched again with user/devices
 * (its stream_id becomes where the list stands) - at once for a list a keys query
 * cached (it has no position), else at most every 10 s per user, never from a
 * backed-off server; otherwise the cached list is forgotten and queries go to the
 * user's server. The fetch runs inside the inbound transaction's handling. */
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

/* Most device lists one transaction's EDUs may make us fetch whole (GET user/devices,
 * up to 10 s each) while the transaction waits for its answer; past it, a list with a
 * gap is forgotten instead (queries then go to its server). */
#define HS_FED_RESYNCS_PER_TXN 4

/* Acts on one EDU of a transaction from authenticated `origin` (m.device_list_update,
 * m.direct_to_device, m.typing, m.presence, m.signing_key_update; other types are
 * ignored). *resyncs_left (start it at HS_FED_RESYNCS_PER_TXN per transaction) is
 * what the transaction may still spend on device list fetches; each one takes 1. A bad
 * EDU is logged and dropped: EDUs have no per-item answer. */
void hs_fed_edu_apply(struct hs_server *srv, const char *origin, const json_t *edu, int *resyncs_left);

/* Queues the local device list changes (device updates and deletions, cross-signing
 * key updates) and presence changes written since the last scan as EDUs, then prunes
 * announced device_list_changes rows. Returns the number of rows looked at, or -1. */
long hs_fed_e2ee_scan(struct hs_server *srv, int64_t now_ms);

/* keys/query for users of other servers: `remote` is {user ID: [device IDs]}; their
 * servers are asked concurrently, each for at most timeout_ms (0: the configured
 * request timeout), and the answers (or the caches, for a server that does not answer
 * in time) merged into out (device_keys, master_keys, self_signing_keys, failures
 * keyed by server). */
void hs_fed_e2ee_keys_query(struct hs_server *srv, const json_t *remote, json_t *out, int timeout_ms);

/* keys/claim for users of other servers: `remote` is {user ID: {device ID: algorithm}};
 * their servers are asked concurrently, each for at most timeout_ms (0: the configured
 * request timeout); claimed keys are merged into keys[user][device], servers that did
 * not answer in time into failures. */
void hs_fed_e2ee_keys_claim(struct hs_server *srv, const json_t *remote, json_t *keys, json_t *failures,
                            int timeout_ms);

/* The master key of `user_id`, a user of another server, whose public key (unpadded
 * base64) is key_b64, as checked JSON (new reference): the cached one when it is that
 * key, else (timeout_ms > 0) the one its server answers a keys/query with within
 * timeout_ms (the caches are refreshed as by any query). NULL with why (a sentence for the client:
 * the server could not be asked, or has another or no master key) when neither has
 * that key. What a local user's signature of another server's user is checked
 * against. */
json_t *hs_fed_e2ee_remote_master_key(struct hs_server *srv, const char *user_id, const char *key_b64,
                                      int timeout_ms, char *why, size_t why_len);

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
