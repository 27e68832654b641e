/* Fuzz target: the manhole listener's HTTP request-head classifier must return one of
 * its enum values for any bytes, never read past len, and be monotone in one respect:
 * a head it accepts stays accepted when more bytes follow. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "pinecone/pc_manhole.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pc_manhole_req r = pc_manhole_parse_request((const char *)data, size);
    if (r > PC_MANHOLE_REQ_TOO_LARGE)
        abort();
    if (r == PC_MANHOLE_REQ_OK && size > 0 &&
        pc_manhole_parse_request((const char *)data, size - 1) == PC_MANHOLE_REQ_OK &&
        pc_manhole_parse_request((const char *)data, size) != PC_MANHOLE_REQ_OK)
        abort();
    return 0;
}
