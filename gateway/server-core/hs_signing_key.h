/* hs_signing_key: a server's ed25519 signing key as a file, in Synapse's format
 * ("ed25519 <key-version> <unpadded base64 32-byte seed>\n"), so keys move between
 * Synapse and pinegate unchanged. The key ID is "ed25519:<key-version>". */
#ifndef HS_SIGNING_KEY_H
#define HS_SIGNING_KEY_H

#include <stddef.h>
#include <stdint.h>

typedef struct hs_signing_key {
    char key_id[64];          /* "ed25519:a_AbCd" */
    uint8_t seed[32];
    uint8_t public_key[32];
    uint8_t secret_key[64];   /* libsodium's expanded form, for signing */
} hs_signing_key;

/* Makes a fresh key with a random version "a_XXXX" (the Synapse style: [a-zA-Z0-9_]).
 * Returns 0, or -1 if the random source failed. */
int hs_signing_key_generate(hs_signing_key *key);

/* Derives public and secret key from a seed and a version. Returns 0, or -1 if the
 * version is not of the grammar [a-zA-Z0-9_]{1,50}. */
int hs_signing_key_from_seed(hs_signing_key *key, const char *version, const uint8_t seed[32]);

/* Parses one key line. Returns 0, or -1 with a reason in err. */
int hs_signing_key_parse(const char *text, hs_signing_key *key, char *err, size_t errlen);

/* Reads the first key of a key file. Returns 0, or -1 with a reason in err. */
int hs_signing_key_load(const char *path, hs_signing_key *key, char *err, size_t errlen);

/* Formats the key as one file line ("ed25519 <version> <seed>\n") into `out`.
 * Returns 0, or -1 if `len` is too small. The line is secret: wipe it after use. */
int hs_signing_key_format(const hs_signing_key *key, char *out, size_t len);

/* Writes the key to `path` with mode 0600, refusing to overwrite an existing file.
 * Returns 0, or -1 with a reason in err. */
int hs_signing_key_save(const char *path, const hs_signing_key *key, char *err, size_t errlen);

/* The public key as unpadded base64 (what /_matrix/key/v2/server publishes) into
 * `out` (at least 44 bytes). */
void hs_signing_key_public_b64(const hs_signing_key *key, char out[44]);

#endif
