/* pgt_e2ee: end-to-end encryption keys as a client makes them, for tests that upload
 * device keys or cross-signing keys to a server: a device's ed25519 key, its signed
 * device_keys object, and a cross-signing key object. Keys are real (libsodium via
 * hs_signing_key), so servers check the signatures for real. Test code only: failures
 * are Criterion assertions; it sends nothing itself. */
#ifndef PGT_E2EE_H
#define PGT_E2EE_H

#include <jansson.h>

#include "server-core/hs_signing_key.h"
#include "support/pgt_matrix.h"

/* Generates a fresh ed25519 key into k with the key ID ed25519:<u's device ID>, as a
 * device's own key. Returns k. */
hs_signing_key *pgt_e2ee_device_key(const pgt_mx_login *u, hs_signing_key *k);

/* u's device keys (user_id, device_id, the olm and megolm algorithms, keys
 * ed25519:<device> = k's public key and curve25519:<device> = `curve`) signed by k as
 * u. Returns a new object (caller decrefs). */
json_t *pgt_e2ee_device_keys(const pgt_mx_login *u, const hs_signing_key *k, const char *curve);

/* Both in one, for a device whose keys are uploaded once: a fresh device key into k
 * (pgt_e2ee_device_key) and u's device keys signed with it, with the curve25519 key
 * "curve" (pgt_e2ee_device_keys). Returns a new object (caller decrefs). */
json_t *pgt_e2ee_new_device_keys(const pgt_mx_login *u, hs_signing_key *k);

/* Generates a fresh ed25519 key into k and returns the unsigned cross-signing key
 * object of `usage` ("master", "self_signing", "user_signing") for user_id with it
 * (caller decrefs); k's key ID becomes ed25519:<public key>, as the spec names
 * cross-signing keys. */
json_t *pgt_e2ee_cross_key(const char *user_id, const char *usage, hs_signing_key *k);

#endif
