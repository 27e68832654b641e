/* hs_media_fetches: the fetches of other servers' media in progress, so that concurrent
 * downloads of one mxc://OTHER/ID share one fetch and the number of fetches running at
 * once is capped. The first download of a missing file becomes the fetch's leader and
 * fetches it (on its worker); later downloads of the same file join as followers and
 * wait (parked, see hs_api_media.c) until the leader reports the outcome. A new fetch
 * beyond the cap is refused, so fetches never hold more than `max_running` workers.
 *
 * It only keeps the table: who fetches, and how to tell the others, is the caller's.
 * Thread-safe. */
#ifndef HS_MEDIA_FETCHES_H
#define HS_MEDIA_FETCHES_H

#include <stdbool.h>
#include <stdint.h>

typedef struct hs_media_fetches hs_media_fetches;

/* One fetch: running, then finished with an outcome. Reference-counted. */
typedef struct hs_media_fetch hs_media_fetch;

/* An empty table allowing `max_running` fetches at once (at least 1). NULL when out of
 * memory. */
hs_media_fetches *hs_media_fetches_new(int max_running);

/* Frees the table. Every reference must have been released. NULL is allowed. */
void hs_media_fetches_free(hs_media_fetches *fs);

/* Joins the running fetch of (origin, media_id) as a follower (*leader false), or
 * starts one with the caller as its leader (*leader true), who must call
 * hs_media_fetches_finish. Returns a reference (release it), or NULL when a new fetch
 * would exceed the cap (or out of memory). */
hs_media_fetch *hs_media_fetches_join(hs_media_fetches *fs, const char *origin, const char *media_id, bool *leader);

/* The leader's outcome: rc 0 (fetched and cached), 1 (the origin has no such media),
 * -1 (failed). The fetch leaves the table (the next download of the file starts a new
 * one) and its followers see the outcome; the cap counts one fetch fewer. */
void hs_media_fetches_finish(hs_media_fetches *fs, hs_media_fetch *f, int rc);

/* Whether f has finished; then *rc is its outcome. */
bool hs_media_fetch_done(hs_media_fetches *fs, const hs_media_fetch *f, int *rc);

/* Waits until f finishes or the CLOCK_MONOTONIC time deadline_ms (hs_clock_mono_ms)
 * passes, holding the calling thread: for transports that cannot park a request.
 * Returns hs_media_fetch_done's answer. */
bool hs_media_fetch_wait(hs_media_fetches *fs, const hs_media_fetch *f, int64_t deadline_ms, int *rc);

/* Drops a reference from hs_media_fetches_join. */
void hs_media_fetches_release(hs_media_fetches *fs, hs_media_fetch *f);

#endif
