/* Outbound connection reuse in fed_client: loopback HTTPS peers (OpenSSL, self-signed,
 * HTTP/1.1 keep-alive, a thread per connection) count the TCP connections they accept.
 * Twenty requests one after the other to one destination - single requests, batches of
 * one, a batch of several, mixed - go over one connection; the idle connections kept
 * are bounded by max_idle_connections (two destinations asked in turn with room for one
 * connection reconnect each time, with room for two they do not); a peer that closes
 * its side is reconnected to transparently. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
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
#include "server-core/hs_signing.h"
#include "support/pgt.h"

#define MAX_CONNS 64

typedef struct peer {
    int fd, port;
    pthread_t thread;
    atomic_int accepted;
    atomic_bool close_after_answer;  /* answer with Connection: close */
    pthread_mutex_t mu;
    int conns[MAX_CONNS];
    pthread_t conn_threads[MAX_CONNS];
    int n_conns;
} peer;

static SSL_CTX *ctx;
static char *dir;
static peer peers[2];
static atomic_bool stopping;

typedef struct conn_arg {
    peer *p;
    int fd;
} conn_arg;

/* Reads one request (headers and Content-Length body) into buf. Returns its length, 0
 * at the end of the connection. */
static size_t read_request(SSL *ssl, char *buf, size_t cap)
{
    size_t len = 0;
    for (;;) {
        char *end = strstr(buf, "\r\n\r\n");
        if (len && end) {
            const char *cl = strcasestr(buf, "\r\nContent-Length:");
            size_t want = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
            if (len - (size_t)(end + 4 - buf) >= want) return len;
        }
        if (len >= cap - 1) return 0;
        int r = SSL_read(ssl, buf + len, (int)(cap - 1 - len));
        if (r <= 0) return 0;
        len += (size_t)r;
        buf[len] = '\0';
    }
}

/* Serves requests on one connection until the client closes it: 200 "<method>
 * <target>" each. */
static void *conn_run(void *arg)
{
    conn_arg a = *(conn_arg *)arg;
    free(arg);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, a.fd);
    if (SSL_accept(ssl) == 1) {
        char buf[16384];
        buf[0] = '\0';
        size_t n;
        while ((n = read_request(ssl, buf, sizeof buf)) > 0) {
            char method[16] = "", target[1024] = "", body[1100], resp[1400];
            sscanf(buf, "%15s %1023s", method, target);
            int bl = snprintf(body, sizeof body, "%s %s", method, target);
            bool close_it = atomic_load(&a.p->close_after_answer);
            int rl = snprintf(resp, sizeof resp,
                              "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n%s", bl,
                              close_it ? "Connection: close\r\n" : "", body);
            if (SSL_write(ssl, resp, rl) != rl || close_it) break;
            buf[0] = '\0';
        }
        SSL_shutdown(ssl);
    }
    SSL_free(ssl);
    return NULL;
}

static void *peer_run(void *arg)
{
    peer *p = arg;
    while (!atomic_load(&stopping)) {
        struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
        if (poll(&pfd, 1, 50) <= 0) continue;
        int c = accept(p->fd, NULL, NULL);
        if (c < 0) continue;
        pthread_mutex_lock(&p->mu);
        if (p->n_conns == MAX_CONNS) {
            pthread_mutex_unlock(&p->mu);
            close(c);
            continue;
        }
        atomic_fetch_add(&p->accepted, 1);
        conn_arg *a = malloc(sizeof *a);
        *a = (conn_arg){p, c};
        p->conns[p->n_conns] = c;
        cr_assert_eq(pthread_create(&p->conn_threads[p->n_conns], NULL, conn_run, a), 0);
        p->n_conns++;
        pthread_mutex_unlock(&p->mu);
    }
    return NULL;
}

static void start_peer(peer *p)
{
    p->fd = pgt_listen_loopback(16, &p->port);
    cr_assert(p->fd >= 0);
    atomic_init(&p->accepted, 0);
    atomic_init(&p->close_after_answer, false);
    pthread_mutex_init(&p->mu, NULL);
    p->n_conns = 0;
    cr_assert_eq(pthread_create(&p->thread, NULL, peer_run, p), 0);
}

static void setup(void)
{
    dir = pgt_tmpdir();
    char cert[1024], key[1024], err[256];
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    cr_assert_eq(fed_tls_generate_self_signed("127.0.0.1", 2, cert, key, err, sizeof err), 0, "%s", err);
    ctx = SSL_CTX_new(TLS_server_method());
    cr_assert(ctx);
    cr_assert_eq(SSL_CTX_use_certificate_chain_file(ctx, cert), 1);
    cr_assert_eq(SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM), 1);
    atomic_store(&stopping, false);
    for (int i = 0; i < 2; i++) start_peer(&peers[i]);
}

static void teardown(void)
{
    atomic_store(&stopping, true);
    for (int i = 0; i < 2; i++) {
        peer *p = &peers[i];
        pthread_join(p->thread, NULL);
        close(p->fd);
        /* connections the client still holds: end them so their threads return */
        for (int k = 0; k < p->n_conns; k++) shutdown(p->conns[k], SHUT_RDWR);
        for (int k = 0; k < p->n_conns; k++) {
            pthread_join(p->conn_threads[k], NULL);
            close(p->conns[k]);
        }
        pthread_mutex_destroy(&p->mu);
    }
    SSL_CTX_free(ctx);
    pgt_rmtree(dir);
    free(dir);
}

