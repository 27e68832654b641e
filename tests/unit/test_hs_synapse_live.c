/* Our parsers and checkers over what a real Synapse 1.160 sent on loopback
 * (tests/fixtures/synapse-live, recorded by hand; its README says how): Synapse's key
 * server response validates; its send_join (v2) answers for rooms of versions 10, 11 and
 * 12 pass our full join check (format, signatures with the recorded keys, hashes, auth of
 * every event) and give the room's state, with the v12 create event, which has no
 * room_id, accepted as the room's own. The key cache of a real hs_server is filled from
 * the recorded key documents only, so nothing here reaches the network. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_canonical_json.h"
#include "server-core/hs_event_id.h"
#include "server-core/hs_fed_rooms.h"
#include "server-core/hs_keys.h"
#include "server-core/hs_room_version.h"
#include "server-core/hs_state_map.h"
#include "server-core/hs_store_federation.h"
#include "support/pgt.h"
#include "support/pgt_hs.h"

#define LIVE PG_SOURCE_DIR "/tests/fixtures/synapse-live/"
#define SYNAPSE "localhost:18448"
#define PINEGATE "localhost:28448"

static pgt_hs hs;

static json_t *load(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, LIVE "%s", name);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    cr_assert_not_null(j, "%s: %s", path, je.text);
    return j;
}

/* Validates a recorded key document (its valid_until_ts is not enforced: it was
 * recorded days ago) and puts its keys into the server's key cache. */
static void cache_keys(const char *file, const char *server)
{
    json_t *doc = load(file);
    hs_keys_doc kd;
    hs_err err = {{0}};
    cr_assert_eq(hs_keys_validate(doc, server, 0, &kd, &err), 0, "%s: %s", file, err.msg);
    const char *ids[HS_KEYS_MAX_KEYS];
    hs_store_fed_key rows[HS_KEYS_MAX_KEYS];
    for (size_t i = 0; i < kd.n_keys; i++) {
        ids[i] = kd.keys[i].key_id;
        memset(&rows[i], 0, sizeof rows[i]);
        snprintf(rows[i].key_b64, sizeof rows[i].key_b64, "%s", kd.keys[i].key_b64);
        rows[i].valid_until_ts = kd.valid_until_ts;
        rows[i].expired_ts = kd.keys[i].expired_ts;
    }
    char *text = hs_cjson_encode(doc, 0, NULL, &err);
    cr_assert_not_null(text);
    cr_assert_eq(hs_store_fed_keys_put(hs.srv.store, kd.server_name, text, kd.valid_until_ts, ids, rows, kd.n_keys,
                                       kd.valid_until_ts),
                 0);
    free(text);
    json_decref(doc);
}

static void setup(void)
{
    pgt_hs_start(&hs, "live.test", NULL);
    cache_keys("keys-localhost_18448.json", SYNAPSE);
    cache_keys("keys-localhost_28448.json", PINEGATE);
}

static void teardown(void) { pgt_hs_stop(&hs); }

TestSuite(hs_synapse_live, .init = setup, .fini = teardown, .timeout = 60);

Test(hs_synapse_live, key_documents_validate)
{
    json_t *doc = load("keys-localhost_18448.json");
    hs_keys_doc kd;
    hs_err err = {{0}};
    cr_assert_eq(hs_keys_validate(doc, SYNAPSE, 0, &kd, &err), 0, "%s", err.msg);
    cr_assert_eq(kd.n_keys, 1);
    cr_assert_str_eq(kd.keys[0].key_id, "ed25519:a_xzBF");
    /* The same bytes claimed for another server, or tampered, are refused. */
    cr_assert_neq(hs_keys_validate(doc, PINEGATE, 0, &kd, &err), 0);
    json_object_set_new(doc, "valid_until_ts", json_integer(json_integer_value(json_object_get(doc, "valid_until_ts")) + 1));
    cr_assert_neq(hs_keys_validate(doc, SYNAPSE, 0, &kd, &err), 0);
    json_decref(doc);
}

/* send_join's answer for `file`: the whole check passes and the state is the 8 events
 * Synapse listed, the create event of the recorded version among them. */
static void check_send_join(const char *file)
{
    json_t *fx = load(file);
    const char *room = json_string_value(json_object_get(fx, "room_id"));
    const hs_room_version *rv = hs_room_version_get(json_string_value(json_object_get(fx, "room_version")));
    cr_assert_not_null(rv);
    json_t *answer = json_object_get(fx, "response");
    json_t *state = json_object_get(answer, "state");
    hs_fed_state_set set = {0};
    char msg[512] = "";
    cr_assert_eq(hs_fed_state_validate(&hs.srv, rv, room, state, json_object_get(answer, "auth_chain"), &set, msg,
                                       sizeof msg),
                 0, "%s: %s", file, msg);
    cr_assert_eq(hs_state_map_size(set.state), json_array_size(state));
    size_t i;
    json_t *pdu;
    json_array_foreach(state, i, pdu) {
        hs_err err;
        char *id = hs_event_id_compute(pdu, rv, &err);
        cr_assert_not_null(id);
        const char *want = hs_state_map_get(set.state, json_string_value(json_object_get(pdu, "type")),
                                            json_string_value(json_object_get(pdu, "state_key")));
        cr_assert(want && strcmp(want, id) == 0, "%s: state holds %s", file, id);
        cr_assert_not_null(json_object_get(set.events, id));
        free(id);
    }
    const char *create = hs_state_map_get(set.state, "m.room.create", "");
    cr_assert_not_null(create);
    if (rv->room_id_from_create) cr_assert_str_eq(create + 1, room + 1, "a v12 room's ID is its create event's hash");
    hs_fed_state_set_clear(&set);

    /* The same answer presented for another room is refused. */
    cr_assert_neq(hs_fed_state_validate(&hs.srv, rv, rv->room_id_from_create ? "!AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                                                                         : "!other:localhost:18448",
                                        state, json_object_get(answer, "auth_chain"), &set, msg, sizeof msg),
                  0);
    json_decref(fx);
}

Test(hs_synapse_live, send_join_v10) { check_send_join("send_join-v10.json"); }
Test(hs_synapse_live, send_join_v11) { check_send_join("send_join-v11.json"); }
Test(hs_synapse_live, send_join_v12) { check_send_join("send_join-v12.json"); }

/* A state event whose signature no longer verifies makes the whole answer fail. */
Test(hs_synapse_live, send_join_forged_signature_refused)
{
    json_t *fx = load("send_join-v12.json");
    const hs_room_version *rv = hs_room_version_get("12");
    json_t *answer = json_object_get(fx, "response");
    json_t *state = json_object_get(answer, "state");
    size_t i;
    json_t *pdu;
    json_array_foreach(state, i, pdu) {
        if (strcmp(json_string_value(json_object_get(pdu, "type")), "m.room.power_levels") != 0) continue;
        json_t *sigs = json_object_get(json_object_get(pdu, "signatures"), SYNAPSE);
        const char *kid;
        json_t *s;
        json_object_foreach(sigs, kid, s) {
            char *forged = strdup(json_string_value(s));
            forged[3] = forged[3] == 'A' ? 'B' : 'A';
            json_object_set_new(sigs, kid, json_string(forged));
            free(forged);
        }
    }
    hs_fed_state_set set = {0};
    char msg[512] = "";
    cr_assert_neq(hs_fed_state_validate(&hs.srv, rv, json_string_value(json_object_get(fx, "room_id")), state,
                                        json_object_get(answer, "auth_chain"), &set, msg, sizeof msg),
                  0);
    json_decref(fx);
}
