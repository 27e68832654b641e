/* hs_signing: ed25519 over canonical JSON via libsodium (detached signatures), plus the
 * keyring. Event signing composes this with hs_redact so the signed bytes are exactly
 * the redacted, signature-less canonical form other servers verify. */
#include "server-core/hs_signing.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_base64.h"
#include "server-core/hs_event_id.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_redact.h"

static const char *const unsigned_keys[] = {"signatures", "unsigned", NULL};

static int valid_key_id(const char *key_id)
{
    return key_id && strncmp(key_id, "ed25519:", 8) == 0 && key_id[8] != '\0' &&
           strlen(key_id) < HS_KEY_ID_MAX;
}

int hs_sign_json(json_t *obj, const char *server_name, const hs_signing_key *key, hs_err *err)
{
    if (!json_is_object(obj)) return hs_err_set(err, "only JSON objects can be signed");
    size_t len;
    char *bytes = hs_cjson_encode_without(obj, unsigned_keys, 0, &len, err);
    if (!bytes) return -1;
    uint8_t sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, (const unsigned char *)bytes, len, key->secret_key);
    free(bytes);
    char *b64 = hs_b64_encode(sig, sizeof sig);
    if (!b64) return hs_err_set(err, "out of memory");

    json_t *sigs = json_object_get(obj, "signatures");
    if (!json_is_object(sigs)) {
        sigs = json_object();
        json_object_set_new(obj, "signatures", sigs);
    }
    json_t *mine = json_object_get(sigs, server_name);
    if (!json_is_object(mine)) {
        mine = json_object();
        json_object_set_new(sigs, server_name, mine);
    }
    int rc = json_object_set_new(mine, key->key_id, json_string(b64));
    free(b64);
    return rc < 0 ? hs_err_set(err, "out of memory") : 0;
}

int hs_verify_json(const json_t *obj, const char *server_name, const char *key_id,
                   const uint8_t public_key[32], hs_err *err)
{
    json_t *sig_v = json_object_get(json_object_get(json_object_get(obj, "signatures"), server_name), key_id);
    if (!sig_v) return hs_err_set(err, "no signature from %.100s with key %.60s", server_name, key_id);
    if (!json_is_string(sig_v))
        return hs_err_set(err, "signature from %.100s with key %.60s is not a string", server_name, key_id);
    uint8_t sig[crypto_sign_BYTES + 4];
    if (hs_b64_decode(json_string_value(sig_v), sig, sizeof sig) != crypto_sign_BYTES)
        return hs_err_set(err, "signature from %.100s with key %.60s is not 64 bytes of base64", server_name, key_id);
    size_t len;
    char *bytes = hs_cjson_encode_without(obj, unsigned_keys, HS_CJSON_LAX_INTS, &len, err);
    if (!bytes) return -1;
    int ok = crypto_sign_verify_detached(sig, (const unsigned char *)bytes, len, public_key);
    free(bytes);
    if (ok != 0) return hs_err_set(err, "signature from %.100s with key %.60s does not verify", server_name, key_id);
    return 0;
}

/* ---- keyring -------------------------------------------------------------------- */

void hs_keyring_init(hs_keyring *kr)
{
    memset(kr, 0, sizeof *kr);
}

void hs_keyring_free(hs_keyring *kr)
{
    for (size_t i = 0; i < kr->n; i++) free(kr->keys[i].server_name);
    free(kr->keys);
    memset(kr, 0, sizeof *kr);
}

const hs_verify_key *hs_keyring_find(const hs_keyring *kr, const char *server_name, const char *key_id)
{
    for (size_t i = 0; i < kr->n; i++)
        if (strcmp(kr->keys[i].server_name, server_name) == 0 && strcmp(kr->keys[i].key_id, key_id) == 0)
            return &kr->keys[i];
    return NULL;
}

int hs_keyring_add(hs_keyring *kr, const char *server_name, const char *key_id,
                   const uint8_t public_key[32], long long expired_ts, hs_err *err)
{
    if (!valid_key_id(key_id)) return hs_err_set(err, "key ID '%.60s' is not of the form ed25519:<version>", key_id);
    hs_verify_key *k = (hs_verify_key *)hs_keyring_find(kr, server_name, key_id);
    if (!k) {
        if (kr->n == kr->cap) {
            size_t cap = kr->cap ? kr->cap * 2 : 8;
            hs_verify_key *nk = realloc(kr->keys, cap * sizeof *nk);
            if (!nk) return hs_err_set(err, "out of memory");
            kr->keys = nk;
            kr->cap = cap;
        }
        k = &kr->keys[kr->n];
        memset(k, 0, sizeof *k);
        k->server_name = strdup(server_name);
        if (!k->server_name) return hs_err_set(err, "out of memory");
        strcpy(k->key_id, key_id);
        kr->n++;
    }
    memcpy(k->public_key, public_key, 32);
    k->expired_ts = expired_ts;
    return 0;
}

