/* fuzz_hs_fed_public_rooms: another server's /publicRooms answer as hs_fed_public_rooms_parse
 * sees it. Whatever comes in, the parser returns a list or a reason; a list it returns
 * holds at most HS_FED_PUBLIC_ROOMS_MAX_CHUNK entries with the spec's required fields
 * typed, and is a fixed point: parsing its own serialization again drops nothing and
 * gives the same list. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_fed_public_rooms.h"

static void check_entry(const json_t *e)
{
    if (!json_is_string(json_object_get(e, "room_id"))) abort();
    json_t *n = json_object_get(e, "num_joined_members");
    if (!json_is_integer(n) || json_integer_value(n) < 0) abort();
    if (!json_is_boolean(json_object_get(e, "world_readable"))) abort();
    if (!json_is_boolean(json_object_get(e, "guest_can_join"))) abort();
    if (json_object_size(e) > 10) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hs_err err;
    size_t dropped;
    json_t *out = hs_fed_public_rooms_parse((const char *)data, size, &dropped, &err);
    if (!out) {
        if (!err.msg[0]) abort();
        return 0;
    }
    json_t *chunk = json_object_get(out, "chunk");
    if (!json_is_array(chunk) || json_array_size(chunk) > HS_FED_PUBLIC_ROOMS_MAX_CHUNK) abort();
    size_t i;
    json_t *e;
    json_array_foreach(chunk, i, e) check_entry(e);
    char *again = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
    if (!again) abort();
    size_t dropped2;
    json_t *out2 = hs_fed_public_rooms_parse(again, strlen(again), &dropped2, &err);
    if (!out2 || dropped2 != 0 || !json_equal(out, out2)) abort();
    json_decref(out2);
    free(again);
    json_decref(out);
    return 0;
}
