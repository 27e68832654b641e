/* Signing JSON: the spec's cryptographic test vectors byte for byte, verification and its
 * failures, Synapse key files (seeds reproduce every recorded signature exactly), and key
 * server responses (self-signatures). */
#include <criterion/criterion.h>
#include <string.h>

#include "server-core/hs_base64.h"
#include "server-core/hs_event_id.h"
#include "server-core/hs_room_version.h"
#include "server-core/hs_signing.h"
#include "unit/test_hs_event_fixtures.h"

/* The spec's test seed. Its last base64 character carries non-zero unused bits, which
 * libsodium's strict decoder refuses and Python's accepts; the 32 bytes are the same with
 * those bits cleared ('1' -> '0'). */
static hs_signing_key spec_key(void)
{
    uint8_t seed[32];
    cr_assert_eq(hs_b64_decode("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA0", seed, sizeof seed), 32);
    hs_signing_key k;
    cr_assert_eq(hs_signing_key_from_seed(&k, "1", seed), 0);
    cr_assert_str_eq(k.key_id, "ed25519:1");
    return k;
}

static json_t *parse(const char *s)
{
    hs_err err = {{0}};
    json_t *v = hs_cjson_parse(s, strlen(s), 1 << 16, 0, &err);
    cr_assert_not_null(v, "%s", err.msg);
    return v;
}

static void expect_canonical(const json_t *v, const char *want)
{
    char *got = hs_cjson_encode(v, 0, NULL, NULL);
    cr_expect_str_eq(got, want);
    free(got);
}

Test(hs_sign, spec_vector_empty_object)
{
    hs_signing_key k = spec_key();
    json_t *v = parse("{}");
    cr_assert_eq(hs_sign_json(v, "domain", &k, NULL), 0);
    expect_canonical(v, "{\"signatures\":{\"domain\":{\"ed25519:1\":\"K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Ge"
                        "itb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ\"}}}");
    hs_err err = {{0}};
    cr_expect_eq(hs_verify_json(v, "domain", "ed25519:1", k.public_key, &err), 0, "%s", err.msg);
    json_decref(v);
}

Test(hs_sign, spec_vector_data_object)
{
    hs_signing_key k = spec_key();
    json_t *v = parse("{\"one\": 1, \"two\": \"Two\"}");
    cr_assert_eq(hs_sign_json(v, "domain", &k, NULL), 0);
    expect_canonical(v, "{\"one\":1,\"signatures\":{\"domain\":{\"ed25519:1\":\"KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sR"
                        "Q4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw\"}},\"two\":\"Two\"}");
    /* unsigned is not covered: adding it keeps the signature valid */
    json_object_set_new(v, "unsigned", json_pack("{s:i}", "age", 5));
    cr_expect_eq(hs_verify_json(v, "domain", "ed25519:1", k.public_key, NULL), 0);
    json_decref(v);
}

Test(hs_sign, spec_vector_minimal_event)
{
    hs_signing_key k = spec_key();
    json_t *ev = parse("{\"room_id\":\"!x:domain\",\"sender\":\"@a:domain\",\"origin\":\"domain\",\"origin_server_ts\":"
                       "1000000,\"signatures\":{},\"hashes\":{},\"type\":\"X\",\"content\":{},\"prev_events\":[],"
                       "\"auth_events\":[],\"depth\":3,\"unsigned\":{\"age_ts\":1000000}}");
    hs_err err = {{0}};
    cr_assert_eq(hs_event_sign(ev, hs_room_version_get("1"), "domain", &k, 1, &err), 0, "%s", err.msg);
    expect_canonical(ev, "{\"auth_events\":[],\"content\":{},\"depth\":3,\"hashes\":{\"sha256\":\"5jM4wQpv6lnBo7CLIghJuHd"
                         "W+s2CMBJPUOGOC89ncos\"},\"origin\":\"domain\",\"origin_server_ts\":1000000,\"prev_events\":[],"
                         "\"room_id\":\"!x:domain\",\"sender\":\"@a:domain\",\"signatures\":{\"domain\":{\"ed25519:1\":"
                         "\"KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg\"}},"
                         "\"type\":\"X\",\"unsigned\":{\"age_ts\":1000000}}");
    json_decref(ev);
}

Test(hs_sign, spec_vector_redactable_event)
{
    hs_signing_key k = spec_key();
    json_t *ev = parse("{\"content\":{\"body\":\"Here is the message content\"},\"event_id\":\"$0:domain\",\"origin\":"
                       "\"domain\",\"origin_server_ts\":1000000,\"type\":\"m.room.message\",\"room_id\":\"!r:domain\","
                       "\"sender\":\"@u:domain\",\"signatures\":{},\"unsigned\":{\"age_ts\":1000000}}");
    const hs_room_version *v1 = hs_room_version_get("1");
    cr_assert_eq(hs_event_sign(ev, v1, "domain", &k, 1, NULL), 0);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(ev, "hashes"), "sha256")),
                     "onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(ev, "signatures"), "domain"),
                                                       "ed25519:1")),
                     "Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA");
    /* Event signatures cover the redacted form: changing the body keeps the signature
     * valid (only the content hash catches it). */
    json_object_set_new(json_object_get(ev, "content"), "body", json_string("changed"));
    cr_expect_eq(hs_event_verify_signature(ev, v1, "domain", "ed25519:1", k.public_key, NULL), 0);
    cr_expect_eq(hs_event_check_content_hash(ev, NULL), -1);
    json_decref(ev);
}

