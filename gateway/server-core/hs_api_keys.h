/* hs_api_keys: the Client-Server endpoints for end-to-end encryption (spec v1.12,
 * "End-to-End Encryption", "Cross-signing", "Send-to-Device messaging"): keys/upload,
 * keys/query, keys/claim, keys/changes, keys/device_signing/upload,
 * keys/signatures/upload and sendToDevice, on /_matrix/client/v3 and the r0 paths.
 * Key material is checked by hs_e2ee and kept by hs_store_e2ee; every write a /sync
 * client may wait for wakes the server's notifier.
 *
 * Only local users are served for now: keys of remote users are reported in
 * `failures`, and to-device messages to remote users are dropped with a log line,
 * until federation exists. */
#ifndef HS_API_KEYS_H
#define HS_API_KEYS_H

struct hs_server;

/* Registers the endpoints on the client router. Returns 0, or -1 on a routing error. */
int hs_api_keys_register(struct hs_server *srv);

/* To be called after any device of user_id was deleted (logout, device deletion,
 * password change with logout, deactivation): drops the keys, one-time keys and
 * to-device inbox of the user's devices that no longer exist, records a device list
 * change when device keys went away and wakes /sync. Failures are logged only: the
 * deletion itself has already happened, and a later call cleans up what was left. */
void hs_api_keys_devices_deleted(struct hs_server *srv, const char *user_id);

#endif
