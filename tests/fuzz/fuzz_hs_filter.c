/* fuzz_hs_filter: any bytes into the filter parser. It must never crash; an accepted
 * filter must answer every matching question without crashing, stay accepted when
 * re-parsed from its own serialisation, and match the same way afterwards. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_filter.h"

static const char *const types[] = {"m.room.message", "m.room.member", "m.typing", "", "m.*"};
static const char *const users[] = {"@a:s", "@b:s", ""};
static const char *const rooms[] = {"!r:s", "!x:s"};

/* A fingerprint of how `f` answers a fixed set of questions. */
static uint64_t answers(const hs_filter *f)
{
    const hs_event_filter *efs[] = {&f->presence, &f->account_data, &f->timeline, &f->state, &f->ephemeral,
                                    &f->room_account_data};
    json_t *content = json_pack("{ss}", "url", "mxc://s/m");
    uint64_t bits = 0;
    int n = 0;
    for (size_t e = 0; e < 6; e++)
        for (size_t t = 0; t < 5; t++)
            for (size_t u = 0; u < 3; u++) {
                bool ok = hs_filter_event_allowed(efs[e], types[t], users[u], rooms[u % 2], (u & 1) ? content : NULL);
                bits ^= (uint64_t)ok << (n++ % 64);
            }
    for (size_t r = 0; r < 2; r++) bits ^= (uint64_t)hs_filter_room_allowed(f, rooms[r]) << (60 + r);
    bits += (uint64_t)hs_filter_limit(&f->timeline, 10, 1000);
    json_decref(content);
    return bits;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hs_filter f;
    char err[256];
    if (hs_filter_parse((const char *)data, size, &f, err, sizeof err) != 0) {
        if (!err[0] || f.root) abort();
        return 0;
    }
    uint64_t a = answers(&f);
    char *text = json_dumps(f.root, JSON_COMPACT);
    if (!text) abort();
    hs_filter g;
    if (strlen(text) <= HS_FILTER_MAX_BYTES) {
        if (hs_filter_parse(text, strlen(text), &g, err, sizeof err) != 0) abort();
        if (answers(&g) != a) abort();
        hs_filter_clear(&g);
    }
    for (size_t i = 0; i < size && i < 64; i++) {
        char pat[65];
        memcpy(pat, data, i);
        pat[i] = 0;
        if (memchr(pat, 0, i)) break;
        (void)hs_filter_type_matches(pat, "m.room.message");
    }
    free(text);
    hs_filter_clear(&f);
    return 0;
}
