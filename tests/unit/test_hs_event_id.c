/* Hashes, signatures and event IDs over every recorded Synapse event: the recomputed
 * event ID equals Synapse's, the content hash matches (except the crafted R7, which must
 * be caught), and every signature verifies with the recorded key server responses. Plus
 * the v12 room ID derivation and the tamper cases. */
#include <criterion/criterion.h>
#include <string.h>

#include "server-core/hs_base64.h"
#include "server-core/hs_event_id.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_signing.h"
#include "unit/test_hs_event_fixtures.h"

static const hs_room_version *rv_of(const json_t *line)
{
    const hs_room_version *rv = hs_room_version_get(json_string_value(json_object_get(line, "room_version")));
    cr_assert_not_null(rv);
    return rv;
}

/* Verifies every signature on `pdu`; returns how many were checked. */
static int verify_all(const json_t *pdu, const hs_room_version *rv, const hs_keyring *kr, const char *where)
{
    int n = 0;
    const char *server, *kid;
    json_t *per, *sig;
    json_object_foreach(json_object_get(pdu, "signatures"), server, per) {
        json_object_foreach(per, kid, sig) {
            const hs_verify_key *k = hs_keyring_find(kr, server, kid);
            cr_assert_not_null(k, "%s: no key %s %s", where, server, kid);
            hs_err err = {{0}};
            cr_expect_eq(hs_event_verify_signature(pdu, rv, server, kid, k->public_key, &err), 0, "%s: %s", where,
                         err.msg);
            n++;
        }
    }
    return n;
}

Test(hs_event_id, every_fixture_event)
{
    hs_keyring kr;
    hs_fix_keyring(&kr);
    int events = 0, sigs = 0, hash_ok = 0, crafted_caught = 0;
    for (int r = 0; r < HS_FIX_N_ROOMS; r++) {
        json_t *lines = hs_fix_lines(hs_fix_rooms[r]);
        size_t i;
        json_t *line;
        json_array_foreach(lines, i, line) {
            char where[256];
            snprintf(where, sizeof where, "%s line %zu", hs_fix_rooms[r], i + 1);
            const hs_room_version *rv = rv_of(line);
            json_t *pdu = json_object_get(line, "pdu");
            hs_err err = {{0}};

            char *id = hs_event_id_compute(pdu, rv, &err);
            cr_assert_not_null(id, "%s: %s", where, err.msg);
            cr_expect_str_eq(id, json_string_value(json_object_get(line, "event_id")), "%s", where);
            free(id);

            int hash = hs_event_check_content_hash(pdu, &err);
            if (json_is_true(json_object_get(line, "crafted"))) {
                cr_expect_eq(hash, -1, "%s: crafted R7 must fail the content hash", where);
                cr_expect_not_null(strstr(err.msg, "content hash mismatch"), "%s", err.msg);
                crafted_caught++;
            } else {
                cr_expect_eq(hash, 0, "%s: %s", where, err.msg);
                hash_ok++;
            }
            sigs += verify_all(pdu, rv, &kr, where);
            events++;
        }
        json_decref(lines);
    }
    cr_expect_eq(events, 209);
    cr_expect_eq(hash_ok, 208);
    cr_expect_eq(crafted_caught, 1);
    cr_expect_eq(sigs, 209 + 7, "7 events carry both servers' signatures");
    hs_keyring_free(&kr);
}

Test(hs_event_id, invite_from_xmatrix_request)
{
    size_t len;
    char *buf = hs_fix_read(HS_FIX_DIR "xmatrix-request-6.json", &len);
    json_t *req = hs_cjson_parse(buf, len, 1 << 16, 0, NULL);
    free(buf);
    cr_assert_not_null(req);
    json_t *content = json_object_get(req, "content");
    const hs_room_version *rv = hs_room_version_get(json_string_value(json_object_get(content, "room_version")));
    cr_assert_not_null(rv);
    json_t *ev = json_object_get(content, "event");
    hs_err err = {{0}};
    char *id = hs_event_id_compute(ev, rv, &err);
    cr_assert_not_null(id, "%s", err.msg);
    /* URI: .../invite/{room}/{event}, with '$' percent-encoded as %24 */
    const char *uri = json_string_value(json_object_get(req, "uri"));
    const char *last = strrchr(uri, '/');
    cr_assert_not_null(last);
    cr_assert_eq(strncmp(last + 1, "%24", 3), 0);
    cr_expect_str_eq(id + 1, last + 4);
    free(id);
    cr_expect_eq(hs_event_check_content_hash(ev, &err), 0, "%s", err.msg);
    hs_keyring kr;
    hs_fix_keyring(&kr);
    cr_expect_eq(verify_all(ev, rv, &kr, "invite"), 1);
    hs_keyring_free(&kr);
    json_decref(req);
}

