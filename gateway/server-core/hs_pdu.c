/* hs_pdu: hand-written grammar checks (each rule is a few lines, a regex library would
 * not make them clearer) and a validator that walks the fields in a fixed order so the
 * first violation reported is deterministic. */
#include "server-core/hs_pdu.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_canonical_json.h"

/* ---- grammar -------------------------------------------------------------------- */

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i])) return false;
    return n > 0;
}

static bool valid_port(const char *s, size_t n)
{
    return n >= 1 && n <= 5 && all_digits(s, n);
}

/* IPv6address = 2*45IPv6char, IPv6char = DIGIT / A-F / a-f / ":" / "." */
static bool valid_ipv6_body(const char *s, size_t n)
{
    if (n < 2 || n > 45) return false;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]) && s[i] != ':' && s[i] != '.') return false;
    return true;
}

/* dns-name = 1*255dns-char (DIGIT / ALPHA / "-" / "."); this also covers IPv4 literals. */
static bool valid_dns_name(const char *s, size_t n)
{
    if (n < 1 || n > 255) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '-' && c != '.') return false;
    }
    return true;
}

static bool valid_server_name_n(const char *s, size_t n)
{
    if (n == 0) return false;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close || !valid_ipv6_body(s + 1, (size_t)(close - s - 1))) return false;
        size_t rest = n - (size_t)(close - s) - 1;
        if (rest == 0) return true;
        return close[1] == ':' && valid_port(close + 2, rest - 1);
    }
    const char *colon = memchr(s, ':', n);
    if (!colon) return valid_dns_name(s, n);
    return valid_dns_name(s, (size_t)(colon - s)) && valid_port(colon + 1, n - (size_t)(colon - s) - 1);
}

bool hs_is_valid_server_name(const char *s)
{
    return s && valid_server_name_n(s, strlen(s));
}

/* sigil + non-empty opaque part of chars in `ok` + ":" + server name, <= 255 bytes. */
static bool valid_sigil_id(const char *s, char sigil, bool (*ok)(unsigned char))
{
    if (!s || s[0] != sigil) return false;
    size_t n = strlen(s);
    if (n > HS_ID_MAX_BYTES) return false;
    const char *colon = strchr(s, ':');
    if (!colon || colon == s + 1) return false;
    for (const char *p = s + 1; p < colon; p++)
        if (!ok((unsigned char)*p)) return false;
    return valid_server_name_n(colon + 1, n - (size_t)(colon - s) - 1);
}

/* Historical user ID localparts: %x21-39 / %x3B-7E, i.e. printable ASCII except ':'. */
static bool printable_not_colon(unsigned char c)
{
    return c >= 0x21 && c <= 0x7E && c != ':';
}

bool hs_is_valid_user_id(const char *s)
{
    return valid_sigil_id(s, '@', printable_not_colon);
}

bool hs_is_valid_room_alias(const char *s)
{
    return valid_sigil_id(s, '#', printable_not_colon);
}

static bool b64_std(unsigned char c)
{
    return isalnum(c) || c == '+' || c == '/';
}

static bool b64_url(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '_';
}

/* sigil + the 43 characters of an unpadded base64 sha256. */
static bool valid_hash_id(const char *s, char sigil, bool (*ok)(unsigned char))
{
    if (!s || s[0] != sigil || strlen(s) != 44) return false;
    for (int i = 1; i < 44; i++)
        if (!ok((unsigned char)s[i])) return false;
    return true;
}

bool hs_is_valid_room_id(const char *s, const hs_room_version *rv)
{
    if (!rv) return valid_sigil_id(s, '!', printable_not_colon) || valid_hash_id(s, '!', b64_url);
    if (rv->room_id_from_create) return valid_hash_id(s, '!', b64_url);
    return valid_sigil_id(s, '!', printable_not_colon);
}

bool hs_is_valid_event_id(const char *s, const hs_room_version *rv)
{
    if (!rv)
        return valid_sigil_id(s, '$', printable_not_colon) || valid_hash_id(s, '$', b64_std) ||
               valid_hash_id(s, '$', b64_url);
    switch (rv->event_id_format) {
    case HS_EVENT_ID_V1: return valid_sigil_id(s, '$', printable_not_colon);
    case HS_EVENT_ID_V3: return valid_hash_id(s, '$', b64_std);
    case HS_EVENT_ID_V4: return valid_hash_id(s, '$', b64_url);
    }
    return false;
}

const char *hs_id_server_name(const char *id)
{
    if (!id || !strchr("@!$#", id[0]) || id[0] == '\0') return NULL;
    const char *colon = strchr(id, ':');
    if (!colon || colon == id + 1 || !hs_is_valid_server_name(colon + 1)) return NULL;
    return colon + 1;
}

/* ---- accessors ------------------------------------------------------------------ */

static const char *str_field(const json_t *pdu, const char *key)
{
    return json_string_value(json_object_get(pdu, key));
}

