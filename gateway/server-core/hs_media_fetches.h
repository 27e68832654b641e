/* hs_media_fetches: the fetches of other servers' media in progress, so that concurrent
 * downloads of one mxc://OTHER/ID share one fetch, the number of fetches at once is
 * capped, and no download's worker does the fetching. The first download of a missing
 * file becomes the fetch's leader and hands it to this module's thread
 * (hs_media_fetches_run), which runs every fetch concurrently on one hs_fed_batch
 * (hs_fed_media_fetch_request / _answer: the authenticated endpoint, then the legacy
 * one), stores the file, records the outcome and kicks srv->media_waits; downloads
 * (leader and followers alike) wait parked meanwhile (see hs_api_media.c). A new
 * fetch beyond the cap is refused.
 *
 * The table can also be used without the thread (a leader that finishes the fetch
 * itself), as its unit tests do. Thread-safe. */
#ifndef HS_MEDIA_FETCHES_H
#define HS_MEDIA_FETCHES_H

#include <stdbool.h>
#include <stdint.h>

struct hs_server;

typedef struct hs_media_fetches hs_media_fetches;

/* One fetch: running, then finished with an outcome. Reference-counted. */
typedef struct hs_media_fetch hs_media_fetch;

/* An empty table allowing `max_running` fetches at once (at least 1). NULL when out of
 * memory. */
hs_media_fetches *hs_media_fetches_new(int max_running);

/* Starts the fetching thread for srv (whose transport may be installed later: it is
 * looked up at each batch). Returns 0, or -1 when the thread cannot start. */
int hs_media_fetches_start(hs_media_fetches *fs, struct hs_server *srv);

/* Stops the thread: fetches in flight are abandoned and, with those still queued and
 * any handed over later, finish with -1. Call before srv's transport, fed state or
 * store go. NULL is allowed; without a thread it does nothing. */
void hs_media_fetches_stop(hs_media_fetches *fs);

/* Stops the thread if it runs and frees the table. Every reference must have been
 * released. NULL is allowed. */
void hs_media_fetches_free(hs_media_fetches *fs);

/* Joins the running fetch of (origin, media_id) as a follower (*leader false), or
 * starts one with the caller as its leader (*leader true), who must call
 * hs_media_fetches_run or hs_media_fetches_finish. Returns a reference (release it),
 * or NULL when a new fetch would exceed the cap (or out of memory). */
hs_media_fetch *hs_media_fetches_join(hs_media_fetches *fs, const char *origin, const char *media_id, bool *leader);

/* The leader hands its fetch to the thread, which finishes it. Without a running
 * thread (never started, or stopped) it finishes at once with -1. */
void hs_media_fetches_run(hs_media_fetches *fs, hs_media_fetch *f);

/* The outcome (the thread's, or that of a leader fetching itself): rc 0 (fetched and
 * cached), 1 (the origin has no such media), -1 (failed). The fetch leaves the table
 * (the next download of the file starts a new one) and its followers see the outcome;
 * the cap counts one fetch fewer. */
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
