/* hs_cmd_event_auth: `pinegate event auth`, the authorization rules as a command.
 *
 *   pinegate event auth --room-version V --state STATE.jsonl [--auth-events] < pdu.json
 *
 * STATE.jsonl holds one event per line, either a bare PDU or a fixture line
 * {"event_id", "room_version", "pdu"}. By default those events form the state map (by type
 * and state_key; a later line replaces an earlier one) and the PDU is checked against it.
 * With --auth-events they are a pool looked up by event ID: the PDU's own auth_events are
 * resolved from it and checked as the auth events (selection rules included).
 * The PDU on stdin may also be a fixture line. Event IDs missing from bare PDUs are
 * computed for the room version (hs_event_id).
 *
 * Prints "allow" (exit 0) or "deny: <rule>" (exit 1); input and usage errors exit 2.
 * Input limits: 1 MiB per line or document, 200000 state lines. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_auth.h"
#include "server-core/hs_cmd_event.h"
#include "server-core/hs_event_id.h"

#define MAX_DOC_BYTES (1u << 20)
#define MAX_STATE_LINES 200000

static void usage(FILE *out)
{
    fprintf(out, "usage: pinegate event auth --room-version V --state STATE.jsonl [--auth-events] < pdu.json\n"
                 "  Checks the PDU on stdin against the Matrix authorization rules of room version V.\n"
                 "  STATE.jsonl: one PDU (or {event_id, room_version, pdu} line) per line; the state map\n"
                 "  is built from their (type, state_key). With --auth-events the lines are a pool and\n"
                 "  the PDU is checked against its own auth_events, looked up there by event ID.\n"
                 "  Prints \"allow\" (exit 0) or \"deny: <rule>\" (exit 1); exit 2 on bad input.\n");
}

/* Parses one document; unwraps a fixture line. Returns a new reference to the PDU and
 * sets *id_out to a malloc'd event ID (given or computed; NULL if neither works). */
static json_t *parse_event(const char *buf, size_t len, const hs_room_version *rv, char **id_out,
                           char *err, size_t errlen)
{
    json_error_t je;
    json_t *doc = json_loadb(buf, len, JSON_ALLOW_NUL, &je);
    *id_out = NULL;
    if (!json_is_object(doc)) {
        snprintf(err, errlen, "%s", doc ? "not a JSON object" : je.text);
        json_decref(doc);
        return NULL;
    }
    json_t *pdu = json_object_get(doc, "pdu");
    const char *given = json_string_value(json_object_get(doc, "event_id"));
    if (json_is_object(pdu)) {
        json_incref(pdu);
    } else {
        pdu = json_incref(doc);
        given = NULL;
    }
    *id_out = given ? strdup(given) : hs_event_id_compute(pdu, rv, NULL);
    json_decref(doc);
    return pdu;
}

static char *read_stdin(size_t *len)
{
    char *buf = malloc(MAX_DOC_BYTES + 1);
    if (!buf) return NULL;
    *len = fread(buf, 1, MAX_DOC_BYTES + 1, stdin);
    if (*len > MAX_DOC_BYTES) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Loads STATE into `map` (state mode) or `pool` (event ID -> PDU, --auth-events mode).
 * Returns 0, or -1 after printing the reason. */
static int load_state(const char *path, const hs_room_version *rv, hs_auth_map *map, json_t *pool)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "pinegate event auth: cannot open %s\n", path);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t n;
    int rc = 0;
    while (rc == 0 && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (lineno > MAX_STATE_LINES || (size_t)n > MAX_DOC_BYTES) {
            fprintf(stderr, "pinegate event auth: %s:%zu: over the input limit\n", path, lineno);
            rc = -1;
            break;
        }
        if (strspn(line, " \t\r\n") == (size_t)n) continue;
        char err[200], *id;
        json_t *pdu = parse_event(line, (size_t)n, rv, &id, err, sizeof err);
        if (!pdu) {
            fprintf(stderr, "pinegate event auth: %s:%zu: %s\n", path, lineno, err);
            rc = -1;
        } else if (pool) {
            if (id) json_object_set(pool, id, pdu);
        } else if (hs_auth_map_put(map, pdu, id) != 0) {
            fprintf(stderr, "pinegate event auth: %s:%zu: not a state event\n", path, lineno);
            rc = -1;
        }
        json_decref(pdu);
        free(id);
    }
    free(line);
    fclose(f);
    return rc;
}