Test(hs_sign, verify_failures_have_reasons)
{
    hs_signing_key k = spec_key();
    json_t *v = parse("{\"one\": 1, \"two\": \"Two\"}");
    cr_assert_eq(hs_sign_json(v, "domain", &k, NULL), 0);
    hs_err err = {{0}};

    cr_expect_eq(hs_verify_json(v, "other", "ed25519:1", k.public_key, &err), -1);
    cr_expect_not_null(strstr(err.msg, "no signature from other"), "%s", err.msg);

    json_object_set_new(v, "one", json_integer(2));
    cr_expect_eq(hs_verify_json(v, "domain", "ed25519:1", k.public_key, &err), -1);
    cr_expect_not_null(strstr(err.msg, "does not verify"), "%s", err.msg);
    json_object_set_new(v, "one", json_integer(1));
    cr_expect_eq(hs_verify_json(v, "domain", "ed25519:1", k.public_key, &err), 0);

    json_t *sigs = json_object_get(json_object_get(v, "signatures"), "domain");
    json_object_set_new(sigs, "ed25519:1", json_string("not base64!"));
    cr_expect_eq(hs_verify_json(v, "domain", "ed25519:1", k.public_key, &err), -1);
    cr_expect_not_null(strstr(err.msg, "not 64 bytes"), "%s", err.msg);
    json_decref(v);
}

Test(hs_sign, key_server_responses_self_signed)
{
    hs_keyring kr;
    hs_fix_keyring(&kr);
    const hs_verify_key *a = hs_keyring_find(&kr, "localhost:8448", "ed25519:a_uRaI");
    const hs_verify_key *b = hs_keyring_find(&kr, "localhost:8449", "ed25519:a_pobT");
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_expect_null(hs_keyring_find(&kr, "localhost:8449", "ed25519:a_uRaI"));

    /* The signing-key seeds give exactly the published public keys. */
    static const char *const seeds[] = {HS_FIX_DIR "signing-key-localhost_8448.txt",
                                        HS_FIX_DIR "signing-key-localhost_8449.txt"};
    const hs_verify_key *pub[] = {a, b};
    for (int i = 0; i < 2; i++) {
        char *text = hs_fix_read(seeds[i], NULL);
        hs_signing_key k;
        char err[128];
        cr_assert_eq(hs_signing_key_parse(text, &k, err, sizeof err), 0, "%s", err);
        cr_expect_str_eq(k.key_id, pub[i]->key_id);
        cr_expect_arr_eq(k.public_key, pub[i]->public_key, 32);
        free(text);
    }
    hs_keyring_free(&kr);
}

Test(hs_sign, key_server_response_tampered)
{
    size_t len;
    char *buf = hs_fix_read(HS_FIX_DIR "keys-localhost_8448.json", &len);
    json_t *doc = hs_cjson_parse(buf, len, 1 << 16, 0, NULL);
    free(buf);
    hs_keyring kr;
    hs_keyring_init(&kr);
    hs_err err = {{0}};

    json_object_set_new(doc, "valid_until_ts", json_integer(1));
    cr_expect_eq(hs_keyring_add_server_keys(&kr, doc, &err), -1);
    cr_expect_not_null(strstr(err.msg, "self-signature"), "%s", err.msg);
    cr_expect_eq(kr.n, 0, "no key may be added from a forged document");

    json_object_del(doc, "signatures");
    cr_expect_eq(hs_keyring_add_server_keys(&kr, doc, &err), -1);
    cr_expect_not_null(strstr(err.msg, "not signed by any"), "%s", err.msg);
    json_decref(doc);
    hs_keyring_free(&kr);
}

/* Re-signs every fixture event with the recorded seeds: ed25519 is deterministic, so the
 * signature strings must come out identical to Synapse's. */
Test(hs_sign, seeds_reproduce_fixture_signatures)
{
    static const char *const servers[] = {"localhost:8448", "localhost:8449"};
    static const char *const seeds[] = {HS_FIX_DIR "signing-key-localhost_8448.txt",
                                        HS_FIX_DIR "signing-key-localhost_8449.txt"};
    hs_signing_key keys[2];
    for (int i = 0; i < 2; i++) {
        char *text = hs_fix_read(seeds[i], NULL);
        char err[128];
        cr_assert_eq(hs_signing_key_parse(text, &keys[i], err, sizeof err), 0, "%s", err);
        free(text);
    }
    int reproduced = 0;
    for (int r = 0; r < HS_FIX_N_ROOMS; r++) {
        json_t *lines = hs_fix_lines(hs_fix_rooms[r]);
        size_t i;
        json_t *line;
        json_array_foreach(lines, i, line) {
            const hs_room_version *rv = hs_room_version_get(json_string_value(json_object_get(line, "room_version")));
            json_t *pdu = json_object_get(line, "pdu");
            json_t *sigs = json_object_get(pdu, "signatures");
            for (int s = 0; s < 2; s++) {
                const char *want = json_string_value(json_object_get(json_object_get(sigs, servers[s]), keys[s].key_id));
                if (!want) continue;
                json_t *copy = json_deep_copy(pdu);
                json_object_del(copy, "signatures");
                hs_err err = {{0}};
                cr_assert_eq(hs_event_sign(copy, rv, servers[s], &keys[s], 0, &err), 0, "%s", err.msg);
                const char *got = json_string_value(
                    json_object_get(json_object_get(json_object_get(copy, "signatures"), servers[s]), keys[s].key_id));
                cr_expect_str_eq(got, want, "%s line %zu", hs_fix_rooms[r], i);
                reproduced++;
                json_decref(copy);
            }
        }
        json_decref(lines);
    }
    cr_expect_geq(reproduced, 209 + 7, "every event's signatures (7 events carry two)");
}
