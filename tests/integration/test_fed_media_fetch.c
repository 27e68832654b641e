/* Downloads of another server's media on a real pinegate (B: one client worker,
 * media.max_concurrent_remote_fetches 1) against a slow origin: a loopback HTTPS
 * server of the test that answers GET /_matrix/federation/v1/media/download/{id} after
 * 1.5 s. Six simultaneous downloads of one file cause one request to the origin and
 * all get the file; meanwhile B still answers other requests at once (the waiting
 * downloads hold no worker; the fetch runs on its own thread) and a download that
 * would start a second fetch gets 429 M_LIMIT_EXCEEDED; once the fetch is done, that
 * file can be fetched. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "federation-side/fed_tls.h"
#include "support/pgt.h"
#include "support/pgt_fed.h"
#include "support/pgt_matrix.h"

#define ORIGIN_DELAY_MS 1500
#define FILE_TEXT "hello from the slow origin"

/* ---- the slow origin ----------------------------------------------------------------- */

static int origin_fd, origin_port;
static SSL_CTX *origin_ctx;
static pthread_t origin_thread;
static atomic_bool origin_stop;
static atomic_int fetches_slow, fetches_other;

static void *origin_conn(void *arg)
{
    int c = (int)(intptr_t)arg;
    SSL *ssl = SSL_new(origin_ctx);
    SSL_set_fd(ssl, c);
    char buf[8192];
    size_t len = 0;
    if (SSL_accept(ssl) == 1) {
        while (len < sizeof buf - 1) {
            int r = SSL_read(ssl, buf + len, (int)(sizeof buf - 1 - len));
            if (r <= 0) break;
            len += (size_t)r;
            buf[len] = '\0';
            if (strstr(buf, "\r\n\r\n")) break;
        }
        buf[len] = '\0';
        char target[1024] = "";
        sscanf(buf, "%*s %1023s", target);
        char resp[2048];
        int rl;
        if (strcmp(target, "/_matrix/federation/v1/media/download/slowmedia") == 0 ||
            strcmp(target, "/_matrix/federation/v1/media/download/othermedia") == 0) {
            atomic_fetch_add(strstr(target, "slow") ? &fetches_slow : &fetches_other, 1);
            usleep(ORIGIN_DELAY_MS * 1000);
            const char *b = "b0undary";
            char body[1024];
            int bl = snprintf(body, sizeof body,
                              "--%s\r\nContent-Type: application/json\r\n\r\n{}\r\n"
                              "--%s\r\nContent-Type: text/plain\r\n\r\n" FILE_TEXT "\r\n--%s--\r\n",
                              b, b, b);
            rl = snprintf(resp, sizeof resp,
                          "HTTP/1.1 200 OK\r\nContent-Type: multipart/mixed; boundary=%s\r\nContent-Length: %d\r\n"
                          "Connection: close\r\n\r\n%s",
                          b, bl, body);
        } else {
            rl = snprintf(resp, sizeof resp,
                          "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                          "Connection: close\r\n\r\n{}");
        }
        SSL_write(ssl, resp, rl);
        SSL_shutdown(ssl);
    }
    SSL_free(ssl);
    close(c);
    return NULL;
}

static void *origin_run(void *arg)
{
    (void)arg;
    while (!atomic_load(&origin_stop)) {
        struct pollfd pfd = {.fd = origin_fd, .events = POLLIN};
        if (poll(&pfd, 1, 100) <= 0) continue;
        int c = accept(origin_fd, NULL, NULL);
        if (c < 0) continue;
        pthread_t t;
        if (pthread_create(&t, NULL, origin_conn, (void *)(intptr_t)c) == 0) pthread_detach(t);
        else close(c);
    }
    return NULL;
}

static pgt_fed_node B;
static char *origin_dir;

/* Rewrites the first `from` as `to` in n's config.yaml. */
static void set_config(const pgt_fed_node *n, const char *from, const char *to)
{
    char *text = pgt_slurp(n->cfg);
    cr_assert_not_null(text);
    char *at = strstr(text, from);
    cr_assert_not_null(at, "no '%s' in %s", from, n->cfg);
    FILE *f = fopen(n->cfg, "w");
    cr_assert_not_null(f);
    fwrite(text, 1, (size_t)(at - text), f);
    fputs(to, f);
    fputs(at + strlen(from), f);
    fclose(f);
    free(text);
}

static void start(void)
{
    pgt_fed_make(&B);
    origin_dir = pgt_tmpdir();
    char cert[1024], key[1024], err[256];
    snprintf(cert, sizeof cert, "%s/cert.pem", origin_dir);
    snprintf(key, sizeof key, "%s/key.pem", origin_dir);
    cr_assert_eq(fed_tls_generate_self_signed("127.0.0.1", 2, cert, key, err, sizeof err), 0, "%s", err);
    origin_ctx = SSL_CTX_new(TLS_server_method());
    cr_assert_eq(SSL_CTX_use_certificate_chain_file(origin_ctx, cert), 1);
    cr_assert_eq(SSL_CTX_use_PrivateKey_file(origin_ctx, key, SSL_FILETYPE_PEM), 1);
    origin_fd = pgt_listen_loopback(32, &origin_port);
    cr_assert_geq(origin_fd, 0);
    cr_assert_eq(pthread_create(&origin_thread, NULL, origin_run, NULL), 0);

    pgt_stop(&B.proc, SIGTERM, 20000);
    set_config(&B, "\nthreads: 4\n", "\nthreads: 1\n");
    set_config(&B, "max_concurrent_remote_fetches: 8", "max_concurrent_remote_fetches: 1");
    pgt_fed_serve(&B);
}

static void stop(void)
{
    pgt_fed_destroy(&B);
    atomic_store(&origin_stop, true);
    pthread_join(origin_thread, NULL);
    close(origin_fd);
    SSL_CTX_free(origin_ctx);
    pgt_rmtree(origin_dir);
    free(origin_dir);
}

TestSuite(fed_media_fetch, .init = start, .fini = stop, .timeout = 120);

/* ---- downloads ----------------------------------------------------------------------- */

static pgt_mx_login bob;

static pgt_http download(const char *media_id)
{
    char url[512], auth[300];
    snprintf(url, sizeof url, "%s/_matrix/client/v1/media/download/127.0.0.1:%d/%s", B.base, origin_port, media_id);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", bob.token);
    const char *headers[] = {auth, NULL};
    pgt_req opt = {.headers = headers, .timeout_ms = 20000};
    return pgt_http_do(url, &opt);
}

typedef struct dl {
    pthread_t t;
    long status;
    bool body_ok;
} dl;

static void *download_thread(void *arg)
{
    dl *d = arg;
    pgt_http r = download("slowmedia");
    d->status = r.status;
    d->body_ok = r.body && strcmp(r.body, FILE_TEXT) == 0;
    pgt_http_free(&r);
    return NULL;
}

Test(fed_media_fetch, one_fetch_per_file_shared_by_waiting_downloads_and_capped)
{
    bob = pgt_mx_must_register(B.base, "bob", "pw-bob-1");
    dl d[6];
    long t0 = pgt_now_ms();
    for (int i = 0; i < 6; i++) cr_assert_eq(pthread_create(&d[i].t, NULL, download_thread, &d[i]), 0);
    usleep(400 * 1000); /* all six are in by now; the origin answers after 1.5 s */

    /* B has one client worker and six downloads waiting: they hold none. */
    long t1 = pgt_now_ms();
    char url[256];
    snprintf(url, sizeof url, "%s/_matrix/client/versions", B.base);
    pgt_http v = pgt_http_do(url, &(pgt_req){.timeout_ms = 10000});
    long versions_ms = pgt_now_ms() - t1;
    cr_assert_eq(v.status, 200);
    pgt_http_free(&v);

    /* A second file would be a second fetch: over the cap of 1. */
    pgt_http other = download("othermedia");
    long other_ms = pgt_now_ms() - t0;
    cr_assert_eq(other.status, 429, "%ld %s", other.status, other.body);
    cr_assert(strstr(other.body, "M_LIMIT_EXCEEDED"), "%s", other.body);
    pgt_http_free(&other);

    for (int i = 0; i < 6; i++) {
        pthread_join(d[i].t, NULL);
        cr_assert_eq(d[i].status, 200, "download %d: %ld", i, d[i].status);
        cr_assert(d[i].body_ok, "download %d got another body", i);
    }
    long all_ms = pgt_now_ms() - t0;
    cr_assert_eq(atomic_load(&fetches_slow), 1, "the origin was asked %d times", atomic_load(&fetches_slow));
    cr_assert_lt(versions_ms, 700, "B answered /versions after %ld ms while the downloads waited", versions_ms);
    cr_assert_lt(other_ms, ORIGIN_DELAY_MS, "the 429 came after %ld ms", other_ms);
    cr_assert_lt(all_ms, 3 * ORIGIN_DELAY_MS, "the downloads took %ld ms", all_ms);

    /* The fetch is over: the other file can be fetched now, and the first is cached. */
    other = download("othermedia");
    cr_assert_eq(other.status, 200, "%ld %s", other.status, other.body);
    cr_assert_str_eq(other.body, FILE_TEXT);
    pgt_http_free(&other);
    pgt_http again = download("slowmedia");
    cr_assert_eq(again.status, 200);
    pgt_http_free(&again);
    cr_assert_eq(atomic_load(&fetches_slow), 1);
    cr_assert_eq(atomic_load(&fetches_other), 1);
}