const char *hs_pdu_type(const json_t *pdu) { return str_field(pdu, "type"); }
const char *hs_pdu_sender(const json_t *pdu) { return str_field(pdu, "sender"); }
const char *hs_pdu_room_id(const json_t *pdu) { return str_field(pdu, "room_id"); }
const char *hs_pdu_state_key(const json_t *pdu) { return str_field(pdu, "state_key"); }
json_t *hs_pdu_content(const json_t *pdu) { return json_object_get(pdu, "content"); }

static long long int_field(const json_t *pdu, const char *key)
{
    json_t *v = json_object_get(pdu, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

long long hs_pdu_depth(const json_t *pdu) { return int_field(pdu, "depth"); }
long long hs_pdu_origin_server_ts(const json_t *pdu) { return int_field(pdu, "origin_server_ts"); }

static const char *ref_at(const json_t *pdu, const char *field, size_t i)
{
    json_t *e = json_array_get(json_object_get(pdu, field), i);
    if (json_is_array(e)) e = json_array_get(e, 0);
    return json_string_value(e);
}

size_t hs_pdu_prev_event_count(const json_t *pdu) { return json_array_size(json_object_get(pdu, "prev_events")); }
const char *hs_pdu_prev_event(const json_t *pdu, size_t i) { return ref_at(pdu, "prev_events", i); }
size_t hs_pdu_auth_event_count(const json_t *pdu) { return json_array_size(json_object_get(pdu, "auth_events")); }
const char *hs_pdu_auth_event(const json_t *pdu, size_t i) { return ref_at(pdu, "auth_events", i); }

const char *hs_pdu_redacts(const json_t *pdu, const hs_room_version *rv)
{
    if (rv && rv->redacts_in_content) return json_string_value(json_object_get(hs_pdu_content(pdu), "redacts"));
    return str_field(pdu, "redacts");
}

/* ---- validation ----------------------------------------------------------------- */

/* A required string field of at most 255 bytes. */
static int need_string(const json_t *pdu, const char *key, const char **out, hs_err *err)
{
    json_t *v = json_object_get(pdu, key);
    if (!v) return hs_err_set(err, "missing required field '%s'", key);
    if (!json_is_string(v)) return hs_err_set(err, "field '%s' must be a string", key);
    if (json_string_length(v) > HS_ID_MAX_BYTES)
        return hs_err_set(err, "field '%s' is %zu bytes, over the %d byte limit", key, json_string_length(v),
                          HS_ID_MAX_BYTES);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return hs_err_set(err, "field '%s' contains a NUL character", key);
    *out = json_string_value(v);
    return 0;
}

static int check_refs(const json_t *pdu, const char *field, size_t max, const hs_room_version *rv, hs_err *err)
{
    json_t *arr = json_object_get(pdu, field);
    if (!arr) return hs_err_set(err, "missing required field '%s'", field);
    if (!json_is_array(arr)) return hs_err_set(err, "field '%s' must be an array", field);
    if (json_array_size(arr) > max)
        return hs_err_set(err, "field '%s' has %zu entries, over the limit of %zu", field, json_array_size(arr), max);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *e = json_array_get(arr, i);
        if (rv->event_id_format == HS_EVENT_ID_V1) {
            if (!json_is_array(e) || json_array_size(e) != 2 || !json_is_object(json_array_get(e, 1)))
                return hs_err_set(err, "%s[%zu] must be an [event_id, {hashes}] pair in room version %s", field, i, rv->id);
            e = json_array_get(e, 0);
        }
        if (!json_is_string(e)) return hs_err_set(err, "%s[%zu] must be an event ID string", field, i);
        if (!hs_is_valid_event_id(json_string_value(e), rv))
            return hs_err_set(err, "%s[%zu] '%.80s' is not a valid room version %s event ID", field, i,
                              json_string_value(e), rv->id);
    }
    return 0;
}

static int check_signatures(const json_t *pdu, hs_err *err)
{
    json_t *sigs = json_object_get(pdu, "signatures");
    if (!sigs) return hs_err_set(err, "missing required field 'signatures'");
    if (!json_is_object(sigs)) return hs_err_set(err, "field 'signatures' must be an object");
    const char *server, *kid;
    json_t *per, *sig;
    json_object_foreach(sigs, server, per) {
        if (!hs_is_valid_server_name(server))
            return hs_err_set(err, "signatures: '%.80s' is not a valid server name", server);
        if (!json_is_object(per)) return hs_err_set(err, "signatures.%.80s must be an object", server);
        json_object_foreach(per, kid, sig)
            if (!json_is_string(sig))
                return hs_err_set(err, "signatures.%.80s.%.60s must be a string", server, kid);
    }
    return 0;
}

static int check_membership_event(const json_t *pdu, const char *state_key, hs_err *err)
{
    if (!state_key) return hs_err_set(err, "m.room.member event has no state_key");
    if (!hs_is_valid_user_id(state_key))
        return hs_err_set(err, "m.room.member state_key '%.80s' is not a valid user ID", state_key);
    if (!json_is_string(json_object_get(hs_pdu_content(pdu), "membership")))
        return hs_err_set(err, "m.room.member content has no string 'membership'");
    return 0;
}

int hs_pdu_validate(const json_t *pdu, const hs_room_version *rv, hs_err *err)
{
    if (!rv) return hs_err_set(err, "unknown room version");
    if (!json_is_object(pdu)) return hs_err_set(err, "PDU must be a JSON object");

    size_t size;
    hs_err cerr;
    char *canon = hs_cjson_encode(pdu, rv->strict_canonical_json ? 0 : HS_CJSON_LAX_INTS, &size, &cerr);
    if (!canon) return hs_err_set(err, "PDU is not canonical JSON: %s", cerr.msg);
    free(canon);
    if (size > HS_PDU_MAX_BYTES)
        return hs_err_set(err, "PDU is %zu bytes as canonical JSON, over the %d byte limit", size, HS_PDU_MAX_BYTES);

    const char *type, *sender, *room_id = NULL, *state_key = NULL;
    if (need_string(pdu, "type", &type, err) < 0) return -1;
    if (need_string(pdu, "sender", &sender, err) < 0) return -1;
    if (!hs_is_valid_user_id(sender)) return hs_err_set(err, "sender '%.80s' is not a valid user ID", sender);

    bool is_create = strcmp(type, "m.room.create") == 0;
    if (rv->room_id_from_create && is_create) {
        if (json_object_get(pdu, "room_id"))
            return hs_err_set(err, "room version %s create event must not have a room_id", rv->id);
    } else {
        if (need_string(pdu, "room_id", &room_id, err) < 0) return -1;
        if (!hs_is_valid_room_id(room_id, rv))
            return hs_err_set(err, "room_id '%.80s' is not a valid room version %s room ID", room_id, rv->id);
    }

    if (json_object_get(pdu, "state_key") && need_string(pdu, "state_key", &state_key, err) < 0) return -1;

    if (rv->event_id_format == HS_EVENT_ID_V1) {
        const char *eid;
        if (need_string(pdu, "event_id", &eid, err) < 0) return -1;
        if (!hs_is_valid_event_id(eid, rv)) return hs_err_set(err, "event_id '%.80s' is not a valid event ID", eid);
    }

    json_t *content = json_object_get(pdu, "content");
    if (!content) return hs_err_set(err, "missing required field 'content'");
    if (!json_is_object(content)) return hs_err_set(err, "field 'content' must be an object");

    json_t *depth = json_object_get(pdu, "depth");
    if (!depth) return hs_err_set(err, "missing required field 'depth'");
    if (!json_is_integer(depth)) return hs_err_set(err, "field 'depth' must be an integer");
    if (json_integer_value(depth) < 0) return hs_err_set(err, "field 'depth' must not be negative");

    json_t *ts = json_object_get(pdu, "origin_server_ts");
    if (!ts) return hs_err_set(err, "missing required field 'origin_server_ts'");
    if (!json_is_integer(ts)) return hs_err_set(err, "field 'origin_server_ts' must be an integer");

    json_t *hashes = json_object_get(pdu, "hashes");
    if (!hashes) return hs_err_set(err, "missing required field 'hashes'");
    if (!json_is_object(hashes)) return hs_err_set(err, "field 'hashes' must be an object");
    if (!json_is_string(json_object_get(hashes, "sha256"))) return hs_err_set(err, "hashes.sha256 must be a string");

    if (check_signatures(pdu, err) < 0) return -1;
    if (check_refs(pdu, "prev_events", HS_PDU_MAX_PREV_EVENTS, rv, err) < 0) return -1;
    if (check_refs(pdu, "auth_events", HS_PDU_MAX_AUTH_EVENTS, rv, err) < 0) return -1;

    json_t *origin = json_object_get(pdu, "origin");
    if (origin && !rv->no_origin_field &&
        (!json_is_string(origin) || !hs_is_valid_server_name(json_string_value(origin))))
        return hs_err_set(err, "field 'origin' must be a valid server name");

    json_t *unsig = json_object_get(pdu, "unsigned");
    if (unsig && !json_is_object(unsig)) return hs_err_set(err, "field 'unsigned' must be an object");

    json_t *redacts = rv->redacts_in_content ? json_object_get(content, "redacts") : json_object_get(pdu, "redacts");
    if (strcmp(type, "m.room.redaction") == 0 && redacts &&
        (!json_is_string(redacts) || !hs_is_valid_event_id(json_string_value(redacts), rv)))
        return hs_err_set(err, "m.room.redaction 'redacts' is not a valid event ID");

    if (is_create && (!state_key || state_key[0] != '\0'))
        return hs_err_set(err, "m.room.create must have an empty state_key");
    if (strcmp(type, "m.room.member") == 0 && check_membership_event(pdu, state_key, err) < 0) return -1;
    return 0;
}

json_t *hs_pdu_parse(const char *buf, size_t len, const hs_room_version *rv, hs_err *err)
{
    if (!rv) {
        hs_err_set(err, "unknown room version");
        return NULL;
    }
    json_t *pdu = hs_cjson_parse(buf, len, HS_PDU_MAX_BYTES, rv->strict_canonical_json ? 0 : HS_CJSON_LAX_INTS, err);
    if (!pdu) return NULL;
    if (hs_pdu_validate(pdu, rv, err) < 0) {
        json_decref(pdu);
        return NULL;
    }
    return pdu;
}
