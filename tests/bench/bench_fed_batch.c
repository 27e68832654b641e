/* bench_fed_batch: outbound federation requests per second to N destinations, one after
 * the other (fed_client_request, the old sender's way) against one batch on a libcurl
 * multi handle (fed_client_request_many, the sender's way now). The destinations are
 * loopback HTTPS servers (self-signed, one thread each) that answer a PUT after
 * DELAY_MS, standing in for a network round trip. The peers keep connections open
 * (HTTP/1.1 keep-alive, a thread per connection) and count the connections they
 * accept, so the figures show what fed_client's connection reuse saves: on loopback
 * the handshakes cost CPU only, over a network each new connection also costs TCP and
 * TLS round trips. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_support.h"
#include "federation-side/fed_client.h"
#include "federation-side/fed_tls.h"

#define PEERS 16
#define DELAY_MS 20
#define ROUNDS 5

typedef struct peer {
    int fd, port;
    pthread_t thread;
} peer;

static SSL_CTX *ctx;
static atomic_bool stopping;
static atomic_int accepted;

/* Serves requests on one connection until the client closes it. */
static void *conn_run(void *arg)
{
    int c = (int)(intptr_t)arg;
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, c);
    if (SSL_accept(ssl) == 1) {
        for (;;) {
            char buf[16384];
            size_t len = 0;
            bool whole = false;
            while (!whole && len < sizeof buf - 1) {
                int r = SSL_read(ssl, buf + len, (int)(sizeof buf - 1 - len));
                if (r <= 0) break;
                len += (size_t)r;
                buf[len] = '\0';
                char *end = strstr(buf, "\r\n\r\n");
                const char *cl = strstr(buf, "Content-Length: ");
                whole = end && (!cl || (size_t)(buf + len - (end + 4)) >= strtoul(cl + 16, NULL, 10));
            }
            if (!whole) break;
            usleep(DELAY_MS * 1000);
            static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n"
                                     "{\"pdus\":{}}\n";
            if (SSL_write(ssl, ok, (int)sizeof ok - 1) <= 0) break;
        }
        SSL_shutdown(ssl);
    }
    SSL_free(ssl);
    close(c);
    return NULL;
}

static void *peer_run(void *arg)
{
    peer *p = arg;
    while (!atomic_load(&stopping)) {
        struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
        if (poll(&pfd, 1, 100) <= 0) continue;
        int c = accept(p->fd, NULL, NULL);
        if (c < 0) continue;
        atomic_fetch_add(&accepted, 1);
        pthread_t t;
        if (pthread_create(&t, NULL, conn_run, (void *)(intptr_t)c) == 0) pthread_detach(t);
        else close(c);
    }
    return NULL;
}

int main(void)
{
    char dir[] = "/tmp/bench_fed_batch.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char cert[256], key[256], err[256];
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    if (fed_tls_generate_self_signed("127.0.0.1", 2, cert, key, err, sizeof err) != 0) {
        fprintf(stderr, "setup: %s\n", err);
        return 1;
    }
    ctx = SSL_CTX_new(TLS_server_method());
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 || SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
        return 1;
    peer peers[PEERS];
    for (int i = 0; i < PEERS; i++) {
        peers[i].fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t alen = sizeof a;
        if (bind(peers[i].fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(peers[i].fd, 64) != 0) return 1;
        getsockname(peers[i].fd, (struct sockaddr *)&a, &alen);
        peers[i].port = ntohs(a.sin_port);
        pthread_create(&peers[i].thread, NULL, peer_run, &peers[i]);
    }

    hs_signing_key sk;
    hs_signing_key_generate(&sk);
    fed_client_config fc = {.server_name = "bench.test", .key = &sk, .ip_range_denylist = "",
                            .verify_certificates = false, .timeout_seconds = 30, .max_response_bytes = 1 << 20};
    hs_err e;
    fed_client *c = fed_client_new(&fc, NULL, &e);
    if (!c) {
        fprintf(stderr, "setup: %s\n", e.msg);
        return 1;
    }
    char names[PEERS][64];
    hs_fed_out reqs[PEERS];
    json_t *body = json_pack("{s:s, s:I, s:[{s:s}], s:[]}", "origin", "bench.test", "origin_server_ts",
                             (json_int_t)bs_wall_ms(), "pdus", "type", "m.room.message", "edus");
    for (int i = 0; i < PEERS; i++) {
        snprintf(names[i], sizeof names[i], "127.0.0.1:%d", peers[i].port);
        reqs[i] = (hs_fed_out){.destination = names[i], .method = "PUT", .target = "/_matrix/federation/v1/send/bench1",
                               .content = body, .sign = true};
    }
    hs_fed_reply replies[PEERS];
    hs_err errs[PEERS];

    int ok = 0;
    atomic_store(&accepted, 0);
    double t0 = bs_now_s();
    for (int r = 0; r < ROUNDS; r++)
        for (int i = 0; i < PEERS; i++) {
            if (fed_client_request(c, &reqs[i], &replies[i], &errs[i]) == 0 && replies[i].status == 200) ok++;
            hs_fed_reply_free(&replies[i]);
        }
    double seq = bs_now_s() - t0;
    int seq_conns = atomic_exchange(&accepted, 0);
    if (ok != ROUNDS * PEERS) fprintf(stderr, "sequential: only %d of %d answered\n", ok, ROUNDS * PEERS);

    ok = 0;
    t0 = bs_now_s();
    for (int r = 0; r < ROUNDS; r++) {
        ok += fed_client_request_many(c, reqs, PEERS, replies, errs);
        for (int i = 0; i < PEERS; i++) hs_fed_reply_free(&replies[i]);
    }
    double batch = bs_now_s() - t0;
    int batch_conns = atomic_load(&accepted);
    if (ok != ROUNDS * PEERS) fprintf(stderr, "batch: only %d of %d answered\n", ok, ROUNDS * PEERS);

    printf("bench_fed_batch: %d destinations, each answering after %d ms, %d rounds, keep-alive peers\n", PEERS,
           DELAY_MS, ROUNDS);
    printf("  one after the other: %7.1f transactions/s (%.0f ms per round), %d connections for %d requests\n",
           ROUNDS * PEERS / seq, seq * 1000 / ROUNDS, seq_conns, ROUNDS * PEERS);
    printf("  one multi batch:     %7.1f transactions/s (%.0f ms per round), %d connections for %d requests\n",
           ROUNDS * PEERS / batch, batch * 1000 / ROUNDS, batch_conns, ROUNDS * PEERS);

    json_decref(body);
    fed_client_free(c);
    atomic_store(&stopping, true);
    for (int i = 0; i < PEERS; i++) {
        pthread_join(peers[i].thread, NULL);
        close(peers[i].fd);
    }
    SSL_CTX_free(ctx);
    unlink(cert);
    unlink(key);
    rmdir(dir);
    return 0;
}
