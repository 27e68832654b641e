/* hs_canonical_json: Matrix "canonical JSON" (spec appendix) on top of jansson, and the
 * strict parser every untrusted JSON document goes through before it is hashed or signed.
 *
 * Encoding: object keys sorted by UTF-8 bytes (= by codepoint), no whitespace, UTF-8 left
 * unescaped; only '"', '\\' and control characters below U+0020 are escaped, with the short
 * forms \b \t \n \f \r and lowercase \u00XX for the rest (U+007F and U+2028 stay raw).
 * Numbers must be integers; floats can never be encoded.
 *
 * The parser rejects, each with its own message: input over a size limit, invalid UTF-8 or
 * JSON, duplicate object keys (Synapse's Python decoder keeps the last one silently; we
 * refuse the ambiguity, since two servers could read different contents under one
 * signature), floats, integers outside +-(2^53-1) (unless HS_CJSON_LAX_INTS, for room
 * versions 1-5) and NUL in object keys. Strings may contain U+0000.
 *
 * Also home of hs_err, the small error buffer the whole hs_ event core reports through. */
#ifndef HS_CANONICAL_JSON_H
#define HS_CANONICAL_JSON_H

#include <jansson.h>
#include <stddef.h>

/* A human-readable reason for the last failure: which field, which limit, which rule. */
typedef struct hs_err {
    char msg[256];
} hs_err;

/* Formats into err (NULL err is allowed and ignored). Always returns -1 so callers can
 * `return hs_err_set(err, ...)`. */
int hs_err_set(hs_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define HS_CJSON_MAX_SAFE_INT 9007199254740991LL /* 2^53 - 1 */
#define HS_PDU_MAX_BYTES 65536                    /* spec: a PDU is at most 64 KiB */

enum {
    HS_CJSON_LAX_INTS = 1 << 0,  /* accept integers outside +-(2^53-1) (room v1-5 events) */
    HS_CJSON_ANY = 1 << 1,       /* accept any top-level value, not only an object */
};

/* Parses `len` bytes (need not be NUL-terminated) strictly as described above, refusing
 * input longer than `max_bytes`. Returns a new reference the caller json_decref()s, or
 * NULL with the reason in err. */
json_t *hs_cjson_parse(const char *buf, size_t len, size_t max_bytes, unsigned flags, hs_err *err);

/* Checks that a jansson value only holds what canonical JSON can express (no reals, ints
 * in range unless HS_CJSON_LAX_INTS, no NUL in keys). Returns 0, or -1 with err set
 * naming the offending key path. */
int hs_cjson_check(const json_t *v, unsigned flags, hs_err *err);

/* Encodes `v` as canonical JSON. Returns a malloc'd NUL-terminated buffer the caller
 * free()s and its length (without the NUL) in *len_out (may be NULL), or NULL with err
 * set (a float or, without HS_CJSON_LAX_INTS, an out-of-range integer, or no memory). */
char *hs_cjson_encode(const json_t *v, unsigned flags, size_t *len_out, hs_err *err);

/* Canonical encoding of `obj` (an object) with the top-level keys in `skip` (a
 * NULL-terminated list) left out, as needed for hashing and signing. Same ownership and
 * errors as hs_cjson_encode. */
char *hs_cjson_encode_without(const json_t *obj, const char *const *skip, unsigned flags,
                              size_t *len_out, hs_err *err);

#endif
