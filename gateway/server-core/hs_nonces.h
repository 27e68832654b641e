/* hs_nonces: a bounded, thread-safe set of random one-time strings that expire - the
 * nonces of shared-secret registration and the session IDs of user-interactive auth.
 *
 * At most `max` are live; issuing one more drops expired ones first, then the one
 * closest to expiry. Time comes in as now_ms (monotonic milliseconds). In memory only:
 * a restart forgets them, which costs a client one extra round trip. */
#ifndef HS_NONCES_H
#define HS_NONCES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HS_NONCE_MAX 48  /* buffer for one nonce string (32 URL-safe base64 characters + NUL) */

typedef struct hs_nonces hs_nonces;

/* Creates a set of at most `max` live nonces that each live `ttl_ms`. NULL on bad
 * arguments or no memory. */
hs_nonces *hs_nonces_new(size_t max, int64_t ttl_ms);

/* Frees the set. NULL is allowed. */
void hs_nonces_free(hs_nonces *ns);

/* Issues a fresh nonce into out. Returns 0, or -1 when no randomness is available. */
int hs_nonces_issue(hs_nonces *ns, int64_t now_ms, char out[HS_NONCE_MAX]);

/* True when `nonce` was issued and has not expired or been consumed. */
bool hs_nonces_valid(hs_nonces *ns, const char *nonce, int64_t now_ms);

/* Like hs_nonces_valid, and removes it: true at most once per nonce. */
bool hs_nonces_consume(hs_nonces *ns, const char *nonce, int64_t now_ms);

#endif
