/* Helpers for the hs_stateres / hs_replay tests: loading the Synapse fixture rooms into a
 * replay, comparing state maps with the fixtures' {"type|state_key": id} objects and
 * describing the differences. Header-only (static functions), no build rule needed. */
#ifndef TEST_HS_STATERES_UTIL_H
#define TEST_HS_STATERES_UTIL_H

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_replay.h"
#include "server-core/hs_room_version.h"
#include "support/pgt.h"

#define SR_FIX PG_SOURCE_DIR "/tests/fixtures/synapse/"

static const char *const sr_rooms[] = {"room-1-v10", "room-2-v9", "room-3-v6"};
#define SR_N_ROOMS 3

static inline json_t *sr_load_lines(const char *path)
{
    char err[512];
    json_t *arr = pgt_load_jsonl(path, err, sizeof err);
    cr_assert_not_null(arr, "%s", err);
    return arr;
}

static inline json_t *sr_load_room(const char *room, const char *suffix)
{
    char path[512];
    snprintf(path, sizeof path, SR_FIX "%s%s", room, suffix);
    if (strstr(suffix, ".jsonl")) return sr_load_lines(path);
    json_error_t e;
    json_t *v = json_load_file(path, 0, &e);
    cr_assert_not_null(v, "%s: %s", path, e.text);
    return v;
}

static inline const hs_room_version *sr_room_version(const json_t *lines)
{
    const hs_room_version *rv =
        hs_room_version_get(json_string_value(json_object_get(json_array_get(lines, 0), "room_version")));
    cr_assert_not_null(rv);
    return rv;
}

/* A replay fed with the lines in the order given by perm (NULL: file order), run. */
static inline hs_replay *sr_replay_lines(const json_t *lines, const size_t *perm)
{
    hs_replay *r = hs_replay_new(sr_room_version(lines));
    cr_assert_not_null(r);
    for (size_t k = 0; k < json_array_size(lines); k++) {
        const json_t *l = json_array_get(lines, perm ? perm[k] : k);
        hs_err err = {{0}};
        cr_assert_eq(hs_replay_add(r, json_string_value(json_object_get(l, "event_id")), json_object_get(l, "pdu"), &err),
                     0, "%s", err.msg);
    }
    hs_err err = {{0}};
    cr_assert_eq(hs_replay_run(r, &err), 0, "replay: %s", err.msg);
    return r;
}

/* Whether map equals the fixture object; on a difference writes a description into why. */
static inline bool sr_map_matches(const hs_state_map *map, const json_t *expect, char *why, size_t len)
{
    json_t *got = hs_state_map_to_json(map);
    bool eq = json_equal(got, (json_t *)expect);
    if (!eq) {
        size_t off = 0;
        const char *k;
        json_t *v;
        why[0] = '\0';
        json_object_foreach((json_t *)expect, k, v) {
            const char *g = json_string_value(json_object_get(got, k));
            if ((!g || strcmp(g, json_string_value(v)) != 0) && off < len)
                off += (size_t)snprintf(why + off, len - off, " [%s: want %.12s got %.12s]", k, json_string_value(v),
                                        g ? g : "none");
        }
        json_object_foreach(got, k, v)
            if (!json_object_get(expect, k) && off < len) off += (size_t)snprintf(why + off, len - off, " [extra %s]", k);
    }
    json_decref(got);
    return eq;
}

#endif
