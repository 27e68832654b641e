/* `pinegate event auth` as a user runs it: a real process, a fixture PDU on stdin, a state
 * file built from the recorded Synapse room, and the printed verdict and exit status. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/pgt.h"

#define FIX PG_SOURCE_DIR "/tests/fixtures/synapse/"

static char *dir;

static void setup(void)
{
    dir = pgt_tmpdir();
    cr_assert_not_null(dir);
}

static void teardown(void)
{
    pgt_rmtree(dir);
    free(dir);
}

/* Runs `pinegate event auth <args> < input`; returns the exit status, output in *out. */
static int run(const char *args, const char *input, char **out)
{
    char full[4096];
    snprintf(full, sizeof full, "%s%s", "event auth ", args);
    int rc = pgt_pinegate_stdin(full, input, out);
    cr_assert(rc >= 0, "pinegate did not exit normally: %s", full);
    return rc;
}

/* The fixture line (serialised) of the event whose first label starts with `label`, from
 * a .jsonl file; `key` picks the field matched ("labels" or "label"). */
static char *find_line(const char *file, const char *key, const char *label)
{
    FILE *f = fopen(file, "r");
    cr_assert_not_null(f, "%s", file);
    char *line = NULL, *found = NULL;
    size_t cap = 0;
    while (!found && getline(&line, &cap, f) > 0) {
        json_t *v = json_loads(line, JSON_ALLOW_NUL, NULL);
        json_t *l = json_object_get(v, key);
        const char *s = json_is_array(l) ? json_string_value(json_array_get(l, 0)) : json_string_value(l);
        if (s && strncmp(s, label, strlen(label)) == 0) found = strdup(line);
        json_decref(v);
    }
    free(line);
    fclose(f);
    cr_assert_not_null(found, "%s: no line labelled %s", file, label);
    return found;
}

/* Writes a STATE.jsonl of the fixture lines named by a "type|state_key" -> event_id map. */
static void write_state(const char *path, const char *room_file, const json_t *ids)
{
    json_t *idx = json_object();
    FILE *in = fopen(room_file, "r"), *out = fopen(path, "w");
    cr_assert(in && out);
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, in) > 0) {
        json_t *v = json_loads(line, JSON_ALLOW_NUL, NULL);
        json_object_set_new(idx, json_string_value(json_object_get(v, "event_id")), json_string(line));
        json_decref(v);
    }
    const char *k;
    json_t *id;
    json_object_foreach((json_t *)ids, k, id) {
        const char *l = json_string_value(json_object_get(idx, json_string_value(id)));
        cr_assert_not_null(l, "%s", json_string_value(id));
        fputs(l, out);
    }
    free(line);
    fclose(in);
    fclose(out);
    json_decref(idx);
}

TestSuite(hs_auth_cli, .init = setup, .fini = teardown);

Test(hs_auth_cli, ban_allowed_against_its_state_before)
{
    char *ev = find_line(FIX "room-1-v10.jsonl", "labels", "ban dave");
    json_t *evj = json_loads(ev, 0, NULL);
    char *at = NULL;
    FILE *f = fopen(FIX "room-1-v10.state-at.jsonl", "r");
    size_t cap = 0;
    json_t *before = NULL;
    while (!before && getline(&at, &cap, f) > 0) {
        json_t *v = json_loads(at, 0, NULL);
        if (strcmp(json_string_value(json_object_get(v, "event_id")), json_string_value(json_object_get(evj, "event_id"))) == 0)
            before = json_incref(json_object_get(v, "state_before"));
        json_decref(v);
    }
    fclose(f);
    free(at);
    cr_assert_not_null(before);
    char state[512], args[700], *out;
    snprintf(state, sizeof state, "%s/state.jsonl", dir);
    write_state(state, FIX "room-1-v10.jsonl", before);
    snprintf(args, sizeof args, "--room-version 10 --state '%s'", state);

    /* the fixture line as input, then the bare PDU */
    cr_expect_eq(run(args, ev, &out), 0, "%s", out);
    cr_expect_str_eq(out, "allow\n");
    free(out);
    char *pdu = json_dumps(json_object_get(evj, "pdu"), 0);
    cr_expect_eq(run(args, pdu, &out), 0, "%s", out);
    free(out);

    /* carol (50) may ban too; eve, who is not in the room, may not */
    json_object_set_new(json_object_get(evj, "pdu"), "sender", json_string("@eve:localhost:8449"));
    free(pdu);
    pdu = json_dumps(json_object_get(evj, "pdu"), 0);
    cr_expect_eq(run(args, pdu, &out), 1, "%s", out);
    cr_expect(strstr(out, "deny: m.room.member ban: sender is not joined (rule 4.6.1)") == out, "%s", out);
    free(out);
    free(pdu);
    json_decref(before);
    json_decref(evj);
    free(ev);
}

