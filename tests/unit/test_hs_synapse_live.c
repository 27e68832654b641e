/* Our parsers and checkers over what a real Synapse 1.160 sent on loopback
 * (tests/fixtures/synapse-live, recorded by hand; its README says how): Synapse's key
 * server response validates; its send_join (v2) answers for rooms of versions 10, 11 and
 * 12 pass our full join check (format, signatures with the recorded keys, hashes, auth of
 * every event) and give the room's state, with the v12 create event, which has no
 * room_id, accepted as the room's own; /state matches /state_ids; every PDU of /backfill,
 * /event_auth and of the transactions Synapse sent passes the receipt checks; each EDU
 * type passes our EDU checker (and is refused from another origin); the E2EE answers'
 * signatures verify. The key cache of a real hs_server is filled from the recorded key
 * documents only, so nothing here reaches the network. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_auth.h"
#include "server-core/hs_canonical_json.h"
#include "server-core/hs_e2ee.h"
#include "server-core/hs_event_id.h"
#include "server-core/hs_fed_edu.h"
#include "server-core/hs_fed_rooms.h"
#include "server-core/hs_keys.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_room_remote.h"
#include "server-core/hs_room_version.h"
#include "server-core/hs_state_map.h"
#include "server-core/hs_store_federation.h"
#include "support/pgt.h"
#include "support/pgt_hs.h"
#include "support/pgt_live.h"

#define LIVE PG_SOURCE_DIR "/tests/fixtures/synapse-live/"
#define SYNAPSE "localhost:18448"
#define PINEGATE "localhost:28448"

static pgt_hs hs;

static void setup(void)
{
    pgt_hs_start(&hs, "live.test", NULL);
    pgt_live_cache_keys(hs.srv.store, "keys-localhost_18448.json", SYNAPSE);
    pgt_live_cache_keys(hs.srv.store, "keys-localhost_28448.json", PINEGATE);
}

static void teardown(void) { pgt_hs_stop(&hs); }

TestSuite(hs_synapse_live, .init = setup, .fini = teardown, .timeout = 60);

Test(hs_synapse_live, key_documents_validate)
{
    json_t *doc = pgt_live_load("keys-localhost_18448.json");
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
    json_t *fx = pgt_live_load(file);
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
    json_t *fx = pgt_live_load("send_join-v12.json");
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

/* Format, event ID, both servers' signatures (checked with the cached keys) and the
 * content hash of one PDU Synapse sent; returns its event ID (caller frees). */
static char *check_pdu(const json_t *pdu, const hs_room_version *rv, const char *where)
{
    hs_room_remote rr = {NULL, hs_fed_rooms_key, &hs.srv};
    hs_err err = {{0}};
    cr_assert_eq(hs_pdu_validate(pdu, rv, &err), 0, "%s: %s", where, err.msg);
    char *id = hs_event_id_compute(pdu, rv, &err);
    cr_assert_not_null(id, "%s: %s", where, err.msg);
    cr_assert_eq(hs_room_remote_check_signatures(&rr, pdu, rv, &err), 0, "%s %s: %s", where, id, err.msg);
    bool redacted = true;
    json_t *checked = hs_room_remote_check_hash(pdu, rv, &redacted);
    cr_assert_not_null(checked);
    cr_assert_not(redacted, "%s %s: content hash", where, id);
    json_decref(checked);
    return id;
}

/* The set of event IDs of a JSON array of IDs, as an object (ID -> true). */
static json_t *id_set(const json_t *ids)
{
    json_t *set = json_object();
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v) json_object_set_new(set, json_string_value(v), json_true());
    return set;
}

/* /state and /state_ids at one event: the state with its auth chain passes our full
 * check, and holds exactly the events /state_ids names. */
