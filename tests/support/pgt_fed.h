/* pgt_fed: one real `pinegate serve` process set up for federation tests - a --dev
 * config (self-signed certificate, loopback allowed) generated into a fresh directory,
 * server name localhost:<federation port>, client API on 127.0.0.1:<client port>.
 * Integration tests start two or more of them to federate over loopback HTTPS; the
 * request helpers below are what those tests do on them again and again (a client
 * request expecting a status, a room joined across servers by alias, a sync token,
 * polling /sync for what another server sent, a message looked for in a room's latest
 * events, a federation request made as one of the servers).
 * Test code only: failures are Criterion assertions. */
#ifndef PGT_FED_H
#define PGT_FED_H

#include <criterion/criterion.h>
#include <jansson.h>
#include <stddef.h>

#include "server-core/hs_signing_key.h"
#include "support/pgt.h"
#include "support/pgt_matrix.h"

typedef struct pgt_fed_node {
    char *dir;          /* data directory (pgt_tmpdir): config.yaml, signing.key, homeserver.db */
    int cport, fport;   /* client and federation ports */
    char name[64];      /* server name, "localhost:<fport>" */
    char cfg[1024];     /* path of config.yaml */
    char base[128];     /* client API base URL, "http://127.0.0.1:<cport>" */
    pgt_proc proc;
} pgt_fed_node;

/* Picks free ports, runs `pinegate generate-config --dev` into a new directory and
 * starts the server (pgt_fed_serve). Asserts on failure. */
void pgt_fed_make(pgt_fed_node *n);

/* Starts `pinegate serve` on n's config (again, after a pgt_stop, to restart on the same
 * data) and waits for its federation listener. Asserts on failure. */
void pgt_fed_serve(pgt_fed_node *n);

/* Stops the server if it runs and removes its directory. */
void pgt_fed_destroy(pgt_fed_node *n);

/* Declares this file's two servers A and B (static pgt_fed_node) and the Criterion suite
 * `suite` (timeout in seconds) whose every test runs on a fresh pair: the suite's .init
 * makes both (pgt_fed_make), its .fini destroys them (pgt_fed_destroy). Write it once,
 * at file scope, where the file would otherwise define A, B and those two functions. */
#define PGT_FED_SUITE_AB(suite, timeout_s)                                                                             \
    static pgt_fed_node A, B;                                                                                          \
    static void pgt_fed_ab_start(void)                                                                                 \
    {                                                                                                                  \
        pgt_fed_make(&A);                                                                                              \
        pgt_fed_make(&B);                                                                                              \
    }                                                                                                                  \
    static void pgt_fed_ab_stop(void)                                                                                  \
    {                                                                                                                  \
        pgt_fed_destroy(&A);                                                                                           \
        pgt_fed_destroy(&B);                                                                                           \
    }                                                                                                                  \
    TestSuite(suite, .init = pgt_fed_ab_start, .fini = pgt_fed_ab_stop, .timeout = (timeout_s))

/* Sends `method` with the path made from `fmt` (printf-style) to n's client API as u
 * (NULL: no access token), with `body` as JSON (the reference is stolen; NULL: no
 * body). Fails the current test unless the status is `want` (the message names the
 * request, the server and the answer). Returns the answer (caller decrefs; NULL when it
 * was not JSON). */
json_t *pgt_fed_req(const pgt_fed_node *n, const pgt_mx_login *u, const char *method, json_t *body, long want,
                    const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* `creator` on `host` creates a public room (preset public_chat) with the alias
 * #<alias>:<host's name>, then `joiner` on `at` joins it through that alias (over
 * federation when `at` is another server). Returns the room ID (caller frees). Fails
 * the current test when either request does not answer 200. */
char *pgt_fed_join_by_alias(const pgt_fed_node *host, const pgt_mx_login *creator, const char *alias,
                            const pgt_fed_node *at, const pgt_mx_login *joiner);

/* Fails the current test unless `user`'s m.room.member state in `room` on n, as u reads
 * it (GET /rooms/{room}/state/m.room.member/{user}), answers 200 with membership `want`. */
void pgt_fed_expect_membership(const pgt_fed_node *n, const pgt_mx_login *u, const char *room, const char *user,
                               const char *want);

/* n's server signing key, read from its data directory. Fails the current test when it
 * cannot be read. */
hs_signing_key pgt_fed_signing_key(const pgt_fed_node *n);

/* A request to `to`'s federation listener (`uri`, path and query, as sent) as the
 * server `from` would make it: signed with from's key (X-Matrix, from -> to) when
 * `sign`, else with no Authorization header; `body` is JSON text or NULL. Waits up to
 * 30 s. Returns the HTTP status (0 when the request failed) and the answer in *answer
 * (NULL when it is not JSON; caller decrefs). Fails the current test only when the
 * request cannot be signed. */
long pgt_fed_call_as(const pgt_fed_node *from, const pgt_fed_node *to, bool sign, const char *method, const char *uri,
                     const char *body, json_t **answer);

/* Polls u's /sync on n (timeout=0; from `since`, or an initial sync when it is NULL;
 * `extra` query parameters appended as they are, "&set_presence=offline" say, or NULL)
 * every 250 ms for up to about ms milliseconds until check(answer, arg) holds. Returns
 * whether it did. Fails the current test when a sync does not answer 200. */
bool pgt_fed_sync_until(const pgt_fed_node *n, const pgt_mx_login *u, const char *since, const char *extra,
                        bool (*check)(json_t *sync, const void *arg), const void *arg, int ms);

/* A check for pgt_fed_sync_until: whether `user` (the user ID, a const char *) is in
 * the sync answer's device_lists.changed. */
bool pgt_fed_sync_lists_changed(json_t *sync, const void *user);

/* Whether a message whose content.body is `text` is among the latest 50 events of
 * `room` on n as u sees them (/messages, dir=b). Fails the current test when the
 * answer is not JSON (the server is down, say); any status is an answer. */
bool pgt_fed_sees_message(const pgt_fed_node *n, const pgt_mx_login *u, const char *room, const char *text);

/* pgt_fed_sees_message asked every 200 ms until it holds, for up to about ms
 * milliseconds: whether it came to hold (for a message that crosses servers). */
bool pgt_fed_wait_message(const pgt_fed_node *n, const pgt_mx_login *u, const char *room, const char *text, int ms);

/* The next_batch of u's initial /sync (timeout=0) on n, copied into out (len bytes);
 * returns out. Fails the current test unless the sync answers 200. */
const char *pgt_fed_sync_token(const pgt_fed_node *n, const pgt_mx_login *u, char *out, size_t len);

/* Deletes every row of `from`'s outbound queue for `to` but the newest and makes it due
 * at once (from stopped): what a sender that only sends its latest event after an outage
 * (Synapse's catch-up) leaves `to` with, so `to` must bridge the gap itself. */
void pgt_fed_queue_keep_latest(const pgt_fed_node *from, const pgt_fed_node *to);

#endif
