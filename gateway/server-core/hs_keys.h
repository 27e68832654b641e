/* hs_keys: the key documents of the Server-Server API ("Retrieving server keys"):
 * building our own signed response for GET /_matrix/key/v2/server, and checking a
 * response another server (or a notary speaking for it) sent us before any of its keys
 * is trusted.
 *
 * A response is accepted only when: it is an object of at most HS_KEYS_MAX_BYTES; its
 * server_name is the server we asked about; valid_until_ts is an integer (and, when the
 * caller passes now_ms > 0, in the future); verify_keys holds at least one well-formed
 * ed25519 key; old_verify_keys, when present, is an object of keys with expired_ts; and
 * it is signed by the server itself with one of its verify_keys (every such signature
 * must verify). Notary co-signatures are checked by the caller with hs_verify_json.
 *
 * Pure: no I/O, no clock; time comes in as now_ms. */
#ifndef HS_KEYS_H
#define HS_KEYS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "server-core/hs_canonical_json.h"
#include "server-core/hs_signing_key.h"

#define HS_KEYS_MAX_BYTES (64 * 1024)  /* a key response bigger than this is refused */
#define HS_KEYS_MAX_KEYS 32            /* verify_keys + old_verify_keys we keep per server */
/* A notary's answer (several key responses) bigger than this is refused; it is also the
 * most the federation client reads from any /_matrix/key/ endpoint. */
#define HS_KEYS_MAX_ANSWER_BYTES (16 * HS_KEYS_MAX_BYTES)

/* One key out of a validated response. expired_ts is -1 for a current key (it is valid
 * until the response's valid_until_ts), else the old key's expired_ts. */
typedef struct hs_keys_entry {
    char key_id[128];
    char key_b64[64];        /* unpadded base64 of the 32-byte public key */
    uint8_t public_key[32];
    int64_t expired_ts;
} hs_keys_entry;

/* A validated response: its keys, its valid_until_ts and the server it describes. */
typedef struct hs_keys_doc {
    char server_name[256];
    int64_t valid_until_ts;
    hs_keys_entry keys[HS_KEYS_MAX_KEYS];
    size_t n_keys;
} hs_keys_doc;

/* Builds our key response: server_name, verify_keys {key->key_id}, old_verify_keys
 * (a copy of `old_verify_keys`, or {} when NULL: Synapse 1.67 requires the field),
 * valid_until_ts, signed with `key`. Returns a new reference, or NULL with err set. */
json_t *hs_keys_own_response(const char *server_name, const hs_signing_key *key, int64_t valid_until_ts,
                             const json_t *old_verify_keys, hs_err *err);

/* Validates a key response as described above for `expected_server` and fills *out.
 * now_ms <= 0 skips the valid_until_ts-in-the-future check (recorded fixtures, and
 * notary answers where the caller applies its own minimum). Returns 0, or -1 with err. */
int hs_keys_validate(const json_t *doc, const char *expected_server, int64_t now_ms, hs_keys_doc *out, hs_err *err);

/* Parses and validates response bytes (strict canonical-JSON parser, HS_KEYS_MAX_BYTES
 * limit) with hs_keys_validate. On success returns the parsed document (a new
 * reference) and fills *out; NULL with err set otherwise. */
json_t *hs_keys_parse(const char *buf, size_t len, const char *expected_server, int64_t now_ms, hs_keys_doc *out,
                      hs_err *err);

/* The entry for `key_id` in a validated document, or NULL. */
const hs_keys_entry *hs_keys_find(const hs_keys_doc *doc, const char *key_id);

#endif
