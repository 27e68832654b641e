/* Key documents: the bytes real Synapse served at /_matrix/key/v2/server validate with
 * our verifier (and stop validating when tampered with or asked for the wrong server),
 * and our own key server - a real hs_server federation router on loopback - answers
 * both key paths with a document that has every field Synapse needs and passes the same
 * verifier. The notary answers for itself with its signature on the document, and a
 * rotated key stays published in old_verify_keys. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server-core/hs_fed.h"
#include "server-core/hs_keys.h"
#include "server-core/hs_server.h"
#include "server-core/hs_signing.h"
#include "support/pgt.h"
#include "support/pgt_hs.h"

#define FIX PG_SOURCE_DIR "/tests/fixtures/synapse/"

Test(hs_keys, synapse_key_responses_validate)
{
    static const char *const files[][2] = {{FIX "keys-localhost_8448.json", "localhost:8448"},
                                           {FIX "keys-localhost_8449.json", "localhost:8449"}};
    for (size_t i = 0; i < 2; i++) {
        char *raw = pgt_slurp(files[i][0]);
        cr_assert_not_null(raw);
        hs_keys_doc kd;
        hs_err err;
        /* now = 0: the recorded documents expired a day after capture. */
        json_t *doc = hs_keys_parse(raw, strlen(raw), files[i][1], 0, &kd, &err);
        cr_assert_not_null(doc, "%s: %s", files[i][0], err.msg);
        cr_expect_eq(kd.n_keys, 1);
        cr_expect_eq(kd.keys[0].expired_ts, -1);
        cr_expect_eq(kd.valid_until_ts, json_integer_value(json_object_get(doc, "valid_until_ts")));
        int64_t until = kd.valid_until_ts;
        /* Asked for another server, the same bytes are refused. */
        cr_expect_null(hs_keys_parse(raw, strlen(raw), "localhost:8450", 0, &kd, &err));
        cr_expect(strstr(err.msg, "not 'localhost:8450'") != NULL, "%s", err.msg);
        /* Past valid_until_ts with a clock: refused. */
        cr_expect_null(hs_keys_parse(raw, strlen(raw), files[i][1], until + 1, &kd, &err));
        json_decref(doc);
        free(raw);
    }
}

Test(hs_keys, tampered_synapse_response_refused)
{
    char *raw = pgt_slurp(FIX "keys-localhost_8448.json");
    cr_assert_not_null(raw);
    hs_keys_doc kd;
    hs_err err;
    json_t *doc = hs_keys_parse(raw, strlen(raw), "localhost:8448", 0, &kd, &err);
    cr_assert_not_null(doc);
    json_t *t = json_deep_copy(doc);
    json_object_set_new(t, "valid_until_ts", json_integer(kd.valid_until_ts + 1000));
    cr_expect_neq(hs_keys_validate(t, "localhost:8448", 0, &kd, &err), 0, "extended validity accepted");
    json_decref(t);
    t = json_deep_copy(doc);
    json_object_del(json_object_get(t, "signatures"), "localhost:8448");
    cr_expect_neq(hs_keys_validate(t, "localhost:8448", 0, &kd, &err), 0, "unsigned response accepted");
    json_decref(t);
    t = json_deep_copy(doc);
    json_object_set_new(t, "verify_keys", json_pack("{s:{s:s}}", "ed25519:a_uRaI", "key", "not base64!"));
    cr_expect_neq(hs_keys_validate(t, "localhost:8448", 0, &kd, &err), 0, "garbage key accepted");
    json_decref(t);
    t = json_deep_copy(doc);
    json_object_set_new(t, "old_verify_keys", json_array());
    cr_expect_neq(hs_keys_validate(t, "localhost:8448", 0, &kd, &err), 0, "old_verify_keys as a list accepted");
    json_decref(t);
    json_decref(doc);
    free(raw);
    cr_expect_null(hs_keys_parse("{\"a\":1,\"a\":2}", 13, "x", 0, &kd, &err), "duplicate keys accepted");
}

