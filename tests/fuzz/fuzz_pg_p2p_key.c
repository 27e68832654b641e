/* Fuzz target: the P2P identity key file parser on arbitrary bytes. It must return 0 or
 * -1 with a message, never crash; an accepted file re-encodes to the same seed. */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pg_p2p_key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t seed[PG_P2P_SEED_LEN], again[PG_P2P_SEED_LEN];
    char err[256] = "";
    if (pg_p2p_key_parse((const char *)data, size, seed, err, sizeof err) == 0) {
        char hex[2 * PG_P2P_SEED_LEN + 1];
        sodium_bin2hex(hex, sizeof hex, seed, sizeof seed);
        if (pg_p2p_key_parse(hex, strlen(hex), again, err, sizeof err) != 0 || memcmp(seed, again, sizeof seed) != 0)
            abort();
    } else if (err[0] == '\0') {
        abort();
    }
    return 0;
}
