/* Presence, device deletions and cross-signing keys across two real pinegate processes
 * over loopback HTTPS (localhost:PORT_A and localhost:PORT_B, --dev configs), set up as
 * in test_fed_e2ee.c: alice on A creates a public room, bob on B joins it by alias.
 *   - alice sets her presence on A (PUT /presence): bob's /sync on B shows it, and GET
 *     /presence on B answers it; bob's set_presence on a /sync of B reaches alice's A.
 *   - alice logs one of her two devices out on A: B hears the deletion (deleted: true),
 *     so once A is stopped, bob's keys/query on B - answered from B's cache - shows
 *     only the device that is left.
 *   - alice uploads a master and a self-signing key on A: B hears it
 *     (m.signing_key_update), bob's /sync lists alice as changed, and bob's keys/query
 *     on B returns both keys after A is stopped (B's cache), and from A's own answer
 *     once A is back.
 *   - keys/query naming users of two servers that never answer (loopback listeners that
 *     accept nothing) takes one request timeout, not two: the servers are asked at once. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server-core/hs_signing.h"
#include "server-core/hs_signing_key.h"
#include "support/pgt.h"
#include "support/pgt_e2ee.h"
#include "support/pgt_fed.h"
#include "support/pgt_matrix.h"

typedef pgt_fed_node node;

PGT_FED_SUITE_AB(fed_edus, 240);

static void upload_device_keys(const node *n, const pgt_mx_login *u)
{
    hs_signing_key k;
    json_decref(pgt_fed_req(n, u, "POST", json_pack("{s:o}", "device_keys", pgt_e2ee_new_device_keys(u, &k)), 200,
                            "/_matrix/client/v3/keys/upload"));
}

typedef struct presence_want {
    const char *user, *presence, *status_msg;
} presence_want;

static bool shows_presence(json_t *r, const void *arg)
{
    const presence_want *w = arg;
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(json_object_get(r, "presence"), "events"), i, ev) {
        json_t *c = json_object_get(ev, "content");
        const char *sender = json_string_value(json_object_get(ev, "sender"));
        const char *state = json_string_value(json_object_get(c, "presence"));
        const char *msg = json_string_value(json_object_get(c, "status_msg"));
        if (sender && state && strcmp(sender, w->user) == 0 && strcmp(state, w->presence) == 0 &&
            (!w->status_msg || (msg && strcmp(msg, w->status_msg) == 0)))
            return true;
    }
    return false;
}

Test(fed_edus, presence_crosses_both_ways)
{
    pgt_mx_login alice = pgt_mx_must_register(A.base, "alice", "pw-alice-1");
    pgt_mx_login bob = pgt_mx_must_register(B.base, "bob", "pw-bob-1");
    free(pgt_fed_join_by_alias(&A, &alice, "edus", &B, &bob));

    char since_b[256], since_a[256];
    pgt_fed_sync_token(&B, &bob, since_b, sizeof since_b);
    pgt_fed_sync_token(&A, &alice, since_a, sizeof since_a);
    json_decref(pgt_fed_req(&A, &alice, "PUT",
                            json_pack("{s:s, s:s}", "presence", "unavailable", "status_msg", "at lunch"), 200,
                            "/_matrix/client/v3/presence/%s/status", pgt_mx_enc_tmp(alice.user_id)));
    presence_want w = {alice.user_id, "unavailable", "at lunch"};
    cr_assert(pgt_fed_sync_until(&B, &bob, since_b, "&set_presence=offline", shows_presence, &w, 20000),
              "alice's presence in bob's /sync on B");
    json_t *p =
        pgt_fed_req(&B, &bob, "GET", NULL, 200, "/_matrix/client/v3/presence/%s/status", pgt_mx_enc_tmp(alice.user_id));
    cr_assert_str_eq(json_string_value(json_object_get(p, "presence")), "unavailable");
    cr_assert_str_eq(json_string_value(json_object_get(p, "status_msg")), "at lunch");
    cr_assert(json_integer_value(json_object_get(p, "last_active_ago")) < 60000, "recently active");
    json_decref(p);

    /* bob's own /sync with set_presence=unavailable records it on B; A hears it. */
    json_decref(pgt_fed_req(&B, &bob, "GET", NULL, 200, "/_matrix/client/v3/sync?timeout=0&set_presence=unavailable"));
    presence_want wb = {bob.user_id, "unavailable", NULL};
    cr_assert(pgt_fed_sync_until(&A, &alice, since_a, NULL, shows_presence, &wb, 20000),
              "bob's presence in alice's /sync on A");
}

