/* Batched outbound federation requests: fed_client_request_many against real loopback
 * sockets - two small HTTPS peers (a thread with OpenSSL and a self-signed certificate
 * that echoes what it received), "black hole" peers that accept TCP connections and
 * never answer, and a deny-listed address - checks that every request gets its own
 * answer or error and that hung peers overlap instead of adding up; and
 * hs_fed_send_many's waves (federation.max_concurrent_requests) and sequential
 * fallback through a scripted transport; and the batch's wake-up. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "federation-side/fed_client.h"
#include "federation-side/fed_tls.h"
#include "server-core/hs_fed.h"
#include "server-core/hs_server.h"
#include "server-core/hs_signing.h"
#include "support/pgt.h"
#include "support/pgt_hs.h"

/* ---- loopback peers ---------------------------------------------------------------- */

static int listen_loopback(int *port)
{
    int fd = pgt_listen_loopback(16, port);
    cr_assert(fd >= 0);
    return fd;
}

typedef struct peer {
    int fd, port;
    SSL_CTX *ctx;
    pthread_t thread;
    atomic_bool stop;
} peer;

/* Answers one request on `ssl`: 200 with "<method> <target> auth=<yes|no> body=<n>". */
static void serve_one(SSL *ssl)
{
    char buf[16384];
    size_t len = 0;
    char *end = NULL;
    while (!end && len < sizeof buf - 1) {
        int r = SSL_read(ssl, buf + len, (int)(sizeof buf - 1 - len));
        if (r <= 0) return;
        len += (size_t)r;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    if (!end) return;
    size_t want = 0;
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    if (cl && cl < end) want = (size_t)strtoul(cl + 17, NULL, 10);
    while (len - (size_t)(end + 4 - buf) < want && len < sizeof buf - 1) {
        int r = SSL_read(ssl, buf + len, (int)(sizeof buf - 1 - len));
        if (r <= 0) return;
        len += (size_t)r;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    char method[16] = "", target[1024] = "";
    sscanf(buf, "%15s %1023s", method, target);
    const char *auth = strcasestr(buf, "\r\nAuthorization: X-Matrix ");
    char body[1200];
    int bl = snprintf(body, sizeof body, "%s %s auth=%s body=%zu", method, target, auth && auth < end ? "yes" : "no",
                      want);
    char resp[1400];
    int rl = snprintf(resp, sizeof resp,
                      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
                      bl, body);
    SSL_write(ssl, resp, rl);
}

static void *peer_run(void *arg)
{
    peer *p = arg;
    while (!atomic_load(&p->stop)) {
        struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
        if (poll(&pfd, 1, 100) <= 0) continue;
        int c = accept(p->fd, NULL, NULL);
        if (c < 0) continue;
        SSL *ssl = SSL_new(p->ctx);
        SSL_set_fd(ssl, c);
        if (SSL_accept(ssl) == 1) {
            serve_one(ssl);
            SSL_shutdown(ssl);
        }
        SSL_free(ssl);
        close(c);
    }
    return NULL;
}

static char *dir;
static peer peers[2];
static int holes[3], hole_ports[3];

static void start_peer(peer *p)
{
    char cert[1024], key[1024], err[256];
    snprintf(cert, sizeof cert, "%s/cert%d.pem", dir, (int)(p - peers));
    snprintf(key, sizeof key, "%s/key%d.pem", dir, (int)(p - peers));
    cr_assert_eq(fed_tls_generate_self_signed("127.0.0.1", 2, cert, key, err, sizeof err), 0, "%s", err);
    p->ctx = SSL_CTX_new(TLS_server_method());
    cr_assert(p->ctx);
    cr_assert_eq(SSL_CTX_use_certificate_chain_file(p->ctx, cert), 1);
    cr_assert_eq(SSL_CTX_use_PrivateKey_file(p->ctx, key, SSL_FILETYPE_PEM), 1);
    p->fd = listen_loopback(&p->port);
    atomic_store(&p->stop, false);
    cr_assert_eq(pthread_create(&p->thread, NULL, peer_run, p), 0);
}

static void setup_peers(void)
{
    dir = pgt_tmpdir();
    for (int i = 0; i < 2; i++) start_peer(&peers[i]);
    /* Listening but never accepting: the kernel completes the TCP handshake, then
     * nothing ever comes back (the TLS handshake waits forever). */
    for (int i = 0; i < 3; i++) holes[i] = listen_loopback(&hole_ports[i]);
}

static void teardown_peers(void)
{
    for (int i = 0; i < 2; i++) {
        atomic_store(&peers[i].stop, true);
        pthread_join(peers[i].thread, NULL);
        close(peers[i].fd);
        SSL_CTX_free(peers[i].ctx);
    }
    for (int i = 0; i < 3; i++) close(holes[i]);
    pgt_rmtree(dir);
    free(dir);
}

TestSuite(fed_client_many, .init = setup_peers, .fini = teardown_peers, .timeout = 60);

static fed_client *client(int timeout_seconds, const char *denylist, hs_signing_key *key)
{
    cr_assert_eq(hs_signing_key_generate(key), 0);
    fed_client_config fc = {.server_name = "self.test",
                            .key = key,
                            .ip_range_denylist = denylist,
                            .verify_certificates = false,
                            .timeout_seconds = timeout_seconds,
                            .max_response_bytes = 1 << 20};
    hs_err err;
    fed_client *c = fed_client_new(&fc, NULL, &err);
    cr_assert_not_null(c, "%s", err.msg);
    return c;
}

Test(fed_client_many, hung_peers_overlap_and_every_request_gets_its_own_result)
{
    hs_signing_key key;
    fed_client *c = client(2, "127.0.0.2/32", &key);
    char d[6][64];
    snprintf(d[0], sizeof d[0], "127.0.0.1:%d", hole_ports[0]);
    snprintf(d[1], sizeof d[1], "127.0.0.1:%d", peers[0].port);
    snprintf(d[2], sizeof d[2], "127.0.0.1:%d", hole_ports[1]);
    snprintf(d[3], sizeof d[3], "127.0.0.1:%d", peers[1].port);
    snprintf(d[4], sizeof d[4], "127.0.0.2:%d", peers[1].port); /* deny-listed */
    snprintf(d[5], sizeof d[5], "127.0.0.1:%d", hole_ports[2]);
    json_t *content = json_pack("{s:s}", "hello", "world");
    hs_fed_out reqs[7] = {
        {d[0], "GET", "/_matrix/federation/v1/version", NULL, true},
        {d[1], "PUT", "/_matrix/federation/v1/send/t1", content, true},
        {d[2], "GET", "/_matrix/federation/v1/version", NULL, true},
        {d[3], "GET", "/_matrix/key/v2/server", NULL, false},
        {d[4], "GET", "/_matrix/federation/v1/version", NULL, true},
        {d[5], "GET", "/_matrix/federation/v1/version", NULL, true},
        {d[1], "GET", "no-slash", NULL, true},
    };
    hs_fed_reply replies[7];
    hs_err errs[7];
    long t0 = pgt_now_ms();
    int answered = fed_client_request_many(c, reqs, 7, replies, errs);
    long took = pgt_now_ms() - t0;
    json_decref(content);

    cr_assert_eq(answered, 2);
    cr_assert_eq(replies[1].status, 200);
    cr_assert_str_eq(replies[1].body, "PUT /_matrix/federation/v1/send/t1 auth=yes body=17");
    cr_assert_str_eq(replies[1].content_type, "text/plain");
    cr_assert_eq(replies[3].status, 200);
    cr_assert_str_eq(replies[3].body, "GET /_matrix/key/v2/server auth=no body=0");
    for (int i = 0; i < 7; i++) {
        if (i == 1 || i == 3) continue;
        cr_assert_eq(replies[i].status, 0, "request %d", i);
        cr_assert_null(replies[i].body, "request %d", i);
        cr_assert_neq(errs[i].msg[0], '\0', "request %d has no error", i);
    }
    cr_assert(strstr(errs[0].msg, "Timeout") || strstr(errs[0].msg, "timed out"), "%s", errs[0].msg);
    cr_assert(strstr(errs[4].msg, "ip_range_denylist"), "%s", errs[4].msg);
    cr_assert(strstr(errs[6].msg, "must start with '/'"), "%s", errs[6].msg);
    /* Three black holes of 2 s each: one after the other they would take 6 s. */
    cr_assert(took >= 1900 && took < 5000, "the batch took %ld ms", took);
    for (int i = 0; i < 7; i++) hs_fed_reply_free(&replies[i]);
    fed_client_free(c);
}

Test(fed_client_many, single_request_still_works_and_empty_batch_is_fine)
{
    hs_signing_key key;
    fed_client *c = client(5, "", &key);
    char d[64];
    snprintf(d, sizeof d, "127.0.0.1:%d", peers[0].port);
    hs_fed_out req = {d, "GET", "/x?y=%20z", NULL, true};
    hs_fed_reply reply;
    hs_err err;
    cr_assert_eq(fed_client_request(c, &req, &reply, &err), 0, "%s", err.msg);
    cr_assert_str_eq(reply.body, "GET /x?y=%20z auth=yes body=0");
    hs_fed_reply_free(&reply);
    cr_assert_eq(fed_client_request_many(c, NULL, 0, NULL, NULL), 0);
    fed_client_free(c);
}

/* ---- hs_fed_send_many: waves and the fallback --------------------------------------- */

static atomic_int batches, largest, singles;

static int fake_one(void *ctx, const hs_fed_out *req, hs_fed_reply *reply, hs_err *err)
{
    (void)ctx;
    atomic_fetch_add(&singles, 1);
    if (strcmp(req->destination, "down.test") == 0) return hs_err_set(err, "connection refused");
    reply->status = 200;
    reply->body = strdup(req->target);
    reply->body_len = strlen(reply->body);
    return 0;
}

/* A scripted concurrent transport: answers come back last started, first out, and the
 * largest number ever in flight at once is recorded. */
typedef struct fake_batch {
    uint64_t tags[64];
    hs_fed_reply replies[64];
    hs_err errs[64];
    int n;
} fake_batch;

static void *fake_open(void *ctx)
{
    (void)ctx;
    atomic_fetch_add(&batches, 1);
    return calloc(1, sizeof(fake_batch));
}

static int fake_start(void *vb, const hs_fed_out *req, uint64_t tag, hs_err *err)
{
    fake_batch *b = vb;
    if (b->n == 64) return hs_err_set(err, "full");
    memset(&b->replies[b->n], 0, sizeof b->replies[b->n]);
    b->errs[b->n].msg[0] = '\0';
    fake_one(NULL, req, &b->replies[b->n], &b->errs[b->n]);
    atomic_fetch_sub(&singles, 1);
    b->tags[b->n++] = tag;
    if (b->n > atomic_load(&largest)) atomic_store(&largest, b->n);
    return 0;
}

static int fake_next(void *vb, int timeout_ms, uint64_t *tag, hs_fed_reply *reply, hs_err *err)
{
    (void)timeout_ms;
    fake_batch *b = vb;
    if (b->n == 0) return -1;
    b->n--;
    *tag = b->tags[b->n];
    *reply = b->replies[b->n];
    *err = b->errs[b->n];
    return 1;
}

static void fake_wake(void *vb)
{
    (void)vb;
}

static void fake_close(void *vb)
{
    free(vb);
}

static void send_many_case(bool with_many)
{
    char *sdir = pgt_tmpdir();
    hs_config cfg;
    hs_config_defaults(&cfg);
    snprintf(cfg.server_name, sizeof cfg.server_name, "self.test");
    cfg.threads = 1;
    cfg.federation_max_concurrent_requests = 3;
    pgt_hs_config_files(&cfg, sdir);
    char err[512];
    hs_server srv;
    cr_assert_eq(hs_server_open(&srv, &cfg, err, sizeof err), 0, "%s", err);
    hs_fed_transport t = {.request = fake_one};
    if (with_many) {
        t.batch_open = fake_open;
        t.batch_start = fake_start;
        t.batch_next = fake_next;
        t.batch_wake = fake_wake;
        t.batch_close = fake_close;
    }
    hs_fed_set_transport(&srv, &t);
    atomic_store(&batches, 0);
    atomic_store(&largest, 0);
    atomic_store(&singles, 0);

    enum { N = 8 };
    hs_fed_out reqs[N];
    char targets[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(targets[i], sizeof targets[i], "/t%d", i);
        reqs[i] = (hs_fed_out){i == 4 ? "down.test" : "up.test", "GET", targets[i], NULL, true};
    }
    hs_fed_reply replies[N];
    hs_err errs[N];
    cr_assert_eq(hs_fed_send_many(&srv, reqs, N, replies, errs), N - 1);
    for (int i = 0; i < N; i++) {
        if (i == 4) {
            cr_assert_eq(replies[i].status, 0);
            cr_assert_str_eq(errs[i].msg, "connection refused");
            continue;
        }
        cr_assert_eq(replies[i].status, 200);
        cr_assert_str_eq(replies[i].body, targets[i]);
        hs_fed_reply_free(&replies[i]);
    }
    if (with_many) {
        cr_assert_eq(atomic_load(&batches), 3, "8 requests at most 3 at a time: 3 waves");
        cr_assert_eq(atomic_load(&largest), 3, "at most 3 in flight at once");
        cr_assert_eq(atomic_load(&singles), 0);
    } else {
        cr_assert_eq(atomic_load(&singles), N);
    }
    hs_server_close(&srv);
    pgt_rmtree(sdir);
    free(sdir);
}

Test(fed_client_many, send_many_runs_in_waves_of_max_concurrent_requests)
{
    send_many_case(true);
}

Test(fed_client_many, send_many_falls_back_to_one_at_a_time)
{
    send_many_case(false);
}

static void *wake_later(void *arg)
{
    usleep(300 * 1000);
    fed_batch_wake(arg);
    return NULL;
}

Test(fed_client_many, batch_hands_out_answers_as_they_come_and_can_be_woken)
{
    hs_signing_key key;
    fed_client *c = client(3, "", &key);
    fed_batch *b = fed_batch_open(c);
    cr_assert_not_null(b);
    char hole[64], good[64];
    snprintf(hole, sizeof hole, "127.0.0.1:%d", hole_ports[0]);
    snprintf(good, sizeof good, "127.0.0.1:%d", peers[0].port);
    hs_fed_out a = {hole, "GET", "/hole", NULL, true}, g = {good, "GET", "/good", NULL, true};
    hs_err err;
    cr_assert_eq(fed_batch_start(b, &a, 7, &err), 0, "%s", err.msg);
    cr_assert_eq(fed_batch_start(b, &g, 8, &err), 0, "%s", err.msg);
    cr_assert_eq(fed_batch_in_flight(b), 2);
    uint64_t tag = 0;
    hs_fed_reply r;
    long t0 = pgt_now_ms();
    cr_assert_eq(fed_batch_next(b, 10000, &tag, &r, &err), 1);
    cr_assert_eq(tag, 8, "the answering peer comes first");
    cr_assert_str_eq(r.body, "GET /good auth=yes body=0");
    cr_assert_lt(pgt_now_ms() - t0, 1500);
    hs_fed_reply_free(&r);
    /* A new request joins while the black hole is still pending and is answered first. */
    hs_fed_out g2 = {good, "GET", "/good2", NULL, true};
    cr_assert_eq(fed_batch_start(b, &g2, 9, &err), 0, "%s", err.msg);
    cr_assert_eq(fed_batch_next(b, 10000, &tag, &r, &err), 1);
    cr_assert_eq(tag, 9);
    hs_fed_reply_free(&r);
    /* Woken from another thread: returns 0 well before the hole's timeout. */
    pthread_t th;
    t0 = pgt_now_ms();
    pthread_create(&th, NULL, wake_later, b);
    cr_assert_eq(fed_batch_next(b, 10000, &tag, &r, &err), 0);
    cr_assert_lt(pgt_now_ms() - t0, 1500);
    pthread_join(th, NULL);
    cr_assert_eq(fed_batch_next(b, 10000, &tag, &r, &err), 1);
    cr_assert_eq(tag, 7);
    cr_assert_eq(r.status, 0);
    cr_assert_neq(err.msg[0], '\0');
    cr_assert_eq(fed_batch_next(b, 10000, &tag, &r, &err), -1, "nothing in flight");
    fed_batch_close(b);
    fed_client_free(c);
}

/* ---- discovery off the batch's thread ------------------------------------------------ */

/* A resolver whose well-known lookup of "slow.test" takes 1.5 s and then delegates to
 * the first HTTPS peer; no SRV records anywhere. */
static int no_srv(void *ctx, const char *name, fed_srv_record *out, size_t max)
{
    (void)ctx;
    (void)name;
    (void)out;
    (void)max;
    return 0;
}

static int slow_well_known(void *ctx, const char *hostname, fed_wk_http *out)
{
    (void)ctx;
    memset(out, 0, sizeof *out);
    out->max_age_ms = -1;
    if (strcmp(hostname, "slow.test") != 0) return -1;
    usleep(1500 * 1000);
    char body[128];
    snprintf(body, sizeof body, "{\"m.server\":\"127.0.0.1:%d\"}", peers[0].port);
    out->status = 200;
    out->body = strdup(body);
    out->body_len = strlen(body);
    return 0;
}

Test(fed_client_many, a_slow_discovery_holds_up_neither_the_start_nor_other_answers)
{
    hs_signing_key key;
    cr_assert_eq(hs_signing_key_generate(&key), 0);
    fed_client_config fc = {.server_name = "self.test",
                            .key = &key,
                            .ip_range_denylist = "",
                            .verify_certificates = false,
                            .timeout_seconds = 10,
                            .max_response_bytes = 1 << 20};
    fed_resolver r = {.srv = no_srv, .well_known = slow_well_known};
    hs_err err;
    fed_client *c = fed_client_new(&fc, &r, &err);
    cr_assert_not_null(c, "%s", err.msg);
    fed_batch *b = fed_batch_open(c);
    char good[64];
    snprintf(good, sizeof good, "127.0.0.1:%d", peers[1].port);
    hs_fed_out slow = {"slow.test", "GET", "/slow", NULL, true}, fast = {good, "GET", "/fast", NULL, true};
    long t0 = pgt_now_ms();
    cr_assert_eq(fed_batch_start(b, &slow, 1, &err), 0, "%s", err.msg);
    cr_assert_eq(fed_batch_start(b, &fast, 2, &err), 0, "%s", err.msg);
    cr_assert_lt(pgt_now_ms() - t0, 500, "starting waited for the discovery");
    cr_assert_eq(fed_batch_in_flight(b), 2);
    uint64_t tag;
    hs_fed_reply rep;
    cr_assert_eq(fed_batch_next(b, 10000, &tag, &rep, &err), 1);
    cr_assert_eq(tag, 2);
    cr_assert_lt(pgt_now_ms() - t0, 1200, "the fast answer waited for the slow discovery");
    hs_fed_reply_free(&rep);
    cr_assert_eq(fed_batch_next(b, 10000, &tag, &rep, &err), 1, "timed out");
    cr_assert_eq(tag, 1);
    cr_assert_eq(rep.status, 200, "%s", err.msg);
    cr_assert_str_eq(rep.body, "GET /slow auth=yes body=0", "delegated by the late well-known answer");
    hs_fed_reply_free(&rep);
    cr_assert_eq(fed_batch_next(b, 100, &tag, &rep, &err), -1);

    fed_batch_close(b);
    fed_client_free(c);

    /* Closing with a discovery still running waits for it and frees everything (a new
     * client: its well-known cache is empty, so the lookup is slow again). */
    c = fed_client_new(&fc, &r, &err);
    b = fed_batch_open(c);
    hs_fed_out other = {"slow.test", "GET", "/again", NULL, true};
    cr_assert_eq(fed_batch_start(b, &other, 3, &err), 0, "%s", err.msg);
    fed_batch_close(b);
    fed_client_free(c);
}