static void check_state(const char *version)
{
    char file[64];
    snprintf(file, sizeof file, "state-v%s.json", version);
    json_t *fx = pgt_live_load(file);
    snprintf(file, sizeof file, "state_ids-v%s.json", version);
    json_t *ids = pgt_live_load(file);
    const char *room = json_string_value(json_object_get(fx, "room_id"));
    const hs_room_version *rv = hs_room_version_get(version);
    json_t *answer = json_object_get(fx, "response");
    hs_fed_state_set set = {0};
    char msg[512] = "";
    cr_assert_eq(hs_fed_state_validate(&hs.srv, rv, room, json_object_get(answer, "pdus"),
                                       json_object_get(answer, "auth_chain"), &set, msg, sizeof msg),
                 0, "v%s: %s", version, msg);
    json_t *want = id_set(json_object_get(json_object_get(ids, "response"), "pdu_ids"));
    cr_assert_eq(hs_state_map_size(set.state), json_object_size(want), "v%s", version);
    const char *id;
    json_t *v;
    json_object_foreach(want, id, v) cr_assert_not_null(json_object_get(set.events, id), "v%s: %s", version, id);
    /* Every event /state_ids lists in the auth chain is among the checked events. */
    json_t *chain = id_set(json_object_get(json_object_get(ids, "response"), "auth_chain_ids"));
    json_object_foreach(chain, id, v) cr_assert_not_null(json_object_get(set.events, id), "v%s: %s", version, id);
    json_decref(chain);
    json_decref(want);
    hs_fed_state_set_clear(&set);
    json_decref(ids);
    json_decref(fx);
}

Test(hs_synapse_live, state_v10) { check_state("10"); }
Test(hs_synapse_live, state_v11) { check_state("11"); }
Test(hs_synapse_live, state_v12) { check_state("12"); }

/* /backfill: every PDU passes the receipt checks; the event asked for (v=) comes first,
 * and the others are older. */
static void check_backfill(const char *version)
{
    char file[64];
    snprintf(file, sizeof file, "backfill-v%s.json", version);
    json_t *fx = pgt_live_load(file);
    const hs_room_version *rv = hs_room_version_get(version);
    const char *uri = json_string_value(json_object_get(fx, "uri"));
    const json_t *pdus = json_object_get(json_object_get(fx, "response"), "pdus");
    cr_assert_eq(json_array_size(pdus), 10, "limit=10 was asked");
    int64_t first_depth = -1;
    size_t i;
    json_t *pdu;
    json_array_foreach(pdus, i, pdu) {
        char *id = check_pdu(pdu, rv, file);
        if (i == 0) {
            char *enc = hs_fed_pct_encode(id);
            cr_assert_not_null(strstr(uri, enc), "%s: the first PDU is the one asked for", file);
            free(enc);
            first_depth = json_integer_value(json_object_get(pdu, "depth"));
        } else {
            cr_assert_lt(json_integer_value(json_object_get(pdu, "depth")), first_depth);
        }
        free(id);
    }
    json_decref(fx);
}

Test(hs_synapse_live, backfill_v10) { check_backfill("10"); }
Test(hs_synapse_live, backfill_v11) { check_backfill("11"); }
Test(hs_synapse_live, backfill_v12) { check_backfill("12"); }

/* /event_auth: every event of the chain passes the receipt checks, and the chain is
 * closed: each auth event any of them names is in it (in v12 the create event is
 * never named: the room ID stands for it). */
static void check_event_auth(const char *version)
{
    char file[64];
    snprintf(file, sizeof file, "event_auth-v%s.json", version);
    json_t *fx = pgt_live_load(file);
    const hs_room_version *rv = hs_room_version_get(version);
    const json_t *chain = json_object_get(json_object_get(fx, "response"), "auth_chain");
    cr_assert_gt(json_array_size(chain), 0);
    json_t *have = json_object();
    size_t i;
    json_t *pdu;
    json_array_foreach(chain, i, pdu) {
        char *id = check_pdu(pdu, rv, file);
        json_object_set_new(have, id, json_true());
        free(id);
    }
    json_array_foreach(chain, i, pdu) {
        for (size_t a = 0; a < hs_pdu_auth_event_count(pdu); a++)
            cr_assert_not_null(json_object_get(have, hs_pdu_auth_event(pdu, a)), "%s: %s missing", file,
                               hs_pdu_auth_event(pdu, a));
    }
    json_decref(have);
    json_decref(fx);
}

Test(hs_synapse_live, event_auth_v10) { check_event_auth("10"); }
Test(hs_synapse_live, event_auth_v11) { check_event_auth("11"); }
Test(hs_synapse_live, event_auth_v12) { check_event_auth("12"); }

/* Every PDU of every transaction Synapse sent us passes the receipt checks for its
 * room's version (the second set of rooms in the README). */