Test(fed_edus, a_device_logged_out_on_a_leaves_b_cache)
{
    pgt_mx_login alice = pgt_mx_must_register(A.base, "alice", "pw-alice-1");
    pgt_mx_login bob = pgt_mx_must_register(B.base, "bob", "pw-bob-1");
    free(pgt_fed_join_by_alias(&A, &alice, "edus", &B, &bob));
    /* alice's second device, by password login. */
    json_t *l = pgt_fed_req(&A, NULL, "POST",
                            json_pack("{s:s, s:{s:s, s:s}, s:s}", "type", "m.login.password", "identifier", "type",
                                      "m.id.user", "user", "alice", "password", "pw-alice-1"),
                            200, "/_matrix/client/v3/login");
    pgt_mx_login phone = alice;
    snprintf(phone.token, sizeof phone.token, "%s", json_string_value(json_object_get(l, "access_token")));
    snprintf(phone.device_id, sizeof phone.device_id, "%s", json_string_value(json_object_get(l, "device_id")));
    json_decref(l);
    char since[256];
    pgt_fed_sync_token(&B, &bob, since, sizeof since);
    upload_device_keys(&A, &alice);
    upload_device_keys(&A, &phone);
    /* B has heard of both uploads, so the next change it hears of is the logout. */
    cr_assert(pgt_fed_sync_until(&B, &bob, since, NULL, pgt_fed_sync_lists_changed, alice.user_id, 20000),
              "alice's uploads reached B");

    /* bob's query on B: both devices (B caches alice's whole list). */
    json_t *q = pgt_fed_req(&B, &bob, "POST", json_pack("{s:{s:[]}}", "device_keys", alice.user_id), 200,
                            "/_matrix/client/v3/keys/query");
    json_t *devs = json_object_get(json_object_get(q, "device_keys"), alice.user_id);
    cr_assert_eq(json_object_size(devs), 2, "both devices: %s", json_dumps(q, 0));
    json_decref(q);

    pgt_fed_sync_token(&B, &bob, since, sizeof since);
    json_decref(pgt_fed_req(&A, &phone, "POST", json_object(), 200, "/_matrix/client/v3/logout"));
    cr_assert(pgt_fed_sync_until(&B, &bob, since, NULL, pgt_fed_sync_lists_changed, alice.user_id, 20000),
              "alice in bob's device_lists.changed after the logout");

    /* With A gone, B answers from its cache: the logged-out device is not in it. */
    pgt_stop(&A.proc, SIGTERM, 20000);
    q = pgt_fed_req(&B, &bob, "POST", json_pack("{s:{s:[]}}", "device_keys", alice.user_id), 200,
                    "/_matrix/client/v3/keys/query");
    devs = json_object_get(json_object_get(q, "device_keys"), alice.user_id);
    cr_assert(json_object_get(json_object_get(q, "failures"), A.name), "A is down: %s", json_dumps(q, 0));
    cr_assert(json_object_get(devs, alice.device_id), "the remaining device: %s", json_dumps(q, 0));
    cr_assert_null(json_object_get(devs, phone.device_id), "the deleted device is gone: %s", json_dumps(q, 0));
    json_decref(q);
}