/* The first fixture event (room 1, v10 create) as a mutable copy. */
static json_t *first_event(const hs_room_version **rv, char **id)
{
    json_t *lines = hs_fix_lines(hs_fix_rooms[0]);
    json_t *line = json_array_get(lines, 3);
    *rv = rv_of(line);
    json_t *pdu = json_deep_copy(json_object_get(line, "pdu"));
    *id = strdup(json_string_value(json_object_get(line, "event_id")));
    json_decref(lines);
    return pdu;
}

Test(hs_event_id, tampering_is_detected)
{
    const hs_room_version *rv;
    char *id;
    json_t *pdu = first_event(&rv, &id);
    hs_keyring kr;
    hs_fix_keyring(&kr);
    const char *server = hs_id_server_name(hs_pdu_sender(pdu));
    const hs_verify_key *k = hs_keyring_find(&kr, server, server[strlen(server) - 1] == '8' ? "ed25519:a_uRaI" : "ed25519:a_pobT");
    cr_assert_not_null(k);
    hs_err err = {{0}};

    /* content byte flipped: content hash fails, signature and event ID are over the
     * redacted form so whether they change depends on the event type */
    json_t *c = json_deep_copy(pdu);
    json_object_set_new(json_object_get(c, "content"), "flipped", json_true());
    cr_expect_eq(hs_event_check_content_hash(c, &err), -1);
    cr_expect_not_null(strstr(err.msg, "content hash mismatch"), "%s", err.msg);
    json_decref(c);

    /* a protected field changed: the event ID changes and the signature fails */
    c = json_deep_copy(pdu);
    json_object_set_new(c, "origin_server_ts", json_integer(hs_pdu_origin_server_ts(pdu) + 1));
    char *id2 = hs_event_id_compute(c, rv, NULL);
    cr_expect_str_neq(id2, id);
    free(id2);
    cr_expect_eq(hs_event_verify_signature(c, rv, server, k->key_id, k->public_key, &err), -1);
    cr_expect_not_null(strstr(err.msg, "does not verify"), "%s", err.msg);
    json_decref(c);

    /* one signature byte flipped */
    c = json_deep_copy(pdu);
    json_t *sv = json_object_get(json_object_get(json_object_get(c, "signatures"), server), k->key_id);
    uint8_t sig[64];
    cr_assert_eq(hs_b64_decode(json_string_value(sv), sig, sizeof sig), 64);
    sig[10] ^= 1;
    char *b64 = hs_b64_encode(sig, 64);
    json_string_set(sv, b64);
    free(b64);
    cr_expect_eq(hs_event_verify_signature(c, rv, server, k->key_id, k->public_key, &err), -1);
    cr_expect_not_null(strstr(err.msg, "does not verify"), "%s", err.msg);
    json_decref(c);

    /* unsigned is free to change */
    c = json_deep_copy(pdu);
    json_object_set_new(c, "unsigned", json_pack("{s:i}", "age", 12345));
    id2 = hs_event_id_compute(c, rv, NULL);
    cr_expect_str_eq(id2, id);
    free(id2);
    cr_expect_eq(hs_event_check_content_hash(c, NULL), 0);
    json_decref(c);

    json_decref(pdu);
    free(id);
    hs_keyring_free(&kr);
}

Test(hs_event_id, crafted_bad_signature_r8)
{
    json_t *lines = hs_fix_lines_flags(HS_FIX_DIR "room-1-v10.crafted.jsonl", HS_CJSON_LAX_INTS);
    hs_keyring kr;
    hs_fix_keyring(&kr);
    size_t i;
    json_t *line;
    int seen = 0;
    json_array_foreach(lines, i, line) {
        const char *label = json_string_value(json_object_get(line, "label"));
        json_t *pdu = json_object_get(line, "pdu_sent");
        const hs_room_version *rv = rv_of(line);
        hs_err err = {{0}};
        const hs_verify_key *k = hs_keyring_find(&kr, "localhost:8449", "ed25519:a_pobT");
        int rc = hs_event_verify_signature(pdu, rv, "localhost:8449", k->key_id, k->public_key, &err);
        if (strncmp(label, "R8 ", 3) == 0) {
            cr_expect_eq(rc, -1, "R8's flipped signature must fail");
            seen++;
        } else if (strncmp(label, "R10 ", 4) == 0) {
            /* 2^53 in content: cannot be encoded canonically in a v10 room */
            char *id = hs_event_id_compute(pdu, rv, &err);
            cr_expect_eq(hs_pdu_validate(pdu, rv, &err), -1);
            cr_expect_not_null(strstr(err.msg, "canonical JSON range"), "%s", err.msg);
            free(id);
            seen++;
        } else {
            cr_expect_eq(rc, 0, "%s: %s", label, err.msg);
            char *id = hs_event_id_compute(pdu, rv, &err);
            cr_expect_str_eq(id, json_string_value(json_object_get(line, "event_id")), "%s", label);
            free(id);
        }
    }
    cr_expect_eq(seen, 2);
    hs_keyring_free(&kr);
    json_decref(lines);
}

