/* hs_e2ee: shape and signature checks for device keys, one-time keys and
 * cross-signing keys. Every check names the field and rule that failed, because a
 * client developer reads these messages when an upload is refused.
 *
 * What is deliberately not checked: the signatures on one-time keys (the spec leaves
 * them to the claiming client, which verifies them with the device key it trusts;
 * Synapse does not check them either), and the curve25519 key's encoding (it is
 * opaque to the server). */
#include "server-core/hs_e2ee.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_base64.h"
#include "server-core/hs_signing.h"

static const char *const unsigned_keys[] = {"signatures", "unsigned", NULL};

int hs_e2ee_split_key_id(const char *s, char *algorithm, char *key_id, hs_err *err)
{
    const char *colon = strchr(s, ':');
    if (!colon || colon == s || !colon[1])
        return hs_err_set(err, "key ID '%.80s' is not of the form <algorithm>:<key ID>", s);
    size_t alen = (size_t)(colon - s), klen = strlen(colon + 1);
    if (alen >= HS_E2EE_ALGORITHM_MAX || klen >= HS_E2EE_KEY_ID_MAX)
        return hs_err_set(err, "key ID '%.80s' is too long", s);
    memcpy(algorithm, s, alen);
    algorithm[alen] = 0;
    memcpy(key_id, colon + 1, klen + 1);
    return 0;
}

/* A string member of exactly `want` (when want is given) or any string. */
static int string_field(const json_t *o, const char *key, const char *want, hs_err *err)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_string(v)) return hs_err_set(err, "'%s' must be a string", key);
    if (want && strcmp(json_string_value(v), want) != 0)
        return hs_err_set(err, "'%s' is '%.100s', not '%.100s'", key, json_string_value(v), want);
    return 0;
}

static int decode_key32(const json_t *v, uint8_t pub[32])
{
    if (!json_is_string(v)) return -1;
    uint8_t buf[36];
    return hs_b64_decode(json_string_value(v), buf, sizeof buf) == 32 ? (memcpy(pub, buf, 32), 0) : -1;
}

int hs_e2ee_device_ed25519(const json_t *dk, const char *device_id, uint8_t pub[32])
{
    char id[HS_E2EE_KEY_ID_MAX + 16];
    snprintf(id, sizeof id, "ed25519:%s", device_id);
    return decode_key32(json_object_get(json_object_get(dk, "keys"), id), pub);
}

int hs_e2ee_verify(const json_t *obj, const char *signer_user, const char *signer_b64, const uint8_t pub[32],
                   hs_err *err)
{
    char key_id[HS_E2EE_KEY_ID_MAX + 16];
    snprintf(key_id, sizeof key_id, "ed25519:%s", signer_b64);
    return hs_verify_json(obj, signer_user, key_id, pub, err);
}

int hs_e2ee_check_device_keys(const json_t *dk, const char *user_id, const char *device_id, hs_err *err)
{
    if (!json_is_object(dk)) return hs_err_set(err, "'device_keys' must be an object");
    if (string_field(dk, "user_id", user_id, err) != 0 || string_field(dk, "device_id", device_id, err) != 0)
        return -1;
    const json_t *algs = json_object_get(dk, "algorithms");
    if (!json_is_array(algs)) return hs_err_set(err, "'algorithms' must be a list of strings");
    size_t i;
    const json_t *v;
    json_array_foreach(algs, i, v) {
        if (!json_is_string(v)) return hs_err_set(err, "'algorithms' must be a list of strings");
    }
    const json_t *keys = json_object_get(dk, "keys");
    if (!json_is_object(keys)) return hs_err_set(err, "'keys' must be an object");
    const char *k;
    json_object_foreach((json_t *)keys, k, v) {
        if (!json_is_string(v)) return hs_err_set(err, "keys['%.80s'] must be a string", k);
    }
    uint8_t pub[32];
    if (hs_e2ee_device_ed25519(dk, device_id, pub) != 0)
        return hs_err_set(err, "keys must hold 'ed25519:%.80s' as 32 bytes of base64", device_id);
    if (!json_is_object(json_object_get(dk, "signatures"))) return hs_err_set(err, "'signatures' must be an object");
    hs_err why;
    if (hs_e2ee_verify(dk, user_id, device_id, pub, &why) != 0)
        return hs_err_set(err, "device keys are not self-signed: %s", why.msg);
    return 0;
}

int hs_e2ee_check_cross_key(const json_t *key, const char *user_id, const char *usage, uint8_t pub[32], char *b64,
                            hs_err *err)
{
    if (!json_is_object(key)) return hs_err_set(err, "the %s key must be an object", usage);
    if (string_field(key, "user_id", user_id, err) != 0) return -1;
    const json_t *usages = json_object_get(key, "usage");
    bool has_usage = false;
    size_t i;
    const json_t *v;
    if (!json_is_array(usages)) return hs_err_set(err, "the %s key's 'usage' must be a list", usage);
    json_array_foreach(usages, i, v) {
        if (!json_is_string(v)) return hs_err_set(err, "the %s key's 'usage' must be a list of strings", usage);
        if (strcmp(json_string_value(v), usage) == 0) has_usage = true;
    }
    if (!has_usage) return hs_err_set(err, "the %s key's 'usage' does not contain '%s'", usage, usage);
    const json_t *keys = json_object_get(key, "keys");
    if (!json_is_object(keys) || json_object_size(keys) != 1)
        return hs_err_set(err, "the %s key's 'keys' must hold exactly one key", usage);
    const char *k = json_object_iter_key(json_object_iter((json_t *)keys));
    v = json_object_iter_value(json_object_iter((json_t *)keys));
    if (strncmp(k, "ed25519:", 8) != 0 || decode_key32(v, pub) != 0 || strcmp(k + 8, json_string_value(v)) != 0 ||
        strlen(k + 8) >= HS_E2EE_KEY_ID_MAX)
        return hs_err_set(err, "the %s key must be 'ed25519:<public key>': <public key> (32 bytes, unpadded base64)",
                          usage);
    memcpy(b64, k + 8, strlen(k + 8) + 1);
    const json_t *sigs = json_object_get(key, "signatures");
    if (sigs && !json_is_object(sigs)) return hs_err_set(err, "the %s key's 'signatures' must be an object", usage);
    return 0;
}

