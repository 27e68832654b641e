/* `pinegate state replay|resolve` as a user runs them: real processes, the recorded Synapse
 * rooms on stdin, and the printed state compared with what Synapse computed. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/pgt.h"

#define FIX PG_SOURCE_DIR "/tests/fixtures/synapse/"

static const char *const rooms[] = {"room-1-v10", "room-2-v9", "room-3-v6"};
static const char *const versions[] = {"10", "9", "6"};

static int run(const char *args, const char *input, char **out)
{
    int rc = pgt_pinegate_stdin(args, input, out);
    cr_assert(rc >= 0, "pinegate did not exit normally: %s", args);
    return rc;
}

static char *room_text(const char *room, const char *suffix)
{
    char path[512];
    snprintf(path, sizeof path, FIX "%s%s", room, suffix);
    char *s = pgt_slurp(path);
    cr_assert_not_null(s, "%s", path);
    return s;
}

/* The last line of the output parsed as JSON. */
static json_t *last_json(const char *out)
{
    const char *end = out + strlen(out);
    while (end > out && end[-1] == '\n') end--;
    const char *start = end;
    while (start > out && start[-1] != '\n') start--;
    json_t *v = json_loadb(start, (size_t)(end - start), 0, NULL);
    cr_assert_not_null(v, "output is not JSON: %s", out);
    return v;
}

Test(hs_cli_state, replay_reproduces_synapse_current_state)
{
    for (int r = 0; r < 3; r++) {
        char *in = room_text(rooms[r], ".jsonl"), *want_text = room_text(rooms[r], ".state.json"), *out = NULL, args[128];
        snprintf(args, sizeof args, "state replay --room-version %s", versions[r]);
        cr_assert_eq(run(args, in, &out), 0, "%s", out);
        json_t *got = last_json(out), *want = json_loads(want_text, 0, NULL);
        cr_expect(json_equal(got, want), "%s: replayed state differs from state.json", rooms[r]);
        json_decref(got);
        json_decref(want);
        free(out);
        free(want_text);
        free(in);
    }
}

Test(hs_cli_state, replay_lists_two_soft_failures)
{
    char *in = room_text("room-3-v6", ".jsonl"), *out = NULL;
    cr_assert_eq(run("state replay --room-version 6 --events", in, &out), 0, "%s", out);
    int soft = 0, rejected = 0;
    for (const char *p = out; (p = strstr(p, "\"soft_failed\":true")); p++) soft++;
    for (const char *p = out; (p = strstr(p, "\"rejected\":true")); p++) rejected++;
    cr_expect_eq(soft, 2, "%s", out);
    cr_expect_eq(rejected, 0);
    free(out);
    free(in);
}

Test(hs_cli_state, replay_missing_event_fails_with_reason)
{
    char *in = room_text("room-2-v9", ".jsonl"), *out = NULL;
    /* drop the first line (the create event) */
    char *rest = strchr(in, '\n') + 1;
    cr_expect_eq(run("state replay --room-version 9", rest, &out), 1, "%s", out);
    cr_expect(strstr(out, "references missing") != NULL && strstr(out, "$DGrW17O7Nf_Ug-lZpHGz0xB4mNqIJTNLDur4-bIqs1Q"),
              "%s", out);
    free(out);
    free(in);
}

/* resolve: the states after the two branch tips of the split, and the room's events as
 * bare PDUs (IDs computed by pinegate), resolve to Synapse's state before the merge. */
Test(hs_cli_state, resolve_merge_of_split_branches)
{
    char *lines = room_text("room-3-v6", ".jsonl"), *at = room_text("room-3-v6", ".state-at.jsonl");
    json_t *events = json_array(), *sets = json_array(), *merge = NULL, *after = json_object();
    char *save = NULL;
    for (char *l = strtok_r(lines, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        json_t *v = json_loads(l, JSON_ALLOW_NUL, NULL);
        json_array_append(events, json_object_get(v, "pdu"));
        json_decref(v);
    }
    for (char *l = strtok_r(at, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        json_t *v = json_loads(l, 0, NULL);
        json_object_set(after, json_string_value(json_object_get(v, "event_id")), json_object_get(v, "state_after"));
        if (json_is_true(json_object_get(v, "merge"))) merge = json_incref(v);
        json_decref(v);
    }
    cr_assert_not_null(merge);
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(merge, "prev_events"), i, p)
        json_array_append(sets, json_object_get(after, json_string_value(p)));
    json_t *input = json_pack("{sOsO}", "state_sets", sets, "events", events);
    char *text = json_dumps(input, 0), *out = NULL;
    cr_assert_eq(run("state resolve --room-version 6", text, &out), 0, "%s", out);
    json_t *got = last_json(out);
    cr_expect(json_equal(got, json_object_get(merge, "state_before")), "resolved state differs from Synapse's");
    json_decref(got);
    free(out);
    free(text);
    json_decref(input);
    json_decref(merge);
    json_decref(after);
    json_decref(sets);
    json_decref(events);
    free(lines);
    free(at);
}

Test(hs_cli_state, resolve_input_errors)
{
    char *out = NULL;
    cr_expect_eq(run("state resolve < /dev/null", "", &out), 2, "%s", out);
    cr_expect(strstr(out, "--room-version") != NULL, "%s", out);
    free(out);
    cr_expect_eq(run("state resolve --room-version 10", "{\"state_sets\":[{\"m.room.name|\":\"$x\"}],\"events\":[]}", &out), 2);
    cr_expect(strstr(out, "$x") != NULL && strstr(out, "not among the events") != NULL, "%s", out);
    free(out);
    cr_expect_eq(run("state resolve --room-version 10", "[1,2", &out), 2);
    free(out);
    cr_expect_eq(run("state resolve --room-version 1", "{\"state_sets\":[{},{\"m.room.name|\":\"$y\"}],\"events\":[]}", &out), 2);
    cr_expect(strstr(out, "$y") != NULL && strstr(out, "not among the events") != NULL, "v1 checks its input: %s", out);
    free(out);
    cr_expect_eq(run("state resolve --room-version 99", "{\"state_sets\":[{},{}],\"events\":[]}", &out), 2);
    cr_expect(strstr(out, "99") != NULL, "an unknown room version is named: %s", out);
    free(out);
    cr_expect_eq(run("state frobnicate", "", &out), 2);
    free(out);
    cr_expect_eq(run("state --help", "", &out), 0);
    cr_expect(strstr(out, "state replay") != NULL);
    free(out);
}
