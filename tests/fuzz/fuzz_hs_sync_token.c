/* fuzz_sync_token: any accepted token re-formats to a token that parses back to the
 * same positions, in both forms (a /sync token and a pagination token, whose events
 * position may be negative); whatever the strict form accepts, the paging form accepts
 * alike. */
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
    hs_sync_pos p, q;
    char t[HS_SYNC_TOKEN_MAX];
    if (hs_sync_token_parse(s, &p) == 0) {
        if (hs_sync_token_parse_paging(s, &q) != 0 || memcmp(&p, &q, sizeof p) != 0) abort();
        if (strchr(s, '_')) {
            hs_sync_token_format(&p, t);
            if (hs_sync_token_parse(t, &q) != 0 || memcmp(&p, &q, sizeof p) != 0) abort();
        }
    }
    if (hs_sync_token_parse_paging(s, &p) == 0) {
        hs_sync_token_format(&p, t);
        if (hs_sync_token_parse_paging(t, &q) != 0 || memcmp(&p, &q, sizeof p) != 0) abort();
        if ((p.events < 0) != (hs_sync_token_parse(s, &q) != 0)) abort();
    }
    free(s);
    return 0;
}
