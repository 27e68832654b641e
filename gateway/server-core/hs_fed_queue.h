/* hs_fed_queue: what goes to which server, and sending it. Transport-neutral (requests
 * go through hs_fed_batch, concurrent when the transport can); the thread that drives it
 * is the process wiring's (federation-side/fed_sender for DNS names).
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
 * Sending: hs_fed_sending keeps one transaction (up to 50 PDUs and 100 EDUs) in flight
 * per destination, to many destinations at once (see below), taking each answer as it
 * comes. A failure backs that destination off exponentially (HS_FED_BACKOFF_BASE_MS
 * doubling up to HS_FED_BACKOFF_CAP_MS); the same transaction (same ID, same rows) is
 * retried.
 * Transaction IDs are a per-destination counter kept in the database, starting at the
 * time of the first row, so a server whose database was reset never reuses an ID its
 * peers answered before (they would replay their recorded answer and drop the events). */
#ifndef HS_FED_QUEUE_H
#define HS_FED_QUEUE_H

#include <stddef.h>
#include <stdint.h>

struct hs_server;

#define HS_FED_BACKOFF_BASE_MS 2000
#define HS_FED_BACKOFF_CAP_MS (10 * 60 * 1000)

/* Queues the local events and read receipts written since the last scan. Returns the
 * number of rows looked at (0 when up to date), or -1 on a database error. */
long hs_fed_queue_scan(struct hs_server *srv, int64_t now_ms);

/* The sending side, driven by one thread (federation-side/fed_sender): transactions to
 * many destinations in flight at once on an hs_fed_batch, at most
 * federation.max_concurrent_requests, never two to one destination. Answers are taken
 * as they come, so a destination that hangs until the request timeout holds one slot,
 * not the others' traffic; whatever becomes due meanwhile starts in the free slots.
 * Freeing it abandons what is in flight: those transactions stay recorded as in flight
 * in the database and are resent identically later. One exception to the concurrency:
 * an invite row (hs_fed_invite_send, its own exchange) is sent synchronously when its
 * destination comes up, so an unreachable invitee's server holds the thread for one
 * request timeout. */
typedef struct hs_fed_sending hs_fed_sending;

/* A new sender for srv, or NULL when out of memory. */
hs_fed_sending *hs_fed_sending_new(struct hs_server *srv);

/* Frees it (NULL allowed); see above for what was in flight. */
void hs_fed_sending_free(hs_fed_sending *s);

/* Plans telling every server we ever queued for that we are up (an empty signed
 * transaction), so it clears its backoff for us and resends what it holds. The pings
 * go out through hs_fed_sending_start in slots transactions leave free; a 200 answer
 * clears our backoff of that server. Returns 0 or -1 on a database error. */
int hs_fed_sending_announce(hs_fed_sending *s);

/* Starts one transaction to every destination whose retry time has come and that has
 * none in flight, as far as slots allow, then planned pings. What finds no free slot
 * waits for the next call after hs_fed_sending_collect has freed one. Lowers
 * *next_due_ms to the earliest time a backed-off destination becomes due. Returns how
 * many requests started (invites sent on the spot included), or -1 on a database
 * error. */
int hs_fed_sending_start(hs_fed_sending *s, int64_t now_ms, int64_t *next_due_ms);

/* Waits up to wait_ms for requests in flight to finish (returns at the first answer,
 * taking every other finished one too, or early on hs_fed_sending_wake) and records
 * each: 200 = done (rows deleted, next ID), else backed off (HS_FED_BACKOFF_BASE_MS
 * doubling up to HS_FED_BACKOFF_CAP_MS). Returns the number of transactions answered
 * 200, or -1 on a database error. */
int hs_fed_sending_collect(hs_fed_sending *s, int wait_ms);

/* Makes a hs_fed_sending_collect in progress return now. Any thread. */
void hs_fed_sending_wake(hs_fed_sending *s);

/* Requests in flight. */
size_t hs_fed_sending_in_flight(const hs_fed_sending *s);

/* Called when `origin` was heard from (an authenticated request): its backoff is
 * cleared so what is queued for it goes at the next run. */
void hs_fed_queue_heard_from(struct hs_server *srv, const char *origin);

#endif
