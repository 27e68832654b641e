/* hs_hmac_sha1: one call into GnuTLS's crypto API; no hand-written primitives. */
#include "server-core/hs_hmac_sha1.h"

#include <gnutls/crypto.h>
#include <string.h>

int hs_hmac_sha1(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t msg_len, uint8_t out[HS_SHA1_BYTES])
{
    if (gnutls_hmac_fast(GNUTLS_MAC_SHA1, key, key_len, msg, msg_len, out) != 0) {
        memset(out, 0, HS_SHA1_BYTES);
        return -1;
    }
    return 0;
}
