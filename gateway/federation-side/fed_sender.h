/* fed_sender: the outbound federation thread of a DNS-named server. One thread drives
 * hs_fed_queue: it first tells every known peer that we are up (hs_fed_queue_announce),
 * then loops: queue the local events persisted since last time (hs_fed_queue_scan),
 * send each due destination one transaction (hs_fed_queue_run), and sleep until the
 * room engine persists something (it wakes srv->notifier, to which the thread listens)
 * or the earliest backoff ends. Requests go through the server's installed transport
 * (fed_client: libcurl), one at a time, so one destination never has two transactions
 * in flight. Because the queue is in the database, a restart resumes where it stopped.
 *
 * The cost of one thread sending serially: a destination that hangs until the client
 * timeout delays the others by that long (then it is backed off). */
#ifndef FED_SENDER_H
#define FED_SENDER_H

struct hs_server;

typedef struct fed_sender fed_sender;

/* Starts the thread for `srv` (which must have its transport installed and outlive the
 * sender). Returns NULL when the thread cannot start or the notifier has no listener
 * slot left. */
fed_sender *fed_sender_start(struct hs_server *srv);

/* Stops the thread (a transaction in flight finishes or times out first) and frees it.
 * NULL is allowed. */
void fed_sender_stop(fed_sender *s);

#endif