/* --auth-events mode: resolves the PDU's auth_events from the pool. */
static hs_auth_rule check_against_pool(const hs_room_version *rv, const json_t *pdu, json_t *pool,
                                       hs_auth_result *res, int *input_error)
{
    size_t n = json_array_size(json_object_get(pdu, "auth_events"));
    hs_auth_entry *auth = calloc(n ? n : 1, sizeof *auth);
    hs_auth_entry create = {0};
    char cid[512];
    if (!auth) return HS_AUTH_MALFORMED;
    size_t i;
    json_t *id;
    json_array_foreach(json_object_get(pdu, "auth_events"), i, id) {
        const char *s = json_string_value(id);
        auth[i] = (hs_auth_entry){s ? json_object_get(pool, s) : NULL, s};
        if (!auth[i].pdu) {
            fprintf(stderr, "pinegate event auth: auth event %s not in the state file\n", s ? s : "(not a string)");
            *input_error = 1;
            free(auth);
            return HS_AUTH_MALFORMED;
        }
    }
    if (rv->room_id_from_create) {
        const char *room = json_string_value(json_object_get(pdu, "room_id"));
        if (room && room[0] == '!' && strlen(room) < sizeof cid) {
            snprintf(cid, sizeof cid, "$%s", room + 1);
            create = (hs_auth_entry){json_object_get(pool, cid), cid};
        }
    }
    hs_auth_rule r = hs_auth_check_with_auth_events(rv, pdu, auth, n, create.pdu ? &create : NULL, res);
    free(auth);
    return r;
}

int hs_cmd_event_auth(int argc, char **argv)
{
    const char *version = NULL, *state_path = NULL;
    bool auth_events_mode = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--room-version") == 0 && i + 1 < argc) {
            version = argv[++i];
        } else if (strcmp(argv[i], "--state") == 0 && i + 1 < argc) {
            state_path = argv[++i];
        } else if (strcmp(argv[i], "--auth-events") == 0) {
            auth_events_mode = true;
        } else {
            fprintf(stderr, "pinegate event auth: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!version || !state_path) {
        usage(stderr);
        return 2;
    }
    const hs_room_version *rv = hs_room_version_get(version);
    if (!rv) {
        fprintf(stderr, "pinegate event auth: unknown room version '%s'\n", version);
        return 2;
    }

    size_t len;
    char *buf = read_stdin(&len);
    if (!buf) {
        fprintf(stderr, "pinegate event auth: stdin is over %u bytes\n", MAX_DOC_BYTES);
        return 2;
    }
    char err[200], *id;
    json_t *pdu = parse_event(buf, len, rv, &id, err, sizeof err);
    free(buf);
    free(id);
    if (!pdu) {
        fprintf(stderr, "pinegate event auth: stdin: %s\n", err);
        return 2;
    }

    hs_auth_map *map = hs_auth_map_new();
    json_t *pool = auth_events_mode ? json_object() : NULL;
    int status = 2;
    if (map && (!auth_events_mode || pool) && load_state(state_path, rv, map, pool) == 0) {
        hs_auth_result res;
        int input_error = 0;
        hs_auth_rule r;
        if (auth_events_mode) {
            r = check_against_pool(rv, pdu, pool, &res, &input_error);
        } else {
            hs_auth_state st = hs_auth_map_state(map);
            r = hs_auth_allowed(rv, pdu, &st, &res);
        }
        if (input_error) {
            status = 2;
        } else if (r == HS_AUTH_OK) {
            printf("allow\n");
            status = 0;
        } else {
            printf("deny: %s\n", res.msg);
            status = 1;
        }
    }
    json_decref(pool);
    hs_auth_map_free(map);
    json_decref(pdu);
    return status;
}