Test(hs_synapse_live, transaction_pdus)
{
    static const char *const rooms[][2] = {
        {"!tehUTCBLnweVinILmT:localhost:18448", "10"},          {"!ofErZYAvqOtfslwuvx:localhost:18448", "11"},
        {"!9i2SKlpBZmUUFewfjf0oECOYm8_poL6NqD1eFhsHI-k", "12"}, {"!MrtuYTKHpOCOALfcUs:localhost:28448", "10"},
        {"!tKACjblyxQRAvSPWQS:localhost:28448", "11"},          {"!HKuZKaw8b-71-WVK-cqVO9EWOD9BvwXQup8tTF7twTA", "12"},
    };
    char err[256];
    json_t *txns = pgt_load_jsonl(LIVE "transactions.jsonl", err, sizeof err);
    cr_assert_not_null(txns, "%s", err);
    size_t n_pdus = 0, t;
    json_t *txn;
    json_array_foreach(txns, t, txn) {
        const json_t *body = json_object_get(txn, "request");
        cr_assert_str_eq(json_string_value(json_object_get(body, "origin")), SYNAPSE);
        size_t i;
        json_t *pdu;
        json_array_foreach(json_object_get(body, "pdus"), i, pdu) {
            const char *room = json_string_value(json_object_get(pdu, "room_id"));
            const hs_room_version *rv = NULL;
            for (size_t r = 0; r < sizeof rooms / sizeof rooms[0]; r++)
                if (room && strcmp(room, rooms[r][0]) == 0) rv = hs_room_version_get(rooms[r][1]);
            cr_assert_not_null(rv, "PDU of an unknown room %s", room ? room : "(none)");
            free(check_pdu(pdu, rv, "transactions.jsonl"));
            n_pdus++;
        }
    }
    cr_assert_eq(n_pdus, 20);
    json_decref(txns);
}

/* Each EDU type Synapse sent passes our checker for origin localhost:18448, and the
 * same content claimed by another origin is refused (a server speaks only for its own
 * users). m.receipt has no separate checker, and org.matrix.signing_key_update is the
 * unstable twin Synapse also sends, which we ignore. */
Test(hs_synapse_live, edus)
{
    json_t *edus = pgt_live_load("edus.json");
    size_t i, checked = 0;
    json_t *rec;
    json_array_foreach(edus, i, rec) {
        const json_t *edu = json_object_get(rec, "edu");
        const char *type = json_string_value(json_object_get(edu, "edu_type"));
        const json_t *c = json_object_get(edu, "content");
        hs_err err = {{0}};
        const char *origins[2] = {SYNAPSE, PINEGATE};
        for (int o = 0; o < 2; o++) {
            int rc;
            if (strcmp(type, "m.presence") == 0) {
                static hs_fed_edu_presence out[HS_FED_EDU_PRESENCE_MAX];
                long n = hs_fed_edu_presence_check(c, origins[o], out, HS_FED_EDU_PRESENCE_MAX, &err);
                rc = n > 0 ? 0 : -1;
                if (o == 0) cr_assert_str_eq(out[0].user_id, "@alice:localhost:18448");
            } else if (strcmp(type, "m.typing") == 0) {
                hs_fed_edu_typing out;
                rc = hs_fed_edu_typing_check(c, origins[o], &out, &err);
                if (o == 0) cr_assert(out.typing);
            } else if (strcmp(type, "m.device_list_update") == 0) {
                hs_fed_edu_device_list out;
                rc = hs_fed_edu_device_list_check(c, origins[o], &out, &err);
                if (o == 0) cr_assert_str_eq(out.device_id, "DEValice");
            } else if (strcmp(type, "m.direct_to_device") == 0) {
                hs_fed_edu_to_device out;
                rc = hs_fed_edu_to_device_check(c, origins[o], &out, &err);
                if (o == 0) cr_assert_eq(out.n_messages, 1);
            } else if (strcmp(type, "m.signing_key_update") == 0) {
                hs_fed_edu_signing_key out;
                rc = hs_fed_edu_signing_key_check(c, origins[o], &out, &err);
            } else {
                cr_assert(strcmp(type, "m.receipt") == 0 || strcmp(type, "org.matrix.signing_key_update") == 0, "%s",
                          type);
                break;
            }
            if (o == 0) {
                cr_assert_eq(rc, 0, "%s: %s", type, err.msg);
                checked++;
            } else {
                cr_assert_neq(rc, 0, "%s accepted from the wrong origin", type);
            }
        }
    }
    cr_assert_eq(checked, 6, "presence, typing, device list, to-device, two signing key updates");
    json_decref(edus);
}

/* Synapse's user/keys/query and user/devices answers: each device's keys carry a valid
 * self-signature (hs_e2ee_check_device_keys, as we check remote answers), the master
 * key is a well-formed cross-signing key and signs the self-signing key; the claimed
 * one-time key is signed by the device's key. (The device and cross-signing keys were
 * made by the recording script and uploaded to Synapse with curl; the answers' shape -
 * `unsigned`, which maps are present - is Synapse's.) */
