/* hs_fed_queue: what goes to which server, and sending it. Transport-neutral (requests
 * go through hs_fed_send); the thread that drives it is the process wiring's
 * (federation-side/fed_sender for DNS names).
 *
 * Feeding: no hook in the room engine. Every persisted event already has a stream
 * ordering, so hs_fed_queue_scan reads the events after a persisted cursor and queues
 * each one sent by a local user to every other server with a joined member in its room
 * (and, for a membership event about a remote user, that user's server, so invites,
 * kicks and leaves reach them). The rows and the cursor move in one transaction, so a
 * crash neither loses nor duplicates an entry; any engine write path (sends, createRoom,
 * profile updates, redactions) is covered without touching it. Local users' m.read
 * receipts are scanned the same way (their own cursor) and queued as m.receipt EDUs.
 *
 * Sending: hs_fed_queue_flush sends one transaction (up to 50 PDUs) to one destination
 * and waits for its answer, so there is never more than one in flight per destination.
 * A failure backs that destination off exponentially (HS_FED_BACKOFF_BASE_MS doubling
 * up to HS_FED_BACKOFF_CAP_MS); the same transaction (same ID, same rows) is retried.
 * Transaction IDs are a per-destination counter kept in the database, starting at the
 * time of the first row, so a server whose database was reset never reuses an ID its
 * peers answered before (they would replay their recorded answer and drop the events). */
#ifndef HS_FED_QUEUE_H
#define HS_FED_QUEUE_H

#include <stdint.h>

struct hs_server;

#define HS_FED_BACKOFF_BASE_MS 2000
#define HS_FED_BACKOFF_CAP_MS (10 * 60 * 1000)

/* Queues the local events and read receipts written since the last scan. Returns the
 * number of rows looked at (0 when up to date), or -1 on a database error. */
long hs_fed_queue_scan(struct hs_server *srv, int64_t now_ms);

/* Sends the pending transaction to `dest`. Returns 1 when one was answered 200, 0 when
 * nothing was queued, -1 when it failed (the destination is backed off). */
int hs_fed_queue_flush(struct hs_server *srv, const char *dest, int64_t now_ms);

/* Sends every destination whose retry time has come one transaction each. Sets
 * *next_due_ms to the earliest time something backed off becomes due (INT64_MAX if
 * none). Returns the number of transactions sent, or -1 on a database error. */
int hs_fed_queue_run(struct hs_server *srv, int64_t now_ms, int64_t *next_due_ms);

/* Tells every server we ever queued for that we are up (an empty signed transaction),
 * so it clears its backoff for us and resends what it holds. Returns how many answered. */
int hs_fed_queue_announce(struct hs_server *srv, int64_t now_ms);

/* Called when `origin` was heard from (an authenticated request): its backoff is
 * cleared so what is queued for it goes at the next run. */
void hs_fed_queue_heard_from(struct hs_server *srv, const char *origin);

#endif
