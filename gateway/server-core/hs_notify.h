/* hs_notify: "something a client may be waiting for has changed". Writers (the room
 * engine after persisting an event, to-device sends, typing, receipts, account data,
 * key uploads) call hs_notifier_wake; long-polling readers (/sync) remember the
 * generation they last looked at and wait for it to move, then re-read the store.
 * It carries no data: the store is the truth, so a missed wake can only delay a
 * reader until its timeout, never lose anything. Thread-safe. */
#ifndef HS_NOTIFY_H
#define HS_NOTIFY_H

#include <stdint.h>

typedef struct hs_notifier hs_notifier;

/* A new notifier at generation 0, or NULL when out of memory. Free with hs_notifier_free. */
hs_notifier *hs_notifier_new(void);

/* Frees the notifier; no thread may be waiting on it. NULL is a no-op. */
void hs_notifier_free(hs_notifier *n);

/* Advances the generation and wakes every waiter. NULL is a no-op (engines used
 * without a server, e.g. in tools, have no readers). */
void hs_notifier_wake(hs_notifier *n);

/* The current generation. */
uint64_t hs_notifier_generation(hs_notifier *n);

/* Registers fn(ctx) to be called on every hs_notifier_wake, after the generation moved,
 * with the notifier's lock held: fn must be quick and must not call back into the
 * notifier (signal a condition variable, set a flag). For a component that parks many
 * waiters and watches them from one thread. Returns 0, or -1 when HS_NOTIFY_MAX_LISTENERS
 * are registered already. */
#define HS_NOTIFY_MAX_LISTENERS 8
int hs_notifier_listen(hs_notifier *n, void (*fn)(void *ctx), void *ctx);

/* Removes a listener registered with the same fn and ctx; after it returns fn is not
 * running and will not be called again. */
void hs_notifier_unlisten(hs_notifier *n, void (*fn)(void *ctx), void *ctx);

/* Blocks until the generation differs from `seen` or CLOCK_MONOTONIC reaches
 * `deadline_ms` (milliseconds), whichever is first, and returns the generation then. */
uint64_t hs_notifier_wait(hs_notifier *n, uint64_t seen, int64_t deadline_ms);

#endif
