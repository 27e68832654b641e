/* hs_hmac_sha1: HMAC-SHA1, needed only because Synapse's shared-secret registration API
 * fixed its MAC to HMAC-SHA1 and admin tools (synapse register_new_matrix_user) compute
 * exactly that. libsodium has no SHA-1, so this wraps GnuTLS's HMAC (GnuTLS is already
 * in the process as libmicrohttpd's TLS library). Do not use it for anything new. */
#ifndef HS_HMAC_SHA1_H
#define HS_HMAC_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define HS_SHA1_BYTES 20

/* HMAC-SHA1 of msg under key into out. Returns 0, or -1 if the crypto library refused
 * (out is then zeroed, which never matches a real MAC). */
int hs_hmac_sha1(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t msg_len,
                 uint8_t out[HS_SHA1_BYTES]);

#endif