Test(hs_synapse_live, e2ee_answers)
{
    const char *alice = "@alice:localhost:18448";
    json_t *q = pgt_live_load("user_keys_query.json");
    const json_t *ans = json_object_get(q, "response");
    const json_t *dk = json_object_get(json_object_get(json_object_get(ans, "device_keys"), alice), "DEValice");
    hs_err err = {{0}};
    cr_assert_eq(hs_e2ee_check_device_keys(dk, alice, "DEValice", &err), 0, "%s", err.msg);
    cr_assert_neq(hs_e2ee_check_device_keys(dk, alice, "OTHER", &err), 0);
    uint8_t master_pub[32], ssk_pub[32];
    char master_b64[HS_E2EE_KEY_ID_MAX], ssk_b64[HS_E2EE_KEY_ID_MAX];
    const json_t *master = json_object_get(json_object_get(ans, "master_keys"), alice);
    const json_t *ssk = json_object_get(json_object_get(ans, "self_signing_keys"), alice);
    cr_assert_eq(hs_e2ee_check_cross_key(master, alice, "master", master_pub, master_b64, &err), 0, "%s", err.msg);
    cr_assert_eq(hs_e2ee_check_cross_key(ssk, alice, "self_signing", ssk_pub, ssk_b64, &err), 0, "%s", err.msg);
    cr_assert_eq(hs_e2ee_verify(ssk, alice, master_b64, master_pub, &err), 0, "%s", err.msg);
    cr_assert_neq(hs_e2ee_check_cross_key(master, alice, "self_signing", ssk_pub, ssk_b64, &err), 0);

    json_t *d = pgt_live_load("user_devices.json");
    const json_t *devs = json_object_get(json_object_get(d, "response"), "devices");
    cr_assert_eq(json_array_size(devs), 1);
    const json_t *dev = json_array_get(devs, 0);
    cr_assert_eq(hs_e2ee_check_device_keys(json_object_get(dev, "keys"), alice, "DEValice", &err), 0, "%s", err.msg);

    json_t *c = pgt_live_load("user_keys_claim.json");
    const json_t *otks =
        json_object_get(json_object_get(json_object_get(json_object_get(c, "response"), "one_time_keys"), alice),
                        "DEValice");
    cr_assert_eq(json_object_size(otks), 1);
    uint8_t dev_pub[32];
    cr_assert_eq(hs_e2ee_device_ed25519(dk, "DEValice", dev_pub), 0);
    const char *kid;
    json_t *otk;
    json_object_foreach((json_t *)otks, kid, otk) {
        cr_assert_eq(strncmp(kid, "signed_curve25519:", 18), 0);
        cr_assert_eq(hs_e2ee_verify(otk, alice, "DEValice", dev_pub, &err), 0, "%s", err.msg);
    }
    json_decref(c);
    json_decref(d);
    json_decref(q);
}

/* Our join as sent (request) against its auth events from the validated send_join
 * answer: the auth rule result. */
static hs_auth_rule join_auth(const hs_room_version *rv, const json_t *join, const hs_fed_state_set *set,
                              hs_auth_result *ar)
{
    hs_auth_entry auth[HS_PDU_MAX_AUTH_EVENTS];
    size_t n = hs_pdu_auth_event_count(join);
    for (size_t i = 0; i < n; i++) {
        auth[i].event_id = hs_pdu_auth_event(join, i);
        auth[i].pdu = json_object_get(set->events, auth[i].event_id);
        cr_assert_not_null(auth[i].pdu, "auth event %s not in the answer", auth[i].event_id);
    }
    return hs_auth_check_with_auth_events(rv, join, auth, n, NULL, ar);
}

/* A restricted room (v10, members of another room may join): Synapse's make_join names
 * alice in join_authorised_via_users_server and its send_join answer carries our join
 * countersigned by localhost:18448. Our join alone fails the auth rules (the authorising
 * server's signature is missing); with the signatures taken from the answer
 * (hs_fed_join_countersigned) it passes and every signature verifies. An answer whose
 * event is not our join adds nothing. */
