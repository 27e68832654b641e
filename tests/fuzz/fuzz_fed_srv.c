/* fuzz_fed_srv: the DNS SRV answer parser never crashes or reads outside the message,
 * returns at most the capacity it was given, and every record it returns has a
 * non-empty target without a trailing dot. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "federation-side/fed_srv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fed_srv_record recs[4];
    hs_err err;
    int n = fed_srv_parse(data, size, recs, 4, &err);
    if (n > 4) abort();
    for (int i = 0; i < n; i++) {
        size_t l = strlen(recs[i].target);
        if (l == 0 || recs[i].target[l - 1] == '.') abort();
        if (i > 0 && recs[i - 1].priority > recs[i].priority) abort();
    }
    return 0;
}
