/* hs_cmd_event: the `pinegate event` tools. Input is a bare PDU or a fixture line
 * {"event_id", "room_version", "pdu"} (the format of tests/fixtures/synapse/room-*.jsonl);
 * the room version comes from --room-version or the fixture line. `check` reports every
 * step on stdout ("ok" or "FAIL: reason") and exits 0 only if all pass; signatures are
 * verified for every (server, key) found in the --keys files (key server responses,
 * whose self-signatures are verified first), and every server that must sign the event
 * has to have a signature present. */
#include "server-core/hs_cmd_event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_cmd_json.h"
#include "server-core/hs_event_id.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_redact.h"
#include "server-core/hs_signing.h"

/* Fixture lines carry Synapse's unsigned block and a wrapper; a PDU itself is <= 64 KiB. */
#define INPUT_MAX_BYTES (1u << 20)

static const struct subcommand {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} subcommands[] = {
    {"check", "verify event ID, content hash, signatures and format of a PDU", hs_cmd_event_check},
    {"redact", "print the redacted form of a PDU as canonical JSON", hs_cmd_event_redact},
    {"auth", "check a PDU against the authorization rules and a state file", hs_cmd_event_auth},
};

#define N_SUBCOMMANDS (sizeof subcommands / sizeof subcommands[0])

static void usage(FILE *out)
{
    fprintf(out, "usage: pinegate event <subcommand> [options] < pdu.json\n\nsubcommands:\n");
    for (size_t i = 0; i < N_SUBCOMMANDS; i++) fprintf(out, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
}

int pg_cmd_event(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < N_SUBCOMMANDS; i++)
        if (strcmp(argv[1], subcommands[i].name) == 0) return subcommands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "pinegate event: unknown subcommand '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}

/* ---- shared input handling ------------------------------------------------------ */

typedef struct {
    json_t *doc;                   /* what was read; owns everything below */
    json_t *pdu;                   /* borrowed from doc */
    const char *expected_event_id; /* from a fixture line, or NULL */
    const hs_room_version *rv;
} event_input;

/* Reads stdin into `in`. Returns 0, or 1 after printing the reason. */
static int read_event(const char *cmd, const char *version_arg, event_input *in)
{
    memset(in, 0, sizeof *in);
    hs_err err = {{0}};
    size_t len;
    char *buf = hs_cmd_read_all(stdin, INPUT_MAX_BYTES, &len, &err);
    /* Parse laxly about integer range: the room version decides, in validation. */
    in->doc = buf ? hs_cjson_parse(buf, len, INPUT_MAX_BYTES, HS_CJSON_LAX_INTS, &err) : NULL;
    free(buf);
    if (!in->doc) {
        fprintf(stderr, "pinegate event %s: %s\n", cmd, err.msg);
        return 1;
    }
    json_t *wrapped = json_object_get(in->doc, "pdu");
    in->pdu = json_is_object(wrapped) ? wrapped : in->doc;
    if (wrapped) in->expected_event_id = json_string_value(json_object_get(in->doc, "event_id"));
    const char *ver = version_arg ? version_arg : json_string_value(json_object_get(in->doc, "room_version"));
    if (!ver) {
        fprintf(stderr, "pinegate event %s: room version unknown: pass --room-version\n", cmd);
        json_decref(in->doc);
        return 1;
    }
    in->rv = hs_room_version_get(ver);
    if (!in->rv) {
        fprintf(stderr, "pinegate event %s: unsupported room version '%s'\n", cmd, ver);
        json_decref(in->doc);
        return 1;
    }
    return 0;
}

static int load_keys(hs_keyring *kr, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "pinegate event check: cannot open keys file %s\n", path);
        return -1;
    }
    hs_err err = {{0}};
    size_t len;
    char *buf = hs_cmd_read_all(f, INPUT_MAX_BYTES, &len, &err);
    fclose(f);
    json_t *doc = buf ? hs_cjson_parse(buf, len, INPUT_MAX_BYTES, HS_CJSON_ANY, &err) : NULL;
    free(buf);
    if (!doc) {
        fprintf(stderr, "pinegate event check: %s: %s\n", path, err.msg);
        return -1;
    }
    /* A single key server response, an array of them, or a notary {"server_keys": [...]}. */
    json_t *list = json_is_array(doc) ? doc : json_object_get(doc, "server_keys");
    int rc = 0;
    if (json_is_array(list)) {
        size_t i;
        json_t *one;
        json_array_foreach(list, i, one) if (rc == 0) rc = hs_keyring_add_server_keys(kr, one, &err);
    } else {
        rc = hs_keyring_add_server_keys(kr, doc, &err);
    }
    json_decref(doc);
    if (rc < 0) fprintf(stderr, "pinegate event check: %s: %s\n", path, err.msg);
    return rc;
}

/* ---- check ---------------------------------------------------------------------- */

static int step(int ok, const char *what, const char *reason)
{
    if (ok)
        printf("%s: ok\n", what);
    else
        printf("%s: FAIL: %s\n", what, reason);
    return ok ? 0 : 1;
}

