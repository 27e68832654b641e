/* pc_handshake: the 104-byte peer handshake both sides send as soon as a stream opens:
 * version 1, 3 unused bytes, capabilities 0x0000003B (uint32 BE), the sender's ed25519
 * public key, and its signature over bytes 0..39. There is no nonce and no second round
 * trip; acceptance is exact-match on version and capabilities plus a valid signature.
 * Also the key derivation Go's `-secretkey` uses (ed25519 keypair from a 32-byte seed). */
#ifndef PC_HANDSHAKE_H
#define PC_HANDSHAKE_H

#include <stdint.h>

#include "pinecone/pc_wire.h"

#define PC_HANDSHAKE_LEN 104
#define PC_PROTOCOL_VERSION 1
#define PC_CAPABILITIES 0x3Bu

/* Derives the ed25519 keypair from a 32-byte seed (as Go's ed25519.NewKeyFromSeed).
 * sk receives the 64-byte libsodium secret key (seed || pk). Returns PC_OK, or
 * PC_ERR_NOMEM if libsodium cannot initialise. */
int pc_keypair_from_seed(const uint8_t seed[PC_SEED_LEN], uint8_t pk[PC_KEY_LEN],
                         uint8_t sk[PC_SECRET_KEY_LEN]);

/* Writes our 104-byte handshake, signed with sk (public key = sk[32..64)). */
void pc_handshake_encode(const uint8_t sk[PC_SECRET_KEY_LEN], uint8_t out[PC_HANDSHAKE_LEN]);

/* Checks a received handshake (exactly PC_HANDSHAKE_LEN bytes) and copies the peer's key
 * to peer_key. Returns PC_OK, PC_ERR_TRUNCATED (len != 104), PC_ERR_HS_VERSION,
 * PC_ERR_HS_CAPS or PC_ERR_SIGNATURE; the connection must be closed on any error. */
int pc_handshake_decode(const uint8_t *in, size_t len, uint8_t peer_key[PC_KEY_LEN]);

#endif
