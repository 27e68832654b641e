/* wss:// peering between real `pinegate pinecone` processes: node A accepts WebSocket
 * peers in cleartext, and a TLS-terminating proxy in this test (GnuTLS server, a
 * self-signed certificate for 127.0.0.1 made with the openssl tool) forwards to it, as a
 * reverse proxy in front of a public node would. Node C dials wss://127.0.0.1:PROXY/:
 * with that certificate as its trust anchor (--ca-file) it peers with A and its pings
 * are answered; with the system trust store the TLS handshake fails and no peering
 * comes up. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support/pgt.h"

#define KEY_A "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
#define SEED_A "0101010101010101010101010101010101010101010101010101010101010101"
#define SEED_C "0303030303030303030303030303030303030303030303030303030303030303"

static char *tmp, cert_path[512], key_path[512];
static pgt_proc node_a;
static bool a_running;
static int ws_port, proxy_fd = -1, proxy_port;
static gnutls_certificate_credentials_t creds;
static volatile int stopping;
static pthread_t acceptor;
static bool acceptor_running, have_creds;

typedef struct pipe_args {
    int fd;
} pipe_args;

/* One proxied connection: TLS from the client, cleartext to node A's WebSocket port. */
static void *pump(void *arg)
{
    int cfd = ((pipe_args *)arg)->fd;
    free(arg);
    gnutls_session_t s;
    gnutls_init(&s, GNUTLS_SERVER);
    gnutls_set_default_priority(s);
    gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, creds);
    gnutls_transport_set_int(s, cfd);
    int rc;
    do
        rc = gnutls_handshake(s);
    while (rc < 0 && !gnutls_error_is_fatal(rc));
    int ufd = -1;
    if (rc >= 0) {
        ufd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)ws_port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(ufd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            close(ufd);
            ufd = -1;
        }
    }
    char buf[16384];
    while (ufd >= 0 && !stopping) {
        struct pollfd p[2] = {{cfd, POLLIN, 0}, {ufd, POLLIN, 0}};
        if (gnutls_record_check_pending(s) == 0 && poll(p, 2, 200) <= 0)
            continue;
        if (gnutls_record_check_pending(s) > 0 || (p[0].revents & (POLLIN | POLLHUP))) {
            ssize_t n = gnutls_record_recv(s, buf, sizeof buf);
            if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
                continue;
            if (n <= 0 || send(ufd, buf, (size_t)n, MSG_NOSIGNAL) != n)
                break;
        }
        if (p[1].revents & (POLLIN | POLLHUP)) {
            ssize_t n = recv(ufd, buf, sizeof buf, 0);
            if (n <= 0 || gnutls_record_send(s, buf, (size_t)n) != n)
                break;
        }
    }
    if (ufd >= 0)
        close(ufd);
    gnutls_deinit(s);
    close(cfd);
    return NULL;
}

static void *accept_loop(void *arg)
{
    (void)arg;
    while (!stopping) {
        struct pollfd p = {proxy_fd, POLLIN, 0};
        if (poll(&p, 1, 200) <= 0)
            continue;
        int fd = accept(proxy_fd, NULL, NULL);
        if (fd < 0)
            continue;
        pipe_args *a = malloc(sizeof *a);
        a->fd = fd;
        pthread_t th;
        pthread_create(&th, NULL, pump, a);
        pthread_detach(th);
    }
    return NULL;
}

static void setup(void)
{
    tmp = pgt_tmpdir();
    snprintf(cert_path, sizeof cert_path, "%s/cert.pem", tmp);
    snprintf(key_path, sizeof key_path, "%s/key.pem", tmp);
    char *argv[] = {"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key_path, "-out", cert_path, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", NULL};
    char *out = NULL;
    cr_assert_eq(pgt_run(argv, &out), 0, "openssl req failed: %s", out);
    free(out);
    gnutls_certificate_allocate_credentials(&creds);
    have_creds = true;
    cr_assert_geq(gnutls_certificate_set_x509_key_file(creds, cert_path, key_path, GNUTLS_X509_FMT_PEM), 0);

    ws_port = pgt_free_port();
    char ws[32];
    snprintf(ws, sizeof ws, "127.0.0.1:%d", ws_port);
    char *a[] = {(char *)pgt_pinegate(), "pinecone", "--listen-ws", ws, "--secret-key", SEED_A, NULL};
    cr_assert_eq(pgt_spawn(&node_a, a), 0);
    a_running = true;
    cr_assert(pgt_wait_line(&node_a, "listening for websocket", 15000, NULL, 0), "%s", node_a.buf);

    proxy_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    cr_assert_eq(bind(proxy_fd, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(listen(proxy_fd, 8), 0);
    getsockname(proxy_fd, (struct sockaddr *)&sa, &sl);
    proxy_port = ntohs(sa.sin_port);
    stopping = 0;
    pthread_create(&acceptor, NULL, accept_loop, NULL);
    acceptor_running = true;
}

static void teardown(void)
{
    stopping = 1;
    if (acceptor_running)
        pthread_join(acceptor, NULL);
    acceptor_running = false;
    if (proxy_fd >= 0)
        close(proxy_fd);
    proxy_fd = -1;
    if (a_running)
        pgt_stop(&node_a, SIGKILL, 5000);
    a_running = false;
    usleep(300000); /* the pump threads notice `stopping` */
    if (have_creds)
        gnutls_certificate_free_credentials(creds);
    have_creds = false;
    pgt_rmtree(tmp);
    free(tmp);
}

TestSuite(pc_wss, .init = setup, .fini = teardown, .timeout = 60);

Test(pc_wss, dial_through_tls_with_ca_file)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "exec timeout 20 '%s' pinecone --connect wss://127.0.0.1:%d/ --ca-file '%s' --secret-key %s "
             "--ping %s --count 3",
             pgt_pinegate(), proxy_port, cert_path, SEED_C, KEY_A);
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    char *out = NULL;
    int rc = pgt_run(argv, &out);
    cr_assert_eq(rc, 0, "exit %d:\n%s", rc, out);
    char want[128];
    snprintf(want, sizeof want, "peer up: port 1 key %s (wss://127.0.0.1:%d/)", KEY_A, proxy_port);
    cr_assert(strstr(out, want), "%s", out);
    cr_assert(strstr(out, "3 sent, 3 received"), "%s", out);
    free(out);
}

Test(pc_wss, untrusted_certificate_never_peers)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "exec timeout 4 '%s' pinecone --connect wss://127.0.0.1:%d/ --secret-key %s --ping %s --count 1",
             pgt_pinegate(), proxy_port, SEED_C, KEY_A);
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    char *out = NULL;
    int rc = pgt_run(argv, &out);
    cr_assert_neq(rc, 0, "%s", out);
    cr_assert_null(strstr(out, "peer up"), "peered despite an untrusted certificate:\n%s", out);
    free(out);
}