bool hs_e2ee_same_signed_content(const json_t *a, const json_t *b)
{
    if (!json_is_object(a) || !json_is_object(b)) return false;
    char *ca = hs_cjson_encode_without(a, unsigned_keys, HS_CJSON_LAX_INTS, NULL, NULL);
    char *cb = hs_cjson_encode_without(b, unsigned_keys, HS_CJSON_LAX_INTS, NULL, NULL);
    bool same = ca && cb && strcmp(ca, cb) == 0;
    free(ca);
    free(cb);
    return same;
}

/* Parses one map of "algorithm:key_id" -> key into a fresh array. */
static int parse_key_map(const json_t *map, const char *what, bool one_per_algorithm, hs_e2ee_key_entry **out,
                         size_t *n, hs_err *err)
{
    *out = NULL;
    *n = 0;
    if (!map || json_is_null(map)) return 0;
    if (!json_is_object(map)) return hs_err_set(err, "'%s' must be an object", what);
    size_t size = json_object_size(map);
    if (size > HS_E2EE_KEYS_PER_UPLOAD)
        return hs_err_set(err, "'%s' holds %zu keys; at most %d per upload", what, size, HS_E2EE_KEYS_PER_UPLOAD);
    if (size == 0) return 0;
    hs_e2ee_key_entry *arr = calloc(size, sizeof *arr);
    if (!arr) return hs_err_set(err, "out of memory");
    const char *k;
    const json_t *v;
    size_t i = 0;
    json_object_foreach((json_t *)map, k, v) {
        hs_e2ee_key_entry *e = &arr[i];
        if (hs_e2ee_split_key_id(k, e->algorithm, e->key_id, err) != 0) goto fail;
        if (!json_is_string(v) && !json_is_object(v)) {
            hs_err_set(err, "%s['%.80s'] must be a string or an object", what, k);
            goto fail;
        }
        for (size_t j = 0; one_per_algorithm && j < i; j++) {
            if (strcmp(arr[j].algorithm, e->algorithm) == 0) {
                hs_err_set(err, "'%s' holds two keys of algorithm '%.80s'", what, e->algorithm);
                goto fail;
            }
        }
        size_t len;
        hs_err why;
        e->json = hs_cjson_encode(v, HS_CJSON_ANY, &len, &why);
        if (!e->json) {
            hs_err_set(err, "%s['%.80s']: %s", what, k, why.msg);
            goto fail;
        }
        i++;
        if (len > HS_E2EE_KEY_JSON_MAX) {
            hs_err_set(err, "%s['%.80s'] is longer than %d bytes", what, k, HS_E2EE_KEY_JSON_MAX);
            goto fail;
        }
    }
    *out = arr;
    *n = i;
    return 0;
fail:
    for (size_t j = 0; j < size; j++) free(arr[j].json);
    free(arr);
    return -1;
}

int hs_e2ee_parse_upload(const json_t *body, const char *user_id, const char *device_id, hs_e2ee_upload *out,
                         hs_err *err)
{
    memset(out, 0, sizeof *out);
    const json_t *dk = json_object_get(body, "device_keys");
    if (dk && !json_is_null(dk)) {
        if (hs_e2ee_check_device_keys(dk, user_id, device_id, err) != 0) return -1;
        hs_err why;
        size_t len;
        out->device_keys = dk;
        out->device_keys_json = hs_cjson_encode(dk, 0, &len, &why);
        if (!out->device_keys_json) return hs_err_set(err, "device_keys: %s", why.msg);
        if (len > HS_E2EE_KEY_JSON_MAX) {
            hs_e2ee_upload_free(out);
            return hs_err_set(err, "device_keys is longer than %d bytes", HS_E2EE_KEY_JSON_MAX);
        }
    }
    if (parse_key_map(json_object_get(body, "one_time_keys"), "one_time_keys", false, &out->otks, &out->n_otks,
                      err) != 0 ||
        parse_key_map(json_object_get(body, "fallback_keys"), "fallback_keys", true, &out->fallbacks,
                      &out->n_fallbacks, err) != 0) {
        hs_e2ee_upload_free(out);
        return -1;
    }
    return 0;
}

void hs_e2ee_upload_free(hs_e2ee_upload *up)
{
    free(up->device_keys_json);
    for (size_t i = 0; i < up->n_otks; i++) free(up->otks[i].json);
    for (size_t i = 0; i < up->n_fallbacks; i++) free(up->fallbacks[i].json);
    free(up->otks);
    free(up->fallbacks);
    memset(up, 0, sizeof *up);
}
