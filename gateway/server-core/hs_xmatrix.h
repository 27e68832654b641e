/* hs_xmatrix: the Server-Server API's request authentication ("X-Matrix" Authorization
 * scheme). A request is signed as the canonical JSON object {method, uri, origin,
 * destination, content?} where `uri` is the raw request target with its query string.
 *
 * Parsing follows RFC 9110's auth-param grammar the way the spec asks: parameters are
 * separated by "," with optional whitespace (Synapse 1.67 sends no spaces, newer servers
 * may), values are tokens or quoted strings (backslash escapes allowed), parameter names
 * are case-insensitive, unknown parameters are ignored and a repeated one is an error.
 * We always emit the no-space, all-quoted form, because Synapse 1.67 rejects ", ".
 *
 * Pure: no I/O and no clock. Which key is acceptable at which time is the caller's
 * business (hs_fed_auth.c); this module only checks bytes against a given public key. */
#ifndef HS_XMATRIX_H
#define HS_XMATRIX_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "server-core/hs_canonical_json.h"
#include "server-core/hs_signing_key.h"

#define HS_XMATRIX_MAX_HEADER 4096  /* longer Authorization values are refused unparsed */
#define HS_XMATRIX_MAX_NAME 256     /* server names are at most 255 bytes */
#define HS_XMATRIX_MAX_KEY_ID 128
#define HS_XMATRIX_MAX_SIG 128      /* an ed25519 signature is 86 base64 characters */

/* One parsed X-Matrix credential. destination is "" when the sender did not send it
 * (servers older than spec v1.3). */
typedef struct hs_xmatrix_auth {
    char origin[HS_XMATRIX_MAX_NAME];
    char destination[HS_XMATRIX_MAX_NAME];
    char key_id[HS_XMATRIX_MAX_KEY_ID];
    char sig[HS_XMATRIX_MAX_SIG];
} hs_xmatrix_auth;

/* Parses an Authorization header value ("X-Matrix origin=...,key=...,sig=..."). Requires
 * origin, key and sig; checks that origin/destination are server names and key an
 * "ed25519:" key ID. Returns 0, or -1 with the reason in err (never crashes, any input). */
int hs_xmatrix_parse(const char *header, size_t len, hs_xmatrix_auth *out, hs_err *err);

/* Signs a request and writes the whole header value ("X-Matrix origin=\"..\",key=..")
 * into `out`. `content` is the JSON body or NULL for none; `destination` is required.
 * Returns 0, or -1 with err set (encoding failure, or `out` too small). */
int hs_xmatrix_sign(const char *method, const char *uri, const char *origin, const char *destination,
                    const json_t *content, const hs_signing_key *key, char *out, size_t outlen, hs_err *err);

/* Checks a parsed credential against the request: rebuilds the signed object from
 * `method`, `uri` (raw target), auth->origin, `destination` and `content` (NULL when the
 * request has no body) and verifies auth->sig with `public_key`. `destination` is the
 * receiver's own server name: the signed object always holds it, even when an older
 * sender left the header parameter out (the caller compares auth->destination with it
 * first). Returns 0 when valid, -1 with err set otherwise. */
int hs_xmatrix_verify(const hs_xmatrix_auth *auth, const char *method, const char *uri, const char *destination,
                      const json_t *content, const uint8_t public_key[32], hs_err *err);

#endif