Test(hs_auth_cli, crafted_events_against_current_state)
{
    json_error_t e;
    json_t *cur = json_load_file(FIX "room-1-v10.state.json", 0, &e);
    cr_assert_not_null(cur, "%s", e.text);
    char state[512], args[700], *out;
    snprintf(state, sizeof state, "%s/current.jsonl", dir);
    write_state(state, FIX "room-1-v10.jsonl", cur);
    snprintf(args, sizeof args, "--room-version 10 --state '%s'", state);

    char *r1 = find_line(FIX "room-1-v10.crafted.jsonl", "label", "R1 ");
    json_t *r1j = json_loads(r1, 0, NULL);
    char *pdu = json_dumps(json_object_get(r1j, "pdu_sent"), 0);
    cr_expect_eq(run(args, pdu, &out), 1, "%s", out);
    cr_expect(strstr(out, "deny: sender is not joined to the room (rule 5)") == out, "%s", out);
    free(out);
    /* the same message from alice is allowed */
    json_object_set_new(json_object_get(r1j, "pdu_sent"), "sender", json_string("@alice:localhost:8448"));
    free(pdu);
    pdu = json_dumps(json_object_get(r1j, "pdu_sent"), 0);
    cr_expect_eq(run(args, pdu, &out), 0, "%s", out);
    free(out);
    free(pdu);
    json_decref(r1j);
    free(r1);
    json_decref(cur);
}

Test(hs_auth_cli, auth_events_mode_selection_rules)
{
    static const struct {
        const char *label, *expect;
    } cases[] = {
        {"R4 ", "deny: m.room.member join: sender does not match state_key"},
        {"R6 ", "deny: auth_events: no m.room.create event"},
        {"R11 ", "deny: auth_events: entry not allowed by the auth events selection"},
        {"R12 ", "deny: auth_events: duplicate entries"},
        {"R9 ", "deny: m.room.power_levels: users is not an object of user IDs to integers (rule 9.3)"},
    };
    char args[700], *out;
    snprintf(args, sizeof args, "--room-version 10 --state '%s' --auth-events", FIX "room-1-v10.jsonl");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *l = find_line(FIX "room-1-v10.crafted.jsonl", "label", cases[i].label);
        json_t *j = json_loads(l, 0, NULL);
        char *pdu = json_dumps(json_object_get(j, "pdu_sent"), 0);
        cr_expect_eq(run(args, pdu, &out), 1, "%s: %s", cases[i].label, out);
        cr_expect(strncmp(out, cases[i].expect, strlen(cases[i].expect)) == 0, "%s: %s", cases[i].label, out);
        free(out);
        free(pdu);
        json_decref(j);
        free(l);
    }
    char *ok = find_line(FIX "room-1-v10.jsonl", "labels", "dave joins via restricted rule");
    cr_expect_eq(run(args, ok, &out), 0, "%s", out);
    cr_expect_str_eq(out, "allow\n");
    free(out);
    free(ok);
}

Test(hs_auth_cli, usage_and_input_errors_exit_2)
{
    char *out;
    cr_expect_eq(run("--room-version 10", "{}", &out), 2);
    free(out);
    cr_expect_eq(run("--room-version 99 --state /dev/null", "{}", &out), 2);
    free(out);
    cr_expect_eq(run("--room-version 10 --state /dev/null", "{\"type\":", &out), 2);
    free(out);
    cr_expect_eq(run("--room-version 10 --state /nonexistent/state.jsonl", "{}", &out), 2);
    free(out);
    cr_expect_eq(run("--help", "", &out), 0);
    cr_expect(strstr(out, "usage: pinegate event auth") != NULL, "%s", out);
    free(out);
}