/* A correctly self-signed response is still refused when it lists more keys than we
 * keep (HS_KEYS_MAX_KEYS, counting old_verify_keys) or is larger than HS_KEYS_MAX_BYTES:
 * both come from the network and end up in fixed arrays and the database. */
Test(hs_keys, oversized_responses_refused)
{
    hs_signing_key key;
    cr_assert_eq(hs_signing_key_generate(&key), 0);
    hs_err err;
    for (int n_old = HS_KEYS_MAX_KEYS - 1; n_old <= HS_KEYS_MAX_KEYS; n_old++) {
        json_t *old = json_object();
        for (int i = 0; i < n_old; i++) {
            char id[32];
            snprintf(id, sizeof id, "ed25519:old%d", i);
            json_object_set_new(old, id, json_pack("{s:s, s:I}", "key", "5qcUWYVpvOr/uU/OSE8cbYKvVMT+/Dw44tz37mBj+mo",
                                                   "expired_ts", (json_int_t)1));
        }
        json_t *doc = hs_keys_own_response("big.test", &key, 1, old, &err);
        json_decref(old);
        cr_assert_not_null(doc, "%s", err.msg);
        hs_keys_doc kd;
        int rc = hs_keys_validate(doc, "big.test", 0, &kd, &err);
        if (n_old + 1 <= HS_KEYS_MAX_KEYS) {
            cr_expect_eq(rc, 0, "%d keys: %s", n_old + 1, err.msg);
            cr_expect_eq(kd.n_keys, (size_t)n_old + 1);
        } else {
            cr_expect_neq(rc, 0, "%d keys accepted", n_old + 1);
            cr_expect(strstr(err.msg, "32") != NULL, "%s", err.msg); /* the limit is named */
        }
        json_decref(doc);
    }
    /* Padding that makes an otherwise valid document one byte too large. */
    char *raw = pgt_slurp(FIX "keys-localhost_8448.json");
    cr_assert_not_null(raw);
    size_t len = strlen(raw);
    char *padded = malloc(HS_KEYS_MAX_BYTES + 1);
    memset(padded, ' ', HS_KEYS_MAX_BYTES + 1);
    memcpy(padded, raw, len);
    hs_keys_doc kd;
    json_t *doc = hs_keys_parse(padded, HS_KEYS_MAX_BYTES, "localhost:8448", 0, &kd, &err);
    cr_expect_not_null(doc, "a document of exactly the limit refused: %s", err.msg);
    json_decref(doc);
    cr_expect_null(hs_keys_parse(padded, HS_KEYS_MAX_BYTES + 1, "localhost:8448", 0, &kd, &err),
                   "a document over the limit accepted");
    free(padded);
    free(raw);
}

/* ---- our key server over HTTP --------------------------------------------------- */

static char *dir;
static hs_server srv;
static char base[128];

static void start(void)
{
    dir = pgt_tmpdir();
    hs_config cfg;
    hs_config_defaults(&cfg);
    snprintf(cfg.server_name, sizeof cfg.server_name, "keys.test:8448");
    cfg.threads = 2;
    cfg.key_validity_hours = 5;
    pgt_hs_config_files(&cfg, dir);
    char err[512];
    cr_assert_eq(hs_server_open(&srv, &cfg, err, sizeof err), 0, "%s", err);
    pgt_hs_listen_federation(&srv, base, sizeof base);
}

static void stop(void)
{
    hs_server_close(&srv);
    pgt_rmtree(dir);
    free(dir);
}

static json_t *get_json(const char *path, const char *method, const char *body, long *status)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", base, path);
    pgt_req r = {.method = method, .body = body, .body_len = body ? strlen(body) : 0};
    pgt_http h = pgt_http_do(url, &r);
    *status = h.status;
    json_t *j = json_loadb(h.body ? h.body : "", h.body_len, 0, NULL);
    pgt_http_free(&h);
    return j;
}

