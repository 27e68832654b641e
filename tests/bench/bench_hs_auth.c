/* bench_hs_auth: authorization checks per second over the recorded Synapse rooms
 * (209 events, v6/v9/v10): (a) each event against its own auth_events (selection checks,
 * map build, rules), (b) each event against its prebuilt state_before map (the rules only,
 * as state resolution's iterative auth checks use them). Every check must allow. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server-core/hs_auth.h"

#define FIX PG_SOURCE_DIR "/tests/fixtures/synapse/"
#define MAX_EVENTS 512
#define ROUNDS 200

typedef struct item {
    const hs_room_version *rv;
    json_t *pdu;
    hs_auth_entry auth[16];
    size_t n_auth;
    hs_auth_map *before;
} item;

static json_t *load_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    json_t *arr = json_array();
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) json_array_append_new(arr, json_loads(line, JSON_ALLOW_NUL, NULL));
    free(line);
    fclose(f);
    return arr;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void)
{
    static const char *const rooms[] = {"room-1-v10", "room-2-v9", "room-3-v6"};
    static item items[MAX_EVENTS];
    json_t *keep = json_array();
    size_t n = 0;
    for (size_t r = 0; r < 3; r++) {
        char path[512];
        snprintf(path, sizeof path, FIX "%s.jsonl", rooms[r]);
        json_t *lines = load_lines(path), *idx = json_object();
        snprintf(path, sizeof path, FIX "%s.state-at.jsonl", rooms[r]);
        json_t *at = load_lines(path), *at_idx = json_object();
        json_array_append(keep, lines);
        size_t i;
        json_t *l;
        json_array_foreach(lines, i, l) json_object_set(idx, json_string_value(json_object_get(l, "event_id")), l);
        json_array_foreach(at, i, l) json_object_set(at_idx, json_string_value(json_object_get(l, "event_id")), l);
        json_array_foreach(lines, i, l) {
            if (n == MAX_EVENTS) break;
            item *it = &items[n];
            it->rv = hs_room_version_get(json_string_value(json_object_get(l, "room_version")));
            it->pdu = json_object_get(l, "pdu");
            size_t j;
            json_t *id;
            json_array_foreach(json_object_get(it->pdu, "auth_events"), j, id) {
                const json_t *a = json_object_get(idx, json_string_value(id));
                if (a && it->n_auth < 16)
                    it->auth[it->n_auth++] = (hs_auth_entry){json_object_get(a, "pdu"), json_string_value(id)};
            }
            const json_t *s = json_object_get(at_idx, json_string_value(json_object_get(l, "event_id")));
            if (!s) { /* outliers have no state_before */
                *it = (item){0};
                continue;
            }
            it->before = hs_auth_map_new();
            const char *k;
            json_object_foreach(json_object_get(s, "state_before"), k, id) {
                const json_t *e = json_object_get(idx, json_string_value(id));
                if (e) hs_auth_map_put(it->before, json_object_get(e, "pdu"), json_string_value(id));
            }
            n++;
        }
        json_decref(at_idx);
        json_decref(at);
        json_decref(idx);
        json_decref(lines);
    }

    size_t checks = 0, denied = 0;
    double t0 = now_s();
    for (int round = 0; round < ROUNDS; round++)
        for (size_t i = 0; i < n; i++, checks++)
            denied += hs_auth_check_with_auth_events(items[i].rv, items[i].pdu, items[i].auth, items[i].n_auth, NULL,
                                                     NULL) != HS_AUTH_OK;
    double t1 = now_s();
    printf("hs_auth against auth_events:  %zu checks in %.3f s = %.0f checks/s (%zu denied)\n", checks, t1 - t0,
           checks / (t1 - t0), denied);

    size_t checks2 = 0, denied2 = 0;
    t0 = now_s();
    for (int round = 0; round < ROUNDS; round++)
        for (size_t i = 0; i < n; i++, checks2++) {
            hs_auth_state st = hs_auth_map_state(items[i].before);
            denied2 += hs_auth_allowed(items[i].rv, items[i].pdu, &st, NULL) != HS_AUTH_OK;
        }
    t1 = now_s();
    printf("hs_auth against state_before: %zu checks in %.3f s = %.0f checks/s (%zu denied)\n", checks2, t1 - t0,
           checks2 / (t1 - t0), denied2);

    for (size_t i = 0; i < n; i++) hs_auth_map_free(items[i].before);
    json_decref(keep);
    return denied || denied2 ? 1 : 0;
}
