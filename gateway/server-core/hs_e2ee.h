/* hs_e2ee: the rules for the key material of end-to-end encryption (Client-Server API,
 * "End-to-End Encryption" and "Cross-signing"): the shape of device keys, one-time
 * keys and cross-signing keys, and the ed25519 signatures that bind them together.
 * Pure functions on jansson values - no storage, no I/O - so the HTTP handlers
 * (hs_api_keys*.c) and the fuzz target share one checker.
 *
 * Signatures are the spec's "Signing JSON": signatures[<user ID>][<algorithm:key ID>]
 * over the canonical JSON of the object without `signatures` and `unsigned`. */
#ifndef HS_E2EE_H
#define HS_E2EE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server-core/hs_canonical_json.h"

#define HS_E2EE_KEY_ID_MAX 256      /* "algorithm:key_id" strings, with their NUL */
#define HS_E2EE_ALGORITHM_MAX 128
#define HS_E2EE_KEYS_PER_UPLOAD 1000 /* one-time keys in one /keys/upload */
#define HS_E2EE_KEY_JSON_MAX 16384   /* canonical bytes of one key object */

/* Splits "algorithm:key_id" into its two non-empty parts (buffers of
 * HS_E2EE_ALGORITHM_MAX and HS_E2EE_KEY_ID_MAX bytes). Returns 0, or -1 with err set. */
int hs_e2ee_split_key_id(const char *s, char *algorithm, char *key_id, hs_err *err);

/* Checks a device_keys object uploaded by (user_id, device_id): the user_id and
 * device_id fields name the caller, `algorithms` is a list of strings, `keys` holds
 * "ed25519:<device_id>" (32 bytes of base64) and string values only, and the object
 * carries a valid self-signature signatures[user_id]["ed25519:<device_id>"].
 * Returns 0, or -1 with err saying which rule failed. */
int hs_e2ee_check_device_keys(const json_t *dk, const char *user_id, const char *device_id, hs_err *err);

/* The ed25519 public key a device_keys object names for its device (keys
 * ["ed25519:<device_id>"]). Returns 0 and fills pub, or -1. */
int hs_e2ee_device_ed25519(const json_t *dk, const char *device_id, uint8_t pub[32]);

/* Checks a cross-signing key object: user_id is `user_id`, `usage` contains `usage`
 * ("master", "self_signing", "user_signing"), `keys` holds exactly one entry
 * "ed25519:<unpadded base64 of the 32-byte public key>" whose value is that same
 * base64. On success writes the public key to pub and its base64 (the key ID without
 * "ed25519:") to b64 (HS_E2EE_KEY_ID_MAX bytes). Returns 0, or -1 with err set. */
int hs_e2ee_check_cross_key(const json_t *key, const char *user_id, const char *usage, uint8_t pub[32], char *b64,
                            hs_err *err);

/* Verifies signatures[signer_user]["ed25519:<signer_b64>"] on obj with pub.
 * Returns 0 if present and valid, -1 with err set. */
int hs_e2ee_verify(const json_t *obj, const char *signer_user, const char *signer_b64, const uint8_t pub[32],
                   hs_err *err);

/* True when a and b are the same object once `signatures` and `unsigned` are left out
 * (the signed content), compared as canonical JSON. */
bool hs_e2ee_same_signed_content(const json_t *a, const json_t *b);

/* A parsed, checked /keys/upload body. Pointers borrow from the body given to
 * hs_e2ee_parse_upload; canonical texts are owned (hs_e2ee_upload_free). */
typedef struct hs_e2ee_key_entry {
    char algorithm[HS_E2EE_ALGORITHM_MAX];
    char key_id[HS_E2EE_KEY_ID_MAX];
    char *json;                  /* canonical JSON of the key value */
} hs_e2ee_key_entry;

typedef struct hs_e2ee_upload {
    const json_t *device_keys;   /* NULL when absent */
    char *device_keys_json;      /* its canonical JSON */
    hs_e2ee_key_entry *otks;
    size_t n_otks;
    hs_e2ee_key_entry *fallbacks;
    size_t n_fallbacks;
} hs_e2ee_upload;

/* Checks a /keys/upload body for (user_id, device_id): device_keys as
 * hs_e2ee_check_device_keys, one_time_keys and fallback_keys as maps from
 * "algorithm:key_id" to a string or an object (at most HS_E2EE_KEYS_PER_UPLOAD, each
 * at most HS_E2EE_KEY_JSON_MAX canonical bytes; at most one fallback key per
 * algorithm). Returns 0 and fills *out (free with hs_e2ee_upload_free), or -1 with err
 * set and *out empty. */
int hs_e2ee_parse_upload(const json_t *body, const char *user_id, const char *device_id, hs_e2ee_upload *out,
                         hs_err *err);

/* Frees what hs_e2ee_parse_upload allocated; *up is empty afterwards. */
void hs_e2ee_upload_free(hs_e2ee_upload *up);

#endif