Test(fed_edus, cross_signing_keys_reach_b_and_stay_cached)
{
    pgt_mx_login alice = pgt_mx_must_register(A.base, "alice", "pw-alice-1");
    pgt_mx_login bob = pgt_mx_must_register(B.base, "bob", "pw-bob-1");
    free(pgt_fed_join_by_alias(&A, &alice, "edus", &B, &bob));
    char since[256];
    pgt_fed_sync_token(&B, &bob, since, sizeof since);
    upload_device_keys(&A, &alice);
    /* B has heard of the upload, so the next change it hears of is the cross-signing one. */
    cr_assert(pgt_fed_sync_until(&B, &bob, since, NULL, pgt_fed_sync_lists_changed, alice.user_id, 20000),
              "alice's upload reached B");

    hs_signing_key mk, sk;
    json_t *master = pgt_e2ee_cross_key(alice.user_id, "master", &mk);
    json_t *ssk = pgt_e2ee_cross_key(alice.user_id, "self_signing", &sk);
    hs_err e;
    cr_assert_eq(hs_sign_json(ssk, alice.user_id, &mk, &e), 0, "%s", e.msg);
    char master_id[64], ssk_id[64];
    snprintf(master_id, sizeof master_id, "%s", mk.key_id);
    snprintf(ssk_id, sizeof ssk_id, "%s", sk.key_id);

    pgt_fed_sync_token(&B, &bob, since, sizeof since);
    json_decref(pgt_fed_req(&A, &alice, "POST", json_pack("{s:o, s:o}", "master_key", master, "self_signing_key", ssk),
                            200, "/_matrix/client/v3/keys/device_signing/upload"));
    cr_assert(pgt_fed_sync_until(&B, &bob, since, NULL, pgt_fed_sync_lists_changed, alice.user_id, 20000),
              "alice in bob's device_lists.changed after her cross-signing upload");

    /* Stopped: B answers from what A's m.signing_key_update told it. */
    pgt_stop(&A.proc, SIGTERM, 20000);
    json_t *q = pgt_fed_req(&B, &bob, "POST", json_pack("{s:{s:[]}}", "device_keys", alice.user_id), 200,
                            "/_matrix/client/v3/keys/query");
    json_t *m = json_object_get(json_object_get(q, "master_keys"), alice.user_id);
    json_t *s = json_object_get(json_object_get(q, "self_signing_keys"), alice.user_id);
    cr_assert(json_object_get(json_object_get(q, "failures"), A.name), "A is down: %s", json_dumps(q, 0));
    cr_assert(json_object_get(json_object_get(m, "keys"), master_id), "alice's master key: %s", json_dumps(q, 0));
    cr_assert(json_object_get(json_object_get(s, "keys"), ssk_id), "alice's self-signing key: %s", json_dumps(q, 0));
    cr_assert(json_object_get(json_object_get(json_object_get(s, "signatures"), alice.user_id), master_id),
              "signed by the master key");
    json_decref(q);

    /* A back: its own user/keys/query answer carries both keys (an answer without them
     * would empty B's cache and this query's result). */
    pgt_fed_serve(&A);
    bool answered = false;
    for (int waited = 0; waited < 30000 && !answered; waited += 500) {
        q = pgt_fed_req(&B, &bob, "POST", json_pack("{s:{s:[]}}", "device_keys", alice.user_id), 200,
                        "/_matrix/client/v3/keys/query");
        answered = json_object_size(json_object_get(q, "failures")) == 0;
        if (answered) {
            m = json_object_get(json_object_get(q, "master_keys"), alice.user_id);
            s = json_object_get(json_object_get(q, "self_signing_keys"), alice.user_id);
            cr_assert(json_object_get(json_object_get(m, "keys"), master_id), "A's answer: %s", json_dumps(q, 0));
            cr_assert(json_object_get(json_object_get(s, "keys"), ssk_id), "A's answer: %s", json_dumps(q, 0));
        }
        json_decref(q);
        if (!answered) usleep(500 * 1000);
    }
    cr_assert(answered, "A answered B's query after its restart");
}

