/* fuzz_hs_xmatrix: the X-Matrix Authorization parser never crashes, and whatever it
 * accepts survives a round trip: re-written in our canonical form (quoted, escaped, no
 * spaces) it parses back to the very same credential. Accepted credentials are also
 * run through verification with a fixed key (must simply fail or pass, never crash). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_xmatrix.h"

static size_t put_quoted(char *out, size_t o, size_t cap, const char *v)
{
    out[o++] = '"';
    for (; *v && o + 3 < cap; v++) {
        if (*v == '"' || *v == '\\') out[o++] = '\\';
        out[o++] = *v;
    }
    out[o++] = '"';
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hs_xmatrix_auth a;
    hs_err err;
    if (hs_xmatrix_parse((const char *)data, size, &a, &err) != 0) return 0;
    static char buf[4 * HS_XMATRIX_MAX_HEADER];
    size_t o = (size_t)snprintf(buf, sizeof buf, "X-Matrix origin=");
    o = put_quoted(buf, o, sizeof buf, a.origin);
    o += (size_t)snprintf(buf + o, sizeof buf - o, ",key=");
    o = put_quoted(buf, o, sizeof buf, a.key_id);
    o += (size_t)snprintf(buf + o, sizeof buf - o, ",sig=");
    o = put_quoted(buf, o, sizeof buf, a.sig);
    if (a.destination[0]) {
        o += (size_t)snprintf(buf + o, sizeof buf - o, ",destination=");
        o = put_quoted(buf, o, sizeof buf, a.destination);
    }
    hs_xmatrix_auth b;
    if (hs_xmatrix_parse(buf, o, &b, &err) != 0 || memcmp(&a, &b, sizeof a) != 0) abort();
    static const uint8_t pk[32] = {1};
    hs_xmatrix_verify(&a, "GET", "/x", "dest.example", NULL, pk, &err);
    return 0;
}
