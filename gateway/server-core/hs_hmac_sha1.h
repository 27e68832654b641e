/* hs_hmac_sha1: HMAC-SHA1 (RFC 2104 over FIPS 180-4 SHA-1), needed only because
 * Synapse's shared-secret registration API fixed its MAC to HMAC-SHA1 and admin tools
 * (synapse register_new_matrix_user) compute exactly that. libsodium, the crypto
 * library server-core may use, deliberately has no SHA-1, and OpenSSL is reserved for
 * federation-side by the layer rules; so this small implementation exists, checked
 * against the RFC 2202 vectors. Do not use it for anything new. */
#ifndef HS_HMAC_SHA1_H
#define HS_HMAC_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define HS_SHA1_BYTES 20

/* HMAC-SHA1 of msg under key into out. Never fails. */
void hs_hmac_sha1(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t msg_len,
                  uint8_t out[HS_SHA1_BYTES]);

#endif
