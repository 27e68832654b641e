/* hs_sync_token: strict parsing — every field is digits only, no spaces, at most 18
 * digits so it fits int64_t — because tokens come from clients. Only the events field
 * of a pagination token may carry a sign. */
#include "server-core/hs_sync_token.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int parse_field(const char **p, int64_t *out, bool signed_ok)
{
    int64_t v = 0;
    int digits = 0;
    bool negative = signed_ok && **p == '-';
    if (negative) (*p)++;
    while (**p >= '0' && **p <= '9') {
        if (++digits > 18) return -1;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    if (digits == 0 || (negative && v == 0)) return -1;
    *out = negative ? -v : v;
    return 0;
}

static int parse(const char *token, hs_sync_pos *pos, bool signed_events)
{
    memset(pos, 0, sizeof *pos);
    if (!token || token[0] != 's') return -1;
    int64_t *fields[] = {&pos->events,       &pos->account_data, &pos->receipts, &pos->to_device,
                         &pos->device_lists, &pos->typing,       &pos->presence};
    const size_t n = sizeof fields / sizeof fields[0];
    const char *p = token + 1;
    for (size_t i = 0; i < n; i++) {
        if (parse_field(&p, fields[i], signed_events && i == 0) != 0) goto bad;
        if (*p == 0) {
            if (i == 0 || i == n - 1) return 0;
            goto bad;
        }
        if (*p != '_' || i == n - 1) goto bad;
        p++;
    }
bad:
    memset(pos, 0, sizeof *pos);
    return -1;
}

int hs_sync_token_parse(const char *token, hs_sync_pos *pos)
{
    return parse(token, pos, false);
}

int hs_sync_token_parse_paging(const char *token, hs_sync_pos *pos)
{
    return parse(token, pos, true);
}

void hs_sync_token_format(const hs_sync_pos *pos, char out[HS_SYNC_TOKEN_MAX])
{
    snprintf(out, HS_SYNC_TOKEN_MAX, "s%" PRId64 "_%" PRId64 "_%" PRId64 "_%" PRId64 "_%" PRId64 "_%" PRId64 "_%" PRId64,
             pos->events, pos->account_data, pos->receipts, pos->to_device, pos->device_lists, pos->typing,
             pos->presence);
}
