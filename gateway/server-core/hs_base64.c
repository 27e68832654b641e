/* hs_base64: thin wrappers over libsodium's constant-time codecs. */
#include "server-core/hs_base64.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static char *encode(const uint8_t *data, size_t len, int variant)
{
    size_t cap = sodium_base64_encoded_len(len, variant);
    char *out = malloc(cap);
    if (!out) return NULL;
    sodium_bin2base64(out, cap, data, len, variant);
    return out;
}

char *hs_b64_encode(const uint8_t *data, size_t len)
{
    return encode(data, len, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
}

char *hs_b64url_encode(const uint8_t *data, size_t len)
{
    return encode(data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static long decode(const char *in, uint8_t *out, size_t cap, int variant)
{
    size_t n = strlen(in);
    while (n > 0 && in[n - 1] == '=') n--; /* receivers must accept padded input too */
    size_t got = 0;
    const char *end = NULL;
    if (sodium_base642bin(out, cap, in, n, NULL, &got, &end, variant) != 0) return -1;
    if (end != in + n) return -1;
    return (long)got;
}

long hs_b64_decode(const char *in, uint8_t *out, size_t cap)
{
    return decode(in, out, cap, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
}

long hs_b64url_decode(const char *in, uint8_t *out, size_t cap)
{
    return decode(in, out, cap, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}
