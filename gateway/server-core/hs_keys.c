/* hs_keys: key documents. The self-signature check is hs_keyring_add_server_keys (one
 * implementation of "signed by one of its own verify_keys" for the whole server-core);
 * this file adds what a fetcher must check on top of it - that the document is about
 * the server we asked for, that valid_until_ts is sane - and turns the result into a
 * flat list the key cache can store. */
#include "server-core/hs_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_base64.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_signing.h"

json_t *hs_keys_own_response(const char *server_name, const hs_signing_key *key, int64_t valid_until_ts,
                             const json_t *old_verify_keys, hs_err *err)
{
    char pub[44];
    hs_signing_key_public_b64(key, pub);
    json_t *old = old_verify_keys ? json_deep_copy(old_verify_keys) : json_object();
    json_t *doc = json_pack("{s:s, s:I, s:{s:{s:s}}, s:o}", "server_name", server_name, "valid_until_ts",
                            (json_int_t)valid_until_ts, "verify_keys", key->key_id, "key", pub, "old_verify_keys", old);
    if (!doc) {
        hs_err_set(err, "cannot build the key response (out of memory?)");
        return NULL;
    }
    if (hs_sign_json(doc, server_name, key, err) != 0) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

int hs_keys_validate(const json_t *doc, const char *expected_server, int64_t now_ms, hs_keys_doc *out, hs_err *err)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(doc)) return hs_err_set(err, "key response is not a JSON object");
    const char *server = json_string_value(json_object_get(doc, "server_name"));
    if (!server) return hs_err_set(err, "key response has no server_name");
    if (strcmp(server, expected_server) != 0)
        return hs_err_set(err, "key response is for '%.100s', not '%.100s'", server, expected_server);
    json_t *vut = json_object_get(doc, "valid_until_ts");
    if (!json_is_integer(vut) || json_integer_value(vut) < 0)
        return hs_err_set(err, "key response has no integer valid_until_ts");
    out->valid_until_ts = json_integer_value(vut);
    if (now_ms > 0 && out->valid_until_ts <= now_ms)
        return hs_err_set(err, "key response for %.100s expired at %lld", server, (long long)out->valid_until_ts);

    hs_keyring kr;
    hs_keyring_init(&kr);
    if (hs_keyring_add_server_keys(&kr, doc, err) != 0) {
        hs_keyring_free(&kr);
        return -1;
    }
    if (kr.n > HS_KEYS_MAX_KEYS) {
        hs_keyring_free(&kr);
        return hs_err_set(err, "key response for %.100s lists more than %d keys", server, HS_KEYS_MAX_KEYS);
    }
    snprintf(out->server_name, sizeof out->server_name, "%s", server);
    for (size_t i = 0; i < kr.n; i++) {
        hs_keys_entry *e = &out->keys[out->n_keys++];
        snprintf(e->key_id, sizeof e->key_id, "%s", kr.keys[i].key_id);
        memcpy(e->public_key, kr.keys[i].public_key, 32);
        e->expired_ts = kr.keys[i].expired_ts;
        char *b64 = hs_b64_encode(e->public_key, 32);
        if (!b64) {
            hs_keyring_free(&kr);
            return hs_err_set(err, "out of memory");
        }
        snprintf(e->key_b64, sizeof e->key_b64, "%s", b64);
        free(b64);
    }
    hs_keyring_free(&kr);
    return 0;
}

json_t *hs_keys_parse(const char *buf, size_t len, const char *expected_server, int64_t now_ms, hs_keys_doc *out,
                      hs_err *err)
{
    json_t *doc = hs_cjson_parse(buf, len, HS_KEYS_MAX_BYTES, 0, err);
    if (!doc) return NULL;
    if (hs_keys_validate(doc, expected_server, now_ms, out, err) != 0) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

const hs_keys_entry *hs_keys_find(const hs_keys_doc *doc, const char *key_id)
{
    for (size_t i = 0; i < doc->n_keys; i++)
        if (strcmp(doc->keys[i].key_id, key_id) == 0) return &doc->keys[i];
    return NULL;
}
