/* The outbound transaction sender with a peer that hangs: two real pinegate processes
 * over loopback HTTPS (A with federation.request_timeout_seconds 20, B) and a "black
 * hole" peer - a socket of the test that accepts connections and never answers, not
 * even the TLS handshake. bob of B joins alice's room on A; alice sends a to-device
 * message to a user of the black hole, so A has a transaction to it in flight (the test
 * sees the connection arrive); then alice's messages in the room must reach B within
 * a few seconds, one after the other, while the black hole's request is still pending.
 * A sender that sends one destination at a time holds B's transactions for the 20 s. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support/pgt.h"
#include "support/pgt_fed.h"
#include "support/pgt_matrix.h"

static pgt_fed_node A, B;
static int hole = -1, hole_conn = -1, hole_port;

/* Rewrites `key: old` as `key: new` in n's config.yaml (the generated file has each
 * key once). */
static void set_config(const pgt_fed_node *n, const char *from, const char *to)
{
    FILE *f = fopen(n->cfg, "r");
    cr_assert_not_null(f);
    static char text[1 << 17];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    char *at = strstr(text, from);
    cr_assert_not_null(at, "%s not in %s", from, n->cfg);
    f = fopen(n->cfg, "w");
    cr_assert_not_null(f);
    fwrite(text, 1, (size_t)(at - text), f);
    fputs(to, f);
    fputs(at + strlen(from), f);
    fclose(f);
}

static void start(void)
{
    pgt_fed_make(&A);
    pgt_stop(&A.proc, SIGTERM, 20000);
    set_config(&A, "request_timeout_seconds: 60", "request_timeout_seconds: 20");
    pgt_fed_serve(&A);
    pgt_fed_make(&B);
    hole = pgt_listen_loopback(8, &hole_port);
    cr_assert(hole >= 0);
}

static void stop(void)
{
    pgt_fed_destroy(&A);
    pgt_fed_destroy(&B);
    if (hole_conn >= 0) close(hole_conn);
    if (hole >= 0) close(hole);
}

TestSuite(fed_sender, .init = start, .fini = stop, .timeout = 240);

/* Milliseconds until B shows `text` to bob, or -1 after `limit_ms`. */
static long time_to_arrive(const pgt_mx_login *bob, const char *room, const char *text, long limit_ms)
{
    long t0 = pgt_now_ms();
    while (pgt_now_ms() - t0 <= limit_ms) {
        if (pgt_fed_sees_message(&B, bob, room, text)) return pgt_now_ms() - t0;
        usleep(100 * 1000);
    }
    return -1;
}

/* Whether the black hole's accepted connection is still open: whatever A sent (its TLS
 * ClientHello) is read away, then a read must find nothing and no end of stream. */
static bool hole_still_open(void)
{
    char buf[4096];
    for (;;) {
        ssize_t r = recv(hole_conn, buf, sizeof buf, MSG_DONTWAIT);
        if (r > 0) continue;
        return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
}

Test(fed_sender, a_peer_that_never_answers_does_not_hold_up_the_others)
{
    pgt_mx_login alice = pgt_mx_must_register(A.base, "alice", "pw-alice-1");
    pgt_mx_login bob = pgt_mx_must_register(B.base, "bob", "pw-bob-1");
    char *room = pgt_mx_create_room(A.base, &alice, "{\"preset\":\"public_chat\",\"room_alias_name\":\"hall\"}");
    char alias[128], enc[512];
    snprintf(alias, sizeof alias, "#hall:%s", A.name);
    long st;
    pgt_mx_check_ok(pgt_mx_callf(B.base, "POST", bob.token, &st, "{}", "/_matrix/client/v3/join/%s",
                                 pgt_mx_enc(alias, enc, sizeof enc)),
                    &st);
    char *first = pgt_mx_send_text(A.base, &alice, room, "before-the-hole");
    free(first);
    cr_assert_geq(time_to_arrive(&bob, room, "before-the-hole", 15000), 0, "B never got the first message");

    /* A transaction to the black hole: an m.direct_to_device EDU for a user there. */
    char body[256];
    snprintf(body, sizeof body, "{\"messages\":{\"@x:127.0.0.1:%d\":{\"*\":{\"hello\":\"hole\"}}}}", hole_port);
    pgt_mx_check_ok(pgt_mx_callf(A.base, "PUT", alice.token, &st, body, "/_matrix/client/v3/sendToDevice/m.test/hole1"),
                    &st);
    struct pollfd pfd = {.fd = hole, .events = POLLIN};
    cr_assert_eq(poll(&pfd, 1, 10000), 1, "A never connected to the black hole");
    hole_conn = accept(hole, NULL, NULL);
    cr_assert(hole_conn >= 0);
    long hole_since = pgt_now_ms();

    /* Each message goes in its own transaction, started while the hole's is pending. */
    const char *texts[] = {"while-the-hole-hangs-1", "while-the-hole-hangs-2", "while-the-hole-hangs-3"};
    for (int i = 0; i < 3; i++) {
        char *id = pgt_mx_send_text(A.base, &alice, room, texts[i]);
        free(id);
        long took = time_to_arrive(&bob, room, texts[i], 15000);
        cr_assert(took >= 0 && took < 3000, "message %d reached B after %ld ms (-1: not in 15 s)", i + 1, took);
    }
    cr_assert_lt(pgt_now_ms() - hole_since, 15000);
    cr_assert(hole_still_open(), "A gave up on the black hole early: the test proves nothing");
    free(room);
}