Test(hs_event_id, v12_room_id_from_create)
{
    const hs_room_version *v12 = hs_room_version_get("12");
    json_t *create = json_pack("{s:[],s:{s:s},s:i,s:{s:s},s:i,s:[],s:s,s:{},s:s,s:s}", "auth_events", "content",
                               "room_version", "12", "depth", 1, "hashes", "sha256", "x", "origin_server_ts", 1000,
                               "prev_events", "sender", "@a:example.org", "signatures", "state_key", "", "type",
                               "m.room.create");
    hs_err err = {{0}};
    cr_assert_eq(hs_event_add_content_hash(create, &err), 0);
    char *room = hs_room_id_from_create(create, v12, &err);
    char *eid = hs_event_id_compute(create, v12, &err);
    cr_assert_not_null(room, "%s", err.msg);
    cr_expect_eq(strlen(room), 44);
    cr_expect_eq(room[0], '!');
    cr_expect_str_eq(room + 1, eid + 1, "room ID is the create event ID with '!' for '$'");
    cr_expect(hs_is_valid_room_id(room, v12));
    cr_expect_not(hs_is_valid_room_id(room, hs_room_version_get("11")));
    cr_expect_eq(hs_pdu_validate(create, v12, &err), 0, "%s", err.msg);

    /* v12 create keeps all content under redaction, so content changes change the ID */
    json_object_set_new(json_object_get(create, "content"), "additional_creators", json_pack("[s]", "@b:example.org"));
    char *room2 = hs_room_id_from_create(create, v12, NULL);
    cr_expect_str_neq(room, room2);

    cr_expect_null(hs_room_id_from_create(create, hs_room_version_get("11"), &err));
    cr_expect_not_null(strstr(err.msg, "does not derive"), "%s", err.msg);
    json_object_set_new(create, "room_id", json_string(room));
    cr_expect_eq(hs_pdu_validate(create, v12, &err), -1);
    cr_expect_not_null(strstr(err.msg, "must not have a room_id"), "%s", err.msg);
    free(room);
    free(room2);
    free(eid);
    json_decref(create);
}

Test(hs_event_id, v3_uses_standard_base64)
{
    /* Same event under v3 and v4: same hash, different alphabets. */
    json_t *ev = json_pack("{s:[],s:{},s:i,s:{s:s},s:i,s:[],s:s,s:s,s:{},s:s}", "auth_events", "content", "depth", 5,
                           "hashes", "sha256", "x", "origin_server_ts", 1, "prev_events", "room_id", "!r:x.org",
                           "sender", "@a:x.org", "signatures", "type", "m.room.message");
    char *v3 = NULL, *v4 = NULL;
    /* find a timestamp whose hash has a '+' or '/' so the two alphabets must differ */
    for (int ts = 1; ts < 200; ts++) {
        json_object_set_new(ev, "origin_server_ts", json_integer(ts));
        free(v3);
        free(v4);
        v3 = hs_event_id_compute(ev, hs_room_version_get("3"), NULL);
        v4 = hs_event_id_compute(ev, hs_room_version_get("4"), NULL);
        if (strpbrk(v3, "+/")) break;
    }
    cr_assert_not_null(strpbrk(v3, "+/"));
    cr_expect(hs_is_valid_event_id(v3, hs_room_version_get("3")));
    cr_expect(hs_is_valid_event_id(v4, hs_room_version_get("4")));
    cr_expect_not(hs_is_valid_event_id(v3, hs_room_version_get("4")));
    cr_expect_str_neq(v3, v4);
    free(v3);
    free(v4);
    json_decref(ev);
}
