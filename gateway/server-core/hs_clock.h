/* hs_clock: the two clocks the API layer reads — wall time for what is stored and shown
 * (origin_server_ts, ages, expiries a client sees) and the monotonic clock for measuring
 * intervals and deadlines, immune to the wall clock being set. Protocol cores never call
 * these: `now` is their argument. */
#ifndef HS_CLOCK_H
#define HS_CLOCK_H

#include <stdint.h>

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t hs_clock_wall_ms(void);

/* Milliseconds on CLOCK_MONOTONIC (an arbitrary origin; only differences mean anything). */
int64_t hs_clock_mono_ms(void);

#endif
