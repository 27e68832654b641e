/* hs_signing: "Signing JSON" (spec appendix) with ed25519 (keys: hs_signing_key.h), and a keyring of other servers' verify keys loaded from key server responses
 * (GET /_matrix/key/v2/server). Also event-level signing: events are signed over their
 * redacted form (room-version specific), so that redaction never invalidates them.
 *
 * Signed bytes = canonical JSON of the object without its `signatures` and `unsigned`.
 * Signatures are unpadded standard base64; key IDs look like "ed25519:<version>".
 * Pure: no I/O, no clock — key validity periods (valid_until_ts) are the caller's policy.
 * The keyring is a plain growable array: fine for the handful of servers an event names. */
#ifndef HS_SIGNING_H
#define HS_SIGNING_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "server-core/hs_canonical_json.h"
#include "server-core/hs_room_version.h"
#include "server-core/hs_signing_key.h"

#define HS_KEY_ID_MAX 128

/* Signs `obj` (an object) in place: adds signatures[server_name][key->key_id], keeping
 * any other signatures. Returns 0, or -1 with err set (e.g. the object holds a float). */
int hs_sign_json(json_t *obj, const char *server_name, const hs_signing_key *key, hs_err *err);

/* Verifies signatures[server_name][key_id] on `obj` with `public_key`. Returns 0 if it is
 * present and valid; -1 with err saying whether it was missing, malformed or wrong. */
int hs_verify_json(const json_t *obj, const char *server_name, const char *key_id,
                   const uint8_t public_key[32], hs_err *err);

/* ---- keyring -------------------------------------------------------------------- */

typedef struct hs_verify_key {
    char *server_name;
    char key_id[HS_KEY_ID_MAX];
    uint8_t public_key[32];
    long long expired_ts;  /* -1 for a current key; else old_verify_keys' expired_ts */
} hs_verify_key;

typedef struct hs_keyring {
    hs_verify_key *keys;
    size_t n, cap;
} hs_keyring;

/* Initialises an empty keyring (a zeroed struct is also empty). */
void hs_keyring_init(hs_keyring *kr);

/* Frees everything the keyring holds; it is empty afterwards. */
void hs_keyring_free(hs_keyring *kr);

/* Adds one key; replaces an existing (server, key_id) entry. Returns 0 or -1 (no memory,
 * or a key ID that is not ed25519:...). */
int hs_keyring_add(hs_keyring *kr, const char *server_name, const char *key_id,
                   const uint8_t public_key[32], long long expired_ts, hs_err *err);

/* Loads a key server response: checks server_name, decodes verify_keys and
 * old_verify_keys, and requires the document to be self-signed by at least one of its
 * own verify_keys, with every self-signature under a listed key valid. Adds the keys
 * only if all that holds. Returns 0, or -1 with err set. valid_until_ts is not checked. */
int hs_keyring_add_server_keys(hs_keyring *kr, const json_t *doc, hs_err *err);

/* Looks up a key. Returns a pointer into the keyring (valid until it changes), or NULL. */
const hs_verify_key *hs_keyring_find(const hs_keyring *kr, const char *server_name, const char *key_id);

/* ---- events --------------------------------------------------------------------- */

/* Signs an event: sets hashes.sha256 (content hash) first if `add_hash`, then signs its
 * redacted form under rv and stores the signature in the event. Returns 0 or -1. */
int hs_event_sign(json_t *pdu, const hs_room_version *rv, const char *server_name,
                  const hs_signing_key *key, int add_hash, hs_err *err);

/* Verifies the event's signature by (server_name, key_id) over its redacted form.
 * Returns 0 if valid, -1 with err set otherwise. */
int hs_event_verify_signature(const json_t *pdu, const hs_room_version *rv, const char *server_name,
                              const char *key_id, const uint8_t public_key[32], hs_err *err);

/* The servers whose signature an event must carry (Server-Server API, "Validating
 * hashes and signatures"): the sender's server; for v1-2 the event ID's server; for v9+
 * joins with join_authorised_via_users_server, that user's server. Writes up to `max`
 * pointers into `out` (they point into `pdu`'s strings, and are distinct) and returns
 * how many, or -1 with err if a needed field is missing or malformed. */
int hs_event_required_signers(const json_t *pdu, const hs_room_version *rv, const char **out, size_t max,
                              hs_err *err);

#endif
