/* hs_cmd_state: `pinegate state`, state resolution and room replay as commands.
 *
 *   pinegate state resolve --room-version V < input.json
 *       input: {"state_sets": [{"type|state_key": event_id, ...}, ...], "events": [...]}
 *       where each event is a bare PDU (its ID computed for V) or a fixture line
 *       {"event_id", "room_version", "pdu"}. Prints the resolved state map.
 *   pinegate state replay [--room-version V] < events.jsonl
 *       one event per line, same two shapes, any order. Prints the room's current state
 *       map; with --events, one line per event in processing order instead
 *       ({event_id, rejected, soft_failed, reason}) followed by the state.
 *
 * Output is JSON with sorted keys. Exit 0 on success, 1 when resolution or replay fails
 * (an unknown or missing event, a cycle; the reason goes to stderr), 2 on usage or input
 * errors. Limits: 64 MiB of input, 1 MiB per event line, 200000 events, 64 state sets. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_event_id.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_replay.h"
#include "server-core/hs_stateres.h"

#define MAX_INPUT_BYTES (64u << 20)
#define MAX_LINE_BYTES (1u << 20)
#define MAX_EVENTS 200000
#define MAX_STATE_SETS 64

int pg_cmd_state(int argc, char **argv);

static void usage(FILE *out)
{
    fprintf(out,
            "usage: pinegate state resolve --room-version V < input.json\n"
            "       pinegate state replay [--room-version V] [--events] < events.jsonl\n"
            "  resolve: input {\"state_sets\":[{\"type|state_key\": event_id}...], \"events\":[pdu...]};\n"
            "           prints the resolved state map.\n"
            "  replay:  one PDU (or {event_id, room_version, pdu}) per line, any order; prints the\n"
            "           room's current state map {\"type|state_key\": event_id}. --events also lists\n"
            "           every event with its rejected/soft_failed verdict, in processing order.\n"
            "  Events without an event_id get one computed for the room version.\n"
            "  Exit 0 ok, 1 resolution/replay failed (e.g. a missing event), 2 bad usage or input.\n");
}

/* Unwraps one event document into (pdu, id). Returns the PDU (new reference) and a
 * malloc'd ID, or NULL with the reason in err. *version_out gets a fixture line's
 * room_version (borrowed from doc) when present. */
static json_t *unwrap_event(json_t *doc, const hs_room_version *rv, char **id_out, const char **version_out, hs_err *err)
{
    *id_out = NULL;
    if (!json_is_object(doc)) return hs_err_set(err, "an event is not a JSON object"), NULL;
    json_t *pdu = json_object_get(doc, "pdu");
    const char *given = json_string_value(json_object_get(doc, "event_id"));
    if (version_out) *version_out = json_string_value(json_object_get(doc, "room_version"));
    if (!json_is_object(pdu)) {
        pdu = doc;
        given = NULL;
    }
    if (!rv) return hs_err_set(err, "no room version (use --room-version)"), NULL;
    *id_out = given ? strdup(given) : hs_event_id_compute(pdu, rv, err);
    if (!*id_out) return NULL;
    return json_incref(pdu);
}

static const json_t *pool_get(void *ctx, const char *id, bool *rejected)
{
    *rejected = false;
    return json_object_get(ctx, id);
}

static char *read_all(FILE *in, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, in);
        n += got;
        if (n > MAX_INPUT_BYTES) {
            free(buf);
            return NULL;
        }
        if (got == 0) break;
        if (n == cap) {
            char *bigger = realloc(buf, cap * 2 + 1);
            if (!bigger) {
                free(buf);
                return NULL;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    if (buf) buf[n] = '\0';
    *len = n;
    return buf;
}

static void print_json(json_t *v)
{
    char *s = json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT);
    if (s) puts(s);
    free(s);
}

/* One "type|state_key" -> id object as a state map, checked against the events: the key
 * must be exactly the event's type, '|', state_key. Returns NULL with err. */
