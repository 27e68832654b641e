/* fuzz_sync_token: any accepted token re-formats to exactly its own text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_sync_token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256) return 0;
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = 0;
    hs_sync_pos p;
    if (hs_sync_token_parse(s, &p) == 0 && strchr(s, '_')) {
        char t[HS_SYNC_TOKEN_MAX];
        hs_sync_token_format(&p, t);
        hs_sync_pos q;
        if (hs_sync_token_parse(t, &q) != 0 || memcmp(&p, &q, sizeof p) != 0) abort();
    }
    free(s);
    return 0;
}