Test(hs_keys_server, both_key_paths_serve_a_valid_document, .init = start, .fini = stop, .timeout = 30)
{
    static const char *const paths[] = {"/_matrix/key/v2/server", "/_matrix/key/v2/server/ed25519%3Aanything"};
    for (size_t i = 0; i < 2; i++) {
        long status;
        int64_t before = hs_fed_now_ms();
        json_t *doc = get_json(paths[i], "GET", NULL, &status);
        cr_assert_eq(status, 200, "%s", paths[i]);
        cr_assert_not_null(doc);
        cr_expect(json_is_object(json_object_get(doc, "old_verify_keys")), "old_verify_keys missing");
        cr_expect_str_eq(json_string_value(json_object_get(doc, "server_name")), "keys.test:8448");
        hs_keys_doc kd;
        hs_err err;
        cr_assert_eq(hs_keys_validate(doc, "keys.test:8448", hs_fed_now_ms(), &kd, &err), 0, "%s", err.msg);
        /* key_validity_hours = 5 from the config. */
        cr_expect_geq(kd.valid_until_ts, before + 5 * 3600 * 1000);
        cr_expect_leq(kd.valid_until_ts, hs_fed_now_ms() + 5 * 3600 * 1000);
        const hs_keys_entry *e = hs_keys_find(&kd, srv.signing_key.key_id);
        cr_assert_not_null(e);
        cr_expect_eq(memcmp(e->public_key, srv.signing_key.public_key, 32), 0);
        json_decref(doc);
    }
}

Test(hs_keys_server, notary_answers_for_itself_cosigned, .init = start, .fini = stop, .timeout = 30)
{
    long status;
    json_t *r = get_json("/_matrix/key/v2/query", "POST",
                         "{\"server_keys\":{\"keys.test:8448\":{\"ed25519:x\":{\"minimum_valid_until_ts\":1}}}}",
                         &status);
    cr_assert_eq(status, 200);
    json_t *list = json_object_get(r, "server_keys");
    cr_assert_eq(json_array_size(list), 1);
    hs_keys_doc kd;
    hs_err err;
    cr_expect_eq(hs_keys_validate(json_array_get(list, 0), "keys.test:8448", 0, &kd, &err), 0, "%s", err.msg);
    json_decref(r);

    r = get_json("/_matrix/key/v2/query/keys.test%3A8448", "GET", NULL, &status);
    cr_assert_eq(status, 200);
    cr_expect_eq(json_array_size(json_object_get(r, "server_keys")), 1);
    json_decref(r);

    r = get_json("/_matrix/key/v2/query/keys.test%3A8448/ed25519%3Ax", "GET", NULL, &status);
    cr_assert_eq(status, 200, "the deprecated per-key notary path");
    cr_expect_eq(json_array_size(json_object_get(r, "server_keys")), 1);
    json_decref(r);

    /* A server we cannot reach (no transport in this process) yields no entry, not an error. */
    r = get_json("/_matrix/key/v2/query/unreachable.test", "GET", NULL, &status);
    cr_assert_eq(status, 200);
    cr_expect_eq(json_array_size(json_object_get(r, "server_keys")), 0);
    json_decref(r);

    r = get_json("/_matrix/key/v2/query", "POST", "{\"server_keys\":[]}", &status);
    cr_expect_eq(status, 400);
    json_decref(r);
}

/* Each server named in a notary query can cost an outbound fetch, so one query names at
 * most 20: 20 are answered, 21 refused before anything is fetched. */
