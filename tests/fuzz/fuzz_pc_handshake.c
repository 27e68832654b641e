/* libFuzzer target: the 104-byte Pinecone handshake check. Any input must be accepted
 * or refused with an error code; an accepted one must carry version 1 and caps 0x3B. */
#include <stdint.h>
#include <stdlib.h>

#include "pinecone/pc_handshake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t key[PC_KEY_LEN];
    if (pc_handshake_decode(data, size, key) == PC_OK && (data[0] != 1 || data[7] != 0x3b))
        abort();
    return 0;
}
