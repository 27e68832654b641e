/* hs_base64: unpadded base64 as Matrix uses it (standard alphabet for keys, signatures
 * and hashes; URL-safe for event IDs of room version 4+). Decoding accepts input with
 * or without padding, as the spec asks of receivers. Built on libsodium. */
#ifndef HS_BASE64_H
#define HS_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Encodes `len` bytes as unpadded standard base64. Returns a malloc'd NUL-terminated
 * string the caller frees, or NULL on allocation failure. */
char *hs_b64_encode(const uint8_t *data, size_t len);

/* Same, with the URL-safe alphabet (- and _). */
char *hs_b64url_encode(const uint8_t *data, size_t len);

/* Decodes standard base64 (padded or not) into `out` (capacity `cap`). Returns the decoded
 * length, or -1 if the input is not valid base64 or does not fit. */
long hs_b64_decode(const char *in, uint8_t *out, size_t cap);

/* Same for the URL-safe alphabet. */
long hs_b64url_decode(const char *in, uint8_t *out, size_t cap);

#endif
