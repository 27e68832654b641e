/* hs_xmatrix: the X-Matrix scanner is a single left-to-right pass over at most
 * HS_XMATRIX_MAX_HEADER bytes with fixed-size outputs, so no input can make it allocate
 * or run long. Unquoted values are read as Synapse reads them (everything up to the
 * next comma or whitespace) rather than as strict RFC tokens, because server names
 * ("host:8448") and key IDs ("ed25519:x") contain ':' and real senders leave them
 * unquoted. Signing and verifying reuse hs_sign_json/hs_verify_json on the request
 * object, so the canonical form is the same code that signs events. */
#include "server-core/hs_xmatrix.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "server-core/hs_pdu.h"
#include "server-core/hs_signing.h"

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A bare value: visible ASCII up to a comma; no quotes, no whitespace. */
static bool is_bare_value_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != ',' && c != '"';
}

typedef struct scanner {
    const char *s;
    size_t len, pos;
} scanner;

static int peek(const scanner *sc)
{
    return sc->pos < sc->len ? (unsigned char)sc->s[sc->pos] : -1;
}

static void skip_ows(scanner *sc)
{
    while (sc->pos < sc->len && is_ows(sc->s[sc->pos])) sc->pos++;
}

/* Reads a parameter value (quoted-string or bare) into out; -1 on malformed or too long. */
static int read_value(scanner *sc, char *out, size_t cap, const char *name, hs_err *err)
{
    size_t n = 0;
    if (peek(sc) == '"') {
        sc->pos++;
        for (;;) {
            int c = peek(sc);
            if (c < 0) return hs_err_set(err, "X-Matrix: unterminated quoted value for '%s'", name);
            sc->pos++;
            if (c == '"') break;
            if (c == '\\') {
                c = peek(sc);
                if (c < 0) return hs_err_set(err, "X-Matrix: unterminated quoted value for '%s'", name);
                sc->pos++;
            }
            /* qdtext / quoted-pair: HTAB, SP, visible ASCII and obs-text; never controls. */
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                return hs_err_set(err, "X-Matrix: control character in value of '%s'", name);
            if (n + 1 >= cap) return hs_err_set(err, "X-Matrix: value of '%s' is longer than %zu bytes", name, cap - 1);
            out[n++] = (char)c;
        }
    } else {
        while (peek(sc) >= 0 && is_bare_value_char((unsigned char)peek(sc))) {
            if (n + 1 >= cap) return hs_err_set(err, "X-Matrix: value of '%s' is longer than %zu bytes", name, cap - 1);
            out[n++] = sc->s[sc->pos++];
        }
        if (n == 0) return hs_err_set(err, "X-Matrix: empty value for '%s'", name);
    }
    out[n] = '\0';
    return 0;
}

