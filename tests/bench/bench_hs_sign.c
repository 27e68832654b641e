/* Benchmark: ed25519 signature verifications per second over real events, and events per
 * second through the full check (format validation + content hash + event ID +
 * every signature) over all recorded Synapse fixture events. Release build (make bench). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server-core/hs_canonical_json.h"
#include "server-core/hs_event_id.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_signing.h"

#define FIX PG_SOURCE_DIR "/tests/fixtures/synapse/"

typedef struct {
    json_t *pdu;
    const hs_room_version *rv;
} event;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t load_events(event *out, size_t max)
{
    static const char *const files[] = {FIX "room-1-v10.jsonl", FIX "room-2-v9.jsonl", FIX "room-3-v6.jsonl"};
    size_t n = 0;
    for (int f = 0; f < 3; f++) {
        FILE *fp = fopen(files[f], "r");
        if (!fp) {
            fprintf(stderr, "cannot open %s\n", files[f]);
            exit(1);
        }
        char line[1 << 17];
        while (n < max && fgets(line, sizeof line, fp)) {
            hs_err err;
            json_t *doc = hs_cjson_parse(line, strlen(line), sizeof line, 0, &err);
            if (!doc) {
                fprintf(stderr, "%s: %s\n", files[f], err.msg);
                exit(1);
            }
            if (json_is_true(json_object_get(doc, "crafted"))) { /* deliberately bad hash */
                json_decref(doc);
                continue;
            }
            out[n].rv = hs_room_version_get(json_string_value(json_object_get(doc, "room_version")));
            out[n].pdu = json_incref(json_object_get(doc, "pdu"));
            json_decref(doc);
            n++;
        }
        fclose(fp);
    }
    return n;
}

static void load_keys(hs_keyring *kr)
{
    static const char *const files[] = {FIX "keys-localhost_8448.json", FIX "keys-localhost_8449.json"};
    for (int i = 0; i < 2; i++) {
        json_error_t je;
        json_t *doc = json_load_file(files[i], 0, &je);
        hs_err err;
        if (!doc || hs_keyring_add_server_keys(kr, doc, &err) < 0) {
            fprintf(stderr, "%s: cannot load keys\n", files[i]);
            exit(1);
        }
        json_decref(doc);
    }
}

/* The full inbound check of one event; returns 0 if everything passes. */
static int full_check(const event *e, const hs_keyring *kr)
{
    hs_err err;
    if (hs_pdu_validate(e->pdu, e->rv, &err) < 0) return -1;
    if (hs_event_check_content_hash(e->pdu, &err) < 0) return -1;
    char *id = hs_event_id_compute(e->pdu, e->rv, &err);
    if (!id) return -1;
    free(id);
    const char *server, *kid;
    json_t *per, *sig;
    json_object_foreach(json_object_get(e->pdu, "signatures"), server, per) {
        json_object_foreach(per, kid, sig) {
            const hs_verify_key *k = hs_keyring_find(kr, server, kid);
            if (!k || hs_event_verify_signature(e->pdu, e->rv, server, kid, k->public_key, &err) < 0) return -1;
        }
    }
    return 0;
}

int main(void)
{
    static event events[512];
    size_t n = load_events(events, 512);
    hs_keyring kr;
    hs_keyring_init(&kr);
    load_keys(&kr);

    /* 1. signature verifications per second (event-level: redact + encode + ed25519) */
    const hs_verify_key *a = hs_keyring_find(&kr, "localhost:8448", "ed25519:a_uRaI");
    size_t verifies = 0;
    double t0 = now_s(), t;
    do {
        for (size_t i = 0; i < n; i++) {
            hs_err err;
            if (json_object_get(json_object_get(events[i].pdu, "signatures"), "localhost:8448") == NULL) continue;
            if (hs_event_verify_signature(events[i].pdu, events[i].rv, "localhost:8448", a->key_id, a->public_key,
                                          &err) < 0) {
                fprintf(stderr, "verify failed: %s\n", err.msg);
                return 1;
            }
            verifies++;
        }
    } while ((t = now_s() - t0) < 2.0);
    printf("hs_sign: %.0f event signature verifications/s (%zu in %.2fs)\n", verifies / t, verifies, t);

    /* 2. events per second through the full check */
    size_t checked = 0;
    t0 = now_s();
    do {
        for (size_t i = 0; i < n; i++) {
            if (full_check(&events[i], &kr) < 0) {
                fprintf(stderr, "full check failed on event %zu\n", i);
                return 1;
            }
            checked++;
        }
    } while ((t = now_s() - t0) < 2.0);
    printf("hs_sign: %.0f events/s through full check (validate + hash + event ID + signatures; %zu fixture events, "
           "%zu checks in %.2fs)\n",
           checked / t, n, checked, t);

    for (size_t i = 0; i < n; i++) json_decref(events[i].pdu);
    hs_keyring_free(&kr);
    return 0;
}
