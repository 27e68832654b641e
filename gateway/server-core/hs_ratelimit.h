/* hs_ratelimit: token buckets keyed by a string (a client address, a user ID). Each
 * key may spend `burst` requests at once and regains `per_second` of them per second.
 *
 * Memory is bounded: at most `max_keys` keys are tracked. When the table is full, keys
 * whose bucket has refilled completely are forgotten first (forgetting them changes
 * nothing), then the fullest bucket. A flood of fresh addresses can therefore only
 * give an already-limited key its tokens back when every tracked key is limited.
 *
 * Sans-I/O: time comes in as now_ms (a monotonic clock in milliseconds). Thread-safe
 * (one mutex per limiter). Keys longer than 127 bytes share the bucket of their first
 * 127 bytes. */
#ifndef HS_RATELIMIT_H
#define HS_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hs_ratelimit hs_ratelimit;

/* When per_second is 0 a drained bucket never refills; retry hints then say a day. */
#define HS_RATELIMIT_NEVER_MS (INT64_C(86400) * 1000)

/* Creates a limiter. burst >= 1, per_second >= 0, max_keys >= 1. Returns NULL on bad
 * arguments or allocation failure. Free with hs_ratelimit_free. */
hs_ratelimit *hs_ratelimit_new(double per_second, double burst, size_t max_keys);

/* Frees the limiter. NULL is allowed. */
void hs_ratelimit_free(hs_ratelimit *rl);

/* Spends one token of `key` at now_ms. Returns true when allowed; false when the bucket
 * is empty, with *retry_after_ms (if non-NULL) set to when one token will be back. */
bool hs_ratelimit_take(hs_ratelimit *rl, const char *key, int64_t now_ms, int64_t *retry_after_ms);

/* Number of keys currently tracked (for tests and metrics). */
size_t hs_ratelimit_tracked(hs_ratelimit *rl);

#endif