static hs_state_map *state_set_from_json(const json_t *obj, size_t index, const json_t *pool, hs_err *err)
{
    if (!json_is_object(obj)) return hs_err_set(err, "state_sets[%zu] is not an object", index), NULL;
    hs_state_map *m = hs_state_map_new();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        const char *id = json_string_value(v);
        const json_t *pdu = id ? json_object_get(pool, id) : NULL;
        const char *type = pdu ? hs_pdu_type(pdu) : NULL, *sk = pdu ? hs_pdu_state_key(pdu) : NULL;
        if (!id || !pdu) {
            hs_err_set(err, "state_sets[%zu][\"%.80s\"]: event %.80s is not among the events", index, k, id ? id : "(not a string)");
            goto fail;
        }
        size_t tl = type ? strlen(type) : 0;
        if (!type || !sk || strncmp(k, type, tl) != 0 || k[tl] != '|' || strcmp(k + tl + 1, sk) != 0) {
            hs_err_set(err, "state_sets[%zu]: key \"%.80s\" does not match event %.80s's type and state_key", index, k, id);
            goto fail;
        }
        if (hs_state_map_set(m, type, sk, id) != 0) {
            hs_err_set(err, "out of memory");
            goto fail;
        }
    }
    return m;
fail:
    hs_state_map_free(m);
    return NULL;
}

static int cmd_resolve(const hs_room_version *rv)
{
    size_t len;
    char *buf = read_all(stdin, &len);
    if (!buf) {
        fprintf(stderr, "pinegate state resolve: input over %u bytes or unreadable\n", MAX_INPUT_BYTES);
        return 2;
    }
    json_error_t je;
    json_t *doc = json_loadb(buf, len, JSON_ALLOW_NUL, &je);
    free(buf);
    json_t *sets_json = json_object_get(doc, "state_sets"), *events = json_object_get(doc, "events");
    if (!json_is_array(sets_json) || !json_is_array(events)) {
        fprintf(stderr, "pinegate state resolve: %s\n",
                doc ? "input needs arrays \"state_sets\" and \"events\"" : je.text);
        json_decref(doc);
        return 2;
    }
    if (json_array_size(sets_json) > MAX_STATE_SETS || json_array_size(events) > MAX_EVENTS) {
        fprintf(stderr, "pinegate state resolve: over %d state sets or %d events\n", MAX_STATE_SETS, MAX_EVENTS);
        json_decref(doc);
        return 2;
    }
    json_t *pool = json_object();
    hs_err err = {{0}};
    size_t i, n_sets = json_array_size(sets_json);
    const hs_state_map **sets = calloc(n_sets + 1, sizeof *sets);
    int rc = 2;
    json_t *e;
    json_array_foreach(events, i, e) {
        char *id;
        json_t *pdu = unwrap_event(e, rv, &id, NULL, &err);
        if (!pdu) {
            fprintf(stderr, "pinegate state resolve: events[%zu]: %s\n", i, err.msg);
            goto done;
        }
        json_object_set_new(pool, id, pdu);
        free(id);
    }
    for (i = 0; i < n_sets; i++)
        if (!(sets[i] = state_set_from_json(json_array_get(sets_json, i), i, pool, &err))) {
            fprintf(stderr, "pinegate state resolve: %s\n", err.msg);
            goto done;
        }
    hs_event_lookup lk = {pool_get, pool};
    hs_state_map *out = NULL;
    if (hs_stateres_resolve(rv, sets, n_sets, &lk, &out, &err) != 0) {
        fprintf(stderr, "pinegate state resolve: %s\n", err.msg);
        rc = 1;
        goto done;
    }
    json_t *j = hs_state_map_to_json(out);
    print_json(j);
    json_decref(j);
    hs_state_map_free(out);
    rc = 0;
done:
    for (i = 0; i < n_sets; i++) hs_state_map_free((hs_state_map *)sets[i]);
    free(sets);
    json_decref(pool);
    json_decref(doc);
    return rc;
}

