/* pg_p2p_key: the P2P identity's key file. The P2P identity (the Pinecone node, whose
 * server name is its hex public key) has its own ed25519 key, separate from the DNS
 * signing key. The file holds the 32-byte seed as 64 hex digits and a newline: the
 * format of `pinegate pinecone --secret-key` and Go's -secretkey, so the same identity
 * can be run as a standalone node. Files are written 0600 and never overwritten. */
#ifndef PG_P2P_KEY_H
#define PG_P2P_KEY_H

#include <stddef.h>
#include <stdint.h>

#define PG_P2P_SEED_LEN 32
#define PG_P2P_KEY_LEN 32
#define PG_P2P_KEY_FILE_MAX 256 /* longest key file read (the seed plus whitespace) */

/* Parses key file contents: 64 hex digits, optionally followed by whitespace. Returns 0,
 * or -1 with a message in err (larger than PG_P2P_KEY_FILE_MAX, not 64 hex digits). */
int pg_p2p_key_parse(const char *text, size_t len, uint8_t seed[PG_P2P_SEED_LEN], char *err, size_t errlen);

/* Reads the seed from path. Returns 0, or -1 with a message naming the file in err
 * (missing, unreadable, larger than PG_P2P_KEY_FILE_MAX, not 64 hex digits). */
int pg_p2p_key_load(const char *path, uint8_t seed[PG_P2P_SEED_LEN], char *err, size_t errlen);

/* Makes a fresh random seed and writes it to path (created 0600; an existing file is an
 * error). Writes the hex public key (65 bytes with NUL) into pk_hex when non-NULL.
 * Returns 0, or -1 with a message in err. */
int pg_p2p_key_generate(const char *path, char pk_hex[2 * PG_P2P_KEY_LEN + 1], char *err, size_t errlen);

/* The hex public key (server name of the P2P identity) of seed, into out. */
void pg_p2p_key_public_hex(const uint8_t seed[PG_P2P_SEED_LEN], char out[2 * PG_P2P_KEY_LEN + 1]);

#endif