static int check_signatures(const json_t *pdu, const hs_room_version *rv, const hs_keyring *kr)
{
    int failures = 0;
    char what[300];
    hs_err err = {{0}};
    const char *server, *kid;
    json_t *per, *sig;
    json_object_foreach(json_object_get(pdu, "signatures"), server, per) {
        json_object_foreach(per, kid, sig) {
            snprintf(what, sizeof what, "signature %.120s %.120s", server, kid);
            const hs_verify_key *k = hs_keyring_find(kr, server, kid);
            if (!k) {
                printf("%s: skipped (no key given)\n", what);
                continue;
            }
            int rc = hs_event_verify_signature(pdu, rv, server, kid, k->public_key, &err);
            failures += step(rc == 0, what, err.msg);
        }
    }
    const char *signers[4];
    int n = hs_event_required_signers(pdu, rv, signers, 4, &err);
    if (n < 0) return failures + step(0, "required signers", err.msg);
    for (int i = 0; i < n; i++) {
        snprintf(what, sizeof what, "signed by %.200s", signers[i]);
        json_t *mine = json_object_get(json_object_get(pdu, "signatures"), signers[i]);
        failures += step(json_object_size(mine) > 0, what, "no signature from this server, which must sign the event");
    }
    return failures;
}

static void check_usage(FILE *out)
{
    fprintf(out, "usage: pinegate event check [--room-version V] [--keys KEYS.json ...] < pdu.json\n"
                 "  Input: a PDU, or a fixture line {\"event_id\",\"room_version\",\"pdu\"}.\n"
                 "  Prints the computed event ID, then checks the format, the expected event ID\n"
                 "  (fixture lines), the content hash, and every signature for which a key was\n"
                 "  given (--keys: key server responses, self-signatures verified). Exit 0 only\n"
                 "  if every check passes; each failure prints its reason.\n");
}

int hs_cmd_event_check(int argc, char **argv)
{
    const char *version = NULL;
    hs_keyring kr;
    hs_keyring_init(&kr);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            check_usage(stdout);
            hs_keyring_free(&kr);
            return 0;
        } else if (strcmp(argv[i], "--room-version") == 0 && i + 1 < argc) {
            version = argv[++i];
        } else if (strcmp(argv[i], "--keys") == 0 && i + 1 < argc) {
            if (load_keys(&kr, argv[++i]) < 0) {
                hs_keyring_free(&kr);
                return 1;
            }
        } else {
            fprintf(stderr, "pinegate event check: unknown or incomplete option '%s'\n", argv[i]);
            check_usage(stderr);
            hs_keyring_free(&kr);
            return 2;
        }
    }
    event_input in;
    if (read_event("check", version, &in) != 0) {
        hs_keyring_free(&kr);
        return 1;
    }
    int failures = 0;
    hs_err err = {{0}};
    char *id = hs_event_id_compute(in.pdu, in.rv, &err);
    if (id)
        printf("event_id: %s\n", id);
    else
        failures += step(0, "event_id", err.msg);
    printf("room_version: %s\n", in.rv->id);

    failures += step(hs_pdu_validate(in.pdu, in.rv, &err) == 0, "format", err.msg);
    if (id && in.expected_event_id) {
        char reason[400];
        snprintf(reason, sizeof reason, "computed %.100s but the input says %.200s", id, in.expected_event_id);
        failures += step(strcmp(id, in.expected_event_id) == 0, "event_id matches", reason);
    }
    failures += step(hs_event_check_content_hash(in.pdu, &err) == 0, "content hash", err.msg);
    failures += check_signatures(in.pdu, in.rv, &kr);

    printf("result: %s\n", failures ? "FAIL" : "ok");
    if (failures) fprintf(stderr, "pinegate event check: %d check%s failed\n", failures, failures == 1 ? "" : "s");
    free(id);
    json_decref(in.doc);
    hs_keyring_free(&kr);
    return failures ? 1 : 0;
}

/* ---- redact --------------------------------------------------------------------- */

int hs_cmd_event_redact(int argc, char **argv)
{
    const char *version = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: pinegate event redact [--room-version V] < pdu.json\n"
                   "  Prints the event as the redaction algorithm of room version V leaves it,\n"
                   "  as canonical JSON (a fixture line's room_version is used if V is not given).\n");
            return 0;
        } else if (strcmp(argv[i], "--room-version") == 0 && i + 1 < argc) {
            version = argv[++i];
        } else {
            fprintf(stderr, "pinegate event redact: unknown or incomplete option '%s'\n", argv[i]);
            return 2;
        }
    }
    event_input in;
    if (read_event("redact", version, &in) != 0) return 1;
    hs_err err = {{0}};
    json_t *red = hs_redact(in.pdu, in.rv);
    size_t len;
    char *out = red ? hs_cjson_encode(red, in.rv->strict_canonical_json ? 0 : HS_CJSON_LAX_INTS, &len, &err) : NULL;
    json_decref(red);
    json_decref(in.doc);
    if (!out) {
        fprintf(stderr, "pinegate event redact: %s\n", red ? err.msg : "input is not a JSON object");
        return 1;
    }
    fwrite(out, 1, len, stdout);
    fputc('\n', stdout);
    free(out);
    return 0;
}