Test(hs_synapse_live, restricted_join_countersigned)
{
    json_t *fx = pgt_live_load("send_join-restricted-v10.json");
    const hs_room_version *rv = hs_room_version_get("10");
    const char *room = json_string_value(json_object_get(fx, "room_id"));
    json_t *answer = json_object_get(fx, "response");
    json_t *join = json_deep_copy(json_object_get(fx, "request"));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(join, "content"),
                                                       "join_authorised_via_users_server")),
                     "@alice:localhost:18448");
    hs_fed_state_set set = {0};
    char msg[512] = "";
    cr_assert_eq(hs_fed_state_validate(&hs.srv, rv, room, json_object_get(answer, "state"),
                                       json_object_get(answer, "auth_chain"), &set, msg, sizeof msg),
                 0, "%s", msg);
    hs_err err = {{0}};
    char *join_id = hs_event_id_compute(join, rv, &err);
    cr_assert_not_null(join_id);
    hs_auth_result ar;
    cr_assert_neq(join_auth(rv, join, &set, &ar), HS_AUTH_OK, "our join alone lacks the authorising signature");

    json_t *other = json_deep_copy(answer);
    json_t *ev = json_object_get(other, "event");
    json_object_set_new(ev, "origin_server_ts", json_integer(json_integer_value(json_object_get(ev, "origin_server_ts")) + 1));
    cr_assert_eq(hs_fed_join_countersigned(&hs.srv, rv, join, join_id, other, msg, sizeof msg), 0);
    cr_assert_null(json_object_get(json_object_get(join, "signatures"), SYNAPSE));
    json_decref(other);

    cr_assert_eq(hs_fed_join_countersigned(&hs.srv, rv, join, join_id, answer, msg, sizeof msg), 1, "%s", msg);
    cr_assert_eq(join_auth(rv, join, &set, &ar), HS_AUTH_OK, "%s", ar.msg);
    hs_room_remote rr = {NULL, hs_fed_rooms_key, &hs.srv};
    cr_assert_eq(hs_room_remote_check_signatures(&rr, join, rv, &err), 0, "%s", err.msg);

    /* A countersignature that does not verify is refused. */
    json_t *bad = json_deep_copy(json_object_get(fx, "request"));
    json_t *forged = json_deep_copy(answer);
    json_t *sigs = json_object_get(json_object_get(json_object_get(forged, "event"), "signatures"), SYNAPSE);
    const char *kid;
    json_t *s;
    json_object_foreach(sigs, kid, s) {
        char *f = strdup(json_string_value(s));
        f[5] = f[5] == 'A' ? 'B' : 'A';
        json_object_set_new(sigs, kid, json_string(f));
        free(f);
    }
    cr_assert_eq(hs_fed_join_countersigned(&hs.srv, rv, bad, join_id, forged, msg, sizeof msg), -1);
    json_decref(forged);
    json_decref(bad);
    free(join_id);
    json_decref(join);
    hs_fed_state_set_clear(&set);
    json_decref(fx);
}

/* An invite Synapse sent us (PUT /v2/invite, room v11, alice inviting dave): the event
 * passes the receipt checks with Synapse's signature alone and its ID is the one in the
 * URI; invite_room_state is a list of stripped state events (type, state_key, sender,
 * content). Our recorded answer is the same event countersigned: same ID, and both
 * servers' signatures verify. */
Test(hs_synapse_live, invite_v11)
{
    json_t *fx = pgt_live_load("invite-v11.json");
    const hs_room_version *rv = hs_room_version_get("11");
    const json_t *req = json_object_get(fx, "request");
    cr_assert_str_eq(json_string_value(json_object_get(req, "room_version")), "11");
    const json_t *ev = json_object_get(req, "event");
    char *id = check_pdu(ev, rv, "invite");
    char *enc = hs_fed_pct_encode(id);
    cr_assert_not_null(strstr(json_string_value(json_object_get(fx, "uri")), enc));
    free(enc);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(ev, "content"), "membership")), "invite");
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(req, "invite_room_state"), i, s) {
        cr_assert(json_is_string(json_object_get(s, "type")) && json_is_string(json_object_get(s, "state_key")) &&
                  json_is_string(json_object_get(s, "sender")) && json_is_object(json_object_get(s, "content")));
    }
    cr_assert_gt(i, 0);
    const json_t *answered = json_object_get(json_object_get(fx, "response"), "event");
    char *id2 = check_pdu(answered, rv, "invite answer");
    cr_assert_str_eq(id2, id);
    cr_assert_not_null(json_object_get(json_object_get(answered, "signatures"), PINEGATE));
    cr_assert_not_null(json_object_get(json_object_get(answered, "signatures"), SYNAPSE));
    free(id2);
    free(id);
    json_decref(fx);
}