TestSuite(fed_client_reuse, .init = setup, .fini = teardown, .timeout = 60);

static hs_signing_key key;

static fed_client *client(int max_idle)
{
    cr_assert_eq(hs_signing_key_generate(&key), 0);
    fed_client_config fc = {.server_name = "self.test", .key = &key, .ip_range_denylist = "",
                            .verify_certificates = false, .timeout_seconds = 10, .max_response_bytes = 1 << 20,
                            .max_idle_connections = max_idle};
    hs_err err;
    fed_client *c = fed_client_new(&fc, NULL, &err);
    cr_assert_not_null(c, "%s", err.msg);
    return c;
}

static void dest(const peer *p, char out[64])
{
    snprintf(out, 64, "127.0.0.1:%d", p->port);
}

/* One single request to p, answered. */
static void ask(fed_client *c, const peer *p, const char *target)
{
    char d[64];
    dest(p, d);
    hs_fed_out req = {.destination = d, .method = "GET", .target = target, .sign = true};
    hs_fed_reply r;
    hs_err err;
    cr_assert_eq(fed_client_request(c, &req, &r, &err), 0, "%s", err.msg);
    char want[256];
    snprintf(want, sizeof want, "GET %s", target);
    cr_assert_str_eq(r.body, want);
    hs_fed_reply_free(&r);
}

/* A batch of n PUTs to p, all answered. */
static void ask_batch(fed_client *c, const peer *p, size_t n)
{
    char d[64];
    dest(p, d);
    json_t *content = json_pack("{s:i}", "n", (int)n);
    hs_fed_out reqs[8];
    hs_fed_reply replies[8];
    hs_err errs[8];
    for (size_t i = 0; i < n; i++)
        reqs[i] = (hs_fed_out){.destination = d, .method = "PUT", .target = "/_matrix/federation/v1/send/t",
                               .content = content, .sign = true};
    cr_assert_eq(fed_client_request_many(c, reqs, n, replies, errs), (int)n, "%s", errs[0].msg);
    for (size_t i = 0; i < n; i++) {
        cr_assert_str_eq(replies[i].body, "PUT /_matrix/federation/v1/send/t");
        hs_fed_reply_free(&replies[i]);
    }
    json_decref(content);
}

Test(fed_client_reuse, sequential_requests_to_one_destination_use_one_connection)
{
    fed_client *c = client(0);
    for (int i = 0; i < 20; i++) {
        char t[32];
        snprintf(t, sizeof t, "/_matrix/federation/v1/version?i=%d", i);
        ask(c, &peers[0], t);
    }
    cr_assert_eq(atomic_load(&peers[0].accepted), 1, "20 single requests took %d connections",
                 atomic_load(&peers[0].accepted));
    for (int i = 0; i < 20; i++) ask_batch(c, &peers[0], 1);
    cr_assert_eq(atomic_load(&peers[0].accepted), 1, "20 batches of one took %d connections in all",
                 atomic_load(&peers[0].accepted));
    fed_client_free(c);
}

/* Batches run on other threads than the single requests before them: the pooled
 * connection follows. */
static void *batch_thread(void *arg)
{
    fed_client *c = arg;
    ask_batch(c, &peers[0], 1);
    return NULL;
}

Test(fed_client_reuse, a_connection_is_reused_from_another_thread)
{
    fed_client *c = client(0);
    ask(c, &peers[0], "/a");
    for (int i = 0; i < 3; i++) {
        pthread_t t;
        cr_assert_eq(pthread_create(&t, NULL, batch_thread, c), 0);
        pthread_join(t, NULL);
    }
    ask(c, &peers[0], "/b");
    cr_assert_eq(atomic_load(&peers[0].accepted), 1);
    fed_client_free(c);
}

Test(fed_client_reuse, idle_connections_are_bounded)
{
    fed_client *c = client(1);
    for (int i = 0; i < 4; i++) {
        ask(c, &peers[0], "/x");
        ask(c, &peers[1], "/y");
    }
    /* room for one: each destination pushes the other's connection out */
    cr_assert_eq(atomic_load(&peers[0].accepted), 4);
    cr_assert_eq(atomic_load(&peers[1].accepted), 4);
    fed_client_free(c);

    c = client(2);
    for (int i = 0; i < 4; i++) {
        ask(c, &peers[0], "/x");
        ask(c, &peers[1], "/y");
    }
    cr_assert_eq(atomic_load(&peers[0].accepted), 5);
    cr_assert_eq(atomic_load(&peers[1].accepted), 5);
    fed_client_free(c);
}

Test(fed_client_reuse, a_peer_closing_its_side_is_reconnected_to)
{
    fed_client *c = client(0);
    atomic_store(&peers[0].close_after_answer, true);
    for (int i = 0; i < 3; i++) ask(c, &peers[0], "/closing");
    cr_assert_eq(atomic_load(&peers[0].accepted), 3);
    atomic_store(&peers[0].close_after_answer, false);
    for (int i = 0; i < 3; i++) ask(c, &peers[0], "/open");
    cr_assert_eq(atomic_load(&peers[0].accepted), 4);
    fed_client_free(c);
}