/* Reads the replay input; returns the parsed lines (a JSON array) or NULL after printing. */
static json_t *read_lines(void)
{
    json_t *lines = json_array();
    char *line = NULL;
    size_t cap = 0, lineno = 0, total = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        total += (size_t)n;
        if ((size_t)n > MAX_LINE_BYTES || json_array_size(lines) >= MAX_EVENTS || total > MAX_INPUT_BYTES) {
            fprintf(stderr, "pinegate state replay: line %zu: over the input limits\n", lineno);
            goto fail;
        }
        if (strspn(line, " \t\r\n") == (size_t)n) continue;
        json_error_t je;
        json_t *v = json_loadb(line, (size_t)n, JSON_ALLOW_NUL, &je);
        if (!json_is_object(v)) {
            fprintf(stderr, "pinegate state replay: line %zu: %s\n", lineno, v ? "not a JSON object" : je.text);
            json_decref(v);
            goto fail;
        }
        json_array_append_new(lines, v);
    }
    free(line);
    return lines;
fail:
    free(line);
    json_decref(lines);
    return NULL;
}

static int cmd_replay(const hs_room_version *rv, bool list_events)
{
    json_t *lines = read_lines();
    if (!lines) return 2;
    if (!rv) rv = hs_room_version_get(json_string_value(json_object_get(json_array_get(lines, 0), "room_version")));
    if (!rv) {
        fprintf(stderr, "pinegate state replay: no room version (use --room-version)\n");
        json_decref(lines);
        return 2;
    }
    hs_replay *r = hs_replay_new(rv);
    hs_err err = {{0}};
    int rc = 2;
    size_t i;
    json_t *l;
    json_array_foreach(lines, i, l) {
        char *id;
        json_t *pdu = unwrap_event(l, rv, &id, NULL, &err);
        int added = pdu ? hs_replay_add(r, id, pdu, &err) : -1;
        json_decref(pdu);
        free(id);
        if (added != 0) {
            fprintf(stderr, "pinegate state replay: event %zu: %s\n", i + 1, err.msg);
            goto done;
        }
    }
    if (hs_replay_run(r, &err) != 0) {
        fprintf(stderr, "pinegate state replay: %s\n", err.msg);
        rc = 1;
        goto done;
    }
    for (size_t k = 0; list_events && k < hs_replay_count(r); k++) {
        hs_replay_info info;
        hs_replay_get(r, hs_replay_order(r, k), &info);
        json_t *o = json_pack("{ss sb sb ss}", "event_id", info.event_id, "rejected", info.rejected, "soft_failed",
                              info.soft_failed, "reason", info.reason);
        print_json(o);
        json_decref(o);
    }
    json_t *j = hs_state_map_to_json(hs_replay_current_state(r));
    print_json(j);
    json_decref(j);
    rc = 0;
done:
    hs_replay_free(r);
    json_decref(lines);
    return rc;
}

int pg_cmd_state(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1], *version = NULL;
    bool list_events = false;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--room-version") == 0 && i + 1 < argc) {
            version = argv[++i];
        } else if (strcmp(argv[i], "--events") == 0 && strcmp(sub, "replay") == 0) {
            list_events = true;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "pinegate state: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    const hs_room_version *rv = version ? hs_room_version_get(version) : NULL;
    if (version && !rv) {
        fprintf(stderr, "pinegate state: unknown room version '%s'\n", version);
        return 2;
    }
    if (strcmp(sub, "resolve") == 0) {
        if (!rv) {
            fprintf(stderr, "pinegate state resolve: --room-version is required\n");
            return 2;
        }
        return cmd_resolve(rv);
    }
    if (strcmp(sub, "replay") == 0) return cmd_replay(rv, list_events);
    fprintf(stderr, "pinegate state: unknown subcommand '%s'\n", sub);
    usage(stderr);
    return 2;
}