Test(hs_keys_server, notary_query_names_at_most_20_servers, .init = start, .fini = stop, .timeout = 30)
{
    for (int n = 20; n <= 21; n++) {
        json_t *servers = json_object();
        for (int i = 0; i < n; i++) {
            char name[32];
            snprintf(name, sizeof name, "s%d.unreachable.test", i);
            json_object_set_new(servers, name, json_object());
        }
        json_t *query = json_pack("{s:o}", "server_keys", servers);
        char *body = json_dumps(query, JSON_COMPACT);
        json_decref(query);
        long status;
        json_t *r = get_json("/_matrix/key/v2/query", "POST", body, &status);
        cr_expect_eq(status, n == 20 ? 200 : 400, "%d servers: %ld", n, status);
        if (n == 21) cr_expect_str_eq(json_string_value(json_object_get(r, "errcode")), "M_LIMIT_EXCEEDED");
        json_decref(r);
        free(body);
    }
}

Test(hs_keys_server, profile_query_requires_x_matrix, .init = start, .fini = stop, .timeout = 30)
{
    long status;
    json_t *r = get_json("/_matrix/federation/v1/query/profile?user_id=%40a%3Akeys.test%3A8448", "GET", NULL,
                         &status);
    cr_expect_eq(status, 401);
    cr_expect_str_eq(json_string_value(json_object_get(r, "errcode")), "M_UNAUTHORIZED");
    json_decref(r);
}

/* Rotation: replacing the key file and restarting publishes the new key and keeps the
 * old one in old_verify_keys with the time it was retired; reusing a key ID with a
 * different key refuses to start. */
Test(hs_keys_server, rotated_key_stays_in_old_verify_keys, .init = start, .fini = stop, .timeout = 30)
{
    hs_config cfg = srv.cfg;
    hs_signing_key first = srv.signing_key;
    hs_server_close(&srv);
    char err[512];
    unlink(cfg.signing_key_path);
    hs_signing_key second;
    cr_assert_eq(hs_signing_key_generate(&second), 0);
    cr_assert_eq(hs_signing_key_save(cfg.signing_key_path, &second, err, sizeof err), 0, "%s", err);
    int64_t before = hs_fed_now_ms();
    cr_assert_eq(hs_server_open(&srv, &cfg, err, sizeof err), 0, "%s", err);
    pgt_hs_listen_federation(&srv, base, sizeof base);

    long status;
    json_t *doc = get_json("/_matrix/key/v2/server", "GET", NULL, &status);
    cr_assert_eq(status, 200);
    hs_keys_doc kd;
    hs_err e;
    cr_assert_eq(hs_keys_validate(doc, "keys.test:8448", hs_fed_now_ms(), &kd, &e), 0, "%s", e.msg);
    const hs_keys_entry *cur = hs_keys_find(&kd, second.key_id), *old = hs_keys_find(&kd, first.key_id);
    cr_assert_not_null(cur);
    cr_expect_eq(cur->expired_ts, -1);
    cr_assert_not_null(old, "the rotated-out key is not published");
    cr_expect_eq(memcmp(old->public_key, first.public_key, 32), 0);
    cr_expect_geq(old->expired_ts, before);
    cr_expect_leq(old->expired_ts, hs_fed_now_ms());
    json_decref(doc);

    /* The first key's ID with other key material: refused. */
    hs_server_close(&srv);
    hs_signing_key impostor;
    cr_assert_eq(hs_signing_key_generate(&impostor), 0);
    hs_signing_key clash;
    cr_assert_eq(hs_signing_key_from_seed(&clash, first.key_id + strlen("ed25519:"), impostor.seed), 0);
    unlink(cfg.signing_key_path);
    cr_assert_eq(hs_signing_key_save(cfg.signing_key_path, &clash, err, sizeof err), 0, "%s", err);
    cr_expect_neq(hs_server_open(&srv, &cfg, err, sizeof err), 0, "a reused key ID was accepted");
    /* Back to the second key so the suite's fini has a server to close. */
    unlink(cfg.signing_key_path);
    cr_assert_eq(hs_signing_key_save(cfg.signing_key_path, &second, err, sizeof err), 0, "%s", err);
    cr_assert_eq(hs_server_open(&srv, &cfg, err, sizeof err), 0, "%s", err);
}
