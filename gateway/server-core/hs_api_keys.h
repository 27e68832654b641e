/* hs_api_keys: the Client-Server endpoints for end-to-end encryption (spec v1.12,
 * "End-to-End Encryption", "Cross-signing", "Send-to-Device messaging"): keys/upload,
 * keys/query, keys/claim, keys/changes, keys/device_signing/upload,
 * keys/signatures/upload and sendToDevice, on /_matrix/client/v3 and the r0 paths.
 * Key material is checked by hs_e2ee and kept by hs_store_e2ee; every write a /sync
 * client may wait for wakes the server's notifier.
 *
 * Users of other servers are asked on their servers over federation (hs_fed_e2ee.h):
 * an unreachable server is reported in `failures`; to-device messages to remote users
 * go out as m.direct_to_device EDUs through the outbound queue. */
#ifndef HS_API_KEYS_H
#define HS_API_KEYS_H

#include <jansson.h>

#include "server-core/hs_http.h"
#include "server-core/hs_store_e2ee.h"

struct hs_server;

/* Registers the endpoints on the client router. Returns 0, or -1 on a routing error. */
int hs_api_keys_register(struct hs_server *srv);

/* To be called after any device of user_id was deleted (logout, device deletion,
 * password change with logout, deactivation): drops the keys, one-time keys and
 * to-device inbox of the user's devices that no longer exist, records a device list
 * change when device keys went away and wakes /sync. Failures are logged only: the
 * deletion itself has already happened, and a later call cleans up what was left. */
void hs_api_keys_devices_deleted(struct hs_server *srv, const char *user_id);

/* The local half of keys/query for one local user_id (devs: a JSON array of device
 * IDs, empty for all): adds out.device_keys[user_id] and the cross-signing keys into
 * out.master_keys / self_signing_keys / user_signing_keys (the last only when viewer is
 * the user), with the signatures `viewer` may see. Federation passes viewer "" (only
 * the users' own signatures). Returns 0, or -1 on a database error. */
int hs_keys_query_local(struct hs_server *srv, const char *viewer, const char *user_id, const json_t *devs,
                        json_t *out);

/* The local half of keys/claim: for each local user in `want` ({user: {device:
 * algorithm}}, already checked to have that shape) claims one key per device into
 * keys[user][device] = {"algorithm:key_id": key}. `claims` is scratch space with room
 * for every device in want. Returns 0, or -1 on a database error. */
int hs_keys_claim_local(struct hs_server *srv, const json_t *want, hs_store_claim *claims, json_t *keys);

/* Checks the `one_time_keys` of a keys/claim request (client or federation): {user:
 * {device ID: algorithm}} naming at most 1000 devices. Returns 0 with *total (the
 * number of devices), or -1 after answering 400 M_INVALID_PARAM. */
int hs_keys_claim_check(const json_t *want, hs_response *resp, size_t *total);

/* Checks the `device_keys` of a keys/query request (client or federation): {user:
 * [device ID, ...]} with at most 1000 users and at most 1000 device IDs listed in
 * all (an empty list, meaning every device, counts as none). Returns 0, or -1 after
 * answering 400 M_INVALID_PARAM. */
int hs_keys_query_check(const json_t *want, hs_response *resp);

#endif
