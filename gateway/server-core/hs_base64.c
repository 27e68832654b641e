/* hs_base64: thin wrappers over libsodium's codecs, plus the leniency about trailing
 * bits that interoperating with Python-based servers requires. */
#include "server-core/hs_base64.h"

#include <sodium.h>
#include <stdbool.h>
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

static int sextet(char c, int variant)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    bool url = variant == sodium_base64_VARIANT_URLSAFE_NO_PADDING;
    if (c == (url ? '-' : '+')) return 62;
    if (c == (url ? '_' : '/')) return 63;
    return -1;
}

static char sextet_char(int v, int variant)
{
    static const char std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static const char url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    return (variant == sodium_base64_VARIANT_URLSAFE_NO_PADDING ? url : std)[v];
}

static long decode(const char *in, uint8_t *out, size_t cap, int variant)
{
    size_t n = strlen(in);
    while (n > 0 && in[n - 1] == '=') n--; /* receivers must accept padded input too */
    if (n % 4 == 1) return -1;
    char *copy = strndup(in, n);
    if (!copy) return -1;
    /* The unused low bits of the last character are ignored, as Python's decoder (and so
     * Synapse, and the spec's own example seed) does; libsodium would reject them. */
    if (n % 4 != 0) {
        int v = sextet(copy[n - 1], variant);
        if (v < 0) {
            free(copy);
            return -1;
        }
        copy[n - 1] = sextet_char(v & (n % 4 == 2 ? 0x30 : 0x3c), variant);
    }
    size_t got = 0;
    const char *end = NULL;
    int rc = sodium_base642bin(out, cap, copy, n, NULL, &got, &end, variant);
    bool whole = end == copy + n;
    free(copy);
    if (rc != 0 || !whole) return -1;
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
