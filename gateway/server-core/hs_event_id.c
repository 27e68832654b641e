/* hs_event_id: sha256 (libsodium) of the canonical forms described in the header. */
#include "server-core/hs_event_id.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_base64.h"
#include "server-core/hs_redact.h"

static int sha256_of(const json_t *obj, const char *const *skip, unsigned flags, uint8_t out[32], hs_err *err)
{
    if (!json_is_object(obj)) return hs_err_set(err, "event is not a JSON object");
    size_t len;
    char *bytes = hs_cjson_encode_without(obj, skip, flags, &len, err);
    if (!bytes) return -1;
    crypto_hash_sha256(out, (const unsigned char *)bytes, len);
    free(bytes);
    return 0;
}

int hs_event_content_hash(const json_t *pdu, uint8_t out[32], hs_err *err)
{
    static const char *const skip[] = {"unsigned", "signatures", "hashes", NULL};
    return sha256_of(pdu, skip, HS_CJSON_LAX_INTS, out, err);
}

int hs_event_add_content_hash(json_t *pdu, hs_err *err)
{
    uint8_t h[32];
    if (hs_event_content_hash(pdu, h, err) < 0) return -1;
    char *b64 = hs_b64_encode(h, sizeof h);
    if (!b64) return hs_err_set(err, "out of memory");
    json_t *hashes = json_object_get(pdu, "hashes");
    if (!json_is_object(hashes)) {
        hashes = json_object();
        json_object_set_new(pdu, "hashes", hashes);
    }
    int rc = json_object_set_new(hashes, "sha256", json_string(b64));
    free(b64);
    return rc < 0 ? hs_err_set(err, "out of memory") : 0;
}

int hs_event_check_content_hash(const json_t *pdu, hs_err *err)
{
    json_t *hv = json_object_get(json_object_get(pdu, "hashes"), "sha256");
    if (!hv) return hs_err_set(err, "event has no hashes.sha256");
    uint8_t claimed[36];
    if (!json_is_string(hv) || hs_b64_decode(json_string_value(hv), claimed, sizeof claimed) != 32)
        return hs_err_set(err, "hashes.sha256 is not 32 bytes of base64");
    uint8_t actual[32];
    if (hs_event_content_hash(pdu, actual, err) < 0) return -1;
    if (sodium_memcmp(claimed, actual, 32) != 0) {
        char *b64 = hs_b64_encode(actual, 32);
        hs_err_set(err, "content hash mismatch: hashes.sha256 is %.60s but the content hashes to %s",
                   json_string_value(hv), b64 ? b64 : "?");
        free(b64);
        return -1;
    }
    return 0;
}

int hs_event_reference_hash(const json_t *pdu, const hs_room_version *rv, uint8_t out[32], hs_err *err)
{
    static const char *const skip[] = {"signatures", "unsigned", NULL};
    if (!rv) return hs_err_set(err, "unknown room version");
    json_t *red = hs_redact(pdu, rv);
    if (!red) return hs_err_set(err, "event is not a JSON object");
    int rc = sha256_of(red, skip, rv->strict_canonical_json ? 0 : HS_CJSON_LAX_INTS, out, err);
    json_decref(red);
    return rc;
}

static char *hash_id(char sigil, const json_t *pdu, const hs_room_version *rv, int urlsafe, hs_err *err)
{
    uint8_t h[32];
    if (hs_event_reference_hash(pdu, rv, h, err) < 0) return NULL;
    char *b64 = urlsafe ? hs_b64url_encode(h, 32) : hs_b64_encode(h, 32);
    char *id = b64 ? malloc(strlen(b64) + 2) : NULL;
    if (!id) {
        free(b64);
        hs_err_set(err, "out of memory");
        return NULL;
    }
    id[0] = sigil;
    strcpy(id + 1, b64);
    free(b64);
    return id;
}

char *hs_event_id_compute(const json_t *pdu, const hs_room_version *rv, hs_err *err)
{
    if (!rv) {
        hs_err_set(err, "unknown room version");
        return NULL;
    }
    switch (rv->event_id_format) {
    case HS_EVENT_ID_V1: {
        const char *id = json_string_value(json_object_get(pdu, "event_id"));
        if (!id) {
            hs_err_set(err, "room version %s events carry their own event_id, and this one has none", rv->id);
            return NULL;
        }
        char *copy = strdup(id);
        if (!copy) hs_err_set(err, "out of memory");
        return copy;
    }
    case HS_EVENT_ID_V3:
        return hash_id('$', pdu, rv, 0, err);
    case HS_EVENT_ID_V4:
        return hash_id('$', pdu, rv, 1, err);
    }
    hs_err_set(err, "unknown event ID format");
    return NULL;
}

char *hs_room_id_from_create(const json_t *create, const hs_room_version *rv, hs_err *err)
{
    if (!rv || !rv->room_id_from_create) {
        hs_err_set(err, "room version %s does not derive room IDs from the create event", rv ? rv->id : "?");
        return NULL;
    }
    const char *type = json_string_value(json_object_get(create, "type"));
    if (!type || strcmp(type, "m.room.create") != 0) {
        hs_err_set(err, "room IDs derive from an m.room.create event, not %.100s", type ? type : "(no type)");
        return NULL;
    }
    return hash_id('!', create, rv, 1, err);
}