/* A loopback listener that never accepts: a TLS handshake with it hangs until the
 * caller's timeout. Returns the socket; *port gets its port. */
static int black_hole(int *port)
{
    int fd = pgt_listen_loopback(16, port);
    cr_assert_geq(fd, 0);
    return fd;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* B's outbound requests give up after `seconds`: its config is edited and B restarted. */
static void set_request_timeout(int seconds)
{
    pgt_stop(&B.proc, SIGTERM, 20000);
    FILE *f = fopen(B.cfg, "r");
    cr_assert(f);
    char text[65536];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    char *at = strstr(text, "  request_timeout_seconds:");
    cr_assert(at, "B's config has federation.request_timeout_seconds");
    char *eol = strchr(at, '\n');
    cr_assert(eol);
    f = fopen(B.cfg, "w");
    cr_assert(f);
    fprintf(f, "%.*s  request_timeout_seconds: %d%s", (int)(at - text), text, seconds, eol);
    fclose(f);
    pgt_fed_serve(&B);
}

Test(fed_edus, keys_query_asks_several_servers_at_once)
{
    set_request_timeout(3);
    pgt_mx_login bob = pgt_mx_must_register(B.base, "bob", "pw-bob-1");
    int p1, p2;
    int h1 = black_hole(&p1), h2 = black_hole(&p2);
    char u1[64], u2[64];
    snprintf(u1, sizeof u1, "@x:127.0.0.1:%d", p1);
    snprintf(u2, sizeof u2, "@y:127.0.0.1:%d", p2);
    double t0 = now_s();
    json_t *q = pgt_fed_req(&B, &bob, "POST", json_pack("{s:{s:[], s:[]}}", "device_keys", u1, u2), 200,
                            "/_matrix/client/v3/keys/query");
    double took = now_s() - t0;
    cr_assert_eq(json_object_size(json_object_get(q, "failures")), 2, "both servers failed: %s", json_dumps(q, 0));
    json_decref(q);
    /* One after the other would take two timeouts (6 s). */
    cr_assert(took >= 2.5 && took < 5.0, "two hung servers took %.2f s", took);
    close(h1);
    close(h2);
}

/* The client's `timeout` bounds the wait for other servers: with B's own request
 * timeout at 8 s, keys/query and keys/claim naming a server that never answers come
 * back after the 1.5 s the client asked for, with that server in `failures`. */
Test(fed_edus, keys_query_and_claim_keep_the_client_timeout)
{
    set_request_timeout(8);
    pgt_mx_login bob = pgt_mx_must_register(B.base, "bob", "pw-bob-1");
    int port;
    int hole = black_hole(&port);
    char user[64], server[64];
    snprintf(server, sizeof server, "127.0.0.1:%d", port);
    snprintf(user, sizeof user, "@x:%s", server);

    double t0 = now_s();
    json_t *q = pgt_fed_req(&B, &bob, "POST", json_pack("{s:{s:[]}, s:i}", "device_keys", user, "timeout", 1500), 200,
                            "/_matrix/client/v3/keys/query");
    double took = now_s() - t0;
    cr_assert(json_object_get(json_object_get(q, "failures"), server), "the silent server failed: %s",
              json_dumps(q, 0));
    json_decref(q);
    cr_assert(took >= 1.2 && took < 3.0, "keys/query with timeout 1500 took %.2f s", took);

    t0 = now_s();
    q = pgt_fed_req(&B, &bob, "POST",
                    json_pack("{s:{s:{s:s}}, s:i}", "one_time_keys", user, "DEV", "signed_curve25519", "timeout", 1500),
                    200, "/_matrix/client/v3/keys/claim");
    took = now_s() - t0;
    cr_assert(json_object_get(json_object_get(q, "failures"), server), "the silent server failed: %s",
              json_dumps(q, 0));
    json_decref(q);
    cr_assert(took >= 1.2 && took < 3.0, "keys/claim with timeout 1500 took %.2f s", took);
    close(hole);
}
