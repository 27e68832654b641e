/* fed_sender: the outbound federation thread of a DNS-named server. One thread drives
 * hs_fed_queue: it plans telling every known peer that we are up
 * (hs_fed_sending_announce), then loops: queue the local events persisted since last
 * time (hs_fed_queue_scan), start a transaction to each due destination that has none
 * in flight (hs_fed_sending_start), then wait for answers (hs_fed_sending_collect) or,
 * with nothing in flight, sleep until the room engine persists something (it wakes
 * srv->notifier, to which the thread listens) or the earliest backoff ends. Requests go
 * through the server's installed transport (fed_client: one libcurl multi handle), up
 * to federation.max_concurrent_requests at once and never two to one destination, so
 * a peer that hangs until the client timeout holds only its own slot. Because the
 * queue is in the database, a restart resumes where it stopped. */
#ifndef FED_SENDER_H
#define FED_SENDER_H

struct hs_server;

typedef struct fed_sender fed_sender;

/* Starts the thread for `srv` (which must have its transport installed and outlive the
 * sender). Returns NULL when out of memory, the thread cannot start or the notifier has
 * no listener slot left. */
fed_sender *fed_sender_start(struct hs_server *srv);

/* Stops the thread and frees it; transactions in flight are abandoned (they stay
 * recorded as in flight and are resent identically by the next start). An invite
 * being sent finishes or times out first. NULL is allowed. */
void fed_sender_stop(fed_sender *s);

#endif
