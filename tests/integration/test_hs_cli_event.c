/* `pinegate event check|redact` and `pinegate json canonical` as a user runs them: real
 * process, fixture input on stdin, exit status and printed reasons. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/pgt.h"

#define FIX PG_SOURCE_DIR "/tests/fixtures/synapse/"
#define KEYS "--keys " FIX "keys-localhost_8448.json --keys " FIX "keys-localhost_8449.json"

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

/* Writes `input` to a file, runs `pinegate <args> < file`, returns the exit status and
 * the captured stdout+stderr in *out (malloc'd). */
static int run(const char *args, const char *input, char **out)
{
    char full[4096];
    snprintf(full, sizeof full, "%s%s", "", args);
    int rc = pgt_pinegate_stdin(full, input, out);
    cr_assert(rc >= 0, "pinegate did not exit normally: %s", full);
    return rc;
}

/* Line `n` (1-based) of a fixture file, malloc'd, without the newline. */
static char *fixture_line(const char *file, int n)
{
    char *all = pgt_slurp(file);
    char *p = all;
    for (int i = 1; i < n; i++) p = strchr(p, '\n') + 1;
    char *end = strchr(p, '\n');
    if (end) *end = '\0';
    char *line = strdup(p);
    free(all);
    return line;
}

Test(hs_cli_event, check_fixture_event_passes, .init = setup, .fini = teardown)
{
    char *line = fixture_line(FIX "room-1-v10.jsonl", 12); /* "message alice 1" */
    char *out;
    int rc = run("event check " KEYS, line, &out);
    cr_expect_eq(rc, 0, "output:\n%s", out);
    cr_expect_not_null(strstr(out, "event_id: $jyk0YGgru4HWEzWGO-eSEwx0AVqAH6qziQaSQhrTV2k"), "%s", out);
    cr_expect_not_null(strstr(out, "signature localhost:8448 ed25519:a_uRaI: ok"), "%s", out);
    cr_expect_not_null(strstr(out, "result: ok"), "%s", out);
    free(out);
    free(line);
}

Test(hs_cli_event, check_bare_pdu_with_room_version, .init = setup, .fini = teardown)
{
    char *line = fixture_line(FIX "room-3-v6.jsonl", 1);
    json_t *doc = json_loads(line, 0, NULL);
    cr_assert_not_null(doc);
    char *pdu = json_dumps(json_object_get(doc, "pdu"), JSON_INDENT(2));
    json_decref(doc);
    char *out;
    cr_expect_eq(run("event check --room-version 6 " KEYS, pdu, &out), 0, "%s", out);
    free(out);
    cr_expect_eq(run("event check " KEYS, pdu, &out), 1);
    cr_expect_not_null(strstr(out, "room version unknown"), "%s", out);
    free(out);
    free(pdu);
    free(line);
}

Test(hs_cli_event, check_tampered_event_fails_with_reason, .init = setup, .fini = teardown)
{
    char *line = fixture_line(FIX "room-1-v10.jsonl", 12);
    char *body = strstr(line, "\"body\": \"");
    cr_assert_not_null(body);
    body[9] ^= 1; /* flip a bit in the message text */
    char *out;
    cr_expect_eq(run("event check " KEYS, line, &out), 1);
    cr_expect_not_null(strstr(out, "content hash: FAIL: content hash mismatch"), "%s", out);
    cr_expect_not_null(strstr(out, "result: FAIL"), "%s", out);
    free(out);
    free(line);

    /* a wrong origin_server_ts changes the event ID and breaks the signature */
    line = fixture_line(FIX "room-1-v10.jsonl", 12);
    char *ts = strstr(line, "\"origin_server_ts\": 17");
    cr_assert_not_null(ts);
    ts[21] = ts[21] == '9' ? '8' : '9';
    cr_expect_eq(run("event check " KEYS, line, &out), 1);
    cr_expect_not_null(strstr(out, "event_id matches: FAIL"), "%s", out);
    cr_expect_not_null(strstr(out, "does not verify"), "%s", out);
    free(out);
    free(line);
}

Test(hs_cli_event, check_rejects_forged_key_file, .init = setup, .fini = teardown)
{
    char *keys = pgt_slurp(FIX "keys-localhost_8448.json");
    char *v = strstr(keys, "1795547742018");
    cr_assert_not_null(v);
    v[0] = '2';
    char path[512];
    snprintf(path, sizeof path, "%s/forged.json", dir);
    FILE *f = fopen(path, "wb");
    fputs(keys, f);
    fclose(f);
    free(keys);
    char args[1024], *out;
    snprintf(args, sizeof args, "event check --keys '%s'", path);
    cr_expect_eq(run(args, "{}", &out), 1);
    cr_expect_not_null(strstr(out, "self-signature"), "%s", out);
    free(out);
}

Test(hs_cli_event, redact_matches_synapse, .init = setup, .fini = teardown)
{
    /* the topic event alice redacted: Synapse serves it with content {} */
    char *out;
    char *line = NULL;
    for (int n = 1; n < 80 && !line; n++) {
        char *l = fixture_line(FIX "room-1-v10.jsonl", n);
        if (strstr(l, "\"pdu_served\"") && strstr(l, "\"type\": \"m.room.topic\""))
            line = l;
        else
            free(l);
    }
    cr_assert_not_null(line);
    cr_expect_eq(run("event redact", line, &out), 0, "%s", out);
    cr_expect_not_null(strstr(out, "\"content\":{},"), "%s", out);
    cr_expect_not_null(strstr(out, "\"type\":\"m.room.topic\""), "%s", out);
    cr_expect_null(strstr(out, "unsigned"), "%s", out);
    cr_expect_null(strstr(out, " "), "canonical output has no spaces: %s", out);
    free(out);
    free(line);

    cr_expect_eq(run("event redact --room-version 99", "{}", &out), 1);
    cr_expect_not_null(strstr(out, "unsupported room version '99'"), "%s", out);
    free(out);
}

Test(hs_cli_event, json_canonical, .init = setup, .fini = teardown)
{
    char *out;
    cr_expect_eq(run("json canonical", "{ \"b\": \"\\u0007\", \"a\": [1, {\"z\": null, \"y\": true}] }", &out), 0);
    cr_expect_str_eq(out, "{\"a\":[1,{\"y\":true,\"z\":null}],\"b\":\"\\u0007\"}\n");
    free(out);
    cr_expect_eq(run("json canonical", "{\"a\": 1.5}", &out), 1);
    cr_expect_not_null(strstr(out, "floats are not allowed"), "%s", out);
    free(out);
    cr_expect_eq(run("json canonical", "{\"a\": 1, \"a\": 2}", &out), 1);
    cr_expect_not_null(strstr(out, "duplicate key"), "%s", out);
    free(out);
    cr_expect_eq(run("json canonical --max-bytes 4", "{\"a\": 1}", &out), 1);
    cr_expect_not_null(strstr(out, "over the 4 byte limit"), "%s", out);
    free(out);
}