int hs_xmatrix_parse(const char *header, size_t len, hs_xmatrix_auth *out, hs_err *err)
{
    memset(out, 0, sizeof *out);
    if (!header) return hs_err_set(err, "no Authorization header");
    if (len > HS_XMATRIX_MAX_HEADER)
        return hs_err_set(err, "X-Matrix: Authorization header longer than %d bytes", HS_XMATRIX_MAX_HEADER);
    scanner sc = {header, len, 0};
    skip_ows(&sc);
    static const char scheme[] = "X-Matrix";
    if (len - sc.pos < sizeof scheme - 1 || strncasecmp(header + sc.pos, scheme, sizeof scheme - 1) != 0)
        return hs_err_set(err, "Authorization scheme is not X-Matrix");
    sc.pos += sizeof scheme - 1;
    if (!is_ows((char)peek(&sc))) return hs_err_set(err, "Authorization scheme is not X-Matrix");

    struct {
        const char *name;
        char *dst;
        size_t cap;
        bool seen;
    } params[] = {
        {"origin", out->origin, sizeof out->origin, false},
        {"destination", out->destination, sizeof out->destination, false},
        {"key", out->key_id, sizeof out->key_id, false},
        {"sig", out->sig, sizeof out->sig, false},
    };
    char ignored[HS_XMATRIX_MAX_HEADER];
    for (;;) {
        skip_ows(&sc);
        /* Empty list elements (",,") are allowed by the HTTP list rule. */
        if (peek(&sc) == ',') {
            sc.pos++;
            continue;
        }
        if (peek(&sc) < 0) break;
        size_t name_start = sc.pos;
        while (peek(&sc) >= 0 && is_tchar((unsigned char)peek(&sc))) sc.pos++;
        size_t name_len = sc.pos - name_start;
        if (name_len == 0) return hs_err_set(err, "X-Matrix: expected a parameter name at byte %zu", sc.pos);
        skip_ows(&sc);
        if (peek(&sc) != '=') return hs_err_set(err, "X-Matrix: expected '=' after a parameter name at byte %zu", sc.pos);
        sc.pos++;
        skip_ows(&sc);
        char *dst = ignored;
        size_t cap = sizeof ignored;
        const char *label = "unknown parameter";
        for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
            if (strlen(params[i].name) == name_len && strncasecmp(header + name_start, params[i].name, name_len) == 0) {
                if (params[i].seen) return hs_err_set(err, "X-Matrix: parameter '%s' appears twice", params[i].name);
                params[i].seen = true;
                dst = params[i].dst;
                cap = params[i].cap;
                label = params[i].name;
            }
        }
        if (read_value(&sc, dst, cap, label, err) != 0) return -1;
        skip_ows(&sc);
        if (peek(&sc) >= 0 && peek(&sc) != ',')
            return hs_err_set(err, "X-Matrix: expected ',' between parameters at byte %zu", sc.pos);
    }
    if (!params[0].seen) return hs_err_set(err, "X-Matrix: missing 'origin'");
    if (!params[2].seen) return hs_err_set(err, "X-Matrix: missing 'key'");
    if (!params[3].seen) return hs_err_set(err, "X-Matrix: missing 'sig'");
    if (!hs_is_valid_server_name(out->origin)) return hs_err_set(err, "X-Matrix: origin is not a server name");
    if (params[1].seen && !hs_is_valid_server_name(out->destination))
        return hs_err_set(err, "X-Matrix: destination is not a server name");
    if (strncmp(out->key_id, "ed25519:", 8) != 0 || out->key_id[8] == '\0')
        return hs_err_set(err, "X-Matrix: key '%s' is not an ed25519 key ID", out->key_id);
    return 0;
}

/* The object both sides sign: {method, uri, origin, destination, content?}. */
static json_t *request_object(const char *method, const char *uri, const char *origin, const char *destination,
                              const json_t *content)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "method", method, "uri", uri, "origin", origin, "destination",
                          destination);
    if (o && content) json_object_set(o, "content", (json_t *)content);
    return o;
}

int hs_xmatrix_sign(const char *method, const char *uri, const char *origin, const char *destination,
                    const json_t *content, const hs_signing_key *key, char *out, size_t outlen, hs_err *err)
{
    json_t *o = request_object(method, uri, origin, destination, content);
    if (!o) return hs_err_set(err, "X-Matrix: out of memory (or a field is not UTF-8)");
    if (hs_sign_json(o, origin, key, err) != 0) {
        json_decref(o);
        return -1;
    }
    const char *sig = json_string_value(json_object_get(json_object_get(json_object_get(o, "signatures"), origin),
                                                        key->key_id));
    int n = snprintf(out, outlen, "X-Matrix origin=\"%s\",key=\"%s\",sig=\"%s\",destination=\"%s\"", origin,
                     key->key_id, sig ? sig : "", destination);
    json_decref(o);
    if (!sig) return hs_err_set(err, "X-Matrix: signing produced no signature");
    if (n < 0 || (size_t)n >= outlen) return hs_err_set(err, "X-Matrix: header does not fit in %zu bytes", outlen);
    return 0;
}

int hs_xmatrix_verify(const hs_xmatrix_auth *auth, const char *method, const char *uri, const char *destination,
                      const json_t *content, const uint8_t public_key[32], hs_err *err)
{
    json_t *o = request_object(method, uri, auth->origin, destination, content);
    if (!o) return hs_err_set(err, "X-Matrix: out of memory (or a field is not UTF-8)");
    json_object_set_new(o, "signatures", json_pack("{s:{s:s}}", auth->origin, auth->key_id, auth->sig));
    int rc = hs_verify_json(o, auth->origin, auth->key_id, public_key, err);
    json_decref(o);
    return rc;
}