/* Decodes a {key_id: {"key": b64, ...}} map into parallel arrays, at most `max`. */
static int decode_key_map(const json_t *map, const char *field, const char **ids, uint8_t (*pks)[32],
                          long long *expired, size_t max, size_t *n, hs_err *err)
{
    if (!map) return 0;
    if (!json_is_object(map)) return hs_err_set(err, "%s must be an object", field);
    const char *kid;
    json_t *entry;
    json_object_foreach((json_t *)map, kid, entry) {
        if (*n == max) return hs_err_set(err, "too many keys in %s (limit %zu)", field, max);
        const char *b64 = json_string_value(json_object_get(entry, "key"));
        if (!valid_key_id(kid)) return hs_err_set(err, "%s has a key ID '%.60s' that is not ed25519:...", field, kid);
        if (!b64 || hs_b64_decode(b64, pks[*n], 32) != 32)
            return hs_err_set(err, "%s[%.60s].key is not 32 bytes of base64", field, kid);
        json_t *ets = json_object_get(entry, "expired_ts");
        expired[*n] = json_is_integer(ets) ? (long long)json_integer_value(ets) : -1;
        ids[*n] = kid;
        (*n)++;
    }
    return 0;
}

#define MAX_SERVER_KEYS 32

int hs_keyring_add_server_keys(hs_keyring *kr, const json_t *doc, hs_err *err)
{
    if (!json_is_object(doc)) return hs_err_set(err, "key response must be a JSON object");
    const char *server = json_string_value(json_object_get(doc, "server_name"));
    if (!server || !hs_is_valid_server_name(server))
        return hs_err_set(err, "key response has no valid server_name");
    const char *ids[MAX_SERVER_KEYS];
    uint8_t pks[MAX_SERVER_KEYS][32];
    long long expired[MAX_SERVER_KEYS];
    size_t n_current = 0, n = 0;
    if (decode_key_map(json_object_get(doc, "verify_keys"), "verify_keys", ids, pks, expired, MAX_SERVER_KEYS, &n,
                       err) < 0)
        return -1;
    n_current = n;
    if (n_current == 0) return hs_err_set(err, "key response for %.100s has no verify_keys", server);
    if (decode_key_map(json_object_get(doc, "old_verify_keys"), "old_verify_keys", ids, pks, expired,
                       MAX_SERVER_KEYS, &n, err) < 0)
        return -1;

    /* Every self-signature by a current key must verify, and there must be one. */
    size_t verified = 0;
    for (size_t i = 0; i < n_current; i++) {
        json_t *sig = json_object_get(json_object_get(json_object_get(doc, "signatures"), server), ids[i]);
        if (!sig) continue;
        hs_err e;
        if (hs_verify_json(doc, server, ids[i], pks[i], &e) < 0)
            return hs_err_set(err, "key response self-signature: %s", e.msg);
        verified++;
    }
    if (verified == 0) return hs_err_set(err, "key response for %.100s is not signed by any of its own verify_keys", server);
    for (size_t i = 0; i < n; i++)
        if (hs_keyring_add(kr, server, ids[i], pks[i], i < n_current ? -1 : expired[i], err) < 0) return -1;
    return 0;
}

/* ---- events --------------------------------------------------------------------- */

int hs_event_sign(json_t *pdu, const hs_room_version *rv, const char *server_name,
                  const hs_signing_key *key, int add_hash, hs_err *err)
{
    if (add_hash && hs_event_add_content_hash(pdu, err) < 0) return -1;
    json_t *red = hs_redact(pdu, rv);
    if (!red) return hs_err_set(err, "event is not a JSON object");
    int rc = hs_sign_json(red, server_name, key, err);
    if (rc == 0) rc = json_object_set(pdu, "signatures", json_object_get(red, "signatures")) < 0
                          ? hs_err_set(err, "out of memory")
                          : 0;
    json_decref(red);
    return rc;
}

int hs_event_verify_signature(const json_t *pdu, const hs_room_version *rv, const char *server_name,
                              const char *key_id, const uint8_t public_key[32], hs_err *err)
{
    json_t *red = hs_redact(pdu, rv);
    if (!red) return hs_err_set(err, "event is not a JSON object");
    int rc = hs_verify_json(red, server_name, key_id, public_key, err);
    json_decref(red);
    return rc;
}

static int add_signer(const char **out, size_t max, size_t *n, const char *server, hs_err *err)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(out[i], server) == 0) return 0;
    if (*n == max) return hs_err_set(err, "too many required signers for the output array");
    out[(*n)++] = server;
    return 0;
}

int hs_event_required_signers(const json_t *pdu, const hs_room_version *rv, const char **out, size_t max,
                              hs_err *err)
{
    size_t n = 0;
    const char *sender = hs_pdu_sender(pdu);
    const char *server = sender ? hs_id_server_name(sender) : NULL;
    if (!server) return hs_err_set(err, "event has no valid sender to take the signing server from");
    if (add_signer(out, max, &n, server, err) < 0) return -1;
    if (rv->event_id_format == HS_EVENT_ID_V1) {
        const char *eid = json_string_value(json_object_get(pdu, "event_id"));
        const char *eserver = eid ? hs_id_server_name(eid) : NULL;
        if (!eserver) return hs_err_set(err, "room v1/v2 event has no event_id with a server name");
        if (add_signer(out, max, &n, eserver, err) < 0) return -1;
    }
    const char *type = hs_pdu_type(pdu);
    json_t *content = json_object_get(pdu, "content");
    const char *via = json_string_value(json_object_get(content, "join_authorised_via_users_server"));
    if (rv->redact_join_authorised && type && strcmp(type, "m.room.member") == 0 && via &&
        json_is_string(json_object_get(content, "membership")) &&
        strcmp(json_string_value(json_object_get(content, "membership")), "join") == 0) {
        const char *vserver = hs_id_server_name(via);
        if (!vserver) return hs_err_set(err, "join_authorised_via_users_server is not a user ID");
        if (add_signer(out, max, &n, vserver, err) < 0) return -1;
    }
    return (int)n;
}
